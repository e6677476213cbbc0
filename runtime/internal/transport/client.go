package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/wire"
)

// xClient is built on x/net/http2's Transport, ClientConn and GoAwayError,
// which x/net deprecates in favour of net/http's HTTP/2; moving off them
// is a redesign of its own.
//
//lint:file-ignore SA1019 x/net/http2's Transport is what xClient wraps until that redesign

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

// xClient is a Client on golang.org/x/net/http2's Transport.
type xClient struct {
	target string
	cfg    ClientConfig
	t      *http2.Transport
	scheme string

	mu     sync.Mutex
	cc     *http2.ClientConn // guarded by mu; replaced when it can take no new streams
	closed bool
}

// ErrClientClosed is returned by RoundTrip after Close.
var ErrClientClosed = errors.New("transport: client closed")

// NewClient returns a client on golang.org/x/net/http2 for target
// ("host:port"); it connects on first use.
func NewClient(target string, cfg ClientConfig) Client {
	c := &xClient{target: target, cfg: cfg, scheme: "http"}
	if cfg.TLS != nil {
		c.scheme = "https"
	}
	c.t = &http2.Transport{
		AllowHTTP:         cfg.TLS == nil,
		MaxHeaderListSize: cfg.MaxHeaderListSize,
		ReadIdleTimeout:   cfg.PingInterval,
		PingTimeout:       cfg.PingTimeout,
		// One connection carries every call: wait for a free stream
		// rather than failing when the server's limit is reached.
		StrictMaxConcurrentStreams: true,
		// gRPC compresses messages itself (grpc-encoding); no HTTP
		// content-encoding.
		DisableCompression: true,
	}
	return c
}

// Target implements Client.
func (c *xClient) Target() string { return c.target }

// DialConn opens a connection to target as cfg says: cfg.Dialer or TCP
// (with Nagle off), then, with cfg.TLS, a TLS handshake that must negotiate
// ALPN "h2". Both Client implementations dial with it.
func DialConn(ctx context.Context, target string, cfg ClientConfig) (net.Conn, error) {
	var conn net.Conn
	var err error
	if cfg.Dialer != nil {
		conn, err = cfg.Dialer(ctx, target)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", target)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if cfg.TLS == nil {
		return conn, nil
	}
	tcfg := cfg.TLS.Clone()
	tcfg.NextProtos = []string{http2.NextProtoTLS}
	if tcfg.ServerName == "" {
		host, _, err := net.SplitHostPort(target)
		if err != nil {
			host = target
		}
		tcfg.ServerName = host
	}
	tconn := tls.Client(conn, tcfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if p := tconn.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		tconn.Close()
		return nil, errors.New("transport: server did not negotiate h2 over TLS (ALPN: " + p + ")")
	}
	return tconn, nil
}

// conn returns a connection that can take a new stream, dialling if needed.
func (c *xClient) conn(ctx context.Context) (*http2.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClientClosed
	}
	if c.cc != nil && c.cc.CanTakeNewRequest() {
		return c.cc, nil
	}
	if c.cc != nil {
		// Draining (GOAWAY) or broken: let its streams finish on their own.
		old := c.cc
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = old.Shutdown(ctx)
		}()
		c.cc = nil
	}
	nc, err := DialConn(ctx, c.target, c.cfg)
	if err != nil {
		return nil, err
	}
	cc, err := c.t.NewClientConn(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.cc = cc
	return cc, nil
}

// Connect implements Client.
func (c *xClient) Connect(ctx context.Context) error {
	_, err := c.conn(ctx)
	return err
}

// Close implements Client.
func (c *xClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cc != nil {
		err := c.cc.Close()
		c.cc = nil
		return err
	}
	return nil
}

// Request is one outgoing stream.
type Request struct {
	Path   string
	Header Header
	// Body supplies the DATA frames; io.EOF half-closes the stream
	// (END_STREAM). nil sends END_STREAM with the headers.
	Body io.ReadCloser
	// GetBody, if set, returns a fresh copy of Body. Only a request with
	// no Body or with GetBody is retried when the connection turns out to
	// be draining (GOAWAY) before the server took the stream: x/net closes
	// Body on failure, and what it had read from it would be lost.
	GetBody func() io.ReadCloser
	// ContentLength is the body length if known, else -1.
	ContentLength int64
	// Deadline, if set, is sent as grpc-timeout, computed once the
	// connection is up so that dialling does not inflate it.
	Deadline time.Time
}

// Response is the peer's answer on a stream.
type Response struct {
	Status int
	Header Header
	// Body yields the response DATA. Closing it before io.EOF resets the
	// stream.
	Body io.ReadCloser
	// Trailer returns the trailer fields; complete only after Body
	// returned io.EOF.
	Trailer func() Header
}

// RoundTrip implements Client.
func (c *xClient) RoundTrip(ctx context.Context, req *Request) (*Response, error) {
	for attempt := 0; ; attempt++ {
		cc, err := c.conn(ctx)
		if err != nil {
			return nil, err
		}
		if !req.Deadline.IsZero() {
			d := time.Until(req.Deadline)
			if d <= 0 {
				return nil, context.DeadlineExceeded
			}
			req.Header.Set("Grpc-Timeout", wire.EncodeTimeout(d))
		}
		hreq := &http.Request{
			Method:        http.MethodPost,
			URL:           &url.URL{Scheme: c.scheme, Host: c.target, Path: req.Path},
			Host:          c.target,
			Proto:         "HTTP/2.0",
			ProtoMajor:    2,
			Header:        http.Header(req.Header),
			Body:          req.Body,
			ContentLength: req.ContentLength,
		}
		if req.Body == nil {
			hreq.Body = http.NoBody
			hreq.ContentLength = 0
		} else if attempt > 0 {
			hreq.Body = req.GetBody()
		}
		hreq = hreq.WithContext(ctx)
		resp, err := cc.RoundTrip(hreq)
		if err != nil {
			// A stream the server never took (GOAWAY raced us, or the
			// connection went away before the stream started) is retried
			// once, on a fresh connection, if its body can be replayed.
			replayable := req.Body == nil || req.GetBody != nil
			if attempt == 0 && ctx.Err() == nil && replayable && isRetryable(err) && !cc.CanTakeNewRequest() {
				continue
			}
			return nil, err
		}
		return &Response{
			Status:  resp.StatusCode,
			Header:  Header(resp.Header),
			Body:    resp.Body,
			Trailer: func() Header { return Header(resp.Trailer) },
		}, nil
	}
}

func isRetryable(err error) bool {
	// Only errors for streams the server never processed, as x/net's own
	// Transport decides (canRetryError): "received Server's graceful
	// shutdown GOAWAY" is used for streams above the GOAWAY's last stream
	// id. "client connection lost" is not among them: the server may
	// have run the call, and a retry would run it twice.
	return errors.Is(err, http2.ErrNoCachedConn) ||
		err.Error() == "http2: client conn not usable" ||
		err.Error() == "http2: Transport received Server's graceful shutdown GOAWAY"
}

// StreamError is a stream reset by the peer with RST_STREAM.
type StreamError struct {
	Code uint32
}

func (e StreamError) Error() string {
	return "transport: stream reset by the peer with error code " + wire.H2ErrorName(e.Code)
}

// ErrGoAway is returned for streams the peer refused by GOAWAY.
var ErrGoAway = errors.New("transport: connection closed by GOAWAY")

// StreamErrorCode reports the RST_STREAM error code carried by err, if any.
func StreamErrorCode(err error) (uint32, bool) {
	var se StreamError
	if errors.As(err, &se) {
		return se.Code, true
	}
	var xe http2.StreamError
	if errors.As(err, &xe) {
		return uint32(xe.Code), true
	}
	return 0, false
}

// GoAwayError is the error of a connection the server closed with a GOAWAY
// that carried an error code: its streams fail with it.
type GoAwayError struct {
	LastStreamID uint32
	Code         http2.ErrCode
	Debug        string // the GOAWAY's debug data, e.g. "too_many_pings"
}

func (e GoAwayError) Error() string {
	return fmt.Sprintf("server sent GOAWAY(%v) and closed the connection; last stream %d, debug %q", e.Code, e.LastStreamID, e.Debug)
}

// IsGoAway reports whether err says the connection was shut down by GOAWAY.
func IsGoAway(err error) bool {
	var ga GoAwayError
	var xga http2.GoAwayError
	return errors.Is(err, ErrGoAway) || errors.As(err, &ga) || errors.As(err, &xga)
}

// BodyWriter writes a request body from the application's goroutines, one
// at a time.
type BodyWriter interface {
	// TryWrite sends p now if flow control lets all of it go, else sends
	// nothing and returns false. The transport takes p.
	TryWriter
	// Write sends p, waiting for flow control as long as it takes. The
	// transport takes p.
	Write(p []byte) error
	// CloseSend ends the body with END_STREAM.
	CloseSend() error
}

// Attacher is an optional interface of a Request.Body that the application
// writes itself. A transport that supports it calls Attach once the stream
// is open, instead of reading the body on a goroutine of its own: an idle
// request body then holds no goroutine. The body is still closed if the
// stream fails.
type Attacher interface {
	Attach(w BodyWriter)
}
