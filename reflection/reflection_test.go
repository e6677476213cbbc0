package reflection_test

import (
	"context"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/parleyrpc/parley/descriptors"
	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/internal/testutil"
	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/reflection/internal/gendesc"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func TestMain(m *testing.M) {
	registerItems()
	goleak.VerifyTestMain(m)
}

// itemsRaw is testdata/items.proto's descriptor, as parley gen would
// embed it.
var itemsRaw []byte

// registerItems compiles testdata/items.proto and registers its
// descriptor, as the init function of a generated package does.
func registerItems() {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"testdata"}})}
	files, err := c.Compile(context.Background(), "items.proto")
	if err != nil {
		panic(err)
	}
	fdp := protodesc.ToFileDescriptorProto(files[0])
	fdp.SourceCodeInfo = nil
	itemsRaw, err = proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		panic(err)
	}
	descriptors.Register("items.proto", itemsRaw)
}

// start serves health, reflection and a stand-in for the Items service on
// a loopback port, and returns a client speaking protobuf to it.
func start(t *testing.T) *runtime.Client {
	t.Helper()
	srv := runtime.NewServer(runtime.WithCodec(wire.Proto))
	health.Register(srv, health.NewServer())
	reflection.Register(srv)
	runtime.HandleUnary(srv, "/parley.refltest.Items/Get", func(context.Context, *health.CheckRequest) (*health.CheckResponse, error) {
		return nil, wire.NewError(wire.Unimplemented, "not here")
	})
	l := testutil.Listen(t, "tcp4")
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	c, err := runtime.Dial(l.Addr().String(), runtime.WithCodec(wire.Proto))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stream is one reflection call.
type stream struct {
	t    *testing.T
	call *runtime.ClientCall[reflection.Request, reflection.Response]
}

func open(t *testing.T, c *runtime.Client, method string) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	call, err := runtime.Open[reflection.Request, reflection.Response](ctx, c, method)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(call.Cancel)
	return &stream{t: t, call: call}
}

func (s *stream) ask(req *reflection.Request) *reflection.Response {
	s.t.Helper()
	if err := s.call.Send(req); err != nil {
		s.t.Fatalf("Send(%+v): %v", req, err)
	}
	res, err := s.call.Recv()
	if err != nil {
		s.t.Fatalf("Recv after %+v: %v", req, err)
	}
	if res.OriginalRequest == nil || *res.OriginalRequest != *req {
		s.t.Errorf("original_request = %+v, want %+v", res.OriginalRequest, req)
	}
	if res.ValidHost != req.Host {
		s.t.Errorf("valid_host = %q, want %q", res.ValidHost, req.Host)
	}
	return res
}

// names parses the file descriptors of a response and returns their names.
func names(t *testing.T, res *reflection.Response) ([]string, []*descriptorpb.FileDescriptorProto) {
	t.Helper()
	if res.Kind != reflection.FileDescriptorResponse {
		t.Fatalf("response kind %d (%d %s), want a file descriptor response", res.Kind, res.ErrorCode, res.ErrorMessage)
	}
	var ns []string
	var fds []*descriptorpb.FileDescriptorProto
	for _, raw := range res.FileDescriptorProtos {
		fd := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatal(err)
		}
		ns = append(ns, fd.GetName())
		fds = append(fds, fd)
	}
	return ns, fds
}

func TestReflection(t *testing.T) {
	c := start(t)
	for _, method := range []string{reflection.MethodV1, reflection.MethodV1Alpha} {
		t.Run(method, func(t *testing.T) {
			s := open(t, c, method)

			res := s.ask(&reflection.Request{Host: "localhost", Kind: reflection.ListServices, Name: "*"})
			want := []string{"grpc.health.v1.Health", reflection.ServiceV1, reflection.ServiceV1Alpha, "parley.refltest.Items"}
			if res.Kind != reflection.ListServiceResponse || !slices.Equal(res.Services, want) {
				t.Fatalf("list_services: kind %d, %v; want %v", res.Kind, res.Services, want)
			}

			// A method's symbol brings its file and every import.
			got, fds := names(t, s.ask(&reflection.Request{Kind: reflection.FileContainingSymbol, Name: "parley.refltest.Items.Get"}))
			if want := []string{"items.proto", "google/protobuf/descriptor.proto", "google/protobuf/timestamp.proto"}; !slices.Equal(got, want) {
				t.Fatalf("file_containing_symbol: files %v, want %v", got, want)
			}
			if !proto.Equal(fds[0], mustParse(t, itemsRaw)) {
				t.Error("items.proto is not served as registered")
			}
			// The custom option travels in the method's options.
			opts := fds[0].GetService()[0].GetMethod()[0].GetOptions()
			if !hasField(opts.ProtoReflect().GetUnknown(), 50001, "items-read") {
				t.Errorf("the Get method's options lost (audit) = \"items-read\": %x", opts.ProtoReflect().GetUnknown())
			}

			// Files already sent on this stream are not sent again.
			got, _ = names(t, s.ask(&reflection.Request{Kind: reflection.FileContainingSymbol, Name: ".parley.refltest.Item.KIND_BOOK"}))
			if !slices.Equal(got, []string{"items.proto"}) {
				t.Errorf("second request: files %v, want items.proto alone", got)
			}
			got, _ = names(t, s.ask(&reflection.Request{Kind: reflection.FileByFilename, Name: "grpc/health/v1/health.proto"}))
			if !slices.Equal(got, []string{"grpc/health/v1/health.proto"}) {
				t.Errorf("file_by_filename health: %v", got)
			}
			got, _ = names(t, s.ask(&reflection.Request{Kind: reflection.FileContainingSymbol, Name: reflection.ServiceV1}))
			if !slices.Equal(got, []string{"grpc/reflection/v1/reflection.proto"}) {
				t.Errorf("the reflection service's own file: %v", got)
			}

			got, _ = names(t, s.ask(&reflection.Request{Kind: reflection.FileContainingExtension, Name: "google.protobuf.MethodOptions", ExtensionNumber: 50001}))
			if !slices.Equal(got, []string{"items.proto"}) {
				t.Errorf("file_containing_extension: %v", got)
			}
			res = s.ask(&reflection.Request{Kind: reflection.AllExtensionNumbersOfType, Name: "google.protobuf.MethodOptions"})
			if res.Kind != reflection.ExtensionNumberResponse || res.BaseTypeName != "google.protobuf.MethodOptions" || !slices.Contains(res.ExtensionNumbers, 50001) {
				t.Errorf("all_extension_numbers_of_type: %+v", res)
			}

			// Unknown names are answered with NOT_FOUND, and the stream
			// goes on.
			for _, req := range []*reflection.Request{
				{Kind: reflection.FileByFilename, Name: "no/such.proto"},
				{Kind: reflection.FileContainingSymbol, Name: "no.such.Symbol"},
				{Kind: reflection.FileContainingExtension, Name: "google.protobuf.MethodOptions", ExtensionNumber: 7},
				{Kind: reflection.AllExtensionNumbersOfType, Name: "parley.refltest.Items"}, // a service, not a message
			} {
				if res := s.ask(req); res.Kind != reflection.ErrorResponse || res.ErrorCode != wire.NotFound || res.ErrorMessage == "" {
					t.Errorf("%+v: %+v, want a NOT_FOUND error response", req, res)
				}
			}

			// A request with nothing to answer ends the stream.
			if err := s.call.Send(&reflection.Request{Host: "x"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.call.Recv(); wire.CodeOf(err) != wire.InvalidArgument {
				t.Fatalf("an empty request: %v, want INVALID_ARGUMENT", err)
			}
		})
	}
}

// TestReflectionHalfClose: a client that half-closes ends the stream OK.
func TestReflectionHalfClose(t *testing.T) {
	s := open(t, start(t), reflection.MethodV1)
	s.ask(&reflection.Request{Kind: reflection.ListServices})
	if err := s.call.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.call.Recv(); err != io.EOF {
		t.Fatalf("Recv after half-close: %v, want io.EOF", err)
	}
}

func mustParse(t *testing.T, raw []byte) *descriptorpb.FileDescriptorProto {
	fd := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(raw, fd); err != nil {
		t.Fatal(err)
	}
	return fd
}

// hasField reports whether the protobuf bytes b hold field num as the
// string s.
func hasField(b []byte, num protowire.Number, s string) bool {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return false
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return false
		}
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			if string(v) == s {
				return true
			}
		}
		b = b[l:]
	}
	return false
}

// TestBuiltinUpToDate regenerates builtin.go from proto/ and compares.
func TestBuiltinUpToDate(t *testing.T) {
	want, err := os.ReadFile("builtin.go")
	if err != nil {
		t.Fatal(err)
	}
	got, err := gendesc.Generate("proto")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("builtin.go is stale: run go generate ./reflection")
	}
}

// rawProto is a codec named "proto" that sends and receives bytes as they
// are, to put malformed messages on the wire.
type rawProto struct{}

func (rawProto) Name() string { return "proto" }
func (rawProto) Marshal(v any) ([]byte, error) {
	return append([]byte(nil), *v.(*[]byte)...), nil
}
func (rawProto) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

// TestReflectionMalformed: a request that is not a valid
// ServerReflectionRequest ends its call with INTERNAL, and the server goes
// on answering.
func TestReflectionMalformed(t *testing.T) {
	c := start(t)
	l := c.Target()
	raw, err := runtime.Dial(l, runtime.WithCodec(rawProto{}))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, bad := range [][]byte{
		{0x1a, 0x05, 'a'},        // file_by_filename, truncated
		{0x22, 0x00, 0x08},       // a tag with no value
		{0x2a, 0x02, 0x12, 0x01}, // ExtensionRequest.extension_number with the wrong wire type
	} {
		call, err := runtime.Open[[]byte, []byte](ctx, raw, reflection.MethodV1)
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Send(&bad); err != nil {
			t.Fatal(err)
		}
		if _, err := call.Recv(); wire.CodeOf(err) != wire.Internal {
			t.Errorf("% x: %v, want INTERNAL", bad, err)
		}
		call.Cancel()
	}
	s := open(t, c, reflection.MethodV1)
	if res := s.ask(&reflection.Request{Kind: reflection.ListServices}); res.Kind != reflection.ListServiceResponse {
		t.Fatalf("after malformed requests: %+v", res)
	}
}
