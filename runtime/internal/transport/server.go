package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"
)

// xServer is built on x/net/http2's Server, ServeConn and ConfigureServer,
// which x/net deprecates in favour of net/http's HTTP/2; moving off them
// is a redesign of its own.
//
//lint:file-ignore SA1019 x/net/http2's Server is what xServer wraps until that redesign

// ServerConfig configures the HTTP/2 server side.
type ServerConfig struct {
	MaxConcurrentStreams uint32
	MaxHeaderListSize    uint32
	// MaxUploadBufferPerStream and MaxUploadBufferPerConnection bound how
	// many request bytes the server accepts before its reader consumes them:
	// HTTP/2 flow control windows.
	MaxUploadBufferPerStream     int32
	MaxUploadBufferPerConnection int32
	// IdleTimeout closes a connection gracefully (GOAWAY, then close once
	// drained) after it has had no open stream for this long; zero
	// disables (grpc-go's MaxConnectionIdle).
	IdleTimeout time.Duration
	// MaxConnectionAge closes a connection gracefully once it is this old
	// (give or take a tenth, so that connections made together do not
	// all go at once); MaxConnectionAgeGrace later, streams still open
	// are cut off. Zero disables (grpc-go's MaxConnectionAge and
	// MaxConnectionAgeGrace). x/net's server cannot send GOAWAY to one
	// connection: there the connection is closed at age plus grace.
	MaxConnectionAge      time.Duration
	MaxConnectionAgeGrace time.Duration
	// PingInterval sends a PING after this long without frames; a peer that
	// does not answer within PingTimeout is closed. Zero disables.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// KeepaliveMinTime and KeepaliveRequireStream are the policy for the
	// client's PINGs (runtime.WithKeepaliveEnforcement): a PING less than
	// KeepaliveMinTime after the previous one (two hours without an open
	// stream if KeepaliveRequireStream) is a strike, and the third strike
	// ends the connection with GOAWAY(ENHANCE_YOUR_CALM). Zero accepts any
	// rate. Enforced by runtime/internal/h2 only; x/net's server ignores it.
	KeepaliveMinTime       time.Duration
	KeepaliveRequireStream bool
	// Logger receives connection errors (a peer's protocol violations,
	// failed reads) at debug level, so that a hostile peer cannot flood
	// the log; nil keeps the standard log package for x/net/http2 and logs
	// nothing for the framer transport.
	Logger *slog.Logger
}

// StreamHandler serves one stream. It runs on its own goroutine and the
// stream is finished when it returns.
type StreamHandler func(s ServerStream)

// Server serves HTTP/2 connections, each stream to a StreamHandler.
type Server interface {
	// ServeConn serves one connection until it closes. For a *tls.Conn
	// the TLS handshake must have negotiated "h2". A read deadline set on
	// c bounds the wait for the client's connection preface and first
	// SETTINGS frame; the transport clears it once they have arrived.
	ServeConn(ctx context.Context, c net.Conn)
	// GoAway starts a graceful shutdown of every connection: each gets a
	// GOAWAY and closes once its streams have finished.
	GoAway()
}

// ServerStream is one request stream on the server. It is used by the
// goroutine its StreamHandler runs on; Body may be read (and CloseBody
// called) by one other goroutine concurrently with the response methods.
type ServerStream interface {
	// Context is cancelled when the client resets the stream or the
	// connection goes away.
	Context() context.Context
	// Method is the request's :method.
	Method() string
	// Path is the request's :path.
	Path() string
	// Authority is the request's :authority.
	Authority() string
	// RequestHeader returns the request's regular header fields.
	RequestHeader() Header
	// RemoteAddr is the peer's address as "host:port".
	RemoteAddr() string
	// TLS is the connection's TLS state, or nil over h2c.
	TLS() *tls.ConnectionState
	// Body is the request body: the bytes of the client's DATA frames.
	// Reading it returns flow-control credit to the client, so not
	// reading it stops the client (backpressure).
	Body() io.Reader
	// CloseBody closes the request body: a Read blocked in another
	// goroutine returns an error.
	CloseBody()
	// ResponseHeader is the header map to fill before WriteHeader. After
	// WriteHeader, fields set with TrailerPrefix on their key become
	// trailers.
	ResponseHeader() Header
	// WriteHeader sets the response :status. Headers are sent with the
	// first Flush, or, when the handler returns with no body and no
	// trailers, as a single HEADERS frame with END_STREAM (a
	// trailers-only response).
	WriteHeader(status int)
	// Write queues response body bytes.
	Write(p []byte) (int, error)
	// Flush sends what has been written so far.
	Flush() error
	// SetDeadline bounds the stream's life: if its response is not
	// complete at t, the stream is reset (RST_STREAM(CANCEL) on the
	// framer transport, as grpc-go's server does at a call's deadline;
	// x/net's resets with INTERNAL_ERROR), writes blocked on flow
	// control fail, and what it holds is released. Called by the
	// handler's goroutine, before the first write.
	SetDeadline(t time.Time)
}

// xServer serves HTTP/2 with golang.org/x/net/http2's Server.
type xServer struct {
	h2      *http2.Server
	h1      *http.Server // carries limits and the graceful-shutdown hook only; it never listens
	handler http.Handler
	maxAge  time.Duration // MaxConnectionAge plus its grace; zero: none
}

// NewServer returns a server on golang.org/x/net/http2 that calls h for
// every stream.
func NewServer(cfg ServerConfig, h StreamHandler) Server {
	h2s := &http2.Server{
		MaxConcurrentStreams:         cfg.MaxConcurrentStreams,
		MaxUploadBufferPerStream:     cfg.MaxUploadBufferPerStream,
		MaxUploadBufferPerConnection: cfg.MaxUploadBufferPerConnection,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadIdleTimeout:              cfg.PingInterval,
		PingTimeout:                  cfg.PingTimeout,
		// The HTTP/2 default. x/net advertises 1 MiB otherwise, and its
		// client then holds a scratch buffer of that size per open
		// streaming request.
		MaxReadFrameSize: 16 << 10,
	}
	h1 := &http.Server{MaxHeaderBytes: int(cfg.MaxHeaderListSize)}
	if cfg.Logger != nil {
		h1.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	}
	// ConfigureServer registers h2s's graceful shutdown (GOAWAY to every
	// connection) as h1's shutdown hook; Shutdown triggers it.
	_ = http2.ConfigureServer(h1, h2s)
	s := &xServer{h2: h2s, h1: h1}
	if cfg.MaxConnectionAge > 0 {
		s.maxAge = cfg.MaxConnectionAge + cfg.MaxConnectionAgeGrace
	}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(&xStream{w: w, r: r, rc: http.NewResponseController(w)})
	})
	return s
}

// ServeConn implements Server.
func (s *xServer) ServeConn(ctx context.Context, c net.Conn) {
	if s.maxAge > 0 {
		// x/net cannot drain one connection: close it at age plus grace.
		t := time.AfterFunc(s.maxAge, func() { c.Close() })
		defer t.Stop()
	}
	if _, isTLS := c.(*tls.Conn); !isTLS {
		// x/net's server reads each frame header and payload straight
		// from the connection: two syscalls per frame over h2c. A read
		// buffer lets one syscall bring in every frame that has arrived.
		// (A *tls.Conn buffers whole records already, and x/net needs to
		// see its type to report the TLS state.)
		// It also lifts the caller's handshake deadline once the
		// preface has arrived.
		c = &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}
	} else {
		// x/net needs the *tls.Conn itself; it bounds the wait for the
		// preface after the TLS handshake with its own timer (10 s).
		_ = c.SetReadDeadline(time.Time{})
	}
	s.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:    ctx,
		Handler:    s.handler,
		BaseConfig: s.h1,
	})
}

// GoAway implements Server.
func (s *xServer) GoAway() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// h1 has no listeners or connections of its own; Shutdown only runs
	// the registered hooks.
	_ = s.h1.Shutdown(ctx)
}

// xStream is a ServerStream over net/http's handler types.
type xStream struct {
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController
}

func (s *xStream) Context() context.Context { return s.r.Context() }

func (s *xStream) Method() string { return s.r.Method }

func (s *xStream) Path() string { return s.r.URL.Path }

func (s *xStream) Authority() string { return s.r.Host }

func (s *xStream) RequestHeader() Header { return Header(s.r.Header) }

func (s *xStream) RemoteAddr() string { return s.r.RemoteAddr }

func (s *xStream) TLS() *tls.ConnectionState { return s.r.TLS }

func (s *xStream) Body() io.Reader { return s.r.Body }

func (s *xStream) ResponseHeader() Header { return Header(s.w.Header()) }

var _ ServerStream = (*xStream)(nil)

// TrailerPrefix marks a ResponseHeader key, set after WriteHeader, as a
// trailer field.
const TrailerPrefix = http.TrailerPrefix

func (s *xStream) WriteHeader(status int) { s.w.WriteHeader(status) }

func (s *xStream) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s *xStream) Flush() error { return s.rc.Flush() }

func (s *xStream) CloseBody() { _ = s.r.Body.Close() }

func (s *xStream) SetDeadline(t time.Time) { _ = s.rc.SetWriteDeadline(t) }

// bufferedConn is a net.Conn whose reads go through a buffer. Once the
// client's preface has been read, it clears the read deadline that bounded
// the handshake (Server.ServeConn).
type bufferedConn struct {
	net.Conn
	r    *bufio.Reader // read only by x/net's frame-reading goroutine
	read int           // bytes read, until the preface is in
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.read < len(http2.ClientPreface) {
		if c.read += n; c.read >= len(http2.ClientPreface) {
			_ = c.Conn.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

// PushReader is an optional interface of a request or response body whose
// transport buffers the peer's DATA itself. Instead of a goroutine blocked
// in Read, the application registers a callback and reads what has arrived
// without blocking, so an idle stream holds no goroutine.
type PushReader interface {
	// SetNotify registers fn. The transport calls it on its reading
	// goroutine, with no lock held, after data or the end of the body
	// arrives; fn must not block. Data that arrived before SetNotify does
	// not call it.
	SetNotify(fn func())
	// TryRead is Read that returns 0, nil instead of waiting for data.
	TryRead(p []byte) (int, error)
}

// Finisher is an optional interface of a ServerStream: Finish completes the
// response (headers, body and the trailers set so far, or a trailers-only
// response) before the StreamHandler returns. It may be called from any
// goroutine provided the caller serializes it with the stream's other
// response methods. Afterwards writes fail, and the handler's return sends
// nothing more.
type Finisher interface {
	Finish()
}

// TryWriter is an optional interface of a ServerStream (and of a client
// stream's request body writer): TryWrite sends p, and the response
// headers if they have not gone yet, as Write and Flush would, but only if
// HTTP/2 flow control lets all of p go now. Otherwise it sends nothing and
// returns false, and the caller falls back to Write, which waits. The
// transport takes ownership of p: the caller must not modify it.
type TryWriter interface {
	TryWrite(p []byte) (bool, error)
}
