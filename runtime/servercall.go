package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

// serverCore is the untyped core of one server call. On a unary call the
// stream goroutine (the one serveStream runs on) owns the transport stream.
// On a streaming call the goroutines that send write to its response side
// in turn, under flow.mu, and the handler runs on the stream goroutine.
type serverCore struct {
	srv      *Server
	st       transport.Stream // written under flow.mu on streaming calls
	method   string
	kind     Kind
	subtype  string
	codec    wire.Codec
	reqComp  wire.Compressor // decompresses requests; fixed before the handler starts
	md       requestMetadata // request metadata; set before the handler starts
	peer     Peer
	ctx      context.Context // the handler's context: &cctx
	cctx     callCtx
	deadline time.Time // from grpc-timeout; zero if none

	// accepts lists the encodings the client's grpc-accept-encoding
	// names; acceptsAny is set when it sent none, which gRPC reads as
	// accepting the encoding of its own requests. Fixed before the
	// handler starts.
	accepts    []string
	acceptsAny bool

	// mu guards the response metadata that the handler sets and the
	// stream goroutine sends.
	mu           sync.Mutex
	header       wire.Metadata
	headerFrozen bool // set once the handler sent a message or the header
	trailer      wire.Metadata
	resComp      wire.Compressor

	// out is the outbound mailbox of framed responses; a nil entry asks
	// for the headers to be sent now. Its terminal event is the call's
	// status: the handler's result, or the failure that ended the call
	// first. flow writes it to the transport; its lock guards the
	// transport stream's response side.
	out  *mailbox.Mailbox[[]byte]
	flow outWriter

	wroteHeader  bool // guarded by flow.mu on streaming calls
	reportedHeld bool // see tryWrite; guarded by flow.mu

	stats    *callStats // nil without a StatsHandler; set before the handler starts
	finished bool       // finish ran; guarded by flow.mu on streaming calls

	// detached is set (before md.serve returns) by a call served without
	// a goroutine of its own, which runs release itself once it is over.
	detached bool

	// sendMsg and recvMsg are the typed call's own Send and Recv, for
	// ServerConn's SendMsg and RecvMsg; set before the handler starts.
	sendMsg func(m any) error
	recvMsg func() (any, error)
	// sends carries the handler's sends' contexts through an
	// interceptor's wrapper of the call to sendMsg (viaConn).
	sends sendContexts
}

func endWith(err error) mailbox.End { return mailbox.End{Err: err} }

// cancel ends the handler's context, if it has not ended.
func (ss *serverCore) cancel() { ss.cctx.cancel() }

// Context implements ServerConn.
func (ss *serverCore) Context() context.Context { return ss.ctx }

// Method implements ServerConn.
func (ss *serverCore) Method() string { return ss.method }

// Metadata implements ServerConn.
func (ss *serverCore) Metadata() wire.Metadata { return ss.md.get() }

// Peer implements ServerConn.
func (ss *serverCore) Peer() Peer { return ss.peer }

// SetHeader implements ServerConn.
func (ss *serverCore) SetHeader(md wire.Metadata) error { return ss.setHeader(md) }

// SetTrailer implements ServerConn.
func (ss *serverCore) SetTrailer(md wire.Metadata) { ss.setTrailer(md) }

// SendMsg implements ServerConn: m goes straight to the outbound mailbox.
func (ss *serverCore) SendMsg(m any) error {
	if ss.sendMsg == nil {
		return wire.NewError(wire.Internal, "SendMsg on a unary call")
	}
	return ss.sendMsg(m)
}

// RecvMsg implements ServerConn: it receives straight from the inbound
// mailbox.
func (ss *serverCore) RecvMsg() (any, error) {
	if ss.recvMsg == nil {
		return nil, wire.NewError(wire.Internal, "RecvMsg on a unary call")
	}
	return ss.recvMsg()
}

// SendHeader implements ServerConn.
func (ss *serverCore) SendHeader(md wire.Metadata) error {
	if err := ss.setHeader(md); err != nil {
		return err
	}
	ss.mu.Lock()
	ss.headerFrozen = true
	ss.mu.Unlock()
	if ss.out == nil {
		return nil // unary fast path: headers go out with the response
	}
	if err := ss.out.Send(ss.ctx, nil); err != nil {
		return ss.sendErr(err)
	}
	ss.flow.flush()
	return nil
}

func (ss *serverCore) setHeader(md wire.Metadata) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.headerFrozen {
		return wire.NewError(wire.Internal, "SetHeader called after the response headers were sent")
	}
	if ss.header == nil {
		ss.header = wire.Metadata{}
	}
	for k, vs := range md {
		ss.header.Add(k, vs...)
	}
	return nil
}

func (ss *serverCore) setTrailer(md wire.Metadata) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.trailer == nil {
		ss.trailer = wire.Metadata{}
	}
	for k, vs := range md {
		ss.trailer.Add(k, vs...)
	}
}

// chooseCompressors reads the request's grpc-encoding and
// grpc-accept-encoding: requests are decompressed with the encoding they
// declare, and responses answer in kind when the client accepts it. An
// encoding the server lacks ends the call with UNIMPLEMENTED, listing the
// ones it has, and chooseCompressors returns false.
func (ss *serverCore) chooseCompressors(hdr transport.Header) bool {
	cfg := &ss.srv.cfg
	if enc := hdr.Get(wire.HeaderEncoding); enc != "" {
		comp, ok := cfg.compressor(enc)
		if !ok {
			ss.finish(endWith(wire.Errorf(wire.Unimplemented, "grpc-encoding %q is not supported (supported: %s)", enc, ss.srv.hdrAcceptEncoding[0])))
			return false
		}
		ss.reqComp = comp
	}
	aes := hdr.Values(wire.HeaderAcceptEncoding)
	ss.acceptsAny = len(aes) == 0
	for _, ae := range aes {
		ss.accepts = append(ss.accepts, wire.ParseAcceptEncoding(ae)...)
	}
	if ss.reqComp != nil && ss.clientAccepts(ss.reqComp.Name()) {
		ss.resComp = ss.reqComp // answer in kind, as grpc-go does
	}
	return true
}

// clientAccepts reports whether the client accepts responses compressed
// with the named encoding.
func (ss *serverCore) clientAccepts(name string) bool {
	return ss.acceptsAny && ss.reqComp != nil && ss.reqComp.Name() == name || slices.Contains(ss.accepts, name)
}

func (ss *serverCore) setCompressor(name string) error {
	comp, ok := ss.srv.cfg.compressor(name)
	if !ok {
		return wire.Errorf(wire.Internal, "unknown compressor %q (the server has: %s)", name, ss.srv.hdrAcceptEncoding[0])
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.headerFrozen {
		return wire.NewError(wire.Internal, "SetCompressor called after the response headers were sent")
	}
	if comp != nil && !ss.clientAccepts(comp.Name()) {
		return nil // the client did not offer it; send uncompressed
	}
	ss.resComp = comp
	return nil
}

// encode freezes the headers and frames v for sending.
func (ss *serverCore) encode(v any) ([]byte, error) {
	ss.mu.Lock()
	ss.headerFrozen = true
	comp := ss.resComp
	ss.mu.Unlock()
	return encodeMessage(ss.codec, comp, ss.srv.cfg.compressMin, v, ss.srv.cfg.maxSend)
}

// sendErr turns a mailbox error from sending a response into what Send
// reports: the status that ended the call, or the context's.
func (ss *serverCore) sendErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, mailbox.ErrClosed) {
		if end, ok := ss.out.End(); ok && end.Err != nil {
			return wire.AsError(end.Err)
		}
		return wire.NewError(wire.FailedPrecondition, "Send after the call ended")
	}
	return wire.AsError(err)
}

// writeHeaders sends the response headers. Stream goroutine only.
func (ss *serverCore) writeHeaders() {
	if ss.wroteHeader {
		return
	}
	ss.wroteHeader = true
	ss.mu.Lock()
	ss.headerFrozen = true
	md := ss.header
	comp := ss.resComp
	ss.mu.Unlock()
	h := ss.st.ResponseHeader()
	ss.setContentType(h)
	if comp != nil {
		h.Set(wire.HeaderEncoding, comp.Name())
	}
	h[keyAcceptEncoding] = ss.srv.hdrAcceptEncoding
	ss.encodeMetadata("response header", md, h.Add)
	ss.st.WriteHeader(200)
}

// finish ends the call with end's status: trailers after the headers, or a
// trailers-only response when nothing was sent. Stream goroutine only; the
// transport sends what finish set when serveStream returns.
func (ss *serverCore) finish(end mailbox.End) {
	status := wire.AsError(end.Err)
	ss.finished = true
	ss.stats.end(end.Err)
	ss.mu.Lock()
	trailer := ss.trailer
	hasHeader := len(ss.header) > 0
	ss.mu.Unlock()
	if status != nil && len(status.Trailer()) > 0 {
		trailer = wire.Join(trailer, status.Trailer())
	}
	h := ss.st.ResponseHeader()
	if !ss.wroteHeader && !hasHeader {
		// Trailers-only: one HEADERS frame with END_STREAM.
		ss.wroteHeader = true
		ss.setContentType(h)
		h[keyAcceptEncoding] = ss.srv.hdrAcceptEncoding
		ss.setStatus(h, "", status, trailer)
		ss.st.WriteHeader(200)
		return
	}
	ss.writeHeaders()
	ss.setStatus(h, transport.TrailerPrefix, status, trailer)
}

// Header keys and values the server sends on every call, built once. The
// value slices are shared between calls: each has capacity 1, so an Add to
// the same key copies instead of writing into the shared array.
var (
	keyContentType    = transport.CanonicalKey(wire.HeaderContentType)
	keyAcceptEncoding = transport.CanonicalKey(wire.HeaderAcceptEncoding)
	keyStatus         = transport.CanonicalKey(wire.HeaderStatus)
	keyMessage        = transport.CanonicalKey(wire.HeaderMessage)
	keyTrailerStatus  = transport.TrailerPrefix + wire.HeaderStatus
	keyTrailerMessage = transport.TrailerPrefix + wire.HeaderMessage
	hdrStatusOK       = []string{"0"}
)

// setContentType answers with the content-type the client used: its
// value is built once per codec (hdrContentType), unless the client wrote
// the subtype in another case.
func (ss *serverCore) setContentType(h transport.Header) {
	if v, ok := ss.srv.hdrContentType[ss.subtype]; ok {
		h[keyContentType] = v
		return
	}
	h.Set(wire.HeaderContentType, wire.ContentType(ss.subtype))
}

func (ss *serverCore) setStatus(h transport.Header, prefix string, status *wire.Error, trailer wire.Metadata) {
	statusKey, messageKey := keyStatus, keyMessage
	if prefix != "" {
		statusKey, messageKey = keyTrailerStatus, keyTrailerMessage
	}
	var err error
	if status != nil {
		err = status
	}
	wire.StatusFields(err, func(k, v string) {
		switch {
		case k == wire.HeaderMessage:
			h[messageKey] = []string{v}
		case v == "0":
			h[statusKey] = hdrStatusOK
		default:
			h[statusKey] = []string{v}
		}
	})
	ss.encodeMetadata("trailer", trailer, func(k, v string) { h.Add(prefix+k, v) })
}

// encodeMetadata emits the handler's response metadata md (what names
// it, for the log). A key that cannot be sent (reserved, not a legal key,
// or with a value that is not printable ASCII) is dropped, with a warning,
// and only that key: the others, and a status's details, still go out, as
// grpc-go drops reserved keys one by one.
func (ss *serverCore) encodeMetadata(what string, md wire.Metadata, emit func(k, v string)) {
	if wire.EncodeHeader(md, emit) == nil {
		return
	}
	// EncodeHeader emitted nothing; go key by key.
	for k, vs := range md {
		if err := wire.EncodeHeader(wire.Metadata{k: vs}, emit); err != nil {
			ss.srv.cfg.log().Warn("parley: dropping invalid "+what+" metadata", "method", ss.method, "err", err)
		}
	}
}

// clientGone reports whether the client reset the stream or the
// connection went away: no status can reach it. A stream whose context
// the server's Close ended is not gone: behind Server.Handler, net/http
// keeps the connection, and the stream carries the status (doneStatus);
// on a connection the server closed itself, writing it fails harmlessly.
func (ss *serverCore) clientGone() bool {
	return transport.ContextDone(ss.st) && ss.srv.baseCtx.Err() == nil
}

// doneStatus is the status of a call whose context is done:
// DEADLINE_EXCEEDED, UNAVAILABLE if the server is closing (as grpc-go's
// clients see a server that stops), else CANCELLED.
func (ss *serverCore) doneStatus() error {
	if !errors.Is(ss.ctx.Err(), context.DeadlineExceeded) && ss.srv.baseCtx.Err() != nil {
		return wire.NewError(wire.Unavailable, "the server is closing")
	}
	return ctxStatus(ss.ctx)
}

// tryWrite, write, flush, closeSend and writeFailed make serverCore the
// sink its outWriter writes responses to; flow.mu is held.

// Each response is reported to the stats handler (MsgSent) before any of
// its bytes are written, as on the client: a request it causes can only
// arrive later, so the events keep the order of cause and effect.
// reportedHeld notes that a response tryWrite could not write, which the
// outWriter writes next with write, was reported already.

func (ss *serverCore) tryWrite(f []byte) (bool, error) {
	assertHeld(&ss.flow.mu, "a call's response stream")
	ss.writeHeaders()
	if f != nil {
		ss.stats.sent(len(f))
	}
	sent, err := ss.st.TryWrite(f)
	ss.reportedHeld = f != nil && err == nil && !sent
	return sent, err
}

func (ss *serverCore) write(f []byte) error {
	assertHeld(&ss.flow.mu, "a call's response stream")
	ss.writeHeaders()
	if f == nil {
		return nil
	}
	if !ss.reportedHeld {
		ss.stats.sent(len(f))
	}
	ss.reportedHeld = false
	_, err := ss.st.Write(f)
	return err
}

func (ss *serverCore) flush() error {
	assertHeld(&ss.flow.mu, "a call's response stream")
	return ss.st.Flush()
}

// closeSend does nothing: end sends the status.
func (ss *serverCore) closeSend() {}

func (ss *serverCore) writeFailed() { ss.closeGone() }

// end ends the call with e unless it has ended already: the responses
// queued before it are written, then the status. Any goroutine.
func (ss *serverCore) end(e mailbox.End) {
	ss.out.Close(e)
	ss.flow.mu.Lock()
	defer ss.flow.mu.Unlock()
	ss.flow.writeLocked(true)
	if ss.flow.stopped {
		return
	}
	ss.flow.stopped = true
	ss.finish(ss.result())
	ss.st.Finish()
}

// ctxDone ends the call once its context is done while the handler may
// still run: the client went away (nothing to send), or the deadline
// passed or the request stream failed (the status goes out now; the
// handler sees its context done).
func (ss *serverCore) ctxDone() {
	if ss.clientGone() {
		ss.flow.mu.Lock()
		ss.flow.stopped = true
		ss.closeGone()
		ss.flow.mu.Unlock()
		return
	}
	ss.end(endWith(ss.doneStatus()))
}

// result is the call's outcome once out has ended: the handler's result,
// except that a call whose deadline passed cannot end OK, and a handler
// that returns its context's cancellation ends the call with doneStatus.
func (ss *serverCore) result() mailbox.End {
	end, _ := ss.out.End()
	switch {
	case end.Err == nil && errors.Is(ss.ctx.Err(), context.DeadlineExceeded):
		end.Err = ctxStatus(ss.ctx)
	case errors.Is(end.Err, context.Canceled) && ss.ctx.Err() != nil:
		// The handler returned its context's error: say why it ended.
		end.Err = ss.doneStatus()
	}
	return end
}

// closeGone ends the call without a status: the client is gone.
func (ss *serverCore) closeGone() {
	ss.out.Close(endWith(wire.NewError(wire.Canceled, "the client cancelled the call or went away")))
}

// ctxStatus maps a done context to the status that ends the call.
func ctxStatus(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return wire.NewError(wire.DeadlineExceeded, "deadline exceeded")
	}
	return wire.NewError(wire.Canceled, "call cancelled")
}

// recoverHandler turns a handler panic into INTERNAL and logs it with its
// stack: the server keeps serving.
func (ss *serverCore) recoverHandler(err *error) {
	if r := recover(); r != nil {
		logPanic(ss.srv.cfg.log(), "parley: handler panicked", ss.method, r)
		*err = wire.Errorf(wire.Internal, "handler for %s panicked: %v", ss.method, r)
	}
}

// logPanic logs msg for a panic p recovered in a call to method, with the
// stack of the goroutine that recovered it.
func logPanic(log *slog.Logger, msg, method string, p any) {
	buf := make([]byte, 16<<10)
	buf = buf[:goruntime.Stack(buf, false)]
	log.Error(msg, "method", method, "panic", fmt.Sprint(p), "stack", string(buf))
}

// safeRecv returns recv, the RecvMsg of an interceptor's wrapper of the
// call, made safe for the goroutine of the runtime's own that reads the
// requests through it: a panic in it is logged and fails the call with
// INTERNAL, as a handler's does, instead of ending the process.
func (ss *serverCore) safeRecv(recv func() (any, error)) func() (any, error) {
	return func() (m any, err error) {
		returned := false
		defer func() {
			if !returned { // recoverHandler has made the panic err
				ss.end(endWith(err))
			}
		}()
		defer ss.recoverHandler(&err)
		m, err = recv()
		returned = true
		return m, err
	}
}

// ServerCall is one call as its handler sees it: the request metadata, an
// inbound mailbox of requests, an outbound mailbox of responses, and the
// response headers and trailers.
//
// The inbound mailbox yields the client's requests in order, then its
// terminal event: io.EOF from Recv when the client half-closed, or the
// failure (a cancelled call, an oversized or undecodable message). The
// outbound mailbox's Send marshals at once (so the message may be reused
// when it returns) and blocks while the mailbox is full, which it stays
// while HTTP/2 flow control holds the response back: a slow client slows
// the handler instead of growing memory.
//
// Concurrency: the inbound side may be used by one goroutine and the
// outbound side by others at the same time; Send may be called from several
// goroutines (their messages interleave whole). Nothing may be used after
// the handler returns: the handler's return value is the call's status.
type ServerCall[Req, Res any] struct {
	ss  *serverCore
	ctx context.Context // the handler's context; set before the handler runs
	in  *mailbox.Mailbox[*Req]
	out outbox[Res]
}

// Context is the call's context: it carries the deadline from the client's
// grpc-timeout and is cancelled when the client cancels or disconnects, the
// deadline passes, or the server closes.
func (c *ServerCall[Req, Res]) Context() context.Context { return c.ctx }

// Method returns the full method name, "/pkg.Service/Method".
func (c *ServerCall[Req, Res]) Method() string { return c.ss.method }

// Metadata returns the request metadata. It must not be modified.
func (c *ServerCall[Req, Res]) Metadata() wire.Metadata { return c.ss.md.get() }

// Peer describes the client's connection.
func (c *ServerCall[Req, Res]) Peer() Peer { return c.ss.peer }

// In is the inbound mailbox of requests.
func (c *ServerCall[Req, Res]) In() mailbox.Receiver[*Req] { return c.in }

// Out is the outbound mailbox of responses.
func (c *ServerCall[Req, Res]) Out() mailbox.Sender[*Res] { return c.out }

// Recv receives the next request: io.EOF once the client half-closed.
func (c *ServerCall[Req, Res]) Recv() (*Req, error) {
	v, err := c.in.Recv(c.ctx)
	if err != nil && err != io.EOF {
		return nil, wire.AsError(err)
	}
	return v, err
}

// Send sends res: it is marshalled before Send returns, and Send blocks
// while the outbound mailbox is full. It fails once the call has ended.
func (c *ServerCall[Req, Res]) Send(res *Res) error { return c.out.Send(c.ctx, res) }

// SetHeader adds md to the response headers; it fails once they were sent
// (by SendHeader or the first message).
func (c *ServerCall[Req, Res]) SetHeader(md wire.Metadata) error { return c.ss.setHeader(md) }

// SendHeader adds md to the response headers and sends them now, before any
// message.
func (c *ServerCall[Req, Res]) SendHeader(md wire.Metadata) error { return c.ss.SendHeader(md) }

// SetTrailer adds md to the trailers sent when the call ends.
func (c *ServerCall[Req, Res]) SetTrailer(md wire.Metadata) { c.ss.setTrailer(md) }

// SetCompressor compresses the call's responses with the named compressor
// ("gzip" or "identity") if the client accepts it; call it before the first
// response.
func (c *ServerCall[Req, Res]) SetCompressor(name string) error { return c.ss.setCompressor(name) }

// outbox is the typed Sender over a call's framed outbound mailbox: it
// marshals in the sender's goroutine so errors reach the sender.
type outbox[T any] struct {
	send func(ctx context.Context, v *T, wait bool) error
	done func() <-chan struct{}
}

func (o outbox[T]) Send(ctx context.Context, v *T) error { return o.send(ctx, v, true) }
func (o outbox[T]) TrySend(v *T) error                   { return o.send(context.Background(), v, false) }
func (o outbox[T]) Done() <-chan struct{}                { return o.done() }

// Handle registers h for the method named method ("/pkg.Service/Method")
// with the given kind. h runs on the call's stream goroutine (the one
// goroutine a streaming call costs on the server); its
// return ends the call: nil with status OK, an error with its status (a
// *wire.Error's code, UNKNOWN for other errors, CANCELLED or
// DEADLINE_EXCEEDED for context errors). A panic ends the call with
// INTERNAL and is logged; the server keeps serving. Handle panics if the
// method is already registered.
func Handle[Req, Res any](s *Server, method string, kind Kind, h func(call *ServerCall[Req, Res]) error) {
	s.register(method, kind, func(ss *serverCore) { serveStreaming(ss, h) })
}

// HandleUnary registers a unary method: one request in, one response out.
// The handler runs on the stream's own goroutine with no mailboxes; use
// SetHeader, SetTrailer and IncomingMetadata on ctx for metadata. A nil
// response with a nil error is sent as an empty message.
func HandleUnary[Req, Res any](s *Server, method string, h func(ctx context.Context, req *Req) (*Res, error)) {
	info := &UnaryServerInfo{Method: method}
	inner := func(ctx context.Context, req any) (any, error) {
		r, ok := req.(*Req)
		if !ok {
			return nil, wire.Errorf(wire.Internal, "interceptor passed %T to a handler of %T", req, r)
		}
		return h(ctx, r)
	}
	s.register(method, Unary, func(ss *serverCore) {
		serveUnary[Req, Res](ss, chainUnaryServer(s.cfg.unary, info, inner))
	})
}

// HandleClientStream registers a client-streaming method: h reads the
// requests from call.In() and returns the one response.
func HandleClientStream[Req, Res any](s *Server, method string, h func(call *ServerCall[Req, Res]) (*Res, error)) {
	Handle(s, method, ClientStream, func(call *ServerCall[Req, Res]) error {
		res, err := h(call)
		if err != nil {
			return err
		}
		if res == nil {
			res = new(Res)
		}
		return call.Send(res)
	})
}

// HandleServerStream registers a server-streaming method: the runtime
// receives the one request, and h sends responses on call.Out().
func HandleServerStream[Req, Res any](s *Server, method string, h func(req *Req, call *ServerCall[Req, Res]) error) {
	Handle(s, method, ServerStream, func(call *ServerCall[Req, Res]) error {
		req, err := call.Recv()
		if err == io.EOF {
			return cardinalityError("request", 0)
		}
		if err != nil {
			return err
		}
		// As grpc-go does, h runs once the request stream has ended
		// after the one request; a byte more ends the call with a
		// cardinality violation instead (msgReader.single).
		if _, err := call.Recv(); err != io.EOF {
			if err == nil {
				err = cardinalityError("request", manyMessages)
			}
			return err
		}
		return h(req, call)
	})
}

// HandleBidi registers a bidirectional-streaming method: a full-duplex
// conversation between call.In() and call.Out().
func HandleBidi[Req, Res any](s *Server, method string, h func(call *ServerCall[Req, Res]) error) {
	Handle(s, method, BidiStream, h)
}

// serveUnary runs a unary call on the stream goroutine: read one request,
// run the (intercepted) handler, write the response and status.
func serveUnary[Req, Res any](ss *serverCore, h UnaryHandler) {
	payload, err := ss.readUnaryRequest()
	if err != nil {
		if ss.clientGone() {
			return
		}
		ss.finish(endWith(wire.AsError(err)))
		return
	}
	req := new(Req)
	if err := decodeMessage(ss.codec, payload, req); err != nil {
		ss.finish(endWith(err))
		return
	}
	res, err := func() (res any, err error) {
		defer ss.recoverHandler(&err)
		return h(ss.ctx, req)
	}()
	if ss.clientGone() {
		return
	}
	if ss.ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = ss.doneStatus()
	}
	if err != nil {
		ss.finish(endWith(err))
		return
	}
	r, ok := res.(*Res)
	if !ok && res != nil {
		ss.finish(endWith(wire.Errorf(wire.Internal, "handler returned %T, want %T", res, r)))
		return
	}
	if r == nil {
		r = new(Res)
	}
	frame, err := ss.encode(r)
	if err != nil {
		ss.finish(endWith(err))
		return
	}
	ss.writeHeaders()
	ss.stats.sent(len(frame))
	if _, err := ss.st.Write(frame); err != nil {
		return
	}
	ss.finish(mailbox.End{})
}

// readUnaryRequest reads the one message of a unary call's request and
// then the request stream's end, as grpc-go does before it runs the
// handler: a second message, or any byte after the first, is a cardinality
// violation. A client sends END_STREAM with its request, or right after
// it, so waiting for it costs nothing; a client that never half-closes
// gets no answer before it cancels or its deadline passes, as from
// grpc-go.
func (ss *serverCore) readUnaryRequest() ([]byte, error) {
	mr := msgReader{r: ss.st.Body(), maxSize: ss.srv.cfg.maxRecv, comp: ss.reqComp, stats: ss.stats, single: "request"}
	payload, err := mr.next()
	if err == io.EOF {
		return nil, cardinalityError("request", 0)
	}
	if err != nil {
		return nil, err
	}
	switch _, err := mr.next(); err {
	case io.EOF:
		return payload, nil
	case nil: // next returns no second message when single is set
		return nil, cardinalityError("request", manyMessages)
	default:
		return nil, err
	}
}

// serveStreaming runs a streaming call. The requests are decoded into the
// inbound mailbox as they arrive (inbound); the senders write the outbound
// mailbox to the transport themselves (outWriter). The handler runs on the
// stream goroutine; when the call's context ends first, ctxDone finishes
// the stream without waiting for it.
func serveStreaming[Req, Res any](ss *serverCore, h func(*ServerCall[Req, Res]) error) {
	call := newServerCall[Req, Res](ss)
	// The call's own mailboxes: an interceptor that wraps the call to see
	// its messages (below) takes their place in call, not here.
	in, out := call.in, call.out
	reader := &inDecoder[Req]{
		mr:    msgReader{maxSize: ss.srv.cfg.maxRecv, comp: ss.reqComp, stats: ss.stats, single: ss.singleRequest()},
		codec: ss.codec,
		in:    in,
		ctx:   ss.ctx,
		owner: endFunc[Req](func(err error) { ss.requestsEnded(in, err) }),
	}
	reader.start(ss.st.Body())
	ss.sendMsg = func(m any) error {
		v, ok := m.(*Res)
		if !ok {
			return wire.Errorf(wire.Internal, "SendMsg(%T) on a call that sends %T", m, v)
		}
		ctx, wait := ss.sends.of(m, call.ctx)
		return out.send(ctx, v, wait)
	}
	ss.recvMsg = func() (any, error) {
		v, err := in.Recv(call.ctx)
		if err != nil && err != io.EOF {
			return nil, wire.AsError(err)
		}
		return v, err
	}

	// A context that ends while the handler runs ends the call at once
	// (ctxDone): the status goes out, or nothing if the client is gone,
	// even if the handler ignores its context.
	stop := context.AfterFunc(ss.ctx, ss.ctxDone)
	runStreamHandler(ss, call, h)
	stop()
	// The call is over: stop the handler and the request decoding.
	ss.endContext()
	_ = ss.st.Body().Close()
	reader.stop()
}

// newServerCall makes a streaming call's mailboxes: the inbound one of
// requests, and the outbound one of framed responses, which the senders
// write to the stream themselves (outWriter).
func newServerCall[Req, Res any](ss *serverCore) *ServerCall[Req, Res] {
	size := ss.srv.cfg.mailboxSize
	ss.out = mailbox.New[[]byte](size)
	ss.flow.out = ss.out
	ss.flow.attach(ss)
	call := &ServerCall[Req, Res]{ss: ss, ctx: ss.ctx, in: mailbox.New[*Req](size)}
	call.out = outbox[Res]{
		send: func(ctx context.Context, v *Res, wait bool) error {
			frame, err := ss.encode(v)
			if err != nil {
				return err
			}
			if err := ss.flow.send(ctx, frame, wait); err != nil {
				return ss.sendErr(err)
			}
			return nil
		},
		done: ss.out.Done,
	}
	return call
}

// runStreamHandler runs h, through the server's stream interceptors, and
// ends the call with its result (a panic ends it with INTERNAL).
func runStreamHandler[Req, Res any](ss *serverCore, call *ServerCall[Req, Res], h func(*ServerCall[Req, Res]) error) {
	info := &StreamServerInfo{Method: ss.method, Kind: ss.kind}
	run := chainStreamServer(ss.srv.cfg.stream, info, func(ctx context.Context, conn ServerConn) error {
		call.ctx = ctx
		if conn != ServerConn(ss) {
			// An interceptor wrapped the call to see its messages: the
			// handler's sends and receives go through it.
			call.in, call.out = viaConn[Req, Res](ctx, ss.srv.cfg.mailboxSize, ss.safeRecv(conn.RecvMsg), conn.SendMsg, ss.out.Done, &ss.sends, nil)
		}
		return h(call)
	})
	var err error
	func() {
		defer ss.recoverHandler(&err)
		err = run(ss.ctx, ss)
	}()
	ss.end(endWith(err))
}

// singleRequest is msgReader.single for the call's requests: "request"
// when the method's kind allows one, else empty.
func (ss *serverCore) singleRequest() string {
	if ss.kind.clientStreams() {
		return ""
	}
	return "request"
}

// requestsEnded delivers the request stream's end to in: io.EOF when the
// client half-closed, else the failure. A bad message from the client
// (a *wire.Error) also ends the call with its status.
func (ss *serverCore) requestsEnded(in interface{ Close(mailbox.End) bool }, err error) {
	if err == io.EOF {
		in.Close(mailbox.End{})
		return
	}
	var status error
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		status = we
	case ss.ctx.Err() != nil:
		status = ctxStatus(ss.ctx)
	default:
		status = wire.Errorf(wire.Canceled, "reading the request stream: %v", err)
	}
	in.Close(endWith(status))
	if we != nil {
		// Closing out first makes its status the call's; cancelling
		// the context makes ctxDone send it.
		ss.out.Close(endWith(status))
		ss.cancel()
	}
}

// endContext cancels the handler's context once the call is over. A client
// that reset the stream because its deadline passed does so about when the
// server's own deadline passes: then the handler is left to see
// DeadlineExceeded from its deadline, a few milliseconds later at most.
func (ss *serverCore) endContext() {
	if ss.clientGone() && ss.resetNearDeadline() {
		<-ss.ctx.Done() // its deadline ends it within deadlineSlack
	}
	ss.cancel()
}

// resetNearDeadline reports whether the call is so close to its deadline
// that a client reset now counts as the deadline passing (deadlineSlack).
func (ss *serverCore) resetNearDeadline() bool {
	return !ss.deadline.IsZero() && time.Until(ss.deadline) < deadlineSlack
}
