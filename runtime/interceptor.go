package runtime

import (
	"context"

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
// interceptors see; messages flow through the call's typed mailboxes.
type ServerConn interface {
	Context() context.Context
	Method() string
	Metadata() wire.Metadata
	Peer() Peer
	SetHeader(md wire.Metadata) error
	SendHeader(md wire.Metadata) error
	SetTrailer(md wire.Metadata)
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
type ClientConn interface {
	Context() context.Context
	Header() (wire.Metadata, error)
	Trailer() wire.Metadata
	CloseSend() error
	Cancel()
}

// Streamer opens a streaming call.
type Streamer func(ctx context.Context, info *StreamClientInfo) (ClientConn, error)

// StreamClientInterceptor wraps opening a streaming client call: it may
// change ctx (metadata, deadline) or refuse to open. It must return the
// stream next returned, or an error.
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
