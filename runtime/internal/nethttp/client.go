package nethttp

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// client is a transport.Client on net/http's HTTP/2: one http.ClientConn,
// replaced when it can take no new streams.
type client struct {
	target string
	t      *http.Transport
	scheme string

	mu sync.Mutex
	cc *http.ClientConn // guarded by mu
	// retired holds the connections replaced (draining after GOAWAY,
	// broken, or refusing streams) while calls may still run on them, so
	// that Close ends those calls too. A connection leaves it once it has
	// none (retire, onState). Guarded by mu.
	retired map[*http.ClientConn]struct{}
	// closing is cancelled by Close, ending dials under way. Close
	// cancels it before it takes mu, so a caller that sees it live under
	// mu has its connection closed by Close.
	closing   context.Context
	markClose context.CancelFunc
}

// NewClient returns a client on net/http's HTTP/2 for target
// ("host:port"); it connects on first use.
func NewClient(target string, cfg transport.ClientConfig) transport.Client {
	c := &client{target: target, scheme: "http"}
	c.closing, c.markClose = context.WithCancel(context.Background())
	var protos http.Protocols
	if cfg.TLS != nil {
		c.scheme = "https"
		protos.SetHTTP2(true)
	} else {
		protos.SetUnencryptedHTTP2(true)
	}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return transport.DialConn(ctx, target, cfg)
	}
	c.t = &http.Transport{
		Protocols:              &protos,
		DialContext:            dial,
		DialTLSContext:         dial,
		MaxResponseHeaderBytes: int64(cfg.MaxHeaderListSize),
		// gRPC compresses messages itself (grpc-encoding); no HTTP
		// content-encoding.
		DisableCompression: true,
		HTTP2: &http.HTTP2Config{
			// One connection carries every call: wait for a free
			// stream rather than failing at the server's limit.
			StrictMaxConcurrentRequests:   true,
			MaxReceiveBufferPerStream:     window(cfg.InitialWindowSize),
			MaxReceiveBufferPerConnection: window(cfg.InitialConnWindowSize),
			SendPingTimeout:               cfg.PingInterval,
			PingTimeout:                   cfg.PingTimeout,
			MaxReadFrameSize:              16 << 10,
		},
	}
	return c
}

// Target implements transport.Client.
func (c *client) Target() string { return c.target }

// conn returns a connection that can take a new stream, dialling if needed.
func (c *client) conn(ctx context.Context) (*http.ClientConn, error) {
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		return nil, transport.ErrClientClosed
	}
	if c.cc != nil && c.cc.Err() == nil && c.cc.Available() > 0 {
		cc := c.cc
		c.mu.Unlock()
		return cc, nil
	}
	if c.cc != nil && c.cc.Err() != nil {
		// Broken or draining (GOAWAY): its streams finish on their own.
		c.retireLocked()
	}
	if c.cc != nil {
		// Full: wait for a stream on it (StrictMaxConcurrentRequests).
		cc := c.cc
		c.mu.Unlock()
		return cc, nil
	}
	c.mu.Unlock()
	// Dial without the lock, so that a slow dial does not hold up Close
	// or the calls on another connection.
	dctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.closing, cancel)
	cc, err := c.t.NewClientConn(dctx, c.scheme, c.target)
	stop()
	cancel()
	if err != nil {
		if c.isClosed() {
			return nil, transport.ErrClientClosed
		}
		return nil, &transport.ConnectError{Err: err}
	}
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		cc.Close()
		return nil, transport.ErrClientClosed
	}
	if c.cc != nil && c.cc.Err() == nil {
		other := c.cc
		c.mu.Unlock()
		cc.Close() // another caller dialled first
		return other, nil
	}
	c.cc = cc
	c.mu.Unlock()
	// Not under mu: net/http may call the hook before SetStateHook
	// returns.
	cc.SetStateHook(c.onState)
	return cc, nil
}

// retireLocked moves c.cc to retired if calls still run on it. c.mu held.
func (c *client) retireLocked() {
	if c.cc.InFlight() > 0 {
		if c.retired == nil {
			c.retired = make(map[*http.ClientConn]struct{})
		}
		c.retired[c.cc] = struct{}{}
	}
	c.cc = nil
}

// onState is every connection's state hook: a retired connection with no
// call left is forgotten.
func (c *client) onState(cc *http.ClientConn) {
	if cc.InFlight() > 0 {
		return
	}
	c.mu.Lock()
	if cc != c.cc {
		delete(c.retired, cc)
	}
	c.mu.Unlock()
}

// isClosed reports whether Close was called.
func (c *client) isClosed() bool { return c.closing.Err() != nil }

// discard forgets cc, which refused a stream, so that the next stream
// dials anew; cc's streams finish on their own.
func (c *client) discard(cc *http.ClientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc == cc {
		c.retireLocked()
	}
}

// Connect implements transport.Client.
func (c *client) Connect(ctx context.Context) error {
	_, err := c.conn(ctx)
	return err
}

// Close implements transport.Client: every connection closes, the
// retired ones included, and the calls on them fail with
// transport.ErrClientClosed.
func (c *client) Close() error {
	c.markClose()
	c.mu.Lock()
	conns := make([]*http.ClientConn, 0, 1+len(c.retired))
	if c.cc != nil {
		conns = append(conns, c.cc)
		c.cc = nil
	}
	for cc := range c.retired {
		conns = append(conns, cc)
	}
	c.retired = nil
	c.mu.Unlock()
	var err error
	for i, cc := range conns {
		if e := cc.Close(); i == 0 {
			err = e
		}
	}
	return err
}

// RoundTrip implements transport.Client.
func (c *client) RoundTrip(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	return transport.RoundTripRetrying(ctx, req, 1, c.conn, func(cc *http.ClientConn) (*transport.Response, bool, error) {
		return c.roundTrip(ctx, cc, req)
	})
}

// roundTrip sends req on cc. retry reports a stream the server never took
// (GOAWAY raced us, or the connection went away before the stream
// started) whose body was never handed to the application: it may be
// sent again, on a fresh connection (cc is discarded then).
func (c *client) roundTrip(ctx context.Context, cc *http.ClientConn, req *transport.Request) (_ *transport.Response, retry bool, _ error) {
	hreq := &http.Request{
		Method:     http.MethodPost,
		URL:        &url.URL{Scheme: c.scheme, Host: c.target, Path: req.Path},
		Host:       c.target,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     http.Header(req.AllFields()),
	}
	var attached *transport.AttachedBody
	stopBody := func() bool { return false }
	switch {
	case req.Attach != nil:
		attached = transport.AttachBody(req.Attach)
		hreq.Body = attached
		hreq.ContentLength = -1
		// net/http watches the context only between reads of the
		// body: closing it makes the transport reset the stream
		// while it waits for the application's next write. (The
		// call's context ends with the call, which releases this.)
		stopBody = context.AfterFunc(ctx, func() { attached.Close() })
	case req.Message != nil:
		hreq.Body = io.NopCloser(bytes.NewReader(req.Message))
		hreq.ContentLength = int64(len(req.Message))
	default:
		hreq.Body = http.NoBody
	}
	resp, err := cc.RoundTrip(hreq.WithContext(ctx))
	if err != nil && c.isClosed() {
		stopBody()
		return nil, false, transport.ErrClientClosed
	}
	if err != nil {
		stopBody()
		replayable := attached == nil || !attached.Attached()
		if replayable && isRetryable(err) {
			c.discard(cc)
			return nil, true, err
		}
		return nil, false, err
	}
	return &transport.Response{
		Status: resp.StatusCode,
		Header: transport.Header(resp.Header),
		// 0 after END_STREAM on the headers, or a content-length of 0
		// (see transport.Response.Ended); -1 otherwise.
		Ended:   resp.ContentLength == 0,
		Body:    transport.PushBody(closedBody{resp.Body, c}),
		Trailer: func() transport.Header { return transport.Header(resp.Trailer) },
	}, false, nil
}

// isRetryable reports whether err is for a stream the server never
// processed, as net/http's own Transport decides (canRetryError):
// "graceful shutdown GOAWAY" is used for streams above the GOAWAY's last
// stream id, and a stream reset with REFUSED_STREAM was not processed
// (RFC 9113, 8.7), which net/http's Transport retries but its ClientConn,
// which this client uses, leaves to the caller. "client connection lost"
// is not among them: the server may have run the call, and a retry would
// run it twice. Neither is the first stream of a connection the server
// sent GOAWAY with an error code: net/http does not retry it, as a new
// connection would likely fare the same.
func isRetryable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "http2: no cached connection was available") ||
		strings.Contains(msg, "http2: client conn not usable") ||
		strings.Contains(msg, "http2: Transport received Server's graceful shutdown GOAWAY") ||
		strings.Contains(msg, "; REFUSED_STREAM")
}

// closedBody is a response body whose read errors after Close are
// transport.ErrClientClosed, as the other transport's are, rather than
// net/http's "client connection force closed".
type closedBody struct {
	io.ReadCloser
	c *client
}

func (b closedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.c.isClosed() {
		err = transport.ErrClientClosed
	}
	return n, err
}
