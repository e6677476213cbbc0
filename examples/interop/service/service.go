package service

import (
	"context"
	"io"
	"time"

	"github.com/parleyrpc/parley/examples/interop/testpb"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// Register adds grpc.testing.TestService to s, served by a Service, with
// the generated testpb.RegisterTestServiceServer.
func Register(s *runtime.Server) {
	testpb.RegisterTestServiceServer(s, Service{})
}

// Service implements grpc.testing.TestService (testpb.TestServiceServer):
// EmptyCall, UnaryCall, StreamingOutputCall, StreamingInputCall,
// FullDuplexCall and HalfDuplexCall. CacheableUnaryCall and
// UnimplementedCall come from the embedded
// testpb.UnimplementedTestServiceServer and fail with UNIMPLEMENTED, as in
// grpc-go's own interop server.
//
// The methods implement the server features of the interop descriptions:
// Echo Status (response_status ends the call with that code and message),
// Echo Metadata (x-grpc-test-echo-initial comes back in the response
// headers, x-grpc-test-echo-trailing-bin in the trailers),
// CompressedResponse (response_compressed), CompressedRequest
// (expect_compressed: a request that was not compressed as expected fails
// with INVALID_ARGUMENT) and ResponseParameters.interval_us. Service has no
// state; its methods are safe for concurrent calls.
type Service struct {
	testpb.UnimplementedTestServiceServer
}

var _ testpb.TestServiceServer = Service{}

// EmptyCall answers with an empty message.
func (Service) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

// UnaryCall answers with a payload of response_size zero bytes, after the
// Echo Metadata, Echo Status, CompressedRequest and CompressedResponse
// features.
func (Service) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	header, trailer := echoMetadata(runtime.IncomingMetadata(ctx))
	if header != nil {
		if err := runtime.SetHeader(ctx, header); err != nil {
			return nil, err
		}
	}
	if trailer != nil {
		if err := runtime.SetTrailer(ctx, trailer); err != nil {
			return nil, err
		}
	}
	if err := echoStatus(req.ResponseStatus); err != nil {
		return nil, err
	}
	if err := checkCompressed(req.ExpectCompressed, runtime.RequestCompressor(ctx)); err != nil {
		return nil, err
	}
	if rc := req.ResponseCompressed; rc != nil {
		name := "identity"
		if rc.Value {
			name = wire.Gzip.Name()
		}
		if err := runtime.SetCompressor(ctx, name); err != nil {
			return nil, err
		}
	}
	pl, err := newPayload(req.ResponseType, req.ResponseSize)
	if err != nil {
		return nil, err
	}
	res := &testpb.SimpleResponse{Payload: pl}
	if req.FillServerId {
		res.ServerId = ServerID
	}
	return res, nil
}

// ServerID is the server_id a UnaryCall answers with when asked
// (fill_server_id), as the pick_first_unary case checks.
const ServerID = "parley-interop"

type streamCall = runtime.ServerCall[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]

// StreamingOutputCall sends one response per response parameter of req.
// A server compresses a whole call or none of it: the first response
// parameter's compressed field, when present, decides for the call.
func (Service) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, call *streamCall) error {
	if len(req.ResponseParameters) > 0 && req.ResponseParameters[0] != nil && req.ResponseParameters[0].Compressed != nil {
		name := "identity"
		if req.ResponseParameters[0].Compressed.Value {
			name = wire.Gzip.Name()
		}
		if err := call.SetCompressor(name); err != nil {
			return err
		}
	}
	if err := echoStreamMetadata(call); err != nil {
		return err
	}
	if err := echoStatus(req.ResponseStatus); err != nil {
		return err
	}
	return respond(call, req)
}

// StreamingInputCall answers with the total size of the requests'
// payloads.
func (Service) StreamingInputCall(call *runtime.ServerCall[testpb.StreamingInputCallRequest, testpb.StreamingInputCallResponse]) (*testpb.StreamingInputCallResponse, error) {
	enc := runtime.RequestCompressor(call.Context())
	var sum int
	for {
		req, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := checkCompressed(req.ExpectCompressed, enc); err != nil {
			return nil, err
		}
		if req.Payload != nil {
			sum += len(req.Payload.Body)
		}
	}
	return &testpb.StreamingInputCallResponse{AggregatedPayloadSize: int32(sum)}, nil
}

// FullDuplexCall answers each request as it comes, with one response per
// response parameter.
func (Service) FullDuplexCall(call *streamCall) error {
	if err := echoStreamMetadata(call); err != nil {
		return err
	}
	for {
		req, err := call.Recv()
		if err != nil {
			return eofIsOK(err)
		}
		if err := echoStatus(req.ResponseStatus); err != nil {
			return err
		}
		if err := respond(call, req); err != nil {
			return err
		}
	}
}

// HalfDuplexCall reads every request, then answers them in order.
func (Service) HalfDuplexCall(call *streamCall) error {
	if err := echoStreamMetadata(call); err != nil {
		return err
	}
	var reqs []*testpb.StreamingOutputCallRequest
	for {
		req, err := call.Recv()
		if err != nil {
			if err = eofIsOK(err); err != nil {
				return err
			}
			break
		}
		if err := echoStatus(req.ResponseStatus); err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		if err := respond(call, req); err != nil {
			return err
		}
	}
	return nil
}

// respond sends one response per response parameter of req, each after
// its interval_us.
func respond(call *streamCall, req *testpb.StreamingOutputCallRequest) error {
	for _, p := range req.ResponseParameters {
		if p == nil {
			p = &testpb.ResponseParameters{}
		}
		if err := sleep(call.Context(), time.Duration(p.IntervalUs)*time.Microsecond); err != nil {
			return err
		}
		pl, err := newPayload(req.ResponseType, p.Size)
		if err != nil {
			return err
		}
		if err := call.Send(&testpb.StreamingOutputCallResponse{Payload: pl}); err != nil {
			return err
		}
	}
	return nil
}

// echoMetadata returns the response headers and trailers that echo the
// request's x-grpc-test-echo-* metadata, nil when it has none.
func echoMetadata(md wire.Metadata) (header, trailer wire.Metadata) {
	if v := md.Values(testpb.EchoInitialKey); len(v) > 0 {
		header = wire.Pairs(testpb.EchoInitialKey, v[0])
	}
	if v := md.Values(testpb.EchoTrailingKey); len(v) > 0 {
		trailer = wire.Pairs(testpb.EchoTrailingKey, v[0])
	}
	return header, trailer
}

// echoStreamMetadata sends the echoed headers at once, as grpc-go's interop
// server does, and sets the echoed trailers.
func echoStreamMetadata(call *streamCall) error {
	header, trailer := echoMetadata(call.Metadata())
	if trailer != nil {
		call.SetTrailer(trailer)
	}
	if header != nil {
		return call.SendHeader(header)
	}
	return nil
}

// echoStatus returns the error a response_status asks for, nil for none or
// for code 0.
func echoStatus(st *testpb.EchoStatus) error {
	if st == nil || st.Code == 0 {
		return nil
	}
	return wire.NewError(wire.Code(st.Code), st.Message)
}

// checkCompressed implements CompressedRequest: when expect_compressed is
// present, the request must have been compressed (enc is the request's
// grpc-encoding) exactly when it says so.
func checkCompressed(expect *testpb.BoolValue, enc string) error {
	if expect == nil {
		return nil
	}
	compressed := enc != "" && enc != "identity"
	switch {
	case expect.Value && !compressed:
		return wire.NewError(wire.InvalidArgument, "expected a compressed request, got an uncompressed one")
	case !expect.Value && compressed:
		return wire.Errorf(wire.InvalidArgument, "expected an uncompressed request, got one compressed with %s", enc)
	}
	return nil
}

func newPayload(t testpb.PayloadType, size int32) (*testpb.Payload, error) {
	if size < 0 {
		return nil, wire.Errorf(wire.InvalidArgument, "requested a response with invalid length %d", size)
	}
	if size > MaxPayloadSize {
		// A request of a few bytes must not make the server allocate
		// gigabytes: no interop case asks for more than a few hundred KB.
		return nil, wire.Errorf(wire.ResourceExhausted, "requested a payload of %d bytes, over this server's limit of %d", size, MaxPayloadSize)
	}
	if t != testpb.PayloadType_COMPRESSABLE {
		return nil, wire.Errorf(wire.InvalidArgument, "unsupported payload type %v", t)
	}
	return testpb.NewPayload(int(size)), nil
}

// MaxPayloadSize is the largest payload the service puts in a response:
// 4 MiB, the default receive limit of gRPC clients.
const MaxPayloadSize = 4 << 20

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func eofIsOK(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}
