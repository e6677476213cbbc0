package h2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// Client defaults.
const (
	// initialMaxStreams is assumed until the server's SETTINGS arrive.
	initialMaxStreams = 100
	maxStreamID       = 1<<31 - 1
	// max1xx is how many informational (1xx) responses a stream may get
	// before its final response, as net/http allows.
	max1xx = 5
)

var errHeaderListTooLarge = errors.New("h2: response header list larger than MAX_HEADER_LIST_SIZE")

// client is a transport.Client on this package's HTTP/2 implementation.
type client struct {
	target string
	cfg    transport.ClientConfig
	scheme string

	mu      sync.Mutex
	cc      *clientConn   // guarded by mu; replaced when it can take no new streams
	old     []*clientConn // guarded by mu; draining connections, closed by Close
	dialing *dial         // guarded by mu; the dial in progress, if any
	closed  bool          // guarded by mu
}

// dial is a connection being dialled. mu is not held while dialling, so
// that callers waiting for it honour their own contexts; the fields are
// written by the dialling goroutine before done is closed.
type dial struct {
	done chan struct{}
	cc   *clientConn
	err  error
}

// NewClient returns a transport.Client for target ("host:port") that
// multiplexes every call on one connection, dialled on first use and
// redialled when it is lost or drained by GOAWAY.
func NewClient(target string, cfg transport.ClientConfig) transport.Client {
	c := &client{target: target, cfg: cfg, scheme: "http"}
	if cfg.TLS != nil {
		c.scheme = "https"
	}
	return c
}

// Target implements transport.Client.
func (c *client) Target() string { return c.target }

// Connect implements transport.Client.
func (c *client) Connect(ctx context.Context) error {
	_, err := c.conn(ctx)
	return err
}

// Close implements transport.Client.
func (c *client) Close() error {
	c.mu.Lock()
	c.closed = true
	conns := c.old
	if c.cc != nil {
		conns = append(conns, c.cc)
	}
	c.cc, c.old = nil, nil
	c.mu.Unlock()
	for _, cc := range conns {
		cc.close(transport.ErrClientClosed)
	}
	for _, cc := range conns {
		<-cc.readDone
		<-cc.w.done
	}
	return nil
}

// conn returns a connection that can take a new stream, dialling if
// needed. One dial runs at a time; other callers wait for it, each until
// its own context ends, and the lock is never held through the dial or the
// TLS handshake.
func (c *client) conn(ctx context.Context) (*clientConn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, transport.ErrClientClosed
		}
		if c.cc != nil && c.cc.usable() {
			cc := c.cc
			c.mu.Unlock()
			return cc, nil
		}
		if d := c.dialing; d != nil {
			c.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil && !isContextError(d.err) {
				return nil, d.err
			}
			continue // dialled (or the dialler gave up): look again
		}
		c.retireLocked()
		d := &dial{done: make(chan struct{})}
		c.dialing = d
		c.mu.Unlock()

		nc, err := transport.DialConn(ctx, c.target, c.cfg)
		c.mu.Lock()
		c.dialing = nil
		switch {
		case err != nil:
			d.err = &transport.ConnectError{Err: err}
		case c.closed:
			nc.Close()
			d.err = transport.ErrClientClosed
		default:
			c.cc = newClientConn(c, nc)
			d.cc = c.cc
		}
		c.mu.Unlock()
		close(d.done)
		if d.err != nil {
			return nil, d.err
		}
		return d.cc, nil
	}
}

// retireLocked moves a connection that can take no new stream to old,
// where its streams finish on their own, and forgets closed ones. c.mu
// held.
func (c *client) retireLocked() {
	live := c.old[:0]
	for _, cc := range c.old {
		if !cc.isClosed() {
			live = append(live, cc)
		}
	}
	clear(c.old[len(live):])
	c.old = live
	if c.cc != nil {
		if !c.cc.isClosed() {
			c.old = append(c.old, c.cc)
		}
		c.cc = nil
	}
}

// isContextError reports whether err is a context's cancellation or
// deadline.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// RoundTrip implements transport.Client.
func (c *client) RoundTrip(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	return transport.RoundTripRetrying(ctx, req, 2, c.conn, func(cc *clientConn) (*transport.Response, bool, error) {
		return cc.roundTrip(ctx, req)
	})
}

// clientConn is one connection of a client. Its reader goroutine reads
// and dispatches frames; the writer goroutine writes; callers' goroutines
// open streams and read their responses.
type clientConn struct {
	*conn
	cl        *client
	streamWin int32
	readDone  chan struct{} // closed when the reader goroutine has ended

	// Owned by the reader goroutine.
	br     *idleReader
	fr     *http2.Framer
	blocks headerBlocks
	canon  canonCache
	// The Headers of the last response header and trailer blocks, given
	// again to responses with the same fields.
	lastHeader, lastTrailer headerMemo

	// Guarded by conn.mu.
	streams     map[uint32]*clientStream
	nextID      uint32
	maxStreams  uint32        // the server's SETTINGS_MAX_CONCURRENT_STREAMS
	peerMaxList uint32        // the server's SETTINGS_MAX_HEADER_LIST_SIZE; 0: none
	slot        chan struct{} // closed (and replaced) when a stream slot may be free
	slotWaiters int
	goAway      bool  // the server sent GOAWAY: no new streams
	goAwayErr   error // a GOAWAY with an error code, reported when the connection ends
}

func newClientConn(cl *client, nc net.Conn) *clientConn {
	streamWin, connWin := int32(transport.DefaultClientStreamWindow), int32(transport.DefaultClientConnWindow)
	if w := cl.cfg.InitialWindowSize; w > 0 {
		streamWin = w
	}
	if w := cl.cfg.InitialConnWindowSize; w > 0 {
		connWin = max(w, initialWindow)
	}
	cc := &clientConn{
		conn:       newConn(nc, connWin),
		cl:         cl,
		streamWin:  streamWin,
		readDone:   make(chan struct{}),
		streams:    make(map[uint32]*clientStream),
		nextID:     1,
		maxStreams: initialMaxStreams,
		slot:       make(chan struct{}),
	}
	cc.conn.onClose = cc.onClose
	cc.conn.openStreams = func() int { return len(cc.streams) }
	cc.br = &idleReader{nc: nc}
	cc.fr = http2.NewFramer(nil, cc.br)
	cc.fr.SetReuseFrames()
	cc.fr.SetMaxReadFrameSize(16 << 10)
	cc.fr.MaxHeaderListSize = cl.cfg.MaxHeaderListSize
	if cc.fr.MaxHeaderListSize == 0 {
		cc.fr.MaxHeaderListSize = transport.DefaultMaxHeaderListSize
	}
	cc.blocks.init(hpack.NewDecoder(4096, nil))

	// The writer is not running yet: the preface goes first.
	_, _ = cc.w.buffer().WriteString(http2.ClientPreface)
	settings := []http2.Setting{
		{ID: http2.SettingEnablePush, Val: 0},
		{ID: http2.SettingInitialWindowSize, Val: uint32(cc.streamWin)},
		{ID: http2.SettingMaxHeaderListSize, Val: cc.fr.MaxHeaderListSize},
	}
	cc.sendPreface(settings)
	cc.startKeepalive(cl.cfg.PingInterval, cl.cfg.PingTimeout)
	go cc.w.run()
	go cc.readLoop()
	return cc
}

// usable reports whether the connection can take a new stream.
func (cc *clientConn) usable() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err == nil && !cc.goAway && cc.nextID < maxStreamID
}

func (cc *clientConn) isClosed() bool {
	select {
	case <-cc.closed:
		return true
	default:
		return false
	}
}

// onClose fails every stream; conn.close calls it with conn.mu held.
func (cc *clientConn) onClose(err error) {
	for _, cs := range cc.streams {
		cc.failLocked(cs, err)
	}
	cc.broadcastSlotLocked()
}

func (cc *clientConn) broadcastSlotLocked() {
	if cc.slotWaiters > 0 {
		close(cc.slot)
		cc.slot = make(chan struct{})
		cc.slotWaiters = 0
	}
}

// retryError marks a stream the server never processed.
type retryError struct{ err error }

func (e retryError) Error() string { return e.err.Error() }
func (e retryError) Unwrap() error { return e.err }

// roundTrip opens a stream for req and waits for the response headers.
// retry reports that the server did not process the stream, so that it can
// be sent again on another connection.
//
// A request whose body is known (req.Message) goes out with the HEADERS,
// from the caller's goroutine, and can be sent again on a retry; an
// attached body cannot once it has been attached.
func (cc *clientConn) roundTrip(ctx context.Context, req *transport.Request) (*transport.Response, bool, error) {
	fields := make([]hpack.HeaderField, 0, 4+len(req.Fixed)+len(req.Header)+1)
	fields = append(fields,
		hpack.HeaderField{Name: ":method", Value: "POST"},
		hpack.HeaderField{Name: ":scheme", Value: cc.cl.scheme},
		hpack.HeaderField{Name: ":path", Value: req.Path},
		hpack.HeaderField{Name: ":authority", Value: cc.cl.target},
	)
	// PROTOCOL-HTTP2.md: the timeout right after the pseudo-headers,
	// the call's definition before custom metadata.
	if req.Timeout != "" {
		fields = append(fields, hpack.HeaderField{Name: "grpc-timeout", Value: req.Timeout})
	}
	n := len(fields)
	fields = appendFields(fields, req.Fixed, false)
	// In one order, whatever the map's: the same bytes for every call.
	slices.SortStableFunc(fields[n:], func(a, b hpack.HeaderField) int { return strings.Compare(a.Name, b.Name) })
	fields = appendFields(fields, req.Header, false)
	cs, err := cc.newStream(ctx, fields, req.Message, req.Attach)
	if err != nil {
		var re retryError
		if errors.As(err, &re) {
			return nil, req.Attach == nil, re.err
		}
		return nil, false, err
	}
	select {
	case <-cs.hdrReady:
	case <-ctx.Done():
		cs.cancel(ctx.Err())
		<-cs.hdrReady
	}
	if cs.err != nil {
		var re retryError
		if errors.As(cs.err, &re) {
			return nil, req.Attach == nil, re.err
		}
		return nil, false, cs.err
	}
	return &transport.Response{
		Status:  cs.status,
		Header:  cs.header,
		Ended:   cs.hdrEnded,
		Body:    (*clientBody)(cs),
		Trailer: cs.getTrailer,
	}, false, nil
}

// newStream waits for a stream slot, then queues the HEADERS (and, if it
// fits the windows, the inline body with END_STREAM) in one push.
func (cc *clientConn) newStream(ctx context.Context, fields []hpack.HeaderField, inline []byte, attach func(transport.BodyWriter)) (*clientStream, error) {
	cc.mu.Lock()
	for {
		if cc.err != nil {
			err := cc.err
			cc.mu.Unlock()
			if errors.Is(err, transport.ErrClientClosed) {
				return nil, err
			}
			return nil, retryError{err}
		}
		if cc.goAway || cc.nextID >= maxStreamID {
			cc.mu.Unlock()
			return nil, retryError{transport.ErrGoAway}
		}
		if uint32(len(cc.streams)) < cc.maxStreams {
			break
		}
		ch := cc.slot
		cc.slotWaiters++
		cc.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		cc.mu.Lock()
	}
	if n := headerListSize(fields); cc.peerMaxList > 0 && n > cc.peerMaxList {
		cc.mu.Unlock()
		return nil, fmt.Errorf("%w (%d bytes, limit %d)", transport.ErrHeaderListTooLarge, n, cc.peerMaxList)
	}
	id := cc.nextID
	cc.nextID += 2
	cs := &clientStream{cc: cc, id: id, hdrReady: make(chan struct{})}
	cs.send.init(cc.conn, id)
	cs.body.init(cc.conn, id, cc.streamWin)
	cc.streams[id] = cs
	noBody := attach == nil && len(inline) == 0
	items := make([]item, 1, 2)
	// The HEADERS item carries no sendState: opening the stream is never
	// skipped, so that a later RST_STREAM names a stream the server saw.
	items[0] = item{kind: itemHeaders, sid: id, end: noBody, fields: fields}
	var rest []byte
	switch {
	case noBody:
		cs.localDone = true
	case attach == nil:
		if n := int64(len(inline)); n <= cc.sendableLocked(&cs.send) {
			cc.takeLocked(&cs.send, n)
			items = append(items, item{kind: itemData, sid: id, data: inline, end: true, s: &cs.send})
			cs.localDone = true
		} else {
			rest = inline
		}
	}
	if ctx.Done() != nil {
		if attach == nil && rest == nil {
			// The request is queued whole: from now on the caller only
			// waits for the response, in roundTrip (which watches ctx)
			// and in the body's Read, which watches it too. No need to
			// register with ctx, a few allocations and a lock of the
			// caller's context on every unary call.
			cs.ctx = ctx
			cs.body.watch(cs)
		} else {
			cs.stopCtx = context.AfterFunc(ctx, func() { cs.cancel(ctx.Err()) })
		}
	}
	// A lone call's request is written by its caller, without blocking,
	// if the writer is idle (writer.claim): waking the writer for it
	// would cost a scheduler wake-up.
	claimed := len(cc.streams) == 1 && cc.w.claim(&cs.send)
	cc.w.push(items...)
	cc.mu.Unlock()
	if claimed {
		cc.w.drainClaimed(&cs.send)
	}
	if attach != nil {
		attach((*bodyWriter)(cs))
	} else if rest != nil {
		go cs.writeRest(rest)
	}
	return cs, nil
}

// readLoop is the reader goroutine.
func (cc *clientConn) readLoop() {
	defer close(cc.readDone)
	err := cc.read()
	cc.br.release()
	cc.mu.Lock()
	if cc.goAwayErr != nil {
		// The server explained why it closes (ENHANCE_YOUR_CALM,
		// "too_many_pings"): report that rather than EOF.
		err = cc.goAwayErr
	}
	cc.mu.Unlock()
	cc.close(errConnLost(err))
}

func (cc *clientConn) read() error {
	return cc.readFrames(cc.fr, &cc.blocks, cc, "h2: the server preface is not SETTINGS", true)
}

// prefaceDone implements frameHandler: from now on the connection's read
// buffer goes back to the pool while it is idle.
func (cc *clientConn) prefaceDone() { cc.br.arm() }

// frameStart implements frameHandler: a client connection does not park.
func (cc *clientConn) frameStart() {}

func (cc *clientConn) connError(code http2.ErrCode, err error) error {
	cc.w.push(item{kind: itemGoAway, code: code})
	return err
}

// lookup returns stream id if open, and whether the id was ever used: the
// client allocates ids, so the ones below nextID were.
func (cc *clientConn) lookup(id uint32) (*clientStream, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.streams[id], id < cc.nextID
}

func (cc *clientConn) dispatch(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return cc.onHeaders(f)
	case *http2.DataFrame:
		return cc.onData(f)
	case *http2.RSTStreamFrame:
		cs, seen := cc.lookup(f.StreamID)
		if !seen {
			return cc.connError(http2.ErrCodeProtocol, errors.New("h2: RST_STREAM on an idle stream"))
		}
		if cs != nil {
			cs.peerReset(f.ErrCode)
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			return cc.onConnWindowUpdate(cc, f)
		}
		cs, seen := cc.lookup(f.StreamID)
		var s *sendState
		if cs != nil {
			s = &cs.send
		}
		return cc.onStreamWindowUpdate(cc, f, s, seen, func() {
			cc.streamError(f.StreamID, http2.ErrCodeFlowControl, errors.New("h2: stream window overflow"))
		})
	case *http2.SettingsFrame:
		return cc.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			cc.pingAcked(f.Data)
		} else {
			// At once, to the writer goroutine: a client's PING answers
			// measured faster so, unary and ping-pong alike.
			cc.pushCtrl(item{kind: itemPing, ack: true, ping: f.Data})
		}
	case *http2.GoAwayFrame:
		cc.onGoAway(f)
	case *http2.PushPromiseFrame:
		return cc.connError(http2.ErrCodeProtocol, errors.New("h2: PUSH_PROMISE, though push is disabled"))
	}
	return nil
}

func (cc *clientConn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	each := func(fn func(*sendState)) {
		for _, cs := range cc.streams {
			fn(&cs.send)
		}
	}
	apply, err := cc.readSettings(f, each, func(s http2.Setting) {
		cc.mu.Lock()
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			cc.maxStreams = s.Val
			cc.broadcastSlotLocked()
		case http2.SettingMaxHeaderListSize:
			cc.peerMaxList = s.Val
		}
		cc.mu.Unlock()
	})
	if err != nil {
		if code, ok := connErrCode(err); ok {
			return cc.connError(code, err)
		}
		return err
	}
	cc.pushCtrl(item{kind: itemSettingsAck, set: apply})
	return nil
}

// onGoAway: no new streams here; streams the server will not process fail
// with a retryable ErrGoAway; the connection closes when the rest are done.
func (cc *clientConn) onGoAway(f *http2.GoAwayFrame) {
	cc.mu.Lock()
	cc.goAway = true
	if f.ErrCode != http2.ErrCodeNo {
		cc.goAwayErr = transport.GoAwayError{LastStreamID: f.LastStreamID, Code: f.ErrCode, Debug: string(f.DebugData())}
	}
	for id, cs := range cc.streams {
		if id > f.LastStreamID {
			cc.failLocked(cs, retryError{transport.ErrGoAway})
		}
	}
	cc.broadcastSlotLocked()
	idle := len(cc.streams) == 0
	cc.mu.Unlock()
	if idle {
		cc.close(transport.ErrGoAway)
	}
}

// streamError resets stream id with code, failing it with err: a
// response that broke the protocol (transport.ResponseError).
func (cc *clientConn) streamError(id uint32, code http2.ErrCode, err error) {
	cc.mu.Lock()
	if cs := cc.streams[id]; cs != nil {
		cc.failLocked(cs, transport.ResponseError{Err: err})
	}
	cc.pushCtrl(item{kind: itemRST, sid: id, code: code})
	cc.mu.Unlock()
	cc.closeIfDrained()
}

// closeIfDrained closes a connection that got GOAWAY once it has no
// streams.
func (cc *clientConn) closeIfDrained() {
	cc.mu.Lock()
	idle := cc.goAway && len(cc.streams) == 0
	cc.mu.Unlock()
	if idle {
		cc.close(transport.ErrGoAway)
	}
}

func (cc *clientConn) onHeaders(f *http2.MetaHeadersFrame) error {
	cs, seen := cc.lookup(f.StreamID)
	if !seen {
		return cc.connError(http2.ErrCodeProtocol, errors.New("h2: HEADERS on an idle stream"))
	}
	if cs == nil {
		return nil // a stream we reset; the header block was decoded all the same
	}
	if f.Truncated {
		cc.streamError(f.StreamID, http2.ErrCodeProtocol, errHeaderListTooLarge)
		return nil
	}
	if !cs.gotHeaders {
		status, err := strconv.Atoi(f.PseudoValue("status"))
		if err != nil || status < 100 || status > 999 {
			cc.streamError(f.StreamID, http2.ErrCodeProtocol, errors.New("h2: response without a valid :status"))
			return nil
		}
		if status < 200 {
			cs.num1xx++
			switch {
			case f.StreamEnded() || status == 101:
				cc.streamError(f.StreamID, http2.ErrCodeProtocol, errors.New("h2: invalid informational response"))
			case cs.num1xx > max1xx:
				cc.streamError(f.StreamID, http2.ErrCodeProtocol, errors.New("h2: too many informational (1xx) responses"))
			}
			return nil // 1xx: the final response follows
		}
		header := cc.lastHeader.header(&cc.canon, f.RegularFields())
		cc.mu.Lock()
		if cs.removed {
			cc.mu.Unlock()
			return nil
		}
		cs.status, cs.header = status, header
		cs.hdrEnded = f.StreamEnded()
		cs.gotHeaders = true
		close(cs.hdrReady)
		cc.mu.Unlock()
		if f.StreamEnded() {
			cs.endRemote()
		}
		return nil
	}
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		cc.streamError(f.StreamID, http2.ErrCodeProtocol, errors.New("h2: malformed trailers"))
		return nil
	}
	cs.trailer = cc.lastTrailer.header(&cc.canon, f.RegularFields())
	cs.endRemote()
	return nil
}

func (cc *clientConn) onData(f *http2.DataFrame) error {
	cc.mu.Lock()
	cs := cc.streams[f.StreamID]
	seen := f.StreamID < cc.nextID
	remoteDone := cs != nil && cs.remoteDone
	cc.mu.Unlock()
	if err := cc.takeData(cc, f, seen); err != nil {
		return err
	}
	total := int(f.Length)
	if cs == nil {
		cc.discarded(total) // a stream we are done with
		return nil
	}
	if !cs.gotHeaders || remoteDone {
		cc.discarded(total)
		code := http2.ErrCodeProtocol
		if remoteDone {
			code = http2.ErrCodeStreamClosed
		}
		cc.streamError(f.StreamID, code, errors.New("h2: unexpected DATA from the server"))
		return nil
	}
	data := f.Data()
	if !cs.body.put(data, total-len(data)) {
		cc.streamError(f.StreamID, http2.ErrCodeFlowControl, errors.New("h2: server exceeded the stream window"))
		return nil
	}
	if len(data) > 0 {
		cs.send.replyDue.Store(true)
	}
	if f.StreamEnded() {
		cs.endRemote()
	}
	return nil
}

// clientStream is one stream of a client connection. The reader goroutine
// sets the response fields before closing hdrReady (headers) or finishing
// body (trailers); the caller's goroutine reads them after.
type clientStream struct {
	cc       *clientConn
	id       uint32
	send     sendState
	body     recvBuf
	hdrReady chan struct{}   // closed once the headers arrived or err is set
	stopCtx  func() bool     // stops the context watch
	ctx      context.Context // the call's, if its body's reads watch it (recvBuf.watch)

	// Written by the reader goroutine (err: under conn.mu) before
	// hdrReady is closed, or trailer before body is finished.
	status     int
	header     transport.Header
	trailer    transport.Header
	hdrEnded   bool // the headers had END_STREAM
	gotHeaders bool // reader-owned
	num1xx     int  // informational responses received; reader-owned
	err        error

	// Guarded by conn.mu.
	localDone  bool // END_STREAM queued
	remoteDone bool // END_STREAM received
	removed    bool // no longer in the connection's streams
}

func (cs *clientStream) getTrailer() transport.Header { return cs.trailer }

// callCtx implements ctxWatcher.
func (cs *clientStream) callCtx() context.Context { return cs.ctx }

// removeLocked takes cs out of the connection's streams. conn.mu held.
func (cc *clientConn) removeLocked(cs *clientStream) {
	if cs.removed {
		return
	}
	cs.removed = true
	delete(cc.streams, cs.id)
	if uint32(len(cc.streams)) < cc.maxStreams {
		cc.broadcastSlotLocked()
	}
	if cs.stopCtx != nil {
		cs.stopCtx()
	}
}

// failLocked ends cs with err. conn.mu held.
func (cc *clientConn) failLocked(cs *clientStream, err error) {
	if cs.removed {
		return
	}
	cc.removeLocked(cs)
	cs.send.stop(err, true)
	if !cs.gotHeadersLocked() {
		cs.err = err
		close(cs.hdrReady)
	}
	// conn.mu is held: the application hears of the end on a goroutine.
	notify := cs.body.close(err)
	go func() {
		if notify != nil {
			notify()
		}
	}()
}

// gotHeadersLocked reports whether hdrReady was closed. conn.mu held.
func (cs *clientStream) gotHeadersLocked() bool {
	select {
	case <-cs.hdrReady:
		return true
	default:
		return false
	}
}

// endRemote handles END_STREAM from the server. Reader goroutine.
func (cs *clientStream) endRemote() {
	cc := cs.cc
	cc.mu.Lock()
	cs.remoteDone = true
	abort := !cs.localDone
	if abort {
		// The response is complete while the request is not: stop
		// sending it.
		cs.localDone = true
		cs.send.stop(errStreamClosed, true)
		cc.w.push(item{kind: itemRST, sid: cs.id, code: http2.ErrCodeCancel})
	}
	cc.removeLocked(cs)
	cc.mu.Unlock()
	cs.body.finish(io.EOF)
	if abort {
	}
	cc.closeIfDrained()
}

// peerReset handles RST_STREAM from the server. Reader goroutine.
func (cs *clientStream) peerReset(code http2.ErrCode) {
	cc := cs.cc
	var err error = transport.StreamError{Code: uint32(code)}
	if code == http2.ErrCodeRefusedStream {
		err = retryError{err}
	}
	cc.mu.Lock()
	cc.failLocked(cs, err)
	cc.mu.Unlock()
	cc.closeIfDrained()
}

// cancel resets the stream with RST_STREAM(CANCEL) and fails it with err.
// Any goroutine.
func (cs *clientStream) cancel(err error) {
	cc := cs.cc
	cc.mu.Lock()
	if !cs.removed {
		cc.w.push(item{kind: itemRST, sid: cs.id, code: http2.ErrCodeCancel})
		cc.failLocked(cs, err)
	}
	cc.mu.Unlock()
	cc.closeIfDrained()
}

// localEnd notes that END_STREAM was queued. Body writer goroutine.
func (cs *clientStream) localEnd() {
	cc := cs.cc
	cc.mu.Lock()
	cs.localDone = true
	if cs.remoteDone {
		cc.removeLocked(cs)
	}
	cc.mu.Unlock()
}

// writeRest sends rest, the part of a known body the windows did not take
// at once, with END_STREAM, on its own goroutine.
func (cs *clientStream) writeRest(rest []byte) {
	if cs.cc.sendData(&cs.send, nil, rest, nil, true, nil, nil) == nil {
		cs.localEnd()
	}
}

// endBody ends the request body with END_STREAM.
func (cs *clientStream) endBody() error {
	if err := cs.cc.sendData(&cs.send, nil, nil, nil, true, nil, nil); err != nil {
		return err
	}
	cs.localEnd()
	return nil
}

// bodyWriter is the transport.BodyWriter of a request body that is
// attached (transport.Request.Attach).
type bodyWriter clientStream

// TryWrite implements transport.BodyWriter.
func (w *bodyWriter) TryWrite(p []byte) (bool, error) {
	cs := (*clientStream)(w)
	if ok, err := cs.cc.tryTake(&cs.send, int64(len(p))); !ok {
		return false, err
	}
	if len(p) > 0 {
		cs.cc.pushReply(&cs.send, item{kind: itemData, sid: cs.id, data: p, s: &cs.send})
	}
	return true, nil
}

// Write implements transport.BodyWriter.
func (w *bodyWriter) Write(p []byte) error {
	cs := (*clientStream)(w)
	return cs.cc.sendData(&cs.send, nil, p, nil, false, nil, nil)
}

// CloseSend implements transport.BodyWriter.
func (w *bodyWriter) CloseSend() error { return (*clientStream)(w).endBody() }

// clientBody is a stream's Response.Body.
type clientBody clientStream

func (b *clientBody) Read(p []byte) (int, error) { return b.body.Read(p) }

// TryRead implements transport.Body.
func (b *clientBody) TryRead(p []byte) (int, error) { return b.body.TryRead(p) }

// SetNotify implements transport.Body.
func (b *clientBody) SetNotify(fn func()) { b.body.SetNotify(fn) }

// Close resets the stream if the response was not read to its end.
func (b *clientBody) Close() error {
	cs := (*clientStream)(b)
	cs.cancel(errBodyClosed)
	_ = cs.body.close(errBodyClosed)
	return nil
}
