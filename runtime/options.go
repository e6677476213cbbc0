package runtime

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/wire"
)

// Default limits. Each can be changed with the option named beside it.
const (
	// DefaultMaxRecvMsgSize bounds a received message (MaxRecvMsgSize):
	// 4 MiB, as in grpc-go.
	DefaultMaxRecvMsgSize = 4 << 20
	// DefaultMaxRecvMsgDepth bounds how deeply arrays and maps nest in a
	// received msgpack message (MaxRecvMsgDepth): 10,000 levels,
	// wire.DefaultMaxMsgpackDepth, as in protobuf-go.
	DefaultMaxRecvMsgDepth = wire.DefaultMaxMsgpackDepth
	// DefaultMaxSendMsgSize bounds a sent message (MaxSendMsgSize):
	// math.MaxInt32, as in grpc-go.
	DefaultMaxSendMsgSize = math.MaxInt32
	// DefaultMailboxSize is how many messages each direction of a call
	// buffers before Send blocks (MailboxSize).
	DefaultMailboxSize = 16
	// DefaultMaxConcurrentStreams bounds the calls one client connection
	// may have open on a server at once (MaxConcurrentStreams): 1024.
	DefaultMaxConcurrentStreams = transport.DefaultMaxConcurrentStreams
	// DefaultMaxHeaderListSize bounds the size of a header block, headers
	// or trailers, that a peer may send (MaxHeaderListSize): 1 MiB.
	DefaultMaxHeaderListSize = transport.DefaultMaxHeaderListSize
	// DefaultKeepaliveMinTime is the shortest interval between a client's
	// PINGs that a TransportFramer server accepts without a strike
	// (WithKeepaliveEnforcement): 1 s. A client using WithKeepalive with an
	// interval of 1 s or more, which pings at most once per interval, is
	// never punished.
	DefaultKeepaliveMinTime = time.Second
	// DefaultConnectionTimeout bounds how long a new connection may take
	// to finish its TLS handshake and send the HTTP/2 connection preface
	// and SETTINGS (ConnectionTimeout): 10 s, as net/http's server.
	DefaultConnectionTimeout = transport.DefaultConnectionTimeout
)

// ServerOption configures a Server.
type ServerOption interface{ applyServer(*serverConfig) }

// DialOption configures a Client.
type DialOption interface{ applyDial(*dialConfig) }

// Option configures either side; it is both a ServerOption and a DialOption.
type Option interface {
	ServerOption
	DialOption
}

// common holds the settings shared by both sides.
type common struct {
	tls         *tls.Config
	maxRecv     int
	maxSend     int
	maxHeader   uint32
	mailboxSize int
	logger      *slog.Logger
	// codecs holds the codecs by name; codecNames lists the same names in
	// the order they were added, a name added again moving to the end.
	// Both are replaced, never written, by addCodec. send names the codec
	// a client sends with, set by WithCodec ("": msgpack).
	codecs      map[string]wire.Codec
	codecNames  []string
	send        string
	pingEvery   time.Duration
	pingTimeout time.Duration
	stats       StatsHandler // nil: no stats
	transport   HTTP2Transport
	// streamWindow and connWindow are the receive windows advertised;
	// zero: the transport's default (InitialWindowSize).
	streamWindow int32
	connWindow   int32
	// comps holds the compressors by name; compNames lists the names in
	// the order added, as grpc-accept-encoding advertises them. Both are
	// replaced, never written, by addCompressor.
	comps       map[string]wire.Compressor
	compNames   []string
	compressMin int // CompressMinBytes
}

func defaultCommon() common {
	return common{
		maxRecv:     DefaultMaxRecvMsgSize,
		maxSend:     DefaultMaxSendMsgSize,
		maxHeader:   DefaultMaxHeaderListSize,
		mailboxSize: DefaultMailboxSize,
		codecs:      map[string]wire.Codec{wire.Msgpack.Name(): wire.Msgpack, wire.Proto.Name(): wire.Proto},
		codecNames:  []string{wire.Msgpack.Name(), wire.Proto.Name()},
		comps:       map[string]wire.Compressor{wire.Gzip.Name(): wire.Gzip, wire.Zstd.Name(): wire.Zstd},
		compNames:   []string{wire.Gzip.Name(), wire.Zstd.Name()},
	}
}

func (c *common) log() *slog.Logger {
	if c.logger == nil {
		return slog.Default()
	}
	return c.logger
}

type serverConfig struct {
	common
	maxStreams uint32
	// kaMinTime and kaRequireStream are the keepalive enforcement policy;
	// kaSet is false until WithKeepaliveEnforcement sets them.
	kaSet           bool
	kaMinTime       time.Duration
	kaRequireStream bool
	unary           []UnaryServerInterceptor
	stream          []StreamServerInterceptor
	// Connection lifetime: ConnectionTimeout, MaxConnectionIdle,
	// MaxConnectionAge.
	connTimeout time.Duration
	maxIdle     time.Duration
	maxAge      time.Duration
	ageGrace    time.Duration
	// httpHandler serves what is not gRPC (WithHTTPHandler); nil: such
	// requests are refused and HTTP/1.1 connections closed.
	httpHandler http.Handler
}

type dialConfig struct {
	common
	codec  wire.Codec
	dialer func(ctx context.Context, addr string) (net.Conn, error)
	unary  []UnaryClientInterceptor
	stream []StreamClientInterceptor
}

type bothOption func(*common)

func (o bothOption) applyServer(c *serverConfig) { o(&c.common) }
func (o bothOption) applyDial(c *dialConfig)     { o(&c.common) }

type serverOption func(*serverConfig)

func (o serverOption) applyServer(c *serverConfig) { o(c) }

type dialOption func(*dialConfig)

func (o dialOption) applyDial(c *dialConfig) { o(c) }

// WithTLS serves or dials over TLS with ALPN "h2". The default is h2c:
// cleartext HTTP/2 with prior knowledge. On a server, cfg must hold a
// certificate; on a client, cfg.ServerName defaults to the target's host.
// Set cfg.ClientAuth on the server for mutual TLS; the peer's certificates
// are then in Peer.TLS.
func WithTLS(cfg *tls.Config) Option {
	return bothOption(func(c *common) { c.tls = cfg })
}

// MaxRecvMsgSize bounds the size of a message this side accepts, after
// decompression; a larger one fails the call with RESOURCE_EXHAUSTED. The
// default is DefaultMaxRecvMsgSize (4 MiB).
func MaxRecvMsgSize(n int) Option {
	return bothOption(func(c *common) { c.maxRecv = n })
}

// MaxRecvMsgDepth bounds how deeply arrays and maps may nest in a msgpack
// message this side accepts, counting the message's own map as level 1; a
// deeper message fails the call with INTERNAL, as any message that does
// not decode. The default is DefaultMaxRecvMsgDepth (10,000); n of zero or
// less means the default. The limit keeps a small message from making the
// decoder, which recurses once per level, grow a goroutine's stack without
// bound: see wire.MsgpackOptions before raising it far.
//
// The option replaces the codec named "msgpack" with
// wire.NewMsgpack(wire.MsgpackOptions{MaxDepth: n}). Options apply in
// order: it replaces a "msgpack" codec added WithCodec before it, and a
// WithCodec after it replaces the codec it made. Codecs of other names
// are not affected.
func MaxRecvMsgDepth(n int) Option {
	return bothOption(func(c *common) {
		c.addCodec(wire.NewMsgpack(wire.MsgpackOptions{MaxDepth: n}))
	})
}

// MaxSendMsgSize bounds the size of a message this side sends; Send of a
// larger one returns RESOURCE_EXHAUSTED and the call goes on. The default
// is DefaultMaxSendMsgSize.
func MaxSendMsgSize(n int) Option {
	return bothOption(func(c *common) { c.maxSend = n })
}

// MaxHeaderListSize bounds the size of the header and trailer blocks this
// side accepts (HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE). The default is
// DefaultMaxHeaderListSize (1 MiB).
func MaxHeaderListSize(n uint32) Option {
	return bothOption(func(c *common) { c.maxHeader = n })
}

// InitialWindowSize sets the HTTP/2 receive window this side advertises for
// each stream: how many bytes of a call's messages the peer may send
// before this side's application has consumed them. A server's default is
// 1 MiB; a client's is 4 MiB. Values below HTTP/2's 65,535 are allowed.
// TransportNetHTTP takes windows below 4 MiB only, and caps larger ones.
func InitialWindowSize(n int32) Option {
	return bothOption(func(c *common) { c.streamWindow = max(n, 0) })
}

// InitialConnWindowSize sets the HTTP/2 receive window this side
// advertises for each connection, shared by its calls (at least 65,535,
// HTTP/2's initial window). Credit for it goes back as data arrives,
// whether or not the application reads; it is withheld only while the
// calls of a connection together hold more than four windows of data
// that their applications have not consumed, which bounds the memory a
// peer can make a connection buffer. A server's default is 4 MiB; a
// client's is 16 MiB (TransportNetHTTP caps it below 4 MiB).
func InitialConnWindowSize(n int32) Option {
	return bothOption(func(c *common) { c.connWindow = max(n, 0) })
}

// MailboxSize sets how many messages each direction of a call buffers. A
// full outbound mailbox blocks Send; a full inbound mailbox stops reading
// from the connection, so HTTP/2 flow control stops the peer. The default
// is DefaultMailboxSize (16).
func MailboxSize(n int) Option {
	return bothOption(func(c *common) {
		if n < 1 {
			n = 1
		}
		c.mailboxSize = n
	})
}

// WithLogger sets where the runtime logs what it cannot report to a caller:
// handler panics, connection failures. The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return bothOption(func(c *common) { c.logger = l })
}

// WithKeepalive sends an HTTP/2 PING when a connection has been silent for
// interval, and closes it if the peer does not answer within timeout; the
// calls on it then fail with UNAVAILABLE. By default no pings are sent.
func WithKeepalive(interval, timeout time.Duration) Option {
	return bothOption(func(c *common) {
		c.pingEvery = interval
		c.pingTimeout = timeout
	})
}

// WithKeepaliveEnforcement sets how a server polices its clients' PINGs,
// as grpc-go's keepalive.EnforcementPolicy does. A PING that arrives less
// than minTime after the previous one, or, unless permitWithoutStream, any
// PING within two hours of the previous one while the connection has no
// open stream, is a strike; sending response HEADERS or DATA clears the
// strikes (a client may ping once after each, as grpc-go's flow-control
// probes do). The third strike closes the connection with
// GOAWAY(ENHANCE_YOUR_CALM) and debug data "too_many_pings", which grpc-go
// clients recognise. A minTime of zero or less accepts PINGs at any rate.
//
// The default is DefaultKeepaliveMinTime (1 s) with permitWithoutStream
// true: a parley client's WithKeepalive pings, which go out on idle
// connections too, are never punished at intervals of 1 s or more.
// (grpc-go's server default, 5 minutes without streams forbidden, would
// punish them.)
//
// Whatever the policy, the server closes a connection with
// GOAWAY(ENHANCE_YOUR_CALM) when more than 10 000 of its answers to the
// client's control frames (PING and SETTINGS acknowledgements, stream
// resets) wait to be written: a client that floods control frames and does
// not read cannot grow the server's memory.
//
// Only TransportFramer servers enforce the policy; net/http's server
// (TransportNetHTTP) has none, and ignores this option.
func WithKeepaliveEnforcement(minTime time.Duration, permitWithoutStream bool) ServerOption {
	return serverOption(func(c *serverConfig) {
		c.kaSet = true
		c.kaMinTime = max(minTime, 0)
		c.kaRequireStream = !permitWithoutStream
	})
}

// ConnectionTimeout bounds how long a new connection may take to become an
// HTTP/2 connection: its TLS handshake, if any, and the client's connection
// preface and first SETTINGS frame, together. A connection that has not
// done all of that in time is closed, so connections that never speak do
// not hold the server's goroutines and buffers. The default is
// DefaultConnectionTimeout (10 s); zero or less means the default.
// (net/http's server, TransportNetHTTP, bounds the preface with its own 10 s
// after the TLS handshake.)
func ConnectionTimeout(d time.Duration) ServerOption {
	return serverOption(func(c *serverConfig) { c.connTimeout = d })
}

// MaxConnectionIdle closes a connection gracefully, with GOAWAY, once it
// has had no call in flight for d, as grpc-go's
// keepalive.ServerParameters.MaxConnectionIdle does. A parley or grpc-go
// client dials again for its next call. The default, zero, keeps idle
// connections open.
func MaxConnectionIdle(d time.Duration) ServerOption {
	return serverOption(func(c *serverConfig) { c.maxIdle = d })
}

// MaxConnectionAge closes a connection gracefully once it is d old, give or
// take a tenth (so that connections made together do not all go
// together): the client gets GOAWAY, starts its new calls on a new
// connection, and the calls in flight have grace to finish before the
// connection is closed under them. It is grpc-go's
// keepalive.ServerParameters MaxConnectionAge and MaxConnectionAgeGrace,
// used to spread clients over servers that come and go. The default, zero,
// sets no age; a zero grace cuts off the calls at once. On TransportNetHTTP,
// whose server cannot drain one connection, the connection is closed at d
// plus grace.
func MaxConnectionAge(d, grace time.Duration) ServerOption {
	return serverOption(func(c *serverConfig) { c.maxAge, c.ageGrace = d, grace })
}

// WithHTTPHandler serves, with h, what reaches the server's listeners and
// is not gRPC, so that one port serves gRPC on parley's own transport and
// the application's other routes (web pages, and the browser protocols
// through Server.Handler):
//
//   - connections that do not speak HTTP/2, served with net/http's
//     HTTP/1.1: a cleartext connection whose first bytes are not HTTP/2's
//     preface, or a TLS client that negotiates "http/1.1" by ALPN (offered
//     besides "h2" when h is set);
//   - requests on HTTP/2 connections whose content-type is not
//     application/grpc[+subtype]: a page a browser fetches over TLS, or a
//     gRPC-Web call.
//
// For example, with mux serving a page and the server's Handler:
//
//	mux := http.NewServeMux()
//	srv := runtime.NewServer(runtime.WithHTTPHandler(mux))
//	mux.Handle("/", srv.Handler())
//	mux.Handle("GET /{$}", page)
//
// Without it, such connections are closed and such requests refused (405
// or 415, as gRPC prescribes). Shutdown and Close cover them.
func WithHTTPHandler(h http.Handler) ServerOption {
	return serverOption(func(c *serverConfig) { c.httpHandler = h })
}

// keepaliveEnforcement returns the policy: the minimum time between PINGs
// and whether PINGs need an open stream.
func (c *serverConfig) keepaliveEnforcement() (minTime time.Duration, requireStream bool) {
	if !c.kaSet {
		return DefaultKeepaliveMinTime, false
	}
	return c.kaMinTime, c.kaRequireStream
}

// HTTP2Transport names an HTTP/2 implementation under a Server or Client.
type HTTP2Transport int

const (
	// TransportFramer is parley's own HTTP/2 implementation on x/net's
	// Framer and hpack: one reader and one batching writer goroutine per
	// connection, after grpc-go's transport. It is the default.
	TransportFramer HTTP2Transport = iota
	// TransportNetHTTP is net/http's own HTTP/2 server and client
	// (http.Server and http.Transport with HTTP/2 only, h2c with prior
	// knowledge or TLS). It has no PING-flood policy (see
	// WithKeepaliveEnforcement), and adds a goroutine per streaming call
	// on each side where the framer transport has none.
	TransportNetHTTP

	// TransportXNet is the former name of TransportNetHTTP, from when the
	// second implementation was golang.org/x/net/http2's.
	//
	// Deprecated: use TransportNetHTTP.
	TransportXNet = TransportNetHTTP
)

// WithHTTP2Transport chooses the HTTP/2 implementation a Server serves
// with or a Client dials with. Both speak the same protocol, so either side
// may use either. The default is TransportFramer.
func WithHTTP2Transport(t HTTP2Transport) Option {
	return bothOption(func(c *common) { c.transport = t })
}

// WithCodec adds a codec, replacing one of the same name. A server
// accepts every codec's content-subtype and answers each call in the
// codec it was called with; a client sends with the codec added last
// under a name other than msgpack, or with msgpack if there is none. A
// codec named "msgpack" replaces wire.Msgpack on both sides, and one
// named "proto" replaces wire.Proto. The default is wire.Msgpack and
// wire.Proto: a server answers application/grpc+msgpack with msgpack, and
// application/grpc and application/grpc+proto with protobuf (the encoding
// every stock gRPC client speaks); a client sends msgpack unless given
// WithCodec(wire.Proto) or another codec.
//
// With the default transport, streaming calls decode small messages (up
// to 16 KiB, uncompressed) on the connection's reading goroutine as they
// arrive, so Unmarshal must not block: a slow codec delays the other
// calls on the connection.
func WithCodec(codec wire.Codec) Option {
	return bothOption(func(c *common) {
		c.addCodec(codec)
		if name := codec.Name(); name != wire.Msgpack.Name() {
			c.send = name
		}
	})
}

// addCodec adds codec, replacing any of the same name, and makes it the
// last added. It copies the map and the list rather than writing to them,
// so a configuration copied earlier keeps its own codecs.
func (c *common) addCodec(codec wire.Codec) {
	name := codec.Name()
	cp := maps.Clone(c.codecs)
	cp[name] = codec
	c.codecs = cp
	names := slices.DeleteFunc(slices.Clone(c.codecNames), func(n string) bool { return n == name })
	c.codecNames = append(names, name)
}

// sendCodec returns the codec a client sends with: the one added last
// WithCodec under a name other than msgpack, else the msgpack codec
// (wire.Msgpack, or the codec that replaced it).
func (c *common) sendCodec() wire.Codec {
	if c.send != "" {
		return c.codecs[c.send]
	}
	return c.codecs[wire.Msgpack.Name()]
}

// MaxConcurrentStreams bounds the calls that one client connection may have
// in flight on the server (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). The
// default is DefaultMaxConcurrentStreams (1024).
func MaxConcurrentStreams(n uint32) ServerOption {
	return serverOption(func(c *serverConfig) { c.maxStreams = n })
}

// WithUnaryInterceptor adds server interceptors for unary calls. They run in
// the order given, after any added before, the first outermost.
func WithUnaryInterceptor(in ...UnaryServerInterceptor) ServerOption {
	return serverOption(func(c *serverConfig) { c.unary = append(c.unary, in...) })
}

// WithStreamInterceptor adds server interceptors for streaming calls. They
// run in the order given, the first outermost.
func WithStreamInterceptor(in ...StreamServerInterceptor) ServerOption {
	return serverOption(func(c *serverConfig) { c.stream = append(c.stream, in...) })
}

// WithUnaryClientInterceptor adds client interceptors for unary calls, the
// first outermost.
func WithUnaryClientInterceptor(in ...UnaryClientInterceptor) DialOption {
	return dialOption(func(c *dialConfig) { c.unary = append(c.unary, in...) })
}

// WithStreamClientInterceptor adds client interceptors for streaming calls,
// the first outermost.
func WithStreamClientInterceptor(in ...StreamClientInterceptor) DialOption {
	return dialOption(func(c *dialConfig) { c.stream = append(c.stream, in...) })
}

// WithDialer replaces how the client opens its TCP connection; the default
// is a net.Dialer. TLS, if configured, runs on top of the returned conn.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) DialOption {
	return dialOption(func(c *dialConfig) { c.dialer = dial })
}

// CallOption configures one client call.
type CallOption interface{ applyCall(*callConfig) }

type callConfig struct {
	header     *wire.Metadata
	trailer    *wire.Metadata
	compressor string
	maxRecv    int // 0: the client's MaxRecvMsgSize
	maxSend    int // 0: the client's MaxSendMsgSize
	creds      PerRPCCredentials
	// waitForReady: a call whose connection cannot be made waits and
	// tries again until its context ends, instead of failing at once.
	waitForReady bool
}

// limits returns the call's receive and send limits: its own, or the
// client's.
func (c *callConfig) limits(cfg *dialConfig) (maxRecv, maxSend int) {
	maxRecv, maxSend = cfg.maxRecv, cfg.maxSend
	if c.maxRecv > 0 {
		maxRecv = c.maxRecv
	}
	if c.maxSend > 0 {
		maxSend = c.maxSend
	}
	return maxRecv, maxSend
}

type callOption func(*callConfig)

func (o callOption) applyCall(c *callConfig) { o(c) }

// Header stores the response headers of a unary call in *md when the call
// ends, whatever its status.
func Header(md *wire.Metadata) CallOption {
	return callOption(func(c *callConfig) { c.header = md })
}

// Trailer stores the response trailers of a unary call in *md when the call
// ends, whatever its status.
func Trailer(md *wire.Metadata) CallOption {
	return callOption(func(c *callConfig) { c.trailer = md })
}

// MaxCallRecvMsgSize bounds the size of a message this call accepts, after
// decompression, in place of the client's MaxRecvMsgSize (the default); a
// larger one fails the call with RESOURCE_EXHAUSTED. n of zero or less
// leaves the client's limit.
func MaxCallRecvMsgSize(n int) CallOption {
	return callOption(func(c *callConfig) { c.maxRecv = max(n, 0) })
}

// MaxCallSendMsgSize bounds the size of a message this call sends, in
// place of the client's MaxSendMsgSize (the default); sending a larger one
// fails with RESOURCE_EXHAUSTED and the call goes on. n of zero or less
// leaves the client's limit.
func MaxCallSendMsgSize(n int) CallOption {
	return callOption(func(c *callConfig) { c.maxSend = max(n, 0) })
}

// WaitForReady makes a call wait for a connection, as grpc-go's
// WaitForReady(true) does: when the server cannot be reached (the dial,
// TLS handshake or HTTP/2 preface fails), the call tries again, with
// backoff from 100 ms up to 5 s, until it connects or its context ends,
// and then fails with DEADLINE_EXCEEDED or CANCELLED instead of
// UNAVAILABLE. A call on a connection that breaks after the call started
// is not retried. The default, false, fails fast with UNAVAILABLE.
func WaitForReady(wait bool) CallOption {
	return callOption(func(c *callConfig) { c.waitForReady = wait })
}

// UseCompressor compresses the call's requests with the named compressor,
// one the client has ("gzip", "zstd", or one added WithCompressor; an
// unknown name fails the call with INTERNAL); the default is none.
func UseCompressor(name string) CallOption {
	return callOption(func(c *callConfig) { c.compressor = name })
}

// WithCompressor adds a compressor under its Name, replacing one of the
// same name in its place. A side decompresses every encoding it has, and
// advertises them in grpc-accept-encoding in the order they were added;
// the defaults are wire.Gzip then wire.Zstd. A client uses a compressor
// for its requests only when asked (UseCompressor); a server answers in
// the encoding of the request when the client accepts it (SetCompressor
// to choose another). A request in an encoding the server lacks fails
// with UNIMPLEMENTED; a response in one the client lacks, with INTERNAL.
// The name must be a valid header token other than "identity", which
// always means no compression; WithCompressor panics otherwise.
func WithCompressor(c wire.Compressor) Option {
	name := c.Name()
	if name == "" || name == "identity" || strings.ContainsAny(name, " ,;\t\r\n") {
		panic(fmt.Sprintf("parley: WithCompressor: invalid compressor name %q", name))
	}
	return bothOption(func(cm *common) { cm.addCompressor(c) })
}

// addCompressor adds comp, replacing any of the same name in its place.
// Like addCodec it copies rather than writes the map and the list.
func (c *common) addCompressor(comp wire.Compressor) {
	name := comp.Name()
	cp := maps.Clone(c.comps)
	if cp == nil {
		cp = map[string]wire.Compressor{}
	}
	if _, ok := cp[name]; !ok {
		c.compNames = append(slices.Clone(c.compNames), name)
	}
	cp[name] = comp
	c.comps = cp
}

// compressor returns the compressor for a grpc-encoding value: nil, true
// for identity or no encoding; nil, false for one this side lacks.
func (c *common) compressor(name string) (wire.Compressor, bool) {
	if name == "" || name == "identity" {
		return nil, true
	}
	comp, ok := c.comps[name]
	return comp, ok
}

// acceptEncoding returns the grpc-accept-encoding value this side sends:
// its compressors' names in the order added.
func (c *common) acceptEncoding() string { return strings.Join(c.compNames, ",") }

// CompressMinBytes sends a message uncompressed, its compressed flag 0, when
// its encoded size is below n bytes, even on a call that compresses: a
// small message gains little or grows, and gRPC lets each message choose.
// The default is 0: every message of a compressing call is compressed, as
// grpc-go does and as peers checking the flag of every message expect.
func CompressMinBytes(n int) Option {
	return bothOption(func(c *common) { c.compressMin = max(n, 0) })
}
