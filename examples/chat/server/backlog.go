package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/mailbox"
)

// The slow-member policy (README.md, "Slow members"). Variables so that
// the tests can make them small.
var (
	// backlogBytes bounds the events waiting for one member, counted as
	// their size on the wire (eventSize). A burst of a few thousand lines
	// fits; past it, the member misses events and is told so with a Gap.
	backlogBytes = 256 << 10
	// behindGrace is how long a member may stay behind (missing events)
	// before it is disconnected as too slow.
	behindGrace = 10 * time.Second
)

// eventOverhead is what eventSize adds to an event's strings: the msgpack
// keys, the numbers, the timestamp and the gRPC framing, about.
const eventOverhead = 64

// eventSize estimates an event's size on the wire.
func eventSize(ev *chatpb.ServerEvent) int {
	switch e := ev.Event.(type) {
	case *chatpb.ServerEvent_Message:
		if m := e.Message; m != nil {
			return eventOverhead + len(m.Room) + len(m.Nick) + len(m.Text)
		}
	case *chatpb.ServerEvent_Presence:
		if p := e.Presence; p != nil {
			return eventOverhead + len(p.Room) + len(p.Nick)
		}
	}
	return eventOverhead
}

// backlog is one member's membership of a room and its queue of room
// events, between the room's actor (push, which never waits) and the
// member's conversation. It is bounded by bytes (backlogBytes): an event
// that does not fit is not queued but counted, and once the member has
// caught up to half the bound a Gap event takes the place of what it
// missed. A member that stays behind for behindGrace is disconnected by
// its room.
//
// Events are delivered by a drainer that exists only while there are
// events to deliver: push starts it, it sends what is queued to the
// member's call and stops once the queue is empty. It runs on one of the
// server's few delivering goroutines (drainers), or, while the member's
// call is full (HTTP/2 flow control holds it back), on a goroutine of its
// own whose Sends wait. An idle member holds no goroutine, only this
// state.
//
// The membership ends (Done, Err) when the member leaves (leave), when
// the room cuts it off (end: too slow, the room closed) or when its call
// refuses an event; gone tells the conversation of every end with a
// reason.
type backlog struct {
	room   string
	dst    mailbox.Sender[*chatpb.ServerEvent] // the member's call; only the drainer sends
	ctx    context.Context                     // ends the drainer's Send: cancelled by the end or the conversation's end
	cancel context.CancelCauseFunc
	gone   func() // called once, on no lock, when the membership ends with a reason
	done   chan struct{}
	pool   *drainers // runs the drainer

	mu    sync.Mutex
	q     []*chatpb.ServerEvent // q[head:] wait, oldest first
	head  int
	bytes int // eventSize of q[head:]
	// While behind: what was not queued, and since when.
	behindSince            time.Time
	missed, presenceMissed uint64
	firstSeq, lastSeq      uint64

	open     bool  // start was called: Joined is out, the room's events may follow
	draining bool  // a drainer goroutine runs
	leaving  bool  // leave after the queue is drained
	ended    bool  // the membership is over: nothing more is queued or sent
	err      error // why it ended, nil for a leave; set with ended
}

// errRecipientClosed is the end of a membership whose call is over.
var errRecipientClosed = errors.New("chat: the member's call is over")

// newBacklog joins a new member whose events go to dst once it starts:
// gone is called when the membership ends with a reason, and ctx's end
// stops its deliveries.
func newBacklog(ctx context.Context, room string, dst mailbox.Sender[*chatpb.ServerEvent], gone func(), pool *drainers) *backlog {
	b := &backlog{room: room, dst: dst, gone: gone, done: make(chan struct{}), pool: pool}
	b.ctx, b.cancel = context.WithCancelCause(ctx)
	return b
}

// push queues ev for the member and starts its drainer, or, when the
// backlog is full, counts ev as missed. It reports whether the member has
// been behind for longer than behindGrace. Room's goroutine.
func (b *backlog) push(ev *chatpb.ServerEvent, now time.Time) (tooSlow bool) {
	size := eventSize(ev)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return false
	}
	b.recoverLocked()
	if !b.behindSince.IsZero() || b.bytes > 0 && b.bytes+size > backlogBytes {
		if b.behindSince.IsZero() {
			b.behindSince = now
		}
		b.missLocked(ev)
		return now.Sub(b.behindSince) > behindGrace
	}
	b.q = append(b.q, ev)
	b.bytes += size
	b.kickLocked()
	return false
}

// kickLocked starts the drainer if there is something to deliver and
// none runs. b.mu held.
func (b *backlog) kickLocked() {
	if b.open && !b.draining && !b.ended && b.head < len(b.q) {
		b.draining = true
		b.pool.start(b)
	}
}

// start lets the room's events through, once the conversation has sent
// Joined, so that they always come after it.
func (b *backlog) start() {
	b.mu.Lock()
	b.open = true
	b.kickLocked()
	b.mu.Unlock()
}

// missLocked counts ev as not sent. b.mu held.
func (b *backlog) missLocked(ev *chatpb.ServerEvent) {
	switch e := ev.Event.(type) {
	case *chatpb.ServerEvent_Message:
		if e.Message != nil {
			if b.missed == 0 {
				b.firstSeq = e.Message.Seq
			}
			b.lastSeq = e.Message.Seq
		}
		b.missed++
	default:
		b.presenceMissed++
	}
}

// recoverLocked ends a member's time behind once it has caught up to half
// the bound: a Gap event, queued after what is waiting, stands for what it
// missed. b.mu held.
func (b *backlog) recoverLocked() {
	if b.behindSince.IsZero() || b.bytes > backlogBytes/2 {
		return
	}
	gap := &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Gap{Gap: &chatpb.Gap{
		Room:           b.room,
		Missed:         b.missed,
		FirstSeq:       b.firstSeq,
		LastSeq:        b.lastSeq,
		PresenceMissed: uint32(min(b.presenceMissed, 1<<32-1)),
	}}}
	b.q = append(b.q, gap)
	b.bytes += eventSize(gap)
	b.behindSince = time.Time{}
	b.missed, b.presenceMissed, b.firstSeq, b.lastSeq = 0, 0, 0, 0
}

// next takes the oldest waiting event for the drainer. When there is
// none it stops the drainer, ending a leaving membership, and returns
// nil. A member that has caught up gets its Gap here too, if no push came
// to queue it.
func (b *backlog) next() *chatpb.ServerEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ended {
		b.recoverLocked()
	}
	if b.ended || b.head == len(b.q) {
		b.draining = false
		if b.ended {
			close(b.done)
		} else if b.leaving {
			b.endLocked(nil)
		}
		return nil
	}
	ev := b.q[b.head]
	b.q[b.head] = nil
	b.head++
	b.bytes -= eventSize(ev)
	if b.head == len(b.q) {
		// Empty: an idle member keeps no array of a past burst.
		if cap(b.q) > 64 {
			b.q = nil
		} else {
			b.q = b.q[:0]
		}
		b.head = 0
	}
	return ev
}

// drain delivers ev, if not nil, and then the waiting events to the
// conversation, until none is left or the membership ends. Without wait
// it runs on one of the server's delivering goroutines (drainers) and
// never waits: when the member's call is full, it goes on, from the event
// that did not fit, on a goroutine of its own with wait, whose Sends wait
// while the conversation's outbound mailbox is full.
func (b *backlog) drain(ev *chatpb.ServerEvent, wait bool) {
	if ev == nil {
		ev = b.next()
	}
	for ev != nil {
		var err error
		if wait {
			err = b.dst.Send(b.ctx, ev)
		} else if err = b.dst.TrySend(ev); errors.Is(err, mailbox.ErrFull) {
			go b.drain(ev, true)
			return
		}
		if err != nil {
			b.end(b.sendErr(err))
		}
		ev = b.next()
	}
}

// sendErr is the reason a membership ends when its call refused an
// event with err.
func (b *backlog) sendErr(err error) error {
	switch {
	case b.ctx.Err() != nil:
		return context.Cause(b.ctx)
	case errors.Is(err, mailbox.ErrClosed):
		return errRecipientClosed
	}
	return err
}

// leave ends the membership on the member's behalf (Err is then nil):
// with drain, after the events already queued are delivered, so that a
// member leaving on purpose gets everything said before it left. Room's
// goroutine.
func (b *backlog) leave(drain bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if drain && b.draining {
		b.leaving = true // the drainer ends it once the queue is empty
		return
	}
	b.endLocked(nil)
}

// end ends the membership with reason, discarding what is queued; a
// drainer's Send in progress returns at once. Any goroutine.
func (b *backlog) end(reason error) {
	b.mu.Lock()
	tell := b.endLocked(reason)
	b.mu.Unlock()
	if tell {
		b.gone()
	}
}

// endLocked ends the membership and reports whether gone must be told.
// b.mu held.
func (b *backlog) endLocked(reason error) (tell bool) {
	if b.ended {
		return false
	}
	b.ended, b.err = true, reason
	b.q, b.head, b.bytes = nil, 0, 0
	b.cancel(reason)
	if !b.draining {
		close(b.done)
	}
	return reason != nil
}

// Done is closed once the membership has ended and no event is being
// delivered any more.
func (b *backlog) Done() <-chan struct{} { return b.done }

// Err returns why the membership ended (nil for a leave), once Done is
// closed.
func (b *backlog) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
