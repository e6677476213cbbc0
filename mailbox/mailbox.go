package mailbox

import (
	"context"
	"errors"
	"io"
	goruntime "runtime"
	"sync"

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
type Mailbox[T any] struct {
	// ch holds the buffered messages. Written by senders while they hold
	// mu for reading; closed by Close while it holds mu for writing, so no
	// send can race with the close. Read by receivers.
	ch chan T
	// closing is closed at the start of Close to release blocked senders.
	closing   chan struct{}
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
	if capacity < 0 {
		capacity = 0
	}
	return &Mailbox[T]{
		ch:      make(chan T, capacity),
		closing: make(chan struct{}),
	}
}

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
	case m.ch <- v:
		return nil
	case <-m.closing:
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
	if m.closed {
		return ErrClosed
	}
	select {
	case <-m.closing:
		return ErrClosed
	default:
	}
	select {
	case m.ch <- v:
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
	if cap(m.ch) == 0 {
		select {
		case m.ch <- v:
			return 0, nil
		default:
			return 1, nil // nothing buffered to drop: v itself is the oldest loser
		}
	}
	for {
		select {
		case <-m.closing:
			return dropped, ErrClosed
		case m.ch <- v:
			return dropped, nil
		default:
		}
		select {
		case <-m.ch:
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
		close(m.closing)
		m.mu.Lock()
		m.end = end
		m.closed = true
		close(m.ch)
		m.mu.Unlock()
		closed = true
	})
	return closed
}

// C returns the channel messages arrive on. It is closed after the last
// message once the mailbox is closed; End then holds the terminal event.
func (m *Mailbox[T]) C() <-chan T { return m.ch }

// Recv waits for the next message. After the last message it returns io.EOF
// for a clean end or the End's error otherwise. If ctx ends first it returns
// ctx.Err() and the mailbox is unaffected.
func (m *Mailbox[T]) Recv(ctx context.Context) (T, error) {
	// A message already buffered is returned even if ctx is done.
	select {
	case v, ok := <-m.ch:
		return m.received(v, ok)
	default:
	}
	select {
	case v, ok := <-m.ch:
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
	select {
	case v, open := <-m.ch:
		if open {
			return v, true, nil
		}
		return v, false, m.endErr()
	default:
		return v, false, nil
	}
}

func (m *Mailbox[T]) endErr() error {
	<-m.closing
	m.mu.RLock()
	err := m.end.Err
	m.mu.RUnlock()
	if err == nil {
		return io.EOF
	}
	return err
}

// End returns the terminal event and true once the mailbox is closed, or the
// zero End and false while it is open. Messages may still be buffered when
// it returns true.
func (m *Mailbox[T]) End() (End, bool) {
	select {
	case <-m.closing:
	default:
		return End{}, false
	}
	// Close has begun (Done is closed): wait for it to record the end, so
	// that Done and End always agree. Close closes Done before it takes
	// mu, so that blocked senders (which hold mu for reading) let go;
	// once it waits for mu, no reader gets it before Close is done.
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
func (m *Mailbox[T]) Done() <-chan struct{} { return m.closing }

// Len reports how many messages are buffered.
func (m *Mailbox[T]) Len() int { return len(m.ch) }

// Cap reports the mailbox's capacity.
func (m *Mailbox[T]) Cap() int { return cap(m.ch) }

var (
	_ Receiver[int] = (*Mailbox[int])(nil)
	_ Sender[int]   = (*Mailbox[int])(nil)
)
