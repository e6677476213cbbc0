package web

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"time"
)

// Stream is one call as the server's call layer sees it, whichever
// protocol carried it: the request's method, path and header fields, the
// request body as the bytes of gRPC length-prefixed messages, and a
// response made of a header map, a status, body bytes (length-prefixed
// messages) and trailers. It is the basic server stream of parley's
// transport seam (runtime/internal/transport.BasicStream) over
// http.Header; the runtime serves a Stream exactly as it serves an HTTP/2
// stream (runtime.Server.Handler).
//
// Concurrency: the response methods (ResponseHeader, WriteHeader, Write,
// Flush) are called by one goroutine at a time; Body may be read, and
// CloseBody called, by one other goroutine concurrently with them.
// Context, Method, Path, Authority, RequestHeader, RemoteAddr, TLS and
// SetDeadline may be called from any goroutine, as the transport seam's
// streams allow: a SetDeadline with a time passed is how a caller cuts
// off a call whose write waits for a client that does not read.
type Stream interface {
	// Context is cancelled when the client goes away or cancels (resets
	// the HTTP/2 stream, closes the connection or the WebSocket), and
	// when the deadline set with SetDeadline passes.
	Context() context.Context
	// Method is the request's HTTP method; "POST" for a WebSocket call.
	Method() string
	// Path is the request's path, "/package.Service/Method".
	Path() string
	// Authority is the request's host.
	Authority() string
	// RequestHeader returns the request's header fields, in canonical
	// form; for a web call its content-type is the native gRPC one
	// ("application/grpc+msgpack") that the protocol stands for.
	RequestHeader() http.Header
	// RemoteAddr is the peer's address as "host:port".
	RemoteAddr() string
	// TLS is the connection's TLS state, or nil.
	TLS() *tls.ConnectionState
	// Body yields the request's length-prefixed messages, then io.EOF when
	// the client half-closed. Not reading it stops the client
	// (backpressure).
	Body() io.Reader
	// CloseBody makes a Read blocked in another goroutine return an error.
	CloseBody()
	// ResponseHeader is the header map to fill before WriteHeader. After
	// WriteHeader, fields whose key starts with http.TrailerPrefix are
	// trailers.
	ResponseHeader() http.Header
	// WriteHeader sets the response status. The headers go out with the
	// first Flush; a response with no body whose headers carry
	// grpc-status is a trailers-only response.
	WriteHeader(status int)
	// Write queues response body bytes: whole length-prefixed messages.
	Write(p []byte) (int, error)
	// Flush sends what has been written so far.
	Flush() error
	// SetDeadline bounds the stream's life: if the response is not
	// complete at t, the call is cut off (the context is cancelled, the
	// connection or WebSocket closed) and blocked writes fail.
	SetDeadline(t time.Time)
}

// StreamHandler serves one Stream. It runs on the request's goroutine;
// the response is completed (trailers sent) when it returns.
type StreamHandler func(Stream)
