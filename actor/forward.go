package actor

import (
	"context"
	"io"

	"github.com/parleyrpc/parley/mailbox"
)

// Forward pumps messages from one mailbox to another, converting each with
// conv, until from delivers its terminal event, and returns that event's
// error: nil for a clean end (io.EOF, e.g. the peer half-closed), the
// failure otherwise (usually a *wire.Error). from.End then holds the
// trailers. It also returns early with ctx.Err() if ctx ends, or with the
// error of to.Send if to refuses a message (ErrStopped for a stopped actor,
// mailbox.ErrClosed for a closed mailbox); from is left as it is in both
// cases.
//
// Typical use is inside a conversation handler, forwarding the call's
// inbound messages to an actor:
//
//	err := actor.Forward(call.Context(), call.In(), room, func(m *pb.Line) RoomMsg { return Say{From: id, Text: m.Text} })
//
// Sends use ctx, so an actor handler sees ctx's values, and to's
// backpressure slows the pump (and, over the network, the peer). Messages
// keep their order. Forward runs on the caller's goroutine; from and to may
// be shared with other goroutines as their own contracts allow.
func Forward[T, U any](ctx context.Context, from mailbox.Receiver[T], to mailbox.Sender[U], conv func(T) U) error {
	for {
		v, err := from.Recv(ctx)
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := to.Send(ctx, conv(v)); err != nil {
			return err
		}
	}
}
