package h2

import (
	"bufio"
	"bytes"
	"net"
	goruntime "runtime"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// itemKind says which frame an item becomes.
type itemKind uint8

const (
	itemHeaders itemKind = iota
	itemData
	itemWindowUpdate
	itemRST
	itemPing
	itemSettings
	itemSettingsAck
	itemGoAway
)

// item is one frame (or header block) queued for the writer goroutine.
type item struct {
	kind   itemKind
	sid    uint32
	end    bool                // END_STREAM
	fields []hpack.HeaderField // itemHeaders
	data   []byte              // itemData: a slice of buf, or of an earlier item's buf
	buf    *[]byte             // itemData: returned to its pool once written
	s      *sendState          // itemHeaders, itemData: the sending stream
	code   http2.ErrCode       // itemRST, itemGoAway
	n      uint32              // itemWindowUpdate: increment; itemGoAway: last stream id
	ack    bool                // itemPing
	ping   [8]byte             // itemPing
	set    []http2.Setting     // itemSettings; itemSettingsAck: the peer's settings to apply first
	debug  []byte              // itemGoAway: debug data
	// ctrl marks an answer to the peer's control frame (PING or SETTINGS
	// ACK, a stream reset), counted in conn.ctrlQueued while queued.
	ctrl bool
}

// writer is a connection's one writing goroutine, after grpc-go's
// loopyWriter: every goroutine queues frames with push; the writer drains
// the whole queue into a bufio.Writer and flushes only when the queue is
// empty, so frames queued together, or while it was writing, go out in one
// syscall. The writer owns the HPACK encoder and the peer's frame size.
type writer struct {
	c *conn

	// mu guards the queue. Pushers take it after conn.mu when they hold
	// both; the writer never holds it while taking conn.mu.
	mu       sync.Mutex
	q        []item // guarded by mu
	sleeping bool   // guarded by mu: the writer waits on wake
	parked   bool   // guarded by mu: the writer goroutine exited while idle; push starts another
	closing  bool   // guarded by mu: write what is queued, then stop
	wake     chan struct{}
	done     chan struct{} // closed when the writer goroutine has ended

	// Owned by the writer goroutine.
	nc       net.Conn
	bw       *bufio.Writer
	fr       *http2.Framer
	henc     *hpack.Encoder
	hbuf     bytes.Buffer
	maxFrame uint32 // the peer's SETTINGS_MAX_FRAME_SIZE
	spare    []item
	failed   bool // a write failed: drop everything from now on
	fhdr     [9]byte
	// writeTimeout bounds each write to the socket (armDeadline): a peer
	// that stops reading cannot hold the writer, and what it queued, for
	// longer. Set before run.
	writeTimeout time.Duration
	armedAt      time.Time // when the write deadline was last pushed back
	// dlMu orders armDeadline with shutdown's final deadline; final is
	// set once shutdown has set it.
	dlMu  sync.Mutex
	final bool
	// linger, if set before shutdown, makes the writer half-close the
	// connection and wait (at most lingerTimeout) for linger to be closed
	// (the reader seeing the peer close) before closing it: the peer then
	// reads the final frames rather than a TCP reset.
	linger <-chan struct{}
}

// defaultWriteTimeout is how long a write to the socket may block before
// the connection is given up as a peer that does not read. A variable for
// tests.
var defaultWriteTimeout = 20 * time.Second

const (
	writeBufferSize = 32 << 10
	// yieldBelow: a batch smaller than this is held for one scheduler
	// yield before it is flushed.
	yieldBelow = 16 << 10
)

func newWriter(c *conn, nc net.Conn) *writer {
	w := &writer{
		c:        c,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		nc:       nc,
		maxFrame: 16 << 10,

		writeTimeout: defaultWriteTimeout,
	}
	w.bw = writeBuffers.Get().(*bufio.Writer)
	w.bw.Reset(nc)
	w.fr = http2.NewFramer(bwProxy{w}, nil)
	w.henc = hpack.NewEncoder(&w.hbuf)
	return w
}

// push queues items, in order, for the writer. Items pushed by one call
// are contiguous in the queue. It never blocks on the network.
func (w *writer) push(items ...item) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		for i := range items {
			w.uncount(&items[i])
			w.drop(&items[i])
		}
		return
	}
	w.q = append(w.q, items...)
	wake, start := w.rouseLocked()
	w.mu.Unlock()
	if wake {
		w.wake <- struct{}{}
	}
	if start {
		go w.run()
	}
}

// rouseLocked takes the writer out of its sleep or its park, for the
// caller to finish once it has released w.mu: wake means a send on
// w.wake, start a new w.run goroutine. Called with w.mu held.
func (w *writer) rouseLocked() (wake, start bool) {
	wake, start = w.sleeping, w.parked
	w.sleeping, w.parked = false, false
	return wake, start
}

// shutdown makes the writer write what is queued, flush, close the
// connection and end. Writes are bounded by a deadline so that a peer that
// does not read cannot hold the writer.
func (w *writer) shutdown() {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return
	}
	w.closing = true
	wake, start := w.rouseLocked()
	w.mu.Unlock()
	if start {
		go w.run()
	}
	w.dlMu.Lock()
	w.final = true
	_ = w.nc.SetWriteDeadline(time.Now().Add(time.Second))
	w.dlMu.Unlock()
	if wake {
		w.wake <- struct{}{}
	}
}

// run is the writer goroutine. It exits when the writer is done, or when it
// has had nothing to write for bufferIdle: then the next push starts it
// again, so that an idle connection holds no writing goroutine.
func (w *writer) run() {
	ended := false
	defer func() {
		if ended {
			w.closeConn()
			close(w.done)
		}
	}()
	yielded := false
	var idleTimer *time.Timer
	for {
		w.mu.Lock()
		for len(w.q) == 0 {
			if w.closing {
				w.mu.Unlock()
				w.flush()
				ended = true
				return
			}
			if n := w.buffered(); n > 0 {
				w.mu.Unlock()
				if !yielded && n < yieldBelow && w.c.busy() {
					// A small batch while other streams are open: let the
					// goroutines about to queue more (their next
					// messages) run first, as grpc-go's loopyWriter
					// does, for fewer, larger writes. A lone stream (a
					// ping-pong) would only wait longer.
					yielded = true
					goruntime.Gosched()
				} else {
					// The queue is empty: now is the time to flush, and
					// to give the buffer back until there is more.
					w.flush()
					w.releaseBuffer()
					yielded = false
				}
				w.mu.Lock()
				continue
			}
			w.sleeping = true
			w.mu.Unlock()
			if idleTimer == nil {
				idleTimer = time.NewTimer(bufferIdle)
			} else {
				idleTimer.Reset(bufferIdle)
			}
			select {
			case <-w.wake:
				idleTimer.Stop()
			case <-idleTimer.C:
				w.idle() // still the writer: a push now sends wake
				w.mu.Lock()
				if w.sleeping { // nobody woke it: park
					w.sleeping = false
					w.parked = true
					w.q = nil
					w.mu.Unlock()
					return
				}
				w.mu.Unlock()
				<-w.wake // a push is sending it
			}
			w.mu.Lock()
		}
		batch := w.q
		w.q = w.spare[:0]
		w.mu.Unlock()
		w.armDeadline()
		for i := range batch {
			w.write(&batch[i])
			batch[i] = item{}
		}
		w.spare = batch
	}
}

// buffered reports the bytes written and not yet flushed.
func (w *writer) buffered() int {
	if w.bw == nil {
		return 0
	}
	return w.bw.Buffered()
}

// idle gives the bufio.Writer back to the pool while there is nothing to
// write: buffer takes one again. Writer goroutine, with nothing buffered.
func (w *writer) idle() {
	w.releaseBuffer()
	w.spare = nil // the queue's spare array, as large as the last burst
}

// releaseBuffer gives the bufio.Writer back to the pool if nothing is
// buffered: a connection holds one only while it writes. Writer goroutine.
func (w *writer) releaseBuffer() {
	if w.bw != nil && w.bw.Buffered() == 0 {
		w.bw.Reset(nil)
		writeBuffers.Put(w.bw)
		w.bw = nil
	}
}

// buffer returns the bufio.Writer, taking one from the pool if the writer
// was idle. Writer goroutine (or before it runs).
func (w *writer) buffer() *bufio.Writer {
	if w.bw == nil {
		w.bw = writeBuffers.Get().(*bufio.Writer)
		w.bw.Reset(w.nc)
	}
	return w.bw
}

// closeConn closes the socket when the writer ends.
func (w *writer) closeConn() {
	if w.bw != nil { // what a failed write left is dropped
		w.bw.Reset(nil)
		writeBuffers.Put(w.bw)
		w.bw = nil
	}
	if w.linger != nil && !w.failed {
		if cw, ok := w.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			t := time.NewTimer(lingerTimeout)
			select {
			case <-w.linger:
			case <-t.C:
			}
			t.Stop()
		}
	}
	w.nc.Close()
}

// armDeadline makes sure a write starting now may block for at least
// three quarters of writeTimeout and at most writeTimeout. It moves the
// socket's deadline only when a quarter of the timeout has passed since it
// last did, so that a busy connection pays one clock read per batch, not a
// deadline change. Writer goroutine.
func (w *writer) armDeadline() {
	if w.writeTimeout <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(w.armedAt) < w.writeTimeout/4 {
		return
	}
	w.armedAt = now
	w.dlMu.Lock()
	if !w.final {
		_ = w.nc.SetWriteDeadline(now.Add(w.writeTimeout))
	}
	w.dlMu.Unlock()
}

func (w *writer) flush() {
	if w.failed || w.buffered() == 0 {
		return
	}
	w.armDeadline()
	if err := w.buffer().Flush(); err != nil {
		w.fail(err)
	}
}

// fail marks the connection broken after a write error.
func (w *writer) fail(err error) {
	if w.failed {
		return
	}
	w.failed = true
	w.c.close(errConnLost(err))
}

// drop discards an item that will not be written, releasing what it holds.
func (w *writer) drop(it *item) {
	if it.kind == itemData {
		w.c.unqueue(it.s, len(it.data), true)
		putBuf(it.buf)
	}
}

// uncount takes a control answer out of conn.ctrlQueued.
func (w *writer) uncount(it *item) {
	if it.ctrl {
		w.c.ctrlQueued.Add(-1)
	}
}

// write writes one item's frames to the buffer. Writer goroutine only.
func (w *writer) write(it *item) {
	w.uncount(it)
	if w.failed {
		w.drop(it)
		return
	}
	var err error
	switch it.kind {
	case itemHeaders:
		if it.s != nil && it.s.isReset() {
			return
		}
		err = w.writeHeaders(it)
		w.c.sentStreamFrame.Store(true)
	case itemData:
		if it.s != nil && it.s.isReset() {
			w.drop(it)
			return
		}
		err = w.writeData(it)
		w.c.sentStreamFrame.Store(true)
		w.c.unqueue(it.s, len(it.data), false)
		putBuf(it.buf)
	case itemWindowUpdate:
		err = w.fr.WriteWindowUpdate(it.sid, it.n)
	case itemRST:
		err = w.fr.WriteRSTStream(it.sid, it.code)
	case itemPing:
		err = w.fr.WritePing(it.ack, it.ping)
	case itemSettings:
		err = w.fr.WriteSettings(it.set...)
	case itemSettingsAck:
		// Apply the peer's settings that concern the writer, then
		// acknowledge them (RFC 9113, 6.5.3).
		for _, s := range it.set {
			switch s.ID {
			case http2.SettingMaxFrameSize:
				w.maxFrame = s.Val
			case http2.SettingHeaderTableSize:
				w.henc.SetMaxDynamicTableSizeLimit(s.Val)
			}
		}
		err = w.fr.WriteSettingsAck()
	case itemGoAway:
		err = w.fr.WriteGoAway(it.n, it.code, it.debug)
	}
	if err != nil {
		w.fail(err)
	}
}

// writeHeaders encodes a header block and writes it as HEADERS and as many
// CONTINUATION frames as the peer's frame size requires.
func (w *writer) writeHeaders(it *item) error {
	w.hbuf.Reset()
	for _, f := range it.fields {
		if err := w.henc.WriteField(f); err != nil {
			return err
		}
	}
	block := w.hbuf.Bytes()
	max := int(w.maxFrame)
	first := block
	if len(first) > max {
		first = block[:max]
	}
	block = block[len(first):]
	if err := w.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: it.sid, BlockFragment: first, EndStream: it.end, EndHeaders: len(block) == 0,
	}); err != nil {
		return err
	}
	for len(block) > 0 {
		n := min(len(block), max)
		if err := w.fr.WriteContinuation(it.sid, n == len(block), block[:n]); err != nil {
			return err
		}
		block = block[n:]
	}
	return nil
}

// writeData writes a DATA payload in frames of at most the peer's frame
// size. The 9-byte frame header and payload go straight into the buffer.
func (w *writer) writeData(it *item) error {
	p := it.data
	for {
		n := min(len(p), int(w.maxFrame))
		var flags byte
		if it.end && n == len(p) {
			flags = byte(http2.FlagDataEndStream)
		}
		w.fhdr = [9]byte{byte(n >> 16), byte(n >> 8), byte(n), byte(http2.FrameData), flags,
			byte(it.sid >> 24), byte(it.sid >> 16), byte(it.sid >> 8), byte(it.sid)}
		if _, err := w.buffer().Write(w.fhdr[:]); err != nil {
			return err
		}
		if _, err := w.buffer().Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}
