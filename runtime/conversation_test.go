package runtime_test

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// reactorFuncs is a Reactor made of funcs; nil ones do the default:
// OnMessage nothing, OnHalfClose Finish(nil).
type reactorFuncs struct {
	c         *prt.Conversation[Msg, Msg]
	onMessage func(req *Msg) error
	onHalf    func() error
	done      chan error // receives OnDone's err
}

func (r *reactorFuncs) OnMessage(req *Msg) error {
	if r.onMessage == nil {
		return nil
	}
	return r.onMessage(req)
}

func (r *reactorFuncs) OnHalfClose() error {
	if r.onHalf == nil {
		r.c.Finish(nil)
		return nil
	}
	return r.onHalf()
}

func (r *reactorFuncs) OnDone(err error) { r.done <- err }

// conversations is the OnDone results of a test server's conversations.
type conversations struct {
	done chan error
}

func newConversations() *conversations { return &conversations{done: make(chan error, 1024)} }

// next waits for the next conversation to end and returns its status.
func (cs *conversations) next(t *testing.T) error {
	t.Helper()
	select {
	case err := <-cs.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no OnDone within 10s")
		return nil
	}
}

// echoConversation registers /test.Conv/Echo: each request is echoed with
// TrySend (Send when full), the half-close ends the call OK.
func (cs *conversations) register(s *prt.Server, kind prt.Kind, setup func(r *reactorFuncs)) {
	prt.HandleConversation(s, "/test.Conv/Echo", kind, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
		r := &reactorFuncs{c: c, done: cs.done}
		r.onMessage = func(req *Msg) error {
			return c.Send(c.Context(), &Msg{Text: req.Text, N: req.N})
		}
		if setup != nil {
			setup(r)
		}
		return r, nil
	})
}

// TestConversationEcho runs a bidi conversation over every transport: the
// responses come in order, the half-close ends the call OK and OnDone
// sees nil.
func TestConversationEcho(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		cs := newConversations()
		e := newEnv(t, tr, func(s *prt.Server) { cs.register(s, prt.BidiStream, nil) }, envOpts{})
		call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Conv/Echo")
		if err != nil {
			t.Fatal(err)
		}
		const n = 200
		go func() {
			for i := range n {
				if call.Send(&Msg{N: int64(i)}) != nil {
					return
				}
			}
			_ = call.CloseSend()
		}()
		got, err := recvAll(t, call)
		if err != nil {
			t.Fatalf("call ended with %v, want OK", err)
		}
		if len(got) != n {
			t.Fatalf("got %d responses, want %d", len(got), n)
		}
		for i, m := range got {
			if m.N != int64(i) {
				t.Fatalf("response %d has N %d: out of order", i, m.N)
			}
		}
		if err := cs.next(t); err != nil {
			t.Fatalf("OnDone(%v), want nil", err)
		}
	})
}

// TestConversationServerStream serves a server-streaming method: the one
// request comes to OnMessage, whose sends and Finish end the call.
func TestConversationServerStream(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		cs := newConversations()
		e := newEnv(t, tr, func(s *prt.Server) {
			cs.register(s, prt.ServerStream, func(r *reactorFuncs) {
				r.onMessage = func(req *Msg) error {
					for i := range req.N {
						if err := r.c.TrySend(&Msg{N: i}); err != nil {
							return err
						}
					}
					r.c.SetTrailer(wire.Metadata{"sent": {fmt.Sprint(req.N)}})
					r.c.Finish(nil)
					return nil
				}
				r.onHalf = func() error { return nil }
			})
		}, envOpts{})
		call, err := prt.OpenServerStream[Msg, Msg](testCtx(t), e.client, "/test.Conv/Echo", &Msg{N: 5})
		if err != nil {
			t.Fatal(err)
		}
		got, err := recvAll(t, call)
		if err != nil || len(got) != 5 {
			t.Fatalf("got %d responses and %v, want 5 and OK", len(got), err)
		}
		if v := call.Trailer().Get("sent"); v != "5" {
			t.Fatalf("trailer sent = %q, want 5", v)
		}
		if err := cs.next(t); err != nil {
			t.Fatalf("OnDone(%v), want nil", err)
		}
	})
}

// TestConversationEnds checks each way a conversation ends: the handler's
// error, a refused open, a panic, the client's cancel, the deadline, and
// the server closing. Each reaches the client with its status and OnDone
// with the same.
func TestConversationEnds(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		cs := newConversations()
		e := newEnv(t, tr, func(s *prt.Server) {
			cs.register(s, prt.BidiStream, func(r *reactorFuncs) {
				r.onMessage = func(req *Msg) error {
					switch req.Text {
					case "fail":
						return wire.NewError(wire.InvalidArgument, "bad request")
					case "panic":
						panic("boom")
					case "ping":
						return r.c.Send(r.c.Context(), &Msg{Text: "pong"})
					}
					return nil
				}
				r.onHalf = func() error { return nil } // stay open
			})
			prt.HandleConversation(s, "/test.Conv/Refuse", prt.BidiStream, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
				return nil, wire.NewError(wire.PermissionDenied, "not you")
			})
		}, envOpts{})

		send := func(ctx context.Context, text string) *prt.ClientCall[Msg, Msg] {
			t.Helper()
			call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Conv/Echo")
			if err != nil {
				t.Fatal(err)
			}
			if err := call.Send(&Msg{Text: text}); err != nil {
				t.Fatal(err)
			}
			return call
		}

		t.Run("error", func(t *testing.T) {
			_, err := recvAll(t, send(testCtx(t), "fail"))
			wantCode(t, err, wire.InvalidArgument)
			wantCode(t, cs.next(t), wire.InvalidArgument)
		})
		t.Run("panic", func(t *testing.T) {
			_, err := recvAll(t, send(testCtx(t), "panic"))
			wantCode(t, err, wire.Internal)
			wantCode(t, cs.next(t), wire.Internal)
		})
		t.Run("refused", func(t *testing.T) {
			call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Conv/Refuse")
			if err == nil {
				_, err = recvAll(t, call)
			}
			wantCode(t, err, wire.PermissionDenied)
		})
		t.Run("cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			call := send(ctx, "ping")
			if m, err := call.Recv(); err != nil || m.Text != "pong" {
				t.Fatalf("Recv = %v, %v; want pong", m, err)
			}
			cancel()
			wantCode(t, cs.next(t), wire.Canceled)
		})
		t.Run("deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
			defer cancel()
			_, err := recvAll(t, send(ctx, "ping"))
			wantCode(t, err, wire.DeadlineExceeded)
			wantCode(t, cs.next(t), wire.DeadlineExceeded)
		})
		t.Run("server close", func(t *testing.T) {
			call := send(testCtx(t), "ping")
			if _, err := call.Recv(); err != nil {
				t.Fatal(err)
			}
			e.srv.Close()
			if err := cs.next(t); err == nil {
				t.Fatal("OnDone(nil) after the server closed, want a failure")
			}
		})
	})
}

// TestConversationIdleHoldsNoGoroutine opens many conversations over the
// framer transport, each with one ping-pong, and checks that holding them
// open costs the server (and the client) no goroutine each, unlike a
// Handle handler; then that they all end when the client goes.
func TestConversationIdleHoldsNoGoroutine(t *testing.T) {
	const n = 300
	tr := transportNamed(t, "framer-h2c")
	cs := newConversations()
	var opened sync.WaitGroup
	e := newEnv(t, tr, func(s *prt.Server) {
		prt.HandleConversation(s, "/test.Conv/Echo", prt.BidiStream, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
			r := &reactorFuncs{c: c, done: make(chan error, 1)}
			r.onMessage = func(req *Msg) error { return c.TrySend(req) }
			return r, nil
		})
		prt.HandleBidi(s, "/test.Conv/Goroutine", func(call *prt.ServerCall[Msg, Msg]) error {
			opened.Done()
			for {
				req, err := call.Recv()
				if err != nil {
					return nil
				}
				if err := call.Send(req); err != nil {
					return nil
				}
			}
		})
	}, envOpts{server: []prt.ServerOption{prt.MaxConcurrentStreams(2 * n)}})
	_ = cs

	hold := func(method string) (base, held int, cancel func()) {
		ctx, cancel := context.WithCancel(testCtx(t))
		waitSettled := func() int {
			prev := -1
			for i := 0; i < 200; i++ {
				g := goruntime.NumGoroutine()
				if g == prev {
					return g
				}
				prev = g
				time.Sleep(20 * time.Millisecond)
			}
			return prev
		}
		base = waitSettled()
		for i := range n {
			call, err := prt.Open[Msg, Msg](ctx, e.client, method)
			if err != nil {
				t.Fatal(err)
			}
			if err := call.Send(&Msg{N: int64(i)}); err != nil {
				t.Fatal(err)
			}
			if m, err := call.Recv(); err != nil || m.N != int64(i) {
				t.Fatalf("Recv = %v, %v", m, err)
			}
		}
		return base, waitSettled(), cancel
	}

	base, held, cancel := hold("/test.Conv/Echo")
	if extra := held - base; extra > n/10 {
		t.Errorf("%d idle conversations hold %d goroutines, want almost none", n, extra)
	}
	cancel()
	// The connection's goroutines (a reader and a writer on each side)
	// came with the first call.
	waitFor(t, "the conversations to end", func() bool { return goruntime.NumGoroutine() <= base+4 })
	base = goruntime.NumGoroutine()

	// The same with a goroutine per call, to show the test can tell.
	opened.Add(n)
	_, held, cancel = hold("/test.Conv/Goroutine")
	opened.Wait()
	if extra := held - base; extra < n {
		t.Errorf("%d Handle calls hold %d goroutines, want at least %d: the measurement is broken", n, extra, n)
	}
	cancel()
	waitFor(t, "the calls to end", func() bool { return goruntime.NumGoroutine() <= base })
}

// TestConversationActorSends has another goroutine (an actor) send on
// conversations it was handed, through Out, while they are idle.
func TestConversationActorSends(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		outs := make(chan *prt.Conversation[Msg, Msg], 16)
		done := make(chan error, 16)
		e := newEnv(t, tr, func(s *prt.Server) {
			prt.HandleConversation(s, "/test.Conv/Sub", prt.BidiStream, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
				outs <- c
				return &reactorFuncs{c: c, done: done}, nil
			})
		}, envOpts{})
		const calls, msgs = 4, 50
		var clients []*prt.ClientCall[Msg, Msg]
		var convs []*prt.Conversation[Msg, Msg]
		for range calls {
			call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Conv/Sub")
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, call)
			convs = append(convs, <-outs)
		}
		go func() { // the actor
			for i := range msgs {
				for _, c := range convs {
					if err := c.Out().Send(context.Background(), &Msg{N: int64(i)}); err != nil {
						t.Errorf("Send: %v", err)
						return
					}
				}
			}
			for _, c := range convs {
				c.Finish(nil)
			}
		}()
		for _, call := range clients {
			got, err := recvAll(t, call)
			if err != nil || len(got) != msgs {
				t.Fatalf("got %d and %v, want %d and OK", len(got), err, msgs)
			}
		}
		for range calls {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("OnDone(%v)", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no OnDone")
			}
		}
		// Sends after the end fail.
		if err := convs[0].TrySend(&Msg{}); err == nil {
			t.Fatal("TrySend after Finish succeeded")
		}
		if !errors.Is(convs[0].Context().Err(), context.Canceled) {
			t.Fatalf("context after the end: %v", convs[0].Context().Err())
		}
	})
}

// countingConn is an interceptor's wrapper of a call that counts the
// messages it sees each way.
type countingConn struct {
	prt.ServerConn
	recv, sent *int64
	mu         *sync.Mutex
}

func (c countingConn) RecvMsg() (any, error) {
	m, err := c.ServerConn.RecvMsg()
	if err == nil {
		c.mu.Lock()
		*c.recv++
		c.mu.Unlock()
	}
	return m, err
}

func (c countingConn) SendMsg(m any) error {
	c.mu.Lock()
	*c.sent++
	c.mu.Unlock()
	return c.ServerConn.SendMsg(m)
}

// TestConversationInterceptors runs stream interceptors around open: one
// refuses calls without metadata, one wraps the call and sees every
// message each way.
func TestConversationInterceptors(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		var mu sync.Mutex
		var recv, sent int64
		auth := func(ctx context.Context, call prt.ServerConn, _ *prt.StreamServerInfo, next prt.StreamHandler) error {
			if call.Metadata().Get("token") != "ok" {
				return wire.NewError(wire.Unauthenticated, "no token")
			}
			return next(ctx, call)
		}
		wrap := func(ctx context.Context, call prt.ServerConn, _ *prt.StreamServerInfo, next prt.StreamHandler) error {
			return next(ctx, countingConn{ServerConn: call, recv: &recv, sent: &sent, mu: &mu})
		}
		cs := newConversations()
		e := newEnv(t, tr, func(s *prt.Server) { cs.register(s, prt.BidiStream, nil) },
			envOpts{server: []prt.ServerOption{prt.WithStreamInterceptor(auth, wrap)}})

		call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Conv/Echo")
		if err == nil {
			_ = call.CloseSend()
			_, err = recvAll(t, call)
		}
		wantCode(t, err, wire.Unauthenticated)

		ctx := prt.AppendOutgoing(testCtx(t), "token", "ok")
		call, err = prt.Open[Msg, Msg](ctx, e.client, "/test.Conv/Echo")
		if err != nil {
			t.Fatal(err)
		}
		const n = 20
		for i := range n {
			if err := call.Send(&Msg{N: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		_ = call.CloseSend()
		got, err := recvAll(t, call)
		if err != nil || len(got) != n {
			t.Fatalf("got %d and %v, want %d and OK", len(got), err, n)
		}
		if err := cs.next(t); err != nil {
			t.Fatalf("OnDone(%v)", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if recv != n || sent != n {
			t.Fatalf("the wrapper saw %d requests and %d responses, want %d each", recv, sent, n)
		}
	})
}

// TestConversationRequestsInOrderBeforeHalfClose: requests reach OnMessage
// in the order sent and all before OnHalfClose, whether the decoder hands
// a request over directly (the pump idle, nothing queued) or through the
// mailbox (the Reactor still busy with an earlier one). The Reactor
// pauses now and then, so that both happen, and the client half-closes
// right after its last request, so that the end races the last requests.
func TestConversationRequestsInOrderBeforeHalfClose(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		const calls, n = 20, 100
		type result struct {
			got  []int64
			half int // requests seen when OnHalfClose came
		}
		results := make(chan result, calls)
		e := newEnv(t, tr, func(s *prt.Server) {
			prt.HandleConversation(s, "/test.Conv/Order", prt.ClientStream, func(c *prt.Conversation[Msg, Msg]) (prt.Reactor[Msg], error) {
				var res result
				r := &reactorFuncs{c: c, done: make(chan error, 1)}
				r.onMessage = func(req *Msg) error {
					res.got = append(res.got, req.N)
					if req.N%7 == 3 {
						time.Sleep(200 * time.Microsecond) // let the mailbox fill behind
					}
					return nil
				}
				r.onHalf = func() error {
					res.half = len(res.got)
					results <- res
					c.Finish(c.Send(c.Context(), &Msg{N: int64(len(res.got))}))
					return nil
				}
				return r, nil
			})
		}, envOpts{})
		for range calls {
			call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Conv/Order")
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := call.Send(&Msg{N: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := call.CloseSend(); err != nil {
				t.Fatal(err)
			}
			got, err := recvAll(t, call)
			if err != nil || len(got) != 1 || got[0].N != n {
				t.Fatalf("response %v, %v; want one with N %d", got, err, n)
			}
			res := <-results
			if res.half != n {
				t.Fatalf("OnHalfClose came after %d of %d requests", res.half, n)
			}
			for i, v := range res.got {
				if v != int64(i) {
					t.Fatalf("request %d reached OnMessage as %d: out of order", i, v)
				}
			}
		}
	})
}

// TestConversationBadRequests: a request a conversation's decoder refuses
// (undecodable, a bad prefix, too large), also when it comes with the
// first ones, in the same DATA as the headers, ends the call with its
// status in a well-formed gRPC response (content-type, grpc-status), as
// for a Handle handler; OnDone sees that status.
func TestConversationBadRequests(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		cs := newConversations()
		e := newEnv(t, tr, func(s *prt.Server) { cs.register(s, prt.BidiStream, nil) }, envOpts{})
		cases := []struct {
			name string
			body []byte
			code wire.Code
			msg  string
		}{
			{"undecodable", frame(0, []byte{0xc1}), wire.Internal, "unmarshal"},
			{"undecodable after a good one", append(frame(0, msgpackMsg), frame(0, []byte{0x92, 1})...), wire.Internal, "unmarshal"},
			{"bad flag", frame(9, msgpackMsg), wire.Internal, "prefix"},
			{"oversized", []byte{0, 0x7f, 0xff, 0xff, 0xff}, wire.ResourceExhausted, "larger than max"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := rawCall(t, e.addr, "POST", "/test.Conv/Echo", grpcHeader(), tc.body)
				if r.status != 200 {
					t.Fatalf("HTTP status %d, want 200", r.status)
				}
				if ct := r.header.Get("content-type"); ct != "application/grpc+msgpack" {
					t.Errorf("content-type %q; headers %v, trailers %v", ct, r.header, r.trailer)
				}
				if got := r.grpcStatus(); got != itoa(int(tc.code)) {
					t.Fatalf("grpc-status %q, want %d (%v); headers %v, trailers %v", got, tc.code, tc.code, r.header, r.trailer)
				}
				if msg := wire.DecodeMessage(r.header.Get("grpc-message") + r.trailer.Get("grpc-message")); !strings.Contains(msg, tc.msg) {
					t.Errorf("grpc-message %q does not mention %q", msg, tc.msg)
				}
				wantCode(t, cs.next(t), tc.code)
			})
		}
	})
}
