package runtime

import (
	"context"
	"io"
	"sync"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
)

// UnaryServerInfo describes a unary call to server interceptors.
type UnaryServerInfo struct {
	// Method is the full method name, "/pkg.Service/Method".
	Method string
}

// UnaryHandler handles a unary request; req and the response are the
// method's message pointers.
type UnaryHandler func(ctx context.Context, req any) (any, error)

// UnaryServerInterceptor wraps a unary handler: it may inspect or replace
// ctx and req, call next (or not), and inspect or replace the result.
type UnaryServerInterceptor func(ctx context.Context, req any, info *UnaryServerInfo, next UnaryHandler) (any, error)

// StreamServerInfo describes a streaming call to server interceptors.
type StreamServerInfo struct {
	Method string
	Kind   Kind
}

// ServerConn is the untyped view of a streaming server call that
// interceptors see.
//
// An interceptor that wants to see the call's messages passes next a
// ServerConn of its own that wraps SendMsg and RecvMsg (embedding the one
// it was given): the handler's ServerCall then sends and receives through
// it, Send, Recv, In and Out alike. The sends keep their bounds through
// the wrapper: when it passes the message it was given on to the
// SendMsg it wraps, that SendMsg gives up when the handler's Send
// context ends, and fails with mailbox.ErrFull rather than wait for a
// TrySend. The runtime calls the wrapper's RecvMsg on a goroutine of its
// own: a panic there fails the call with INTERNAL and is logged, as a
// handler's panic does, and an error from it ends a HandleConversation
// call (whose Reactor never sees it) with its status. When the
// interceptors pass on the call they were given, messages go straight
// between the handler and the mailboxes, at no cost.
type ServerConn interface {
	Context() context.Context
	Method() string
	Metadata() wire.Metadata
	Peer() Peer
	SetHeader(md wire.Metadata) error
	SendHeader(md wire.Metadata) error
	SetTrailer(md wire.Metadata)
	// SendMsg sends a response, a *Res of the method, as ServerCall.Send.
	SendMsg(m any) error
	// RecvMsg receives the next request, a *Req of the method, as
	// ServerCall.Recv: io.EOF once the client half-closed.
	RecvMsg() (any, error)
}

// StreamHandler runs a streaming call; ctx becomes the handler's
// ServerCall.Context.
type StreamHandler func(ctx context.Context, call ServerConn) error

// StreamServerInterceptor wraps a streaming handler: it may inspect the
// call, replace the context the handler sees, refuse the call by returning
// an error without calling next, and observe the handler's result.
type StreamServerInterceptor func(ctx context.Context, call ServerConn, info *StreamServerInfo, next StreamHandler) error

// UnaryInvoker performs a unary call, decoding the response into res.
type UnaryInvoker func(ctx context.Context, method string, req, res any) error

// UnaryClientInterceptor wraps a unary client call: it may add metadata to
// ctx (see AppendOutgoing), retry, log, or fail the call without sending it.
type UnaryClientInterceptor func(ctx context.Context, method string, req, res any, next UnaryInvoker) error

// StreamClientInfo describes a streaming client call to interceptors.
type StreamClientInfo struct {
	Method string
}

// ClientConn is the untyped view of a streaming client call that
// interceptors see.
//
// An interceptor that wants to see the call's messages returns a
// ClientConn of its own that wraps SendMsg and RecvMsg (embedding the one
// next returned): the caller's ClientCall then sends and receives through
// it, Send, Recv, In and Out alike, and its sends keep their bounds as
// ServerConn's do. A panic in the wrapper's RecvMsg, which the runtime
// calls on a goroutine of its own, cancels the call, which ends with
// INTERNAL, and is logged.
type ClientConn interface {
	Context() context.Context
	Header() (wire.Metadata, error)
	Trailer() wire.Metadata
	CloseSend() error
	Cancel()
	// SendMsg sends a request, a *Req of the method, as ClientCall.Send.
	SendMsg(m any) error
	// RecvMsg receives the next response, a *Res of the method, as
	// ClientCall.Recv: io.EOF once the call ended with OK.
	RecvMsg() (any, error)
}

// Streamer opens a streaming call.
type Streamer func(ctx context.Context, info *StreamClientInfo) (ClientConn, error)

// StreamClientInterceptor wraps opening a streaming client call: it may
// change ctx (metadata, deadline) or refuse to open. It returns the
// stream next returned, one that wraps it (to see the messages), or an
// error.
type StreamClientInterceptor func(ctx context.Context, info *StreamClientInfo, next Streamer) (ClientConn, error)

func chainUnaryServer(in []UnaryServerInterceptor, info *UnaryServerInfo, h UnaryHandler) UnaryHandler {
	for i := len(in) - 1; i >= 0; i-- {
		ic, next := in[i], h
		h = func(ctx context.Context, req any) (any, error) { return ic(ctx, req, info, next) }
	}
	return h
}

func chainStreamServer(in []StreamServerInterceptor, info *StreamServerInfo, h StreamHandler) StreamHandler {
	for i := len(in) - 1; i >= 0; i-- {
		ic, next := in[i], h
		h = func(ctx context.Context, call ServerConn) error { return ic(ctx, call, info, next) }
	}
	return h
}

func chainUnaryClient(in []UnaryClientInterceptor, inv UnaryInvoker) UnaryInvoker {
	for i := len(in) - 1; i >= 0; i-- {
		ic, next := in[i], inv
		inv = func(ctx context.Context, method string, req, res any) error { return ic(ctx, method, req, res, next) }
	}
	return inv
}

func chainStreamClient(in []StreamClientInterceptor, s Streamer) Streamer {
	for i := len(in) - 1; i >= 0; i-- {
		ic, next := in[i], s
		s = func(ctx context.Context, info *StreamClientInfo) (ClientConn, error) { return ic(ctx, info, next) }
	}
	return s
}

// viaConn routes a call's typed messages through a connection an
// interceptor wrapped: the returned inbound mailbox is fed by recv, on a
// goroutine that ends with the stream of messages (or ctx), and the
// returned outbox sends with send. done is the call's own outbound
// mailbox's Done; exited, if not nil, is called when the goroutine ends.
//
// The outbox keeps its contract (mailbox.Sender) although SendMsg, as
// grpc-go's, neither takes a context nor has a form that does not wait:
// each send hands its context, and whether it may wait, to the call's own
// SendMsg through sends (see sendContexts), so that Send gives up when
// its context ends and not only when the call does, and TrySend fails
// with mailbox.ErrFull instead of waiting.
func viaConn[In, Out any](ctx context.Context, size int, recv func() (any, error), send func(any) error, done func() <-chan struct{}, sends *sendContexts, exited func()) (*mailbox.Mailbox[*In], outbox[Out]) {
	in := mailbox.New[*In](size)
	go func() {
		if exited != nil {
			defer exited()
		}
		for {
			m, err := recv()
			if err != nil {
				if err == io.EOF {
					in.Close(mailbox.End{})
				} else {
					in.Close(mailbox.End{Err: err})
				}
				return
			}
			v, ok := m.(*In)
			if !ok {
				in.Close(mailbox.End{Err: wire.Errorf(wire.Internal, "a stream interceptor's RecvMsg returned %T, want %T", m, v)})
				return
			}
			if err := in.Send(ctx, v); err != nil {
				in.Close(mailbox.End{Err: wire.AsError(err)})
				return
			}
		}
	}()
	out := outbox[Out]{
		send: func(ctx context.Context, v *Out, wait bool) error {
			return sends.through(ctx, wait, v, send)
		},
		done: done,
	}
	return in, out
}

// sendContexts carries what a send made through an interceptor's wrapper
// of a call says (its context, and whether it may wait) to the call's own
// SendMsg, which the wrapper calls with the same message: SendMsg takes
// neither. Keyed by the message: a message the wrapper sends in place of
// another, like one the interceptor sends of its own accord, waits until
// there is room or the call ends. Safe for concurrent use; the zero value
// is ready.
type sendContexts struct {
	mu sync.Mutex
	// sending holds, per message, the sends under way with it through
	// the wrapper (usually one). Written by the senders.
	sending map[any][]*sendContext
}

// sendContext is one send under way through a wrapper.
type sendContext struct {
	ctx  context.Context
	wait bool
}

// through calls send(v), the wrapper's SendMsg, with ctx and wait recorded
// as v's meanwhile.
func (s *sendContexts) through(ctx context.Context, wait bool, v any, send func(any) error) error {
	sc := &sendContext{ctx: ctx, wait: wait} // compared by identity: a ctx need not be comparable
	s.mu.Lock()
	if s.sending == nil {
		s.sending = make(map[any][]*sendContext)
	}
	s.sending[v] = append(s.sending[v], sc)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		all := s.sending[v]
		for i := range all {
			if all[i] == sc {
				all = append(all[:i], all[i+1:]...)
				break
			}
		}
		if len(all) == 0 {
			delete(s.sending, v)
		} else {
			s.sending[v] = all
		}
		s.mu.Unlock()
	}()
	return send(v)
}

// of returns the context of a send under way with m and whether it may
// wait, or def and true if there is none: what the call's own SendMsg
// sends m with.
func (s *sendContexts) of(m any, def context.Context) (ctx context.Context, wait bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if all := s.sending[m]; len(all) > 0 {
		return all[0].ctx, all[0].wait
	}
	return def, true
}
