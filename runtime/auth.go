package runtime

import (
	"context"
	"strings"

	"github.com/parleyrpc/parley/wire"
)

// PerRPCCredentials supplies request metadata for every call a client
// makes, typically an "authorization" header. Implementations must be safe
// for concurrent use.
type PerRPCCredentials interface {
	// RequestMetadata returns the metadata to add to a call of method
	// ("/pkg.Service/Method"). An error fails the call without sending it;
	// a plain error becomes UNAUTHENTICATED.
	RequestMetadata(ctx context.Context, method string) (wire.Metadata, error)
	// RequireTransportSecurity reports whether the credentials may only be
	// sent over TLS. A client without WithTLS then fails every call with
	// UNAUTHENTICATED instead of sending them in clear text.
	RequireTransportSecurity() bool
}

// WithPerRPCCredentials adds creds' metadata to every call, unary and
// streaming, ahead of any interceptor added after it. The default is no
// credentials.
func WithPerRPCCredentials(creds PerRPCCredentials) DialOption {
	return dialOption(func(c *dialConfig) {
		// c is Dial's own configuration: by the time a call runs, every
		// option has been applied, so c.tls is final.
		attach := func(ctx context.Context, method string) (context.Context, error) {
			return attachCredentials(ctx, creds, c.tls != nil, method)
		}
		c.unary = append(c.unary, func(ctx context.Context, method string, req, res any, next UnaryInvoker) error {
			ctx, err := attach(ctx, method)
			if err != nil {
				return err
			}
			return next(ctx, method, req, res)
		})
		c.stream = append(c.stream, func(ctx context.Context, info *StreamClientInfo, next Streamer) (ClientConn, error) {
			ctx, err := attach(ctx, info.Method)
			if err != nil {
				return nil, err
			}
			return next(ctx, info)
		})
	})
}

// CallCredentials adds creds' metadata to this call, after the client's
// own (WithPerRPCCredentials) and with the same rules: credentials that
// require transport security fail the call with UNAUTHENTICATED on an h2c
// client instead of being sent in clear text.
func CallCredentials(creds PerRPCCredentials) CallOption {
	return callOption(func(c *callConfig) { c.creds = creds })
}

// attachCredentials returns ctx with creds' metadata for a call of method
// added to the outgoing metadata; overTLS says whether the client uses
// TLS.
func attachCredentials(ctx context.Context, creds PerRPCCredentials, overTLS bool, method string) (context.Context, error) {
	if creds.RequireTransportSecurity() && !overTLS {
		return nil, wire.NewError(wire.Unauthenticated, "per-RPC credentials require TLS, and this client uses h2c: refusing to send them in clear text")
	}
	md, err := creds.RequestMetadata(ctx, method)
	if err != nil {
		if we, ok := err.(*wire.Error); ok {
			return nil, we
		}
		return nil, wire.WrapError(wire.Unauthenticated, err)
	}
	for k, vs := range md {
		for _, v := range vs {
			ctx = AppendOutgoing(ctx, k, v)
		}
	}
	return ctx, nil
}

// bearer is a static OAuth2-style bearer token.
type bearer struct {
	token    string
	insecure bool
}

func (b bearer) RequestMetadata(context.Context, string) (wire.Metadata, error) {
	return wire.Metadata{"authorization": {"Bearer " + b.token}}, nil
}

func (b bearer) RequireTransportSecurity() bool { return !b.insecure }

// BearerToken sends "authorization: Bearer <token>" with every call. The
// token is only sent over TLS: on an h2c client every call fails with
// UNAUTHENTICATED (use InsecureBearerToken where clear text is acceptable,
// such as a loopback sidecar).
func BearerToken(token string) DialOption {
	return WithPerRPCCredentials(bearer{token: token})
}

// InsecureBearerToken is BearerToken that also sends the token over h2c,
// in clear text.
func InsecureBearerToken(token string) DialOption {
	return WithPerRPCCredentials(bearer{token: token, insecure: true})
}

// AuthFunc checks a call's bearer token (without the "Bearer " prefix) and
// returns the context the handler should see, typically carrying the
// caller's identity. To refuse the call it returns an error: a *wire.Error
// keeps its code (PERMISSION_DENIED for a known caller who may not do
// this), any other error becomes UNAUTHENTICATED. The full method name is
// available with MethodFromContext.
type AuthFunc func(ctx context.Context, token string) (context.Context, error)

// AuthInterceptor checks the "authorization: Bearer <token>" header of
// every call, unary and streaming, with auth before the handler runs. A
// call without the header, with another scheme, or that auth refuses fails
// with UNAUTHENTICATED (or auth's code) and never reaches its handler. It
// is one option adding a unary and a stream interceptor; put it first to
// run it outermost.
func AuthInterceptor(auth AuthFunc) ServerOption {
	check := func(ctx context.Context, md wire.Metadata) (context.Context, error) {
		v := md.Get("authorization")
		scheme, token, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(token) == "" {
			return nil, wire.NewError(wire.Unauthenticated, "missing or malformed bearer token")
		}
		ctx, err := auth(ctx, strings.TrimSpace(token))
		if err != nil {
			if we, ok := err.(*wire.Error); ok {
				return nil, we
			}
			return nil, wire.WrapError(wire.Unauthenticated, err)
		}
		return ctx, nil
	}
	return serverOption(func(c *serverConfig) {
		c.unary = append(c.unary, func(ctx context.Context, req any, info *UnaryServerInfo, next UnaryHandler) (any, error) {
			ctx, err := check(ctx, IncomingMetadata(ctx))
			if err != nil {
				return nil, err
			}
			return next(ctx, req)
		})
		c.stream = append(c.stream, func(ctx context.Context, call ServerConn, info *StreamServerInfo, next StreamHandler) error {
			ctx, err := check(ctx, call.Metadata())
			if err != nil {
				return err
			}
			return next(ctx, call)
		})
	})
}
