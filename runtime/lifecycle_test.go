package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func TestInterceptors(t *testing.T) { forEachImpl(t, testInterceptors) }

// testInterceptors is TestInterceptors over tr.
func testInterceptors(t *testing.T, tr transport) {
	var mu sync.Mutex
	var trace []string
	record := func(s string) {
		mu.Lock()
		trace = append(trace, s)
		mu.Unlock()
	}
	takeTrace := func() string {
		mu.Lock()
		defer mu.Unlock()
		s := strings.Join(trace, ",")
		trace = nil
		return s
	}
	unaryS := func(name string) prt.UnaryServerInterceptor {
		return func(ctx context.Context, req any, info *prt.UnaryServerInfo, next prt.UnaryHandler) (any, error) {
			record("s" + name + ">" + info.Method)
			if prt.IncomingMetadata(ctx).Get("authorization") != "Bearer ok" {
				return nil, wire.NewError(wire.Unauthenticated, "no token")
			}
			res, err := next(ctx, req)
			record("s" + name + "<")
			return res, err
		}
	}
	streamS := func(name string) prt.StreamServerInterceptor {
		return func(ctx context.Context, call prt.ServerConn, info *prt.StreamServerInfo, next prt.StreamHandler) error {
			record("S" + name + ">" + info.Kind.String())
			if call.Metadata().Get("authorization") != "Bearer ok" {
				return wire.NewError(wire.PermissionDenied, "no token")
			}
			return next(context.WithValue(ctx, ctxKey(name), name), call)
		}
	}
	unaryC := func(name string) prt.UnaryClientInterceptor {
		return func(ctx context.Context, method string, req, res any, next prt.UnaryInvoker) error {
			record("c" + name)
			return next(prt.AppendOutgoing(ctx, "x-client-"+name, "1"), method, req, res)
		}
	}
	streamC := func(name string) prt.StreamClientInterceptor {
		return func(ctx context.Context, info *prt.StreamClientInfo, next prt.Streamer) (prt.ClientConn, error) {
			record("C" + name)
			return next(ctx, info)
		}
	}
	register := func(s *prt.Server) {
		registerEcho(s)
		prt.HandleBidi(s, "/test.Ctx/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			a, _ := call.Context().Value(ctxKey("1")).(string)
			b, _ := call.Context().Value(ctxKey("2")).(string)
			return call.Send(&Msg{Text: a + b})
		})
	}
	e := newEnv(t, tr, register, envOpts{
		server: []prt.ServerOption{
			prt.WithUnaryInterceptor(unaryS("1"), unaryS("2")),
			prt.WithStreamInterceptor(streamS("1"), streamS("2")),
		},
		dial: []prt.DialOption{
			prt.WithUnaryClientInterceptor(unaryC("1"), unaryC("2")),
			prt.WithStreamClientInterceptor(streamC("1"), streamC("2")),
		},
	})
	ctx := testCtx(t)
	_, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{})
	wantCode(t, err, wire.Unauthenticated)
	takeTrace()
	authed := prt.AppendOutgoing(ctx, "authorization", "Bearer ok")
	if _, err := prt.CallUnary[Msg, Msg](authed, e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
	if got, want := takeTrace(), "c1,c2,s1>"+mUnary+",s2>"+mUnary+",s2<,s1<"; got != want {
		t.Errorf("unary order %q, want %q", got, want)
	}
	call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Ctx/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	call.CloseSend()
	_, err = call.Recv()
	wantCode(t, err, wire.PermissionDenied)
	takeTrace()
	call, err = prt.Open[Msg, Msg](authed, e.client, "/test.Ctx/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	call.CloseSend()
	m, err := call.Recv()
	if err != nil || m.Text != "12" {
		t.Fatalf("handler saw context values %q, %v; want both interceptors' values", m.Text, err)
	}
	if got, want := takeTrace(), "C1,C2,S1>bidi_stream,S2>bidi_stream"; got != want {
		t.Errorf("stream order %q, want %q", got, want)
	}
}

type ctxKey string

// TestMutualTLS: the client's certificate identity reaches the handler.
func TestMutualTLS(t *testing.T) { forEachImpl(t, testMutualTLS) }

// testMutualTLS is TestMutualTLS over tr.
func testMutualTLS(t *testing.T, tr transport) {
	pki := testutil.NewPKI(t)
	srv := prt.NewServer(tr.serverOpts(prt.WithTLS(pki.ServerTLS(true)))...)
	prt.HandleUnary(srv, "/test.TLS/Who", func(ctx context.Context, req *Msg) (*Msg, error) {
		p, ok := prt.PeerFromContext(ctx)
		if !ok || p.TLS == nil || len(p.TLS.PeerCertificates) == 0 {
			return nil, wire.NewError(wire.Unauthenticated, "no client certificate")
		}
		return &Msg{Text: p.TLS.PeerCertificates[0].Subject.CommonName + "@" + p.Addr.String()}, nil
	})
	l := testutil.Listen(t, "tcp4")
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	defer func() { srv.Close(); <-done }()

	c, err := prt.Dial(l.Addr().String(), tr.dialOpts(prt.WithTLS(pki.ClientTLS(true)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := prt.CallUnary[Msg, Msg](testCtx(t), c, "/test.TLS/Who", &Msg{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Text, pki.ClientName+"@127.0.0.1:") {
		t.Errorf("handler saw %q", res.Text)
	}
	// Without a client certificate the handshake fails: UNAVAILABLE.
	anon, err := prt.Dial(l.Addr().String(), tr.dialOpts(prt.WithTLS(pki.ClientTLS(false)))...)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	_, err = prt.CallUnary[Msg, Msg](testCtx(t), anon, "/test.TLS/Who", &Msg{})
	wantCode(t, err, wire.Unavailable)
}

// TestShutdown: in-flight calls finish, new calls are refused, and Shutdown
// returns once they are done.
func TestShutdown(t *testing.T) { forEachImpl(t, testShutdown) }

// testShutdown is TestShutdown over tr.
func testShutdown(t *testing.T, tr transport) {
	started := make(chan struct{})
	release := make(chan struct{})
	srv := prt.NewServer(tr.serverOpts()...)
	registerEcho(srv)
	prt.HandleUnary(srv, "/test.Shut/Slow", func(ctx context.Context, req *Msg) (*Msg, error) {
		close(started)
		<-release
		return &Msg{Text: "finished"}, nil
	})
	l := testutil.Listen(t, "tcp4")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	slow := make(chan error, 1)
	go func() {
		res, err := prt.CallUnary[Msg, Msg](ctx, c, "/test.Shut/Slow", &Msg{})
		if err == nil && res.Text != "finished" {
			err = fmt.Errorf("got %q", res.Text)
		}
		slow <- err
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	if err := <-served; !errors.Is(err, prt.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	// New connections are refused once the listener is closed.
	if conn, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		conn.Close()
		t.Error("listener still accepting after Shutdown")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v before the in-flight call finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("in-flight call: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestShutdownDeadline: a stream that never ends cannot hang Shutdown; when
// its context ends the call is cancelled and the client sees a status.
func TestShutdownDeadline(t *testing.T) { forEachImpl(t, testShutdownDeadline) }

// testShutdownDeadline is TestShutdownDeadline over tr.
func testShutdownDeadline(t *testing.T, tr transport) {
	handlerDone := make(chan error, 1)
	srv := prt.NewServer(tr.serverOpts()...)
	prt.HandleBidi(srv, "/test.Shut/Forever", func(call *prt.ServerCall[Msg, Msg]) error {
		_ = call.Send(&Msg{Text: "hello"})
		<-call.Context().Done()
		handlerDone <- call.Context().Err()
		return call.Context().Err()
	})
	l := testutil.Listen(t, "tcp4")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call, err := prt.Open[Msg, Msg](testCtx(t), c, "/test.Shut/Forever")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want DeadlineExceeded", err)
	}
	<-served
	if err := <-handlerDone; !errors.Is(err, context.Canceled) {
		t.Errorf("handler saw %v, want Canceled", err)
	}
	_, err = call.Recv()
	var we *wire.Error
	if !errors.As(err, &we) || (we.Code() != wire.Unavailable && we.Code() != wire.Canceled && we.Code() != wire.Internal) {
		t.Fatalf("client saw %v, want a clean status", err)
	}
}

// TestPeerVanishes: a client that disappears mid-stream (its connection
// closed under it) ends the handler's call; the server serves others.
func TestPeerVanishes(t *testing.T) { forEachImpl(t, testPeerVanishes) }

// testPeerVanishes is TestPeerVanishes over tr.
func testPeerVanishes(t *testing.T, tr transport) {
	handlerErr := make(chan error, 1)
	got := make(chan struct{}, 1)
	register := func(s *prt.Server) {
		registerEcho(s)
		prt.HandleClientStream(s, "/test.Vanish/Sink", func(call *prt.ServerCall[Msg, Msg]) (*Msg, error) {
			for {
				_, err := call.Recv()
				if err != nil {
					handlerErr <- err
					return nil, err
				}
				select {
				case got <- struct{}{}:
				default:
				}
			}
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	// A client whose TCP connection we can cut.
	var mu sync.Mutex
	var conns []net.Conn
	victim, err := prt.Dial(e.addr, tr.dialOpts(prt.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c, err
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	call, err := prt.Open[Msg, Msg](testCtx(t), victim, "/test.Vanish/Sink")
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Send(&Msg{Data: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	<-got
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	err = <-handlerErr
	wantCode(t, err, wire.Canceled)
	_, err = call.Recv()
	if err == nil {
		t.Fatal("client call survived its connection")
	}
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
	// The victim redials for its next call.
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), victim, mUnary, &Msg{}); err != nil {
		t.Fatalf("client did not redial: %v", err)
	}
}

// TestClientClosed: calls on a closed client fail with CANCELLED.
func TestClientClosed(t *testing.T) { forEachImpl(t, testClientClosed) }

// testClientClosed is TestClientClosed over tr.
func testClientClosed(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{})
	e.client.Close()
	_, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{})
	wantCode(t, err, wire.Canceled)
}

// TestUnreachable: a call to a port nobody listens on is UNAVAILABLE.
func TestUnreachable(t *testing.T) { forEachImpl(t, testUnreachable) }

// testUnreachable is TestUnreachable over tr.
func testUnreachable(t *testing.T, tr transport) {
	l := testutil.Listen(t, "tcp4")
	addr := l.Addr().String()
	l.Close()
	c, err := prt.Dial(addr, tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = prt.CallUnary[Msg, Msg](testCtx(t), c, mUnary, &Msg{})
	wantCode(t, err, wire.Unavailable)
}

// TestClientCloseEndsEveryCall: Client.Close fails every call in flight
// with CANCELLED, including one on a connection that is draining after the
// server's GOAWAY and one still waiting for its connection, and the
// server's handlers see their calls end.
func TestClientCloseEndsEveryCall(t *testing.T) { forEachImpl(t, testClientCloseEndsEveryCall) }

// testClientCloseEndsEveryCall is TestClientCloseEndsEveryCall over tr.
func testClientCloseEndsEveryCall(t *testing.T, tr transport) {
	const mBlock = "/test.Block/Unary"
	handlers := make(chan error, 8)
	reg := func(s *prt.Server) {
		registerEcho(s)
		prt.HandleUnary(s, mBlock, func(ctx context.Context, _ *Msg) (*Msg, error) {
			<-ctx.Done()
			handlers <- ctx.Err()
			return nil, ctx.Err()
		})
	}
	e := newEnv(t, tr, reg, envOpts{})
	ctx := testCtx(t)
	type pending struct {
		name string
		err  chan error
	}
	var calls []pending
	start := func(name string, f func() error) {
		p := pending{name, make(chan error, 1)}
		go func() { p.err <- f() }()
		calls = append(calls, p)
	}

	// Calls in flight on a live connection.
	c := e.client
	bidi := openEchoed(ctx, t, c)
	start("blocked Recv", func() error { _, err := bidi.Recv(); return err })
	start("unary", func() error { _, err := prt.CallUnary[Msg, Msg](ctx, c, mBlock, &Msg{}); return err })

	// A server stream whose responses nobody reads: they fill the
	// inbound mailbox, and the decoder waits behind them.
	unread, err := prt.OpenServerStream[Msg, Msg](context.Background(), c, mServer, &Msg{N: 200})
	if err != nil {
		t.Fatal(err)
	}

	// A call on a connection draining after GOAWAY.
	e2 := newEnv(t, tr, reg, envOpts{})
	c2 := e2.client
	draining := openEchoed(ctx, t, c2)
	shut := make(chan error, 1)
	go func() { shut <- e2.srv.Shutdown(ctx) }()
	waitFor(t, "the GOAWAY", func() bool {
		// Refused once the client has seen it; this also makes it retire
		// the connection.
		_, err := prt.CallUnary[Msg, Msg](ctx, c2, mUnary, &Msg{})
		return err != nil
	})
	start("draining", func() error { _, err := draining.Recv(); return err })

	// A call waiting for a server that accepts and never answers.
	silent := testutil.Listen(t, "tcp4")
	accepted := make(chan net.Conn, 4)
	go func() {
		defer close(accepted)
		for {
			nc, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- nc
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		for nc := range accepted {
			nc.Close()
		}
	})
	c3, err := prt.Dial(silent.Addr().String(), tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	start("connecting", func() error { _, err := prt.CallUnary[Msg, Msg](ctx, c3, mUnary, &Msg{}); return err })

	time.Sleep(50 * time.Millisecond) // the calls are waiting
	c.Close()
	c2.Close()
	c3.Close()
	for _, p := range calls {
		select {
		case err := <-p.err:
			if wire.CodeOf(err) != wire.Canceled {
				t.Errorf("%s: %v after Close, want CANCELLED", p.name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still waiting 5 s after Close", p.name)
		}
	}
	select {
	case <-unread.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a server stream read by nobody did not end 5 s after Close")
	}
	var n int
	for ; n < 1000; n++ {
		if _, err := unread.Recv(); err != nil {
			if wire.CodeOf(err) != wire.Canceled {
				t.Errorf("the unread server stream: %v after %d responses, want CANCELLED", err, n)
			}
			break
		}
	}
	if n >= 200 {
		t.Errorf("the unread server stream delivered all %d responses after Close", n)
	}
	select {
	case <-handlers:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked handler's context did not end")
	}
	select {
	case <-shut:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waits for the draining call")
	}
}

// TestHandlerCloseEndsCallsWithStatus: over a server mounted with
// Server.Handler, the calls that Close (or a Shutdown whose context ends)
// cuts short end with a status, UNAVAILABLE, and not as an HTTP response
// without one (UNKNOWN at the client): net/http keeps the connection, so
// the stream is there to carry it.
func TestHandlerCloseEndsCallsWithStatus(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, transportNamed(t, "handler-h2c"), registerEcho, envOpts{})
			ctx := testCtx(t)
			var calls []*prt.ClientCall[Msg, Msg]
			for range 3 {
				calls = append(calls, openEchoed(ctx, t, e.client))
			}
			if how == "Close" {
				e.srv.Close()
			} else {
				sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				if err := e.srv.Shutdown(sctx); err == nil {
					t.Fatal("Shutdown returned nil with calls still open")
				}
			}
			for i, call := range calls {
				_, err := call.Recv()
				if c := wire.CodeOf(err); c != wire.Unavailable {
					t.Errorf("call %d after %s: %v, want UNAVAILABLE", i, how, err)
				}
			}
		})
	}
}

// openEchoed opens a bidi call on mBidi (registerEcho's) and has one
// message echoed on it: the call is up on both sides when it returns.
func openEchoed(ctx context.Context, t *testing.T, c *prt.Client) *prt.ClientCall[Msg, Msg] {
	t.Helper()
	call, err := prt.Open[Msg, Msg](ctx, c, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Send(&Msg{Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); err != nil {
		t.Fatal(err)
	}
	return call
}

// TestClientCloseEndsWrappedCalls: Close also ends a streaming call that
// a client stream interceptor wrapped to see its messages and whose
// responses nobody reads: the goroutine that moves them through the
// wrapper, blocked behind the unread ones, goes too, as grpc-go's
// ClientConn.Close releases a stream.
func TestClientCloseEndsWrappedCalls(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{dial: []prt.DialOption{prt.WithStreamClientInterceptor(
			func(ctx context.Context, info *prt.StreamClientInfo, next prt.Streamer) (prt.ClientConn, error) {
				cc, err := next(ctx, info)
				if err != nil {
					return nil, err
				}
				return passClientConn{cc}, nil
			})}})
		base := wrapPumps()
		unread, err := prt.OpenServerStream[Msg, Msg](context.Background(), e.client, mServer, &Msg{N: 200})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the responses to fill the mailboxes", func() bool { return unread.In().Len() > 0 && wrapPumps() == base+1 })
		time.Sleep(50 * time.Millisecond) // let the rest of them arrive
		e.client.Close()
		select {
		case <-unread.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the wrapped call read by nobody did not end 5 s after Close")
		}
		waitFor(t, "the wrapper's pump to end after Close", func() bool { return wrapPumps() == base })
	})
}

// wrapPumps counts the goroutines that move a call's messages through an
// interceptor's wrapper.
func wrapPumps() int {
	buf := make([]byte, 1<<20)
	buf = buf[:goruntime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "runtime.viaConn[") {
			n++
		}
	}
	return n
}
