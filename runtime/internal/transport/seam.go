package transport

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"time"
)

// Defaults of the settings both implementations share. The runtime fills
// every ServerConfig and ClientConfig from its options, whose defaults are
// these; an implementation given a zero value uses the same constant, so a
// default is written in one place.
const (
	// DefaultMaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS: the
	// calls one client connection may have open on a server at once.
	DefaultMaxConcurrentStreams = 1024
	// DefaultMaxHeaderListSize is SETTINGS_MAX_HEADER_LIST_SIZE on both
	// sides, in bytes, counted as HTTP/2 does (RFC 9113 section 6.5.2).
	DefaultMaxHeaderListSize = 1 << 20
	// DefaultServerStreamWindow and DefaultServerConnWindow are the
	// receive windows a server advertises, per stream and per connection.
	DefaultServerStreamWindow = 1 << 20
	DefaultServerConnWindow   = 4 << 20
	// DefaultClientStreamWindow and DefaultClientConnWindow are a
	// client's.
	DefaultClientStreamWindow = 4 << 20
	DefaultClientConnWindow   = 16 << 20
	// DefaultConnectionTimeout bounds a new connection's TLS handshake and
	// preface on a server.
	DefaultConnectionTimeout = 10 * time.Second
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
	// IdleTimeout closes a connection gracefully (GOAWAY, then close once
	// drained) after it has had no open stream for this long; zero
	// disables (grpc-go's MaxConnectionIdle).
	IdleTimeout time.Duration
	// ConnectionTimeout bounds how long an HTTP/1.1 request's headers may
	// take to arrive (NewHTTP1Server); zero means
	// DefaultConnectionTimeout. (An HTTP/2 connection's preface is bounded
	// by its caller's read deadline.)
	ConnectionTimeout time.Duration
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
	// ExtendedConnect advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and
	// accepts extended CONNECT requests (RFC 8441: WebSocket over HTTP/2),
	// whose :protocol the stream's RequestHeader holds under
	// ProtocolPseudoHeader, as net/http's server puts it. Framer transport
	// only: net/http's HTTP/2 server accepts them only when the process
	// runs with GODEBUG=http2xconnect=1.
	ExtendedConnect bool
}

// ProtocolPseudoHeader is the RequestHeader key of an extended CONNECT's
// :protocol pseudo-header field (RFC 8441), the key net/http uses.
const ProtocolPseudoHeader = ":protocol"

// StreamHandler serves one stream. The stream is finished when it returns
// (or earlier, by Stream.Finish).
type StreamHandler func(s Stream)

// Server serves HTTP/2 connections, each stream to a StreamHandler.
type Server interface {
	// ServeConn serves one connection, and calls done (if not nil) once
	// it has ended and the transport is done with c: closed, its
	// goroutines gone. It returns when the connection ends, or earlier,
	// when the connection waits idle with no goroutine of the caller's
	// (the framer transport parks an idle TCP connection in a poller);
	// the connection then goes on, and only done tells its end. Until
	// done, the transport owns c: the caller ends it by cancelling ctx,
	// not by closing c. For a *tls.Conn the TLS handshake must have
	// negotiated "h2". A read deadline set on c bounds the wait for the
	// client's connection preface and first SETTINGS frame; the transport
	// clears it once they have arrived.
	ServeConn(ctx context.Context, c net.Conn, done func())
	// GoAway starts a graceful shutdown of every connection: each gets a
	// GOAWAY and closes once its streams have finished.
	GoAway()
}

// StreamRequest is what a server stream (a Stream, a BasicStream) says of
// its request, and its context.
type StreamRequest interface {
	// Context is cancelled when the client resets the stream, the
	// connection goes away, or the stream is finished.
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
	// TLS is the connection's TLS state, or nil without TLS.
	TLS() *tls.ConnectionState
}

// LazyContext is implemented by a StreamRequest that makes its Context
// only when asked for it: a cancellable context costs a stream
// allocations and a registration with its connection, which a caller
// that needs only the context's values and whether it has ended can
// spare it. ContextValues and ContextDone say so for any StreamRequest.
type LazyContext interface {
	// ContextValues returns a context with Context's values, no
	// deadline, never cancelled: context.WithoutCancel(Context()),
	// without making Context.
	ContextValues() context.Context
	// ContextDone reports whether Context is cancelled, or would be if
	// it were made now.
	ContextDone() bool
}

// ContextValues returns a never-cancelled context with the values of
// s's Context (see LazyContext).
func ContextValues(s StreamRequest) context.Context {
	if l, ok := s.(LazyContext); ok {
		return l.ContextValues()
	}
	return context.WithoutCancel(s.Context())
}

// ContextDone reports whether s's Context is done (see LazyContext).
func ContextDone(s StreamRequest) bool {
	if l, ok := s.(LazyContext); ok {
		return l.ContextDone()
	}
	return s.Context().Err() != nil
}

// RemoteNetAddrer is implemented by a StreamRequest that has its peer's
// address as a net.Addr (the connection's own), which RemoteAddr would
// have its caller parse again for every call.
type RemoteNetAddrer interface {
	RemoteNetAddr() net.Addr
}

// RemoteNetAddr returns s's peer address as a net.Addr if s has it as
// one (RemoteNetAddrer), else nil.
func RemoteNetAddr(s StreamRequest) net.Addr {
	if r, ok := s.(RemoteNetAddrer); ok {
		return r.RemoteNetAddr()
	}
	return nil
}

// LocalNetAddrer is implemented by a StreamRequest that has the address
// its connection was accepted on (the server's own) as a net.Addr.
type LocalNetAddrer interface {
	LocalNetAddr() net.Addr
}

// LocalNetAddr returns the address s's connection was accepted on if s
// has it (LocalNetAddrer), else nil.
func LocalNetAddr(s StreamRequest) net.Addr {
	if l, ok := s.(LocalNetAddrer); ok {
		return l.LocalNetAddr()
	}
	return nil
}

// Stream is one request stream on the server, with everything the
// call layer needs from it. Every implementation supplies every method:
// one that cannot push, try a write or finish early itself (net/http's
// HTTP/2, the web protocols) gets them from ServeBasic, which adds
// goroutines where the implementation has none to offer.
//
// Who calls what (the caller serialises, the implementation does not
// lock for it):
//   - The request side (Body's methods) is used by one goroutine at a
//     time: the body's decoder. Body().Close may be called by any
//     goroutine, once the call is over.
//   - The response side (ResponseHeader, WriteHeader, Write, TryWrite,
//     Flush, Finish) is used by one goroutine at a time, which may change
//     between calls: the runtime holds its outflow's lock around them.
//   - Context, the request's fields and SetDeadline may be called by any
//     goroutine.
type Stream interface {
	StreamRequest
	// OnCancel sets (or, with nil, clears) the func called once, on a
	// goroutine of its own, when Context is cancelled for any reason but
	// the stream's own end (Finish, or the StreamHandler's return): what
	// context.AfterFunc on Context would do, without making the context
	// keep a watcher and a channel for it. A later call replaces the
	// func; if Context is done already, f is called at once.
	OnCancel(f func())
	// Body is the request body: the bytes of the client's DATA frames.
	Body() Body
	// ResponseHeader is the header map to fill before WriteHeader. After
	// WriteHeader, fields set with TrailerPrefix on their key become
	// trailers.
	ResponseHeader() Header
	// WriteHeader sets the response :status. Headers are sent with the
	// first Flush or TryWrite, or, when the stream finishes with no body
	// and no trailers, as a single HEADERS frame with END_STREAM (a
	// trailers-only response).
	WriteHeader(status int)
	// Write queues response body bytes, waiting for flow control as long
	// as it takes. The transport takes ownership of p.
	Write(p []byte) (int, error)
	// TryWrite sends p, and the response headers if they have not gone
	// yet, as Write and Flush would, but only if HTTP/2 flow control lets
	// all of p go now. Otherwise it sends nothing and returns false, and
	// the caller falls back to Write. The transport takes ownership of p.
	// An implementation that cannot tell returns false.
	TryWrite(p []byte) (bool, error)
	// Flush sends what has been written so far.
	Flush() error
	// Finish completes the response (headers, body and the trailers set
	// so far, or a trailers-only response) before the StreamHandler
	// returns. Afterwards writes fail, and the handler's return sends
	// nothing more. On a detached stream it also releases the stream:
	// its context is cancelled and its deadline stopped.
	Finish()
	// Detach, called by the StreamHandler before it returns, keeps the
	// stream open after the handler's return: the caller finishes it
	// later, from any goroutine, with Finish (which it must call once
	// the call is over, also after a reset). The framer transport then
	// holds no goroutine for the stream; ServeBasic keeps the
	// implementation's handler goroutine waiting until Finish. After
	// Detach, RequestHeader may return nil: an implementation may let
	// the request's header map go.
	Detach()
	// SetDeadline bounds the stream's life: if its response is not
	// complete at t, the stream is reset (RST_STREAM(CANCEL) on the
	// framer transport, as grpc-go's server does at a call's deadline),
	// writes blocked on flow control fail, and what it holds is
	// released. Called before the first write.
	SetDeadline(t time.Time)
}

// DeadlineNotifier is implemented by a Stream whose deadline timer can
// also serve the call's deadline: the runtime then keeps no timer of its
// own for it.
type DeadlineNotifier interface {
	// SetDeadlineNotify is SetDeadline(backstop), whose timer also
	// calls f at deadline (before backstop), once, on the timer's
	// goroutine, unless the stream is released first. f must not block.
	// A stream's deadline is set by one of the two, once.
	SetDeadlineNotify(deadline, backstop time.Time, f func())
}

// Body is the peer's side of a stream: a request body on the server, a
// response body on the client. Reading it returns flow-control credit to
// the peer, so not reading it stops the peer (backpressure).
//
// Reading pushes: instead of a goroutine blocked in Read, the reader
// registers a callback with SetNotify and reads what has arrived with
// TryRead, so an idle stream holds no goroutine of the call layer's.
type Body interface {
	// Read reads, waiting for data. It is for readers that have not
	// called SetNotify (a unary call's one message).
	Read(p []byte) (int, error)
	// SetNotify registers fn. The transport calls it, on a goroutine of
	// its own with no lock held, after data or the end of the body
	// arrives; fn must not block. Data that arrived before SetNotify does
	// not call it.
	SetNotify(fn func())
	// TryRead is Read that returns 0, nil instead of waiting for data.
	TryRead(p []byte) (int, error)
	// Close discards what is unread and what is still to come. On a
	// client, closing a response body before its end resets the stream.
	// A Read blocked in another goroutine returns an error.
	Close() error
}

// TrailerPrefix marks a ResponseHeader key, set after WriteHeader, as a
// trailer field (net/http's convention).
const TrailerPrefix = "Trailer:"

var _ io.Reader = Body(nil)
