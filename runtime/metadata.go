package runtime

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

type outgoingKey struct{}
type serverStreamKey struct{}

// NewOutgoingContext returns a context whose client calls send md as
// request metadata, replacing any set before.
func NewOutgoingContext(ctx context.Context, md wire.Metadata) context.Context {
	return context.WithValue(ctx, outgoingKey{}, md)
}

// AppendOutgoing returns a context whose client calls also send the given
// key/value pairs as request metadata. It panics on an odd count, like
// wire.Pairs. The context's existing metadata is not modified.
func AppendOutgoing(ctx context.Context, kv ...string) context.Context {
	md := OutgoingMetadata(ctx).Clone()
	if md == nil {
		md = wire.Metadata{}
	}
	for k, vs := range wire.Pairs(kv...) {
		md.Add(k, vs...)
	}
	return context.WithValue(ctx, outgoingKey{}, md)
}

// OutgoingMetadata returns the request metadata client calls made with ctx
// will send. The caller must not modify it.
func OutgoingMetadata(ctx context.Context) wire.Metadata {
	md, _ := ctx.Value(outgoingKey{}).(wire.Metadata)
	return md
}

// IncomingMetadata returns the request metadata of the call a server
// handler's ctx belongs to, or nil elsewhere. The caller must not modify it.
func IncomingMetadata(ctx context.Context) wire.Metadata {
	if ss, ok := ctx.Value(serverStreamKey{}).(*serverCore); ok {
		return ss.md.get()
	}
	return nil
}

// Peer describes the other end of a connection.
type Peer struct {
	// Addr is the peer's network address.
	Addr net.Addr
	// TLS is the connection's TLS state, nil over h2c. With mutual TLS the
	// client's verified certificates are in TLS.PeerCertificates.
	TLS *tls.ConnectionState
}

// PeerFromContext returns the peer of the call a server handler's ctx
// belongs to.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	if ss, ok := ctx.Value(serverStreamKey{}).(*serverCore); ok {
		return ss.peer, true
	}
	return Peer{}, false
}

// MethodFromContext returns the full method name ("/pkg.Service/Method")
// of the call a server handler's ctx belongs to.
func MethodFromContext(ctx context.Context) (string, bool) {
	ss, ok := ctx.Value(serverStreamKey{}).(*serverCore)
	if !ok {
		return "", false
	}
	return ss.method, true
}

// CallContext returns the context a server call began with: the one the
// runtime passes its StatsHandler with each of the call's events and
// hands to the first interceptor. ctx is the handler's context or any
// context an interceptor derived from it; outside a server call
// CallContext returns nil. A StatsHandler that keeps state for each call
// by its context finds it with CallContext from wherever an interceptor
// or the handler is, whatever contexts the interceptors before made.
func CallContext(ctx context.Context) context.Context {
	if ss, ok := ctx.Value(serverStreamKey{}).(*serverCore); ok {
		return ss.ctx
	}
	return nil
}

// SetHeader adds md to the response headers of the call ctx belongs to; it
// is for unary handlers, which have no call value. It fails once the
// headers have been sent.
func SetHeader(ctx context.Context, md wire.Metadata) error {
	ss, ok := ctx.Value(serverStreamKey{}).(*serverCore)
	if !ok {
		return wire.NewError(wire.Internal, "SetHeader: not a server call context")
	}
	return ss.setHeader(md)
}

// SetTrailer adds md to the response trailers of the call ctx belongs to.
func SetTrailer(ctx context.Context, md wire.Metadata) error {
	ss, ok := ctx.Value(serverStreamKey{}).(*serverCore)
	if !ok {
		return wire.NewError(wire.Internal, "SetTrailer: not a server call context")
	}
	ss.setTrailer(md)
	return nil
}

// SetCompressor makes the call ctx belongs to compress its responses with
// the named compressor (one the server has: "gzip", "zstd" or one added
// WithCompressor; "identity" for none), when the client's
// grpc-accept-encoding lists it; otherwise responses go uncompressed. By
// default a server compresses responses the way the client compressed its
// requests, if the client accepts that encoding.
func SetCompressor(ctx context.Context, name string) error {
	ss, ok := ctx.Value(serverStreamKey{}).(*serverCore)
	if !ok {
		return wire.NewError(wire.Internal, "SetCompressor: not a server call context")
	}
	return ss.setCompressor(name)
}

// RequestCompressor returns the grpc-encoding the client of the call ctx
// belongs to declared for its requests ("gzip", "zstd"), or "" when it declared
// none (or "identity") or ctx is not a server call's. A handler uses it to
// tell whether its requests came compressed, as gRPC's interop server
// must for expect_compressed.
func RequestCompressor(ctx context.Context) string {
	ss, ok := ctx.Value(serverStreamKey{}).(*serverCore)
	if !ok || ss.reqComp == nil {
		return ""
	}
	return ss.reqComp.Name()
}

// requestMetadata is a call's request metadata, kept as the decoded
// key, value list (wire.AppendDecodedHeader) until it is first asked
// for as a wire.Metadata: most handlers never ask, and an idle
// conversation keeps the list rather than a map.
type requestMetadata struct {
	once  sync.Once
	pairs []string
	md    wire.Metadata
}

// get returns the metadata as a map, made by the first call. The caller
// must not modify it.
func (r *requestMetadata) get() wire.Metadata {
	r.once.Do(func() {
		md := make(wire.Metadata, len(r.pairs)/2)
		addPairs(md, r.pairs)
		r.md, r.pairs = md, nil
	})
	return r.md
}

// addPairs adds a key, value list to md.
func addPairs(md wire.Metadata, pairs []string) {
	for i := 0; i < len(pairs); i += 2 {
		md[pairs[i]] = append(md[pairs[i]], pairs[i+1])
	}
}

// decodeMetadataPairs returns the custom metadata of a received header
// block (request headers, response headers or trailers) as a key, value
// list, leaving out the reserved keys. The names gRPC sends on every
// call are looked up in their wire form, so that lower-casing them
// allocates nothing.
func decodeMetadataPairs(h transport.Header) ([]string, error) {
	var pairs []string
	for k, vs := range h {
		if l, ok := transport.CommonWire(k); ok {
			k = l
		}
		for _, v := range vs {
			var err error
			if pairs, err = wire.AppendDecodedHeader(pairs, k, v); err != nil {
				return pairs, err // what came before the bad field
			}
		}
	}
	return pairs, nil
}

// decodeMetadata adds the custom metadata of a received header block to
// md (decodeMetadataPairs); on error, what came before the bad field.
func decodeMetadata(md wire.Metadata, h transport.Header) error {
	pairs, err := decodeMetadataPairs(h)
	addPairs(md, pairs)
	return err
}
