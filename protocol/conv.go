package protocol

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// status converts a violation to the status it ends a call with:
// INVALID_ARGUMENT for a message with no kind, FAILED_PRECONDITION
// otherwise. errors.As finds the *Violation in it.
func status(v *Violation) *wire.Error {
	if v.NoKind {
		return wire.WrapError(wire.InvalidArgument, v)
	}
	return wire.WrapError(wire.FailedPrecondition, v)
}

// beginSend checks a local send of kind k and moves the checker past it;
// the send's done then keeps the move or, if the send failed, takes it
// back.
func beginSend(c *Checker, k int) (pendingSend, error) {
	ev := c.event(c.side, k)
	if ev < 0 {
		return pendingSend{}, status(c.violation(true, c.side, c.State(), kindName(c.m, c.side, k)))
	}
	p, w, ok := c.begin(ev)
	if !ok {
		return pendingSend{}, status(c.violation(true, c.side, c.stateOf(w), kindName(c.m, c.side, k)))
	}
	return p, nil
}

// checkedSend checks v, of kind k, as the next message of c's side, and
// sends it with send; a send that fails leaves the checker as if it had
// not been tried, whatever was received meanwhile.
func checkedSend[T any](c *Checker, k int, v *T, send func(*T) error) error {
	p, err := beginSend(c, k)
	if err != nil {
		return err
	}
	err = send(v)
	c.done(p, err == nil)
	return err
}

// sender is a checked mailbox.Sender: each message is checked against the
// protocol before it is queued, and a refused one never reaches the wire.
type sender[T any] struct {
	c    *Checker
	kind func(*T) int
	out  mailbox.Sender[*T]
}

func (s sender[T]) Send(ctx context.Context, v *T) error {
	return checkedSend(s.c, s.kind(v), v, func(v *T) error { return s.out.Send(ctx, v) })
}

func (s sender[T]) TrySend(v *T) error { return checkedSend(s.c, s.kind(v), v, s.out.TrySend) }

func (s sender[T]) Done() <-chan struct{} { return s.out.Done() }

// ServerConv is a server call checked against its protocol, from the
// server's view. It is what Serve gives a handler: Recv and In yield only
// requests the protocol allows (a request out of protocol ends the call
// with FAILED_PRECONDITION), and Send and Out refuse the responses it does
// not allow before they reach the wire.
//
// Concurrency: as for runtime.ServerCall, the inbound side (Recv or In,
// not both) may be used by one goroutine while others send. Nothing may be
// used after the handler returns.
type ServerConv[Req, Res any] struct {
	call    *runtime.ServerCall[Req, Res]
	reqKind func(*Req) int
	resKind func(*Res) int
	ctx     context.Context
	cancel  context.CancelFunc
	out     mailbox.Sender[*Res] // the checked outbound mailbox; set before the handler runs

	serverCheck // the checker and the first violation received

	inOnce   sync.Once
	in       *mailbox.Mailbox[*Req] // written by the pump goroutine, read by the handler
	pumpDone chan struct{}          // closed when the pump returns; nil without one
}

// Serve runs handler h on call under machine m: reqKind and resKind
// return the kind number of a request and of a response (-1 for none).
// The call ends with h's status, except that a request out of protocol
// ends it with FAILED_PRECONDITION (INVALID_ARGUMENT for a request with no
// kind) whatever h returns, and h returning nil where the protocol expects
// more ends it with INTERNAL. Register handlers with it through
// runtime.HandleBidi; generated code does so for methods with a protocol.
func Serve[Req, Res any](call *runtime.ServerCall[Req, Res], m *Machine, reqKind func(*Req) int, resKind func(*Res) int, h func(*ServerConv[Req, Res]) error) error {
	c := newServerConv(call, m, reqKind, resKind)
	return c.finish(h(c))
}

func newServerConv[Req, Res any](call *runtime.ServerCall[Req, Res], m *Machine, reqKind func(*Req) int, resKind func(*Res) int) *ServerConv[Req, Res] {
	ctx, cancel := context.WithCancel(call.Context())
	c := &ServerConv[Req, Res]{call: call, serverCheck: serverCheck{chk: NewChecker(m, ServerSide)}, reqKind: reqKind, resKind: resKind, ctx: ctx, cancel: cancel}
	c.out = sender[Res]{c: c.chk, kind: resKind, out: call.Out()}
	return c
}

// finish ends the handler's part: it stops the pump and returns the
// call's status given the handler's result err.
func (c *ServerConv[Req, Res]) finish(err error) error {
	c.cancel()
	if c.pumpDone != nil {
		<-c.pumpDone
	}
	return c.end(err)
}

// endedEarly is the status of a handler that returned OK where its
// protocol expects more.
func endedEarly(v error) *wire.Error {
	var pv *Violation
	errors.As(v, &pv)
	return wire.Errorf(wire.Internal, "%s: the handler ended the call with OK where the protocol expects %s (%s)", pv.Method, pv.Want, pv.State)
}

// serverCheck is what a checked server call keeps, whichever way it is
// driven (a handler goroutine, ServerConv, or a Reactor, Conversation):
// its checker and the first violation received, whose status then ends
// the call whatever the handler says.
type serverCheck struct {
	chk       *Checker
	violation atomic.Pointer[wire.Error] // the first violation received
}

// recv checks a request of kind k and returns nil, or the status the call
// ends with.
func (s *serverCheck) recv(k int) *wire.Error {
	if v := s.chk.Recv(k); v != nil {
		return s.fail(v)
	}
	return nil
}

// recvHalfClose checks the client's half-close as recv checks a request.
func (s *serverCheck) recvHalfClose() *wire.Error {
	if v := s.chk.RecvHalfClose(); v != nil {
		return s.fail(v)
	}
	return nil
}

// fail records the violation v, which ends the call, and returns the
// call's status (the first violation's).
func (s *serverCheck) fail(v error) *wire.Error {
	s.violation.CompareAndSwap(nil, asStatus(v))
	return s.violation.Load()
}

func (s *serverCheck) failed() *wire.Error { return s.violation.Load() }

// end returns the call's status given the handler's result err: a
// received violation's whatever err is, INTERNAL for OK where the
// protocol expects more, else err.
func (s *serverCheck) end(err error) error {
	if v := s.failed(); v != nil {
		return v
	}
	if err == nil {
		if v := s.chk.End(); v != nil {
			return endedEarly(v)
		}
	}
	return err
}

// ServeServerStream is Serve for a server-streaming method: req, the one
// request, is checked (and the client's half-close after it) before h
// runs.
func ServeServerStream[Req, Res any](req *Req, call *runtime.ServerCall[Req, Res], m *Machine, reqKind func(*Req) int, resKind func(*Res) int, h func(*Req, *ServerConv[Req, Res]) error) error {
	c := newServerConv(call, m, reqKind, resKind)
	if err := c.check(req, nil); err != nil {
		return c.finish(err)
	}
	if err := c.check(nil, io.EOF); err != io.EOF {
		return c.finish(err)
	}
	return c.finish(h(req, c))
}

// ServeClientStream is Serve for a client-streaming method: the response
// h returns is checked as a send (a response out of protocol ends the call
// with INTERNAL instead of reaching the client).
func ServeClientStream[Req, Res any](call *runtime.ServerCall[Req, Res], m *Machine, reqKind func(*Req) int, resKind func(*Res) int, h func(*ServerConv[Req, Res]) (*Res, error)) (*Res, error) {
	c := newServerConv(call, m, reqKind, resKind)
	res, err := h(c)
	if err == nil {
		err = c.chk.Send(resKind(res))
		if err != nil {
			err = wire.WrapError(wire.Internal, err)
		}
	}
	if err := c.finish(err); err != nil {
		return nil, err
	}
	return res, nil
}

// ServeUnary checks a unary call against m: the request and the client's
// half-close after it, then h's response as a send.
func ServeUnary[Req, Res any](ctx context.Context, req *Req, m *Machine, reqKind func(*Req) int, resKind func(*Res) int, h func(context.Context, *Req) (*Res, error)) (*Res, error) {
	chk := NewChecker(m, ServerSide)
	if err := chk.Recv(reqKind(req)); err != nil {
		return nil, asStatus(err)
	}
	if err := chk.RecvHalfClose(); err != nil {
		return nil, asStatus(err)
	}
	res, err := h(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := chk.Send(resKind(res)); err != nil {
		return nil, wire.WrapError(wire.Internal, err)
	}
	if err := chk.End(); err != nil {
		return nil, endedEarly(err)
	}
	return res, nil
}

// asStatus converts a checker's *Violation to its status.
func asStatus(err error) *wire.Error {
	var v *Violation
	errors.As(err, &v)
	return status(v)
}

// Call returns the underlying call, for its metadata, headers and
// trailers. Its messages must go through the ServerConv.
func (c *ServerConv[Req, Res]) Call() *runtime.ServerCall[Req, Res] { return c.call }

// Context is the call's context, also cancelled by a violation.
func (c *ServerConv[Req, Res]) Context() context.Context { return c.ctx }

// Checker returns the call's checker, for its state.
func (c *ServerConv[Req, Res]) Checker() *Checker { return c.chk }

// check checks one request (nil with err io.EOF for the half-close).
// A violation cancels the handler's context.
func (c *ServerConv[Req, Res]) check(v *Req, err error) error {
	if err == io.EOF {
		if st := c.recvHalfClose(); st != nil {
			c.cancel()
			return st
		}
		return io.EOF
	}
	if err != nil {
		if st := c.failed(); st != nil {
			return st
		}
		return wire.AsError(err)
	}
	if st := c.recv(c.reqKind(v)); st != nil {
		c.cancel()
		return st
	}
	return nil
}

// Recv receives the next request: io.EOF once the client half-closed
// where the protocol allows it; a request or half-close out of protocol
// returns the FAILED_PRECONDITION status the call ends with.
func (c *ServerConv[Req, Res]) Recv() (*Req, error) {
	if st := c.failed(); st != nil {
		return nil, st
	}
	v, err := c.call.In().Recv(c.ctx)
	if err := c.check(v, err); err != nil {
		return nil, err
	}
	return v, nil
}

// In returns the checked inbound mailbox, for select: a goroutine of the
// call's own checks each request as it arrives and passes on the allowed
// ones; a violation ends the mailbox with the call's status.
func (c *ServerConv[Req, Res]) In() mailbox.Receiver[*Req] {
	c.inOnce.Do(func() {
		c.in = mailbox.New[*Req](1)
		c.pumpDone = make(chan struct{})
		go c.pump()
	})
	return c.in
}

// pump moves checked requests from the call's mailbox to c.in until the
// requests end, a violation, or the handler's return (c.ctx).
func (c *ServerConv[Req, Res]) pump() {
	defer close(c.pumpDone)
	raw := c.call.In()
	for {
		v, err := raw.Recv(c.ctx)
		if err := c.check(v, err); err != nil {
			if err == io.EOF {
				c.in.Close(mailbox.End{})
			} else {
				c.in.Close(mailbox.End{Err: err})
			}
			return
		}
		if err := c.in.Send(c.ctx, v); err != nil {
			c.in.Close(mailbox.End{Err: wire.AsError(err)})
			return
		}
	}
}

// Send sends res if the protocol allows it now, else returns a
// FAILED_PRECONDITION error (holding the *Violation) and sends nothing.
func (c *ServerConv[Req, Res]) Send(res *Res) error {
	return checkedSend(c.chk, c.resKind(res), res, c.call.Send)
}

// Out returns the checked outbound mailbox: its Send and TrySend check as
// Send does.
func (c *ServerConv[Req, Res]) Out() mailbox.Sender[*Res] { return c.out }

// ClientConv is a client call checked against its protocol, from the
// client's view: Send, Out and CloseSend refuse what the protocol does
// not allow before it reaches the wire, and a response (or an OK end) out
// of protocol resets the stream and ends the receive side with a local
// FAILED_PRECONDITION error. Any non-OK status from the server is passed
// on as it is.
//
// Concurrency: as for runtime.ClientCall, the inbound side (Recv or In,
// not both) may be used by one goroutine while others send.
type ClientConv[Req, Res any] struct {
	call    *runtime.ClientCall[Req, Res]
	chk     *Checker
	reqKind func(*Req) int
	resKind func(*Res) int
	out     mailbox.Sender[*Req] // the checked outbound mailbox; set at creation

	violation atomic.Pointer[wire.Error] // the first violation received

	inOnce sync.Once
	in     *mailbox.Mailbox[*Res] // written by the pump goroutine
	// caller is the context the call was opened with (Background for
	// NewClientConv): once it ends, the pump stops waiting for In to be
	// read. Set at creation.
	caller context.Context
}

// Open starts a bidirectional-streaming call (runtime.Open) checked
// against m.
func Open[Req, Res any](ctx context.Context, c *runtime.Client, method string, m *Machine, reqKind func(*Req) int, resKind func(*Res) int, opts ...runtime.CallOption) (*ClientConv[Req, Res], error) {
	call, err := runtime.Open[Req, Res](ctx, c, method, opts...)
	if err != nil {
		return nil, err
	}
	return newClientConv(ctx, call, NewChecker(m, ClientSide), reqKind, resKind), nil
}

// OpenServerStream starts a server-streaming call (runtime.OpenServerStream)
// checked against m: req, and the half-close after it, must be allowed,
// else nothing is sent.
func OpenServerStream[Req, Res any](ctx context.Context, c *runtime.Client, method string, m *Machine, reqKind func(*Req) int, resKind func(*Res) int, req *Req, opts ...runtime.CallOption) (*ClientConv[Req, Res], error) {
	chk := NewChecker(m, ClientSide)
	if err := chk.Send(reqKind(req)); err != nil {
		return nil, asStatus(err)
	}
	if err := chk.CloseSend(); err != nil {
		return nil, asStatus(err)
	}
	call, err := runtime.OpenServerStream[Req, Res](ctx, c, method, req, opts...)
	if err != nil {
		return nil, err
	}
	return newClientConv(ctx, call, chk, reqKind, resKind), nil
}

// OpenClientStream starts a client-streaming call
// (runtime.OpenClientStream) checked against m; end it with CloseAndRecv.
func OpenClientStream[Req, Res any](ctx context.Context, c *runtime.Client, method string, m *Machine, reqKind func(*Req) int, resKind func(*Res) int, opts ...runtime.CallOption) (*ClientConv[Req, Res], error) {
	call, err := runtime.OpenClientStream[Req, Res](ctx, c, method, opts...)
	if err != nil {
		return nil, err
	}
	return newClientConv(ctx, call, NewChecker(m, ClientSide), reqKind, resKind), nil
}

// CallUnary makes a unary call (runtime.CallUnary) checked against m: the
// request must be allowed (else nothing is sent) and the response too
// (else CallUnary returns a local FAILED_PRECONDITION error).
func CallUnary[Req, Res any](ctx context.Context, c *runtime.Client, method string, m *Machine, reqKind func(*Req) int, resKind func(*Res) int, req *Req, opts ...runtime.CallOption) (*Res, error) {
	chk := NewChecker(m, ClientSide)
	if err := chk.Send(reqKind(req)); err != nil {
		return nil, asStatus(err)
	}
	if err := chk.CloseSend(); err != nil {
		return nil, asStatus(err)
	}
	res, err := runtime.CallUnary[Req, Res](ctx, c, method, req, opts...)
	if err != nil {
		return nil, err
	}
	if err := chk.Recv(resKind(res)); err != nil {
		return nil, asStatus(err)
	}
	if err := chk.End(); err != nil {
		return nil, asStatus(err)
	}
	return res, nil
}

// CloseAndRecv half-closes a client-streaming call and returns its one
// response, each step checked against the protocol.
func (c *ClientConv[Req, Res]) CloseAndRecv() (*Res, error) {
	if err := c.CloseSend(); err != nil {
		return nil, err
	}
	res, err := c.Recv()
	if err == io.EOF {
		return nil, wire.NewError(wire.Internal, "the server ended the call without a response")
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.Recv(); err != io.EOF {
		if err == nil {
			c.call.Cancel()
			return nil, wire.NewError(wire.Internal, "the server sent more than one response")
		}
		return nil, err
	}
	return res, nil
}

// NewClientConv checks call, which has not sent or received anything yet,
// against m.
func NewClientConv[Req, Res any](call *runtime.ClientCall[Req, Res], m *Machine, reqKind func(*Req) int, resKind func(*Res) int) *ClientConv[Req, Res] {
	return newClientConv(context.Background(), call, NewChecker(m, ClientSide), reqKind, resKind)
}

func newClientConv[Req, Res any](caller context.Context, call *runtime.ClientCall[Req, Res], chk *Checker, reqKind func(*Req) int, resKind func(*Res) int) *ClientConv[Req, Res] {
	return &ClientConv[Req, Res]{call: call, chk: chk, reqKind: reqKind, resKind: resKind, out: sender[Req]{c: chk, kind: reqKind, out: call.Out()}, caller: caller}
}

// Call returns the underlying call, for its headers, trailers and Cancel.
// Its messages must go through the ClientConv.
func (c *ClientConv[Req, Res]) Call() *runtime.ClientCall[Req, Res] { return c.call }

// Context returns the call's context.
func (c *ClientConv[Req, Res]) Context() context.Context { return c.call.Context() }

// Checker returns the call's checker, for its state.
func (c *ClientConv[Req, Res]) Checker() *Checker { return c.chk }

// Send sends req if the protocol allows it now, else returns a
// FAILED_PRECONDITION error (holding the *Violation) and sends nothing.
func (c *ClientConv[Req, Res]) Send(req *Req) error {
	return checkedSend(c.chk, c.reqKind(req), req, c.call.Send)
}

// Out returns the checked outbound mailbox.
func (c *ClientConv[Req, Res]) Out() mailbox.Sender[*Req] { return c.out }

// CloseSend half-closes the call if the protocol allows it now.
func (c *ClientConv[Req, Res]) CloseSend() error {
	if err := c.chk.CloseSend(); err != nil {
		var v *Violation
		errors.As(err, &v)
		return status(v)
	}
	return c.call.CloseSend()
}

// Cancel abandons the call (see runtime.ClientCall.Cancel); In, if used,
// ends with CANCELLED.
func (c *ClientConv[Req, Res]) Cancel() {
	c.call.Cancel()
	c.inOnce.Do(func() {}) // no pump after this
	if c.in != nil {
		c.in.Close(mailbox.End{Err: wire.NewError(wire.Canceled, "call cancelled")})
	}
}

// fail records a received violation, resets the stream and returns the
// local error the receive side ends with.
func (c *ClientConv[Req, Res]) fail(v error) *wire.Error {
	var pv *Violation
	errors.As(v, &pv)
	c.violation.CompareAndSwap(nil, status(pv))
	c.call.Cancel()
	return c.violation.Load()
}

func (c *ClientConv[Req, Res]) failed() *wire.Error { return c.violation.Load() }

// check checks one response, or the end of the call (err io.EOF for OK).
func (c *ClientConv[Req, Res]) check(v *Res, err error) error {
	if st := c.failed(); st != nil {
		return st
	}
	if err == io.EOF {
		if verr := c.chk.End(); verr != nil {
			return c.fail(verr)
		}
		return io.EOF
	}
	if err != nil {
		return err // any non-OK status may end a conversation
	}
	if verr := c.chk.Recv(c.resKind(v)); verr != nil {
		return c.fail(verr)
	}
	return nil
}

// Recv returns the next response; io.EOF once the call ended OK where the
// protocol may end, the server's status if it failed, or a local
// FAILED_PRECONDITION error after a response out of protocol (the stream
// is reset).
func (c *ClientConv[Req, Res]) Recv() (*Res, error) {
	if st := c.failed(); st != nil {
		return nil, st
	}
	v, err := c.call.Recv()
	if err := c.check(v, err); err != nil {
		return nil, err
	}
	return v, nil
}

// In returns the checked inbound mailbox, for select; its terminal event
// is as Recv's last result (End.Err nil for a clean end). A goroutine of
// the conversation's checks each response as it arrives and hands it on;
// it ends once In has been read to its end, Cancel is called, or the
// context the conversation was opened with ends (In then ends with
// CANCELLED or DEADLINE_EXCEEDED after what it had handed on).
func (c *ClientConv[Req, Res]) In() mailbox.Receiver[*Res] {
	c.inOnce.Do(func() {
		c.in = mailbox.New[*Res](1)
		go c.pump()
	})
	return c.in
}

// pump moves checked responses to c.in until the call's inbound mailbox
// ends (which it does once the call has ended, however it ends), Cancel
// closes c.in, or the caller's context ends. A response waits in the pump
// until it is read: read In to its end, Cancel, or end the context the
// call was opened with (a call made with NewClientConv has none).
func (c *ClientConv[Req, Res]) pump() {
	raw := c.call.In()
	ctx := c.caller
	for {
		v, err := raw.Recv(context.Background())
		if err := c.check(v, err); err != nil {
			end, _ := raw.End()
			if err == io.EOF {
				c.in.Close(mailbox.End{Trailer: end.Trailer})
			} else {
				c.in.Close(mailbox.End{Err: err, Trailer: end.Trailer})
			}
			return
		}
		if err := c.in.Send(ctx, v); err != nil {
			// Closed by Cancel, or the caller has gone: In ends with
			// its context's status.
			c.in.Close(mailbox.End{Err: wire.AsError(err)})
			return
		}
	}
}
