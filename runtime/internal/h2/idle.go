package h2

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// Idle connections keep no buffers: a server connection that has had
// nothing to read for a while gives its read buffer back to a pool and
// waits for the next bytes with a 16-byte array instead, or parks without
// a goroutine where it can (park_linux.go), and a writer with nothing to
// write gives its bufio.Writer back and exits. A connection between
// bursts of traffic thus costs its state, not 64 KiB of buffers and two
// goroutines; one that is busy keeps its buffers and pays a clock reading
// a read.
//
// How long "a while" is adapts to the connection (idlePeriod): idleFirst
// at first, so that connections opened for a call or two and then kept
// (a pool's, a chat member's) let go of their goroutines and buffers
// soon, before thousands of them hold them at once; twice as long each
// time the reader or writer had to be started again for traffic, up to
// bufferIdle, so that a connection used every few hundred milliseconds
// stops paying a goroutine start and a wake-up for each call.
const (
	// A connection's read buffer starts at readBufferStart and grows to
	// readBufferSize once a read fills it: handshakes, unary calls and
	// chat lines never need more.
	readBufferStart = 4 << 10
	readBufferSize  = 32 << 10
	idleFirst       = 50 * time.Millisecond
	bufferIdle      = time.Second
)

// idlePeriod is a connection's reader's or writer's: how long it waits
// with nothing to do before letting go of its buffers and goroutine. The
// zero value is idleFirst.
type idlePeriod time.Duration

func (p idlePeriod) get() time.Duration {
	if p == 0 {
		return idleFirst
	}
	return time.Duration(p)
}

// lengthen doubles the period, up to bufferIdle: the reader or writer was
// started again for traffic after letting go.
func (p *idlePeriod) lengthen() { *p = idlePeriod(min(2*p.get(), bufferIdle)) }

// idleReader is the server connection's buffered reader (what
// bufio.Reader was): its buffer comes from the pool while data flows and
// goes back once the connection has been idle for its idle period. Until
// arm, and after disarm, it reads like a bufio.Reader whose buffer is
// taken on first use, and leaves the socket's read deadline to its owner.
// Reader goroutine.
type idleReader struct {
	nc      net.Conn
	sock    *directConn // reads nc's socket directly (readSocket), if not nil
	sockSet bool        // sock is as it will stay
	buf     *[]byte     // nil while idle
	r, w    int         // unread bytes are (*buf)[r:w]
	armed   bool
	armedAt time.Time // when the read deadline was last pushed back
	period  idlePeriod
	first   [16]byte
	// park lets an idle read end with errPark instead of waiting, where
	// the bytes read so far (total) end at the frame boundary mark: the
	// reader goroutine can then stop, and its connection park.
	park        bool
	total, mark int64
	// stall, if set, is called before each read from the socket, with
	// whether it is at the frame boundary mark: a non-nil error ends the
	// read with it (errInline).
	stall func(boundary bool) error
}

// errPark ends a read on an idle connection that may park.
var errPark = errors.New("h2: idle, parking")

// arm starts giving the buffer back while idle; the socket's read deadline
// is the reader's from now on.
func (b *idleReader) arm() { b.armed = true }

// disarm stops that, and lifts the deadline it set, so that the owner can
// set one of its own.
func (b *idleReader) disarm() {
	if b.armed {
		b.armed = false
		_ = b.nc.SetReadDeadline(time.Time{})
	}
}

// release gives the buffer back for good: the connection is over.
func (b *idleReader) release() {
	if b.buf != nil {
		putBuf(b.buf)
		b.buf = nil
	}
	b.r, b.w = 0, 0
}

// prefill gives an idle reader the bytes p, read from its socket by
// another (the poller's tend), to read before the socket's.
func (b *idleReader) prefill(p []byte) {
	if len(p) == 0 {
		return
	}
	if b.buf == nil || len(*b.buf) < len(p) {
		putBuf(b.buf)
		b.buf = getBuf(max(readBufferStart, len(p)))
	}
	b.r, b.w = 0, copy(*b.buf, p)
}

// Buffered reports how many bytes can be read without the socket.
func (b *idleReader) Buffered() int { return b.w - b.r }

// Read implements io.Reader.
func (b *idleReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.r == b.w {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*b.buf)[b.r:b.w])
	b.r += n
	b.total += int64(n)
	return n, nil
}

// parkable reports whether an idle read may end with errPark now.
func (b *idleReader) parkable() bool { return b.park && b.total == b.mark }

// fill reads what the socket has into an empty buffer.
func (b *idleReader) fill() error {
	b.r, b.w = 0, 0
	if b.stall != nil {
		if err := b.stall(b.total == b.mark); err != nil {
			return err
		}
	}
	if b.armed && b.buf == nil && b.parkable() {
		// Woken from parking: the socket was readable, so the bytes are
		// read straight into a buffer (one read, not a 16-byte one and
		// then the rest). If they are gone (woken for nothing), the read
		// below parks again once idle.
		b.buf = getBuf(readBufferStart)
	}
	if b.armed && b.buf != nil {
		if now, idle := time.Now(), b.period.get(); now.Sub(b.armedAt) > idle/4 {
			b.armedAt = now
			_ = b.nc.SetReadDeadline(now.Add(idle))
		}
		n, err := b.read(*b.buf)
		if n > 0 {
			b.w = n
			b.grow()
			return nil // an error comes again with the next read
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		// Idle: give the buffer back, and wait with none.
		b.release()
		b.armedAt = time.Time{}
		_ = b.nc.SetReadDeadline(time.Time{})
		if b.parkable() {
			return errPark
		}
	}
	if b.armed {
		// Idle and unable to park: wait without a buffer.
		n, err := b.read(b.first[:])
		if n == 0 {
			return err
		}
		b.buf = getBuf(readBufferStart)
		b.w = copy(*b.buf, b.first[:n])
		return nil
	}
	if b.buf == nil {
		b.buf = getBuf(readBufferStart)
	}
	n, err := b.read(*b.buf)
	if n == 0 {
		return err
	}
	b.w = n
	b.grow()
	return nil
}

// read reads the socket into p.
func (b *idleReader) read(p []byte) (int, error) {
	if !b.sockSet {
		var retry bool
		b.sock, retry = readSocket(b.nc)
		b.sockSet = !retry
	}
	if b.sock != nil {
		return b.sock.read(p)
	}
	return b.nc.Read(p)
}

// grow swaps a buffer that the last read filled for a full-size one, with
// the bytes read.
func (b *idleReader) grow() {
	if b.w < len(*b.buf) || len(*b.buf) >= readBufferSize {
		return
	}
	nb := getBuf(readBufferSize)
	copy(*nb, (*b.buf)[b.r:b.w])
	putBuf(b.buf)
	b.buf, b.w, b.r = nb, b.w-b.r, 0
}

// writeBuffers pools the writers' bufio.Writers while they are idle.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufferSize) }}
