package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/parleyrpc/parley/wire"
)

// ClientConfig configures the client side.
type ClientConfig struct {
	// TLS enables TLS with ALPN "h2"; nil means h2c with prior knowledge.
	TLS               *tls.Config
	Dialer            func(ctx context.Context, addr string) (net.Conn, error)
	MaxHeaderListSize uint32
	PingInterval      time.Duration
	PingTimeout       time.Duration
	// InitialWindowSize and InitialConnWindowSize are the receive windows
	// the client advertises per stream and per connection; zero leaves
	// the implementation's default. x/net's Transport ignores them.
	InitialWindowSize     int32
	InitialConnWindowSize int32
}

// Client holds one multiplexed HTTP/2 connection to a target and redials
// when it is lost or draining. It is safe for concurrent use.
type Client interface {
	// Target is the address the client dials.
	Target() string
	// Connect dials now if no usable connection exists.
	Connect(ctx context.Context) error
	// Close closes the connection; streams in flight fail and later
	// RoundTrips return ErrClientClosed.
	Close() error
	// RoundTrip opens a stream and returns once the response headers
	// arrive. Cancelling ctx resets the stream with RST_STREAM(CANCEL).
	RoundTrip(ctx context.Context, req *Request) (*Response, error)
}

// ErrClientClosed is returned by RoundTrip after Close.
var ErrClientClosed = errors.New("transport: client closed")

// Request is one outgoing stream. Its body is either Message, known in
// advance, or written through Attach.
type Request struct {
	Path string
	// Fixed holds the fields every request of a client carries (content
	// type, user agent, ...): one map shared by all its requests, which
	// no one writes to. It is sent first.
	Fixed Header
	// Header holds this request's own fields (metadata, encoding), sent
	// after Fixed's; nil if it has none.
	Header Header
	// Message is the whole request body when it is known in advance (a
	// unary call's one framed message): it goes out with the headers, and
	// a stream the server never took can be sent again.
	Message []byte
	// Attach, if set, is called once the stream is open, with the writer
	// of its body; the application writes the body from its own
	// goroutines and ends it with CloseSend. When Attach and Message are
	// both unset, the request has no body (END_STREAM with the headers).
	Attach func(w BodyWriter)
	// Deadline, if set, is sent as grpc-timeout, computed once the
	// connection is up so that dialling does not inflate it.
	Deadline time.Time
	// Timeout is grpc-timeout's value, set from Deadline by SetTimeout;
	// "" for none. A transport sends it after Header's fields.
	Timeout string
}

// SetTimeout sets Timeout from Deadline, if set: a Client calls it once
// the connection is up, so that dialling does not inflate the timeout. It
// returns context.DeadlineExceeded if the deadline has passed.
func (r *Request) SetTimeout() error {
	if r.Deadline.IsZero() {
		return nil
	}
	d := time.Until(r.Deadline)
	if d <= 0 {
		return context.DeadlineExceeded
	}
	r.Timeout = wire.EncodeTimeout(d)
	return nil
}

// AllFields returns the request's fields in one new Header: Fixed's,
// Header's and grpc-timeout, for a transport that wants them together.
func (r *Request) AllFields() Header {
	h := make(Header, len(r.Fixed)+len(r.Header)+1)
	for _, from := range []Header{r.Fixed, r.Header} {
		for k, vs := range from {
			h[k] = append(h[k][:len(h[k]):len(h[k])], vs...)
		}
	}
	if r.Timeout != "" {
		h.Set(wire.HeaderTimeout, r.Timeout)
	}
	return h
}

// RoundTripRetrying is a Client's RoundTrip: it gets a connection with
// conn, sets the request's timeout (SetTimeout) and sends
// the request on it with send. While send fails reporting retry, a
// stream the server never took (a GOAWAY raced it, or the connection
// went before the stream started), it does all again on the connection
// conn gives next, at most retries more times and only while ctx lasts.
func RoundTripRetrying[C any](ctx context.Context, req *Request, retries int, conn func(context.Context) (C, error), send func(C) (resp *Response, retry bool, err error)) (*Response, error) {
	for attempt := 0; ; attempt++ {
		cc, err := conn(ctx)
		if err != nil {
			return nil, err
		}
		if err := req.SetTimeout(); err != nil {
			return nil, err
		}
		resp, retry, err := send(cc)
		if err != nil && retry && attempt < retries && ctx.Err() == nil {
			continue
		}
		return resp, err
	}
}

// Response is the peer's answer on a stream. Its Header and Trailer's
// are read only: a transport may give the same map to many responses
// (those whose fields are the same).
type Response struct {
	Status int
	Header Header
	// Ended reports that the response headers ended the stream
	// (END_STREAM on their HEADERS frame), so that they may be a gRPC
	// trailers-only response. net/http's client cannot tell: it reports
	// every response whose body is known to be empty (END_STREAM, or a
	// content-length of 0, which net/http's server sends for an empty
	// body followed by trailers too), and the runtime takes such headers
	// as trailers only if they hold a grpc-status.
	Ended bool
	// Body yields the response DATA. Closing it before its end resets the
	// stream.
	Body Body
	// Trailer returns the trailer fields; complete only after Body
	// returned io.EOF.
	Trailer func() Header
}

// BodyWriter writes a request body from the application's goroutines, one
// at a time. Once the stream has failed, its methods return an error.
type BodyWriter interface {
	// TryWrite sends p now if flow control lets all of it go, else sends
	// nothing and returns false. The transport takes p. An
	// implementation that cannot tell returns false.
	TryWrite(p []byte) (bool, error)
	// Write sends p, waiting for flow control as long as it takes. The
	// transport takes p.
	Write(p []byte) error
	// CloseSend ends the body with END_STREAM.
	CloseSend() error
}
