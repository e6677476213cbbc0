package actor_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/mailbox"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// Line is the wire message of these tests: a msgpack map {"text": ...}.
type Line struct {
	Text string `msgpack:"text"`
}

// serve starts srv on a loopback port and returns a client dialled to it;
// both are closed when the test ends.
func serve(t *testing.T, srv *prt.Server) *prt.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	client, err := prt.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Close()
		if err := <-served; !errors.Is(err, prt.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	return client
}

// recvLine receives one message from a client call, bounded generously.
func recvLine(t *testing.T, call *prt.ClientCall[Line, Line]) string {
	t.Helper()
	l, err := call.In().Recv(waitCtx(t))
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return l.Text
}

func expectEOF(t *testing.T, call *prt.ClientCall[Line, Line]) {
	t.Helper()
	if l, err := call.In().Recv(waitCtx(t)); err != io.EOF {
		t.Fatalf("Recv = %v, %v; want io.EOF (status OK)", l, err)
	}
}

// relayReq asks the relay actor to pass one line to server B.
type relayReq struct {
	text  string
	reply actor.Reply[string]
}

// spawnRelay starts an actor that owns a client conversation with server
// B: its init hook opens the conversation (and, after a failure, opens a
// new one), its handler sends one request and waits for the answer, its
// stop hook half-closes the conversation and waits for the end.
func spawnRelay(t *testing.T, clientB *prt.Client, logger *slog.Logger, opened *atomic.Int32) *actor.Ref[relayReq] {
	var conv *prt.ClientCall[Line, Line] // owned by the relay's goroutine
	return actor.Spawn(context.Background(), func(ctx context.Context, r relayReq) error {
		if err := conv.Send(&Line{Text: r.text}); err != nil {
			return err
		}
		res, err := conv.In().Recv(ctx) // bounded by the asker's deadline
		if err != nil {
			return err // the conversation is broken: fail, so init opens a new one
		}
		r.reply.Send(res.Text)
		return nil
	},
		actor.WithName("relay"),
		actor.WithLogger(logger),
		actor.WithBackoff(0, 0),
		actor.WithInit(func(ctx context.Context) error {
			var err error
			conv, err = prt.Open[Line, Line](ctx, clientB, "/test.Shout/Talk")
			opened.Add(1)
			return err
		}),
		actor.WithStop(func(ctx context.Context, _ error) {
			conv.CloseSend()
			for {
				if _, err := conv.In().Recv(ctx); err != nil {
					return
				}
			}
		}),
	)
}

// A bidi handler forwards its conversation's inbound messages to a
// per-conversation actor, which asks a relay actor (itself a client of
// another parley server) and writes the answers to the conversation's
// outbound mailbox. A failure on the far conversation restarts the relay,
// which reopens it.
func TestConversationThroughActors(t *testing.T) {
	// Server B shouts back, and fails the call when told to.
	srvB := prt.NewServer()
	prt.HandleBidi(srvB, "/test.Shout/Talk", func(call *prt.ServerCall[Line, Line]) error {
		for {
			req, err := call.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if req.Text == "fail" {
				return wire.NewError(wire.Aborted, "told to fail")
			}
			if err := call.Send(&Line{Text: "B:" + strings.ToUpper(req.Text)}); err != nil {
				return err
			}
		}
	})
	clientB := serve(t, srvB)

	logger, logs := newLogger()
	var opened atomic.Int32
	relay := spawnRelay(t, clientB, logger, &opened)

	// Server A: one session actor per conversation.
	type ctxKeyConv struct{}
	srvA := prt.NewServer()
	prt.HandleBidi(srvA, "/test.Session/Talk", func(call *prt.ServerCall[Line, Line]) error {
		ctx := context.WithValue(call.Context(), ctxKeyConv{}, call.Method())
		out := call.Out()
		session := actor.Spawn(ctx, func(ctx context.Context, l *Line) error {
			if ctx.Value(ctxKeyConv{}) != "/test.Session/Talk" {
				return errors.New("conversation values lost")
			}
			askCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			text, err := actor.Ask(askCtx, relay, func(r actor.Reply[string]) relayReq { return relayReq{l.Text, r} })
			if err != nil {
				text = "ERR " + wire.CodeOf(err).String()
			}
			return out.Send(ctx, &Line{Text: text})
		}, actor.WithName("session"), actor.WithLogger(logger))
		err := actor.Forward(ctx, call.In(), session, func(l *Line) *Line { return l })
		session.Stop(actor.Drain) // answer everything forwarded before the call ends
		if werr := session.Wait(ctx); err == nil {
			err = werr
		}
		return err
	})
	clientA := serve(t, srvA)

	conv, err := prt.Open[Line, Line](waitCtx(t), clientA, "/test.Session/Talk")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"hello": "B:HELLO", "fail": "ERR " + wire.Aborted.String(), "world": "B:WORLD"}
	for _, text := range []string{"hello", "fail", "world"} {
		if err := conv.Send(&Line{Text: text}); err != nil {
			t.Fatal(err)
		}
		if got := recvLine(t, conv); got != want[text] {
			t.Errorf("%q: got %q, want %q", text, got, want[text])
		}
	}
	conv.CloseSend()
	expectEOF(t, conv)

	relay.Stop(actor.Drain)
	if err := relay.Wait(waitCtx(t)); err != nil {
		t.Errorf("relay stopped with %v", err)
	}
	if got := opened.Load(); got != 2 {
		t.Errorf("relay opened %d conversations, want 2 (one more after the failure)", got)
	}
	attrs, ok := logs.find(slog.LevelError, "actor failed")
	if !ok || attrs["actor"].String() != "relay" || wire.CodeOf(attrs["err"].Any().(error)) != wire.Aborted {
		t.Errorf("relay failure not logged as expected: %v %v", attrs, ok)
	}
}

// The chat room: one actor owns a Group of its members' outbound
// mailboxes; every member's conversation forwards its lines to the room.
type (
	roomJoin struct {
		name  string
		ctx   context.Context // the member's conversation: the membership's lifetime
		out   mailbox.Sender[*Line]
		reply actor.Reply[*actor.Member[*Line]]
	}
	roomSay   struct{ name, text string }
	roomLeave struct {
		name   string
		member *actor.Member[*Line]
	}
)

func TestChatRoomOverConversations(t *testing.T) {
	members := actor.NewGroup[*Line]()
	room := actor.Spawn(context.Background(), func(ctx context.Context, msg any) error {
		switch m := msg.(type) {
		case roomJoin:
			// Not the handler's ctx: it ends with this message.
			member := members.Join(m.ctx, m.out, actor.DisconnectWhenFull(wire.NewError(wire.ResourceExhausted, "too slow")))
			members.Broadcast(&Line{Text: m.name + " joined"})
			m.reply.Send(member)
		case roomSay:
			members.Broadcast(&Line{Text: m.name + ": " + m.text})
		case roomLeave:
			m.member.Leave()
			members.Broadcast(&Line{Text: m.name + " left"})
		}
		return nil
	}, actor.WithName("room"), actor.WithStop(func(context.Context, error) { members.Close(nil) }))

	srv := prt.NewServer()
	prt.HandleBidi(srv, "/test.Chat/Join", func(call *prt.ServerCall[Line, Line]) error {
		ctx := call.Context()
		hello, err := call.Recv() // the first line is the member's name
		if err != nil {
			return err
		}
		name := hello.Text
		member, err := actor.Ask(ctx, room, func(r actor.Reply[*actor.Member[*Line]]) any {
			return roomJoin{name: name, ctx: ctx, out: call.Out(), reply: r}
		})
		if err != nil {
			return err
		}
		// Forward until the member leaves or the room drops it.
		fwd, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			select {
			case <-member.Done():
				stop()
			case <-fwd.Done():
			}
		}()
		err = actor.Forward(fwd, call.In(), room, func(l *Line) any { return roomSay{name, l.Text} })
		room.Tell(context.WithoutCancel(ctx), roomLeave{name, member})
		<-member.Done() // the pump must not write to Out after we return
		if merr := member.Err(); merr != nil {
			err = merr // e.g. RESOURCE_EXHAUSTED: too slow for the room
		}
		return err
	})
	client := serve(t, srv)

	join := func(name string) *prt.ClientCall[Line, Line] {
		conv, err := prt.Open[Line, Line](waitCtx(t), client, "/test.Chat/Join")
		if err != nil {
			t.Fatal(err)
		}
		conv.Send(&Line{Text: name})
		return conv
	}
	expect := func(who string, conv *prt.ClientCall[Line, Line], lines ...string) {
		t.Helper()
		for _, want := range lines {
			if got := recvLine(t, conv); got != want {
				t.Fatalf("%s got %q, want %q", who, got, want)
			}
		}
	}

	alice := join("alice")
	expect("alice", alice, "alice joined")
	bob := join("bob")
	expect("alice", alice, "bob joined")
	expect("bob", bob, "bob joined")

	alice.Send(&Line{Text: "hi"})
	expect("alice", alice, "alice: hi")
	expect("bob", bob, "alice: hi")
	bob.Send(&Line{Text: "hey"})
	expect("alice", alice, "bob: hey")
	expect("bob", bob, "bob: hey")

	bob.CloseSend()
	expectEOF(t, bob)
	expect("alice", alice, "bob left")

	// carol stops reading but keeps her call open: once her queue is
	// full the room disconnects her, and her call ends with the reason.
	carol := join("carol")
	expect("alice", alice, "carol joined")
	big := strings.Repeat("x", 32<<10)
	for i := 0; i < 500 && members.Len() == 2; i++ {
		alice.Send(&Line{Text: big})
		expect("alice", alice, "alice: "+big)
	}
	if n := members.Len(); n != 1 {
		t.Fatalf("%d members after carol stopped reading, want 1", n)
	}
	for i := 0; ; i++ {
		_, err := carol.In().Recv(waitCtx(t))
		if err != nil {
			if wire.CodeOf(err) != wire.ResourceExhausted {
				t.Fatalf("carol's call ended with %v after %d lines, want RESOURCE_EXHAUSTED", err, i)
			}
			break
		}
		if i > 1000 {
			t.Fatal("carol's call does not end")
		}
	}
	expect("alice", alice, "carol left")
	alice.CloseSend()
	expectEOF(t, alice)

	room.Stop(actor.Drain)
	if err := room.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if members.Len() != 0 {
		t.Errorf("%d members left in the room", members.Len())
	}
}
