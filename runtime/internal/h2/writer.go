package h2

import (
	"bufio"
	"encoding/binary"
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
	itemRaw // data: bytes of a frame that writeNow began, written as they are
	// itemStreamDone writes nothing: it follows a finished stream's last
	// frame, and the writer counts the stream written (conn.unwritten)
	// once it has reached it.
	itemStreamDone
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
	// claimer, while not nil, is the sending stream whose goroutine will
	// write the queue itself (claim, drainClaimed): rousing the writer
	// waits for it. Guarded by mu.
	claimer *sendState
	// directing is set while writeNow writes to the socket from another
	// goroutine: rousing the writer waits for its end. Guarded by mu.
	directing bool
	wake      chan struct{}
	done      chan struct{} // closed when the writer goroutine has ended
	period    idlePeriod    // guarded by mu: how long the writer sleeps before it parks

	// Owned by the writer goroutine.
	nc       net.Conn
	bw       *bufio.Writer
	henc     headerEncoder
	hblock   []byte // the header block being written; nil while idle
	maxFrame uint32 // the peer's SETTINGS_MAX_FRAME_SIZE
	spare    []item
	payloads [][]byte // the payloads of the DATA items writeDataRun merges
	failed   bool     // a write failed: drop everything from now on
	fhdr     [9]byte  // a frame's header, written by frame
	scratch  [8]byte  // a control frame's payload
	// writeTimeout bounds each write to the socket (armDeadline): a peer
	// that stops reading cannot hold the writer, and what it queued, for
	// longer. Set before run.
	writeTimeout time.Duration
	armedAt      time.Time // when the write deadline was last pushed back
	// dlMu orders armDeadline with shutdown's final deadline; final is
	// set once shutdown has set it.
	dlMu  sync.Mutex
	final bool
	// direct, if not nil, writes to the socket without blocking
	// (direct_unix.go): writeNow's, for TCP and Unix sockets, and
	// drainClaimed's.
	direct *directConn
	// nonBlocking makes sockWriter write what the socket takes at once
	// and keep the rest in stash, which the next blocking write sends
	// first. Owned by whoever writes for the writer, as stash is.
	nonBlocking bool
	stash       []byte
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
	w.bw.Reset(sockWriter{w})
	w.direct = newDirectConn(nc)
	return w
}

// push queues items, in order, for the writer. Items pushed by one call
// are contiguous in the queue. It never blocks on the network.
func (w *writer) push(items ...item) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		// The connection is closed (closing is set only then, by
		// shutdown): its windows and queue allowances count no more, so
		// the items only give back their buffers. The caller may hold
		// conn.mu (sendData's last), which drop would take again.
		for i := range items {
			w.uncount(&items[i])
			if items[i].kind == itemData {
				putBuf(items[i].buf)
			}
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
	if w.directing || w.claimer != nil {
		return false, false // writeNow or drainClaimed rouses it when done
	}
	wake, start = w.sleeping, w.parked
	w.sleeping, w.parked = false, false
	if start {
		w.period.lengthen()
	}
	return wake, start
}

// writeNow writes control frames (PING, RST_STREAM, WINDOW_UPDATE) to the
// socket from the calling goroutine, if the writer is idle with nothing
// queued, and reports whether it took them: false leaves them to push. A
// reader answering its peer's PING (grpc-go's clients send one after
// every response) thus does not wake the writer goroutine, which would
// cost a scheduler wake-up, and often a thread's, per frame. Answers
// that a flood of the peer's frames may provoke (resets, SETTINGS ACKs)
// are queued instead, where they count against maxQueuedControl. The write
// never blocks: what the socket does not take at once is queued first, for
// the writer.
func (w *writer) writeNow(items ...item) bool {
	if w.direct == nil || len(items) > 2 {
		return false
	}
	var fb [2 * (frameHeaderLen + 8)]byte
	p := fb[:0]
	for i := range items {
		var ok bool
		if p, ok = appendCtrlFrame(p, &items[i]); !ok {
			return false
		}
	}
	w.mu.Lock()
	if !w.idleLocked() {
		w.mu.Unlock()
		return false
	}
	// Asleep or parked, the writer has flushed everything: the socket is
	// ours until directing is cleared.
	w.directing = true
	w.mu.Unlock()
	n := w.direct.write(p)
	w.mu.Lock()
	w.directing = false
	if n < len(p) {
		// Written in part or not at all: the rest goes before anything
		// pushed meanwhile, which came later.
		var rest item
		if n == 0 && len(items) == 1 {
			rest, items = items[0], nil // queued as it came, still counted
		} else {
			rest = item{kind: itemRaw, data: append([]byte(nil), p[n:]...)}
		}
		w.q = append(w.q, item{})
		copy(w.q[1:], w.q)
		w.q[0] = rest
	}
	w.rouseAfterLocked()
	for i := range items {
		w.uncount(&items[i])
	}
	return true
}

// idleLocked reports whether the writer is asleep or parked with nothing
// queued, and no other goroutine writes for it: one may. w.mu is held.
func (w *writer) idleLocked() bool {
	return !w.closing && !w.directing && w.claimer == nil && len(w.q) == 0 &&
		(w.sleeping || w.parked) && len(w.stash) == 0
}

// claim makes the goroutine sending on s the writer for what it queues
// next, if the writer is idle, and reports whether it did: its pushes
// then queue without waking the writer goroutine, and drainClaimed writes
// them. A server answering a request on its reader goroutine
// (serveInline) thus reads, handles and writes without a hand-off. Until
// drainClaimed, the claimer must not wait for anything (acquire gives the
// claim up before it waits for window): what it queued waits with it.
func (w *writer) claim(s *sendState) bool {
	if w.direct == nil {
		return false // it could not write without blocking
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.idleLocked() {
		return false
	}
	w.claimer = s
	return true
}

// unclaim gives up s's claim, if it holds it, to the writer goroutine.
func (w *writer) unclaim(s *sendState) {
	w.mu.Lock()
	if w.claimer != s {
		w.mu.Unlock()
		return
	}
	w.claimer = nil
	w.rouseAfterLocked()
}

// rouseAfterLocked rouses the writer if anything waits for it, and
// releases w.mu.
func (w *writer) rouseAfterLocked() {
	var wake, start bool
	if len(w.q) > 0 || w.closing || len(w.stash) > 0 {
		wake, start = w.rouseLocked()
	}
	w.mu.Unlock()
	if wake {
		w.wake <- struct{}{}
	}
	if start {
		go w.run()
	}
}

// drainClaimed writes the queue, and flushes it, on the goroutine that
// claimed the writer for s, without blocking: what the socket does not
// take at once is left for the writer goroutine. Then it gives the writer
// back. Pushes by others meanwhile are written too, for a round; what
// comes after is the writer goroutine's.
func (w *writer) drainClaimed(s *sendState) {
	w.mu.Lock()
	if w.claimer != s {
		w.mu.Unlock()
		return
	}
	w.nonBlocking = true // claim made sure of w.direct
	for round := 0; len(w.q) > 0 && round < 2; round++ {
		w.writeQueued()
		w.flush()
		w.releaseBuffer()
		w.mu.Lock()
	}
	w.nonBlocking = false
	w.claimer = nil
	w.rouseAfterLocked()
}

// frameHeaderLen is the length of an HTTP/2 frame header.
const frameHeaderLen = 9

// appendCtrlFrame appends the frame of a PING, RST_STREAM or
// WINDOW_UPDATE item to p; false for any other item.
func appendCtrlFrame(p []byte, it *item) ([]byte, bool) {
	var (
		typ   http2.FrameType
		flags http2.Flags
		sid   uint32
		pl    [8]byte
		n     int
	)
	switch it.kind {
	case itemPing:
		typ, pl, n = http2.FramePing, it.ping, 8
		if it.ack {
			flags = http2.FlagPingAck
		}
	case itemRST:
		typ, sid, n = http2.FrameRSTStream, it.sid, 4
		binary.BigEndian.PutUint32(pl[:], uint32(it.code))
	case itemWindowUpdate:
		if it.n == 0 || it.n > 1<<31-1 {
			return p, false // the Framer's error, from the writer
		}
		typ, sid, n = http2.FrameWindowUpdate, it.sid, 4
		binary.BigEndian.PutUint32(pl[:], it.n)
	default:
		return p, false
	}
	p = append(p, 0, 0, byte(n), byte(typ), byte(flags),
		byte(sid>>24)&0x7f, byte(sid>>16), byte(sid>>8), byte(sid))
	return append(p, pl[:n]...), true
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

// run is the writer goroutine. It exits when the writer is done, or when
// it has had nothing to write for its idle period: then the next push
// starts it again, so that an idle connection holds no writing goroutine.
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
			idle := w.period.get()
			w.mu.Unlock()
			if idleTimer == nil {
				idleTimer = time.NewTimer(idle)
			} else {
				idleTimer.Reset(idle)
			}
			if w.sleepIdle(idleTimer, idle) {
				return // parked
			}
			w.mu.Lock()
		}
		w.writeQueued()
	}
}

// writeQueued takes the queue and writes it to the buffer. Called with
// w.mu held, which it releases, by whoever writes for the writer.
func (w *writer) writeQueued() {
	batch := w.q
	w.q = w.spare[:0]
	w.mu.Unlock()
	w.armDeadline()
	for i := 0; i < len(batch); {
		n := 1
		if batch[i].kind == itemData {
			n = w.writeDataRun(batch[i:])
		} else {
			w.write(&batch[i])
		}
		clear(batch[i : i+n])
		i += n
	}
	w.spare = batch
}

// writeDataRun writes the DATA item q[0], merged with the DATA items of
// the same stream that follow it in the queue into one frame, as long as
// they fit the peer's frame size, and reports how many items it wrote.
// A stream sending a burst of small messages (server streaming, client
// streaming) thus costs its peer a frame, and 9 bytes, a batch rather
// than a message: frame boundaries mean nothing to gRPC's messages.
func (w *writer) writeDataRun(q []item) int {
	first := &q[0]
	total := len(first.data)
	k := 1
	if !w.failed && total > 0 && total <= int(w.maxFrame) && !resetItem(first) {
		for k < len(q) && !q[k-1].end {
			it := &q[k]
			if it.kind != itemData || it.sid != first.sid ||
				total+len(it.data) > int(w.maxFrame) || resetItem(it) {
				break
			}
			total += len(it.data)
			k++
		}
	}
	if k == 1 {
		w.write(first)
		return 1
	}
	run := w.payloads[:0]
	for i := range q[:k] {
		run = append(run, q[i].data)
	}
	var flags http2.Flags
	if q[k-1].end {
		flags = http2.FlagDataEndStream
	}
	err := w.frame(http2.FrameData, flags, first.sid, run...)
	clear(run)
	w.payloads = run[:0]
	w.c.sentStreamFrame.Store(true)
	w.c.unqueue(first.s, total, false) // one stream: one sendState
	for i := range q[:k] {
		putBuf(q[i].buf)
	}
	if err != nil {
		w.fail(err)
	}
	return k
}

// sleepIdle waits, asleep, for a push, or parks the writer after idle
// with nothing to write (and reports true: the goroutine ends).
// Writer goroutine, with w.sleeping set.
func (w *writer) sleepIdle(t *time.Timer, idle time.Duration) (parked bool) {
	for {
		select {
		case <-w.wake:
			t.Stop()
			return false
		case <-t.C:
		}
		w.mu.Lock()
		if !w.sleeping {
			w.mu.Unlock()
			<-w.wake // a push is sending it
			return false
		}
		if w.directing || w.claimer != nil {
			// Another goroutine is writing: not idle.
			w.mu.Unlock()
			t.Reset(idle)
			continue
		}
		w.sleeping = false // the writer again, to let go of its buffers
		w.mu.Unlock()
		w.idle()
		w.mu.Lock()
		if len(w.q) > 0 || w.closing {
			w.mu.Unlock()
			return false
		}
		w.parked = true
		w.q = nil
		w.mu.Unlock()
		return true
	}
}

// buffered reports the bytes written and not yet flushed.
func (w *writer) buffered() int {
	if w.bw == nil {
		return len(w.stash)
	}
	return w.bw.Buffered() + len(w.stash)
}

// sockWriter is the writer's bufio.Writer's destination: the socket,
// after what is in stash; or, in nonBlocking mode, as much as the socket
// takes at once, the rest added to stash.
type sockWriter struct{ w *writer }

func (s sockWriter) Write(p []byte) (int, error) {
	w := s.w
	if w.nonBlocking {
		n := 0
		if len(w.stash) == 0 {
			n = w.direct.write(p)
		}
		w.stash = append(w.stash, p[n:]...)
		return len(p), nil
	}
	if len(w.stash) > 0 {
		if _, err := w.writeSocket(w.stash); err != nil {
			return 0, err
		}
		w.stash = nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	return w.writeSocket(p)
}

// writeSocket writes all of p to the connection.
func (w *writer) writeSocket(p []byte) (int, error) {
	if w.direct != nil {
		return w.direct.writeAll(p)
	}
	return w.nc.Write(p)
}

// idle gives the bufio.Writer back to the pool while there is nothing to
// write: buffer takes one again. Writer goroutine, with nothing buffered.
func (w *writer) idle() {
	w.releaseBuffer()
	w.spare = nil // the queue's spare array, as large as the last burst
	w.payloads = nil
	w.hblock = nil
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
		w.bw.Reset(sockWriter{w})
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
	var err error
	if w.bw != nil && w.bw.Buffered() > 0 {
		err = w.bw.Flush()
	} else {
		_, err = sockWriter{w}.Write(nil) // the stash
	}
	if err != nil {
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
	if it.kind == itemStreamDone {
		w.c.unwritten.Add(-1)
		return
	}
	if w.failed {
		w.drop(it)
		return
	}
	var err error
	switch it.kind {
	case itemHeaders:
		if resetItem(it) {
			return
		}
		err = w.writeHeaders(it)
		w.c.sentStreamFrame.Store(true)
	case itemData:
		if resetItem(it) {
			w.drop(it)
			return
		}
		err = w.writeData(it)
		w.c.sentStreamFrame.Store(true)
		w.c.unqueue(it.s, len(it.data), false)
		putBuf(it.buf)
	case itemWindowUpdate:
		err = w.frame(http2.FrameWindowUpdate, 0, it.sid, binary.BigEndian.AppendUint32(w.scratch[:0], it.n&0x7fffffff))
	case itemRST:
		err = w.frame(http2.FrameRSTStream, 0, it.sid, binary.BigEndian.AppendUint32(w.scratch[:0], uint32(it.code)))
	case itemPing:
		var flags http2.Flags
		if it.ack {
			flags = http2.FlagPingAck
		}
		err = w.frame(http2.FramePing, flags, 0, it.ping[:])
	case itemSettings:
		err = w.writeSettings(it.set)
	case itemSettingsAck:
		// Apply the peer's settings that concern the writer, then
		// acknowledge them (RFC 9113, 6.5.3).
		for _, s := range it.set {
			switch s.ID {
			case http2.SettingMaxFrameSize:
				w.maxFrame = s.Val
			case http2.SettingHeaderTableSize:
				w.henc.setMaxTableSizeLimit(s.Val)
			}
		}
		err = w.frame(http2.FrameSettings, http2.FlagSettingsAck, 0)
	case itemGoAway:
		p := binary.BigEndian.AppendUint32(w.scratch[:0], it.n&0x7fffffff)
		p = binary.BigEndian.AppendUint32(p, uint32(it.code))
		err = w.frame(http2.FrameGoAway, 0, 0, p, it.debug)
	case itemRaw:
		_, err = w.buffer().Write(it.data)
	}
	if err != nil {
		w.fail(err)
	}
}

// resetItem reports whether it belongs to a stream that was reset: its
// frames are not written.
func resetItem(it *item) bool { return it.s != nil && it.s.isReset() }

// writeHeaders encodes a header block and writes it as HEADERS and as many
// CONTINUATION frames as the peer's frame size requires.
func (w *writer) writeHeaders(it *item) error {
	w.hblock = w.henc.appendBlock(w.hblock[:0], it.fields)
	block := w.hblock
	max := int(w.maxFrame)
	first := block
	if len(first) > max {
		first = block[:max]
	}
	block = block[len(first):]
	var flags http2.Flags
	if it.end {
		flags |= http2.FlagHeadersEndStream
	}
	if len(block) == 0 {
		flags |= http2.FlagHeadersEndHeaders
	}
	if err := w.frame(http2.FrameHeaders, flags, it.sid, first); err != nil {
		return err
	}
	for len(block) > 0 {
		n := min(len(block), max)
		flags = 0
		if n == len(block) {
			flags = http2.FlagContinuationEndHeaders
		}
		if err := w.frame(http2.FrameContinuation, flags, it.sid, block[:n]); err != nil {
			return err
		}
		block = block[n:]
	}
	return nil
}

// frame writes one frame whose payload is the concatenation of payload
// to the buffer.
func (w *writer) frame(typ http2.FrameType, flags http2.Flags, sid uint32, payload ...[]byte) error {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	w.fhdr = [9]byte{byte(n >> 16), byte(n >> 8), byte(n), byte(typ), byte(flags),
		byte(sid >> 24), byte(sid >> 16), byte(sid >> 8), byte(sid)}
	b := w.buffer()
	if _, err := b.Write(w.fhdr[:]); err != nil {
		return err
	}
	for _, p := range payload {
		if _, err := b.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// writeSettings writes a SETTINGS frame with set.
func (w *writer) writeSettings(set []http2.Setting) error {
	n := 6 * len(set)
	w.fhdr = [9]byte{byte(n >> 16), byte(n >> 8), byte(n), byte(http2.FrameSettings)}
	b := w.buffer()
	if _, err := b.Write(w.fhdr[:]); err != nil {
		return err
	}
	for _, s := range set {
		p := binary.BigEndian.AppendUint16(w.scratch[:0], uint16(s.ID))
		if _, err := b.Write(binary.BigEndian.AppendUint32(p, s.Val)); err != nil {
			return err
		}
	}
	return nil
}

// writeData writes a DATA payload in frames of at most the peer's frame
// size. The 9-byte frame header and payload go straight into the buffer.
func (w *writer) writeData(it *item) error {
	p := it.data
	for {
		n := min(len(p), int(w.maxFrame))
		var flags http2.Flags
		if it.end && n == len(p) {
			flags = http2.FlagDataEndStream
		}
		if err := w.frame(http2.FrameData, flags, it.sid, p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}
