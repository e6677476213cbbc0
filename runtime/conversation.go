package runtime

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
)

// Reactor handles the events of one conversation served by
// HandleConversation: each request as it arrives, the client's
// half-close, and the end of the call.
//
// The runtime calls a Reactor's methods one at a time, never concurrently,
// in the order of the events, on a goroutine that exists only while there
// are events to deliver: between events the conversation holds no
// goroutine, only its state. A method may block (that holds back the
// conversation's next events, and, once its inbound mailbox is full, the
// client, by HTTP/2 flow control), but an actor-style handler returns
// promptly and sends with Conversation.TrySend or from other goroutines.
type Reactor[Req any] interface {
	// OnMessage handles one request, in order. A non-nil error ends the
	// call with its status, as Conversation.Finish does.
	OnMessage(req *Req) error
	// OnHalfClose is called once the client has sent its last request.
	// The call stays open until the handler finishes it
	// (Conversation.Finish) or the client goes away; a non-nil error ends
	// it with its status.
	OnHalfClose() error
	// OnDone is called once, last, when the call is over: with nil if it
	// ended OK, else with its status (the handler's error, CANCELLED when
	// the client cancelled or went away, DEADLINE_EXCEEDED, INTERNAL for
	// an undecodable request, UNAVAILABLE... as a *wire.Error). Nothing
	// can be sent any more.
	OnDone(err error)
}

// Conversation is one streaming call served without a goroutine of its
// own (HandleConversation): the request metadata, the response headers and
// trailers, and the outbound side. Its requests and its end are delivered
// to the call's Reactor.
//
// Concurrency: every method may be called from any goroutine, at any
// time, also after the call is over (sends then fail).
type Conversation[Req, Res any] struct {
	ss   *serverCore
	ctx  context.Context // the handler's context; set by open's interceptors
	conn ServerConn      // an interceptor's wrapper of the call, or nil

	in    *mailbox.Mailbox[*Req] // the requests, decoded as they arrive
	queue *mailbox.Mailbox[*Req] // what the pump delivers: in, or the wrapper's
	r     Reactor[Req]
	n     int // requests delivered; owned by the pump

	reader *inDecoder[Req]
	// next is a request the decoder handed over while the mailbox was
	// empty (offer), delivered before the mailbox's; with it, a
	// conversation whose requests are taken as they come never makes its
	// mailbox's channel. Set by the decoder, taken by the pump.
	next atomic.Pointer[Req]
	// direct: requests may come through next. Not with stream
	// interceptors, which may read in themselves.
	direct bool

	// The pump: one goroutine at a time delivers events (run).
	mu          sync.Mutex
	running     bool        // a goroutine is delivering
	again       bool        // more arrived while running
	halfClosed  bool        // OnHalfClose was delivered; owned by the pump
	doneCalled  bool        // OnDone was delivered; guarded by mu
	over        atomic.Bool // the call is over: OnDone is next
	started     atomic.Bool // detached from open's goroutine: cleanup is up to the call
	cleanupOnce sync.Once
}

// HandleConversation registers a streaming method (kind ClientStream,
// ServerStream or BidiStream) served actor-style: instead of a handler
// goroutine that lives as long as the call, open runs once when the call
// starts and returns the Reactor that the call's events are then delivered
// to. An idle conversation holds no goroutine: with the default transport
// it costs its state and the stream's, a few KiB (docs/actors.md has the
// figures). Handle and the other Handle functions, one goroutine per
// call, stay the simplest way to write a handler that waits.
//
// open runs on the stream's goroutine before any request is delivered; it
// may set response headers, keep c (to send from anywhere), and refuse
// the call by returning an error (its status ends the call). It must not
// wait for requests: they come to the Reactor.
//
// Stream interceptors run around open: they can refuse the call or
// replace its context, but their next returns as soon as open has
// returned, not at the end of the call. An interceptor that wraps the
// ServerConn to see its messages still sees every one, at the price of a
// goroutine that reads requests through the wrapper for as long as the
// call lasts.
//
// Over TransportNetHTTP a conversation still holds net/http's handler
// goroutine and the adapter's reading goroutine: net/http ends a response
// when its handler returns.
//
// HandleConversation panics if the method is already registered or kind
// is Unary.
func HandleConversation[Req, Res any](s *Server, method string, kind Kind, open func(c *Conversation[Req, Res]) (Reactor[Req], error)) {
	if kind == Unary {
		panic("parley: HandleConversation needs a streaming kind, got unary; use HandleUnary")
	}
	s.register(method, kind, func(ss *serverCore) { serveConversation(ss, open) })
}

// serveConversation opens a conversation on the stream goroutine and, if
// open accepts it, detaches it from that goroutine: from then on the
// transport's reader decodes its requests (inDecoder), a pump goroutine
// delivers them while there are any, and senders write the responses
// themselves (outWriter).
func serveConversation[Req, Res any](ss *serverCore, open func(*Conversation[Req, Res]) (Reactor[Req], error)) {
	size := ss.srv.cfg.mailboxSize
	ss.out = mailbox.New[[]byte](size)
	ss.flow.out = ss.out
	ss.flow.attach(ss)
	// The pump takes requests as they come: a few slots are enough for
	// the decoder to run ahead while a Reactor method runs, and past
	// them the client waits (HTTP/2 flow control) as for any call.
	c := &Conversation[Req, Res]{ss: ss, ctx: ss.ctx, in: mailbox.New[*Req](min(size, convInbound))}
	c.queue = c.in
	if len(ss.srv.cfg.stream) > 0 {
		c.interceptable()
	} else {
		c.direct = true
	}
	info := &StreamServerInfo{Method: ss.method, Kind: ss.kind}
	run := chainStreamServer(ss.srv.cfg.stream, info, func(ctx context.Context, conn ServerConn) error {
		c.ctx = ctx
		if conn != ServerConn(ss) {
			c.conn = conn
		}
		r, err := open(c)
		if err == nil && r == nil {
			err = wire.Errorf(wire.Internal, "the handler of %s returned no Reactor", ss.method)
		}
		c.r = r
		return err
	})
	var err error
	func() {
		defer ss.recoverHandler(&err)
		err = run(ss.ctx, ss)
	}()
	if err != nil {
		ss.end(endWith(err))
		return // serve releases the call
	}
	c.detach()
}

// convInbound caps a conversation's inbound mailbox (MailboxSize).
const convInbound = 4

// interceptable gives ss the ServerConn methods an interceptor may call.
func (c *Conversation[Req, Res]) interceptable() {
	ss := c.ss
	ss.sendMsg = func(m any) error {
		v, ok := m.(*Res)
		if !ok {
			return wire.Errorf(wire.Internal, "SendMsg(%T) on a call that sends %T", m, v)
		}
		ctx, wait := ss.sends.of(m, c.ctx)
		return c.sendDirect(ctx, v, wait)
	}
	ss.recvMsg = func() (any, error) {
		v, err := c.in.Recv(c.ctx)
		if err != nil && err != io.EOF {
			return nil, wire.AsError(err)
		}
		return v, err
	}
}

// detach lets the call live on without the stream goroutine: the
// transport's reader decodes its requests, and the pump delivers them.
func (c *Conversation[Req, Res]) detach() {
	ss := c.ss
	size := ss.srv.cfg.mailboxSize
	ss.detached = true
	ss.st.Detach()
	c.reader = &inDecoder[Req]{
		mr:    msgReader{maxSize: ss.srv.cfg.maxRecv, comp: ss.reqComp, stats: ss.stats, single: ss.singleRequest()},
		codec: ss.codec,
		in:    c.in,
		ctx:   ss.ctx,
		owner: (*convDecoding[Req, Res])(c),
	}
	if c.conn != nil {
		// An interceptor sees the requests: they reach the Reactor
		// through its RecvMsg, read on a goroutine of its own.
		c.queue = mailbox.New[*Req](size)
		go c.readWrapped()
	}
	c.started.Store(true)
	// The call's context ends by the stream's (the client went away, the
	// server closed: OnCancel), its deadline, or a bad request
	// (requestsEnded). Watching those rather than the contexts themselves
	// costs an idle conversation no context watcher and no channel.
	// This watch takes over serve's (cleanup cancels the call's context).
	ctxDone := c.ctxDone // one func value for both
	ss.st.OnCancel(ctxDone)
	if !ss.deadline.IsZero() {
		ss.cctx.setOnDeadline(ctxDone)
	}
	c.reader.start(ss.st.Body())
	if _, ended := ss.out.End(); ended {
		// Finished meanwhile: by the Reactor, or by a bad request the
		// decoder met in what had arrived (requestsEnded, whose
		// ctxDone runs later, on a goroutine of its own). Its status
		// must go out before cleanup stops the response, or the client
		// gets a response with neither content-type nor grpc-status.
		// end writes it once, whoever comes first.
		ss.end(mailbox.End{})
		c.cleanup()
	}
}

// convDecoding is a Conversation as its decoder's decodeOwner.
type convDecoding[Req, Res any] Conversation[Req, Res]

func (d *convDecoding[Req, Res]) decodeEnded(err error) {
	(*Conversation[Req, Res])(d).requestsEnded(err)
}

func (d *convDecoding[Req, Res]) decoded() { (*Conversation[Req, Res])(d).kick() }

// offer takes v for the pump if nothing is waiting before it: no request
// in next or in the mailbox. The decoder is the only sender to both, so
// what it finds empty holds nothing older than v.
func (d *convDecoding[Req, Res]) offer(v *Req) bool {
	c := (*Conversation[Req, Res])(d)
	if !c.direct || c.next.Load() != nil || c.in.Len() > 0 {
		return false
	}
	c.next.Store(v)
	return true
}

// takeNext returns the request in next, if any. The pump's.
func (c *Conversation[Req, Res]) takeNext() *Req {
	if !c.direct {
		return nil
	}
	return c.next.Swap(nil)
}

// readWrapped moves requests from the interceptor's RecvMsg to the pump's
// queue until the request stream ends or the call is over.
func (c *Conversation[Req, Res]) readWrapped() {
	recv := c.ss.safeRecv(c.conn.RecvMsg)
	for {
		m, err := recv()
		if err != nil {
			if err == io.EOF {
				c.queue.Close(mailbox.End{})
				c.kick()
				return
			}
			// The call ends with the wrapper's error (or its panic's
			// INTERNAL), as a Handle handler's Recv would make it:
			// the Reactor, which never sees it, cannot.
			c.queue.Close(mailbox.End{Err: err})
			c.Finish(err)
			return
		}
		v, ok := m.(*Req)
		if !ok {
			c.Finish(wire.Errorf(wire.Internal, "interceptor's RecvMsg returned %T, want %T", m, v))
			return
		}
		if err := c.queue.Send(c.ss.ctx, v); err != nil {
			return // the call is over
		}
		c.kick()
	}
}

// requestsEnded is the request stream's end, from the decoder: io.EOF,
// or the failure that ends the call.
func (c *Conversation[Req, Res]) requestsEnded(err error) {
	c.ss.requestsEnded(c.in, err)
	c.kick()
	if c.ss.ctx.Err() != nil {
		// Not on the decoder's goroutine: cleanup waits for it.
		go c.ctxDone()
	}
}

// ctxDone ends the call once its context is done (the client went away,
// the deadline passed, a request was bad, or the server closed).
func (c *Conversation[Req, Res]) ctxDone() {
	c.ss.ctxDone()
	c.cleanup()
}

// cleanup releases the call once it is over (its outbound mailbox has
// ended) and has the pump deliver OnDone. Once; any goroutine.
func (c *Conversation[Req, Res]) cleanup() {
	c.cleanupOnce.Do(func() {
		ss := c.ss
		ss.st.OnCancel(nil)
		ss.cancel() // ends a decoding goroutine blocked on a full mailbox
		_ = ss.st.Body().Close()
		c.reader.stop()
		ss.flow.mu.Lock()
		ss.flow.stopped = true
		finished := ss.finished
		ss.st.Finish() // a no-op for the response if end sent it; releases the stream
		ss.flow.mu.Unlock()
		ss.release(finished)
		c.over.Store(true)
		c.kick()
	})
}

// kick has the pump deliver what is queued, starting its goroutine unless
// one is at it.
func (c *Conversation[Req, Res]) kick() {
	c.mu.Lock()
	if c.running {
		c.again = true
		c.mu.Unlock()
		return
	}
	if c.doneCalled {
		c.mu.Unlock()
		return
	}
	c.running = true
	c.mu.Unlock()
	go c.run()
}

// run delivers events until there are none for now, or OnDone.
func (c *Conversation[Req, Res]) run() {
	for {
		if c.over.Load() {
			c.deliverDone()
			return
		}
		v := c.takeNext()
		ok := v != nil
		var err error
		if !ok {
			v, ok, err = c.queue.TryRecv()
			if !ok && err != nil {
				// The mailbox has ended: a request the decoder handed
				// over before that end, after the look at next above,
				// comes first.
				if n := c.takeNext(); n != nil {
					v, ok, err = n, true, nil
				}
			}
		}
		switch {
		case ok:
			c.n++
			if err := c.call(func() error { return c.r.OnMessage(v) }); err != nil {
				c.Finish(err)
			}
			continue
		case err != nil && !c.halfClosed:
			if end, _ := c.queue.End(); end.Err == nil {
				c.halfClosed = true
				err := error(nil)
				if c.ss.kind == ServerStream && c.n == 0 {
					err = cardinalityError("request", 0)
				} else {
					err = c.call(c.r.OnHalfClose)
				}
				if err != nil {
					c.Finish(err)
				}
				continue
			}
			// The request stream failed: the call ends with it
			// (ctxDone), and OnDone follows.
		}
		c.mu.Lock()
		if c.again {
			c.again = false
			c.mu.Unlock()
			continue
		}
		c.running = false
		c.mu.Unlock()
		return
	}
}

// call runs one of the Reactor's methods, turning a panic into INTERNAL
// (logged, as for Handle).
func (c *Conversation[Req, Res]) call(f func() error) (err error) {
	defer c.ss.recoverHandler(&err)
	return f()
}

// deliverDone calls OnDone once, with the call's status.
func (c *Conversation[Req, Res]) deliverDone() {
	c.mu.Lock()
	if c.doneCalled {
		c.running = false
		c.mu.Unlock()
		return
	}
	c.doneCalled = true
	c.mu.Unlock()
	end, _ := c.ss.out.End()
	var status error
	if end.Err != nil {
		status = wire.AsError(end.Err)
		if c.ss.clientGone() && c.ss.resetNearDeadline() {
			// The client reset the stream because its deadline passed,
			// about when the server's did (serverCore.endContext).
			status = wire.NewError(wire.DeadlineExceeded, "deadline exceeded")
		}
	}
	_ = c.call(func() error { c.r.OnDone(status); return nil })
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// Context is the call's context: it carries the deadline from the
// client's grpc-timeout and is cancelled when the call is over.
func (c *Conversation[Req, Res]) Context() context.Context { return c.ctx }

// Method returns the full method name, "/pkg.Service/Method".
func (c *Conversation[Req, Res]) Method() string { return c.ss.method }

// Metadata returns the request metadata. It must not be modified.
func (c *Conversation[Req, Res]) Metadata() wire.Metadata { return c.ss.md.get() }

// Peer describes the client's connection.
func (c *Conversation[Req, Res]) Peer() Peer { return c.ss.peer }

// SetHeader adds md to the response headers; it fails once they were sent.
func (c *Conversation[Req, Res]) SetHeader(md wire.Metadata) error { return c.ss.setHeader(md) }

// SendHeader adds md to the response headers and sends them now.
func (c *Conversation[Req, Res]) SendHeader(md wire.Metadata) error { return c.ss.SendHeader(md) }

// SetTrailer adds md to the trailers sent when the call ends.
func (c *Conversation[Req, Res]) SetTrailer(md wire.Metadata) { c.ss.setTrailer(md) }

// SetCompressor compresses the responses with the named compressor if the
// client accepts it; call it before the first response.
func (c *Conversation[Req, Res]) SetCompressor(name string) error { return c.ss.setCompressor(name) }

// Send sends res: it is marshalled before Send returns, and Send blocks
// while the outbound mailbox is full (MailboxSize messages or 1 MiB),
// which it stays while HTTP/2 flow control holds the responses back, or
// until ctx ends. It fails once the call is over.
func (c *Conversation[Req, Res]) Send(ctx context.Context, res *Res) error {
	return c.send(ctx, res, true)
}

// TrySend sends res if the outbound mailbox has room, and fails with
// mailbox.ErrFull otherwise, without waiting: what an actor uses. A
// stream interceptor's wrapper of the call sees it as a SendMsg, which
// does not wait either (see ServerConn).
func (c *Conversation[Req, Res]) TrySend(res *Res) error {
	return c.send(context.Background(), res, false)
}

func (c *Conversation[Req, Res]) send(ctx context.Context, res *Res, wait bool) error {
	if c.conn != nil {
		// Through the wrapper, whose SendMsg calls sendDirect with ctx
		// and wait.
		return c.ss.sends.through(ctx, wait, res, c.conn.SendMsg)
	}
	return c.sendDirect(ctx, res, wait)
}

// sendDirect sends res on the call, past any interceptor's wrapper.
func (c *Conversation[Req, Res]) sendDirect(ctx context.Context, res *Res, wait bool) error {
	frame, err := c.ss.encode(res)
	if err != nil {
		return err
	}
	if err := c.ss.flow.send(ctx, frame, wait); err != nil {
		if err == mailbox.ErrFull {
			return err
		}
		return c.ss.sendErr(err)
	}
	return nil
}

// Out is the conversation's outbound side as a mailbox.Sender, for code
// that sends to mailboxes (an actor.Group, for one).
func (c *Conversation[Req, Res]) Out() mailbox.Sender[*Res] { return convSender[Req, Res]{c} }

// Done is closed once the call is over or Finish was called.
func (c *Conversation[Req, Res]) Done() <-chan struct{} { return c.ss.out.Done() }

// Finish ends the call with err's status (nil for OK) once the responses
// queued before it are written, as a Handle handler's return does. Later
// calls do nothing. OnDone follows.
func (c *Conversation[Req, Res]) Finish(err error) {
	c.ss.end(endWith(err))
	if c.started.Load() {
		c.cleanup()
	}
}

// convSender is a Conversation as a mailbox.Sender.
type convSender[Req, Res any] struct{ c *Conversation[Req, Res] }

func (s convSender[Req, Res]) Send(ctx context.Context, v *Res) error { return s.c.Send(ctx, v) }
func (s convSender[Req, Res]) TrySend(v *Res) error                   { return s.c.TrySend(v) }
func (s convSender[Req, Res]) Done() <-chan struct{}                  { return s.c.Done() }
