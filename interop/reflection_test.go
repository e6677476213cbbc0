package interop

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/parleyrpc/parley/descriptors"
	"github.com/parleyrpc/parley/examples/interop/service"
	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// grpcurl is the command-line client most gRPC users reach for first; the
// tests install grpcurlVersion of it with `go install`, so that it never
// enters a go.mod of this repository.
const (
	grpcurlModule  = "github.com/fullstorydev/grpcurl/cmd/grpcurl"
	grpcurlVersion = "v1.9.4"
)

// TestReflectionGRPCGoClient asks parley's chat server for its services
// and their descriptors with grpc-go's generated reflection clients, v1
// and v1alpha, in protobuf, and links what comes back into a working
// registry: the Chat service with its bidirectional Converse method.
func TestReflectionGRPCGoClient(t *testing.T) {
	addr := startChat(t)
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
	defer cancel()
	wantServices := []string{"grpc.health.v1.Health", reflection.ServiceV1, reflection.ServiceV1Alpha, "parley.chat.v1.Chat"}

	t.Run("v1", func(t *testing.T) {
		stream, err := reflectionv1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ask := func(req *reflectionv1.ServerReflectionRequest) *reflectionv1.ServerReflectionResponse {
			t.Helper()
			if err := stream.Send(req); err != nil {
				t.Fatal(err)
			}
			res, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(res.GetOriginalRequest(), req) {
				t.Errorf("original_request %v, want %v", res.GetOriginalRequest(), req)
			}
			return res
		}
		res := ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}})
		var got []string
		for _, s := range res.GetListServicesResponse().GetService() {
			got = append(got, s.GetName())
		}
		if !slices.Equal(got, wantServices) {
			t.Fatalf("list_services: %v, want %v", got, wantServices)
		}
		res = ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "parley.chat.v1.Chat"}})
		files := linkFiles(t, res.GetFileDescriptorResponse().GetFileDescriptorProto())
		d, err := files.FindDescriptorByName("parley.chat.v1.Chat.Converse")
		if err != nil {
			t.Fatal(err)
		}
		m := d.(protoreflect.MethodDescriptor)
		if !m.IsStreamingClient() || !m.IsStreamingServer() || m.Input().FullName() != "parley.chat.v1.ClientEvent" {
			t.Errorf("Converse described as %v", m)
		}
		res = ask(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "no.such.Thing"}})
		if e := res.GetErrorResponse(); codes.Code(e.GetErrorCode()) != codes.NotFound {
			t.Errorf("an unknown symbol: %v, want a NOT_FOUND error response", res)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != io.EOF {
			t.Errorf("after CloseSend: %v, want io.EOF", err)
		}
	})

	t.Run("v1alpha", func(t *testing.T) {
		stream, err := reflectionv1alpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer stream.CloseSend()
		//lint:ignore SA1019 v1alpha is deprecated, and tested on purpose: grpcurl and older clients still speak it.
		if err := stream.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileByFilename{FileByFilename: "chat.proto"}}); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		//lint:ignore SA1019 as above.
		files := linkFiles(t, res.GetFileDescriptorResponse().GetFileDescriptorProto())
		if _, err := files.FindDescriptorByName("parley.chat.v1.HistoryRequest"); err != nil {
			t.Error(err)
		}
	})
}

// linkFiles parses serialized FileDescriptorProtos and links them, with
// protobuf-go's own copies of the well-known files for what they import
// and the response left out; it fails the test if they do not link.
func linkFiles(t *testing.T, raw [][]byte) *protoregistry.Files {
	t.Helper()
	if len(raw) == 0 {
		t.Fatal("no file descriptors in the response")
	}
	set := &descriptorpb.FileDescriptorSet{}
	have := map[string]bool{}
	for _, b := range raw {
		fd := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fd); err != nil {
			t.Fatal(err)
		}
		set.File = append(set.File, fd)
		have[fd.GetName()] = true
	}
	for _, fd := range set.File {
		for _, dep := range fd.GetDependency() {
			if have[dep] {
				continue
			}
			g, err := protoregistry.GlobalFiles.FindFileByPath(dep)
			if err != nil {
				t.Fatalf("%s imports %s, which the response does not hold", fd.GetName(), dep)
			}
			set.File = append(set.File, protodesc.ToFileDescriptorProto(g))
			have[dep] = true
		}
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		t.Fatalf("the served descriptors do not link: %v", err)
	}
	return files
}

// TestGrpcurl runs the real grpcurl, built from its module, against parley
// servers that have no .proto files at hand: it lists and describes the
// chat server's services, methods and messages through reflection, and
// calls the interop service, unary and server-streaming, with protobuf
// payloads in JSON.
func TestGrpcurl(t *testing.T) {
	if testing.Short() {
		t.Skip("builds grpcurl; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	grpcurl := buildGrpcurl(t, goBin, t.TempDir())
	chat := startChat(t)

	t.Run("list", func(t *testing.T) {
		out := runGrpcurl(t, grpcurl, chat, "list")
		want := "grpc.health.v1.Health\ngrpc.reflection.v1.ServerReflection\ngrpc.reflection.v1alpha.ServerReflection\nparley.chat.v1.Chat\n"
		if out != want {
			t.Fatalf("grpcurl list:\n%s\nwant\n%s", out, want)
		}
		out = runGrpcurl(t, grpcurl, chat, "list", "parley.chat.v1.Chat")
		if want := "parley.chat.v1.Chat.Converse\nparley.chat.v1.Chat.History\nparley.chat.v1.Chat.ListRooms\n"; out != want {
			t.Fatalf("grpcurl list parley.chat.v1.Chat:\n%s\nwant\n%s", out, want)
		}
	})
	t.Run("describe", func(t *testing.T) {
		out := runGrpcurl(t, grpcurl, chat, "describe", "parley.chat.v1.Chat")
		for _, want := range []string{
			"parley.chat.v1.Chat is a service:",
			"rpc Converse ( stream .parley.chat.v1.ClientEvent ) returns ( stream .parley.chat.v1.ServerEvent );",
			"rpc History ( .parley.chat.v1.HistoryRequest ) returns ( .parley.chat.v1.HistoryResponse );",
			"rpc ListRooms ( .parley.chat.v1.ListRoomsRequest ) returns ( .parley.chat.v1.ListRoomsResponse );",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("grpcurl describe parley.chat.v1.Chat lacks %q:\n%s", want, out)
			}
		}
		out = runGrpcurl(t, grpcurl, chat, "describe", "parley.chat.v1.ServerEvent")
		if !strings.Contains(out, "parley.chat.v1.ServerEvent is a message:") || !strings.Contains(out, "oneof") {
			t.Errorf("grpcurl describe parley.chat.v1.ServerEvent:\n%s", out)
		}
		out = runGrpcurl(t, grpcurl, chat, "describe", "grpc.health.v1.Health.Watch")
		if !strings.Contains(out, "rpc Watch ( .grpc.health.v1.HealthCheckRequest ) returns ( stream .grpc.health.v1.HealthCheckResponse );") {
			t.Errorf("grpcurl describe grpc.health.v1.Health.Watch:\n%s", out)
		}
	})
	t.Run("health call", func(t *testing.T) {
		// The health service speaks protobuf: a full grpcurl call.
		out := runGrpcurl(t, grpcurl, chat, "-d", `{"service": "parley.chat.v1.Chat"}`, "grpc.health.v1.Health/Check")
		if !strings.Contains(out, `"status": "SERVING"`) {
			t.Errorf("grpcurl grpc.health.v1.Health/Check:\n%s", out)
		}
	})

	t.Run("custom options", func(t *testing.T) {
		addr := startItems(t)
		out := runGrpcurl(t, grpcurl, addr, "describe", "parley.refltest.Items")
		for _, want := range []string{
			"rpc Get ( .parley.refltest.GetItemRequest ) returns ( .parley.refltest.Item ) {",
			`option (.parley.refltest.audit) = "items-read";`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("grpcurl describe parley.refltest.Items lacks %q:\n%s", want, out)
			}
		}
		out = runGrpcurl(t, grpcurl, addr, "describe", "parley.refltest.Item")
		if !strings.Contains(out, ".google.protobuf.Timestamp created = 2;") {
			t.Errorf("grpcurl describe parley.refltest.Item (a well-known type from an import):\n%s", out)
		}
	})

	interop := startInteropProto(t)
	t.Run("unary call", func(t *testing.T) {
		requireProto(t, interop, "/grpc.testing.TestService/UnaryCall")
		out := runGrpcurl(t, grpcurl, interop, "-d", `{"response_size": 3, "payload": {"body": "AAEC"}}`, "grpc.testing.TestService/UnaryCall")
		if !strings.Contains(out, `"body": "AAAA"`) {
			t.Errorf("grpcurl UnaryCall: want a 3-byte zero payload:\n%s", out)
		}
	})
	t.Run("server-streaming call", func(t *testing.T) {
		requireProto(t, interop, "/grpc.testing.TestService/StreamingOutputCall")
		out := runGrpcurl(t, grpcurl, interop, "-d", `{"response_parameters": [{"size": 1}, {"size": 2}, {"size": 3}]}`, "grpc.testing.TestService/StreamingOutputCall")
		if n := strings.Count(out, `"payload"`); n != 3 {
			t.Errorf("grpcurl StreamingOutputCall: %d responses, want 3:\n%s", n, out)
		}
	})
}

// itemsOnce registers testdata/items.proto's descriptor once, as the init
// function of a package generated from it would: a method with a custom
// option declared by extend, and a well-known type.
var itemsOnce sync.Once

// startItems serves reflection and a stand-in for items.proto's Items
// service on 127.0.0.1 until the test ends.
func startItems(t *testing.T) string {
	t.Helper()
	itemsOnce.Do(func() {
		c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"testdata"}})}
		files, err := c.Compile(context.Background(), "items.proto")
		if err != nil {
			t.Fatal(err)
		}
		fdp := protodesc.ToFileDescriptorProto(files[0])
		fdp.SourceCodeInfo = nil
		raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
		if err != nil {
			t.Fatal(err)
		}
		descriptors.Register("items.proto", raw)
	})
	srv := runtime.NewServer(runtime.WithCodec(wire.Proto))
	reflection.Register(srv)
	return serveParley(t, srv)
}

// startInteropProto serves the interop service, health and reflection with
// parley's protobuf codec on 127.0.0.1 until the test ends.
func startInteropProto(t *testing.T) string {
	t.Helper()
	srv := runtime.NewServer(runtime.WithCodec(wire.Proto))
	service.Register(srv)
	health.Register(srv, health.NewServer())
	reflection.Register(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("parley Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// requireProto fails the test unless the parley server at addr decodes a
// protobuf request for method: it sends an empty message (valid protobuf
// for every message type) over application/grpc with grpc-go, as a
// clearer first failure than grpcurl's.
func requireProto(t *testing.T, addr, method string) {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
	defer cancel()
	stream, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
	if err == nil {
		if err = stream.SendMsg(&emptypb.Empty{}); err == nil {
			if err = stream.CloseSend(); err == nil {
				for err == nil {
					err = stream.RecvMsg(&emptypb.Empty{})
				}
			}
		}
	}
	if err == io.EOF {
		return
	}
	t.Fatalf("probing %s with an empty protobuf message: %v", method, err)
}

func buildGrpcurl(t *testing.T, goBin, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", grpcurlModule+"@"+grpcurlVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := "cannot build grpcurl " + grpcurlVersion + " (is the Go module proxy reachable?): " + err.Error() + "\n" + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return filepath.Join(dir, "grpcurl")
}

// runGrpcurl runs grpcurl -plaintext with args, the address put before
// the last argument for calls and after the verb for list and describe,
// as its usage has it, and returns its output; it fails the test when
// grpcurl fails.
func runGrpcurl(t *testing.T, grpcurl, addr string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
	defer cancel()
	full := []string{"-plaintext", "-max-time", "20"}
	switch args[0] {
	case "list", "describe":
		full = append(full, addr)
		full = append(full, args...)
	default:
		full = append(full, args[:len(args)-1]...)
		full = append(full, addr, args[len(args)-1])
	}
	out, err := exec.CommandContext(ctx, grpcurl, full...).CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl %s: %v\n%s", strings.Join(full, " "), err, out)
	}
	return string(out)
}
