package transport

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"
)

// ServerConfig configures the HTTP/2 server side.
type ServerConfig struct {
	MaxConcurrentStreams uint32
	MaxHeaderListSize    uint32
	// MaxUploadBufferPerStream and MaxUploadBufferPerConnection bound how
	// many request bytes the server accepts before its reader consumes them:
	// HTTP/2 flow control windows.
	MaxUploadBufferPerStream     int32
	MaxUploadBufferPerConnection int32
	IdleTimeout                  time.Duration
	// PingInterval sends a PING after this long without frames; a peer that
	// does not answer within PingTimeout is closed. Zero disables.
	PingInterval time.Duration
	PingTimeout  time.Duration
}

// StreamHandler serves one stream. It runs on its own goroutine and the
// stream is finished when it returns.
type StreamHandler func(s *ServerStream)

// Server serves HTTP/2 connections, each stream to a StreamHandler.
type Server struct {
	h2      *http2.Server
	h1      *http.Server // carries limits and the graceful-shutdown hook only; it never listens
	handler http.Handler
}

// NewServer returns a server that calls h for every stream.
func NewServer(cfg ServerConfig, h StreamHandler) *Server {
	h2s := &http2.Server{
		MaxConcurrentStreams:         cfg.MaxConcurrentStreams,
		MaxUploadBufferPerStream:     cfg.MaxUploadBufferPerStream,
		MaxUploadBufferPerConnection: cfg.MaxUploadBufferPerConnection,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadIdleTimeout:              cfg.PingInterval,
		PingTimeout:                  cfg.PingTimeout,
	}
	h1 := &http.Server{MaxHeaderBytes: int(cfg.MaxHeaderListSize)}
	// ConfigureServer registers h2s's graceful shutdown (GOAWAY to every
	// connection) as h1's shutdown hook; Shutdown triggers it.
	_ = http2.ConfigureServer(h1, h2s)
	s := &Server{h2: h2s, h1: h1}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(&ServerStream{w: w, r: r, rc: http.NewResponseController(w)})
	})
	return s
}

// ServeConn serves one connection until it closes. For a *tls.Conn the TLS
// handshake must have negotiated "h2".
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	s.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:    ctx,
		Handler:    s.handler,
		BaseConfig: s.h1,
	})
}

// GoAway starts a graceful shutdown of every connection: each gets a GOAWAY
// and closes once its streams have finished.
func (s *Server) GoAway() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// h1 has no listeners or connections of its own; Shutdown only runs
	// the registered hooks.
	_ = s.h1.Shutdown(ctx)
}

// ServerStream is one request stream on the server. It is used by the
// goroutine its StreamHandler runs on; Body may be read by one other
// goroutine concurrently with the response methods.
type ServerStream struct {
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController
}

// Context is cancelled when the client resets the stream or the connection
// goes away.
func (s *ServerStream) Context() context.Context { return s.r.Context() }

// Method is the request's :method.
func (s *ServerStream) Method() string { return s.r.Method }

// Path is the request's :path.
func (s *ServerStream) Path() string { return s.r.URL.Path }

// Authority is the request's :authority.
func (s *ServerStream) Authority() string { return s.r.Host }

// ProtoMajor is 2 for HTTP/2.
func (s *ServerStream) ProtoMajor() int { return s.r.ProtoMajor }

// RequestHeader returns the request's header fields.
func (s *ServerStream) RequestHeader() Header { return Header(s.r.Header) }

// RemoteAddr is the peer's address as "host:port".
func (s *ServerStream) RemoteAddr() string { return s.r.RemoteAddr }

// TLS is the connection's TLS state, or nil over h2c.
func (s *ServerStream) TLS() *tls.ConnectionState { return s.r.TLS }

// Body is the request body: the bytes of the client's DATA frames. Reading
// it returns flow-control credit to the client, so not reading it stops the
// client (backpressure).
func (s *ServerStream) Body() io.Reader { return s.r.Body }

// ResponseHeader is the header map to fill before WriteHeader. After
// WriteHeader, fields set with TrailerPrefix on their key become trailers.
func (s *ServerStream) ResponseHeader() Header { return Header(s.w.Header()) }

// TrailerPrefix marks a ResponseHeader key, set after WriteHeader, as a
// trailer field.
const TrailerPrefix = http.TrailerPrefix

// WriteHeader sets the response :status. Headers are sent with the first
// Flush or Write, or, when the handler returns with no body and no
// trailers, as a single HEADERS frame with END_STREAM (a trailers-only
// response).
func (s *ServerStream) WriteHeader(status int) { s.w.WriteHeader(status) }

// Write queues response body bytes.
func (s *ServerStream) Write(p []byte) (int, error) { return s.w.Write(p) }

// Flush sends what has been written so far.
func (s *ServerStream) Flush() error { return s.rc.Flush() }

// CloseBody closes the request body: a Read blocked in another goroutine
// returns an error. Safe to call concurrently with Read.
func (s *ServerStream) CloseBody() { _ = s.r.Body.Close() }
