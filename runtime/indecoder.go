package runtime

import (
	"context"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

// inDecoder decodes the messages of a request or response body into a call's
// inbound mailbox.
//
// No goroutine waits on an idle body: the transport calls notify when data
// arrives (transport.Body.SetNotify), and notify decodes the complete
// messages and hands them to the mailbox right there, without blocking. Only when the mailbox is full, or
// a message is costly to finish (large, compressed, or watched by a
// StatsHandler), does a goroutine take over; it blocks in Send as long as
// the receiver makes it, and exits once it has caught up with the body.
// While nobody reads the body, its HTTP/2 window is not credited, so the
// peer stops: that is the mailbox's backpressure.
type inDecoder[T any] struct {
	mr    msgReader
	codec wire.Codec
	in    *mailbox.Mailbox[*T]
	ctx   context.Context // ends a Send blocked on a full mailbox
	// owner hears of the messages and the end (decodeOwner); one
	// interface value rather than a func per event, which would each be
	// an allocation kept for the call's life.
	owner decodeOwner[T]

	// One goroutine at a time decodes; mu hands that role over.
	mu       sync.Mutex
	running  bool          // a goroutine is decoding
	again    bool          // more arrived while running
	stopped  bool          // stop was called: no new runs
	idle     chan struct{} // closed when running ends, for stop
	pending  *T            // decoded, not yet in the mailbox; owned by the running goroutine
	pendSize int           // pending's payload size, decompressed; owned likewise
	pendRaw  []byte        // read, not yet decoded; owned by the running goroutine
	finished bool          // end was called; guarded by mu

	// ahead is the payload sizes of the messages handed to the mailbox
	// that may still be in it (the newest in.Len() of them), for the
	// bound on the bytes decoded ahead of the receiver (waitRoom). Owned
	// by the running goroutine.
	ahead aheadRing
}

// decodeOwner is what an inDecoder delivers to besides its mailbox. Its
// methods are called by whichever goroutine is decoding, and must not
// block.
type decodeOwner[T any] interface {
	// decodeEnded receives the body's end: io.EOF after the last
	// message, or why it failed (a *wire.Error for a bad message, the
	// reader's or the context's error otherwise). Called once.
	decodeEnded(err error)
	// decoded is called after each message handed over.
	decoded()
	// offer may take a message in place of the mailbox, which is then
	// empty (a conversation's pump delivers it first); false leaves it
	// to the mailbox.
	offer(v *T) bool
}

// endFunc is a decodeOwner that only hears of the end. A func value is
// stored in an interface without an allocation.
type endFunc[T any] func(err error)

func (f endFunc[T]) decodeEnded(err error) { f(err) }
func (endFunc[T]) decoded()                {}
func (endFunc[T]) offer(*T) bool           { return false }

// aheadRing is a FIFO of the payload sizes of the last messages handed to
// a mailbox, with their sum.
type aheadRing struct {
	sizes []int // ring storage, allocated when first needed
	head  int
	n     int
	sum   int
}

func (r *aheadRing) push(size, capacity int) {
	if r.sizes == nil {
		r.sizes = make([]int, max(capacity, 1))
	}
	if r.n == len(r.sizes) { // cannot happen with capacity = the mailbox's
		r.sum -= r.sizes[r.head]
		r.head = (r.head + 1) % len(r.sizes)
		r.n--
	}
	r.sizes[(r.head+r.n)%len(r.sizes)] = size
	r.n++
	r.sum += size
}

// queued returns the bytes of the messages still in a mailbox that holds
// inLen of them: the older ones were received.
func (r *aheadRing) queued(inLen int) int {
	for r.n > inLen {
		r.sum -= r.sizes[r.head]
		r.head = (r.head + 1) % len(r.sizes)
		r.n--
	}
	return r.sum
}

// start begins decoding body into in.
func (p *inDecoder[T]) start(body transport.Body) {
	p.mr.r = readerFunc(body.TryRead)
	body.SetNotify(p.notify)
	p.notify() // for what arrived before SetNotify
}

// notify runs on the transport's reading goroutine when data or the end
// arrives: it decodes what it can unless another goroutine is at it.
func (p *inDecoder[T]) notify() {
	p.mu.Lock()
	if p.running {
		p.again = true
		p.mu.Unlock()
		return
	}
	if p.stopped || p.finished {
		p.mu.Unlock()
		return
	}
	p.running = true
	p.mu.Unlock()
	p.run(false)
}

// run decodes until the body has nothing more for now (push), or its end.
// With blocking false it never blocks: at a full mailbox or a costly
// message it hands over to a new goroutine.
func (p *inDecoder[T]) run(blocking bool) {
	for {
		if p.pendRaw != nil {
			raw := p.pendRaw
			if blocking && p.mr.bulky(raw) {
				if err := p.waitRoom(len(raw)); err != nil {
					p.finish(err)
					return
				}
			}
			p.pendRaw = nil
			payload, err := p.mr.inflate(raw)
			if err == nil {
				v := new(T)
				if err = decodeMessage(p.codec, payload, v); err == nil {
					p.pending, p.pendSize = v, len(payload)
				}
			}
			if err != nil {
				p.finish(err)
				return
			}
		}
		if v := p.pending; v != nil {
			var err error
			switch {
			case blocking:
				err = p.in.Send(p.ctx, v)
			case p.owner.offer(v):
				// Taken while the mailbox is empty, as one message
				// always may be: not counted ahead.
				p.pending = nil
				p.owner.decoded()
				continue
			default:
				if err = p.in.TrySend(v); err == mailbox.ErrFull {
					go p.run(true)
					return
				}
			}
			if err != nil {
				p.finish(err)
				return
			}
			p.ahead.push(p.pendSize, p.in.Cap())
			p.pending = nil
			p.owner.decoded()
		}
		raw, ok, err := p.mr.step()
		switch {
		case err != nil:
			p.finish(err)
			return
		case ok && !blocking && p.mr.costly(raw):
			p.pendRaw = raw
			go p.run(true)
			return
		case ok:
			p.pendRaw = raw
		case p.park():
			return
		}
	}
}

// maxDecodedAhead bounds the payload bytes of the messages decoded into a
// call's inbound mailbox and not yet received, besides its count
// (MailboxSize). Messages arrive compressed, and HTTP/2 flow control
// counts only what is on the wire: without it, a few KB of gzip a message
// would fill a mailbox with MailboxSize messages of MaxRecvMsgSize each.
// A message is always decoded when the mailbox is empty, so one larger
// than the bound still goes, alone.
const maxDecodedAhead = maxQueuedBytes

// waitRoom waits, before a bulky message of size bytes as sent is
// decompressed and decoded, until the messages still in the mailbox leave
// room for it under maxDecodedAhead (a compressed message counts as its
// size on the wire until it is decompressed), or the mailbox is empty.
// The mailbox's receivers take messages through a channel, so nothing
// signals a receive: it looks again after a yield, then after sleeps that
// double up to 10 ms. Only a call whose receiver lags behind messages
// totalling a megabyte waits here.
func (p *inDecoder[T]) waitRoom(size int) error {
	for i := 0; ; i++ {
		q := p.ahead.queued(p.in.Len())
		if q == 0 || q+size <= maxDecodedAhead {
			return nil
		}
		if err := p.ctx.Err(); err != nil {
			return err
		}
		if i < 8 {
			goruntime.Gosched()
			continue
		}
		time.Sleep(min(50*time.Microsecond<<min(i-8, 8), 10*time.Millisecond))
	}
}

// park ends a run that has caught up with the body; false if more arrived
// meanwhile, and the run goes on.
func (p *inDecoder[T]) park() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.again {
		p.again = false
		return false
	}
	p.running = false
	p.wakeStop()
	return true
}

// finish reports the body's end and ends the run for good.
func (p *inDecoder[T]) finish(err error) {
	p.owner.decodeEnded(err)
	p.mu.Lock()
	p.finished = true
	p.running = false
	p.wakeStop()
	p.mu.Unlock()
}

// wakeStop releases a stop waiting for the run to end. p.mu held.
func (p *inDecoder[T]) wakeStop() {
	if p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
}

// stop waits for a running decode to end and starts no new one. The body
// must have been closed and ctx ended first, so that the run cannot be
// blocked on either.
func (p *inDecoder[T]) stop() {
	p.mu.Lock()
	p.stopped = true
	if !p.running {
		p.mu.Unlock()
		return
	}
	idle := make(chan struct{})
	p.idle = idle
	p.mu.Unlock()
	<-idle
}

// readerFunc is an io.Reader made of a Read method.
type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
