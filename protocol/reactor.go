package protocol

import (
	"context"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/runtime"
)

// Conversation is a server call served without a goroutine of its own
// (runtime.HandleConversation) and checked against its protocol: the
// call's Reactor sees only the requests and the half-close the protocol
// allows, and Send, TrySend and Out refuse the responses it does not
// allow before they reach the wire. It is the Reactor counterpart of
// ServerConv, with the same checks and the same statuses.
//
// Concurrency: as for runtime.Conversation, every method may be called
// from any goroutine, at any time, also after the call is over (sends
// then fail).
type Conversation[Req, Res any] struct {
	call    *runtime.Conversation[Req, Res]
	reqKind func(*Req) int
	resKind func(*Res) int
	out     sender[Res] // the checked outbound side

	serverCheck // the checker and the first violation received
}

// HandleConversation registers a streaming method (kind ClientStream,
// ServerStream or BidiStream) with runtime.HandleConversation, checked
// against machine m: reqKind and resKind return the kind number of a
// request and of a response (-1 for none). open runs once when a call
// starts and returns the Reactor its checked events go to; an idle call
// holds no goroutine, as with runtime.HandleConversation.
//
// Each request and the client's half-close are checked before the
// Reactor sees them. One out of protocol ends the call with
// FAILED_PRECONDITION (INVALID_ARGUMENT for a request with no kind),
// naming the state, the kinds expected and the kind received, and the
// Reactor's OnDone gets that status; the Reactor never sees it. Finish(nil)
// where the protocol expects more ends the call with INTERNAL instead.
// These are the statuses Serve gives a handler goroutine, from the same
// checks.
//
// HandleConversation panics if the method is already registered or kind
// is Unary.
func HandleConversation[Req, Res any](s *runtime.Server, method string, kind runtime.Kind, m *Machine, reqKind func(*Req) int, resKind func(*Res) int, open func(c *Conversation[Req, Res]) (runtime.Reactor[Req], error)) {
	runtime.HandleConversation(s, method, kind, func(call *runtime.Conversation[Req, Res]) (runtime.Reactor[Req], error) {
		c := &Conversation[Req, Res]{call: call, reqKind: reqKind, resKind: resKind, serverCheck: serverCheck{chk: NewChecker(m, ServerSide)}}
		c.out = sender[Res]{c: c.chk, kind: resKind, out: call.Out()}
		r, err := open(c)
		if err != nil || r == nil {
			return nil, err // runtime.HandleConversation refuses a nil Reactor
		}
		return checkedReactor[Req, Res]{c: c, r: r}, nil
	})
}

// checkedReactor checks each event of c before r sees it.
type checkedReactor[Req, Res any] struct {
	c *Conversation[Req, Res]
	r runtime.Reactor[Req]
}

func (cr checkedReactor[Req, Res]) OnMessage(req *Req) error {
	if st := cr.c.recv(cr.c.reqKind(req)); st != nil {
		return st
	}
	return cr.r.OnMessage(req)
}

func (cr checkedReactor[Req, Res]) OnHalfClose() error {
	if st := cr.c.recvHalfClose(); st != nil {
		return st
	}
	return cr.r.OnHalfClose()
}

func (cr checkedReactor[Req, Res]) OnDone(err error) { cr.r.OnDone(err) }

// Call returns the underlying conversation, for its metadata, headers and
// trailers. Its messages must go through the Conversation.
func (c *Conversation[Req, Res]) Call() *runtime.Conversation[Req, Res] { return c.call }

// Context is the call's context (runtime.Conversation.Context).
func (c *Conversation[Req, Res]) Context() context.Context { return c.call.Context() }

// Checker returns the call's checker, for its state.
func (c *Conversation[Req, Res]) Checker() *Checker { return c.chk }

// Send sends res if the protocol allows it now, waiting while the
// outbound mailbox is full (runtime.Conversation.Send); else it returns a
// FAILED_PRECONDITION error (holding the *Violation) and sends nothing.
func (c *Conversation[Req, Res]) Send(ctx context.Context, res *Res) error {
	return c.out.Send(ctx, res)
}

// TrySend is Send without waiting: it fails with mailbox.ErrFull when the
// outbound mailbox is full, leaving the protocol's state as it was.
func (c *Conversation[Req, Res]) TrySend(res *Res) error { return c.out.TrySend(res) }

// Out returns the checked outbound side as a mailbox.Sender: its Send and
// TrySend check as Send does.
func (c *Conversation[Req, Res]) Out() mailbox.Sender[*Res] { return c.out }

// Done is closed once the call is over or Finish was called.
func (c *Conversation[Req, Res]) Done() <-chan struct{} { return c.call.Done() }

// Finish ends the call with err's status once the responses queued before
// it are written (runtime.Conversation.Finish). After a request out of
// protocol the call has ended with its violation already; Finish(nil)
// where the protocol expects more ends it with INTERNAL.
func (c *Conversation[Req, Res]) Finish(err error) { c.call.Finish(c.end(err)) }

var _ runtime.Reactor[struct{}] = checkedReactor[struct{}, struct{}]{}
