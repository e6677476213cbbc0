package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyrpc/parley/mailbox"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

var errEOF = io.EOF

const (
	mUnary  = "/test.Echo/Unary"
	mServer = "/test.Echo/ServerStream"
	mClient = "/test.Echo/ClientStream"
	mBidi   = "/test.Echo/Bidi"
)

// registerEcho adds the four call types: echoes that also reflect request
// metadata into response headers and trailers.
func registerEcho(s *prt.Server) {
	prt.HandleUnary(s, mUnary, func(ctx context.Context, req *Msg) (*Msg, error) {
		md := prt.IncomingMetadata(ctx)
		if v := md.Get("x-echo-header"); v != "" {
			_ = prt.SetHeader(ctx, wire.Pairs("x-echo-header", v))
		}
		if v := md.Get("x-echo-trailer-bin"); v != "" {
			_ = prt.SetTrailer(ctx, wire.Pairs("x-echo-trailer-bin", v))
		}
		return &Msg{Text: "echo: " + req.Text, N: req.N + 1, Data: req.Data}, nil
	})
	prt.HandleServerStream(s, mServer, func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
		if err := call.SendHeader(wire.Pairs("x-count", fmt.Sprint(req.N))); err != nil {
			return err
		}
		for i := int64(0); i < req.N; i++ {
			if err := call.Send(&Msg{Text: req.Text, N: i}); err != nil {
				return err
			}
		}
		call.SetTrailer(wire.Pairs("x-sent", fmt.Sprint(req.N)))
		return nil
	})
	prt.HandleClientStream(s, mClient, func(call *prt.ServerCall[Msg, Msg]) (*Msg, error) {
		var sum, count int64
		for {
			m, err := call.Recv()
			if err == io.EOF {
				return &Msg{N: sum, Text: fmt.Sprint(count)}, nil
			}
			if err != nil {
				return nil, err
			}
			sum += m.N
			count++
		}
	})
	prt.HandleBidi(s, mBidi, func(call *prt.ServerCall[Msg, Msg]) error {
		if v := call.Metadata().Get("x-echo-header"); v != "" {
			_ = call.SetHeader(wire.Pairs("x-echo-header", v))
		}
		for {
			select {
			case m, ok := <-call.In().C():
				if !ok {
					end, _ := call.In().End()
					return end.Err
				}
				if err := call.Send(&Msg{Text: "pong: " + m.Text, N: m.N, Data: m.Data}); err != nil {
					return err
				}
			case <-call.Context().Done():
				return call.Context().Err()
			}
		}
	})
}

func TestUnary(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		ctx := prt.AppendOutgoing(testCtx(t), "x-echo-header", "hello", "x-echo-trailer-bin", "\x00\x01\xff")
		var header, trailer wire.Metadata
		res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Text: "hi", N: 41, Data: []byte{0, 1, 2}},
			prt.Header(&header), prt.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != "echo: hi" || res.N != 42 || string(res.Data) != "\x00\x01\x02" {
			t.Fatalf("got %+v", res)
		}
		if got := header.Get("x-echo-header"); got != "hello" {
			t.Errorf("header x-echo-header = %q, want hello", got)
		}
		if got := trailer.Get("x-echo-trailer-bin"); got != "\x00\x01\xff" {
			t.Errorf("trailer x-echo-trailer-bin = %q, want the raw bytes", got)
		}
		// Many concurrent calls share the one connection.
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			go func(i int) {
				res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{N: int64(i)})
				if err == nil && res.N != int64(i)+1 {
					err = fmt.Errorf("call %d got N=%d", i, res.N)
				}
				errs <- err
			}(i)
		}
		for i := 0; i < 50; i++ {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
}

func TestServerStreaming(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		for _, n := range []int64{0, 1, 100} {
			call, err := prt.OpenServerStream[Msg, Msg](testCtx(t), e.client, mServer, &Msg{Text: "x", N: n})
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := call.Header()
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Get("x-count") != fmt.Sprint(n) {
				t.Errorf("x-count header = %q, want %d", hdr.Get("x-count"), n)
			}
			msgs, err := recvAll(t, call)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(msgs)) != n {
				t.Fatalf("got %d messages, want %d", len(msgs), n)
			}
			for i, m := range msgs {
				if m.N != int64(i) {
					t.Fatalf("message %d has N=%d: out of order", i, m.N)
				}
			}
			if got := call.Trailer().Get("x-sent"); got != fmt.Sprint(n) {
				t.Errorf("trailer x-sent = %q, want %d", got, n)
			}
			end, ok := call.In().End()
			if !ok || end.Err != nil || end.Trailer.Get("x-sent") != fmt.Sprint(n) {
				t.Errorf("terminal event = %+v, %v", end, ok)
			}
		}
	})
}

func TestClientStreaming(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		for _, n := range []int{0, 1, 500} {
			call, err := prt.Open[Msg, Msg](testCtx(t), e.client, mClient)
			if err != nil {
				t.Fatal(err)
			}
			var want int64
			for i := 0; i < n; i++ {
				want += int64(i)
				if err := call.Send(&Msg{N: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := call.CloseAndRecv()
			if err != nil {
				t.Fatal(err)
			}
			if res.N != want || res.Text != fmt.Sprint(n) {
				t.Fatalf("got sum %d over %s messages, want %d over %d", res.N, res.Text, want, n)
			}
		}
	})
}

func TestBidi(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		ctx := prt.AppendOutgoing(testCtx(t), "x-echo-header", "bidi")
		call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
		if err != nil {
			t.Fatal(err)
		}
		// Ping-pong: each response before the next request.
		for i := 0; i < 100; i++ {
			if err := call.Send(&Msg{Text: fmt.Sprint(i), N: int64(i)}); err != nil {
				t.Fatal(err)
			}
			m, err := call.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != "pong: "+fmt.Sprint(i) {
				t.Fatalf("got %q", m.Text)
			}
		}
		hdr, err := call.Header()
		if err != nil || hdr.Get("x-echo-header") != "bidi" {
			t.Fatalf("header = %v, %v", hdr, err)
		}
		// Half-close: the server's inbound ends, it returns OK.
		if err := call.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := call.Recv(); err != io.EOF {
			t.Fatalf("after half-close got %v, want io.EOF", err)
		}
		if err := call.Send(&Msg{}); err != io.EOF {
			t.Fatalf("Send after the call ended: %v, want io.EOF", err)
		}
	})
}

// TestEmptyStreams: streams with no messages either way end cleanly.
func TestEmptyStreams(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		call, err := prt.Open[Msg, Msg](testCtx(t), e.client, mBidi)
		if err != nil {
			t.Fatal(err)
		}
		call.CloseSend()
		msgs, err := recvAll(t, call)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("got %d messages, %v", len(msgs), err)
		}
	})
}

func TestStatusCodes(t *testing.T) {
	const method = "/test.Status/Fail"
	register := func(s *prt.Server) {
		prt.HandleUnary(s, method, func(ctx context.Context, req *Msg) (*Msg, error) {
			if req.Text == "plain" {
				return nil, errors.New("a plain error")
			}
			return nil, wire.NewError(wire.Code(req.N), req.Text).WithTrailer(wire.Pairs("x-reason", "test"))
		})
		prt.HandleServerStream(s, "/test.Status/FailLate", func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
			if err := call.Send(&Msg{Text: "first"}); err != nil {
				return err
			}
			return wire.NewError(wire.Code(req.N), req.Text)
		})
	}
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, register, envOpts{})
		ctx := testCtx(t)
		messages := []string{"", "simple", "non-ASCII: ünïcödé ✓ 日本語", "percent % and \r\n newline", "\t\x00tab and nul"}
		for code := wire.Canceled; code <= wire.Unauthenticated; code++ {
			msg := messages[int(code)%len(messages)]
			var trailer wire.Metadata
			_, err := prt.CallUnary[Msg, Msg](ctx, e.client, method, &Msg{N: int64(code), Text: msg}, prt.Trailer(&trailer))
			we := wantCode(t, err, code)
			if we.Message() != msg {
				t.Errorf("code %v: message %q, want %q", code, we.Message(), msg)
			}
			if !we.IsWire() {
				t.Errorf("code %v: error not marked as from the wire", code)
			}
			if trailer.Get("x-reason") != "test" || we.Trailer().Get("x-reason") != "test" {
				t.Errorf("code %v: trailer %v / %v lacks x-reason", code, trailer, we.Trailer())
			}
		}
		_, err := prt.CallUnary[Msg, Msg](ctx, e.client, method, &Msg{Text: "plain"})
		if we := wantCode(t, err, wire.Unknown); we.Message() != "a plain error" {
			t.Errorf("plain error message %q", we.Message())
		}
		// A failure after a message arrives in the trailers.
		call, err := prt.OpenServerStream[Msg, Msg](ctx, e.client, "/test.Status/FailLate", &Msg{N: int64(wire.Aborted), Text: "late ✗"})
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := recvAll(t, call)
		if len(msgs) != 1 {
			t.Errorf("got %d messages before the failure, want 1", len(msgs))
		}
		if we := wantCode(t, err, wire.Aborted); we.Message() != "late ✗" {
			t.Errorf("message %q", we.Message())
		}
	})
}

func TestUnknownMethod(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		ctx := testCtx(t)
		_, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Echo/Nope", &Msg{})
		if we := wantCode(t, err, wire.Unimplemented); !strings.Contains(we.Message(), "unknown method Nope") {
			t.Errorf("message %q", we.Message())
		}
		_, err = prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Missing/Nope", &Msg{})
		if we := wantCode(t, err, wire.Unimplemented); !strings.Contains(we.Message(), "unknown service test.Missing") {
			t.Errorf("message %q", we.Message())
		}
		call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Missing/Stream")
		if err != nil {
			t.Fatal(err)
		}
		_, err = call.Header()
		wantCode(t, err, wire.Unimplemented)
		_, err = call.Recv()
		wantCode(t, err, wire.Unimplemented)
	})
}

func TestDeadline(t *testing.T) {
	handlerErr := make(chan error, 2)
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Slow/Unary", func(ctx context.Context, req *Msg) (*Msg, error) {
			if _, ok := ctx.Deadline(); !ok {
				handlerErr <- errors.New("no deadline on the handler's context")
				return nil, nil
			}
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		prt.HandleBidi(s, "/test.Slow/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			<-call.Context().Done()
			handlerErr <- call.Context().Err()
			return call.Context().Err()
		})
	}
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, register, envOpts{})
		ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
		defer cancel()
		_, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Slow/Unary", &Msg{})
		wantCode(t, err, wire.DeadlineExceeded)
		// The client's reset races the server's own timer; either way the
		// handler's context is done (TestServerDeadline checks the server's
		// timer without the race).
		if err := <-handlerErr; err == nil {
			t.Errorf("unary handler saw no error")
		}

		ctx2, cancel2 := context.WithTimeout(testCtx(t), 300*time.Millisecond)
		defer cancel2()
		call, err := prt.Open[Msg, Msg](ctx2, e.client, "/test.Slow/Bidi")
		if err != nil {
			// A stalled machine may pass the deadline before Open.
			wantCode(t, err, wire.DeadlineExceeded)
			return
		}
		_ = call.Send(&Msg{})
		_, err = call.Recv()
		wantCode(t, err, wire.DeadlineExceeded)
		if err := <-handlerErr; err == nil {
			t.Errorf("bidi handler saw no error")
		}
	})
}

// TestServerDeadlineStatus: the server ends a call whose deadline passed
// with DEADLINE_EXCEEDED even if its handler ignores the context; the
// client is given a longer deadline than the one it sends.
func TestServerDeadlineStatus(t *testing.T) {
	release := make(chan struct{})
	register := func(s *prt.Server) {
		prt.HandleBidi(s, "/test.Stubborn/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			<-release // ignores its context on purpose
			return nil
		})
	}
	e := newEnv(t, transports[0], register, envOpts{})
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Stubborn/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	_, err = call.Recv()
	wantCode(t, err, wire.DeadlineExceeded)
	close(release)
}

func TestCancel(t *testing.T) {
	handlerErr := make(chan error, 1)
	started := make(chan struct{}, 1)
	register := func(s *prt.Server) {
		prt.HandleBidi(s, "/test.Cancel/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			started <- struct{}{}
			<-call.Context().Done()
			handlerErr <- call.Context().Err()
			return nil
		})
	}
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, register, envOpts{})
		call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Cancel/Bidi")
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Send(&Msg{}); err != nil {
			t.Fatal(err)
		}
		<-started
		call.Cancel()
		_, err = call.Recv()
		wantCode(t, err, wire.Canceled)
		if err := <-handlerErr; !errors.Is(err, context.Canceled) {
			t.Errorf("handler saw %v, want Canceled", err)
		}
		// Cancelling the context passed to Open works the same way.
		ctx, cancel := context.WithCancel(testCtx(t))
		call, err = prt.Open[Msg, Msg](ctx, e.client, "/test.Cancel/Bidi")
		if err != nil {
			t.Fatal(err)
		}
		_ = call.Send(&Msg{})
		<-started
		cancel()
		_, err = call.Recv()
		wantCode(t, err, wire.Canceled)
		<-handlerErr
	})
}

func TestLargeMessages(t *testing.T) {
	big := make([]byte, 6<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	forEach(t, func(t *testing.T, tr transport) {
		// Limits raised on both sides: several MiB go through whole.
		e := newEnv(t, tr, registerEcho, envOpts{
			server: []prt.ServerOption{prt.MaxRecvMsgSize(8 << 20)},
			dial:   []prt.DialOption{prt.MaxRecvMsgSize(8 << 20)},
		})
		ctx := testCtx(t)
		res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Data: big})
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Data) != string(big) {
			t.Fatal("6 MiB payload corrupted")
		}
		call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if err := call.Send(&Msg{Data: big, N: int64(i)}); err != nil {
				t.Fatal(err)
			}
			m, err := call.Recv()
			if err != nil || m.N != int64(i) || len(m.Data) != len(big) {
				t.Fatalf("stream message %d: %v", i, err)
			}
		}
		call.CloseSend()
		if _, err := recvAll(t, call); err != nil {
			t.Fatal(err)
		}

		// Default limits: 4 MiB. The server refuses a larger request ...
		d := newEnv(t, tr, registerEcho, envOpts{dial: []prt.DialOption{prt.MaxRecvMsgSize(8 << 20)}})
		_, err = prt.CallUnary[Msg, Msg](ctx, d.client, mUnary, &Msg{Data: big})
		wantCode(t, err, wire.ResourceExhausted)
		call, err = prt.Open[Msg, Msg](ctx, d.client, mBidi)
		if err != nil {
			t.Fatal(err)
		}
		_ = call.Send(&Msg{Data: big})
		_, err = call.Recv()
		wantCode(t, err, wire.ResourceExhausted)
		// ... the client refuses a larger response ...
		c := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{prt.MaxRecvMsgSize(8 << 20)}})
		_, err = prt.CallUnary[Msg, Msg](ctx, c.client, mUnary, &Msg{Data: big})
		wantCode(t, err, wire.ResourceExhausted)
		// ... and a sender refuses to send past its own send limit.
		s, err := prt.Dial(d.addr, append(tlsDial(t, tr), prt.MaxSendMsgSize(1024))...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = prt.CallUnary[Msg, Msg](ctx, s, mUnary, &Msg{Data: make([]byte, 2048)})
		wantCode(t, err, wire.ResourceExhausted)
		// The server kept serving throughout.
		if _, err := prt.CallUnary[Msg, Msg](ctx, d.client, mUnary, &Msg{Text: "still here"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUndecodable: a message the server cannot decode fails the call with
// INTERNAL, as grpc-go does.
func TestUndecodable(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		ctx := testCtx(t)
		// A msgpack string where a map is expected.
		_, err := prt.CallUnary[string, Msg](ctx, e.client, mUnary, ptr("not a map"))
		if we := wantCode(t, err, wire.Internal); !strings.Contains(we.Message(), "unmarshal") {
			t.Errorf("message %q", we.Message())
		}
		call, err := prt.Open[string, Msg](ctx, e.client, mBidi)
		if err != nil {
			t.Fatal(err)
		}
		_ = call.Send(ptr("not a map"))
		_, err = call.Recv()
		wantCode(t, err, wire.Internal)
		// The client, likewise, rejects a response it cannot decode.
		_, err = prt.CallUnary[Msg, string](ctx, e.client, mUnary, &Msg{})
		wantCode(t, err, wire.Internal)
	})
}

func ptr[T any](v T) *T { return &v }

func TestHandlerPanic(t *testing.T) {
	register := func(s *prt.Server) {
		registerEcho(s)
		prt.HandleUnary(s, "/test.Panic/Unary", func(ctx context.Context, req *Msg) (*Msg, error) {
			panic("boom")
		})
		prt.HandleBidi(s, "/test.Panic/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			_, _ = call.Recv()
			panic("bidi boom")
		})
	}
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, register, envOpts{server: []prt.ServerOption{prt.WithLogger(discardLogger())}})
		ctx := testCtx(t)
		_, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Panic/Unary", &Msg{})
		if we := wantCode(t, err, wire.Internal); !strings.Contains(we.Message(), "boom") {
			t.Errorf("message %q", we.Message())
		}
		call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Panic/Bidi")
		if err != nil {
			t.Fatal(err)
		}
		_ = call.Send(&Msg{})
		_, err = call.Recv()
		wantCode(t, err, wire.Internal)
		if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{}); err != nil {
			t.Fatalf("server stopped serving after a panic: %v", err)
		}
	})
}

// TestBackpressure: a handler that does not read stops the client through
// HTTP/2 flow control; the client's sends block instead of buffering, and
// nothing is lost once the handler reads.
func TestBackpressure(t *testing.T) {
	release := make(chan struct{})
	var received atomic.Int64
	register := func(s *prt.Server) {
		prt.HandleClientStream(s, "/test.Slow/Sink", func(call *prt.ServerCall[Msg, Msg]) (*Msg, error) {
			<-release
			var n int64
			for {
				m, err := call.Recv()
				if err == io.EOF {
					return &Msg{N: n}, nil
				}
				if err != nil {
					return nil, err
				}
				if m.N != n {
					return nil, wire.Errorf(wire.DataLoss, "got message %d, want %d", m.N, n)
				}
				n++
				received.Add(1)
			}
		})
	}
	e := newEnv(t, transports[0], register, envOpts{})
	call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Slow/Sink")
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 32<<10)
	sent := 0
	for ; sent < 10000; sent++ {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := call.Out().Send(ctx, &Msg{N: int64(sent), Data: payload})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// What the server holds unread is bounded by its mailbox and the
	// HTTP/2 windows (1 MiB per stream by default), plus the client's.
	if sent == 10000 {
		t.Fatalf("sent %d x 32 KiB without blocking: no backpressure", sent)
	}
	if bytes := sent * len(payload); bytes > 8<<20 {
		t.Errorf("%d bytes accepted before blocking; want a bound near the flow-control window", bytes)
	}
	t.Logf("sender blocked after %d messages (%d KiB)", sent, sent*len(payload)>>10)
	close(release)
	for i := sent; i < sent+50; i++ {
		if err := call.Send(&Msg{N: int64(i), Data: payload}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := call.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if res.N != int64(sent+50) {
		t.Fatalf("server received %d messages, want %d: messages lost", res.N, sent+50)
	}
}

// A handler's Send to a client that does not read blocks only while the
// outbound mailbox is full, and returns when its context ends: the wait
// for HTTP/2 flow control happens off the sender's goroutine. Then, once
// the client reads, every message arrives in order.
func TestServerSendHonoursContext(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		blocked := make(chan int, 1)
		register := func(s *prt.Server) {
			prt.HandleServerStream(s, "/test.Slow/Source", func(_ *Msg, call *prt.ServerCall[Msg, Msg]) error {
				payload := make([]byte, 64<<10)
				n := 0
				for ; n < 2000; n++ {
					ctx, cancel := context.WithTimeout(call.Context(), 200*time.Millisecond)
					err := call.Out().Send(ctx, &Msg{N: int64(n), Data: payload})
					cancel()
					if errors.Is(err, context.DeadlineExceeded) {
						break
					}
					if err != nil {
						return err
					}
				}
				blocked <- n
				// The rest must still go out once the client reads.
				for i := n; i < n+20; i++ {
					if err := call.Send(&Msg{N: int64(i), Data: payload}); err != nil {
						return err
					}
				}
				return nil
			})
		}
		e := newEnv(t, tr, register, envOpts{})
		call, err := prt.OpenServerStream[Msg, Msg](testCtx(t), e.client, "/test.Slow/Source", &Msg{})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		select {
		case n = <-blocked:
		case <-time.After(20 * time.Second):
			t.Fatal("the handler's Send never returned on its context's deadline")
		}
		if n == 2000 {
			t.Fatalf("sent %d x 64 KiB to a client that does not read: no backpressure", n)
		}
		t.Logf("Send blocked after %d messages (%d KiB)", n, n*64)
		got, err := recvAll(t, call)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n+20 {
			t.Fatalf("received %d messages, want %d", len(got), n+20)
		}
		for i, m := range got {
			if m.N != int64(i) {
				t.Fatalf("message %d has N %d: lost or reordered", i, m.N)
			}
		}
	})
}

// An open streaming call that is not exchanging messages holds one
// goroutine, the server's handler, over the default transport: requests
// and responses are decoded as they arrive on the connection's reader and
// written by their senders, and nothing waits on an idle call. (The
// client and server share this process, so their goroutines are counted
// together.)
func TestIdleStreamGoroutines(t *testing.T) {
	e := newEnv(t, transports[0], registerEcho, envOpts{})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	// One call first, so the connection and its goroutines are up.
	if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
	base := goruntime.NumGoroutine()
	const n = 50
	calls := make([]*prt.ClientCall[Msg, Msg], n)
	for i := range calls {
		call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Send(&Msg{N: int64(i)}); err != nil {
			t.Fatal(err)
		}
		if m, err := call.Recv(); err != nil || m.N != int64(i) {
			t.Fatalf("call %d: got %v, %v", i, m, err)
		}
		calls[i] = call
	}
	// Goroutines that carried the first exchange exit once it is done.
	var extra int
	deadline := time.Now().Add(10 * time.Second)
	for {
		extra = goruntime.NumGoroutine() - base
		if extra <= n+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d idle calls hold %d goroutines", n, extra)
	if extra > n+2 {
		t.Errorf("%d idle calls hold %d goroutines, want %d (one per call, the handler's)", n, extra, n)
	}
	// And they still work.
	for i, call := range calls {
		if err := call.Send(&Msg{N: int64(i)}); err != nil {
			t.Fatal(err)
		}
		if m, err := call.Recv(); err != nil || m.N != int64(i) {
			t.Fatalf("call %d after idling: got %v, %v", i, m, err)
		}
		_ = call.CloseSend()
		if _, err := call.Recv(); err != io.EOF {
			t.Fatalf("call %d: end %v, want io.EOF", i, err)
		}
	}
}

func TestCompression(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		ctx := testCtx(t)
		text := strings.Repeat("compressible ", 1000)
		res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Text: text}, prt.UseCompressor("gzip"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Text != "echo: "+text {
			t.Fatal("compressed round trip corrupted the message")
		}
		call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi, prt.UseCompressor("gzip"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			_ = call.Send(&Msg{Text: text, N: int64(i)})
			m, err := call.Recv()
			if err != nil || m.Text != "pong: "+text {
				t.Fatalf("stream message %d: %v", i, err)
			}
		}
		call.CloseSend()
		if _, err := recvAll(t, call); err != nil {
			t.Fatal(err)
		}
		_, err = prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{}, prt.UseCompressor("snappy"))
		wantCode(t, err, wire.Internal)
	})
}

// TestMailboxSelect: a receive can be abandoned in a select without ending
// the call.
func TestMailboxSelect(t *testing.T) {
	e := newEnv(t, transports[0], registerEcho, envOpts{})
	call, err := prt.Open[Msg, Msg](testCtx(t), e.client, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-call.In().C():
		t.Fatalf("got %v before sending anything", m)
	case <-time.After(50 * time.Millisecond):
	}
	_ = call.Send(&Msg{Text: "after the timeout"})
	var in mailbox.Receiver[*Msg] = call.In()
	m, err := in.Recv(testCtx(t))
	if err != nil || m.Text != "pong: after the timeout" {
		t.Fatalf("got %v, %v", m, err)
	}
	call.CloseSend()
	if _, err := recvAll(t, call); err != nil {
		t.Fatal(err)
	}
}
