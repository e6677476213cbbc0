package runtime_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/mailbox"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// msgLog records the messages interceptors saw, in order.
type msgLog struct {
	mu  sync.Mutex
	got []string
}

func (l *msgLog) add(s string) {
	l.mu.Lock()
	l.got = append(l.got, s)
	l.mu.Unlock()
}

func (l *msgLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.Join(l.got, ",")
	l.got = nil
	return s
}

// loggedServerConn sees a server call's messages: it logs them, rewrites
// requests ("in:" prefix) and responses ("out:" prefix), and refuses a
// response whose text is "forbidden".
type loggedServerConn struct {
	prt.ServerConn
	log *msgLog
}

func (c loggedServerConn) SendMsg(m any) error {
	msg := m.(*Msg)
	if msg.Text == "forbidden" {
		return wire.NewError(wire.PermissionDenied, "response refused by the interceptor")
	}
	c.log.add("S>" + msg.Text)
	return c.ServerConn.SendMsg(&Msg{Text: "out:" + msg.Text, N: msg.N})
}

func (c loggedServerConn) RecvMsg() (any, error) {
	m, err := c.ServerConn.RecvMsg()
	if err != nil {
		c.log.add("S<" + err.Error())
		return nil, err
	}
	msg := m.(*Msg)
	c.log.add("S<" + msg.Text)
	return &Msg{Text: "in:" + msg.Text, N: msg.N}, nil
}

// loggedClientConn is the client's: it logs and tags requests ("c:") and
// logs responses.
type loggedClientConn struct {
	prt.ClientConn
	log *msgLog
}

func (c loggedClientConn) SendMsg(m any) error {
	msg := m.(*Msg)
	c.log.add("C>" + msg.Text)
	return c.ClientConn.SendMsg(&Msg{Text: "c:" + msg.Text, N: msg.N})
}

func (c loggedClientConn) RecvMsg() (any, error) {
	m, err := c.ClientConn.RecvMsg()
	if err != nil {
		c.log.add("C<" + err.Error())
		return nil, err
	}
	c.log.add("C<" + m.(*Msg).Text)
	return m, nil
}

// TestStreamInterceptorsSeeMessages wraps both sides' stream interceptors
// around the calls' messages: every request and response passes through
// them, whichever of Send, Recv, In or Out the handler and the caller use,
// on every kind of streaming call.
func TestStreamInterceptorsSeeMessages(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { testStreamInterceptorsSeeMessages(t, tr) })
	}
}

func testStreamInterceptorsSeeMessages(t *testing.T, tr transport) {
	var log msgLog
	e := newEnv(t, tr, func(s *prt.Server) {
		registerEcho(s) // its bidi handler receives through In() and sends with Send
		prt.HandleBidi(s, "/test.Wrap/Refuse", func(call *prt.ServerCall[Msg, Msg]) error {
			if _, err := call.Recv(); err != nil {
				return err
			}
			return call.Out().Send(call.Context(), &Msg{Text: "forbidden"})
		})
	}, envOpts{
		server: []prt.ServerOption{prt.WithStreamInterceptor(func(ctx context.Context, call prt.ServerConn, info *prt.StreamServerInfo, next prt.StreamHandler) error {
			return next(ctx, loggedServerConn{call, &log})
		})},
		dial: []prt.DialOption{prt.WithStreamClientInterceptor(func(ctx context.Context, info *prt.StreamClientInfo, next prt.Streamer) (prt.ClientConn, error) {
			cc, err := next(ctx, info)
			if err != nil {
				return nil, err
			}
			return loggedClientConn{cc, &log}, nil
		})},
	})
	ctx := testCtx(t)

	// Bidi: the caller sends with Out and receives from In.
	call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Out().Send(ctx, &Msg{Text: "a"}); err != nil {
		t.Fatal(err)
	}
	m, ok := <-call.In().C()
	if !ok || m.Text != "out:pong: in:c:a" {
		t.Fatalf("bidi response %+v (ok %v), want %q", m, ok, "out:pong: in:c:a")
	}
	_ = call.CloseSend()
	if _, err := call.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v, want io.EOF", err)
	}
	if got := log.take(); !inOrder(got, "C>a", "S<c:a", "S>pong: in:c:a", "C<out:pong: in:c:a", "C<EOF") || !strings.Contains(got, "S<EOF") {
		t.Errorf("bidi: the interceptors saw %q", got)
	}

	// Client streaming: Send then CloseAndRecv.
	cs, err := prt.OpenClientStream[Msg, Msg](ctx, e.client, mClient)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{1, 2, 3} {
		if err := cs.Send(&Msg{Text: "n", N: n}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := cs.CloseAndRecv()
	if err != nil || res.N != 6 || res.Text != "out:3" {
		t.Fatalf("client-stream response %+v, %v; want N 6 and text out:3", res, err)
	}
	if got := log.take(); strings.Count(got, "C>n") != 3 || strings.Count(got, "S<c:n") != 3 || !strings.Contains(got, "S>3") {
		t.Errorf("client stream saw %q", got)
	}

	// Server streaming: the runtime receives the one request for the
	// handler, through the interceptor too.
	ss, err := prt.OpenServerStream[Msg, Msg](ctx, e.client, mServer, &Msg{Text: "x", N: 2})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for {
		m, err := ss.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, m.Text)
	}
	if got := strings.Join(texts, "|"); got != "out:in:c:x|out:in:c:x" {
		t.Errorf("server-stream responses %q", got)
	}
	if ss.Trailer().Get("x-sent") != "2" {
		t.Errorf("trailer %v, want x-sent 2 (trailers pass the wrapping)", ss.Trailer())
	}
	log.take()

	// An interceptor that refuses a message: the handler's Send through
	// Out fails with its status, which ends the call.
	rc, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Wrap/Refuse")
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&Msg{Text: "r"}); err != nil {
		t.Fatal(err)
	}
	_, err = rc.Recv()
	wantCode(t, err, wire.PermissionDenied)
}

// TestServerConnSendMsgWrongType: an interceptor may send on the call it
// was given before passing it on unwrapped; a message of the wrong type
// is refused.
func TestServerConnSendMsgWrongType(t *testing.T) {
	tr := transports[0]
	e := newEnv(t, tr, func(s *prt.Server) {
		prt.HandleBidi(s, mBidi, func(call *prt.ServerCall[Msg, Msg]) error {
			if _, err := call.Recv(); err != io.EOF {
				return wire.Errorf(wire.Unknown, "got %v, want io.EOF", err)
			}
			return nil
		})
	}, envOpts{server: []prt.ServerOption{prt.WithStreamInterceptor(func(ctx context.Context, call prt.ServerConn, info *prt.StreamServerInfo, next prt.StreamHandler) error {
		if err := call.SendMsg("not a *Msg"); err == nil {
			return wire.NewError(wire.Unknown, "SendMsg took a string")
		}
		if err := call.SendMsg(&Msg{Text: "from the interceptor"}); err != nil {
			return err
		}
		return next(ctx, call)
	})}})
	ctx := testCtx(t)
	call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	m, err := call.Recv()
	if err != nil || m.Text != "from the interceptor" {
		t.Fatalf("got %+v, %v; want the interceptor's message", m, err)
	}
	_ = call.CloseSend()
	if _, err := call.Recv(); err != io.EOF {
		t.Fatalf("end %v, want io.EOF", err)
	}
}

// inOrder reports whether the comma-separated events in got include want
// in that order.
func inOrder(got string, want ...string) bool {
	i := 0
	for _, ev := range strings.Split(got, ",") {
		if i < len(want) && ev == want[i] {
			i++
		}
	}
	return i == len(want)
}

// passServerConn and passClientConn wrap a call as a logging or metrics
// interceptor does: every message passes through them unchanged.
type passServerConn struct{ prt.ServerConn }
type passClientConn struct{ prt.ClientConn }

// sendResult is how TrySend and Send behaved on a call whose peer stopped
// reading (sendBounds).
type sendResult struct {
	tryErr, sendErr error
	took            time.Duration // what the Send took
}

// sendBounds reports how TrySend and Send behave on out once its peer
// stops reading: TrySend must fail with mailbox.ErrFull without waiting,
// and Send must give up when its own context ends.
func sendBounds(out mailbox.Sender[*Msg]) (r sendResult) {
	big := &Msg{Data: make([]byte, 64<<10)}
	for range 1000 { // far past the mailbox and the flow-control windows
		if r.tryErr = out.TrySend(big); r.tryErr != nil {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	for range 1000 {
		if r.sendErr = out.Send(ctx, big); r.sendErr != nil {
			break
		}
	}
	r.took = time.Since(start)
	return r
}

// checkSendBounds fails the test unless r is a full mailbox and the
// Send's own deadline.
func checkSendBounds(t *testing.T, side string, r sendResult) {
	t.Helper()
	if !errors.Is(r.tryErr, mailbox.ErrFull) {
		t.Errorf("%s: TrySend to a peer that does not read: %v, want mailbox.ErrFull", side, r.tryErr)
	}
	if !errors.Is(r.sendErr, context.DeadlineExceeded) && status(r.sendErr) != wire.DeadlineExceeded {
		t.Errorf("%s: Send with a 100ms context: %v after %v, want its deadline", side, r.sendErr, r.took)
	}
	if r.took > 5*time.Second {
		t.Errorf("%s: Send with a 100ms context returned after %v", side, r.took)
	}
}

func status(err error) wire.Code {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code()
	}
	return wire.OK
}

// TestStreamInterceptorWrapperKeepsSendBounds: a call wrapped by a stream
// interceptor (to see its messages) keeps its outbound mailbox's contract:
// TrySend never waits, and Send gives up when the sender's context ends,
// not only when the call does. An actor.Group's member pump relies on
// both to leave a member whose peer stopped reading. Over the server's
// Handle and HandleConversation calls and the client's.
func TestStreamInterceptorWrapperKeepsSendBounds(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		results := map[string]chan sendResult{"/test.Wrap/Flood": make(chan sendResult, 1), "/test.Wrap/FloodConv": make(chan sendResult, 1)}
		e := newEnv(t, tr, func(s *prt.Server) {
			prt.HandleBidi(s, "/test.Wrap/Flood", func(call *prt.ServerCall[Msg, Msg]) error {
				if _, err := call.Recv(); err != nil {
					return err
				}
				results["/test.Wrap/Flood"] <- sendBounds(call.Out())
				<-call.Context().Done() // until the client cancels
				return nil
			})
			prt.HandleConversation(s, "/test.Wrap/FloodConv", prt.BidiStream, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
				r := &reactorFuncs{c: c, done: make(chan error, 1)}
				r.onMessage = func(*Msg) error {
					go func() { results["/test.Wrap/FloodConv"] <- sendBounds(c.Out()) }()
					return nil
				}
				return r, nil
			})
			prt.HandleBidi(s, "/test.Wrap/Deaf", func(call *prt.ServerCall[Msg, Msg]) error {
				<-call.Context().Done() // reads nothing
				return nil
			})
		}, envOpts{
			server: []prt.ServerOption{prt.WithStreamInterceptor(func(ctx context.Context, call prt.ServerConn, info *prt.StreamServerInfo, next prt.StreamHandler) error {
				return next(ctx, passServerConn{call})
			})},
			dial: []prt.DialOption{prt.WithStreamClientInterceptor(func(ctx context.Context, info *prt.StreamClientInfo, next prt.Streamer) (prt.ClientConn, error) {
				cc, err := next(ctx, info)
				if err != nil {
					return nil, err
				}
				return passClientConn{cc}, nil
			})},
		})
		for _, method := range []string{"/test.Wrap/Flood", "/test.Wrap/FloodConv"} {
			ctx, cancel := context.WithCancel(testCtx(t))
			call, err := prt.Open[Msg, Msg](ctx, e.client, method)
			if err != nil {
				t.Fatal(err)
			}
			if err := call.Send(&Msg{}); err != nil {
				t.Fatal(err)
			}
			select { // the client reads nothing
			case r := <-results[method]:
				checkSendBounds(t, "server "+method, r)
			case <-time.After(5 * time.Second):
				t.Errorf("server %s: a send to a client that does not read still waits after 5s", method)
			}
			cancel()
		}

		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Wrap/Deaf")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan sendResult, 1)
		go func() { done <- sendBounds(call.Out()) }()
		select {
		case r := <-done:
			checkSendBounds(t, "client", r)
		case <-time.After(5 * time.Second):
			cancel() // releases the sender
			<-done
			t.Errorf("client: a send to a server that does not read still waits after 5s")
		}
	})
}

// panickyServerConn and panickyClientConn are wrappers whose RecvMsg
// panics on a message whose text is "boom"; the server's refuses one
// whose text is "refuse" with PERMISSION_DENIED.
type panickyServerConn struct{ prt.ServerConn }
type panickyClientConn struct{ prt.ClientConn }

func (c panickyServerConn) RecvMsg() (any, error) {
	m, err := c.ServerConn.RecvMsg()
	if err == nil && m.(*Msg).Text == "boom" {
		panic("interceptor boom")
	}
	if err == nil && m.(*Msg).Text == "refuse" {
		return nil, wire.NewError(wire.PermissionDenied, "refused by the interceptor")
	}
	return m, err
}

func (c panickyClientConn) RecvMsg() (any, error) {
	m, err := c.ClientConn.RecvMsg()
	if err == nil && m.(*Msg).Text == "pong: client boom" {
		panic("interceptor boom")
	}
	return m, err
}

// TestStreamInterceptorPanics: a stream interceptor's wrapper that panics
// while it receives, which the runtime calls on a goroutine of its own,
// fails that call with INTERNAL, as a panicking handler does, and the
// server (or the client's process) goes on serving. An error from it
// ends the call with its status, under HandleConversation too.
func TestStreamInterceptorPanics(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		cs := newConversations()
		e := newEnv(t, tr, func(s *prt.Server) {
			registerEcho(s)
			cs.register(s, prt.BidiStream, nil)
		}, envOpts{
			server: []prt.ServerOption{
				prt.WithLogger(slog.New(slog.DiscardHandler)),
				prt.WithStreamInterceptor(func(ctx context.Context, call prt.ServerConn, _ *prt.StreamServerInfo, next prt.StreamHandler) error {
					return next(ctx, panickyServerConn{call})
				}),
			},
			dial: []prt.DialOption{
				prt.WithLogger(slog.New(slog.DiscardHandler)),
				prt.WithStreamClientInterceptor(func(ctx context.Context, info *prt.StreamClientInfo, next prt.Streamer) (prt.ClientConn, error) {
					cc, err := next(ctx, info)
					if err != nil {
						return nil, err
					}
					return panickyClientConn{cc}, nil
				}),
			},
		})
		talk := func(method, text string) ([]*Msg, error) {
			call, err := prt.Open[Msg, Msg](testCtx(t), e.client, method)
			if err != nil {
				t.Fatal(err)
			}
			if err := call.Send(&Msg{Text: text}); err != nil {
				t.Fatal(err)
			}
			_ = call.CloseSend()
			return recvAll(t, call)
		}
		for _, method := range []string{mBidi, "/test.Conv/Echo"} {
			_, err := talk(method, "boom")
			wantCode(t, err, wire.Internal)
			if method == "/test.Conv/Echo" {
				wantCode(t, cs.next(t), wire.Internal)
			}
			// A wrapper's error ends the call with its status, also
			// when a Reactor, which never sees it, is served.
			_, err = talk(method, "refuse")
			wantCode(t, err, wire.PermissionDenied)
			if method == "/test.Conv/Echo" {
				wantCode(t, cs.next(t), wire.PermissionDenied)
			}
			// The server still serves.
			if got, err := talk(method, "hello"); err != nil || len(got) != 1 {
				t.Fatalf("%s after a panic: %v, %v", method, got, err)
			}
			if method == "/test.Conv/Echo" {
				if err := cs.next(t); err != nil {
					t.Fatalf("OnDone(%v)", err)
				}
			}
		}
		_, err := talk(mBidi, "client boom")
		wantCode(t, err, wire.Internal)
	})
}
