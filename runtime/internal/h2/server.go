package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/parleyrpc/parley/runtime/internal/afterfunc"
	"github.com/parleyrpc/parley/runtime/internal/transport"
)

var (
	errServerClosed  = errors.New("h2: server closed the connection")
	errGoingAway     = errors.New("h2: connection drained after GOAWAY")
	errClientReset   = errors.New("h2: stream reset by the client")
	errEnhanceCalm   = errors.New("h2: client exceeded its budget of stream resets or pending streams")
	errTooManyPings  = errors.New("h2: client sent too many pings")
	errConnectionAge = errors.New("h2: connection reached its maximum age")
)

// Server defaults.
const (
	// minHeaderBudget is the least header budget of a connection's open
	// streams (serverConn.headerBudget): 16 MiB, or four header lists of
	// the configured maximum if that is more.
	minHeaderBudget = 16 << 20
	// A client may send RST_STREAM in bursts of max(minResetBudget,
	// 2*MAX_CONCURRENT_STREAMS), refilled at that many per second; past it
	// the connection gets GOAWAY(ENHANCE_YOUR_CALM) (rapid reset,
	// CVE-2023-44487). Streams beyond the handler limit wait in a queue of
	// at most 4*MAX_CONCURRENT_STREAMS, past which the same applies.
	minResetBudget = 100
	// lingerTimeout bounds how long a drained connection waits for the
	// client to close its side after the final GOAWAY.
	lingerTimeout = time.Second
	// maxPingStrikes is how many PINGs may break the keepalive policy
	// before the connection gets GOAWAY(ENHANCE_YOUR_CALM), as in grpc-go.
	maxPingStrikes = 2
	// noStreamPingTime is the minimum time between PINGs on a connection
	// with no open stream when the policy requires one (grpc-go's
	// defaultPingTimeout).
	noStreamPingTime = 2 * time.Hour
)

// tooManyPings is the GOAWAY debug data grpc-go's clients recognise: they
// double their keepalive interval and redial.
var tooManyPings = []byte("too_many_pings")

// server is a transport.Server on this package's HTTP/2 implementation.
type server struct {
	cfg     transport.ServerConfig
	handler transport.StreamHandler

	mu        sync.Mutex
	conns     map[*serverConn]struct{} // guarded by mu
	goingAway bool                     // guarded by mu
	// watchDone is the Done channel of the context the server's
	// connections are served with (ServeConn's ctx, the same for every
	// connection of a listener), which one watch closes them all at;
	// stopWatch stops it when no connection is left. Guarded by mu.
	watchDone <-chan struct{}
	stopWatch func() bool

	workers workers // run the handlers
}

// NewServer returns a transport.Server that serves each stream of each
// connection to h, with one reader and one writer goroutine per connection.
func NewServer(cfg transport.ServerConfig, h transport.StreamHandler) transport.Server {
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = transport.DefaultMaxConcurrentStreams
	}
	if cfg.MaxHeaderListSize == 0 {
		cfg.MaxHeaderListSize = transport.DefaultMaxHeaderListSize
	}
	if cfg.MaxUploadBufferPerStream <= 0 {
		cfg.MaxUploadBufferPerStream = transport.DefaultServerStreamWindow
	}
	if cfg.MaxUploadBufferPerConnection <= 0 {
		cfg.MaxUploadBufferPerConnection = transport.DefaultServerConnWindow
	}
	cfg.MaxUploadBufferPerConnection = max(cfg.MaxUploadBufferPerConnection, initialWindow)
	return &server{cfg: cfg, handler: h, conns: make(map[*serverConn]struct{})}
}

// GoAway implements transport.Server.
func (s *server) GoAway() {
	s.mu.Lock()
	s.goingAway = true
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	for _, sc := range conns {
		sc.goAway()
	}
}

// ServeConn implements transport.Server. An idle connection over TCP
// (not TLS) parks (park_linux.go), and one whose reader serves a request
// itself may hand its reading to another goroutine (serveInline):
// ServeConn then returns while the connection goes on, and done is
// called when it ends.
func (s *server) ServeConn(ctx context.Context, nc net.Conn, done func()) {
	sc := newServerConn(s, nc)
	sc.base = ctx
	sc.values = context.WithoutCancel(ctx)
	s.mu.Lock()
	s.conns[sc] = struct{}{}
	goingAway := s.goingAway
	s.workers.open()
	watched := s.watchLocked(ctx)
	s.mu.Unlock()
	if !watched {
		sc.stopCtx = context.AfterFunc(ctx, func() { sc.close(errServerClosed) })
	} else if ctx.Err() != nil {
		go sc.close(errServerClosed) // the watch may have run before sc was in conns
	}
	sc.serve(goingAway, func() {
		s.mu.Lock()
		delete(s.conns, sc)
		if len(s.conns) == 0 {
			s.workers.closeIdle()
			if s.stopWatch != nil {
				s.stopWatch()
				s.watchDone, s.stopWatch = nil, nil
			}
		}
		s.mu.Unlock()
		if done != nil {
			done()
		}
	})
}

// watchLocked reports whether the server's one watch of a context's end
// covers a connection served with ctx, starting the watch if there is
// none: a watch a connection (a context.AfterFunc each) would cost every
// idle connection its registration. s.mu held.
func (s *server) watchLocked(ctx context.Context) bool {
	done := ctx.Done()
	if done == nil {
		return true // never done
	}
	if s.watchDone == nil {
		s.watchDone = done
		s.stopWatch = context.AfterFunc(ctx, func() { s.closeServedWith(done) })
	}
	return done == s.watchDone
}

// closeServedWith closes the connections whose context is done with done.
func (s *server) closeServedWith(done <-chan struct{}) {
	var conns []*serverConn
	s.mu.Lock()
	for sc := range s.conns {
		if sc.base.Done() == done {
			conns = append(conns, sc)
		}
	}
	s.mu.Unlock()
	for _, sc := range conns {
		sc.close(errServerClosed)
	}
}

// serverConn is one connection on the server. The reader goroutine (the
// one ServeConn runs on, then, after the connection parked, the one its
// wake-up starts) reads and dispatches frames; the writer goroutine
// writes; each stream's handler runs on its own goroutine.
type serverConn struct {
	*conn
	srv *server
	// base is the context the connection is served with; connCtx{sc},
	// done when the connection closes, is the parent of every stream's
	// context.
	base       context.Context
	values     context.Context // context.WithoutCancel(base): the streams' ContextValues
	ctxMu      sync.Mutex      // guards after
	after      afterfunc.List  // what to call when the connection closes (connCtx.AfterFunc)
	remoteAddr string
	// peerMaxList is the client's SETTINGS_MAX_HEADER_LIST_SIZE, 0 for
	// none: set by the reader, read by the streams (fits).
	peerMaxList atomic.Uint32
	tlsState    *tls.ConnectionState
	maxStreams  uint32
	streamWin   int32
	// headerBudget bounds the header list sizes (RFC 9113, 6.5.2: names,
	// values and 32 bytes a field) of a connection's open streams
	// together; a stream past it is refused.
	headerBudget uint64
	readDone     chan struct{}   // closed when the reader goroutine is done
	stopCtx      func() bool     // stops serve's watch of base, if it has its own (watch)
	done         func()          // called once the connection has ended
	parkedFD     int             // the socket, while parked (guarded by the poller's mu)
	pollUser     bool            // counted in the poller's users (guarded by the poller's mu)
	watched      bool            // handed to the poller by watch, not park (guarded by the poller's mu)
	raw          syscall.RawConn // the socket, once handed to the poller
	restarts     atomic.Int32    // readers the poller started for it (the tests read it)
	// inEpoll: the socket has an entry in the poller's epoll instance,
	// armed while parked, disabled once it woke (EPOLLONESHOT) and left
	// there for the next parking to re-arm (guarded by the poller's mu).
	inEpoll bool
	// parkedAt is when it last parked (guarded by the poller's mu; the
	// poller reads it when the connection wakes).
	parkedAt time.Time

	// Owned by the reader goroutine.
	br          *idleReader
	fr          *http2.Framer // nil while parked (framer)
	blocks      headerBlocks  // its decoder kept while parked: the table is the client's
	canon       canonCache    // nil while parked
	resetTokens float64
	resetBudget float64
	resetLast   time.Time
	pingStrikes int // PINGs that broke the keepalive policy
	// PING answers go to the writer goroutine at once (pingsToWriter)
	// when the reader's last batch of frames gave DATA to a running
	// handler (wokeHandler), which is then likely to be answering it
	// while the next PING is read: the writer, woken for the PING
	// answer, writes the handler's answer too (a ping-pong with a
	// grpc-go client, which pings after most messages, made a fifth more
	// round trips so). Otherwise the reader writes them itself when it
	// runs out of bytes (holdPingAck): a lone unary call then wakes no
	// goroutine (server CPU a call 0.78x against 0.99x).
	pingsToWriter, wokeHandler bool
	// held are the PING answers the reader writes when it runs out of
	// bytes (holdPingAck, sendHeld); counted in ctrlQueued.
	held []item
	// deferred is a new stream whose handler has not started: the reader
	// starts it when it runs out of bytes, on its own goroutine if it
	// can (serveInline), else on a new one.
	deferred   *serverStream
	lastPingAt time.Time // when the last PING arrived

	// Guarded by conn.mu.
	streams     map[uint32]*serverStream // open and half-closed streams
	maxClientID uint32                   // the highest stream id the client opened; written by the reader
	handlers    int                      // handler goroutines running
	pending     []*serverStream          // streams waiting for a handler slot
	goingAway   bool                     // GOAWAY sent: no new streams
	idleSince   time.Time                // when the last stream ended
	resetIDs    [16]uint32               // the last streams the server reset, a ring (noteReset)
	resetNext   int
	headerBytes uint64      // the header list sizes of the open streams
	idleTimer   *time.Timer // IdleTimeout's, if set
	lingering   bool        // closing: wait for the client to close
	sentGoAway  bool        // a connection error was answered with GOAWAY
}

func newServerConn(s *server, nc net.Conn) *serverConn {
	sc := &serverConn{
		conn:         newConn(nc, s.cfg.MaxUploadBufferPerConnection),
		srv:          s,
		maxStreams:   s.cfg.MaxConcurrentStreams,
		streamWin:    s.cfg.MaxUploadBufferPerStream,
		headerBudget: max(minHeaderBudget, 4*uint64(s.cfg.MaxHeaderListSize)),
		readDone:     make(chan struct{}),
	}
	if a := nc.RemoteAddr(); a != nil {
		sc.remoteAddr = a.String()
	}
	if tc, ok := nc.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		sc.tlsState = &cs
	}
	sc.br = &idleReader{nc: nc}
	sc.br.park = mayPark(nc)
	sc.br.stall = sc.stall
	sc.parkedFD = -1
	sc.blocks.init(hpack.NewDecoder(4096, nil))
	sc.resetBudget = float64(max(minResetBudget, 2*sc.maxStreams))
	sc.resetTokens = sc.resetBudget
	sc.conn.onClose = sc.onClose
	sc.conn.openStreams = func() int { return len(sc.streams) }
	return sc
}

// serve runs the connection until it ends or parks; done is called when
// it has ended. Reader goroutine.
func (sc *serverConn) serve(goingAway bool, done func()) {
	sc.done = done
	go sc.w.run()
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: sc.maxStreams},
		{ID: http2.SettingInitialWindowSize, Val: uint32(sc.streamWin)},
		{ID: http2.SettingMaxHeaderListSize, Val: sc.srv.cfg.MaxHeaderListSize},
	}
	if sc.srv.cfg.ExtendedConnect {
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	sc.sendPreface(settings)
	sc.startKeepalive(sc.srv.cfg.PingInterval, sc.srv.cfg.PingTimeout)
	sc.mu.Lock()
	sc.idleSince = time.Now()
	sc.mu.Unlock()
	sc.startTimers()
	if goingAway {
		sc.goAway()
	}
	sc.read(sc.readLoop())
}

// read goes on after the reader stopped with err: an idle connection
// parks, one that cannot reads on (first has been read), and any other
// error ends the connection. Reader goroutine.
func (sc *serverConn) read(err error) {
	for {
		switch {
		case errors.Is(err, errPark):
			sc.idle()
			if sc.park() {
				return // the wake-up starts a reader again: resume
			}
			sc.br.park = false
		case errors.Is(err, errInline):
			if !sc.serveInline() {
				return // another reader took over
			}
		default:
			sc.startDeferred()
			sc.end(err)
			return
		}
		err = sc.readFrames(sc.framer(), &sc.blocks, sc, "", false)
	}
}

// framer returns the reader's Framer, making one if the connection was
// parked: a Framer holds a read buffer as large as the largest frame it
// has read, which an idle connection should not keep. Reader goroutine.
func (sc *serverConn) framer() *http2.Framer {
	if sc.fr == nil {
		sc.fr = http2.NewFramer(nil, sc.br)
		sc.fr.SetReuseFrames()
		sc.fr.SetMaxReadFrameSize(16 << 10)
		sc.fr.MaxHeaderListSize = sc.srv.cfg.MaxHeaderListSize
	}
	return sc.fr
}

// idle drops what the reader can make again, before the connection
// parks: the Framer, the names cache, the streams map if empty. Reader
// goroutine.
func (sc *serverConn) idle() {
	sc.fr, sc.canon = nil, nil
	sc.blocks.idle()
	sc.mu.Lock()
	if len(sc.streams) == 0 {
		sc.streams = nil // Go's maps keep their size when emptied
	}
	sc.mu.Unlock()
}

// holdPingAck keeps the answer to a PING for the reader to send when it
// runs out of bytes (sendHeld): the frames read with the PING are
// dispatched first. Reader goroutine.
func (sc *serverConn) holdPingAck(data [8]byte) {
	sc.ctrlQueued.Add(1)
	sc.held = append(sc.held, item{kind: itemPing, ack: true, ping: data, ctrl: true})
}

// sendHeld sends the answers holdPingAck kept, straight to the socket if
// the writer is idle, two to a write (writeNow's most). Reader goroutine,
// about to wait for the socket.
func (sc *serverConn) sendHeld() {
	for i := 0; i < len(sc.held); i += 2 {
		two := sc.held[i:min(i+2, len(sc.held))]
		if !sc.w.writeNow(two...) {
			sc.w.push(two...)
		}
	}
	clear(sc.held)
	sc.held = sc.held[:0]
}

// errInline ends a read when the deferred stream's handler is to run on
// the reader goroutine (serveInline).
var errInline = errors.New("h2: serving a request inline")

// stall is the idleReader's: about to wait for the socket, the reader
// sends the PING answers it held and starts the deferred stream's
// handler. A complete request, alone on the connection, at a frame
// boundary, is served on the reader goroutine (errInline); any other on
// a goroutine of its own. Reader goroutine.
func (sc *serverConn) stall(boundary bool) error {
	sc.sendHeld()
	sc.pingsToWriter, sc.wokeHandler = sc.wokeHandler, false
	st := sc.deferred
	if st == nil {
		return nil
	}
	if boundary {
		sc.mu.Lock()
		alone := st.remoteDone && len(sc.streams) == 1 && sc.streams[st.id] == st && sc.err == nil
		sc.mu.Unlock()
		if alone {
			return errInline
		}
	}
	sc.startDeferred()
	return nil
}

// startDeferred starts the deferred stream's handler on its own
// goroutine. Reader goroutine.
func (sc *serverConn) startDeferred() {
	if st := sc.deferred; st != nil {
		sc.deferred = nil
		sc.srv.workers.start(st)
	}
}

// serveInline runs the deferred stream's handler on the reader
// goroutine, which saves starting a goroutine and waking a thread for it:
// a unary call from a lone caller is then read, handled and answered
// without a hand-off. The socket is handed to the poller first (watch),
// so that bytes arriving meanwhile start another reader, and taken back
// after; it reports whether this goroutine is still the reader. Where the
// socket cannot be watched, the handler gets its own goroutine. Reader
// goroutine.
func (sc *serverConn) serveInline() bool {
	st := sc.deferred
	sc.deferred = nil
	if !sc.watch() {
		sc.br.park = false // not parkable either
		sc.srv.workers.start(st)
		return true
	}
	st.inline = true
	sc.runHandler(st)
	return sc.unwatch()
}

// resume is a parked connection's reader goroutine, started by its
// wake-up: its socket is readable, or the connection is closing.
func (sc *serverConn) resume() {
	sc.read(sc.readFrames(sc.framer(), &sc.blocks, sc, "", false))
}

// end closes the connection after its reader stopped with err, and
// releases it. Reader goroutine.
func (sc *serverConn) end(err error) {
	sc.mu.Lock()
	if sc.sentGoAway {
		sc.lingering = true
	}
	lingering := sc.lingering
	sc.mu.Unlock()
	sc.close(errConnLost(err))
	if lingering {
		// The client may still be writing: read and discard for a while so
		// that it gets our GOAWAY rather than a TCP reset.
		sc.br.disarm()
		_ = sc.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.Copy(io.Discard, sc.br)
	}
	sc.br.release()
	sc.leavePoller()
	close(sc.readDone)
	<-sc.w.done
	if sc.stopCtx != nil {
		sc.stopCtx()
	}
	sc.done()
}

// onClose fails every stream; conn.close calls it with conn.mu held.
func (sc *serverConn) onClose(err error) {
	var cancelled []func()
	for id, st := range sc.streams {
		st.send.stop(err, true)
		// conn.mu is held: the application hears of it on a goroutine.
		if notify := st.body.close(err); notify != nil {
			go notify()
		}
		if st.onCancel != nil {
			cancelled = append(cancelled, st.onCancel)
			st.onCancel = nil
		}
		delete(sc.streams, id)
	}
	sc.pending = nil
	if sc.lingering {
		sc.w.linger = sc.readDone
	}
	// A parked connection's reader is started to see the end (before the
	// writer closes the socket, which must leave the poller first).
	sc.unpark()
	sc.cancelStreams()
	for _, f := range cancelled {
		go f()
	}
}

// goAway starts the graceful shutdown of the connection: GOAWAY with the
// last stream id it will serve, new streams refused, closed when the
// streams in flight are done.
func (sc *serverConn) goAway() {
	sc.mu.Lock()
	if sc.goingAway || sc.err != nil {
		sc.mu.Unlock()
		return
	}
	sc.goingAway = true
	sc.w.push(item{kind: itemGoAway, n: sc.maxClientID, code: http2.ErrCodeNo})
	sc.mu.Unlock()
	sc.closeIfDrained()
}

// noteResetLocked records that the server reset stream id (RST_STREAM,
// including NO_ERROR after a complete response), so that DATA the client
// had in flight is ignored (RFC 9113, 5.1: "An endpoint MUST ignore frames
// that it receives on closed streams after it has sent a RST_STREAM
// frame") rather than answered with one more reset each. A few are
// remembered; DATA for an older one gets STREAM_CLOSED, as before.
// conn.mu held.
func (sc *serverConn) noteResetLocked(id uint32) {
	sc.resetIDs[sc.resetNext] = id
	sc.resetNext = (sc.resetNext + 1) % len(sc.resetIDs)
}

// wasReset reports whether the server recently reset stream id.
func (sc *serverConn) wasReset(id uint32) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for _, r := range sc.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

// removeStreamLocked forgets stream id and notes when the connection became
// idle. conn.mu held.
func (sc *serverConn) removeStreamLocked(id uint32) {
	if st := sc.streams[id]; st != nil {
		sc.headerBytes -= st.headerSize
	}
	delete(sc.streams, id)
	if len(sc.streams) == 0 {
		sc.idleSince = time.Now()
	}
}

// startTimers arms the connection's lifetime limits: MaxConnectionAge
// (GOAWAY, then a hard close after the grace period) and IdleTimeout
// (GOAWAY once no stream has been open for that long). Their timers stop
// when the connection ends.
func (sc *serverConn) startTimers() {
	cfg := sc.srv.cfg
	if age := cfg.MaxConnectionAge; age > 0 {
		// ±10% so that connections made together are not all drained
		// together (grpc-go does the same).
		age += time.Duration((rand.Float64()*0.2 - 0.1) * float64(age))
		grace := cfg.MaxConnectionAgeGrace
		t := time.AfterFunc(age, func() {
			sc.goAway()
			if grace > 0 {
				t := time.AfterFunc(grace, func() { sc.close(errConnectionAge) })
				context.AfterFunc(connCtx{sc}, func() { t.Stop() })
			} else {
				sc.close(errConnectionAge)
			}
		})
		context.AfterFunc(connCtx{sc}, func() { t.Stop() })
	}
	if idle := cfg.IdleTimeout; idle > 0 {
		sc.mu.Lock()
		sc.idleTimer = time.AfterFunc(idle, func() {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			switch left := idle - time.Since(sc.idleSince); {
			case sc.err != nil:
			case len(sc.streams) > 0 || sc.handlers > 0:
				sc.idleTimer.Reset(idle)
			case left > 0:
				sc.idleTimer.Reset(left)
			default:
				go sc.goAway()
			}
		})
		sc.mu.Unlock()
		context.AfterFunc(connCtx{sc}, func() {
			sc.mu.Lock()
			sc.idleTimer.Stop()
			sc.mu.Unlock()
		})
	}
}

// closeIfDrained closes a going-away connection once no stream is left.
func (sc *serverConn) closeIfDrained() {
	sc.mu.Lock()
	drained := sc.goingAway && len(sc.streams) == 0 && sc.handlers == 0
	if drained {
		sc.lingering = true
	}
	sc.mu.Unlock()
	if drained {
		sc.close(errGoingAway)
	}
}

// connError ends the connection with GOAWAY(code).
func (sc *serverConn) connError(code http2.ErrCode, err error) error {
	return sc.connErrorDebug(code, nil, err)
}

// connErrorDebug ends the connection with GOAWAY(code) carrying debug data.
// The peer's violation is logged at debug level: a hostile peer must not be
// able to flood the log.
func (sc *serverConn) connErrorDebug(code http2.ErrCode, debug []byte, err error) error {
	if l := sc.srv.cfg.Logger; l != nil {
		l.Debug("parley: closing connection with GOAWAY", "remote", sc.remoteAddr, "code", code.String(), "debug", string(debug), "err", err)
	}
	sc.mu.Lock()
	last := sc.maxClientID
	sc.sentGoAway = true
	sc.mu.Unlock()
	sc.w.push(item{kind: itemGoAway, n: last, code: code, debug: debug})
	return err
}

// onPing answers a PING, unless the client broke the keepalive policy
// (transport.ServerConfig.KeepaliveMinTime) once too often. After grpc-go's
// http2Server.handlePing. Reader goroutine.
func (sc *serverConn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		sc.pingAcked(f.Data)
		return nil
	}
	now := time.Now()
	last := sc.lastPingAt
	sc.lastPingAt = now
	minTime := sc.srv.cfg.KeepaliveMinTime
	switch {
	case sc.sentStreamFrame.Swap(false):
		// A response frame went out since the last PING: a client may
		// probe the connection after each (grpc-go's BDP estimator does).
		sc.pingStrikes = 0
	case minTime <= 0 && !sc.srv.cfg.KeepaliveRequireStream:
	default:
		if sc.srv.cfg.KeepaliveRequireStream {
			sc.mu.Lock()
			idle := len(sc.streams) == 0
			sc.mu.Unlock()
			if idle {
				minTime = noStreamPingTime
			}
		}
		if !last.IsZero() && now.Sub(last) < minTime {
			sc.pingStrikes++
		}
		if sc.pingStrikes > maxPingStrikes {
			return sc.connErrorDebug(http2.ErrCodeEnhanceYourCalm, tooManyPings, errTooManyPings)
		}
	}
	if sc.pingsToWriter {
		sc.pushCtrl(item{kind: itemPing, ack: true, ping: f.Data})
	} else {
		sc.holdPingAck(f.Data)
	}
	return nil
}

// readLoop reads frames until the connection fails. Reader goroutine.
func (sc *serverConn) readLoop() error {
	// RFC 9113, 3.4: the client preface, then a SETTINGS frame.
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(sc.br, preface[:]); err != nil {
		return err
	}
	if string(preface[:]) != http2.ClientPreface {
		return sc.connError(http2.ErrCodeProtocol, errors.New("h2: bad client preface"))
	}
	return sc.readFrames(sc.framer(), &sc.blocks, sc, "h2: the client preface is not followed by SETTINGS", true)
}

// frameStart implements frameHandler: the connection is at a frame
// boundary, where an idle connection may park.
func (sc *serverConn) frameStart() { sc.br.mark = sc.br.total }

// prefaceDone implements frameHandler: the handshake is complete, so the deadline
// the caller may have set for it is lifted (transport.Server.ServeConn).
func (sc *serverConn) prefaceDone() {
	_ = sc.nc.SetReadDeadline(time.Time{})
	sc.br.arm()
}

// dispatch handles one frame. A returned error ends the connection.
func (sc *serverConn) dispatch(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return sc.onHeaders(f)
	case *http2.DataFrame:
		return sc.onData(f)
	case *http2.RSTStreamFrame:
		return sc.onRSTStream(f)
	case *http2.WindowUpdateFrame:
		return sc.onWindowUpdate(f)
	case *http2.SettingsFrame:
		return sc.onSettings(f)
	case *http2.PingFrame:
		return sc.onPing(f)
	case *http2.GoAwayFrame:
		// The client is going away: finish what is in flight.
		sc.goAway()
	case *http2.PriorityFrame:
		// Priorities are advisory and ignored, but a stream cannot depend
		// on itself (RFC 9113, 5.3.1).
		if f.StreamDep == f.StreamID {
			sc.streamError(f.StreamID, http2.ErrCodeProtocol, nil)
		}
	case *http2.PushPromiseFrame:
		// RFC 9113, 8.4: clients cannot push.
		return sc.connError(http2.ErrCodeProtocol, errors.New("h2: PUSH_PROMISE from a client"))
	}
	return nil
}

// lookup returns stream id, if open, and whether id was ever opened: the
// client opens ids in increasing order, so the ones up to the highest
// seen were.
func (sc *serverConn) lookup(id uint32) (st *serverStream, seen bool) {
	sc.mu.Lock()
	st = sc.streams[id]
	seen = id <= sc.maxClientID
	sc.mu.Unlock()
	return st, seen
}

// streamError implements frameHandler.
func (sc *serverConn) streamError(id uint32, code http2.ErrCode, _ error) {
	if st, _ := sc.lookup(id); st != nil {
		st.reset(code, true)
		return
	}
	sc.pushCtrl(item{kind: itemRST, sid: id, code: code})
}

func (sc *serverConn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return sc.connError(http2.ErrCodeProtocol, errors.New("h2: client opened an even stream id"))
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		sc.streamError(id, http2.ErrCodeProtocol, nil)
		return nil
	}
	sc.mu.Lock()
	st := sc.streams[id]
	if st == nil && id <= sc.maxClientID {
		sc.mu.Unlock()
		// RFC 9113, 5.1.1: stream ids only grow; this one is closed.
		return sc.connError(http2.ErrCodeStreamClosed, errors.New("h2: HEADERS on a closed stream"))
	}
	if st != nil {
		remoteDone := st.remoteDone
		sc.mu.Unlock()
		sc.onTrailers(st, f, remoteDone)
		return nil
	}
	sc.maxClientID = id
	goingAway := sc.goingAway
	full := uint32(len(sc.streams))+uint32(sc.unwritten.Load()) >= sc.maxStreams
	hsize := uint64(headerListSize(f.Fields))
	full = full || sc.headerBytes+hsize > sc.headerBudget
	sc.mu.Unlock()

	switch {
	case goingAway, full:
		// RFC 9113, 5.1.2 and 6.8: streams beyond the limit, or after
		// GOAWAY, are refused; the client may retry them. So are streams
		// whose headers would take the connection's open streams past
		// their header budget: HPACK lets a few bytes on the wire
		// (indexed fields) stand for a whole header list, so the limit on
		// one list does not bound what a connection's streams hold.
		sc.pushCtrl(item{kind: itemRST, sid: id, code: http2.ErrCodeRefusedStream})
		return nil
	case f.Truncated:
		// The header list exceeded MAX_HEADER_LIST_SIZE: HTTP 431.
		sc.pushCtrl(item{kind: itemHeaders, sid: id, end: true, fields: []hpack.HeaderField{{Name: ":status", Value: "431"}}})
		if !f.StreamEnded() {
			sc.pushCtrl(item{kind: itemRST, sid: id, code: http2.ErrCodeNo})
		}
		return nil
	}
	st, ok := sc.newStream(f)
	if !ok {
		sc.pushCtrl(item{kind: itemRST, sid: id, code: http2.ErrCodeProtocol})
		return nil
	}
	return sc.openStream(st, f, hsize)
}

// onTrailers handles a HEADERS frame on an open stream: the request's
// trailers, which must end the stream and hold no pseudo-headers.
func (sc *serverConn) onTrailers(st *serverStream, f *http2.MetaHeadersFrame, remoteDone bool) {
	switch {
	case remoteDone:
		st.reset(http2.ErrCodeStreamClosed, true)
	case !f.StreamEnded() || len(f.PseudoFields()) > 0:
		st.reset(http2.ErrCodeProtocol, true)
	default:
		sc.endRemote(st)
	}
}

// openStream adds a new request stream, whose header list is hsize bytes,
// and starts its handler, or queues it while MAX_CONCURRENT_STREAMS
// handlers run. Reader goroutine.
func (sc *serverConn) openStream(st *serverStream, f *http2.MetaHeadersFrame, hsize uint64) error {
	id := st.id
	sc.mu.Lock()
	if sc.err != nil {
		sc.mu.Unlock()
		return nil
	}
	if sc.streams == nil {
		sc.streams = make(map[uint32]*serverStream)
	}
	sc.streams[id] = st
	st.headerSize = hsize
	sc.headerBytes += hsize
	if f.StreamEnded() {
		st.remoteDone = true
	}
	start := sc.handlers < int(sc.maxStreams)
	if start {
		sc.handlers++
	} else {
		if len(sc.pending) >= 4*int(sc.maxStreams) {
			sc.mu.Unlock()
			return sc.connError(http2.ErrCodeEnhanceYourCalm, errEnhanceCalm)
		}
		sc.pending = append(sc.pending, st)
	}
	sc.mu.Unlock()
	if f.StreamEnded() {
		if st.contentLength > 0 {
			st.reset(http2.ErrCodeProtocol, true)
		} else {
			st.body.finish(io.EOF)
		}
	}
	if start {
		if sc.br.park {
			// Started when the reader runs out of bytes (stall): by
			// then its request has likely arrived whole, so its handler
			// does not wait for it, and it may run here.
			sc.startDeferred()
			sc.deferred = st
		} else {
			sc.srv.workers.start(st)
		}
	}
	return nil
}

// newStream checks a request's header block (RFC 9113, 8.3.1 and 8.2.2)
// and makes its stream. Reader goroutine.
func (sc *serverConn) newStream(f *http2.MetaHeadersFrame) (*serverStream, bool) {
	st := &serverStream{sc: sc, id: f.StreamID, contentLength: -1}
	var scheme, protocol string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			st.method = hf.Value
		case ":path":
			st.path = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			st.authority = hf.Value
		case ":protocol":
			// RFC 8441, 4: only where SETTINGS_ENABLE_CONNECT_PROTOCOL
			// was sent, and only on an extended CONNECT.
			if !sc.srv.cfg.ExtendedConnect || hf.Value == "" {
				return nil, false
			}
			protocol = hf.Value
		default:
			return nil, false
		}
	}
	// A plain CONNECT (a tunnel to :authority) is not served; an extended
	// CONNECT carries :scheme, :path and :authority like any request.
	extended := st.method == "CONNECT" && protocol != ""
	if st.method == "" || (st.method == "CONNECT" && !extended) || (protocol != "" && !extended) ||
		st.path == "" || scheme == "" || (extended && st.authority == "") {
		return nil, false
	}
	if st.path[0] != '/' && st.path != "*" {
		return nil, false
	}
	if strings.ContainsAny(st.path, "?%") {
		// Checked, but kept as sent: a gRPC method is routed by its
		// :path exactly, as grpc-go does ("/svc%2FM" and "/svc/M?x" name
		// no method), and an http.Handler gets the query too.
		if _, err := url.ParseRequestURI(st.path); err != nil {
			return nil, false
		}
	}
	regular := f.RegularFields()
	for _, hf := range regular {
		switch {
		case isConnectionHeader(hf.Name):
			return nil, false
		case hf.Name == "te" && hf.Value != "trailers":
			return nil, false
		case hf.Name == "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || (st.contentLength >= 0 && n != st.contentLength) {
				return nil, false
			}
			st.contentLength = n
		case hf.Name == "host" && st.authority == "":
			st.authority = hf.Value
		}
	}
	st.reqHeader = sc.canon.header(regular)
	if extended {
		// Where net/http's HTTP/2 server puts it, so that one handler
		// serves both.
		st.reqHeader[transport.ProtocolPseudoHeader] = []string{protocol}
	}
	st.send.init(sc.conn, st.id)
	st.body.init(sc.conn, st.id, sc.streamWin)
	return st, true
}

// runHandler runs the handler of st, then of pending streams while slots
// are short. It is a stream goroutine.
func (sc *serverConn) runHandler(st *serverStream) {
	for st != nil {
		sc.serveStream(st)
		sc.mu.Lock()
		st = nil
		for len(sc.pending) > 0 && st == nil {
			next := sc.pending[0]
			sc.pending[0] = nil
			sc.pending = sc.pending[1:]
			if !next.contextDone() {
				st = next
			}
		}
		if st == nil {
			sc.handlers--
		}
		sc.mu.Unlock()
	}
	sc.closeIfDrained()
}

// serveStream runs the handler for st and finishes the stream.
// A detached stream (Detach) stays open when the handler returns, and
// holds no goroutine: Finish releases it later.
func (sc *serverConn) serveStream(st *serverStream) {
	defer func() {
		if r := recover(); r != nil {
			st.reset(http2.ErrCodeInternal, false)
			st.release()
		}
	}()
	sc.srv.handler(st)
	if st.detached.Load() {
		return
	}
	st.finish()
	st.release()
}

// release cancels the stream's context and stops its deadline, once its
// handler is done with it (or, for a detached stream, at Finish).
func (st *serverStream) release() {
	st.end()
	if t := st.deadline.Swap(nil); t != nil {
		t.Stop()
	}
}

func (sc *serverConn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	data := f.Data()
	total := int(f.Length)
	sc.mu.Lock()
	st := sc.streams[id]
	seen := id <= sc.maxClientID
	remoteDone := st != nil && st.remoteDone
	sc.mu.Unlock()
	if err := sc.takeData(sc, f, seen); err != nil {
		return err
	}
	if st == nil || remoteDone {
		// RFC 9113, 5.1: DATA on a closed or half-closed (remote) stream
		// is a stream error, except on a stream the server reset: DATA
		// the client sent before it saw the reset is ignored.
		sc.discarded(total)
		if st != nil || !sc.wasReset(id) {
			sc.streamError(id, http2.ErrCodeStreamClosed, nil)
		}
		return nil
	}
	if !st.body.put(data, total-len(data)) {
		st.reset(http2.ErrCodeFlowControl, true)
		return nil
	}
	if len(data) > 0 {
		st.send.replyDue.Store(true)
		if st != sc.deferred {
			sc.wokeHandler = true // its handler runs, and reads it
		}
	}
	st.received += int64(len(data))
	if st.contentLength >= 0 && st.received > st.contentLength {
		st.reset(http2.ErrCodeProtocol, true)
		return nil
	}
	if f.StreamEnded() {
		sc.endRemote(st)
	}
	return nil
}

// endRemote handles END_STREAM from the client. Reader goroutine.
func (sc *serverConn) endRemote(st *serverStream) {
	if st.contentLength >= 0 && st.received != st.contentLength {
		st.reset(http2.ErrCodeProtocol, true)
		return
	}
	sc.mu.Lock()
	st.remoteDone = true
	if st.localDone {
		sc.removeStreamLocked(st.id)
	}
	sc.mu.Unlock()
	st.body.finish(io.EOF)
}

func (sc *serverConn) onRSTStream(f *http2.RSTStreamFrame) error {
	st, seen := sc.lookup(f.StreamID)
	if !seen {
		return sc.connError(http2.ErrCodeProtocol, errors.New("h2: RST_STREAM on an idle stream"))
	}
	// Rapid reset: resets cost tokens, refilled at resetBudget per second.
	now := time.Now()
	if !sc.resetLast.IsZero() {
		sc.resetTokens = min(sc.resetBudget, sc.resetTokens+now.Sub(sc.resetLast).Seconds()*sc.resetBudget)
	}
	sc.resetLast = now
	sc.resetTokens--
	if sc.resetTokens < 0 {
		return sc.connError(http2.ErrCodeEnhanceYourCalm, errEnhanceCalm)
	}
	if st != nil {
		st.peerReset(f.ErrCode)
	}
	return nil
}

func (sc *serverConn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if f.StreamID == 0 {
		return sc.onConnWindowUpdate(sc, f)
	}
	st, seen := sc.lookup(f.StreamID)
	if st == nil {
		return sc.onStreamWindowUpdate(sc, f, nil, seen, nil)
	}
	return sc.onStreamWindowUpdate(sc, f, &st.send, seen, func() { st.reset(http2.ErrCodeFlowControl, true) })
}

func (sc *serverConn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	each := func(fn func(*sendState)) {
		for _, st := range sc.streams {
			fn(&st.send)
		}
	}
	apply, err := sc.readSettings(f, each, func(s http2.Setting) {
		if s.ID == http2.SettingMaxHeaderListSize {
			sc.peerMaxList.Store(s.Val)
		}
	})
	if err != nil {
		if code, ok := connErrCode(err); ok {
			return sc.connError(code, err)
		}
		return err
	}
	sc.pushCtrl(item{kind: itemSettingsAck, set: apply})
	return nil
}

// serverStream is one request stream: a transport.Stream.
//
// Ownership, as the seam's contract states it: the reader goroutine fills
// the request side before the stream's goroutine starts the handler, and
// feeds body afterwards; the response side is used by one goroutine at a
// time, serialised by the caller (the runtime's outflow lock), which may be
// the stream's goroutine, a sender's, a writing goroutine or the one that
// sees a deadline pass and calls Finish. The fields marked "response side"
// below are owned that way: they need no lock of their own.
type serverStream struct {
	sc   *serverConn
	send sendState
	body recvBuf
	// ctx is made by the first call of Context, with cancel; both
	// guarded by conn.mu, and hasCtx (below) set once they are. ended
	// is set when it is to be cancelled (release, cancelled), made or
	// not: a caller that needs only its values and whether it has ended
	// (transport.LazyContext) costs the stream no context and the
	// connection no registration, and its end takes no lock.
	ctx    context.Context
	cancel context.CancelFunc

	// The request; read-only once the handler starts.
	method, path, authority string
	reqHeader               transport.Header

	headerSize uint64 // its header list's size; guarded by conn.mu

	// Owned by the reader goroutine.
	contentLength int64 // declared content-length, or -1
	received      int64 // DATA bytes received

	// The stream's id and flags, side by side so that they share words.
	id         uint32
	remoteDone bool // END_STREAM received, or the stream was reset; guarded by conn.mu
	localDone  bool // END_STREAM queued, or the stream was reset; guarded by conn.mu
	// inline is set when the handler runs on the reader goroutine
	// (serveInline), before it starts.
	inline bool
	hasCtx atomic.Bool // see ctx
	ended  atomic.Bool // see ctx
	// detached is set by Detach: the handler's return leaves the stream
	// open, and Finish releases it.
	detached atomic.Bool

	// deadline resets the stream if it is still open when it fires
	// (SetDeadline); stopped by release once the handler is done. Any
	// goroutine may set it (an HTTP handler's write deadline, through
	// nethttp.ServeStream), hence atomic.
	deadline atomic.Pointer[time.Timer]
	// atDeadline and grace are SetDeadlineNotify's: the timer calls
	// atDeadline at the call's deadline, then fires again grace later
	// (at the backstop) to reset the stream. Set before the timer starts.
	atDeadline func()
	grace      time.Duration

	// onCancel is OnCancel's func; guarded by conn.mu.
	onCancel func()

	// The response side.
	resHeader  transport.Header
	status     int
	headerSent bool
	wroteBody  bool
	pend       *[]byte // response bytes written and not yet queued
}

var (
	_ transport.Stream = (*serverStream)(nil)
	_ transport.Body   = (*serverBody)(nil)
	_ transport.Body   = (*clientBody)(nil)
)

// SetDeadline implements transport.Stream: at t, a stream whose
// response is not complete is reset with CANCEL, which also wakes a
// sender waiting for flow-control window.
func (st *serverStream) SetDeadline(t time.Time) {
	var next *time.Timer
	if !t.IsZero() {
		next = time.AfterFunc(time.Until(t), func() { st.reset(http2.ErrCodeCancel, true) })
	}
	if old := st.deadline.Swap(next); old != nil {
		old.Stop()
	}
}

// SetDeadlineNotify implements transport.DeadlineNotifier: one timer
// calls f at deadline and resets the stream at backstop, as SetDeadline's
// would. Called once, before the first write.
func (st *serverStream) SetDeadlineNotify(deadline, backstop time.Time, f func()) {
	st.atDeadline, st.grace = f, backstop.Sub(deadline)
	t := time.AfterFunc(time.Until(deadline), st.deadlinePassed)
	if old := st.deadline.Swap(t); old != nil {
		old.Stop()
	}
}

// deadlinePassed is the timer's func: at the deadline, it calls
// atDeadline and sets itself for the backstop; at the backstop, it resets
// the stream. A stream released meanwhile (release took the timer) is
// left alone.
func (st *serverStream) deadlinePassed() {
	t := st.deadline.Load()
	if t == nil {
		return
	}
	if f := st.atDeadline; f != nil {
		st.atDeadline = nil // only this timer's goroutine reads it now
		f()
		t.Reset(st.grace)
		if st.deadline.Load() != t { // released meanwhile
			t.Stop()
		}
		return
	}
	st.reset(http2.ErrCodeCancel, true)
}

// Finish implements transport.Stream.
func (st *serverStream) Finish() {
	st.finish()
	if st.detached.Load() {
		st.release()
	}
}

// OnCancel implements transport.Stream.
func (st *serverStream) OnCancel(f func()) {
	st.sc.mu.Lock()
	if f != nil && st.contextDone() {
		st.sc.mu.Unlock()
		go f()
		return
	}
	st.onCancel = f
	st.sc.mu.Unlock()
}

// cancelled cancels the stream's context for a reason other than its own
// end, and calls OnCancel's func.
func (st *serverStream) cancelled() {
	st.end()
	st.sc.mu.Lock()
	f := st.onCancel
	st.onCancel = nil
	st.sc.mu.Unlock()
	if f != nil {
		go f()
	}
}

// Detach implements transport.Stream. The request's header map, read
// by now, is let go.
func (st *serverStream) Detach() {
	st.reqHeader = nil
	st.detached.Store(true)
}

// TryWrite implements transport.TryWriter.
func (st *serverStream) TryWrite(p []byte) (bool, error) {
	if st.contextDone() {
		return false, errStreamClosed
	}
	if st.pend != nil {
		return false, nil
	}
	st.writeHeader(200)
	var items [2]item
	batch := items[:0]
	if !st.headerSent {
		hi, ok := st.headerItem(false)
		if !ok {
			return false, errStreamClosed
		}
		batch = append(batch, hi)
	}
	if len(p) > 0 {
		st.wroteBody = true
	}
	if ok, err := st.sc.tryTake(&st.send, int64(len(p))); !ok {
		if err != nil {
			err = errStreamClosed
		}
		return false, err
	}
	if len(batch) > 0 {
		st.markHeaderSent()
	}
	if len(p) > 0 {
		batch = append(batch, item{kind: itemData, sid: st.id, data: p, s: &st.send})
	}
	st.sc.pushReply(&st.send, batch...)
	return true, nil
}

// Context implements transport.StreamRequest: it is made now if it has
// not been, and cancelled at once if the stream has ended.
func (st *serverStream) Context() context.Context {
	sc := st.sc
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if st.ctx == nil {
		st.ctx, st.cancel = context.WithCancel(connCtx{sc})
		// Set before ended is read, as end sets ended before it reads
		// hasCtx: one of the two cancels.
		st.hasCtx.Store(true)
		if st.ended.Load() {
			st.cancel()
		}
	}
	return st.ctx
}

// ContextValues implements transport.LazyContext: the stream context's
// values are those of the context the connection was served with.
func (st *serverStream) ContextValues() context.Context { return st.sc.values }

// RemoteNetAddr implements transport.RemoteNetAddrer: the connection's
// own address, which RemoteAddr parsed again would cost every call.
func (st *serverStream) RemoteNetAddr() net.Addr { return st.sc.nc.RemoteAddr() }

// LocalNetAddr implements transport.LocalNetAddrer: the address the
// connection was accepted on.
func (st *serverStream) LocalNetAddr() net.Addr { return st.sc.nc.LocalAddr() }

// ContextDone implements transport.LazyContext.
func (st *serverStream) ContextDone() bool { return st.contextDone() }

// contextDone reports whether the stream's context is, or would be,
// cancelled: the stream has ended, or its connection has closed.
func (st *serverStream) contextDone() bool {
	if st.ended.Load() {
		return true
	}
	select {
	case <-st.sc.closed:
		return true
	default:
		return false
	}
}

// end marks the stream's context ended and cancels it if it was made.
func (st *serverStream) end() {
	st.ended.Store(true)
	if !st.hasCtx.Load() {
		return // Context cancels what it makes from now on
	}
	st.sc.mu.Lock()
	cancel := st.cancel
	st.sc.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (st *serverStream) Method() string                   { return st.method }
func (st *serverStream) Path() string                     { return st.path }
func (st *serverStream) Authority() string                { return st.authority }
func (st *serverStream) RequestHeader() transport.Header  { return st.reqHeader }
func (st *serverStream) RemoteAddr() string               { return st.sc.remoteAddr }
func (st *serverStream) TLS() *tls.ConnectionState        { return st.sc.tlsState }
func (st *serverStream) Body() transport.Body             { return (*serverBody)(&st.body) }
func (st *serverStream) WriteHeader(status int)           { st.writeHeader(status) }
func (st *serverStream) ResponseHeader() transport.Header { return st.header() }
func (st *serverStream) header() transport.Header {
	if st.resHeader == nil {
		st.resHeader = make(transport.Header, 4)
	}
	return st.resHeader
}

func (st *serverStream) writeHeader(status int) {
	if st.status == 0 {
		st.status = status
	}
}

// Write implements transport.Stream: it buffers p and queues full
// chunks; Flush queues the rest.
func (st *serverStream) Write(p []byte) (int, error) {
	if st.contextDone() {
		return 0, errStreamClosed
	}
	st.writeHeader(200)
	st.wroteBody = true
	written := 0
	for len(p) > 0 {
		if st.pend == nil {
			st.pend = getBuf(chunkSize)
			*st.pend = (*st.pend)[:0]
		}
		k := min(cap(*st.pend)-len(*st.pend), len(p))
		*st.pend = append(*st.pend, p[:k]...)
		p = p[k:]
		written += k
		if len(*st.pend) == cap(*st.pend) {
			if err := st.flushPending(false, nil, nil); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// Flush implements transport.Stream.
func (st *serverStream) Flush() error {
	st.writeHeader(200)
	if st.headerSent && st.pend == nil {
		return nil
	}
	return st.flushPending(false, nil, nil)
}

// headerItem builds the response HEADERS item. If the header list is
// over the client's limit (fits), the stream has been reset instead and
// headerItem reports false.
func (st *serverStream) headerItem(end bool) (item, bool) {
	fs := make([]hpack.HeaderField, 1, 1+len(st.resHeader))
	fs[0] = hpack.HeaderField{Name: ":status", Value: statusText(st.status)}
	fs = appendFields(fs, st.resHeader, false)
	if !st.fits(fs, "headers") {
		return item{}, false
	}
	return item{kind: itemHeaders, sid: st.id, end: end, fields: fs, s: &st.send}, true
}

// markHeaderSent notes that the response HEADERS are queued: only
// trailers set so far need keeping, so that a stream held open keeps no
// map it will not use.
func (st *serverStream) markHeaderSent() {
	st.headerSent = true
	if !hasTrailers(st.resHeader) {
		st.resHeader = nil
	}
}

// fits reports whether the header list fs is within the client's
// SETTINGS_MAX_HEADER_LIST_SIZE. If not, it is not sent: a client's
// Framer (x/net's, grpc-go's, parley's) ends the whole connection for a
// header block far over its limit, failing every other stream on it.
// The stream is reset with INTERNAL_ERROR instead, as grpc-go's server
// does, its handler's context cancelled and the reason logged. sc.mu
// must not be held.
func (st *serverStream) fits(fs []hpack.HeaderField, what string) bool {
	limit := st.sc.peerMaxList.Load()
	if limit == 0 {
		return true
	}
	n := headerListSize(fs)
	if n <= limit {
		return true
	}
	if l := st.sc.srv.cfg.Logger; l != nil {
		l.Warn("parley: response "+what+" larger than the client's SETTINGS_MAX_HEADER_LIST_SIZE; stream reset",
			"remote", st.sc.remoteAddr, "stream", st.id, "size", n, "limit", limit)
	}
	putBuf(st.pend)
	st.pend = nil
	st.reset(http2.ErrCodeInternal, true)
	return false
}

// flushPending queues the headers, if not yet sent, and the buffered
// body, then post; last is sendData's.
func (st *serverStream) flushPending(end bool, post []item, last func()) error {
	var hdr [1]item
	pre := hdr[:0]
	if !st.headerSent {
		hi, ok := st.headerItem(false)
		if !ok {
			return errStreamClosed
		}
		st.markHeaderSent()
		pre = append(pre, hi)
	}
	buf := st.pend
	st.pend = nil
	var p []byte
	if buf != nil {
		p = *buf
	}
	if err := st.sc.sendData(&st.send, pre, p, buf, end, post, last); err != nil {
		return errStreamClosed
	}
	return nil
}

// finish ends the response once the handler has returned: the headers,
// buffered body and trailers go to the writer together; with no body and
// no trailers, one HEADERS frame with END_STREAM (trailers-only).
func (st *serverStream) finish() {
	sc := st.sc
	sc.mu.Lock()
	done, remoteDone := st.localDone, st.remoteDone
	sc.mu.Unlock()
	if done {
		putBuf(st.pend)
		st.pend = nil
		return
	}
	if st.inline && !st.detached.Load() && sc.w.claim(&st.send) {
		// Served on the reader goroutine: it writes the end itself.
		defer sc.w.drainClaimed(&st.send)
	}
	st.writeHeader(200)
	trailers := hasTrailers(st.resHeader)
	var arr [3]item // the trailers, a reset and the end mark, without allocating
	post := arr[:0]
	if trailers {
		fs := appendFields(make([]hpack.HeaderField, 0, 4), st.resHeader, true)
		if !st.fits(fs, "trailers") {
			return
		}
		post = append(post, item{kind: itemHeaders, sid: st.id, end: true, fields: fs, s: &st.send})
	}
	if !remoteDone {
		// RFC 9113, 8.1: the response is complete; the client need not
		// send the rest of its request.
		post = append(post, item{kind: itemRST, sid: st.id, code: http2.ErrCodeNo})
	}
	post = append(post, item{kind: itemStreamDone, sid: st.id})
	// The stream is closed (by END_STREAM both ways, or by the
	// RST_STREAM in post) in the critical section that queues its last
	// frame. Until the writer has written that frame (itemStreamDone, in
	// post), it still counts against MAX_CONCURRENT_STREAMS, in
	// conn.unwritten: a client that sends requests and never reads the
	// responses is refused new streams, rather than making the server
	// queue responses without bound.
	closed := func() {
		sc.unwritten.Add(1)
		st.localDone = true
		if !remoteDone {
			sc.noteResetLocked(st.id)
		}
		sc.removeStreamLocked(st.id)
	}
	var err error
	if !st.headerSent && !st.wroteBody && !trailers {
		hi, ok := st.headerItem(true)
		if !ok {
			return
		}
		st.markHeaderSent()
		sc.mu.Lock()
		closed()
		var b [4]item
		sc.w.push(append(append(b[:0], hi), post...)...)
		sc.mu.Unlock()
	} else {
		err = st.flushPending(!trailers, post, closed)
	}
	sc.mu.Lock()
	st.localDone = true
	st.send.stop(errStreamClosed, err != nil)
	sc.removeStreamLocked(st.id)
	sc.mu.Unlock()
	// Whatever of the request is buffered, or still arrives, will never
	// be read: its bytes go back to the connection window now.
	_ = st.body.close(errStreamClosed) // the call is over: its reader is stopped by the runtime
}

// reset ends the stream with RST_STREAM(code) from the server; with
// cancel, the handler's context is cancelled.
func (st *serverStream) reset(code http2.ErrCode, cancel bool) {
	sc := st.sc
	sc.mu.Lock()
	if st.localDone && st.remoteDone {
		sc.mu.Unlock()
		return
	}
	st.localDone, st.remoteDone = true, true
	st.send.stop(errStreamClosed, true)
	sc.removeStreamLocked(st.id)
	sc.noteResetLocked(st.id)
	sc.pushCtrl(item{kind: itemRST, sid: st.id, code: code})
	sc.mu.Unlock()
	if notify := st.body.close(transport.StreamError{Code: uint32(code)}); notify != nil {
		notify()
	}
	if cancel {
		st.cancelled()
	}
	sc.closeIfDrained()
}

// peerReset handles RST_STREAM from the client. Reader goroutine.
func (st *serverStream) peerReset(code http2.ErrCode) {
	sc := st.sc
	sc.mu.Lock()
	st.localDone, st.remoteDone = true, true
	st.send.stop(errClientReset, true)
	sc.removeStreamLocked(st.id)
	sc.mu.Unlock()
	if notify := st.body.close(errClientReset); notify != nil {
		notify()
	}
	st.cancelled()
}

// serverBody is a request body as the seam sees it.
type serverBody recvBuf

func (b *serverBody) Read(p []byte) (int, error)    { return (*recvBuf)(b).Read(p) }
func (b *serverBody) TryRead(p []byte) (int, error) { return (*recvBuf)(b).TryRead(p) }
func (b *serverBody) SetNotify(fn func())           { (*recvBuf)(b).SetNotify(fn) }

// Close discards the rest of the request body and credits it. The
// closer is done with the body: its notify func is not called.
func (b *serverBody) Close() error {
	_ = (*recvBuf)(b).close(nil)
	return nil
}
