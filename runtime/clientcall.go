package runtime

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

// ClientCall is a streaming call from the client's side: an outbound
// mailbox of requests bound to the HTTP/2 stream's DATA, and an inbound
// mailbox of responses that ends with the call's status.
//
// The inbound mailbox yields the responses in order and then exactly one
// terminal event: End.Err is nil when the call finished with status OK
// (Recv returns io.EOF), otherwise a *wire.Error with the status; End.Trailer
// holds the trailers either way. Not receiving stops reading from the
// connection, so HTTP/2 flow control stops the server: memory stays bounded.
//
// Concurrency: the inbound side may be used by one goroutine while others
// use the outbound side; Send may be called from several goroutines.
// Header, Trailer and Cancel are safe from any goroutine.
type ClientCall[Req, Res any] struct {
	cs  *clientCore
	in  *mailbox.Mailbox[*Res] // what the caller receives from
	out outbox[Req]            // what the caller sends to
	// raw and rawOut are the call's own mailboxes: in and out too, unless
	// a stream interceptor wrapped the call to see its messages.
	raw    *mailbox.Mailbox[*Res]
	rawOut outbox[Req]
	// stopVia stops moving responses from raw to in; set when wrapped.
	stopVia context.CancelFunc
}

// clientCore is the untyped core of a client streaming call. Its run
// goroutine owns the transport response; the caller's goroutines talk to it
// through the mailboxes and the fields published before headerReady and
// done are closed.
type clientCore struct {
	c      *Client
	method string
	ctx    context.Context
	cancel context.CancelFunc
	comp   wire.Compressor

	// out carries framed requests to the transport (through body); closed
	// cleanly by CloseSend, or with the status when the call ends.
	out  *mailbox.Mailbox[[]byte]
	body *requestBody

	headerReady chan struct{} // closed once header/headerErr are set
	header      wire.Metadata
	headerErr   error
	headerOnce  sync.Once

	done chan struct{} // closed once the call has ended and in is closed

	stats *callStats // nil without a StatsHandler

	maxRecv, maxSend int  // the call's message size limits (CallOptions or the client's)
	waitForReady     bool // WaitForReady

	// sends carries the caller's sends' contexts through an
	// interceptor's wrapper of the call to SendMsg (viaConn).
	sends sendContexts
}

// Context returns the call's context; it is done once the call has ended.
func (c *ClientCall[Req, Res]) Context() context.Context { return c.cs.ctx }

// Out is the outbound mailbox of requests.
func (c *ClientCall[Req, Res]) Out() mailbox.Sender[*Req] { return c.out }

// In is the inbound mailbox of responses and the terminal event.
func (c *ClientCall[Req, Res]) In() mailbox.Receiver[*Res] { return c.in }

// Send marshals req and queues it, blocking while the outbound mailbox is
// full (the transport is held back by HTTP/2 flow control). Once the call
// has ended it returns the call's status, or io.EOF if the call ended OK
// or after CloseSend; Recv then tells how the call ended.
func (c *ClientCall[Req, Res]) Send(req *Req) error { return c.out.Send(c.cs.ctx, req) }

// CloseSend half-closes the call: the server's inbound mailbox ends with
// io.EOF after the requests already sent. It is idempotent.
func (c *ClientCall[Req, Res]) CloseSend() error {
	c.cs.out.Close(mailbox.End{})
	c.cs.body.flow.flush()
	return nil
}

// Recv returns the next response; io.EOF once the call finished with OK,
// otherwise the status as a *wire.Error.
func (c *ClientCall[Req, Res]) Recv() (*Res, error) {
	return c.in.Recv(context.Background())
}

// CloseAndRecv half-closes and returns the one response of a
// client-streaming call, once the call has ended OK after it. A second
// response fails the call at once with INTERNAL, as in grpc-go: the call
// is cancelled rather than read to an end that may never come.
func (c *ClientCall[Req, Res]) CloseAndRecv() (*Res, error) {
	_ = c.CloseSend()
	res, err := c.Recv()
	if err == io.EOF {
		return nil, cardinalityError("response", 0)
	}
	if err != nil {
		return nil, err
	}
	switch _, err := c.Recv(); err {
	case io.EOF:
		return res, nil
	case nil:
		c.Cancel()
		return nil, cardinalityError("response", manyMessages)
	default:
		return nil, err
	}
}

// Header waits for the response headers and returns their metadata, or the
// call's status if it ended without headers (a trailers-only response).
func (c *ClientCall[Req, Res]) Header() (wire.Metadata, error) {
	<-c.cs.headerReady
	return c.cs.header, c.cs.headerErr
}

// Trailer returns the trailers once the call has ended (as soon as Recv
// has returned the terminal error), nil before.
func (c *ClientCall[Req, Res]) Trailer() wire.Metadata {
	end, _ := c.raw.End()
	return end.Trailer
}

// SendMsg implements ClientConn: m, a *Req, goes straight to the outbound
// mailbox, past any interceptor.
func (c *ClientCall[Req, Res]) SendMsg(m any) error {
	v, ok := m.(*Req)
	if !ok {
		return wire.Errorf(wire.Internal, "SendMsg(%T) on a call that sends %T", m, v)
	}
	ctx, wait := c.cs.sends.of(m, c.cs.ctx)
	return c.rawOut.send(ctx, v, wait)
}

// RecvMsg implements ClientConn: it receives straight from the inbound
// mailbox, past any interceptor.
func (c *ClientCall[Req, Res]) RecvMsg() (any, error) {
	return c.raw.Recv(context.Background())
}

// Done is closed once the call has ended and its terminal event is queued
// behind the responses in In.
func (c *ClientCall[Req, Res]) Done() <-chan struct{} { return c.cs.done }

// Cancel abandons the call: the stream is reset with RST_STREAM(CANCEL),
// the server's handler sees its context cancelled, and the inbound mailbox
// ends with CANCELLED (if the call had not ended already).
func (c *ClientCall[Req, Res]) Cancel() {
	c.cs.cancel()
	if c.stopVia != nil {
		c.stopVia()
	}
}

// Open starts a streaming call of any kind and returns at once; the
// request headers go out with the first request (or CloseSend). The call
// lives until it ends or ctx is cancelled; cancelling ctx cancels it.
//
// Open does not know the method's kind, so a StatsHandler sees the call as
// BidiStream; OpenClientStream and OpenServerStream start calls of their
// own kinds.
func Open[Req, Res any](ctx context.Context, c *Client, method string, opts ...CallOption) (*ClientCall[Req, Res], error) {
	return open[Req, Res](ctx, c, method, BidiStream, opts)
}

// OpenClientStream starts a client-streaming call, as Open does: the
// requests go out through Send (or Out), and CloseAndRecv half-closes and
// returns the one response.
func OpenClientStream[Req, Res any](ctx context.Context, c *Client, method string, opts ...CallOption) (*ClientCall[Req, Res], error) {
	return open[Req, Res](ctx, c, method, ClientStream, opts)
}

// open starts a streaming call of the given kind, through the client's
// stream interceptors.
func open[Req, Res any](ctx context.Context, c *Client, method string, kind Kind, opts []CallOption) (*ClientCall[Req, Res], error) {
	var cc callConfig
	for _, o := range opts {
		o.applyCall(&cc)
	}
	var call *ClientCall[Req, Res]
	start := func(ctx context.Context, info *StreamClientInfo) (ClientConn, error) {
		var err error
		call, err = newClientCall[Req, Res](ctx, c, info.Method, kind, &cc)
		return call, err
	}
	conn, err := chainStreamClient(c.cfg.stream, start)(ctx, &StreamClientInfo{Method: method})
	if err != nil {
		if call != nil {
			call.Cancel()
		}
		return nil, err
	}
	if call == nil {
		conn.Cancel()
		return nil, wire.NewError(wire.Internal, "a stream interceptor returned a stream it did not open with next")
	}
	if conn != ClientConn(call) {
		// Wrapped to see the messages: the caller's sends and receives
		// go through the wrapper.
		// The responses are moved on until the caller has received them
		// all, the caller's context ends, it cancels the call or the
		// client closes: not when the call ends, which may leave some in
		// the mailbox.
		pumpCtx, stop := context.WithCancel(ctx)
		stopOnClose := context.AfterFunc(c.closing, stop)
		call.stopVia = func() {
			stopOnClose()
			stop()
		}
		call.in, call.out = viaConn[Res, Req](pumpCtx, c.cfg.mailboxSize, c.safeRecv(method, call.Cancel, conn.RecvMsg), conn.SendMsg, call.cs.out.Done, &call.cs.sends, call.stopVia)
	}
	return call, nil
}

// safeRecv returns recv, the RecvMsg of an interceptor's wrapper of a
// call to method, made safe for the goroutine of the runtime's own that
// reads the responses through it: a panic in it is logged, cancels the
// call (cancel) and fails it with INTERNAL, instead of ending the process.
func (c *Client) safeRecv(method string, cancel func(), recv func() (any, error)) func() (any, error) {
	return func() (m any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logPanic(c.cfg.log(), "parley: stream interceptor panicked", method, p)
				err = wire.Errorf(wire.Internal, "a stream interceptor of %s panicked: %v", method, p)
				cancel()
			}
		}()
		return recv()
	}
}

// OpenServerStream starts a server-streaming call: it sends req,
// half-closes, and returns the call whose In yields the responses.
func OpenServerStream[Req, Res any](ctx context.Context, c *Client, method string, req *Req, opts ...CallOption) (*ClientCall[Req, Res], error) {
	call, err := open[Req, Res](ctx, c, method, ServerStream, opts)
	if err != nil {
		return nil, err
	}
	if err := call.Send(req); err != nil {
		call.Cancel()
		return nil, err
	}
	_ = call.CloseSend()
	return call, nil
}

func newClientCall[Req, Res any](ctx context.Context, c *Client, method string, kind Kind, cc *callConfig) (*ClientCall[Req, Res], error) {
	comp, err := c.callCompressor(cc)
	if err != nil {
		return nil, err
	}
	if cc.creds != nil {
		if ctx, err = attachCredentials(ctx, cc.creds, c.cfg.tls != nil, method); err != nil {
			return nil, err
		}
	}
	hdr, err := c.requestHeader(ctx, comp)
	if err != nil {
		return nil, err
	}
	cs := &clientCore{
		c:           c,
		method:      method,
		comp:        comp,
		out:         mailbox.New[[]byte](c.cfg.mailboxSize),
		headerReady: make(chan struct{}),
		done:        make(chan struct{}),
	}
	cs.maxRecv, cs.maxSend = cc.limits(&c.cfg)
	cs.waitForReady = cc.waitForReady
	cs.ctx, cs.cancel = context.WithCancel(ctx)
	// Close ends the call too: its responses may wait in the inbound
	// mailbox, unread, with the decoder blocked behind them, where the
	// transport's failure cannot reach them.
	stopOnClose := context.AfterFunc(c.closing, cs.cancel)
	cancel := cs.cancel
	cs.cancel = func() {
		stopOnClose()
		cancel()
	}
	if c.cfg.stats != nil {
		cs.stats = newCallStats(c.cfg.stats, cs.ctx, true, method, kind, parseAddr(c.Target()), nil)
	}
	body := &requestBody{out: cs.out, stats: cs.stats}
	body.flow.out = cs.out
	cs.body = body
	call := &ClientCall[Req, Res]{cs: cs, in: mailbox.New[*Res](c.cfg.mailboxSize)}
	call.out = outbox[Req]{
		send: func(ctx context.Context, v *Req, wait bool) error {
			frame, err := encodeMessage(c.codec, cs.comp, c.cfg.compressMin, v, cs.maxSend)
			if err != nil {
				return err
			}
			if err := body.flow.send(ctx, frame, wait); err != nil {
				return cs.sendErr(err)
			}
			return nil
		},
		done: cs.out.Done,
	}
	call.raw, call.rawOut = call.in, call.out
	go runClientCall(cs, call.in, &transport.Request{Path: method, Fixed: c.fixed, Header: hdr, Attach: body.attach, Deadline: deadlineOf(ctx)})
	return call, nil
}

func (cs *clientCore) sendErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, mailbox.ErrClosed) {
		if end, ok := cs.out.End(); ok && end.Err != nil {
			return end.Err
		}
		return io.EOF
	}
	return wire.AsError(err)
}

func (cs *clientCore) setHeader(md wire.Metadata, err error) {
	cs.headerOnce.Do(func() {
		cs.header, cs.headerErr = md, err
		close(cs.headerReady)
	})
}

// runClientCall opens the stream on its own goroutine, publishes the
// response headers, and starts decoding the responses into in (inDecoder):
// over a transport that pushes, the goroutine then ends, and an idle call
// holds none. The call ends (endCall) with the response's end.
func runClientCall[Res any](cs *clientCore, in *mailbox.Mailbox[*Res], req *transport.Request) {
	resp, err := cs.c.roundTrip(cs.ctx, req, cs.waitForReady)
	if err != nil {
		cs.endCall(in, cs.c.transportErr(cs.ctx, err), nil)
		return
	}
	r := cs.c.readResponseHeader(resp)
	if r.ended {
		resp.Body.Close()
		cs.endCall(in, r.status, r.trailer)
		return
	}
	cs.setHeader(r.header, nil)
	reader := &inDecoder[Res]{
		mr:    msgReader{maxSize: cs.maxRecv, comp: r.comp, compErr: r.compErr, stats: cs.stats},
		codec: cs.c.codec,
		in:    in,
		ctx:   cs.ctx,
		owner: endFunc[Res](func(err error) {
			var status error
			var trailer wire.Metadata
			if err == io.EOF {
				trailer, status = readTrailer(resp)
			} else {
				status = cs.c.transportErr(cs.ctx, err)
			}
			resp.Body.Close()
			if cs.stats != nil {
				// Off the transport's reading goroutine: the stats
				// handler is user code and may block.
				go cs.endCall(in, status, trailer)
				return
			}
			cs.endCall(in, status, trailer)
		}),
	}
	reader.start(resp.Body)
}

// endCall ends the call with status and trailer: the inbound mailbox gets
// its terminal event and the outbound mailbox closes.
func (cs *clientCore) endCall(in interface{ Close(mailbox.End) bool }, status error, trailer wire.Metadata) {
	if status != nil {
		status = wire.AsError(status)
	}
	// The call-end event comes before the terminal event is delivered,
	// so a caller that has seen the end has seen its stats too.
	cs.stats.end(status)
	cs.setHeader(nil, status)
	in.Close(mailbox.End{Err: status, Trailer: trailer})
	callEnd := status
	if callEnd == nil {
		callEnd = io.EOF
	}
	cs.out.Close(mailbox.End{Err: callEnd})
	close(cs.done)
	cs.cancel()
}

// requestBody is the HTTP/2 request body of a streaming call. Once the
// stream is open, the transport attaches it (transport.Request.Attach):
// from then on its outWriter writes the outbound mailbox to the stream from
// the senders' goroutines, as on the server.
//
// Each message is reported to the stats handler (MsgSent) before any of
// its bytes are written: a response it causes can only arrive later, so
// the client's events keep the order of cause and effect.
type requestBody struct {
	out   *mailbox.Mailbox[[]byte]
	stats *callStats // nil without a StatsHandler; set before the call starts

	flow outWriter
	w    transport.BodyWriter // set by attach; used under flow.mu
	// reported: the message tryWrite could not write (outWriter holds it
	// and writes it next, with write) was reported already. Guarded by
	// flow.mu.
	reported bool
}

// attach is the request's transport.Request.Attach: from now on the
// senders write.
func (b *requestBody) attach(w transport.BodyWriter) {
	b.w = w
	b.flow.attach(b)
}

// tryWrite, write, flush, closeSend and writeFailed make requestBody the
// sink of its outWriter; flow.mu is held.

func (b *requestBody) tryWrite(f []byte) (bool, error) {
	assertHeld(&b.flow.mu, "a call's request stream")
	b.stats.sent(len(f))
	ok, err := b.w.TryWrite(f)
	b.reported = err == nil && !ok
	return ok, err
}

func (b *requestBody) write(f []byte) error {
	assertHeld(&b.flow.mu, "a call's request stream")
	if !b.reported {
		b.stats.sent(len(f))
	}
	b.reported = false
	return b.w.Write(f)
}

func (b *requestBody) flush() error { return nil } // the transport writes at once

// closeSend ends the body after CloseSend; a call that ended otherwise is
// reset by the transport, and its status comes with the response.
func (b *requestBody) closeSend() {
	if end, _ := b.out.End(); end.Err == nil {
		_ = b.w.CloseSend()
	}
}

// writeFailed: the stream is gone, and its status comes with the response.
func (b *requestBody) writeFailed() {}
