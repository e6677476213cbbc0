package actor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/parleyrpc/parley/mailbox"
)

// DefaultQueueSize is a Group member's queue length unless QueueSize says
// otherwise.
const DefaultQueueSize = 16

// Group broadcasts messages to many recipients (members), each behind a
// bounded queue of its own that a goroutine per member pumps into the
// recipient, so one slow member never stalls Broadcast or the other
// members. A recipient is any mailbox.Sender[T]: a conversation's outbound
// mailbox (ServerCall.Out, ClientCall.Out), an actor's *Ref, a
// *mailbox.Mailbox.
//
// A Group is safe for concurrent use; typically one actor (a chat room)
// owns it and calls Broadcast from its handler, which never blocks. The same
// value T is given to every member, so it must not be modified after
// Broadcast.
type Group[T any] struct {
	mu      sync.Mutex
	members map[*Member[T]]struct{} // guarded by mu; removed by pump exit, disconnect, Close
	closed  bool                    // guarded by mu
	pumps   sync.WaitGroup          // one per member pump goroutine
}

// NewGroup returns an empty, open Group.
func NewGroup[T any]() *Group[T] {
	return &Group[T]{members: make(map[*Member[T]]struct{})}
}

// JoinOption configures one member at Join. Options are stateless values.
type JoinOption interface {
	applyJoin(*joinConfig)
}

type joinOptionFunc func(*joinConfig)

func (f joinOptionFunc) applyJoin(c *joinConfig) { f(c) }

type joinConfig struct {
	size       int
	disconnect bool
	reason     error
}

// QueueSize sets how many messages the member's queue holds between
// Broadcast and its recipient. The default is DefaultQueueSize (16); values
// below 1 mean 1.
func QueueSize(n int) JoinOption {
	return joinOptionFunc(func(c *joinConfig) { c.size = n })
}

// DropOldestWhenFull makes Broadcast evict the member's oldest queued
// message when its queue is full: a slow member misses messages but stays.
// Member.Dropped counts evictions. This is the default.
func DropOldestWhenFull() JoinOption {
	return joinOptionFunc(func(c *joinConfig) { c.disconnect = false })
}

// DisconnectWhenFull makes Broadcast remove the member when its queue is
// full: a slow member keeps every message it gets, in order, or is
// disconnected with reason (ErrSlowConsumer if nil), which Member.Err then
// reports. The default is DropOldestWhenFull.
func DisconnectWhenFull(reason error) JoinOption {
	return joinOptionFunc(func(c *joinConfig) { c.disconnect, c.reason = true, reason })
}

// Member is one recipient of a Group. Its methods are safe for concurrent
// use.
type Member[T any] struct {
	g   *Group[T]
	dst mailbox.Sender[T]
	cfg joinConfig

	// queue is written by Broadcast (under g.mu) and read by the pump.
	queue *mailbox.Mailbox[T]
	// ctx ends the pump: cancelled by Leave, a disconnect, Group.Close, or
	// the Join context. Its cause becomes err.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// done is closed by the pump when it exits, after writing err.
	done    chan struct{}
	err     error
	dropped atomic.Uint64 // written by Broadcast
}

// errLeft is the pump cancellation cause for Leave; Err reports nil for it.
var errLeft = errors.New("actor: member left")

// Join adds dst to the group and starts the member's pump goroutine. The
// member stays until Leave, until it is disconnected as too slow (with
// DisconnectWhenFull), until dst is closed or refuses a message (reason
// ErrRecipientClosed or dst's error), until ctx ends (reason
// context.Cause(ctx)), or until the group is closed (ErrGroupClosed, or
// Close's reason). Joining a closed group returns a member that is already
// done with ErrGroupClosed. Safe for concurrent use.
//
// Messages queued for a member that leaves are discarded; messages already
// handed to dst are dst's.
func (g *Group[T]) Join(ctx context.Context, dst mailbox.Sender[T], opts ...JoinOption) *Member[T] {
	cfg := joinConfig{size: DefaultQueueSize}
	for _, o := range opts {
		if o != nil {
			o.applyJoin(&cfg)
		}
	}
	if cfg.size < 1 {
		cfg.size = 1
	}
	if cfg.disconnect && cfg.reason == nil {
		cfg.reason = ErrSlowConsumer
	}
	if ctx == nil {
		ctx = context.Background()
	}
	m := &Member[T]{g: g, dst: dst, cfg: cfg, queue: mailbox.New[T](cfg.size), done: make(chan struct{})}
	m.ctx, m.cancel = context.WithCancelCause(ctx)

	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		m.cancel(ErrGroupClosed)
		m.queue.Close(mailbox.End{Err: ErrGroupClosed})
		m.err = ErrGroupClosed
		close(m.done)
		return m
	}
	g.members[m] = struct{}{}
	g.pumps.Add(1)
	g.mu.Unlock()
	go m.pump()
	return m
}

// Broadcast queues v for every current member without waiting and returns
// how many members accepted it. A full member queue evicts its oldest
// message or disconnects the member, as chosen at Join. Safe for concurrent
// use; concurrent Broadcasts reach every member in the same order only if
// the caller serialises them (an actor's handler does).
func (g *Group[T]) Broadcast(v T) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for m := range g.members {
		if m.cfg.disconnect {
			switch err := m.queue.TrySend(v); err {
			case nil:
				n++
			case mailbox.ErrFull:
				m.cancel(m.cfg.reason)
				delete(g.members, m)
			}
			continue
		}
		if d, err := m.queue.SendDropOldest(v); err == nil {
			n++
			if d > 0 {
				m.dropped.Add(uint64(d))
			}
		}
	}
	return n
}

// Len reports how many members the group has. Safe for concurrent use.
func (g *Group[T]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members)
}

// Close removes every member with reason (ErrGroupClosed if nil), refuses
// later Joins, and waits until every member's pump goroutine has returned
// (each is waiting at most for its recipient's Send to honour the
// cancelled context). Close is idempotent and safe for concurrent use, but
// must not be called from a recipient's Send.
func (g *Group[T]) Close(reason error) {
	if reason == nil {
		reason = ErrGroupClosed
	}
	g.mu.Lock()
	g.closed = true
	for m := range g.members {
		m.cancel(reason)
		delete(g.members, m)
	}
	g.mu.Unlock()
	g.pumps.Wait()
}

// Leave removes the member from its group; queued messages are discarded
// and Err reports nil. It returns at once; Done tells when the pump has
// stopped. Idempotent and safe for concurrent use.
func (m *Member[T]) Leave() { m.cancel(errLeft) }

// LeaveAfterDrain removes the member from its group like Leave, but its
// pump first delivers the messages already queued for it (each Send still
// bounded by the member's context), then stops; Done tells when the last
// was handed over, and Err reports nil. A member that leaves on purpose
// thus still gets everything broadcast before it left, in order.
// Idempotent and safe for concurrent use; after Leave it changes nothing.
func (m *Member[T]) LeaveAfterDrain() {
	m.g.mu.Lock()
	delete(m.g.members, m) // no Broadcast reaches the queue after this
	m.g.mu.Unlock()
	m.queue.Close(mailbox.End{Err: errLeft})
}

// Done returns a channel closed once the member has left the group for any
// reason and its pump goroutine has stopped.
func (m *Member[T]) Done() <-chan struct{} { return m.done }

// Err returns why the member left once Done is closed (nil for Leave), and
// nil before that.
func (m *Member[T]) Err() error {
	select {
	case <-m.done:
		return m.err
	default:
		return nil
	}
}

// Dropped reports how many messages DropOldestWhenFull has evicted from
// this member's queue.
func (m *Member[T]) Dropped() uint64 { return m.dropped.Load() }

// pump runs on the member's own goroutine and is the only reader of queue
// and the only caller of dst.Send.
func (m *Member[T]) pump() {
	var reason error
	defer func() {
		m.g.mu.Lock()
		delete(m.g.members, m)
		m.g.mu.Unlock()
		m.cancel(errLeft) // release the context if we stopped on our own
		m.queue.Close(mailbox.End{Err: reason})
		if reason == errLeft {
			reason = nil
		}
		m.err = reason
		close(m.done)
		m.g.pumps.Done()
	}()
	in, done, dstDone := m.queue.C(), m.ctx.Done(), m.dst.Done()
	for {
		select {
		case v, ok := <-in:
			if !ok {
				// LeaveAfterDrain closed the queue and it is drained.
				reason = errLeft
				return
			}
			if m.ctx.Err() != nil {
				// Left while this message was queued: it is discarded.
				reason = context.Cause(m.ctx)
				return
			}
			if err := m.dst.Send(m.ctx, v); err != nil {
				if m.ctx.Err() != nil {
					reason = context.Cause(m.ctx)
				} else if errors.Is(err, mailbox.ErrClosed) {
					reason = ErrRecipientClosed
				} else {
					reason = err
				}
				return
			}
		case <-done:
			reason = context.Cause(m.ctx)
			return
		case <-dstDone:
			reason = ErrRecipientClosed
			return
		}
	}
}
