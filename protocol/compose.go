package protocol

import (
	"context"
	"io"

	"github.com/parleyrpc/parley/mailbox"
)

// Received is a message a checked conversation received, with its kind
// and the conversation's state once it was checked: what an actor needs to
// act on a conversation it does not own.
type Received[T any] struct {
	// Msg is the message.
	Msg *T
	// Kind is its kind's number (the generated ...ClientKind function's)
	// and KindName its name in the protocol.
	Kind     int
	KindName string
	// State is the conversation's state after the message, as its
	// description ("after client join"); StateNum is its number.
	State    string
	StateNum int
}

// RecvEvent is Recv with the message's kind and the state after it. The
// state is read right after the check: a send from another goroutine in
// between shows in it too.
func (c *ServerConv[Req, Res]) RecvEvent() (Received[Req], error) {
	v, err := c.Recv()
	if err != nil {
		return Received[Req]{}, err
	}
	k := c.reqKind(v)
	st := c.chk.State()
	return Received[Req]{Msg: v, Kind: k, KindName: c.chk.m.spec.Client[k], State: c.chk.m.spec.States[st], StateNum: st}, nil
}

// Forward delivers the conversation's requests, checked and converted by
// conv, to an actor (or any mailbox) until the client half-closes (nil),
// a request breaks the protocol (its status), ctx ends or to refuses one
// (their errors). The actor answers through c.Out(), which checks each
// reply against the protocol before it reaches the wire:
//
//	err := protocol.Forward(ctx, conv, room, func(ev protocol.Received[pb.Event]) RoomMsg {
//		return RoomMsg{From: id, Kind: ev.KindName, State: ev.State, Event: ev.Msg, Reply: conv.Out()}
//	})
func Forward[Req, Res, U any](ctx context.Context, c *ServerConv[Req, Res], to mailbox.Sender[U], conv func(Received[Req]) U) error {
	for {
		ev, err := c.RecvEvent()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := to.Send(ctx, conv(ev)); err != nil {
			return err
		}
	}
}
