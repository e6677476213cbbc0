package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/h2"
	"github.com/parleyrpc/parley/runtime/internal/nethttp"
	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

// Client makes calls to one target over a single multiplexed HTTP/2
// connection, h2c by default or TLS WithTLS. It connects on the first call
// (or Connect) and redials when the connection is lost or drained by
// GOAWAY. A Client is safe for concurrent use; create one per target and
// share it.
type Client struct {
	cfg       dialConfig
	tr        transport.Client
	codec     wire.Codec
	userAgent string

	// fixed holds the request fields that never change, sent with every
	// call (transport.Request.Fixed): no one writes to it.
	fixed             transport.Header
	hdrAcceptEncoding []string

	// closing is cancelled by Close; a streaming call's context ends
	// with it, so that a call whose responses wait unread ends too.
	closing    context.Context
	closeCalls context.CancelFunc
}

// Dial returns a client for target: a "host:port" address, or one in
// gRPC's name syntax with the schemes a single address needs,
// "dns:///host:port" (port 443 when left out, as grpc-go's dns resolver
// does) and "passthrough:///host:port". The host is resolved when a
// connection is dialed. Other schemes ("unix:", "xds:") and a DNS
// server named in the target ("dns://8.8.8.8/host:port") fail with
// INVALID_ARGUMENT; WithDialer reaches any other kind of address. Dial
// does not connect; the first call or Connect does.
func Dial(target string, opts ...DialOption) (*Client, error) {
	cfg := dialConfig{common: defaultCommon()}
	for _, o := range opts {
		o.applyDial(&cfg)
	}
	cfg.codec = cfg.sendCodec()
	target, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		codec:     cfg.codec,
		userAgent: wire.UserAgent(wire.Version),
	}
	c.closing, c.closeCalls = context.WithCancel(context.Background())
	c.hdrAcceptEncoding = []string{cfg.acceptEncoding()}
	c.fixed = transport.Header{
		"Content-Type":         {wire.ContentType(c.codec.Name())},
		"Te":                   {"trailers"},
		"User-Agent":           {c.userAgent},
		"Grpc-Accept-Encoding": c.hdrAcceptEncoding,
	}
	tcfg := transport.ClientConfig{
		TLS:               cfg.tls,
		Dialer:            cfg.dialer,
		MaxHeaderListSize: cfg.maxHeader,
		PingInterval:      cfg.pingEvery,
		PingTimeout:       cfg.pingTimeout,

		InitialWindowSize:     cmp.Or(cfg.streamWindow, transport.DefaultClientStreamWindow),
		InitialConnWindowSize: cmp.Or(cfg.connWindow, transport.DefaultClientConnWindow),
	}
	if cfg.transport == TransportFramer {
		c.tr = h2.NewClient(target, tcfg)
	} else {
		c.tr = nethttp.NewClient(target, tcfg)
	}
	return c, nil
}

// parseTarget returns the host:port a Dial target names (see Dial).
func parseTarget(target string) (string, error) {
	addr, scheme := target, ""
	if i := strings.Index(target, ":"); i > 0 {
		switch s := target[:i]; {
		case s == "dns" || s == "passthrough":
			scheme, addr = s, target[i+1:]
		case strings.HasPrefix(target[i:], "://"):
			return "", wire.Errorf(wire.InvalidArgument, "invalid target %q: scheme %q is not supported (dns:///host:port, passthrough:///host:port or host:port are; WithDialer reaches other addresses)", target, s)
		}
	}
	if rest, ok := strings.CutPrefix(addr, "//"); scheme != "" && ok {
		authority, endpoint, _ := strings.Cut(rest, "/")
		if authority != "" {
			return "", wire.Errorf(wire.InvalidArgument, "invalid target %q: naming a DNS server (%s) is not supported", target, authority)
		}
		addr = endpoint
	}
	if _, _, err := net.SplitHostPort(addr); scheme == "dns" && err != nil {
		if ae, ok := err.(*net.AddrError); ok && ae.Err == "missing port in address" {
			host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
			addr = net.JoinHostPort(host, "443")
		}
	}
	host, _, err := net.SplitHostPort(addr)
	if err == nil && host == "" && scheme != "" {
		err = errors.New("missing host")
	}
	if err != nil {
		return "", wire.Errorf(wire.InvalidArgument, "invalid target %q: %v", target, err)
	}
	return addr, nil
}

// Target returns the address the client calls.
func (c *Client) Target() string { return c.tr.Target() }

// Connect dials now, if no connection is up, and reports failure as
// UNAVAILABLE.
func (c *Client) Connect(ctx context.Context) error {
	if err := c.tr.Connect(ctx); err != nil {
		return c.transportErr(ctx, err)
	}
	return nil
}

// Close closes the connection. Calls in flight fail with CANCELLED,
// including streaming calls whose responses nobody reads; later calls fail
// at once.
func (c *Client) Close() error {
	c.closeCalls()
	return c.tr.Close()
}

// requestHeader builds a call's request headers.
func (c *Client) requestHeader(ctx context.Context, comp wire.Compressor) (transport.Header, error) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= 0 {
		return nil, wire.NewError(wire.DeadlineExceeded, "deadline exceeded before the call started")
	}
	md := OutgoingMetadata(ctx)
	if comp == nil && len(md) == 0 {
		return nil, nil // c.fixed's fields are all
	}
	h := make(transport.Header, len(md)+1)
	if comp != nil {
		h["Grpc-Encoding"] = []string{comp.Name()}
	}
	if len(md) > 0 {
		if err := wire.EncodeHeader(md, h.Add); err != nil {
			return nil, wire.Errorf(wire.Internal, "invalid request metadata: %v", err)
		}
	}
	return h, nil
}

// callCompressor returns the compressor UseCompressor chose for a call:
// nil for none.
func (c *Client) callCompressor(cc *callConfig) (wire.Compressor, error) {
	comp, ok := c.cfg.compressor(cc.compressor)
	if !ok {
		return nil, wire.Errorf(wire.Internal, "unknown compressor %q (the client has: %s)", cc.compressor, c.hdrAcceptEncoding[0])
	}
	return comp, nil
}

// transportErr maps a failure of the HTTP/2 transport to a status.
func (c *Client) transportErr(ctx context.Context, err error) error {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we
	case ctx.Err() != nil:
		return ctxStatus(ctx)
	case errors.Is(err, context.DeadlineExceeded):
		return wire.NewError(wire.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return wire.NewError(wire.Canceled, "call cancelled")
	case errors.Is(err, transport.ErrClientClosed):
		return wire.NewError(wire.Canceled, "the client is closed")
	case errors.As(err, new(transport.ResponseError)):
		// A malformed response: grpc-go's code for it, and not one
		// that invites a retry.
		return wire.Errorf(wire.Internal, "%v", err)
	case errors.Is(err, transport.ErrHeaderListTooLarge):
		// grpc-go's code for it: retrying cannot help.
		return wire.Errorf(wire.Internal, "%v", err)
	}
	if code, ok := transport.StreamErrorCode(err); ok {
		// A server whose deadline (ours, sent as grpc-timeout) passed
		// resets with CANCEL, and that can arrive before ctx's own timer
		// has fired: it still means DEADLINE_EXCEEDED (protocol.md §12).
		if dl, has := ctx.Deadline(); has && code == wire.H2Cancel && time.Until(dl) <= 0 {
			return wire.NewError(wire.DeadlineExceeded, "deadline exceeded")
		}
		return wire.ErrorFromRSTStream(code)
	}
	if transport.IsGoAway(err) {
		return wire.Errorf(wire.Unavailable, "connection closed by GOAWAY: %v", err)
	}
	return wire.Errorf(wire.Unavailable, "%v", err)
}

// roundTrip opens a call's stream. With waitForReady, a stream for which
// no connection could be made is tried again, with backoff, until ctx
// ends.
func (c *Client) roundTrip(ctx context.Context, req *transport.Request, waitForReady bool) (*transport.Response, error) {
	backoff := waitBackoffMin
	for {
		resp, err := c.tr.RoundTrip(ctx, req)
		if err == nil || !waitForReady || !isConnectError(err) || ctx.Err() != nil {
			return resp, err
		}
		// Jitter of ±20%, as gRPC's connection backoff.
		d := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*8/5, waitBackoffMax)
	}
}

// isConnectError reports whether err says no connection could be made.
// (Its own function: the target of errors.As escapes to the heap, which
// roundTrip's successful calls should not pay for.)
func isConnectError(err error) bool {
	var ce *transport.ConnectError
	return errors.As(err, &ce)
}

// WaitForReady's backoff between attempts to connect.
const (
	waitBackoffMin = 100 * time.Millisecond
	waitBackoffMax = 5 * time.Second
)

// response is the part of a call's response known once the headers arrive.
type response struct {
	header wire.Metadata
	comp   wire.Compressor
	// compErr is why a compressed message cannot be read when comp is
	// nil: the server declared a grpc-encoding the client does not have.
	compErr error
	// status is set for a response that ended with its headers: a
	// trailers-only response (or a non-gRPC one); trailer then holds its
	// metadata.
	status  error
	ended   bool
	trailer wire.Metadata
}

// readResponseHeader checks the response headers as gRPC prescribes.
func (c *Client) readResponseHeader(resp *transport.Response) response {
	var r response
	if resp.Status != 200 && !grpcStatusGiven(resp.Header) {
		r.ended = true
		r.status = wire.NewWireError(wire.CodeFromHTTPStatus(resp.Status),
			"unexpected HTTP status code "+strconv.Itoa(resp.Status)+" from the server (content-type "+strconv.Quote(resp.Header.Get("content-type"))+")", nil)
		return r
	}
	if _, ok := wire.ParseContentType(resp.Header.Get(wire.HeaderContentType)); !ok {
		r.ended = true
		r.status = wire.NewWireError(wire.Unknown, "unexpected content-type "+strconv.Quote(resp.Header.Get(wire.HeaderContentType))+" from the server", nil)
		return r
	}
	md := wire.Metadata{}
	if err := decodeMetadata(md, resp.Header); err != nil {
		r.ended = true
		r.status = wire.Errorf(wire.Internal, "malformed response metadata: %v", err)
		return r
	}
	if resp.Ended && len(resp.Header.Values(wire.HeaderStatus)) > 0 {
		// Trailers-only: the headers are the trailers. A grpc-status in
		// headers that do not end the stream is no status: the trailers
		// will say, as grpc-go reads it.
		r.ended = true
		r.trailer = md
		r.status = wire.StatusFromTrailer(resp.Header.Get(wire.HeaderStatus), resp.Header.Get(wire.HeaderMessage), md)
		return r
	}
	r.header = md
	if enc := resp.Header.Get(wire.HeaderEncoding); enc != "" {
		comp, ok := c.cfg.compressor(enc)
		if !ok {
			// Only a compressed message is unreadable: one with flag 0 is
			// not compressed whatever the encoding declared, and the
			// server's status must not be lost (grpc-go reads both).
			r.compErr = wire.Errorf(wire.Internal, "the server compressed a message with grpc-encoding %q, which was not offered (offered: %s)", enc, c.hdrAcceptEncoding[0])
		}
		r.comp = comp
	}
	return r
}

// grpcStatusGiven reports whether a response's headers make it a gRPC
// response whatever its HTTP status: they hold a grpc-status and a gRPC
// content-type. Its gRPC status then stands: "If grpc-status was
// provided, it must be used" (grpc's doc/http-grpc-status-mapping.md). A
// proxy may answer 429 with RESOURCE_EXHAUSTED, which the HTTP status
// alone would make UNAVAILABLE, a code that invites a retry. As in
// grpc-go, a response whose content-type is not gRPC's gets the HTTP
// status's code.
func grpcStatusGiven(h transport.Header) bool {
	if len(h.Values(wire.HeaderStatus)) == 0 {
		return false
	}
	_, ok := wire.ParseContentType(h.Get(wire.HeaderContentType))
	return ok
}

// readTrailer returns the status and metadata of a response's trailers.
func readTrailer(resp *transport.Response) (wire.Metadata, error) {
	tr := resp.Trailer()
	md := wire.Metadata{}
	if err := decodeMetadata(md, tr); err != nil {
		return md, wire.Errorf(wire.Internal, "malformed trailer metadata: %v", err)
	}
	switch n := len(tr.Values(wire.HeaderStatus)); {
	case n == 0:
		return md, wire.NewWireError(wire.Internal, "server closed the stream without sending trailers (no grpc-status)", md)
	case n > 1:
		// Which one holds? Reading either could report success for a
		// call that failed.
		return md, wire.NewWireError(wire.Internal, fmt.Sprintf("malformed trailers: %d grpc-status fields", n), md)
	}
	return md, wire.StatusFromTrailer(tr.Get(wire.HeaderStatus), tr.Get(wire.HeaderMessage), md)
}

// CallUnary makes a unary call: it sends req, half-closes, and returns the
// one response, or the call's status as a *wire.Error. Use the Header and
// Trailer call options to see the response metadata.
func CallUnary[Req, Res any](ctx context.Context, c *Client, method string, req *Req, opts ...CallOption) (*Res, error) {
	var cc callConfig
	for _, o := range opts {
		o.applyCall(&cc)
	}
	res := new(Res)
	inv := func(ctx context.Context, method string, req, res any) error {
		return c.invokeUnary(ctx, method, req, res, &cc)
	}
	if err := chainUnaryClient(c.cfg.unary, inv)(ctx, method, req, res); err != nil {
		return nil, err
	}
	return res, nil
}

// prepareUnary encodes a unary call's request and builds its headers,
// with the call's credentials.
func (c *Client) prepareUnary(ctx context.Context, method string, req any, cc *callConfig) ([]byte, transport.Header, context.Context, error) {
	comp, err := c.callCompressor(cc)
	if err != nil {
		return nil, nil, ctx, err
	}
	_, maxSend := cc.limits(&c.cfg)
	frame, err := encodeMessage(c.codec, comp, c.cfg.compressMin, req, maxSend)
	if err != nil {
		return nil, nil, ctx, err
	}
	if cc.creds != nil {
		if ctx, err = attachCredentials(ctx, cc.creds, c.cfg.tls != nil, method); err != nil {
			return nil, nil, ctx, err
		}
	}
	hdr, err := c.requestHeader(ctx, comp)
	return frame, hdr, ctx, err
}

// invokeUnary performs a unary call on the caller's goroutine: it
// prepares the request, opens the stream, and reads the response.
func (c *Client) invokeUnary(ctx context.Context, method string, req, res any, cc *callConfig) (err error) {
	var trailer wire.Metadata
	var header wire.Metadata
	defer func() {
		if cc.header != nil {
			*cc.header = header
		}
		if cc.trailer != nil {
			*cc.trailer = trailer
		}
	}()
	frame, hdr, ctx, err := c.prepareUnary(ctx, method, req, cc)
	if err != nil {
		return err
	}
	maxRecv, _ := cc.limits(&c.cfg)
	var stats *callStats
	if c.cfg.stats != nil {
		stats = newCallStats(c.cfg.stats, ctx, true, method, Unary, parseAddr(c.Target()), nil)
		defer func() { stats.end(err) }()
	}
	// Closing the response body before its end (the deferred Close below,
	// on every early return) resets the stream: no half-open stream is
	// left behind, and no per-call context is needed for that.
	resp, err := c.roundTrip(ctx, &transport.Request{
		Path:     method,
		Fixed:    c.fixed,
		Header:   hdr,
		Message:  frame,
		Deadline: deadlineOf(ctx),
	}, cc.waitForReady)
	if err != nil {
		return c.transportErr(ctx, err)
	}
	stats.sent(len(frame))
	defer resp.Body.Close()
	r := c.readResponseHeader(resp)
	header = r.header
	if r.ended {
		trailer = r.trailer
		if r.status == nil {
			return cardinalityError("response", 0)
		}
		return r.status
	}
	trailer, err = c.readUnaryResponse(ctx, resp, msgReader{r: resp.Body, maxSize: maxRecv, comp: r.comp, compErr: r.compErr, stats: stats}, res)
	return err
}

// readUnaryResponse reads a unary call's response body into res, then its
// trailers: exactly one message, then the status. A second message fails
// the call at once, as in grpc-go, without waiting for a server that may
// stream on: the caller's deferred Close of the body resets the stream.
func (c *Client) readUnaryResponse(ctx context.Context, resp *transport.Response, mr msgReader, res any) (wire.Metadata, error) {
	n := 0
	for {
		payload, err := mr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, c.transportErr(ctx, err)
		}
		n++
		if n > 1 {
			return nil, cardinalityError("response", manyMessages)
		}
		if err := decodeMessage(c.codec, payload, res); err != nil {
			return nil, err
		}
	}
	trailer, status := readTrailer(resp)
	if status != nil {
		return trailer, status
	}
	if n != 1 {
		return trailer, cardinalityError("response", n)
	}
	return trailer, nil
}

func deadlineOf(ctx context.Context) time.Time {
	dl, _ := ctx.Deadline()
	return dl
}
