package protocol_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/protocol"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// roomMsg is what a member's conversation tells the room actor: the
// request with its kind and the conversation's state, and where the
// room's replies go (the member's checked outbound mailbox).
type roomMsg struct {
	ev    protocol.Received[Ev]
	reply mailbox.Sender[*Ev]
}

// A protocol-checked conversation feeds an actor: each request reaches the
// room with its kind and state, and the room's replies go out through the
// member's checked conversation.
func TestConversationFeedsActor(t *testing.T) {
	m := machine(t)
	var seen []string // the room's goroutine; read after it stopped
	room := actor.Spawn(context.Background(), func(ctx context.Context, msg roomMsg) error {
		seen = append(seen, msg.ev.KindName+" "+msg.ev.State)
		var reply *Ev
		switch msg.ev.KindName {
		case "join":
			reply = &Ev{Kind: "joined"}
		case "say":
			reply = &Ev{Kind: "message", Text: msg.ev.Msg.Text}
		case "leave":
			reply = &Ev{Kind: "left"}
		}
		return msg.reply.Send(ctx, reply)
	})
	c := serve(t, func(call *runtime.ServerCall[Ev, Ev]) error {
		return protocol.Serve(call, m, kindOf(clientKinds), kindOf(serverKinds), func(conv *protocol.ServerConv[Ev, Ev]) error {
			return protocol.Forward(conv.Context(), conv, room, func(ev protocol.Received[Ev]) roomMsg {
				return roomMsg{ev: ev, reply: conv.Out()}
			})
		})
	})
	conv, err := protocol.Open(ctxT(t), c, method, m, kindOf(clientKinds), kindOf(serverKinds))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range []Ev{{Kind: "join"}, {Kind: "say", Text: "hi"}, {Kind: "leave"}} {
		if err := conv.Send(&ev); err != nil {
			t.Fatal(err)
		}
		r, err := conv.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Kind+r.Text)
	}
	if err := conv.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := conv.Recv(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	room.Stop(actor.Drain)
	if err := room.Wait(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "joined,messagehi,left" {
		t.Errorf("replies %v", got)
	}
	want := "join after client join,say after server joined,leave after client leave"
	if strings.Join(seen, ",") != want {
		t.Errorf("the room saw %q, want %q", strings.Join(seen, ","), want)
	}
}

// A room reply the protocol does not allow is refused before the wire,
// and the actor sees the refusal.
func TestActorReplyRefused(t *testing.T) {
	m := machine(t)
	refused := make(chan error, 1)
	room := actor.Spawn(context.Background(), func(ctx context.Context, msg roomMsg) error {
		refused <- msg.reply.Send(ctx, &Ev{Kind: "left"}) // not allowed before joined
		return nil
	})
	t.Cleanup(func() { room.Stop(actor.Drain) })
	c := serve(t, func(call *runtime.ServerCall[Ev, Ev]) error {
		return protocol.Serve(call, m, kindOf(clientKinds), kindOf(serverKinds), func(conv *protocol.ServerConv[Ev, Ev]) error {
			err := protocol.Forward(conv.Context(), conv, room, func(ev protocol.Received[Ev]) roomMsg {
				return roomMsg{ev: ev, reply: conv.Out()}
			})
			if err != nil {
				return err
			}
			return <-refused
		})
	})
	call, err := runtime.Open[Ev, Ev](ctxT(t), c, method)
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(&Ev{Kind: "join"})
	_ = call.CloseSend() // out of protocol: the server ends the call
	_, err = call.Recv()
	if wire.CodeOf(err) != wire.FailedPrecondition {
		t.Fatalf("status %v", err)
	}
	if err := <-refused; err == nil || !strings.Contains(err.Error(), "the server cannot send left, may send joined (after client join)") {
		t.Errorf("room's reply: %v", err)
	}
}
