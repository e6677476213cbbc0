package interop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/examples/interop/cases"
	"github.com/parleyrpc/parley/examples/interop/testpb"
	"github.com/parleyrpc/parley/interop/handpb"
	"github.com/parleyrpc/parley/wire"
)

// DialGRPC returns a grpc-go client connection to addr that speaks msgpack
// (content-type application/grpc+msgpack) and records the compression of
// each message for the compression cases. creds is nil for h2c.
func DialGRPC(addr string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(CodecName)),
		grpc.WithStatsHandler(compressionProbe{}),
	)
}

// GRPCCases maps each interop case name (cases.Names) to its
// implementation with grpc-go's client API: ClientConn.Invoke and
// ClientConn.NewStream with hand-written StreamDescs, grpc-go metadata and
// status, and the hand-written messages of package handpb. They are an
// independent client: they share only the test values (cases.StatusMessage,
// ...) with parley's cases. cc must come from DialGRPC.
var GRPCCases = map[string]func(ctx context.Context, cc *grpc.ClientConn) error{
	"empty_unary":                 grpcEmptyUnary,
	"large_unary":                 grpcLargeUnary,
	"client_compressed_unary":     grpcClientCompressedUnary,
	"server_compressed_unary":     grpcServerCompressedUnary,
	"client_compressed_streaming": grpcClientCompressedStreaming,
	"server_compressed_streaming": grpcServerCompressedStreaming,
	"client_streaming":            grpcClientStreaming,
	"server_streaming":            grpcServerStreaming,
	"ping_pong":                   grpcPingPong,
	"empty_stream":                grpcEmptyStream,
	"cancel_after_begin":          grpcCancelAfterBegin,
	"cancel_after_first_response": grpcCancelAfterFirstResponse,
	"timeout_on_sleeping_server":  grpcTimeoutOnSleepingServer,
	"custom_metadata":             grpcCustomMetadata,
	"status_code_and_message":     grpcStatusCodeAndMessage,
	"special_status_message":      grpcSpecialStatusMessage,
	"unimplemented_method":        grpcUnimplementedMethod,
	"unimplemented_service":       grpcUnimplementedService,
}

var (
	fullDuplexDesc   = &grpc.StreamDesc{StreamName: "FullDuplexCall", ServerStreams: true, ClientStreams: true}
	serverStreamDesc = &grpc.StreamDesc{StreamName: "StreamingOutputCall", ServerStreams: true}
	clientStreamDesc = &grpc.StreamDesc{StreamName: "StreamingInputCall", ClientStreams: true}
)

func grpcEmptyUnary(ctx context.Context, cc *grpc.ClientConn) error {
	res := new(handpb.Empty)
	return cc.Invoke(ctx, handpb.EmptyCallMethod, &handpb.Empty{}, res)
}

func largeRequest() *handpb.SimpleRequest {
	return &handpb.SimpleRequest{ResponseType: handpb.COMPRESSABLE, ResponseSize: cases.LargeRespSize, Payload: handpb.NewPayload(cases.LargeReqSize)}
}

func grpcLargeUnary(ctx context.Context, cc *grpc.ClientConn) error {
	res := new(handpb.SimpleResponse)
	if err := cc.Invoke(ctx, handpb.UnaryCallMethod, largeRequest(), res); err != nil {
		return err
	}
	return checkPayload(res.Payload, cases.LargeRespSize)
}

func grpcClientCompressedUnary(ctx context.Context, cc *grpc.ClientConn) error {
	unary := func(expect bool, opts ...grpc.CallOption) (*handpb.SimpleResponse, *probe, error) {
		ctx, p := withProbe(ctx)
		req := largeRequest()
		req.ExpectCompressed = &handpb.BoolValue{Value: expect}
		res := new(handpb.SimpleResponse)
		err := cc.Invoke(ctx, handpb.UnaryCallMethod, req, res, opts...)
		return res, p, err
	}
	if _, _, err := unary(true); status.Code(err) != codes.InvalidArgument {
		return fmt.Errorf("probe: got %v, want InvalidArgument", err)
	}
	res, p, err := unary(true, grpc.UseCompressor("gzip"))
	if err != nil {
		return fmt.Errorf("compressed call: %w", err)
	}
	if !p.outCompressed.Load() {
		return errors.New("compressed call: the request was not compressed")
	}
	if err := checkPayload(res.Payload, cases.LargeRespSize); err != nil {
		return fmt.Errorf("compressed call: %w", err)
	}
	res, p, err = unary(false)
	if err != nil {
		return fmt.Errorf("uncompressed call: %w", err)
	}
	if p.outCompressed.Load() {
		return errors.New("uncompressed call: the request was compressed")
	}
	return checkPayload(res.Payload, cases.LargeRespSize)
}

func grpcServerCompressedUnary(ctx context.Context, cc *grpc.ClientConn) error {
	for _, compressed := range []bool{true, false} {
		ctx, p := withProbe(ctx)
		req := largeRequest()
		req.ResponseCompressed = &handpb.BoolValue{Value: compressed}
		res := new(handpb.SimpleResponse)
		if err := cc.Invoke(ctx, handpb.UnaryCallMethod, req, res); err != nil {
			return fmt.Errorf("response_compressed=%v: %w", compressed, err)
		}
		if got := p.inCompressed.Load(); got != compressed {
			return fmt.Errorf("response_compressed=%v: the response's compressed flag was %v", compressed, got)
		}
		if err := checkPayload(res.Payload, cases.LargeRespSize); err != nil {
			return fmt.Errorf("response_compressed=%v: %w", compressed, err)
		}
	}
	return nil
}

// grpcClientCompressedStreaming is client_compressed_streaming as
// cases.clientCompressedStreaming runs it: grpc-go cannot leave one message
// of a compressing call uncompressed either, so the uncompressed message
// goes on a call of its own. The probe checks each message sent.
func grpcClientCompressedStreaming(ctx context.Context, cc *grpc.ClientConn) error {
	stream := func(expect bool, sizes []int, opts ...grpc.CallOption) (*handpb.StreamingInputCallResponse, []bool, error) {
		ctx, p := withProbe(ctx)
		s, err := cc.NewStream(ctx, clientStreamDesc, handpb.StreamingInputCallMethod, opts...)
		if err != nil {
			return nil, nil, err
		}
		var flags []bool
		for _, n := range sizes {
			req := &handpb.StreamingInputCallRequest{Payload: handpb.NewPayload(n), ExpectCompressed: &handpb.BoolValue{Value: expect}}
			if err := s.SendMsg(req); err != nil {
				return nil, nil, fmt.Errorf("send: %w", err)
			}
			flags = append(flags, p.outCompressed.Load())
		}
		if err := s.CloseSend(); err != nil {
			return nil, nil, err
		}
		res := new(handpb.StreamingInputCallResponse)
		if err := s.RecvMsg(res); err != nil {
			return nil, flags, err
		}
		return res, flags, nil
	}
	if _, _, err := stream(true, []int{27182}); status.Code(err) != codes.InvalidArgument {
		return fmt.Errorf("probe: got %v, want InvalidArgument", err)
	}
	res, flags, err := stream(true, []int{27182, 45904}, grpc.UseCompressor("gzip"))
	if err != nil {
		return fmt.Errorf("compressed call: %w", err)
	}
	if res.AggregatedPayloadSize != 73086 {
		return fmt.Errorf("compressed call: aggregated_payload_size %d, want 73086", res.AggregatedPayloadSize)
	}
	for i, f := range flags {
		if !f {
			return fmt.Errorf("compressed call: request %d was not compressed", i)
		}
	}
	res, flags, err = stream(false, []int{45904})
	if err != nil {
		return fmt.Errorf("uncompressed call: %w", err)
	}
	if res.AggregatedPayloadSize != 45904 || flags[0] {
		return fmt.Errorf("uncompressed call: aggregated_payload_size %d, compressed %v", res.AggregatedPayloadSize, flags[0])
	}
	return nil
}

// grpcServerCompressedStreaming is server_compressed_streaming as
// cases.serverCompressedStreaming runs it: one call whose responses all
// ask for compression, one whose responses ask for none, and the
// compressed flag of every response checked.
func grpcServerCompressedStreaming(ctx context.Context, cc *grpc.ClientConn) error {
	sizes := []int{31415, 92653}
	for _, compressed := range []bool{true, false} {
		ctx, p := withProbe(ctx)
		s, err := cc.NewStream(ctx, serverStreamDesc, handpb.StreamingOutputCallMethod)
		if err != nil {
			return err
		}
		req := &handpb.StreamingOutputCallRequest{ResponseType: handpb.COMPRESSABLE, ResponseParameters: params(sizes...)}
		for _, rp := range req.ResponseParameters {
			rp.Compressed = &handpb.BoolValue{Value: compressed}
		}
		if err := s.SendMsg(req); err != nil {
			return err
		}
		if err := s.CloseSend(); err != nil {
			return err
		}
		for i, size := range sizes {
			res := new(handpb.StreamingOutputCallResponse)
			if err := s.RecvMsg(res); err != nil {
				return fmt.Errorf("compressed=%v, response %d: %w", compressed, i, err)
			}
			if got := p.inCompressed.Load(); got != compressed {
				return fmt.Errorf("compressed=%v, response %d: its compressed flag was %v", compressed, i, got)
			}
			if err := checkPayload(res.Payload, size); err != nil {
				return fmt.Errorf("compressed=%v, response %d: %w", compressed, i, err)
			}
		}
		if err := s.RecvMsg(new(handpb.StreamingOutputCallResponse)); err != io.EOF {
			return fmt.Errorf("compressed=%v: after the responses: got %v, want the end of the stream", compressed, err)
		}
	}
	return nil
}

func grpcClientStreaming(ctx context.Context, cc *grpc.ClientConn) error {
	stream, err := cc.NewStream(ctx, clientStreamDesc, handpb.StreamingInputCallMethod)
	if err != nil {
		return err
	}
	sum := 0
	for _, n := range cases.ReqSizes {
		if err := stream.SendMsg(&handpb.StreamingInputCallRequest{Payload: handpb.NewPayload(n)}); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		sum += n
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	res := new(handpb.StreamingInputCallResponse)
	if err := stream.RecvMsg(res); err != nil {
		return err
	}
	if int(res.AggregatedPayloadSize) != sum {
		return fmt.Errorf("aggregated_payload_size %d, want %d", res.AggregatedPayloadSize, sum)
	}
	if err := stream.RecvMsg(new(handpb.StreamingInputCallResponse)); err != io.EOF {
		return fmt.Errorf("after the response: got %v, want the end of the stream", err)
	}
	return nil
}

func params(sizes ...int) []*handpb.ResponseParameters {
	ps := make([]*handpb.ResponseParameters, len(sizes))
	for i, s := range sizes {
		ps[i] = &handpb.ResponseParameters{Size: int32(s)}
	}
	return ps
}

func grpcServerStreaming(ctx context.Context, cc *grpc.ClientConn) error {
	stream, err := cc.NewStream(ctx, serverStreamDesc, handpb.StreamingOutputCallMethod)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&handpb.StreamingOutputCallRequest{ResponseType: handpb.COMPRESSABLE, ResponseParameters: params(cases.RespSizes...)}); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return cases.CheckPayloads(cases.RespSizes, func() (*testpb.Payload, error) {
		res := new(handpb.StreamingOutputCallResponse)
		if err := stream.RecvMsg(res); err != nil {
			return nil, err
		}
		return testPayload(res.Payload), nil
	})
}

func grpcPingPong(ctx context.Context, cc *grpc.ClientConn) error {
	stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
	if err != nil {
		return err
	}
	for i := range cases.ReqSizes {
		req := &handpb.StreamingOutputCallRequest{ResponseType: handpb.COMPRESSABLE, ResponseParameters: params(cases.RespSizes[i]), Payload: handpb.NewPayload(cases.ReqSizes[i])}
		if err := stream.SendMsg(req); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		res := new(handpb.StreamingOutputCallResponse)
		if err := stream.RecvMsg(res); err != nil {
			return fmt.Errorf("recv %d: %w", i, err)
		}
		if err := checkPayload(res.Payload, cases.RespSizes[i]); err != nil {
			return fmt.Errorf("response %d: %w", i, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if err := stream.RecvMsg(new(handpb.StreamingOutputCallResponse)); err != io.EOF {
		return fmt.Errorf("after half-close: got %v, want the end of the stream", err)
	}
	return nil
}

func grpcEmptyStream(ctx context.Context, cc *grpc.ClientConn) error {
	stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
	if err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if err := stream.RecvMsg(new(handpb.StreamingOutputCallResponse)); err != io.EOF {
		return fmt.Errorf("got %v, want no response and the end of the stream", err)
	}
	return nil
}

func grpcCancelAfterBegin(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "key1", "value1", "key2", "value2"))
	defer cancel()
	stream, err := cc.NewStream(ctx, clientStreamDesc, handpb.StreamingInputCallMethod)
	if err != nil {
		return err
	}
	cancel()
	_ = stream.CloseSend()
	err = stream.RecvMsg(new(handpb.StreamingInputCallResponse))
	return wantCode(err, codes.Canceled)
}

func grpcCancelAfterFirstResponse(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
	if err != nil {
		return err
	}
	req := &handpb.StreamingOutputCallRequest{ResponseType: handpb.COMPRESSABLE, ResponseParameters: params(31415), Payload: handpb.NewPayload(27182)}
	if err := stream.SendMsg(req); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if err := stream.RecvMsg(new(handpb.StreamingOutputCallResponse)); err != nil {
		return fmt.Errorf("recv: %w", err)
	}
	cancel()
	err = stream.RecvMsg(new(handpb.StreamingOutputCallResponse))
	return wantCode(err, codes.Canceled)
}

func grpcTimeoutOnSleepingServer(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
	if err != nil {
		return wantCode(err, codes.DeadlineExceeded)
	}
	req := &handpb.StreamingOutputCallRequest{ResponseType: handpb.COMPRESSABLE, Payload: handpb.NewPayload(27182)}
	if err := stream.SendMsg(req); err != nil && err != io.EOF {
		return fmt.Errorf("send: %w", err)
	}
	err = stream.RecvMsg(new(handpb.StreamingOutputCallResponse))
	return wantCode(err, codes.DeadlineExceeded)
}

func grpcCustomMetadata(ctx context.Context, cc *grpc.ClientConn) error {
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(
		handpb.EchoInitialKey, cases.InitialMetadataValue,
		handpb.EchoTrailingKey, cases.TrailingMetadataValue,
	))
	var header, trailer metadata.MD
	res := new(handpb.SimpleResponse)
	if err := cc.Invoke(ctx, handpb.UnaryCallMethod, largeRequest(), res, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}
	if err := checkPayload(res.Payload, cases.LargeRespSize); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}
	if err := checkEchoed(header, trailer); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}

	stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	req := &handpb.StreamingOutputCallRequest{ResponseType: handpb.COMPRESSABLE, ResponseParameters: params(cases.LargeRespSize), Payload: handpb.NewPayload(cases.LargeReqSize)}
	if err := stream.SendMsg(req); err != nil {
		return fmt.Errorf("FullDuplexCall send: %w", err)
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	header, err = stream.Header()
	if err != nil {
		return fmt.Errorf("FullDuplexCall header: %w", err)
	}
	sr := new(handpb.StreamingOutputCallResponse)
	if err := stream.RecvMsg(sr); err != nil {
		return fmt.Errorf("FullDuplexCall recv: %w", err)
	}
	if err := checkPayload(sr.Payload, cases.LargeRespSize); err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	if err := stream.RecvMsg(new(handpb.StreamingOutputCallResponse)); err != io.EOF {
		return fmt.Errorf("FullDuplexCall: got %v, want the end of the stream", err)
	}
	if err := checkEchoed(header, stream.Trailer()); err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	return nil
}

func checkEchoed(header, trailer metadata.MD) error {
	if v := header.Get(handpb.EchoInitialKey); len(v) != 1 || v[0] != cases.InitialMetadataValue {
		return fmt.Errorf("header %s = %q, want [%q]", handpb.EchoInitialKey, v, cases.InitialMetadataValue)
	}
	if v := trailer.Get(handpb.EchoTrailingKey); len(v) != 1 || v[0] != cases.TrailingMetadataValue {
		return fmt.Errorf("trailer %s = %q, want [%q]", handpb.EchoTrailingKey, v, cases.TrailingMetadataValue)
	}
	return nil
}

func grpcStatusCodeAndMessage(ctx context.Context, cc *grpc.ClientConn) error {
	st := &handpb.EchoStatus{Code: int32(codes.Unknown), Message: cases.StatusMessage}
	err := cc.Invoke(ctx, handpb.UnaryCallMethod, &handpb.SimpleRequest{ResponseStatus: st}, new(handpb.SimpleResponse))
	if err := wantStatus(err, codes.Unknown, cases.StatusMessage); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}
	stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	if err := stream.SendMsg(&handpb.StreamingOutputCallRequest{ResponseStatus: st}); err != nil {
		return fmt.Errorf("FullDuplexCall send: %w", err)
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	err = stream.RecvMsg(new(handpb.StreamingOutputCallResponse))
	if err := wantStatus(err, codes.Unknown, cases.StatusMessage); err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	return nil
}

func grpcSpecialStatusMessage(ctx context.Context, cc *grpc.ClientConn) error {
	st := &handpb.EchoStatus{Code: int32(codes.Unknown), Message: cases.SpecialStatusMessage}
	err := cc.Invoke(ctx, handpb.UnaryCallMethod, &handpb.SimpleRequest{ResponseStatus: st}, new(handpb.SimpleResponse))
	return wantStatus(err, codes.Unknown, cases.SpecialStatusMessage)
}

func grpcUnimplementedMethod(ctx context.Context, cc *grpc.ClientConn) error {
	err := cc.Invoke(ctx, handpb.UnimplementedCallMethod, &handpb.Empty{}, new(handpb.Empty))
	return wantCode(err, codes.Unimplemented)
}

func grpcUnimplementedService(ctx context.Context, cc *grpc.ClientConn) error {
	err := cc.Invoke(ctx, handpb.UnimplementedServiceCallMethod, &handpb.Empty{}, new(handpb.Empty))
	return wantCode(err, codes.Unimplemented)
}

// checkPayload, wantCode and wantStatus are parley's cases' checks
// (cases.CheckPayload, WantCode, WantStatus) of grpc-go's values.

func checkPayload(p *handpb.Payload, size int) error {
	return cases.CheckPayload(testPayload(p), size)
}

// testPayload is p as parley's generated type; nil stays nil.
func testPayload(p *handpb.Payload) *testpb.Payload {
	if p == nil {
		return nil
	}
	return &testpb.Payload{Type: testpb.PayloadType(p.Type), Body: p.Body}
}

func wantCode(err error, code codes.Code) error {
	return cases.WantCode(wireError(err), wire.Code(code))
}

func wantStatus(err error, code codes.Code, msg string) error {
	return cases.WantStatus(wireError(err), wire.Code(code), msg)
}

// wireError returns err, an error of grpc-go's, as a wire.Error of the
// same code and message; nil stays nil.
func wireError(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	return wire.NewError(wire.Code(st.Code()), st.Message())
}
