package interop

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	epb "google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/parleyrpc/parley/errdetails"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// The error details exchanged in both directions: parley's errdetails
// values and protoc-gen-go's (genproto) equivalents, pairwise.
var (
	parleyDetails = []errdetails.Message{
		&errdetails.ErrorInfo{Reason: "ROOM_FULL", Domain: "chat.parleyrpc.dev", Metadata: map[string]string{"room": "lobby", "limit": "64"}},
		&errdetails.RetryInfo{RetryDelay: 1500 * time.Millisecond},
		&errdetails.BadRequest{FieldViolations: []errdetails.FieldViolation{
			{Field: "nick", Description: "must not be empty", Reason: "REQUIRED", LocalizedMessage: &errdetails.LocalizedMessage{Locale: "fr-FR", Message: "vide"}},
			{Field: "room", Description: "too long"},
		}},
		&errdetails.DebugInfo{StackEntries: []string{"room.go:42", "server.go:7"}, Detail: "limit reached"},
		&errdetails.QuotaFailure{Violations: []errdetails.QuotaViolation{{Subject: "user:ann", Description: "rooms per user"}}},
		&errdetails.PreconditionFailure{Violations: []errdetails.PreconditionViolation{{Type: "TOS", Subject: "ann", Description: "terms not accepted"}}},
		&errdetails.RequestInfo{RequestID: "req-1", ServingData: "node-3"},
		&errdetails.ResourceInfo{ResourceType: "room", ResourceName: "lobby", Owner: "ann", Description: "full"},
		&errdetails.Help{Links: []errdetails.Link{{Description: "limits", URL: "https://parleyrpc.dev/limits"}}},
		&errdetails.LocalizedMessage{Locale: "en-US", Message: "The room is full."},
	}
	grpcDetails = []proto.Message{
		&epb.ErrorInfo{Reason: "ROOM_FULL", Domain: "chat.parleyrpc.dev", Metadata: map[string]string{"room": "lobby", "limit": "64"}},
		&epb.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
		&epb.BadRequest{FieldViolations: []*epb.BadRequest_FieldViolation{
			{Field: "nick", Description: "must not be empty", Reason: "REQUIRED", LocalizedMessage: &epb.LocalizedMessage{Locale: "fr-FR", Message: "vide"}},
			{Field: "room", Description: "too long"},
		}},
		&epb.DebugInfo{StackEntries: []string{"room.go:42", "server.go:7"}, Detail: "limit reached"},
		&epb.QuotaFailure{Violations: []*epb.QuotaFailure_Violation{{Subject: "user:ann", Description: "rooms per user"}}},
		&epb.PreconditionFailure{Violations: []*epb.PreconditionFailure_Violation{{Type: "TOS", Subject: "ann", Description: "terms not accepted"}}},
		&epb.RequestInfo{RequestId: "req-1", ServingData: "node-3"},
		&epb.ResourceInfo{ResourceType: "room", ResourceName: "lobby", Owner: "ann", Description: "full"},
		&epb.Help{Links: []*epb.Help_Link{{Description: "limits", Url: "https://parleyrpc.dev/limits"}}},
		&epb.LocalizedMessage{Locale: "en-US", Message: "The room is full."},
	}
)

// TestErrDetailsSameBytes: parley's hand-written encoders write exactly
// the bytes protoc-gen-go's code writes (deterministically, which sorts
// map keys), and each reads the other's.
func TestErrDetailsSameBytes(t *testing.T) {
	for i, m := range parleyDetails {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(grpcDetails[i])
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.AppendProto(nil)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: parley writes % x, protobuf-go % x (%v)", m.ProtoName(), got, want, err)
		}
		if name := string(grpcDetails[i].ProtoReflect().Descriptor().FullName()); name != m.ProtoName() {
			t.Errorf("ProtoName %s, protobuf-go's %s", m.ProtoName(), name)
		}
		back := grpcDetails[i].ProtoReflect().New().Interface()
		if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, grpcDetails[i]) {
			t.Errorf("%s: protobuf-go reads parley's bytes as %v (%v)", m.ProtoName(), back, err)
		}
	}
}

// protoEmpty is an empty message that encodes itself in protobuf, for the
// parley side of the detail tests.
type protoEmpty struct{}

func (*protoEmpty) AppendProto(dst []byte) ([]byte, error) { return dst, nil }
func (*protoEmpty) UnmarshalProto([]byte) error            { return nil }

const failMethod = "/parley.errtest.Errors/Fail"

// TestErrDetailsParleyToGRPC: a parley handler fails with details; a
// grpc-go client reads them with status.FromError(err).Details() as
// protoc-gen-go's types. A msgpack detail (wire.PackMsgpack), whose type
// grpc-go cannot resolve, is listed as an error, as documented, and does
// not hide the others.
func TestErrDetailsParleyToGRPC(t *testing.T) {
	srv := runtime.NewServer(runtime.WithCodec(wire.Proto))
	runtime.HandleUnary(srv, failMethod, func(context.Context, *protoEmpty) (*protoEmpty, error) {
		var ds []wire.Detail
		for _, m := range parleyDetails {
			ds = append(ds, errdetails.MustPack(m))
		}
		mp, err := wire.PackMsgpack("parley.errtest.Note", map[string]string{"note": "msgpack"})
		if err != nil {
			return nil, err
		}
		return nil, wire.NewError(wire.ResourceExhausted, "room lobby is full").WithDetails(append(ds, mp)...)
	})
	addr := serveParley(t, srv)
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
	defer cancel()
	err = cc.Invoke(ctx, failMethod, &emptypb.Empty{}, &emptypb.Empty{})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted || st.Message() != "room lobby is full" {
		t.Fatalf("grpc-go got %v, want RESOURCE_EXHAUSTED with the message", err)
	}
	details := st.Details()
	if len(details) != len(grpcDetails)+1 {
		t.Fatalf("grpc-go read %d details, want %d: %v", len(details), len(grpcDetails)+1, details)
	}
	for i, want := range grpcDetails {
		got, ok := details[i].(proto.Message)
		if !ok || !proto.Equal(got, want) {
			t.Errorf("detail %d: grpc-go read %v, want %v", i, details[i], want)
		}
	}
	if _, isErr := details[len(grpcDetails)].(error); !isErr {
		t.Errorf("the msgpack detail: grpc-go read %v, want an error (its type is not registered)", details[len(grpcDetails)])
	}
}

// TestErrDetailsGRPCToParley: a grpc-go handler fails with
// status.WithDetails; a parley client reads the details with
// errdetails.UnpackAll.
func TestErrDetailsGRPCToParley(t *testing.T) {
	gs := grpc.NewServer()
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "parley.errtest.Errors",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Fail",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if err := dec(new(emptypb.Empty)); err != nil {
					return nil, err
				}
				var ds []protoadapt.MessageV1
				for _, d := range grpcDetails {
					ds = append(ds, protoadapt.MessageV1Of(d))
				}
				st, err := status.New(codes.ResourceExhausted, "room lobby is full").WithDetails(ds...)
				if err != nil {
					return nil, err
				}
				return nil, st.Err()
			},
		}},
	}, struct{}{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { gs.Serve(l); close(done) }()
	t.Cleanup(func() { gs.Stop(); <-done })

	c, err := runtime.Dial(l.Addr().String(), runtime.WithCodec(wire.Proto))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
	defer cancel()
	_, err = runtime.CallUnary[protoEmpty, protoEmpty](ctx, c, failMethod, &protoEmpty{})
	we := wire.AsError(err)
	if we == nil || !we.IsWire() || we.Code() != wire.ResourceExhausted || we.Message() != "room lobby is full" {
		t.Fatalf("parley got %v, want RESOURCE_EXHAUSTED from the wire", err)
	}
	got := errdetails.UnpackAll(err)
	if len(got) != len(parleyDetails) {
		t.Fatalf("parley read %d details, want %d: %+v", len(got), len(parleyDetails), got)
	}
	for i, want := range parleyDetails {
		a, _ := got[i].AppendProto(nil)
		b, _ := want.AppendProto(nil)
		if got[i].ProtoName() != want.ProtoName() || string(a) != string(b) {
			t.Errorf("detail %d: parley read %+v, want %+v", i, got[i], want)
		}
	}
}

// serveParley serves srv on 127.0.0.1 until the test ends.
func serveParley(t *testing.T, srv *runtime.Server) string {
	t.Helper()
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
