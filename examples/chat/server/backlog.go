package server

import (
	"context"
	"sync"
	"time"

	"github.com/parleyrpc/parley/actor"
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

// backlog is one member's queue of room events, between the room's actor
// (push, which never waits) and the member's conversation (drained by the
// member's pump goroutine, which waits while HTTP/2 flow control holds the
// conversation back). It is bounded by bytes (backlogBytes): an event that
// does not fit is not queued but counted, and once the member has caught
// up to half the bound a Gap event takes the place of what it missed. A
// member that stays behind for behindGrace is disconnected by its room.
//
// The room wakes the pump through a one-member actor.Group whose queue
// holds one wake token (pushWake): the Group gives the conversation its
// actor.Member (Done, Err, Leave, LeaveAfterDrain), and the pump calls
// Send, which delivers everything queued.
type backlog struct {
	room string
	dst  mailbox.Sender[*chatpb.ServerEvent] // the member's gate over its call
	g    *actor.Group[*chatpb.ServerEvent]   // the member's own group: its pump

	mu    sync.Mutex
	q     []*chatpb.ServerEvent // q[head:] wait, oldest first
	head  int
	bytes int // eventSize of q[head:]
	// While behind: what was not queued, and since when.
	behindSince            time.Time
	missed, presenceMissed uint64
	firstSeq, lastSeq      uint64
}

// wakeToken is what the room broadcasts to a member's group: "deliver
// what is queued". It never reaches the conversation.
var wakeToken = &chatpb.ServerEvent{}

var _ mailbox.Sender[*chatpb.ServerEvent] = (*backlog)(nil)

// newBacklog joins a new member whose events go to dst: it returns the
// member's backlog and its actor.Member, whose pump stops with ctx.
func newBacklog(ctx context.Context, room string, dst mailbox.Sender[*chatpb.ServerEvent]) (*backlog, *actor.Member[*chatpb.ServerEvent]) {
	b := &backlog{room: room, dst: dst, g: actor.NewGroup[*chatpb.ServerEvent]()}
	// One wake token is enough: a second one while the first waits adds
	// nothing (DropOldestWhenFull keeps one).
	m := b.g.Join(ctx, b, actor.QueueSize(1), actor.DropOldestWhenFull())
	return b, m
}

// push queues ev for the member and wakes its pump, or, when the backlog
// is full, counts ev as missed. It reports whether the member has been
// behind for longer than behindGrace. Room's goroutine.
func (b *backlog) push(ev *chatpb.ServerEvent, now time.Time) (tooSlow bool) {
	size := eventSize(ev)
	b.mu.Lock()
	// The pump needs waking only if it may have found the backlog empty;
	// otherwise it has yet to pop what is queued, and pops this after.
	wake := b.head == len(b.q)
	b.recoverLocked()
	if !b.behindSince.IsZero() || b.bytes > 0 && b.bytes+size > backlogBytes {
		if b.behindSince.IsZero() {
			b.behindSince = now
		}
		b.missLocked(ev)
		tooSlow = now.Sub(b.behindSince) > behindGrace
		b.mu.Unlock()
		return tooSlow
	}
	b.q = append(b.q, ev)
	b.bytes += size
	b.mu.Unlock()
	if wake {
		b.g.Broadcast(wakeToken)
	}
	return false
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

// pop takes the oldest waiting event, nil if none. A member that has
// caught up gets its Gap here too, if no push came to queue it.
func (b *backlog) pop() *chatpb.ServerEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recoverLocked()
	if b.head == len(b.q) {
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

// Send is called by the member's pump with a wake token: it delivers the
// waiting events to the conversation, each Send waiting while the
// conversation's outbound mailbox is full, until none is left.
func (b *backlog) Send(ctx context.Context, _ *chatpb.ServerEvent) error {
	for {
		ev := b.pop()
		if ev == nil {
			return nil
		}
		if err := b.dst.Send(ctx, ev); err != nil {
			return err
		}
	}
}

// TrySend is not used by the pump; it satisfies mailbox.Sender.
func (b *backlog) TrySend(*chatpb.ServerEvent) error { return mailbox.ErrFull }

// Done is closed when the conversation's outbound mailbox is.
func (b *backlog) Done() <-chan struct{} { return b.dst.Done() }
