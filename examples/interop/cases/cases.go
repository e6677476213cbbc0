package cases

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/parleyrpc/parley/examples/interop/testpb"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// Sizes and values from grpc/grpc doc/interop-test-descriptions.md,
// shared with the interop module's grpc-go client.
var (
	// ReqSizes are the sizes of the requests of client_streaming and
	// ping_pong.
	ReqSizes = []int{27182, 8, 1828, 45904}
	// RespSizes are the sizes of the responses of server_streaming and
	// ping_pong.
	RespSizes = []int{31415, 9, 2653, 58979}
)

const (
	// LargeReqSize is the size of large_unary's request.
	LargeReqSize = 271828
	// LargeRespSize is the size of large_unary's response.
	LargeRespSize = 314159
	// InitialMetadataValue is what custom_metadata sends under
	// x-grpc-test-echo-initial.
	InitialMetadataValue = "test_initial_metadata_value"
	// TrailingMetadataValue is what custom_metadata sends under
	// x-grpc-test-echo-trailing-bin: the bytes ab ab ab.
	TrailingMetadataValue = "\xab\xab\xab"
	// StatusMessage is the message status_code_and_message asks for.
	StatusMessage = "test status message"
	// SpecialStatusMessage is the message special_status_message asks for:
	// whitespace, a BMP and a non-BMP character.
	SpecialStatusMessage = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"
	// compressedLimit separates a compressed large message from an
	// uncompressed one on the wire: 314159 zero bytes gzip to well under a
	// kilobyte, and are at least 314159 bytes when sent as they are.
	compressedLimit = 100000
)

// Names lists every case, in the order the client runs them by default.
var Names = []string{
	"empty_unary",
	"large_unary",
	"client_compressed_unary",
	"server_compressed_unary",
	"client_compressed_streaming",
	"server_compressed_streaming",
	"client_streaming",
	"server_streaming",
	"ping_pong",
	"empty_stream",
	"cancel_after_begin",
	"cancel_after_first_response",
	"timeout_on_sleeping_server",
	"custom_metadata",
	"status_code_and_message",
	"special_status_message",
	"unimplemented_method",
	"unimplemented_service",
}

// Config says how to reach the server under test.
type Config struct {
	// Addr is the server's "host:port".
	Addr string
	// TLS, when not nil, dials over TLS with this configuration; nil is
	// h2c.
	TLS *tls.Config
	// CaseTimeout bounds each case; the default is 10 seconds.
	CaseTimeout time.Duration
	// DialOptions are added to the options of the runner's clients (for
	// example runtime.WithHTTP2Transport).
	DialOptions []runtime.DialOption
}

// Result is the outcome of one case.
type Result struct {
	// Name is the case's name, one of Names.
	Name string
	// Err is why the case failed, nil when it passed.
	Err error
	// Elapsed is how long the case ran.
	Elapsed time.Duration
}

// Runner runs cases against one server with one shared parley client, plus
// a second, metered client for the compression cases, which checks on the
// wire that messages were (or were not) compressed. A Runner runs one case
// at a time; it is not safe for concurrent use.
type Runner struct {
	cfg    Config
	client *runtime.Client
	meter  *meteredClient

	// test and unimpl call through client, meteredTest through meter: the
	// generated typed clients of grpc.testing.TestService and
	// grpc.testing.UnimplementedService.
	test        testpb.TestServiceClient
	meteredTest testpb.TestServiceClient
	unimpl      testpb.UnimplementedServiceClient
}

type caseFunc func(ctx context.Context, r *Runner) error

var funcs = map[string]caseFunc{
	"empty_unary":                 emptyUnary,
	"large_unary":                 largeUnary,
	"client_compressed_unary":     clientCompressedUnary,
	"server_compressed_unary":     serverCompressedUnary,
	"client_compressed_streaming": clientCompressedStreaming,
	"server_compressed_streaming": serverCompressedStreaming,
	"client_streaming":            clientStreaming,
	"server_streaming":            serverStreaming,
	"ping_pong":                   pingPong,
	"empty_stream":                emptyStream,
	"cancel_after_begin":          cancelAfterBegin,
	"cancel_after_first_response": cancelAfterFirstResponse,
	"timeout_on_sleeping_server":  timeoutOnSleepingServer,
	"custom_metadata":             customMetadata,
	"status_code_and_message":     statusCodeAndMessage,
	"special_status_message":      specialStatusMessage,
	"unimplemented_method":        unimplementedMethod,
	"unimplemented_service":       unimplementedService,
}

// NewRunner returns a runner for the server cfg describes. It does not
// connect until the first case runs. Close it when done.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.CaseTimeout <= 0 {
		cfg.CaseTimeout = 10 * time.Second
	}
	opts := append([]runtime.DialOption(nil), cfg.DialOptions...)
	if cfg.TLS != nil {
		opts = append(opts, runtime.WithTLS(cfg.TLS))
	}
	client, err := runtime.Dial(cfg.Addr, opts...)
	if err != nil {
		return nil, err
	}
	meter := &meteredClient{}
	mopts := append(opts[:len(opts):len(opts)], runtime.WithDialer(meter.dial))
	if meter.Client, err = runtime.Dial(cfg.Addr, mopts...); err != nil {
		client.Close()
		return nil, err
	}
	return &Runner{
		cfg:         cfg,
		client:      client,
		meter:       meter,
		test:        testpb.NewTestServiceClient(client),
		meteredTest: testpb.NewTestServiceClient(meter.Client),
		unimpl:      testpb.NewUnimplementedServiceClient(client),
	}, nil
}

// Close closes the runner's clients.
func (r *Runner) Close() error {
	r.meter.Close()
	return r.client.Close()
}

// Run runs the named case and returns nil if it passed.
func (r *Runner) Run(ctx context.Context, name string) error {
	f, ok := funcs[name]
	if !ok {
		return fmt.Errorf("unknown case %q", name)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CaseTimeout)
	defer cancel()
	return f(ctx, r)
}

// RunAll runs the named cases one after the other (all of Names when names
// is empty), calling report after each, and returns the results.
func (r *Runner) RunAll(ctx context.Context, names []string, report func(Result)) []Result {
	if len(names) == 0 {
		names = Names
	}
	results := make([]Result, 0, len(names))
	for _, name := range names {
		start := time.Now()
		err := r.Run(ctx, name)
		res := Result{Name: name, Err: err, Elapsed: time.Since(start)}
		if report != nil {
			report(res)
		}
		results = append(results, res)
	}
	return results
}

// meteredClient is a parley client whose connections count the bytes they
// read and write, so a case can tell a compressed message from an
// uncompressed one on the wire (parley does not expose the per-message
// compressed flag).
type meteredClient struct {
	*runtime.Client
	read, written atomic.Int64
}

func (m *meteredClient) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &meteredConn{Conn: c, m: m}, nil
}

type meteredConn struct {
	net.Conn
	m *meteredClient
}

func (c *meteredConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.read.Add(int64(n))
	return n, err
}

// Write counts p before writing it, and takes back what was not written:
// the peer may answer bytes, and the call return, before Write itself
// returns to count them.
func (c *meteredConn) Write(p []byte) (int, error) {
	c.m.written.Add(int64(len(p)))
	n, err := c.Conn.Write(p)
	c.m.written.Add(int64(n - len(p)))
	return n, err
}

// metered runs f and returns how many bytes the metered client's
// connection read and wrote meanwhile. The runner runs one case at a time,
// so nothing else uses the connection.
func (m *meteredClient) metered(f func() error) (read, written int64, err error) {
	r0, w0 := m.read.Load(), m.written.Load()
	err = f()
	return m.read.Load() - r0, m.written.Load() - w0, err
}

func emptyUnary(ctx context.Context, r *Runner) error {
	res, err := r.test.EmptyCall(ctx, &testpb.Empty{})
	if err != nil {
		return err
	}
	if res == nil {
		return errors.New("nil response")
	}
	return nil
}

func largeRequest() *testpb.SimpleRequest {
	return &testpb.SimpleRequest{
		ResponseType: testpb.PayloadType_COMPRESSABLE,
		ResponseSize: LargeRespSize,
		Payload:      testpb.NewPayload(LargeReqSize),
	}
}

func largeUnary(ctx context.Context, r *Runner) error {
	res, err := r.test.UnaryCall(ctx, largeRequest())
	if err != nil {
		return err
	}
	return CheckPayload(res.Payload, LargeRespSize)
}

func clientCompressedUnary(ctx context.Context, r *Runner) error {
	unary := func(expect bool, opts ...runtime.CallOption) (*testpb.SimpleResponse, int64, error) {
		req := largeRequest()
		req.ExpectCompressed = &testpb.BoolValue{Value: expect}
		var res *testpb.SimpleResponse
		_, written, err := r.meter.metered(func() (err error) {
			res, err = r.meteredTest.UnaryCall(ctx, req, opts...)
			return err
		})
		return res, written, err
	}
	// 1. The feature probe: uncompressed, but expect_compressed.
	if _, _, err := unary(true); wire.CodeOf(err) != wire.InvalidArgument {
		return fmt.Errorf("probe: got %v, want INVALID_ARGUMENT", err)
	}
	// 2. Compressed, and expected so.
	res, written, err := unary(true, runtime.UseCompressor(wire.Gzip.Name()))
	if err != nil {
		return fmt.Errorf("compressed call: %w", err)
	}
	if written >= compressedLimit {
		return fmt.Errorf("compressed call: wrote %d bytes; the request was not compressed", written)
	}
	if err := CheckPayload(res.Payload, LargeRespSize); err != nil {
		return fmt.Errorf("compressed call: %w", err)
	}
	// 3. Uncompressed, and expected so.
	res, written, err = unary(false)
	if err != nil {
		return fmt.Errorf("uncompressed call: %w", err)
	}
	if written < LargeReqSize {
		return fmt.Errorf("uncompressed call: wrote only %d bytes; the request was compressed", written)
	}
	if err := CheckPayload(res.Payload, LargeRespSize); err != nil {
		return fmt.Errorf("uncompressed call: %w", err)
	}
	return nil
}

func serverCompressedUnary(ctx context.Context, r *Runner) error {
	for _, compressed := range []bool{true, false} {
		req := largeRequest()
		req.ResponseCompressed = &testpb.BoolValue{Value: compressed}
		var res *testpb.SimpleResponse
		read, _, err := r.meter.metered(func() (err error) {
			res, err = r.meteredTest.UnaryCall(ctx, req)
			return err
		})
		if err != nil {
			return fmt.Errorf("response_compressed=%v: %w", compressed, err)
		}
		if compressed && read >= compressedLimit {
			return fmt.Errorf("response_compressed=true: read %d bytes; the response was not compressed", read)
		}
		if !compressed && read < LargeRespSize {
			return fmt.Errorf("response_compressed=false: read only %d bytes; the response was compressed", read)
		}
		if err := CheckPayload(res.Payload, LargeRespSize); err != nil {
			return fmt.Errorf("response_compressed=%v: %w", compressed, err)
		}
	}
	return nil
}

// Compressed streaming payload sizes, from the interop descriptions.
var (
	compressedReqSizes  = []int{27182, 45904}
	compressedRespSizes = []int{31415, 92653}
)

// clientCompressedStreaming is the interop case client_compressed_streaming,
// as far as parley and grpc-go can both run it: neither can leave one
// message of a compressing call uncompressed (the descriptions' second
// message), so the case sends it on a call of its own, uncompressed.
//
//  1. The feature probe: an uncompressed call whose request expects
//     compression fails with INVALID_ARGUMENT.
//  2. A gzip call sends 27182 and 45904 bytes, each expecting compression:
//     aggregated_payload_size 73086, and the requests were compressed on
//     the wire.
//  3. An uncompressed call sends 45904 bytes expecting no compression.
//
// The server checks each request against its expect_compressed, as the
// descriptions ask. (Unlike the unary case, this one does not count the
// bytes written: a streaming call's last writes, or the probe's, may be
// counted after its response has arrived.)
func clientCompressedStreaming(ctx context.Context, r *Runner) error {
	stream := func(expect bool, sizes []int, opts ...runtime.CallOption) (*testpb.StreamingInputCallResponse, error) {
		call, err := r.test.StreamingInputCall(ctx, opts...)
		if err != nil {
			return nil, err
		}
		defer call.Cancel()
		for _, n := range sizes {
			req := &testpb.StreamingInputCallRequest{Payload: testpb.NewPayload(n), ExpectCompressed: &testpb.BoolValue{Value: expect}}
			if err := call.Send(req); err != nil {
				return nil, fmt.Errorf("send: %w", err)
			}
		}
		return call.CloseAndRecv()
	}
	if _, err := stream(true, compressedReqSizes[:1]); wire.CodeOf(err) != wire.InvalidArgument {
		return fmt.Errorf("probe: got %v, want INVALID_ARGUMENT", err)
	}
	res, err := stream(true, compressedReqSizes, runtime.UseCompressor(wire.Gzip.Name()))
	if err != nil {
		return fmt.Errorf("compressed call: %w", err)
	}
	if want := compressedReqSizes[0] + compressedReqSizes[1]; int(res.AggregatedPayloadSize) != want {
		return fmt.Errorf("compressed call: aggregated_payload_size %d, want %d", res.AggregatedPayloadSize, want)
	}
	res, err = stream(false, compressedReqSizes[1:])
	if err != nil {
		return fmt.Errorf("uncompressed call: %w", err)
	}
	if int(res.AggregatedPayloadSize) != compressedReqSizes[1] {
		return fmt.Errorf("uncompressed call: aggregated_payload_size %d, want %d", res.AggregatedPayloadSize, compressedReqSizes[1])
	}
	return nil
}

// serverCompressedStreaming is the interop case server_compressed_streaming,
// as far as parley and grpc-go can both serve it: a server compresses a
// whole call or none of it, so instead of one call whose first response is
// compressed and second is not, it makes two calls of two responses
// (31415 and 92653 bytes), one asking for compression in each response
// parameter and one asking for none, and checks the bytes read.
func serverCompressedStreaming(ctx context.Context, r *Runner) error {
	for _, compressed := range []bool{true, false} {
		req := &testpb.StreamingOutputCallRequest{ResponseType: testpb.PayloadType_COMPRESSABLE, ResponseParameters: responseParams(compressedRespSizes...)}
		for _, p := range req.ResponseParameters {
			p.Compressed = &testpb.BoolValue{Value: compressed}
		}
		n := 0
		read, _, err := r.meter.metered(func() error {
			call, err := r.meteredTest.StreamingOutputCall(ctx, req)
			if err != nil {
				return err
			}
			defer call.Cancel()
			for {
				res, err := call.Recv()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if n >= len(compressedRespSizes) {
					return fmt.Errorf("more than %d responses", len(compressedRespSizes))
				}
				if err := CheckPayload(res.Payload, compressedRespSizes[n]); err != nil {
					return fmt.Errorf("response %d: %w", n, err)
				}
				n++
			}
		})
		if err != nil {
			return fmt.Errorf("compressed=%v: %w", compressed, err)
		}
		if n != len(compressedRespSizes) {
			return fmt.Errorf("compressed=%v: got %d responses, want %d", compressed, n, len(compressedRespSizes))
		}
		total := int64(compressedRespSizes[0] + compressedRespSizes[1])
		if compressed && read >= int64(compressedRespSizes[0]) {
			return fmt.Errorf("compressed=true: read %d bytes; the responses were not compressed", read)
		}
		if !compressed && read < total {
			return fmt.Errorf("compressed=false: read only %d bytes; the responses were compressed", read)
		}
	}
	return nil
}

func clientStreaming(ctx context.Context, r *Runner) error {
	call, err := r.test.StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	defer call.Cancel()
	sum := 0
	for _, n := range ReqSizes {
		if err := call.Send(&testpb.StreamingInputCallRequest{Payload: testpb.NewPayload(n)}); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		sum += n
	}
	res, err := call.CloseAndRecv()
	if err != nil {
		return err
	}
	if int(res.AggregatedPayloadSize) != sum {
		return fmt.Errorf("aggregated_payload_size %d, want %d", res.AggregatedPayloadSize, sum)
	}
	return nil
}

func responseParams(sizes ...int) []*testpb.ResponseParameters {
	ps := make([]*testpb.ResponseParameters, len(sizes))
	for i, s := range sizes {
		ps[i] = &testpb.ResponseParameters{Size: int32(s)}
	}
	return ps
}

func serverStreaming(ctx context.Context, r *Runner) error {
	req := &testpb.StreamingOutputCallRequest{ResponseType: testpb.PayloadType_COMPRESSABLE, ResponseParameters: responseParams(RespSizes...)}
	call, err := r.test.StreamingOutputCall(ctx, req)
	if err != nil {
		return err
	}
	defer call.Cancel()
	return CheckPayloads(RespSizes, func() (*testpb.Payload, error) {
		res, err := call.Recv()
		if err != nil {
			return nil, err
		}
		return res.Payload, nil
	})
}

// CheckPayloads receives the payloads of a server stream with recv until
// it returns io.EOF, and checks that they are, in order, COMPRESSABLE
// payloads of the sizes sizes (see CheckPayload).
func CheckPayloads(sizes []int, recv func() (*testpb.Payload, error)) error {
	n := 0
	for {
		p, err := recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if n >= len(sizes) {
			return fmt.Errorf("more than %d responses", len(sizes))
		}
		if err := CheckPayload(p, sizes[n]); err != nil {
			return fmt.Errorf("response %d: %w", n, err)
		}
		n++
	}
	if n != len(sizes) {
		return fmt.Errorf("got %d responses, want %d", n, len(sizes))
	}
	return nil
}

type duplexCall = runtime.ClientCall[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]

func openDuplex(ctx context.Context, r *Runner) (*duplexCall, error) {
	return r.test.FullDuplexCall(ctx)
}

func pingPong(ctx context.Context, r *Runner) error {
	call, err := openDuplex(ctx, r)
	if err != nil {
		return err
	}
	defer call.Cancel()
	for i := range ReqSizes {
		req := &testpb.StreamingOutputCallRequest{
			ResponseType:       testpb.PayloadType_COMPRESSABLE,
			ResponseParameters: responseParams(RespSizes[i]),
			Payload:            testpb.NewPayload(ReqSizes[i]),
		}
		if err := call.Send(req); err != nil {
			return fmt.Errorf("send %d: %w", i, err)
		}
		res, err := call.Recv()
		if err != nil {
			return fmt.Errorf("recv %d: %w", i, err)
		}
		if err := CheckPayload(res.Payload, RespSizes[i]); err != nil {
			return fmt.Errorf("response %d: %w", i, err)
		}
	}
	call.CloseSend()
	if _, err := call.Recv(); err != io.EOF {
		return fmt.Errorf("after half-close: got %v, want the end of the stream", err)
	}
	return nil
}

func emptyStream(ctx context.Context, r *Runner) error {
	call, err := openDuplex(ctx, r)
	if err != nil {
		return err
	}
	defer call.Cancel()
	call.CloseSend()
	if res, err := call.Recv(); err != io.EOF {
		return fmt.Errorf("got %v, %v; want no response and the end of the stream", res, err)
	}
	return nil
}

func cancelAfterBegin(ctx context.Context, r *Runner) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	call, err := r.test.StreamingInputCall(ctx)
	if err != nil {
		return err
	}
	cancel()
	_, err = call.CloseAndRecv()
	return WantCode(err, wire.Canceled)
}

func cancelAfterFirstResponse(ctx context.Context, r *Runner) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	call, err := openDuplex(ctx, r)
	if err != nil {
		return err
	}
	req := &testpb.StreamingOutputCallRequest{
		ResponseType:       testpb.PayloadType_COMPRESSABLE,
		ResponseParameters: responseParams(31415),
		Payload:            testpb.NewPayload(27182),
	}
	if err := call.Send(req); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if _, err := call.Recv(); err != nil {
		return fmt.Errorf("recv: %w", err)
	}
	cancel()
	_, err = call.Recv()
	return WantCode(err, wire.Canceled)
}

func timeoutOnSleepingServer(ctx context.Context, r *Runner) error {
	ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	call, err := openDuplex(ctx, r)
	if err != nil {
		return WantCode(err, wire.DeadlineExceeded)
	}
	defer call.Cancel()
	// Send may fail once the deadline has passed; Recv tells how the call
	// ended.
	_ = call.Send(&testpb.StreamingOutputCallRequest{ResponseType: testpb.PayloadType_COMPRESSABLE, Payload: testpb.NewPayload(27182)})
	_, err = call.Recv()
	return WantCode(err, wire.DeadlineExceeded)
}

func customMetadata(ctx context.Context, r *Runner) error {
	ctx = runtime.NewOutgoingContext(ctx, wire.Pairs(
		testpb.EchoInitialKey, InitialMetadataValue,
		testpb.EchoTrailingKey, TrailingMetadataValue,
	))
	var header, trailer wire.Metadata
	res, err := r.test.UnaryCall(ctx, largeRequest(),
		runtime.Header(&header), runtime.Trailer(&trailer))
	if err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}
	if err := CheckPayload(res.Payload, LargeRespSize); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}
	if err := checkEchoed(header, trailer); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}

	call, err := openDuplex(ctx, r)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	defer call.Cancel()
	req := &testpb.StreamingOutputCallRequest{
		ResponseType:       testpb.PayloadType_COMPRESSABLE,
		ResponseParameters: responseParams(LargeRespSize),
		Payload:            testpb.NewPayload(LargeReqSize),
	}
	if err := call.Send(req); err != nil {
		return fmt.Errorf("FullDuplexCall send: %w", err)
	}
	call.CloseSend()
	header, err = call.Header()
	if err != nil {
		return fmt.Errorf("FullDuplexCall header: %w", err)
	}
	sr, err := call.Recv()
	if err != nil {
		return fmt.Errorf("FullDuplexCall recv: %w", err)
	}
	if err := CheckPayload(sr.Payload, LargeRespSize); err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	if _, err := call.Recv(); err != io.EOF {
		return fmt.Errorf("FullDuplexCall: got %v, want the end of the stream", err)
	}
	if err := checkEchoed(header, call.Trailer()); err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	return nil
}

func checkEchoed(header, trailer wire.Metadata) error {
	if v := header.Values(testpb.EchoInitialKey); len(v) != 1 || v[0] != InitialMetadataValue {
		return fmt.Errorf("header %s = %q, want [%q]", testpb.EchoInitialKey, v, InitialMetadataValue)
	}
	if v := trailer.Values(testpb.EchoTrailingKey); len(v) != 1 || v[0] != TrailingMetadataValue {
		return fmt.Errorf("trailer %s = %q, want [%q]", testpb.EchoTrailingKey, v, TrailingMetadataValue)
	}
	return nil
}

func statusCodeAndMessage(ctx context.Context, r *Runner) error {
	st := &testpb.EchoStatus{Code: int32(wire.Unknown), Message: StatusMessage}
	_, err := r.test.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: st})
	if err := WantStatus(err, wire.Unknown, StatusMessage); err != nil {
		return fmt.Errorf("UnaryCall: %w", err)
	}
	call, err := openDuplex(ctx, r)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	defer call.Cancel()
	if err := call.Send(&testpb.StreamingOutputCallRequest{ResponseStatus: st}); err != nil {
		return fmt.Errorf("FullDuplexCall send: %w", err)
	}
	call.CloseSend()
	_, err = call.Recv()
	if err := WantStatus(err, wire.Unknown, StatusMessage); err != nil {
		return fmt.Errorf("FullDuplexCall: %w", err)
	}
	return nil
}

func specialStatusMessage(ctx context.Context, r *Runner) error {
	st := &testpb.EchoStatus{Code: int32(wire.Unknown), Message: SpecialStatusMessage}
	_, err := r.test.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: st})
	return WantStatus(err, wire.Unknown, SpecialStatusMessage)
}

func unimplementedMethod(ctx context.Context, r *Runner) error {
	_, err := r.test.UnimplementedCall(ctx, &testpb.Empty{})
	return WantCode(err, wire.Unimplemented)
}

func unimplementedService(ctx context.Context, r *Runner) error {
	_, err := r.unimpl.UnimplementedCall(ctx, &testpb.Empty{})
	return WantCode(err, wire.Unimplemented)
}

// CheckPayload checks that p is a COMPRESSABLE payload of size zero bytes
// (or absent, when size is 0). The interop module's grpc-go client checks
// its payloads with it too.
func CheckPayload(p *testpb.Payload, size int) error {
	if p == nil {
		if size == 0 {
			return nil
		}
		return fmt.Errorf("no payload, want %d bytes", size)
	}
	if p.Type != testpb.PayloadType_COMPRESSABLE {
		return fmt.Errorf("payload type %v, want COMPRESSABLE", p.Type)
	}
	if len(p.Body) != size {
		return fmt.Errorf("payload of %d bytes, want %d", len(p.Body), size)
	}
	for i, b := range p.Body {
		if b != 0 {
			return fmt.Errorf("payload byte %d is %#x, want 0", i, b)
		}
	}
	return nil
}

// WantCode checks that err has the status code code.
func WantCode(err error, code wire.Code) error {
	if got := wire.CodeOf(err); got != code {
		return fmt.Errorf("got status %v (%v), want %v", got, err, code)
	}
	return nil
}

// WantStatus checks that err has the status code code and the message msg.
func WantStatus(err error, code wire.Code, msg string) error {
	if err := WantCode(err, code); err != nil {
		return err
	}
	if got := wire.AsError(err).Message(); got != msg {
		return fmt.Errorf("got message %q, want %q", got, msg)
	}
	return nil
}
