package interop

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/interop/handpb"
)

// NewGRPCServer returns a grpc-go server that serves gRPC's interop
// grpc.testing.TestService with the msgpack messages of package handpb,
// registered by hand with a grpc.ServiceDesc (there is no generated code
// for msgpack messages). It behaves as grpc-go's own interop server does
// (grpc-go interop/test_utils.go), plus the CompressedRequest and
// CompressedResponse features. opts are added to the server's options; add
// grpc.Creds for TLS.
func NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{grpc.StatsHandler(compressionProbe{})}, opts...)
	s := grpc.NewServer(opts...)
	s.RegisterService(&testServiceDesc, testService{})
	return s
}

// testServiceDesc describes grpc.testing.TestService to grpc-go.
// UnimplementedCall is left out on purpose.
var testServiceDesc = grpc.ServiceDesc{
	ServiceName: handpb.ServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "EmptyCall", Handler: unaryHandler(testService.emptyCall)},
		{MethodName: "UnaryCall", Handler: unaryHandler(testService.unaryCall)},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "StreamingOutputCall", Handler: streamingOutputCall, ServerStreams: true},
		{StreamName: "StreamingInputCall", Handler: streamingInputCall, ClientStreams: true},
		{StreamName: "FullDuplexCall", Handler: fullDuplexCall, ServerStreams: true, ClientStreams: true},
		{StreamName: "HalfDuplexCall", Handler: halfDuplexCall, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "grpc/testing/test.proto",
}

// unaryHandler adapts a typed unary method to grpc-go's MethodDesc handler,
// as generated code does.
func unaryHandler[Req, Res any](f func(testService, context.Context, *Req) (*Res, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(Req)
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req any) (any, error) { return f(srv.(testService), ctx, req.(*Req)) }
		if icpt == nil {
			return h(ctx, in)
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: grpc.ServerTransportStreamFromContext(ctx).Method()}, h)
	}
}

type testService struct{}

func (testService) emptyCall(context.Context, *handpb.Empty) (*handpb.Empty, error) {
	return &handpb.Empty{}, nil
}

func (testService) unaryCall(ctx context.Context, req *handpb.SimpleRequest) (*handpb.SimpleResponse, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(handpb.EchoInitialKey); len(v) > 0 {
			if err := grpc.SetHeader(ctx, metadata.Pairs(handpb.EchoInitialKey, v[0])); err != nil {
				return nil, err
			}
		}
		if v := md.Get(handpb.EchoTrailingKey); len(v) > 0 {
			if err := grpc.SetTrailer(ctx, metadata.Pairs(handpb.EchoTrailingKey, v[0])); err != nil {
				return nil, err
			}
		}
	}
	if st := req.ResponseStatus; st != nil && st.Code != 0 {
		return nil, status.Error(codes.Code(st.Code), st.Message)
	}
	if err := checkCompressed(ctx, req.ExpectCompressed); err != nil {
		return nil, err
	}
	if rc := req.ResponseCompressed; rc != nil {
		name := "identity"
		if rc.Value {
			name = "gzip"
		}
		if err := grpc.SetSendCompressor(ctx, name); err != nil {
			return nil, status.Errorf(codes.Internal, "SetSendCompressor(%q): %v", name, err)
		}
	}
	pl, err := newPayload(req.ResponseType, req.ResponseSize)
	if err != nil {
		return nil, err
	}
	return &handpb.SimpleResponse{Payload: pl}, nil
}

func streamingOutputCall(_ any, stream grpc.ServerStream) error {
	req := new(handpb.StreamingOutputCallRequest)
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	if st := req.ResponseStatus; st != nil && st.Code != 0 {
		return status.Error(codes.Code(st.Code), st.Message)
	}
	// A server compresses a whole call or none of it: the first response
	// parameter's compressed field, when present, decides.
	if ps := req.ResponseParameters; len(ps) > 0 && ps[0] != nil && ps[0].Compressed != nil {
		name := "identity"
		if ps[0].Compressed.Value {
			name = "gzip"
		}
		if err := grpc.SetSendCompressor(stream.Context(), name); err != nil {
			return status.Errorf(codes.Internal, "SetSendCompressor(%q): %v", name, err)
		}
	}
	return respond(stream, req)
}

func streamingInputCall(_ any, stream grpc.ServerStream) error {
	var sum int
	for {
		req := new(handpb.StreamingInputCallRequest)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			return stream.SendMsg(&handpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(sum)})
		}
		if err != nil {
			return err
		}
		if err := checkCompressed(stream.Context(), req.ExpectCompressed); err != nil {
			return err
		}
		if req.Payload != nil {
			sum += len(req.Payload.Body)
		}
	}
}

// echoStreamMetadata sends the echoed headers at once and sets the echoed
// trailers, as grpc-go's interop server does in FullDuplexCall.
func echoStreamMetadata(stream grpc.ServerStream) error {
	md, ok := metadata.FromIncomingContext(stream.Context())
	if !ok {
		return nil
	}
	if v := md.Get(handpb.EchoTrailingKey); len(v) > 0 {
		stream.SetTrailer(metadata.Pairs(handpb.EchoTrailingKey, v[0]))
	}
	if v := md.Get(handpb.EchoInitialKey); len(v) > 0 {
		return stream.SendHeader(metadata.Pairs(handpb.EchoInitialKey, v[0]))
	}
	return nil
}

func fullDuplexCall(_ any, stream grpc.ServerStream) error {
	if err := echoStreamMetadata(stream); err != nil {
		return err
	}
	for {
		req := new(handpb.StreamingOutputCallRequest)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if st := req.ResponseStatus; st != nil && st.Code != 0 {
			return status.Error(codes.Code(st.Code), st.Message)
		}
		if err := respond(stream, req); err != nil {
			return err
		}
	}
}

func halfDuplexCall(_ any, stream grpc.ServerStream) error {
	if err := echoStreamMetadata(stream); err != nil {
		return err
	}
	var reqs []*handpb.StreamingOutputCallRequest
	for {
		req := new(handpb.StreamingOutputCallRequest)
		err := stream.RecvMsg(req)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		if err := respond(stream, req); err != nil {
			return err
		}
	}
	return nil
}

// respond sends one response per response parameter, each after its
// interval_us.
func respond(stream grpc.ServerStream, req *handpb.StreamingOutputCallRequest) error {
	for _, p := range req.ResponseParameters {
		if p == nil {
			continue
		}
		if us := p.IntervalUs; us > 0 {
			t := time.NewTimer(time.Duration(us) * time.Microsecond)
			select {
			case <-t.C:
			case <-stream.Context().Done():
				t.Stop()
				return status.FromContextError(stream.Context().Err()).Err()
			}
		}
		pl, err := newPayload(req.ResponseType, p.Size)
		if err != nil {
			return err
		}
		if err := stream.SendMsg(&handpb.StreamingOutputCallResponse{Payload: pl}); err != nil {
			return err
		}
	}
	return nil
}

func newPayload(t handpb.PayloadType, size int32) (*handpb.Payload, error) {
	if size < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "requested a response with invalid length %d", size)
	}
	if t != handpb.COMPRESSABLE {
		return nil, status.Errorf(codes.InvalidArgument, "unsupported payload type %v", t)
	}
	return handpb.NewPayload(int(size)), nil
}

// checkCompressed implements CompressedRequest: when expect_compressed is
// present, the message just received must have been compressed exactly
// when it says so.
func checkCompressed(ctx context.Context, expect *handpb.BoolValue) error {
	if expect == nil {
		return nil
	}
	p, _ := ctx.Value(probeKey{}).(*probe)
	if p == nil {
		return status.Error(codes.Internal, "no compression probe in the call's context")
	}
	compressed := p.inCompressed.Load()
	switch {
	case expect.Value && !compressed:
		return status.Error(codes.InvalidArgument, "expected a compressed request, got an uncompressed one")
	case !expect.Value && compressed:
		return status.Error(codes.InvalidArgument, "expected an uncompressed request, got a compressed one")
	}
	return nil
}

// probe records whether the last message received or sent on a call was
// compressed: grpc-go does not expose a message's compressed flag, but its
// stats handlers see the message's length before and after decompression.
// With the interop payloads (blocks of zeros) the two differ exactly when
// the message was compressed.
type probe struct {
	inCompressed  atomic.Bool
	outCompressed atomic.Bool
}

type probeKey struct{}

// withProbe returns ctx carrying a fresh probe, for a client call.
func withProbe(ctx context.Context) (context.Context, *probe) {
	p := new(probe)
	return context.WithValue(ctx, probeKey{}, p), p
}

// compressionProbe is a stats.Handler that fills the probe of each call:
// servers tag every call with a new one, clients use the one their caller
// put in the call's context (withProbe).
type compressionProbe struct{}

func (compressionProbe) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	if _, ok := ctx.Value(probeKey{}).(*probe); ok {
		return ctx
	}
	return context.WithValue(ctx, probeKey{}, new(probe))
}

func (compressionProbe) HandleRPC(ctx context.Context, s stats.RPCStats) {
	p, _ := ctx.Value(probeKey{}).(*probe)
	if p == nil {
		return
	}
	switch s := s.(type) {
	case *stats.InPayload:
		p.inCompressed.Store(s.CompressedLength != s.Length)
	case *stats.OutPayload:
		p.outCompressed.Store(s.CompressedLength != s.Length)
	}
}

func (compressionProbe) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (compressionProbe) HandleConn(context.Context, stats.ConnStats) {}
