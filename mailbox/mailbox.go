package mailbox

import (
	"context"
	"errors"
	"io"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"github.com/parleyrpc/parley/wire"
)

// ErrClosed is returned by Send and TrySend once the mailbox has been
// closed: nothing more can be delivered through it.
var ErrClosed = errors.New("mailbox: closed")

// ErrFull is returned by TrySend when the mailbox holds as many messages as
// its capacity allows.
var ErrFull = errors.New("mailbox: full")

// End is a mailbox's terminal event. It is delivered exactly once, after
// every message that was accepted before the mailbox was closed.
//
// Err is nil for a clean end (the peer half-closed, or the call finished
// with status OK); otherwise it is the failure, usually a *wire.Error
// carrying a gRPC status. Trailer holds the trailing metadata that came with
// the end; it may be nil.
type End struct {
	Err     error
	Trailer wire.Metadata
}

// Receiver is the reading side of a mailbox. Any number of goroutines may
// receive concurrently; each message goes to exactly one of them.
type Receiver[T any] interface {
	// C returns the channel messages arrive on, for use in a select. It is
	// closed after the last message, once the mailbox has been closed;
	// End then reports the terminal event.
	C() <-chan T
	// Recv waits for the next message. At the end it returns io.EOF for a
	// clean end or the failure error otherwise; it returns ctx.Err() if ctx
	// ends first, without ending the mailbox.
	Recv(ctx context.Context) (T, error)
	// End returns the terminal event and true once the mailbox has been
	// closed (messages may still be buffered), or the zero End and false
	// before that.
	End() (End, bool)
	// Done is closed when the mailbox is closed.
	Done() <-chan struct{}
	// Len reports how many messages are buffered.
	Len() int
}

// Sender is the writing side of a mailbox. Any number of goroutines may send
// concurrently; messages from one goroutine are received in the order that
// goroutine sent them.
type Sender[T any] interface {
	// Send delivers v, blocking while the mailbox is full. It returns
	// ctx.Err() if ctx ends first and ErrClosed if the mailbox is (or
	// becomes) closed; in both cases v was not delivered.
	Send(ctx context.Context, v T) error
	// TrySend delivers v if there is room, or returns ErrFull at once.
	TrySend(v T) error
	// Done is closed when the mailbox is closed.
	Done() <-chan struct{}
}

// Mailbox is a bounded FIFO queue of T with a terminal event. The zero value
// is not usable; create one with New.
//
// Concurrency: Send, TrySend, SendDropOldest, Recv, C, End, Done, Len and
// Close may all be called from any goroutine at any time. Close is
// idempotent: the first call decides the terminal event and later calls
// change nothing.
//
// Its channels are made by the first call that needs them (lazyChan),
// so that a mailbox nobody has sent to or waited on, such as an idle
// call's outbound one, holds no buffer.
type Mailbox[T any] struct {
	// ch holds the buffered messages. Written by senders while they hold
	// mu for reading; closed by Close while it holds mu for writing, so no
	// send can race with the close. Read by receivers.
	ch lazyChan[T]
	// closing is closed at the start of Close to release blocked senders.
	closing lazyChan[struct{}]
	// lazyMu guards the making and closing of ch and closing.
	lazyMu sync.Mutex
	size   int
	shut   atomic.Bool // Close has begun

	closeOnce sync.Once
	mu        sync.RWMutex
	// end is written once by Close under mu (write lock) before ch is
	// closed; it is read under mu.
	end    End
	closed bool // guarded by mu
}

// New returns an open mailbox that buffers up to capacity messages. A
// capacity of zero makes every Send wait for a receiver.
func New[T any](capacity int) *Mailbox[T] {
	return &Mailbox[T]{size: max(capacity, 0)}
}

// lazyChan is a channel made by its first use, under the mailbox's
// lazyMu: closed from the start if Close came first.
type lazyChan[E any] struct {
	c      chan E // set once, before made
	made   atomic.Bool
	closed bool // closed, or to be made closed; guarded by lazyMu
}

// get returns the channel, making it if it has not been.
func (l *lazyChan[E]) get(mu *sync.Mutex, size int) chan E {
	if l.made.Load() {
		return l.c
	}
	mu.Lock()
	defer mu.Unlock()
	if !l.made.Load() {
		l.c = make(chan E, size)
		if l.closed {
			close(l.c)
		}
		l.made.Store(true)
	}
	return l.c
}

// close closes the channel if it has been made, and makes it closed
// otherwise.
func (l *lazyChan[E]) close(mu *sync.Mutex) {
	mu.Lock()
	defer mu.Unlock()
	l.closed = true
	if l.made.Load() {
		close(l.c)
	}
}

// channel returns ch's channel.
func (m *Mailbox[T]) channel() chan T { return m.ch.get(&m.lazyMu, m.size) }

// doneChan returns closing's channel.
func (m *Mailbox[T]) doneChan() chan struct{} { return m.closing.get(&m.lazyMu, 0) }

// Send delivers v, blocking while the mailbox is full: this is backpressure.
// It returns ctx.Err() if ctx ends first and ErrClosed if the mailbox is or
// becomes closed; in both cases v was not delivered.
func (m *Mailbox[T]) Send(ctx context.Context, v T) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	// Fast path: room in the buffer and nobody closing.
	if err := m.trySendLocked(v); err != ErrFull {
		return err
	}
	select {
	case m.channel() <- v:
		return nil
	case <-m.doneChan():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TrySend delivers v if there is room, or returns ErrFull (or ErrClosed)
// without waiting.
func (m *Mailbox[T]) TrySend(v T) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.trySendLocked(v)
}

// trySendLocked is TrySend with m.mu held for reading.
func (m *Mailbox[T]) trySendLocked(v T) error {
	if m.shut.Load() { // set before closed
		return ErrClosed
	}
	select {
	case m.channel() <- v:
		return nil
	default:
		return ErrFull
	}
}

// SendDropOldest delivers v without waiting; when the mailbox is full it
// discards the oldest buffered message to make room and reports how many
// messages it discarded. It returns ErrClosed if the mailbox is closed.
func (m *Mailbox[T]) SendDropOldest(v T) (dropped int, err error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, ErrClosed
	}
	ch := m.channel()
	if m.size == 0 {
		select {
		case ch <- v:
			return 0, nil
		default:
			return 1, nil // nothing buffered to drop: v itself is the oldest loser
		}
	}
	for {
		if m.shut.Load() {
			return dropped, ErrClosed
		}
		select {
		case ch <- v:
			return dropped, nil
		default:
		}
		select {
		case <-ch:
			dropped++
		default:
		}
	}
}

// Close ends the mailbox with the terminal event end. Messages already
// accepted stay receivable; receivers see end after them. Blocked senders
// return ErrClosed. Close is idempotent and returns true only for the call
// that closed the mailbox.
func (m *Mailbox[T]) Close(end End) bool {
	closed := false
	m.closeOnce.Do(func() {
		m.shut.Store(true)
		m.closing.close(&m.lazyMu)
		m.mu.Lock()
		m.end = end
		m.closed = true
		m.ch.close(&m.lazyMu)
		m.mu.Unlock()
		closed = true
	})
	return closed
}

// C returns the channel messages arrive on. It is closed after the last
// message once the mailbox is closed; End then holds the terminal event.
func (m *Mailbox[T]) C() <-chan T { return m.channel() }

// Recv waits for the next message. After the last message it returns io.EOF
// for a clean end or the End's error otherwise. If ctx ends first it returns
// ctx.Err() and the mailbox is unaffected.
func (m *Mailbox[T]) Recv(ctx context.Context) (T, error) {
	// A message already buffered is returned even if ctx is done.
	ch := m.channel()
	select {
	case v, ok := <-ch:
		return m.received(v, ok)
	default:
	}
	select {
	case v, ok := <-ch:
		return m.received(v, ok)
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// received is Recv's result for v, ok received from m.ch: v, or (once
// the channel is closed, v being zero) the terminal error.
func (m *Mailbox[T]) received(v T, ok bool) (T, error) {
	if !ok {
		return v, m.endErr()
	}
	return v, nil
}

// TryRecv returns the next buffered message without waiting. ok is false if
// none is buffered; err is the terminal error (io.EOF for a clean end) once
// the mailbox is closed and drained.
func (m *Mailbox[T]) TryRecv() (v T, ok bool, err error) {
	if !m.ch.made.Load() {
		// Nothing was ever sent: no buffer to look in.
		if end, ended := m.End(); ended {
			return v, false, endError(end)
		}
		return v, false, nil
	}
	select {
	case v, open := <-m.ch.c:
		if open {
			return v, true, nil
		}
		return v, false, m.endErr()
	default:
		return v, false, nil
	}
}

func (m *Mailbox[T]) endErr() error {
	end, _ := m.waitEnd()
	return endError(end)
}

// endError is what receiving returns at the end: io.EOF for a clean one.
func endError(end End) error {
	if end.Err == nil {
		return io.EOF
	}
	return end.Err
}

// End returns the terminal event and true once the mailbox is closed, or the
// zero End and false while it is open. Messages may still be buffered when
// it returns true.
func (m *Mailbox[T]) End() (End, bool) {
	if !m.shut.Load() {
		return End{}, false
	}
	return m.waitEnd()
}

// waitEnd waits for Close, once it has begun, to record the end, so that
// Done and End always agree. Close closes Done before it takes mu, so
// that blocked senders (which hold mu for reading) let go; once it waits
// for mu, no reader gets it before Close is done.
func (m *Mailbox[T]) waitEnd() (End, bool) {
	for {
		m.mu.RLock()
		end, closed := m.end, m.closed
		m.mu.RUnlock()
		if closed {
			return end, true
		}
		goruntime.Gosched()
	}
}

// Done returns a channel that is closed when Close is first called.
func (m *Mailbox[T]) Done() <-chan struct{} { return m.doneChan() }

// Len reports how many messages are buffered.
func (m *Mailbox[T]) Len() int {
	if !m.ch.made.Load() {
		return 0
	}
	return len(m.ch.c)
}

// Cap reports the mailbox's capacity.
func (m *Mailbox[T]) Cap() int { return m.size }

var (
	_ Receiver[int] = (*Mailbox[int])(nil)
	_ Sender[int]   = (*Mailbox[int])(nil)
)
