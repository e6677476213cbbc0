package runtime_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestCallSizeLimits: MaxCallRecvMsgSize and MaxCallSendMsgSize bound one
// call's messages in place of the client's limits, lower or higher, on
// unary and streaming calls.
func TestCallSizeLimits(t *testing.T) { forEachImpl(t, testCallSizeLimits) }

func testCallSizeLimits(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{dial: []prt.DialOption{prt.MaxRecvMsgSize(1 << 10)}})
	big := &Msg{Data: make([]byte, 4<<10)}
	ctx := testCtx(t)

	// The client's limit refuses the 4 KiB echo; the call's raises it.
	_, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, big)
	wantCode(t, err, wire.ResourceExhausted)
	if res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, big, prt.MaxCallRecvMsgSize(8<<10)); err != nil || len(res.Data) != len(big.Data) {
		t.Fatalf("with MaxCallRecvMsgSize(8 KiB): %v", err)
	}
	// A lower send limit fails locally, before anything is sent.
	_, err = prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, big, prt.MaxCallRecvMsgSize(8<<10), prt.MaxCallSendMsgSize(1<<10))
	wantCode(t, err, wire.ResourceExhausted)
	if wire.IsWireError(err) {
		t.Fatalf("a message over the call's send limit reached the server: %v", err)
	}

	// Streaming: a Send over the call's limit fails and the call goes on;
	// a response over its receive limit ends the call.
	call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi, prt.MaxCallSendMsgSize(2<<10), prt.MaxCallRecvMsgSize(3<<10))
	if err != nil {
		t.Fatal(err)
	}
	err = call.Send(big)
	wantCode(t, err, wire.ResourceExhausted)
	if err := call.Send(&Msg{Text: "small", Data: make([]byte, 1500)}); err != nil {
		t.Fatalf("a message under the call's limits: %v", err)
	}
	if m, err := call.Recv(); err != nil || !strings.HasSuffix(m.Text, "small") {
		t.Fatalf("the echo of a 1.5 KiB message (over the client's 1 KiB, under the call's 3 KiB): %v, %v", m, err)
	}
	_ = call.CloseSend()
	if _, err := call.Recv(); err == nil {
		t.Fatal("the call did not end")
	}
}

// tokenCreds is a bearer token as PerRPCCredentials.
type tokenCreds struct {
	token  string
	secure bool
}

func (c tokenCreds) RequestMetadata(context.Context, string) (wire.Metadata, error) {
	return wire.Metadata{"authorization": {"Bearer " + c.token}}, nil
}

func (c tokenCreds) RequireTransportSecurity() bool { return c.secure }

// TestCallCredentials: CallCredentials authenticates one call, unary or
// streaming, with the rules of WithPerRPCCredentials: credentials that
// require TLS are refused locally on an h2c client.
func TestCallCredentials(t *testing.T) { forEachImpl(t, testCallCredentials) }

func testCallCredentials(t *testing.T, tr transport) {
	auth := prt.AuthInterceptor(func(ctx context.Context, token string) (context.Context, error) {
		if token != "good" {
			return nil, wire.NewError(wire.Unauthenticated, "bad token")
		}
		return context.WithValue(ctx, userKey{}, "ann"), nil
	})
	e := newEnv(t, tr.withTLS(t), registerWho, envOpts{server: []prt.ServerOption{auth}})
	ctx := testCtx(t)
	good := prt.CallCredentials(tokenCreds{token: "good", secure: true})

	res, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Auth/Who", &Msg{}, good)
	if err != nil || res.Text != "ann" {
		t.Fatalf("unary with CallCredentials: %v, %v", res, err)
	}
	_, err = prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Auth/Who", &Msg{})
	wantCode(t, err, wire.Unauthenticated)

	call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Auth/WhoStream", good)
	if err != nil {
		t.Fatal(err)
	}
	_ = call.CloseSend()
	if m, err := call.Recv(); err != nil || m.Text != "ann" {
		t.Fatalf("stream with CallCredentials: %v, %v", m, err)
	}

	// Over h2c, credentials that require TLS never leave the client.
	h2c := newEnv(t, tr, registerWho, envOpts{server: []prt.ServerOption{auth}})
	_, err = prt.CallUnary[Msg, Msg](ctx, h2c.client, "/test.Auth/Who", &Msg{}, good)
	wantCode(t, err, wire.Unauthenticated)
	if wire.IsWireError(err) {
		t.Fatalf("the token went out over h2c: %v", err)
	}
	_, err = prt.Open[Msg, Msg](ctx, h2c.client, "/test.Auth/WhoStream", good)
	wantCode(t, err, wire.Unauthenticated)
}

// TestWaitForReady: with no server listening, a call fails fast with
// UNAVAILABLE by default; with WaitForReady it waits, connects once the
// server is up, and succeeds, unary and streaming alike; if the server
// never comes, it ends with its context's status.
func TestWaitForReady(t *testing.T) { forEachImpl(t, testWaitForReady) }

func testWaitForReady(t *testing.T, tr transport) {
	// A loopback address with nothing listening: take a free port and
	// let it go.
	l, err := net.Listen(tr.network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	client, err := prt.Dial(addr, tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := testCtx(t)

	_, err = prt.CallUnary[Msg, Msg](ctx, client, mUnary, &Msg{Text: "fast"})
	wantCode(t, err, wire.Unavailable)

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = prt.CallUnary[Msg, Msg](short, client, mUnary, &Msg{}, prt.WaitForReady(true))
	cancel()
	wantCode(t, err, wire.DeadlineExceeded)

	// The calls wait while the server is down, then succeed once it is up.
	type result struct {
		text string
		err  error
	}
	unary := make(chan result, 1)
	go func() {
		res, err := prt.CallUnary[Msg, Msg](ctx, client, mUnary, &Msg{Text: "waited"}, prt.WaitForReady(true))
		if err != nil {
			unary <- result{err: err}
			return
		}
		unary <- result{text: res.Text}
	}()
	stream := make(chan result, 1)
	go func() {
		call, err := prt.Open[Msg, Msg](ctx, client, mBidi, prt.WaitForReady(true))
		if err == nil {
			err = call.Send(&Msg{Text: "streamed"})
		}
		var m *Msg
		if err == nil {
			m, err = call.Recv()
		}
		if err != nil {
			stream <- result{err: err}
			return
		}
		call.Cancel()
		stream <- result{text: m.Text}
	}()
	select {
	case r := <-unary:
		t.Fatalf("the unary call ended before the server was up: %+v", r)
	case r := <-stream:
		t.Fatalf("the streaming call ended before the server was up: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	srv := prt.NewServer(tr.serverOpts()...)
	registerEcho(srv)
	l, err = net.Listen(tr.network, addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	go srv.Serve(l)
	defer srv.Close()
	if r := <-unary; r.err != nil || r.text != "echo: waited" {
		t.Fatalf("unary call: %+v", r)
	}
	if r := <-stream; r.err != nil || r.text != "pong: streamed" {
		t.Fatalf("streaming call: %+v", r)
	}
}
