package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// Defaults for what the configs leave zero.
const (
	defaultPingTimeout = 15 * time.Second
	// initialWindow is HTTP/2's window before SETTINGS (RFC 9113, 6.9.2).
	initialWindow = 65535
	// maxWindow is the largest flow-control window (RFC 9113, 6.9.1).
	maxWindow = 1<<31 - 1
	// maxQueuedPerStream bounds the DATA bytes one stream may have in the
	// writer's queue, not yet written to the socket: a peer that stops
	// reading stops the stream's writes even if its window is large.
	maxQueuedPerStream = 64 << 10
	// chunkSize is the size of the buffers DATA is written from.
	chunkSize = 16 << 10
	// maxCreditBatch caps the receive-side credit batch (a quarter of the
	// window otherwise): with large windows, a reader that consumes a
	// little still lets a stalled sender resume soon.
	maxCreditBatch = 64 << 10
)

// maxQueuedControl bounds the answers to the peer's control frames waiting
// in the writer's queue (x/net's maxQueuedControlFrames): a peer that sends
// PINGs or SETTINGS and does not read gets GOAWAY(ENHANCE_YOUR_CALM) rather
// than a growing queue. A variable for tests.
var maxQueuedControl int32 = 10000

// creditBatch is how many consumed bytes are credited back in one
// WINDOW_UPDATE for a window of limit bytes.
func creditBatch(limit int32) int32 { return min(limit/4, maxCreditBatch) }

var (
	errStreamClosed = errors.New("h2: stream closed")
	errBodyClosed   = errors.New("h2: body closed")
	errPingTimeout  = errors.New("h2: keepalive ping not acknowledged")
	errCtrlFlood    = errors.New("h2: peer does not read the answers to its control frames")
)

// connLostError is the error of streams whose connection broke.
type connLostError struct{ err error }

func (e connLostError) Error() string { return "h2: connection lost: " + e.err.Error() }
func (e connLostError) Unwrap() error { return e.err }

func errConnLost(err error) error {
	var cl connLostError
	if err == nil || errors.As(err, &cl) {
		return err
	}
	return connLostError{err}
}

// conn is the state both sides of a connection share: the writer,
// send-side flow control and keepalive.
type conn struct {
	nc net.Conn
	w  *writer

	// mu guards the send-side flow control of the connection and of every
	// stream (sendState), and the side's own state (streams, limits).
	mu         sync.Mutex
	sendWin    int64        // the peer's connection window; guarded by mu
	peerInit   int64        // the peer's SETTINGS_INITIAL_WINDOW_SIZE; guarded by mu
	winWaiters []*sendState // streams waiting for connection window; guarded by mu
	err        error        // why the connection ended; guarded by mu
	closed     chan struct{}
	onClose    func(err error) // the side's teardown, called once by close with mu held
	// openStreams counts the side's open streams; guarded by mu.
	openStreams func() int
	// unwritten counts the streams finished with frames still in the
	// writer's queue: added to when a server stream queues its last
	// frames, taken from by the writer at the itemStreamDone after them.
	unwritten atomic.Int32

	inflow inflow // the connection's receive window

	// ctrlQueued counts the answers to the peer's control frames (items
	// with ctrl set) in the writer's queue: added to by the reader, taken
	// from by the writer. Past maxQueuedControl the peer is flooding.
	ctrlQueued atomic.Int32
	// sentStreamFrame is set by the writer when it writes HEADERS or DATA,
	// and cleared by the server's reader when a PING arrives: a PING after
	// a response frame is never a strike (keepalive enforcement).
	sentStreamFrame atomic.Bool

	// Keepalive, set up by startKeepalive.
	lastRead     atomic.Int64 // unix nanos of the last frame read; written by the reader
	pingInterval time.Duration
	pingTimeout  time.Duration
	pingMu       sync.Mutex
	pingTimer    *time.Timer // guarded by pingMu
	pingSent     time.Time   // guarded by pingMu; zero when no ping is outstanding
}

func newConn(nc net.Conn, recvWin int32) *conn {
	c := &conn{nc: nc, sendWin: initialWindow, peerInit: initialWindow, closed: make(chan struct{})}
	c.w = newWriter(c, nc)
	c.inflow.init(recvWin)
	return c
}

// busy reports whether more than one stream is open: then a small batch
// in the writer is worth holding for a moment, as other streams may be
// about to add to it.
func (c *conn) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openStreams != nil && c.openStreams() > 1
}

// close ends the connection with err (once): the side fails its streams,
// and the writer writes what is queued, then closes the socket.
func (c *conn) close(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if err == nil {
		err = io.EOF
	}
	c.err = err
	close(c.closed)
	for _, s := range c.winWaiters {
		s.winWaiting = false
		s.signal()
	}
	c.winWaiters = nil
	if c.onClose != nil {
		c.onClose(err)
	}
	c.mu.Unlock()
	c.pingMu.Lock()
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	c.pingMu.Unlock()
	c.w.shutdown()
}

// sendState is the send side of one stream: its window, its bytes in the
// writer's queue, and whether it may still send. Its fields are guarded by
// conn.mu, except reset, which the writer reads without it.
type sendState struct {
	c      *conn
	id     uint32
	win    int64 // the peer's window for this stream
	queued int   // bytes in the writer's queue
	err    error // set once the stream can send no more
	reset  atomic.Bool
	// wake is signalled when win, queued or err change for a stream that
	// waits (waiting); made by the first wait, so that a stream that never
	// waits for window (most) costs no channel.
	wake       chan struct{}
	waiting    bool
	winWaiting bool // in conn.winWaiters
	// replyDue is set when the stream receives DATA and cleared when it
	// sends: a send while it is set answers a message (pushReply).
	replyDue atomic.Bool
}

func (s *sendState) init(c *conn, id uint32) {
	s.c, s.id = c, id
	s.win = c.peerInit
}

// signal wakes the stream's waiter, if it has ever waited. conn.mu held.
func (s *sendState) signal() {
	if s.wake == nil {
		return // nobody waits: acquire checks the state under conn.mu first
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// isReset reports whether the stream was reset: its queued frames are not
// to be written.
func (s *sendState) isReset() bool { return s.reset.Load() }

// stop forbids further sends with err. With reset, frames still queued are
// dropped. A stream waiting for connection window stops waiting, so that
// nothing keeps a stream that is over. conn.mu must be held.
func (s *sendState) stop(err error, reset bool) {
	if s.err == nil {
		s.err = err
	}
	if reset {
		s.reset.Store(true)
	}
	if s.winWaiting {
		s.winWaiting = false
		ws := s.c.winWaiters
		for i, w := range ws {
			if w == s {
				ws[i] = ws[len(ws)-1]
				ws[len(ws)-1] = nil
				s.c.winWaiters = ws[:len(ws)-1]
				break
			}
		}
	}
	s.signal()
}

// pushCtrl queues the answer to a control frame of the peer (a PING or
// SETTINGS ACK, a stream reset or refusal), counted against
// maxQueuedControl: a peer that provokes answers and does not read them is
// flooding (see ctrlFlooded). Reader goroutine, mostly.
func (c *conn) pushCtrl(it item) {
	it.ctrl = true
	c.ctrlQueued.Add(1)
	c.w.push(it)
}

// pushReply queues items sent on s. When they answer a message s's
// stream has just received, the stream is alone on the connection and the
// writer is idle, the calling goroutine writes them itself, without
// blocking (writer.claim): a ping-pong's replies then do not wake the
// writer goroutine each. A stream that sends several messages in a row
// leaves them to the writer, which sends them in fewer, larger writes.
func (c *conn) pushReply(s *sendState, items ...item) {
	if s.replyDue.Swap(false) && !c.busy() && c.w.claim(s) {
		c.w.push(items...)
		c.w.drainClaimed(s)
		return
	}
	c.w.push(items...)
}

// ctrlFlooded reports whether more answers to the peer's control frames
// wait in the writer's queue than maxQueuedControl: the reader then ends
// the connection with GOAWAY(ENHANCE_YOUR_CALM), as x/net does.
func (c *conn) ctrlFlooded() bool { return c.ctrlQueued.Load() > maxQueuedControl }

// acquire takes up to want bytes of send window for s (both the stream's
// and the connection's) and of its queue allowance, blocking while none is
// available. It fails once the stream can no longer send.
func (c *conn) acquire(s *sendState, want int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if s.err != nil {
			return 0, s.err
		}
		if n := min(int64(want), c.sendableLocked(s)); n > 0 {
			c.takeLocked(s, n)
			return int(n), nil
		}
		if c.sendWin <= 0 && !s.winWaiting {
			s.winWaiting = true
			c.winWaiters = append(c.winWaiters, s)
		}
		s.waiting = true
		// What s queued must go out for window to come back.
		c.w.unclaim(s)
		if s.wake == nil {
			s.wake = make(chan struct{}, 1)
		}
		wake := s.wake
		c.mu.Unlock()
		<-wake
		c.mu.Lock()
		s.waiting = false
	}
}

// tryTake takes n bytes of send window and queue allowance for s if all of
// them are available now, and reports false otherwise; it fails once the
// stream can no longer send.
func (c *conn) tryTake(s *sendState, n int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if n > 0 && c.sendableLocked(s) < n {
		return false, nil
	}
	c.takeLocked(s, n)
	return true, nil
}

// sendableLocked is how many bytes s may queue now: the least of its
// window, the connection's and its queue allowance. conn.mu held.
func (c *conn) sendableLocked(s *sendState) int64 {
	return min(s.win, c.sendWin, int64(maxQueuedPerStream-s.queued))
}

// takeLocked takes n bytes of send window and queue allowance for s; n is
// at most sendableLocked(s). conn.mu held.
func (c *conn) takeLocked(s *sendState, n int64) {
	s.win -= n
	c.sendWin -= n
	s.queued += int(n)
}

// unqueue accounts n bytes of s leaving the writer's queue; with refund
// they were not sent, and the connection window gets them back.
func (c *conn) unqueue(s *sendState, n int, refund bool) {
	if s == nil || n == 0 {
		return
	}
	c.mu.Lock()
	s.queued -= n
	if s.waiting {
		s.signal()
	}
	if refund {
		c.addConnWindowLocked(int64(n))
	}
	c.mu.Unlock()
}

// addConnWindowLocked grows the connection's send window. conn.mu held.
func (c *conn) addConnWindowLocked(n int64) bool {
	c.sendWin += n
	if c.sendWin > maxWindow {
		return false
	}
	if c.sendWin > 0 {
		for _, s := range c.winWaiters {
			s.winWaiting = false
			s.signal()
		}
		c.winWaiters = c.winWaiters[:0]
	}
	return true
}

// windowUpdate applies a WINDOW_UPDATE from the peer. s is nil for the
// connection. It returns false if the window overflows (FLOW_CONTROL_ERROR).
// Reader goroutine.
func (c *conn) windowUpdate(s *sendState, inc uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == nil {
		return c.addConnWindowLocked(int64(inc))
	}
	s.win += int64(inc)
	if s.win > maxWindow {
		return false
	}
	s.signal()
	return true
}

// setPeerInitialWindow applies the peer's SETTINGS_INITIAL_WINDOW_SIZE to
// every open stream (RFC 9113, 6.9.2), which each may reach through each.
// It returns false if a window overflows. Reader goroutine.
func (c *conn) setPeerInitialWindow(v uint32, each func(func(*sendState))) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	delta := int64(v) - c.peerInit
	c.peerInit = int64(v)
	ok := true
	each(func(s *sendState) {
		s.win += delta
		if s.win > maxWindow {
			ok = false
		}
		s.signal()
	})
	return ok
}

// maxSettings bounds the settings in one SETTINGS frame. HTTP/2 defines
// seven; a frame with more than this is an attempt to make the reader work
// (x/net refuses more than 100 as well).
const maxSettings = 100

// errTooManySettings ends a connection whose peer sent a SETTINGS frame
// with more than maxSettings settings.
var errTooManySettings = errors.New("h2: SETTINGS frame with too many settings")

// readSettings checks the settings of a SETTINGS frame (not an ACK) from
// the peer and applies SETTINGS_INITIAL_WINDOW_SIZE to the streams each
// reaches, once per frame whatever the number of values (the last one
// counts, RFC 9113, 6.5.3: settings are processed in order); the settings
// the side keeps go to side, if not nil. It returns the settings for the
// writer to apply before it sends the ACK. Reader goroutine.
func (c *conn) readSettings(f *http2.SettingsFrame, each func(func(*sendState)), side func(http2.Setting)) ([]http2.Setting, error) {
	if f.NumSettings() > maxSettings {
		return nil, fmt.Errorf("%w: %d", errTooManySettings, f.NumSettings())
	}
	var apply []http2.Setting
	initWin, haveInitWin := uint32(0), false
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			initWin, haveInitWin = s.Val, true
		case http2.SettingMaxFrameSize, http2.SettingHeaderTableSize:
			apply = append(apply, s)
		default:
			if side != nil {
				side(s)
			}
		}
		return nil
	})
	if err == nil && haveInitWin && !c.setPeerInitialWindow(initWin, each) {
		err = http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	return apply, err
}

// sendData sends p on s as DATA frames, taking window as it becomes
// available; pre are items to queue before the first DATA (the headers),
// post after the last (the trailers). end sets END_STREAM on the last DATA
// (an empty DATA frame if p is empty). buf, if not nil, is p's pooled
// buffer: sendData owns it and releases it. Everything that fits the
// windows goes to the writer in one push. last, if not nil, is called with
// conn.mu held just before the last push, in the same critical section:
// a stream that ends closes itself there, before its peer can see the end.
func (c *conn) sendData(s *sendState, pre []item, p []byte, buf *[]byte, end bool, post []item, last func()) error {
	var arr [5]item // headers, DATA, trailers, a reset and an end mark fit without allocating
	batch := append(arr[:0], pre...)
	if len(p) == 0 {
		putBuf(buf)
		if end {
			batch = append(batch, item{kind: itemData, sid: s.id, end: true, s: s})
		}
	}
	for len(p) > 0 {
		n, err := c.acquire(s, len(p))
		if err != nil {
			putBuf(buf)
			return err
		}
		it := item{kind: itemData, sid: s.id, data: p[:n], s: s}
		p = p[n:]
		if len(p) == 0 {
			it.buf, it.end = buf, end
			batch = append(batch, it)
			break
		}
		batch = append(batch, it)
		c.w.push(batch...)
		batch = batch[:0]
	}
	batch = append(batch, post...)
	if last != nil {
		c.mu.Lock()
		last()
		c.w.push(batch...)
		c.mu.Unlock()
	} else if len(batch) > 0 {
		c.w.push(batch...)
	}
	return nil
}

// inflow is the connection's receive window: what the peer may still send,
// and the credit not yet sent back.
//
// Credit for the connection is given back as DATA arrives, not as the
// application reads it, so that a stream whose reader is slow, or a body
// nobody will read, never starves the other streams (RFC 9113, 6.9: the
// connection window is shared). What bounds memory is held: the bytes
// buffered for streams and not yet consumed. While held exceeds budget,
// the credit for the excess is withheld, and it goes back as the
// applications consume or streams discard their buffers. So a connection
// stalls only when its streams together hold more than budget unread
// bytes; the memory its receive buffers cost is at most budget plus the
// window.
type inflow struct {
	mu       sync.Mutex
	win      recvWindow // guarded by mu
	budget   int64      // held bytes whose credit goes back at once
	held     int64      // bytes buffered for streams, not yet consumed; guarded by mu
	withheld int64      // credit kept back: max(0, held-budget); guarded by mu
}

// connBudgetWindows is the connection's buffer budget in windows: the
// streams of a connection may hold this many connection windows of unread
// DATA before the connection's credit waits for them.
const connBudgetWindows = 4

func (f *inflow) init(limit int32) {
	f.win.init(limit)
	f.budget = connBudgetWindows * int64(limit)
}

// take accounts n received bytes; false if they exceed the window.
func (f *inflow) take(n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.win.take(n)
}

// update moves held by dHeld (bytes buffered, or, negative, consumed or
// discarded) and notes fresh newly received bytes as creditable. It
// returns the WINDOW_UPDATE increment to send now, if any: credit goes
// back in batches of a quarter of the window.
func (f *inflow) update(dHeld, fresh int64) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held += dHeld
	w := max(0, f.held-f.budget)
	credit := fresh + f.withheld - w
	f.withheld = w
	if credit <= 0 {
		return 0
	}
	return uint32(f.win.credit(int32(credit)))
}

// recvWindow is one receive window, a stream's or a connection's: what
// the peer may still send, and the credit due to it, which goes back in
// batches. Its owner guards it.
type recvWindow struct {
	limit   int32 // the window we advertise
	avail   int32 // what the peer may still send
	unacked int32 // credit due, not yet sent
}

func (w *recvWindow) init(limit int32) { w.limit, w.avail, w.unacked = limit, limit, 0 }

// take accounts n received bytes; false if they exceed the window.
func (w *recvWindow) take(n int) bool {
	if int64(n) > int64(w.avail) {
		return false
	}
	w.avail -= int32(n)
	return true
}

// credit accounts n bytes the peer may send again and returns the
// WINDOW_UPDATE increment now due, if any: credit goes back once it
// reaches a batch (creditBatch).
func (w *recvWindow) credit(n int32) int32 {
	w.unacked += n
	if w.unacked < creditBatch(w.limit) {
		return 0
	}
	inc := w.unacked
	w.avail += inc
	w.unacked = 0
	return inc
}

// discarded returns n received bytes that were never buffered (DATA for a
// stream that is gone, padding) to the connection window.
func (c *conn) discarded(n int) {
	if n > 0 {
		c.pushCredit(0, 0, c.inflow.update(0, int64(n)))
	}
}

// pushCredit queues the WINDOW_UPDATEs due: inc for stream sid, if any, and
// cinc for the connection.
func (c *conn) pushCredit(sid uint32, inc int32, cinc uint32) {
	var arr [2]item
	items := arr[:0]
	if inc > 0 {
		items = append(items, item{kind: itemWindowUpdate, sid: sid, n: uint32(inc)})
	}
	if cinc > 0 {
		items = append(items, item{kind: itemWindowUpdate, n: cinc})
	}
	if len(items) > 0 && !c.w.writeNow(items...) {
		c.w.push(items...)
	}
}

// recvBuf is a stream's received DATA, read by the application. The reader
// goroutine appends; one application goroutine reads (or closes). It also
// keeps the stream's receive window: credit goes back as the application
// reads.
type recvBuf struct {
	c   *conn
	sid uint32

	mu      sync.Mutex
	buf     *[]byte // pooled; unread bytes are (*buf)[r:]; guarded by mu
	r       int
	err     error // returned once buf is drained: io.EOF, a reset, ...; guarded by mu
	closed  bool  // the application is done: discard what arrives
	waiting bool
	wake    chan struct{} // made by the first Read that waits; guarded by mu
	// notify, if set, is called without locks held after data or the end
	// arrives (transport.Body.SetNotify). guarded by mu.
	notify func()
	// ended is set when no more DATA can come: no more stream credit is
	// due. guarded by mu.
	ended bool
	win   recvWindow // the stream's; guarded by mu
	// watcher, if set (watch), is the stream whose call's context a
	// Read waiting for data watches: when the context ends, the Read
	// has the stream cancelled with its error, and watches no more.
	// Guarded by mu.
	watcher ctxWatcher
}

// ctxWatcher is a stream whose reads watch its call's context.
type ctxWatcher interface {
	callCtx() context.Context
	cancel(err error)
}

// watch makes Read watch s's context while it waits; before the first
// Read.
func (b *recvBuf) watch(s ctxWatcher) { b.watcher = s }

func (b *recvBuf) init(c *conn, sid uint32, limit int32) {
	b.c, b.sid = c, sid
	b.win.init(limit)
}

// put appends DATA received for the stream (padding counts against the
// windows and is credited at once). It returns false if the data exceeds
// the stream's window. Whatever put does not keep is credited back to the
// connection at once. Reader goroutine.
func (b *recvBuf) put(p []byte, padding int) bool {
	b.mu.Lock()
	total := len(p) + padding
	if !b.win.take(total) {
		b.mu.Unlock()
		b.c.discarded(total)
		return false
	}
	if b.closed || b.err != nil {
		b.mu.Unlock()
		b.c.discarded(total)
		return true
	}
	if len(p) > 0 {
		if b.buf == nil {
			b.buf = getBuf(0)
			*b.buf = (*b.buf)[:0]
		}
		buf := *b.buf
		if b.r == len(buf) {
			buf, b.r = buf[:0], 0
		}
		if len(buf)+len(p) > cap(buf) {
			if b.r > 0 && len(buf)-b.r+len(p) <= cap(buf) {
				buf = buf[:copy(buf, buf[b.r:])]
				b.r = 0
			} else {
				nb := getBuf(len(buf) - b.r + len(p))
				*nb = (*nb)[:copy(*nb, buf[b.r:])]
				putBuf(b.buf)
				b.buf, buf, b.r = nb, *nb, 0
			}
		}
		*b.buf = append(buf, p...)
	}
	var wake chan struct{}
	if b.waiting {
		wake = b.wake
	}
	b.waiting = false
	inc := b.creditLocked(padding)
	notify := b.notify
	// The connection's credit goes back on arrival (see inflow); the
	// stream's as the application reads.
	cinc := b.c.inflow.update(int64(len(p)), int64(total))
	b.mu.Unlock()
	b.c.pushCredit(b.sid, inc, cinc)
	if wake != nil {
		wake <- struct{}{}
	}
	if notify != nil && len(p) > 0 {
		notify()
	}
	return true
}

// finish ends the data with err (io.EOF for END_STREAM); Read returns it
// once the buffered bytes are read. No lock may be held: it calls notify.
func (b *recvBuf) finish(err error) {
	b.mu.Lock()
	b.ended = true
	if b.err == nil {
		b.err = err
	}
	var wake chan struct{}
	if b.waiting {
		wake = b.wake
	}
	b.waiting = false
	notify := b.notify
	b.mu.Unlock()
	if wake != nil {
		wake <- struct{}{}
	}
	if notify != nil {
		notify()
	}
}

// SetNotify implements transport.PushReader.
func (b *recvBuf) SetNotify(fn func()) {
	b.mu.Lock()
	b.notify = fn
	b.mu.Unlock()
}

// Read implements io.Reader for the application.
func (b *recvBuf) Read(p []byte) (int, error) { return b.read(p, true) }

// TryRead implements transport.PushReader.
func (b *recvBuf) TryRead(p []byte) (int, error) { return b.read(p, false) }

func (b *recvBuf) read(p []byte, wait bool) (int, error) {
	b.mu.Lock()
	for b.buf == nil || b.r == len(*b.buf) {
		if b.err != nil || b.closed {
			err := b.err
			if b.closed && err == nil {
				err = errBodyClosed
			}
			b.release()
			b.mu.Unlock()
			return 0, err
		}
		if len(p) == 0 || !wait {
			b.mu.Unlock()
			return 0, nil
		}
		b.waiting = true
		if b.wake == nil {
			b.wake = make(chan struct{}, 1)
		}
		wake, w := b.wake, b.watcher
		b.mu.Unlock()
		if w == nil {
			<-wake
		} else {
			ctx := w.callCtx()
			select {
			case <-wake:
			case <-ctx.Done():
				// The stream ends with ctx's error, which this loop
				// returns next.
				w.cancel(ctx.Err())
				b.mu.Lock()
				b.watcher = nil
				continue
			}
		}
		b.mu.Lock()
	}
	n := copy(p, (*b.buf)[b.r:])
	b.r += n
	b.release()
	inc := b.creditLocked(n)
	cinc := b.c.inflow.update(-int64(n), 0)
	b.mu.Unlock()
	b.c.pushCredit(b.sid, inc, cinc)
	return n, nil
}

// creditLocked accounts n consumed bytes against the stream window and
// returns the stream's WINDOW_UPDATE increment now due, if any. b.mu held.
func (b *recvBuf) creditLocked(n int) int32 {
	if b.ended || n == 0 {
		return 0
	}
	return b.win.credit(int32(n))
}

// close ends reading: the buffered data is discarded (and credited to the
// connection, with what still arrives), and Read fails with err, or
// errBodyClosed. It returns the notify function for the caller to call,
// with no lock held, when a push reader must learn of the end (a stream
// that is over); nil if the body was closed already. Safe from any
// goroutine.
func (b *recvBuf) close(err error) (notify func()) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.ended = true
	if b.err == nil && err != nil {
		b.err = err
	}
	n := 0
	if b.buf != nil {
		n = len(*b.buf) - b.r
		b.r = len(*b.buf)
	}
	var wake chan struct{}
	if b.waiting {
		wake = b.wake
	}
	b.waiting = false
	b.release()
	var cinc uint32
	if n > 0 {
		cinc = b.c.inflow.update(-int64(n), 0)
	}
	notify = b.notify
	b.mu.Unlock()
	b.c.pushCredit(0, 0, cinc)
	if wake != nil {
		wake <- struct{}{}
	}
	return notify
}

// release returns the buffer to its pool once it is drained, so that an
// idle stream holds none. b.mu held.
func (b *recvBuf) release() {
	if b.buf != nil && b.r == len(*b.buf) {
		putBuf(b.buf)
		b.buf, b.r = nil, 0
	}
}

// noteRead is the reader side of keepalive: note that a frame arrived.
func (c *conn) noteRead() {
	if c.pingInterval > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
}

// startKeepalive sends a PING after interval without frames from the peer
// and closes the connection if it is not acknowledged within timeout.
func (c *conn) startKeepalive(interval, timeout time.Duration) {
	if interval <= 0 {
		return
	}
	if timeout <= 0 {
		timeout = defaultPingTimeout
	}
	c.pingInterval, c.pingTimeout = interval, timeout
	c.lastRead.Store(time.Now().UnixNano())
	c.pingMu.Lock()
	c.pingTimer = time.AfterFunc(interval, c.keepalive)
	c.pingMu.Unlock()
}

var keepalivePing = [8]byte{'p', 'a', 'r', 'l', 'e', 'y', 'k', 'a'}

// keepalive runs on a timer goroutine.
func (c *conn) keepalive() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	select {
	case <-c.closed:
		return
	default:
	}
	now := time.Now()
	idle := now.Sub(time.Unix(0, c.lastRead.Load()))
	next := c.pingInterval - idle
	switch {
	case !c.pingSent.IsZero():
		if now.Sub(c.pingSent) >= c.pingTimeout {
			go c.close(errConnLost(errPingTimeout))
			return
		}
		next = c.pingTimeout - now.Sub(c.pingSent)
	case idle >= c.pingInterval:
		c.pingSent = now
		c.w.push(item{kind: itemPing, ping: keepalivePing})
		next = c.pingTimeout
	}
	c.pingTimer.Reset(next)
}

// pingAcked is called by the reader for a PING ACK.
func (c *conn) pingAcked(data [8]byte) {
	if data != keepalivePing {
		return
	}
	c.pingMu.Lock()
	c.pingSent = time.Time{}
	c.pingMu.Unlock()
}

// connErrCode maps a Framer read error to the connection error code to send
// in GOAWAY.
func connErrCode(err error) (http2.ErrCode, bool) {
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		return http2.ErrCode(ce), true
	}
	if errors.Is(err, http2.ErrFrameTooLarge) {
		return http2.ErrCodeFrameSize, true
	}
	if errors.Is(err, errTooManySettings) {
		return http2.ErrCodeEnhanceYourCalm, true
	}
	return 0, false
}

// frameHandler is what differs between the two ends of a connection for the frame
// loop: clientConn and serverConn implement it.
type frameHandler interface {
	// dispatch handles one frame; an error ends the connection.
	dispatch(f http2.Frame) error
	// streamError answers a stream error with RST_STREAM(code), ending
	// the stream if it is open.
	streamError(id uint32, code http2.ErrCode, err error)
	// connError queues GOAWAY(code) and returns err, which ends the
	// connection.
	connError(code http2.ErrCode, err error) error
	// prefaceDone is called once the peer's first SETTINGS has arrived.
	prefaceDone()
	// frameStart is called before each frame is read.
	frameStart()
}

// readFrames is the reader goroutine's loop, on either end: the peer's
// first frame (if first) must be SETTINGS (RFC 9113, 3.4), frame errors end the
// stream or the connection as they say, and a peer whose control frames
// are not read flooded the connection. A header block reaches dispatch
// whole, as an *http2.MetaHeadersFrame read by blocks.
func (c *conn) readFrames(fr *http2.Framer, blocks *headerBlocks, p frameHandler, noSettings string, first bool) error {
	for {
		p.frameStart()
		f, err := fr.ReadFrame()
		if hf, ok := f.(*http2.HeadersFrame); ok && err == nil {
			f, err = blocks.read(fr, hf)
		}
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if first {
					return p.connError(http2.ErrCodeProtocol, err)
				}
				p.streamError(se.StreamID, se.Code, err)
				continue
			}
			if code, ok := connErrCode(err); ok {
				return p.connError(code, err)
			}
			return err
		}
		c.noteRead()
		if first {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				return p.connError(http2.ErrCodeProtocol, errors.New(noSettings))
			}
			first = false
			p.prefaceDone()
		}
		if err := p.dispatch(f); err != nil {
			return err
		}
		if c.ctrlFlooded() {
			return p.connError(http2.ErrCodeEnhanceYourCalm, errCtrlFlood)
		}
	}
}

// onStreamWindowUpdate applies a WINDOW_UPDATE for a stream: to s, its
// send state, if the stream is open (a stream window overflow resets it
// with reset); a stream never opened (seen false) is a connection error.
func (c *conn) onStreamWindowUpdate(p frameHandler, f *http2.WindowUpdateFrame, s *sendState, seen bool, reset func()) error {
	if !seen {
		return p.connError(http2.ErrCodeProtocol, errors.New("h2: WINDOW_UPDATE on an idle stream"))
	}
	if s != nil && !c.windowUpdate(s, f.Increment) {
		reset()
	}
	return nil
}

// onConnWindowUpdate applies a WINDOW_UPDATE for the connection.
func (c *conn) onConnWindowUpdate(p frameHandler, f *http2.WindowUpdateFrame) error {
	if !c.windowUpdate(nil, f.Increment) {
		return p.connError(http2.ErrCodeFlowControl, errors.New("h2: connection window overflow"))
	}
	return nil
}

// sendPreface queues this end's first frames: its SETTINGS, then the
// connection window's growth from HTTP/2's initial 65,535 bytes to the
// window it advertises.
func (c *conn) sendPreface(settings []http2.Setting) {
	c.w.push(item{kind: itemSettings, set: settings})
	if inc := c.inflow.win.limit - initialWindow; inc > 0 {
		c.w.push(item{kind: itemWindowUpdate, n: uint32(inc)})
	}
}

// takeData checks a DATA frame against the rules both ends share: the
// stream must have been opened (seen), and every DATA frame counts
// against the connection window, even on a stream that is gone (RFC
// 9113, 6.9). A returned error ends the connection.
func (c *conn) takeData(p frameHandler, f *http2.DataFrame, seen bool) error {
	if !seen {
		return p.connError(http2.ErrCodeProtocol, errors.New("h2: DATA on an idle stream"))
	}
	if !c.inflow.take(int(f.Length)) {
		return p.connError(http2.ErrCodeFlowControl, errors.New("h2: the peer exceeded the connection window"))
	}
	return nil
}
