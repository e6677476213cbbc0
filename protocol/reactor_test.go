package protocol_test

import (
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/protocol"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// serveReactor starts a loopback server that serves method with
// protocol.HandleConversation under m, each call's Reactor made by
// newReactor, and returns a client.
func serveReactor(t *testing.T, m *protocol.Machine, newReactor func(*protocol.Conversation[Ev, Ev]) runtime.Reactor[Ev]) *runtime.Client {
	t.Helper()
	return listen(t, func(srv *runtime.Server) {
		protocol.HandleConversation(srv, method, runtime.BidiStream, m, kindOf(clientKinds), kindOf(serverKinds),
			func(c *protocol.Conversation[Ev, Ev]) (runtime.Reactor[Ev], error) { return newReactor(c), nil })
	})
}

// roomReactor is checkedServer as a Reactor: it answers join with joined,
// each say with a message and leave with left, and ends the call OK once
// the client half-closes. done, if set, receives OnDone's status.
type roomReactor struct {
	c    *protocol.Conversation[Ev, Ev]
	done chan error
}

func (r *roomReactor) OnMessage(ev *Ev) error {
	switch ev.Kind {
	case "join":
		return r.c.TrySend(&Ev{Kind: "joined"})
	case "say":
		return r.c.TrySend(&Ev{Kind: "message", Text: ev.Text})
	}
	return r.c.TrySend(&Ev{Kind: "left"})
}

func (r *roomReactor) OnHalfClose() error { r.c.Finish(nil); return nil }

func (r *roomReactor) OnDone(err error) {
	if r.done != nil {
		r.done <- err
	}
}

// talk opens a raw call, which knows nothing of the protocol, and sends
// requests of the kinds in sends ("-" half-closes).
func talk(t *testing.T, c *runtime.Client, sends []string) *runtime.ClientCall[Ev, Ev] {
	t.Helper()
	call, err := runtime.Open[Ev, Ev](ctxT(t), c, method)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sends {
		if k == "-" {
			_ = call.CloseSend()
			continue
		}
		_ = call.Send(&Ev{Kind: k})
	}
	return call
}

// recvAll receives until the call ends and returns its status.
func recvAll(call *runtime.ClientCall[Ev, Ev]) error {
	for {
		if _, err := call.Recv(); err != nil {
			return err
		}
	}
}

// The Reactor sees the call's end: nil after a conversation that ended
// OK, and the violation's status, which it never saw as a request, after
// a client that broke the protocol.
func TestReactorDone(t *testing.T) {
	m := machine(t)
	done := make(chan error, 1)
	var seen []string
	c := serveReactor(t, m, func(conv *protocol.Conversation[Ev, Ev]) runtime.Reactor[Ev] {
		return &recording{roomReactor: roomReactor{c: conv, done: done}, seen: &seen}
	})
	for _, tt := range []struct {
		name  string
		sends []string
		want  wire.Code // of OnDone's status and of the client's
		seen  string    // the requests the Reactor saw
	}{
		{"in protocol", []string{"join", "say", "leave", "-"}, wire.OK, "join,say,leave"},
		{"out of protocol", []string{"join", "join"}, wire.FailedPrecondition, "join"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			end := recvAll(talk(t, c, tt.sends))
			got := <-done
			if tt.want == wire.OK {
				if end.Error() != "EOF" || got != nil {
					t.Fatalf("client saw %v, OnDone %v; want OK", end, got)
				}
			} else if wire.CodeOf(end) != tt.want || wire.CodeOf(got) != tt.want || !strings.Contains(got.Error(), "got join, want say or leave") {
				t.Fatalf("client saw %v, OnDone %v; want %v", end, got, tt.want)
			}
			if strings.Join(seen, ",") != tt.seen {
				t.Errorf("the Reactor saw %v, want %s", seen, tt.seen)
			}
		})
	}
}

// recording is a roomReactor that records the kinds it is given. Its
// methods run one at a time, and OnDone comes last, so seen needs no lock
// once OnDone has reported.
type recording struct {
	roomReactor
	seen *[]string
}

func (r *recording) OnMessage(ev *Ev) error {
	*r.seen = append(*r.seen, ev.Kind)
	return r.roomReactor.OnMessage(ev)
}

// A handler that sends out of protocol is refused before the wire, in
// either form; returning the refusal ends the call with it. A handler
// that ends the call OK where the protocol expects more ends it with
// INTERNAL.
func TestHandlerOutOfProtocol(t *testing.T) {
	m := machine(t)
	tests := []struct {
		name string
		// goroutine and reactor handle join in each form.
		goroutine func(*protocol.ServerConv[Ev, Ev]) error
		reactor   func(*protocol.Conversation[Ev, Ev]) error
		code      wire.Code
		msg       string
	}{
		{
			name:      "sends out of protocol",
			goroutine: func(c *protocol.ServerConv[Ev, Ev]) error { return c.Send(&Ev{Kind: "message"}) },
			reactor:   func(c *protocol.Conversation[Ev, Ev]) error { return c.TrySend(&Ev{Kind: "message"}) },
			code:      wire.FailedPrecondition,
			msg:       "room.v1.Room/Talk: the server cannot send message, may send joined (after client join)",
		},
		{
			name:      "sends no kind",
			goroutine: func(c *protocol.ServerConv[Ev, Ev]) error { return c.Send(&Ev{}) },
			reactor:   func(c *protocol.Conversation[Ev, Ev]) error { return c.Send(ctxT(t), &Ev{}) },
			code:      wire.InvalidArgument,
			msg:       "the server cannot send a message with no kind",
		},
		{
			name:      "ends OK early",
			goroutine: func(*protocol.ServerConv[Ev, Ev]) error { return nil },
			reactor:   func(c *protocol.Conversation[Ev, Ev]) error { c.Finish(nil); return nil },
			code:      wire.Internal,
			msg:       "the handler ended the call with OK where the protocol expects joined (after client join)",
		},
	}
	for _, tt := range tests {
		forms := map[string]*runtime.Client{
			"goroutine": serve(t, func(call *runtime.ServerCall[Ev, Ev]) error {
				return protocol.Serve(call, m, kindOf(clientKinds), kindOf(serverKinds), func(c *protocol.ServerConv[Ev, Ev]) error {
					if _, err := c.Recv(); err != nil {
						return err
					}
					return tt.goroutine(c)
				})
			}),
			"reactor": serveReactor(t, m, func(c *protocol.Conversation[Ev, Ev]) runtime.Reactor[Ev] {
				return onMessage(func(*Ev) error { return tt.reactor(c) })
			}),
		}
		for form, c := range forms {
			t.Run(tt.name+"/"+form, func(t *testing.T) {
				call, err := runtime.Open[Ev, Ev](ctxT(t), c, method)
				if err != nil {
					t.Fatal(err)
				}
				_ = call.Send(&Ev{Kind: "join"})
				end := recvAll(call)
				if wire.CodeOf(end) != tt.code || !strings.Contains(end.Error(), tt.msg) {
					t.Errorf("status %v, want %v with %q", end, tt.code, tt.msg)
				}
			})
		}
	}
}

// onMessage is a Reactor made of its OnMessage.
type onMessage func(*Ev) error

func (f onMessage) OnMessage(ev *Ev) error { return f(ev) }
func (onMessage) OnHalfClose() error       { return nil }
func (onMessage) OnDone(error)             {}

// Many idle checked conversations hold no goroutine on the server: after
// each has exchanged join and joined, the process holds about as many
// goroutines as before they opened (the client's idle calls hold none
// either), where a handler goroutine per call would add one each.
func TestReactorIdleHoldsNoGoroutine(t *testing.T) {
	const n = 200
	m := machine(t)
	c := serveReactor(t, m, func(conv *protocol.Conversation[Ev, Ev]) runtime.Reactor[Ev] { return &roomReactor{c: conv} })
	warm, err := runtime.Open[Ev, Ev](ctxT(t), c, method) // the connection's own goroutines
	if err != nil {
		t.Fatal(err)
	}
	_ = warm.Send(&Ev{Kind: "join"})
	if _, err := warm.Recv(); err != nil {
		t.Fatal(err)
	}
	before := goruntime.NumGoroutine()
	calls := make([]*runtime.ClientCall[Ev, Ev], n)
	for i := range calls {
		call, err := runtime.Open[Ev, Ev](ctxT(t), c, method)
		if err != nil {
			t.Fatal(err)
		}
		if err := call.Send(&Ev{Kind: "join"}); err != nil {
			t.Fatal(err)
		}
		if ev, err := call.Recv(); err != nil || ev.Kind != "joined" {
			t.Fatalf("call %d: %v, %v", i, ev, err)
		}
		calls[i] = call
	}
	after := goruntime.NumGoroutine()
	if after-before > n/10 {
		t.Errorf("%d idle conversations added %d goroutines (%d before, %d after), want about none", n, after-before, before, after)
	}
	for _, call := range append(calls, warm) {
		call.Cancel()
	}
}
