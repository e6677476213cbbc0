package nethttp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// server is a transport.Server on net/http's HTTP/2: one http.Server, fed
// the connections the runtime accepted, one listener per connection.
type server struct {
	hs     *http.Server
	maxAge time.Duration // MaxConnectionAge plus its grace; zero: none
	h2     bool          // HTTP/2 only: an h2c connection's preface is checked first

	// conns maps each connection being served to its ServeConn's context
	// and the channel closed when net/http is done with it.
	conns sync.Map // net.Conn → *served
}

type served struct {
	ctx      context.Context
	done     chan struct{}
	once     sync.Once
	hijacked bool // set before done is closed
}

// NewServer returns a server on net/http's HTTP/2 (h2c with prior
// knowledge, or TLS with ALPN "h2"; no HTTP/1) that calls h for every
// stream.
func NewServer(cfg transport.ServerConfig, h transport.StreamHandler) transport.Server {
	var protos http.Protocols
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	return newServer(cfg, Handler(h), protos)
}

// HTTP1Server serves HTTP/1.1 connections, with TLS or without, to an
// http.Handler: a Server's connections that do not speak HTTP/2.
type HTTP1Server struct{ s *server }

// NewHTTP1Server returns an HTTP1Server that serves with h.
func NewHTTP1Server(cfg transport.ServerConfig, h http.Handler) *HTTP1Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	return &HTTP1Server{newServer(cfg, h, protos)}
}

// ServeConn serves c until it closes, or until a handler takes it over
// (hijacked: a WebSocket upgrade), in which case the connection is the
// handler's to close.
func (h *HTTP1Server) ServeConn(ctx context.Context, c net.Conn) (hijacked bool) {
	return h.s.serveConn(ctx, c)
}

// GoAway closes the idle connections and lets the others finish their
// requests.
func (h *HTTP1Server) GoAway() { h.s.GoAway() }

func newServer(cfg transport.ServerConfig, h http.Handler, protos http.Protocols) *server {
	s := &server{h2: !protos.HTTP1()}
	if cfg.MaxConnectionAge > 0 {
		s.maxAge = cfg.MaxConnectionAge + cfg.MaxConnectionAgeGrace
	}
	s.hs = &http.Server{
		Handler:        h,
		Protocols:      &protos,
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: int(cfg.MaxHeaderListSize),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          int(cfg.MaxConcurrentStreams),
			MaxReceiveBufferPerStream:     window(cfg.MaxUploadBufferPerStream),
			MaxReceiveBufferPerConnection: window(cfg.MaxUploadBufferPerConnection),
			SendPingTimeout:               cfg.PingInterval,
			PingTimeout:                   cfg.PingTimeout,
			// The HTTP/2 default; net/http advertises 1 MiB otherwise.
			MaxReadFrameSize: 16 << 10,
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if sv, ok := s.conns.Load(c); ok {
				return sv.(*served).ctx
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				if sv, ok := s.conns.Load(c); ok {
					sv.(*served).hijacked = st == http.StateHijacked
					sv.(*served).close()
				}
			}
		},
	}
	if !s.h2 {
		// HTTP/1.1 keeps connections between requests: bound the wait
		// for a request's headers, and an idle connection's life.
		s.hs.ReadHeaderTimeout = cfg.ConnectionTimeout
		if s.hs.ReadHeaderTimeout <= 0 {
			s.hs.ReadHeaderTimeout = transport.DefaultConnectionTimeout
		}
		if s.hs.IdleTimeout == 0 {
			s.hs.IdleTimeout = 2 * time.Minute
		}
	}
	if cfg.Logger != nil {
		s.hs.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	}
	return s
}

// window is a flow-control window for net/http's HTTP2Config, which
// takes values below 4 MiB only (and uses its default otherwise).
func window(n int32) int { return int(min(n, 4<<20-1)) }

func (sv *served) close() { sv.once.Do(func() { close(sv.done) }) }

// ServeConn implements transport.Server.
func (s *server) ServeConn(ctx context.Context, c net.Conn, done func()) {
	s.serveConn(ctx, c)
	c.Close()
	if done != nil {
		done()
	}
}

func (s *server) serveConn(ctx context.Context, c net.Conn) (hijacked bool) {
	if s.maxAge > 0 {
		// net/http cannot drain one connection: close it at age plus
		// grace.
		nc := c // c is replaced below by the preface reader's wrapper
		t := time.AfterFunc(s.maxAge, func() { nc.Close() })
		defer t.Stop()
	}
	if _, isTLS := c.(*tls.Conn); !isTLS && s.h2 {
		// net/http must see a *tls.Conn to serve TLS, so only h2c
		// connections are wrapped.
		if c = readPreface(c); c == nil {
			return false
		}
	} else {
		// net/http bounds the wait for the preface (or an HTTP/1.1
		// request) itself.
		_ = c.SetReadDeadline(time.Time{})
	}
	sv := &served{ctx: ctx, done: make(chan struct{})}
	s.conns.Store(c, sv)
	defer s.conns.Delete(c)
	l := &oneConnListener{c: c, served: sv.done}
	if err := s.hs.Serve(l); errors.Is(err, http.ErrServerClosed) && !l.taken() {
		c.Close() // shut down before it could be served
		return false
	}
	<-sv.done
	return sv.hijacked
}

// GoAway implements transport.Server.
func (s *server) GoAway() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Shutdown sends every HTTP/2 connection a GOAWAY (its registered
	// shutdown hook) and closes the listeners; with a done context it
	// returns at once, and the connections close as their streams end.
	_ = s.hs.Shutdown(ctx)
}

// oneConnListener hands out one connection, then blocks until that
// connection is done (or the listener is closed), so that Serve returns.
type oneConnListener struct {
	mu     sync.Mutex
	c      net.Conn // nil once taken
	served chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	if l.closed == nil {
		l.closed = make(chan struct{})
	}
	closed := l.closed
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	select {
	case <-l.served:
	case <-closed:
	}
	return nil, net.ErrClosed
}

func (l *oneConnListener) taken() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c == nil
}

func (l *oneConnListener) Close() error {
	l.mu.Lock()
	if l.closed == nil {
		l.closed = make(chan struct{})
	}
	closed := l.closed
	l.mu.Unlock()
	l.once.Do(func() { close(closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		return l.c.LocalAddr()
	}
	return &net.TCPAddr{}
}

// readPreface reads the client's connection preface from an h2c
// connection, within the deadline the caller set, and then lifts that
// deadline. It returns a connection that reads the preface again, for
// net/http, or nil, having closed c, if the preface is missing or wrong:
// net/http would reset such a connection, while HTTP/2 asks for it to be
// closed (RFC 9113, 3.4).
func readPreface(c net.Conn) net.Conn {
	replay, ok, n := transport.SniffPreface(c)
	if !ok {
		if n > 0 {
			// Read what else was sent, so that closing sends FIN
			// rather than RST, which would discard any reply.
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
		}
		c.Close()
		return nil
	}
	_ = c.SetReadDeadline(time.Time{})
	return replay
}

// Handler returns an http.Handler that serves each request to h as a
// transport.Stream.
func Handler(h transport.StreamHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		transport.ServeBasic(&stream{w: w, r: r, rc: http.NewResponseController(w)}, h)
	})
}

// stream is a transport.BasicStream over net/http's handler types.
type stream struct {
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController
}

var _ transport.BasicStream = (*stream)(nil)

func (s *stream) Context() context.Context         { return s.r.Context() }
func (s *stream) Method() string                   { return s.r.Method }
func (s *stream) Path() string                     { return s.r.URL.RequestURI() }
func (s *stream) Authority() string                { return s.r.Host }
func (s *stream) RequestHeader() transport.Header  { return transport.Header(s.r.Header) }
func (s *stream) RemoteAddr() string               { return s.r.RemoteAddr }
func (s *stream) TLS() *tls.ConnectionState        { return s.r.TLS }
func (s *stream) Body() io.ReadCloser              { return s.r.Body }
func (s *stream) ResponseHeader() transport.Header { return transport.Header(s.w.Header()) }
func (s *stream) WriteHeader(status int)           { s.w.WriteHeader(status) }
func (s *stream) Write(p []byte) (int, error)      { return s.w.Write(p) }
func (s *stream) Flush() error                     { return s.rc.Flush() }
func (s *stream) SetDeadline(t time.Time)          { _ = s.rc.SetWriteDeadline(t) }
