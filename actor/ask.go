package actor

import (
	"context"
	"sync/atomic"
)

// Reply is the return address of one Ask. The asker builds it into the
// request message (see Ask); the handler answers with Send or Fail, at once
// or later, from any goroutine: Reply may be stored, passed to another
// actor, or captured by a goroutine. Only the first Send or Fail counts.
//
// Each Ask has its own Reply, so an answer that arrives after its Ask gave
// up is discarded and can never reach a later Ask. The zero Reply (a request
// sent with Tell) accepts and discards answers.
type Reply[R any] struct {
	s *replySlot[R]
}

// replySlot is written by whoever answers (handler goroutine, or the actor
// goroutine failing the request) and read by the one asking goroutine.
type replySlot[R any] struct {
	ch       chan askResult[R] // buffered 1: answering never blocks
	answered atomic.Bool       // set by the first Send/Fail
	gone     atomic.Bool       // set by the asker when it stops waiting
}

type askResult[R any] struct {
	v   R
	err error
}

func (s *replySlot[R]) deliver(res askResult[R]) bool {
	if s == nil || !s.answered.CompareAndSwap(false, true) {
		return false
	}
	s.ch <- res
	return !s.gone.Load()
}

func (s *replySlot[R]) fail(err error) bool { return s.deliver(askResult[R]{err: err}) }

// Send answers the Ask with v. It reports whether this was the first answer
// and the asker was still waiting; false means v was discarded. Safe for
// concurrent use.
func (r Reply[R]) Send(v R) bool { return r.s.deliver(askResult[R]{v: v}) }

// Fail answers the Ask with err, which Ask returns as is: the way for a
// handler to refuse one request without failing (and restarting) the actor.
// It reports what Send reports. Safe for concurrent use.
func (r Reply[R]) Fail(err error) bool { return r.s.fail(err) }

// Pending reports whether the Ask is unanswered and its asker still waiting.
// It is a hint for skipping work, not a guarantee: the asker may give up at
// any moment. Safe for concurrent use.
func (r Reply[R]) Pending() bool {
	return r.s != nil && !r.s.answered.Load() && !r.s.gone.Load()
}

// Ask sends the actor a request and waits for its typed answer. build makes
// the request message around a fresh Reply, typically a struct field:
//
//	n, err := actor.Ask(ctx, counter, func(r actor.Reply[int]) Msg { return Get{Reply: r} })
//
// The request is queued like a Tell, under the actor's overflow policy. The
// handler sees ctx (values, deadline and cancellation). Ask returns:
//   - the value passed to Reply.Send, or the error passed to Reply.Fail;
//   - the handler's error or *PanicError if it failed before answering;
//   - ErrStopped if the actor stopped before handling the request,
//     ErrDropped if DropOldest evicted it, ErrMailboxFull under Reject;
//   - ctx.Err() if ctx ends first. A later answer is discarded.
//
// An actor that handles the request without answering leaves Ask waiting
// until ctx ends, so give ctx a deadline. Safe for concurrent use; an actor
// must not Ask itself (it would wait for its own goroutine).
func Ask[M, R any](ctx context.Context, ref *Ref[M], build func(Reply[R]) M) (R, error) {
	var zero R
	if ctx == nil {
		ctx = context.Background()
	}
	s := &replySlot[R]{ch: make(chan askResult[R], 1)}
	msg := build(Reply[R]{s: s})
	if err := ref.send(ctx, envelope[M]{msg: msg, ctx: ctx, reply: s}); err != nil {
		s.gone.Store(true)
		return zero, err
	}
	select {
	case res := <-s.ch:
		return res.v, res.err
	case <-ctx.Done():
		s.gone.Store(true)
		// An answer may have raced with the cancellation; prefer it.
		select {
		case res := <-s.ch:
			return res.v, res.err
		default:
		}
		return zero, ctx.Err()
	}
}
