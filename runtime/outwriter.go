package runtime

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/parleyrpc/parley/mailbox"
)

// maxQueuedBytes bounds the bytes of framed messages a call's outbound
// mailbox holds, besides its count (MailboxSize): a peer that stops
// reading holds a call to this much, not to MailboxSize messages of the
// largest size. A message is always let in when the mailbox is empty, so a
// message larger than the bound still goes, alone.
const maxQueuedBytes = 1 << 20

// outWriter writes a call's outbound mailbox of framed messages to its HTTP/2
// stream from the senders' own goroutines, on both sides of a call.
//
// flush writes what is queued unless another goroutine is doing so: that
// one writes everything queued, the caller's message included. So a Send
// writes with no hop to a writer goroutine as long as HTTP/2 flow control
// lets its message go at once (sink.tryWrite). When it does not, a
// goroutine takes over the writing, waits for the window, and exits once
// the mailbox is empty; Send returns meanwhile. So Send blocks only while
// the mailbox is full (or until its context ends), never on the network,
// and a burst of Sends from several goroutines goes out together.
type outWriter struct {
	out      *mailbox.Mailbox[[]byte]
	attached atomic.Bool // to is set
	ended    atomic.Bool // out's end has been taken (and sink.closeSend called)

	// mu is held by the goroutine writing. It may be handed to the
	// goroutine that waits for flow control (writeBlocked): a sync.Mutex
	// may be unlocked by another goroutine than the one that locked it.
	mu sync.Mutex
	to sink // guarded by mu
	// held is a message taken from out and not yet written (hasHeld):
	// flow control held it back. Guarded by mu.
	held    []byte
	hasHeld bool
	// stopped drops what is still queued: the stream can take no more.
	// Guarded by mu.
	stopped bool

	// queued counts the bytes of the messages in out (maxQueuedBytes);
	// admit adds, taken subtracts. A sender over the bound waits on
	// room, which taken closes. Guarded by qmu.
	qmu    sync.Mutex
	queued int
	room   chan struct{}
}

// send queues the framed message f (nil asks for the headers) in out and
// writes what it can: with wait, blocking while out is full, in count or
// bytes, until ctx ends; without, failing with mailbox.ErrFull instead.
func (o *outWriter) send(ctx context.Context, f []byte, wait bool) error {
	if o.sendUnqueued(f) {
		return nil
	}
	if err := o.admit(ctx, len(f), wait); err != nil {
		return err
	}
	var err error
	if wait {
		err = o.out.Send(ctx, f)
	} else {
		err = o.out.TrySend(f)
	}
	if err != nil {
		o.taken(len(f))
		return err
	}
	o.flush()
	return nil
}

// sendUnqueued writes the framed message f without queueing it in out, if
// nothing is queued or held before it and no goroutine is writing: it
// reports whether it took f (written, or held for flow control with a
// goroutine to write it, as writeLocked does). A call that sends as it
// goes, and is not held back by flow control, so never touches its
// mailbox's channel, which is then never made: an idle conversation
// does not keep one, and a message skips a channel send and receive.
func (o *outWriter) sendUnqueued(f []byte) bool {
	if f == nil || !o.attached.Load() || o.out.Len() > 0 || !o.mu.TryLock() {
		return false
	}
	// Checked again with mu held: a message queued before this one is
	// written first, by the slow path, and Send reports a closed
	// mailbox.
	_, closed := o.out.End()
	took := !o.hasHeld && !o.stopped && o.out.Len() == 0 && !closed
	if took && o.tryWriteLocked(f) {
		return true // mu went with it
	}
	// Whoever lets mu go flushes after: a sender whose flush found mu
	// held meanwhile left its message to the holder, and this one may
	// block in Send next, with the mailbox full.
	o.mu.Unlock()
	o.flush()
	return took
}

// tryWriteLocked writes f if flow control lets it go at once. If not, it
// keeps f in held and hands the writing, and mu, to writeBlocked, and
// reports true. A failed write stops the outWriter. mu held.
func (o *outWriter) tryWriteLocked(f []byte) (handedOff bool) {
	sent, err := o.to.tryWrite(f)
	switch {
	case err != nil:
		o.fail()
	case !sent:
		o.held, o.hasHeld = f, true
		go o.writeBlocked()
		return true
	}
	return false
}

// admit counts n bytes into out, waiting (with wait) while that would take
// it past maxQueuedBytes.
func (o *outWriter) admit(ctx context.Context, n int, wait bool) error {
	for {
		o.qmu.Lock()
		if o.queued == 0 || o.queued+n <= maxQueuedBytes {
			o.queued += n
			o.qmu.Unlock()
			return nil
		}
		if !wait {
			o.qmu.Unlock()
			return mailbox.ErrFull
		}
		if o.room == nil {
			o.room = make(chan struct{})
		}
		room := o.room
		o.qmu.Unlock()
		select {
		case <-room:
		case <-o.out.Done():
			return mailbox.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// taken notes that n bytes left out (taken to be written, or dropped).
func (o *outWriter) taken(n int) {
	if n == 0 {
		return
	}
	o.qmu.Lock()
	o.queued -= n
	if o.room != nil {
		close(o.room)
		o.room = nil
	}
	o.qmu.Unlock()
}

// sink is the stream an outWriter writes to. Its methods are called with
// outWriter.mu held.
type sink interface {
	// tryWrite writes f if flow control lets all of it go now, and
	// reports false (writing nothing) otherwise.
	tryWrite(f []byte) (bool, error)
	// write writes f, waiting for flow control.
	write(f []byte) error
	// flush sends what write has written.
	flush() error
	// closeSend is called once out has ended and everything queued
	// before its end was written, unless the outWriter stopped.
	closeSend()
	// writeFailed is called when a write failed; nothing more is written.
	writeFailed()
}

// attach sets the sink and writes what was queued before it.
func (o *outWriter) attach(to sink) {
	o.mu.Lock()
	o.to = to
	o.attached.Store(true)
	o.mu.Unlock()
	o.flush()
}

// pending reports whether there is something to write: a message, or the
// mailbox's end.
func (o *outWriter) pending() bool {
	if o.out.Len() > 0 {
		return true
	}
	// End, not a poll of Done: that would make the mailbox's channel.
	if _, ended := o.out.End(); ended {
		return !o.ended.Load()
	}
	return false
}

// flush writes what is queued, without ever waiting for flow control.
func (o *outWriter) flush() {
	if !o.attached.Load() {
		return
	}
	for o.pending() {
		if !o.mu.TryLock() {
			return // the holder checks again after it unlocks
		}
		if !o.writeLocked(false) {
			return // handed off, with mu, to writeBlocked
		}
		o.mu.Unlock()
	}
}

// writeBlocked writes what is queued, waiting for flow control, then lets
// mu go. It runs on a goroutine of its own, holding the mu its starter
// locked.
func (o *outWriter) writeBlocked() {
	o.writeLocked(true)
	o.mu.Unlock()
	o.flush()
}

// writeLocked takes everything queued in out and, unless stopped, writes
// it. With wait, it writes with sink.write, waiting for flow control, and
// flushes once. Without, it writes each message with sink.tryWrite and, at
// the first that cannot go at once, keeps it in held and hands the rest,
// and mu, to writeBlocked: then it returns false. mu held.
func (o *outWriter) writeLocked(wait bool) bool {
	wrote := false
	for {
		f, ok := o.held, o.hasHeld
		o.held, o.hasHeld = nil, false
		if !ok {
			var open bool
			select {
			case f, open = <-o.out.C():
				if !open && !o.ended.Swap(true) && !o.stopped {
					o.to.closeSend()
				}
				ok = open
				o.taken(len(f))
			default:
			}
		}
		if !ok {
			break
		}
		if o.stopped {
			continue // drop: the stream can take no more
		}
		if !wait {
			if o.tryWriteLocked(f) {
				return false
			}
			continue
		}
		if err := o.to.write(f); err != nil {
			o.fail()
		}
		wrote = true
	}
	if wrote && !o.stopped {
		if err := o.to.flush(); err != nil {
			o.fail()
		}
	}
	return true
}

// fail stops the outWriter after a failed write. mu held.
func (o *outWriter) fail() {
	o.stopped = true
	o.to.writeFailed()
}
