package runtime

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/h2"
	"github.com/parleyrpc/parley/runtime/internal/nethttp"
	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("parley: server closed")

// Server serves parley and gRPC calls over HTTP/2: h2c with prior knowledge,
// or TLS with ALPN h2 when configured WithTLS.
//
// Register methods (Handle, HandleUnary, ... or generated Register
// functions) before calling Serve; registering while serving is safe but a
// call may race its method's registration. Serve may be called on several
// listeners at once. All methods are safe for concurrent use.
type Server struct {
	cfg serverConfig
	tr  transport.Server

	// baseCtx is the parent of every connection's and call's context;
	// cancelled by Close (and by Shutdown when its ctx ends).
	baseCtx    context.Context
	baseCancel context.CancelFunc

	// hdrAcceptEncoding is the grpc-accept-encoding value of every
	// response, set by NewServer; its slice is shared by all calls.
	hdrAcceptEncoding []string
	// hdrContentType maps each codec's name to the content-type value a
	// response in it carries, built by NewServer and shared by all calls
	// as hdrAcceptEncoding is.
	hdrContentType map[string][]string

	mu        sync.RWMutex
	methods   map[string]*methodDesc // guarded by mu
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	draining  bool // set by Shutdown/Close: no new listeners or connections
	closed    bool
	connWG    sync.WaitGroup // one per connection being served, and per call through ServeHTTP

	httpOnce sync.Once
	http     http.Handler // ServeHTTP's: Handler(); set on its first call

	// http1 serves the connections that do not speak HTTP/2, with the
	// WithHTTPHandler handler; nil without one.
	http1 *nethttp.HTTP1Server
}

type methodDesc struct {
	name  string
	kind  Kind
	serve func(ss *serverCore)
}

// NewServer returns a server with no methods.
func NewServer(opts ...ServerOption) *Server {
	cfg := serverConfig{common: defaultCommon(), maxStreams: DefaultMaxConcurrentStreams}
	for _, o := range opts {
		o.applyServer(&cfg)
	}
	s := &Server{
		cfg:               cfg,
		hdrAcceptEncoding: []string{cfg.acceptEncoding()},
		hdrContentType:    make(map[string][]string, len(cfg.codecNames)),
		methods:           make(map[string]*methodDesc),
		listeners:         make(map[net.Listener]struct{}),
		conns:             make(map[net.Conn]struct{}),
	}
	// "" is bare application/grpc, which stock gRPC clients send.
	for _, name := range append([]string{""}, cfg.codecNames...) {
		s.hdrContentType[name] = []string{wire.ContentType(name)}
	}
	s.baseCtx, s.baseCancel = context.WithCancel(context.Background())
	tcfg := transport.ServerConfig{
		MaxConcurrentStreams:         cfg.maxStreams,
		MaxHeaderListSize:            cfg.maxHeader,
		MaxUploadBufferPerStream:     cmp.Or(cfg.streamWindow, transport.DefaultServerStreamWindow),
		MaxUploadBufferPerConnection: cmp.Or(cfg.connWindow, transport.DefaultServerConnWindow),
		PingInterval:                 cfg.pingEvery,
		PingTimeout:                  cfg.pingTimeout,
		IdleTimeout:                  cfg.maxIdle,
		ConnectionTimeout:            cfg.connTimeout,
		MaxConnectionAge:             cfg.maxAge,
		MaxConnectionAgeGrace:        cfg.ageGrace,
		Logger:                       cfg.log(),
		// The application's handler may serve WebSocket over HTTP/2.
		ExtendedConnect: cfg.httpHandler != nil,
	}
	tcfg.KeepaliveMinTime, tcfg.KeepaliveRequireStream = cfg.keepaliveEnforcement()
	if cfg.httpHandler != nil {
		s.http1 = nethttp.NewHTTP1Server(tcfg, cfg.httpHandler)
	}
	if cfg.transport == TransportFramer {
		s.tr = h2.NewServer(tcfg, s.serveStream)
	} else {
		s.tr = nethttp.NewServer(tcfg, s.serveStream)
	}
	return s
}

func (s *Server) register(name string, kind Kind, serve func(*serverCore)) {
	if _, _, err := wire.ParsePath(name); err != nil {
		panic(fmt.Sprintf("parley: invalid method name %q: %v", name, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.methods[name]; dup {
		panic(fmt.Sprintf("parley: method %s registered twice", name))
	}
	s.methods[name] = &methodDesc{name: name, kind: kind, serve: serve}
}

// Methods returns the full names of the registered methods.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.methods))
	for name := range s.methods {
		out = append(out, name)
	}
	return out
}

// Serve accepts connections on l and serves each on its own goroutines
// until l fails or the server is shut down; it then returns ErrServerClosed
// (after Shutdown or Close) or the accept error. It closes l on return.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed || s.draining {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			s.mu.RLock()
			stopping := s.draining || s.closed
			s.mu.RUnlock()
			if stopping {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !s.trackConn(conn) {
			conn.Close()
			return ErrServerClosed
		}
		go s.serveConn(conn)
	}
}

func (s *Server) trackConn(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining {
		return false
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return true
}

func (s *Server) untrackConn(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// serveConn runs one connection: the TLS handshake if configured, then
// HTTP/2 until the connection ends.
func (s *Server) serveConn(c net.Conn) {
	tracked := c
	keep := false   // a handler took the connection over (a WebSocket)
	handed := false // the HTTP/2 transport owns it, and ends it
	defer func() {
		if handed {
			return
		}
		if !keep {
			c.Close()
		}
		s.untrackConn(tracked)
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	// One deadline covers the TLS handshake and the HTTP/2 preface; the
	// transport lifts it once the client's first SETTINGS has arrived.
	timeout := s.cfg.connTimeout
	if timeout <= 0 {
		timeout = DefaultConnectionTimeout
	}
	deadline := time.Now().Add(timeout)
	_ = c.SetReadDeadline(deadline)
	if s.cfg.tls != nil {
		cfg := s.cfg.tls.Clone()
		cfg.NextProtos = []string{"h2"}
		if s.http1 != nil {
			cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
		}
		tconn := tls.Server(c, cfg)
		ctx, cancel := context.WithDeadline(s.baseCtx, deadline)
		err := tconn.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.cfg.log().Debug("parley: TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		if p := tconn.ConnectionState().NegotiatedProtocol; p != "h2" {
			if s.http1 != nil {
				keep = s.http1.ServeConn(s.baseCtx, tconn)
				return
			}
			s.cfg.log().Debug("parley: client did not negotiate h2", "remote", c.RemoteAddr().String(), "alpn", p)
			return
		}
		c = tconn
	} else if s.http1 != nil {
		var isH2 bool
		var n int
		if c, isH2, n = transport.SniffPreface(c); !isH2 {
			if n == 0 {
				// Nothing arrived within the connection timeout (or
				// the client closed): not a client of either kind.
				return
			}
			keep = s.http1.ServeConn(s.baseCtx, c)
			return
		}
	}
	// The transport may return before the connection ends (an idle one
	// parks with no goroutine): it says when with the done func.
	handed = true
	s.tr.ServeConn(s.baseCtx, c, func() {
		c.Close()
		s.untrackConn(tracked)
	})
}

// Shutdown stops the server gracefully: it closes the listeners, sends
// GOAWAY on every connection, and waits for the calls in flight to finish.
// Calls the client starts after it received the GOAWAY are refused with
// REFUSED_STREAM: a parley or grpc-go client retries them on a new
// connection where it can and reports UNAVAILABLE where it cannot. Calls
// started before are served: GOAWAY promises that. If ctx ends first, the remaining calls
// are cancelled (their handlers see cancellation, their clients a
// CANCELLED or UNAVAILABLE status) and Shutdown returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.tr.GoAway()
	if s.http1 != nil {
		s.http1.GoAway()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.Close()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close stops the server at once: listeners and connections are closed and
// every call's context is cancelled. It waits for the connections' serving
// goroutines to end, not for handlers that ignore their context.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.draining = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.baseCancel()
	s.connWG.Wait()
	return nil
}

// deadlineSlack is how close to its deadline a call must be for a client
// reset to count as the deadline passing rather than a cancellation.
const deadlineSlack = 50 * time.Millisecond

// deadlineGrace is how long after a call's deadline the transport resets
// its stream if the call has not ended by then: the status the call ends
// with at its deadline (DEADLINE_EXCEEDED, or a handler's own result) goes
// out first, and a stream whose response cannot go out (a client that
// grants no flow-control window) is still released.
const deadlineGrace = 250 * time.Millisecond

// serveStream serves one stream, in phases: route it to a method and a
// codec (route), read the request's headers (readRequest), then give the
// call its context and run the method (serve). A phase that fails ends
// the call with its status. It runs on the stream's own goroutine.
func (s *Server) serveStream(st transport.Stream) {
	if s.cfg.httpHandler != nil && !isGRPC(st) {
		// Not gRPC, on one of the server's own connections: the
		// application's handler serves it (WithHTTPHandler).
		nethttp.ServeStream(s.cfg.httpHandler, st)
		return
	}
	s.serveCall(st)
}

// isGRPC reports whether st is a gRPC request (its content-type is
// application/grpc, with or without a subtype), as opposed to a web page,
// gRPC-Web or anything else.
func isGRPC(st transport.Stream) bool {
	_, ok := wire.ParseContentType(st.RequestHeader().Get(wire.HeaderContentType))
	return ok
}

// serveCall serves a stream as a gRPC call.
func (s *Server) serveCall(st transport.Stream) {
	ss, md := s.route(st)
	if md == nil {
		return
	}
	if !ss.readRequest() {
		return
	}
	s.serve(ss, md)
}

// route checks that st is a gRPC request, and finds its codec and method;
// nil if it is not served (the call was answered).
func (s *Server) route(st transport.Stream) (*serverCore, *methodDesc) {
	if st.Method() != "POST" {
		refuseHTTP(st, 405, "parley: gRPC requires POST, got "+st.Method())
		return nil, nil
	}
	ct := st.RequestHeader().Get(wire.HeaderContentType)
	subtype, ok := wire.ParseContentType(ct)
	if !ok {
		refuseHTTP(st, 415, fmt.Sprintf("parley: invalid gRPC request content-type %q", ct))
		return nil, nil
	}
	ss := &serverCore{srv: s, st: st, method: st.Path(), subtype: subtype}
	codecName := strings.ToLower(subtype)
	if codecName == "" {
		// "application/grpc" names no codec: by gRPC convention it is
		// protobuf, served by a codec named "proto" if one was added.
		codecName = "proto"
	}
	codec, ok := s.cfg.codecs[codecName]
	if !ok {
		ss.subtype = wire.Msgpack.Name()
		ss.finish(endWith(wire.Errorf(wire.Unimplemented, "no codec for content-subtype %q; this server speaks %s", subtype, s.codecList())))
		return nil, nil
	}
	ss.codec = codec
	s.mu.RLock()
	// No check for a shutdown here: a stream the transport accepted was
	// opened before the client saw GOAWAY, and GOAWAY's last-stream-id
	// promises it will be served. Streams opened after it are refused by
	// the transport with REFUSED_STREAM, which clients retry elsewhere or
	// report as UNAVAILABLE.
	md := s.methods[ss.method]
	s.mu.RUnlock()
	if md == nil {
		ss.finish(endWith(unknownMethod(ss.method, s)))
		return nil, nil
	}
	ss.kind = md.kind
	return ss, md
}

// readRequest reads the request's headers into ss: its compression, its
// deadline, its metadata and its peer. false if they are malformed (the
// call was answered).
func (ss *serverCore) readRequest() bool {
	hdr := ss.st.RequestHeader()
	if !ss.chooseCompressors(hdr) {
		return false
	}
	// Present but empty is malformed too, as in grpc-go: not "no deadline".
	if vs := hdr.Values(wire.HeaderTimeout); len(vs) > 0 {
		v := vs[0]
		d, err := wire.DecodeTimeout(v)
		if err != nil {
			ss.finish(endWith(wire.Errorf(wire.Internal, "malformed grpc-timeout %q: %v", v, err)))
			return false
		}
		ss.deadline = time.Now().Add(d)
	}
	pairs, err := decodeMetadataPairs(hdr)
	if err != nil {
		ss.finish(endWith(wire.Errorf(wire.Internal, "malformed request metadata: %v", err)))
		return false
	}
	ss.md.pairs = pairs
	addr := transport.RemoteNetAddr(ss.st)
	if addr == nil {
		addr = parseAddr(ss.st.RemoteAddr())
	}
	ss.peer = Peer{Addr: addr, TLS: ss.st.TLS()}
	return true
}

// serve gives the call its context (and stats) and runs md's method.
func (s *Server) serve(ss *serverCore, md *methodDesc) {
	st := ss.st
	// The handler's context ends when the deadline passes, the client
	// resets the stream or goes away, or the call is over. It does not
	// inherit the stream's cancellation directly: a client whose deadline
	// fires resets the stream at about the moment the server's own timer
	// fires, and the handler should see DeadlineExceeded, not Canceled.
	// So it takes only the stream context's values, which spares the
	// framer transport making that context at all (LazyContext), and
	// adds one, the call itself (callCtx.Value), which carries the
	// metadata and peer that IncomingMetadata and PeerFromContext return.
	ss.cctx.init(ss, transport.ContextValues(st))
	ss.ctx = &ss.cctx
	st.OnCancel(func() {
		if !ss.resetNearDeadline() {
			ss.cancel()
		} // else the deadline is about to end the context itself
	})
	if s.cfg.stats != nil {
		ss.stats = newCallStats(s.cfg.stats, ss.ctx, false, ss.method, ss.kind, ss.peer.Addr, localAddr(st))
	}
	md.serve(ss)
	if !ss.detached {
		ss.release(ss.finished)
	}
}

// localAddr is the address st's connection was accepted on: the
// transport's, or the one net/http puts in its requests' context (the
// streams that come through net/http: TransportNetHTTP, Handler), or nil.
func localAddr(st transport.Stream) net.Addr {
	if a := transport.LocalNetAddr(st); a != nil {
		return a
	}
	a, _ := transport.ContextValues(st).Value(http.LocalAddrContextKey).(net.Addr)
	return a
}

// release ends the call's stats (unless finished: the client went away,
// or reset the stream as the deadline passed), its watch on the stream
// and its context, once the call is over: when md.serve returns, or, for
// a call served without a goroutine of its own (HandleConversation), when
// the conversation ends.
func (ss *serverCore) release(finished bool) {
	if ss.stats != nil && !finished {
		ss.stats.end(ss.goneStatus())
	}
	ss.st.OnCancel(nil)
	ss.cancel()
}

// goneStatus is the status of a call that ended without one: the client
// reset the stream or went away. A reset that came as the deadline passed
// counts as the deadline (resetNearDeadline, which left the handler's
// context to end with DeadlineExceeded), and is reported as
// DEADLINE_EXCEEDED, as the handler saw it; any other as CANCELLED.
func (ss *serverCore) goneStatus() error {
	if errors.Is(ss.ctx.Err(), context.DeadlineExceeded) {
		return ctxStatus(ss.ctx)
	}
	return wire.NewError(wire.Canceled, "the client cancelled the call or went away")
}

func (s *Server) codecList() string {
	names := make([]string, 0, len(s.cfg.codecNames))
	for _, n := range s.cfg.codecNames {
		names = append(names, wire.ContentType(n))
	}
	return strings.Join(names, ", ")
}

// unknownMethod builds grpc-go's UNIMPLEMENTED wording: an unknown service
// and an unknown method of a known service are told apart.
func unknownMethod(path string, s *Server) error {
	svc, method, err := wire.ParsePath(path)
	if err != nil {
		return wire.Errorf(wire.Unimplemented, "malformed method name %q", path)
	}
	prefix := "/" + svc + "/"
	s.mu.RLock()
	known := false
	for name := range s.methods {
		if strings.HasPrefix(name, prefix) {
			known = true
			break
		}
	}
	s.mu.RUnlock()
	if known {
		return wire.Errorf(wire.Unimplemented, "unknown method %s for service %s", method, svc)
	}
	return wire.Errorf(wire.Unimplemented, "unknown service %s", svc)
}

// A request that is not a gRPC call (not a POST, or without a gRPC
// content-type) is answered with an HTTP error status once the client has
// sent all of it, not at once. A response that ends while the request is
// still open makes the transport close the stream with RST_STREAM(NO_ERROR)
// (RFC 9113, 8.1: "A server can send a complete response prior to the
// client sending an entire request"), and whatever the client sends on the
// stream after that meets a closed stream: a peer that tests the server's
// handling of a faulty frame following its HEADERS (h2spec does, with
// exactly such requests) would then see a different answer depending on
// which came first. Waiting for the request's end keeps the stream open,
// so such a frame gets the stream error it calls for. The wait is bounded
// by the two limits below, after which the answer goes out anyway.
const (
	// nonGRPCMaxDrain is how much of a non-gRPC request's body is read
	// and discarded while waiting for its end (reading returns the flow
	// control credit, so the client is never stalled by the server).
	nonGRPCMaxDrain = 64 << 10
	// nonGRPCDrainTimeout is how long the server waits for a non-gRPC
	// request to end.
	nonGRPCDrainTimeout = 3 * time.Second
)

// refuseHTTP answers a request that is not a gRPC call with an HTTP error
// status, once the request is complete or the wait for its end is over
// (drainRequest). It runs on the stream's goroutine.
func refuseHTTP(st transport.Stream, status int, msg string) {
	drainRequest(st)
	writeHTTPError(st, status, msg)
}

// drainRequest reads and discards the request body until its end, for at
// most nonGRPCMaxDrain bytes and nonGRPCDrainTimeout. It returns early when
// the client resets the stream or the connection goes away (the body's
// Read then fails).
func drainRequest(st transport.Stream) {
	closed := make(chan struct{})
	timer := time.AfterFunc(nonGRPCDrainTimeout, func() {
		_ = st.Body().Close() // a Read blocked below returns an error
		close(closed)
	})
	_, _ = io.CopyN(io.Discard, st.Body(), nonGRPCMaxDrain+1)
	if !timer.Stop() {
		<-closed // the body is closed before the response is written
	}
}

func writeHTTPError(st transport.Stream, status int, msg string) {
	h := st.ResponseHeader()
	h.Set("content-type", "text/plain; charset=utf-8")
	st.WriteHeader(status)
	_, _ = st.Write([]byte(msg))
}

// parseAddr turns "host:port" into a net.Addr: a *net.TCPAddr when s is
// an IP address and port, else s as it is.
func parseAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return stringAddr(s)
}

type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
