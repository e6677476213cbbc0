package otelparley

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/semconv/v1.37.0/rpcconv"
	newsemconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	newrpcconv "go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/parleyrpc/parley/otel/otelparley"

// Version is this package's version, recorded with the scope.
const Version = "v0.1.0"

// Option configures the instrumentation.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	prop     propagation.TextMapPropagator
	noEvents bool
	mode     semconvMode
}

// semconvMode is which RPC semantic conventions are written, chosen by
// the environment variable OTEL_SEMCONV_STABILITY_OPT_IN exactly as
// otelgrpc chooses them, so that a fleet of grpc-go and parley services
// configured alike writes the same names.
type semconvMode int

const (
	// modeNew, the default: the newer RPC conventions (semconv 1.43):
	// rpc.system.name, rpc.method as "pkg.Service/Method",
	// rpc.response.status_code, rpc.{server,client}.call.duration in
	// seconds with error.type.
	modeNew semconvMode = iota
	// modeOld, "rpc/old": those of semconv 1.37: rpc.system,
	// rpc.service, rpc.method, rpc.{server,client}.duration in
	// milliseconds.
	modeOld
	// modeDup, "rpc/dup": both.
	modeDup
)

// semconvModeFromEnv reads OTEL_SEMCONV_STABILITY_OPT_IN, a comma
// separated list: rpc/dup wins over rpc/old; neither is modeNew.
func semconvModeFromEnv() semconvMode {
	mode := modeNew
	for p := range strings.SplitSeq(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"), ",") {
		switch strings.TrimSpace(p) {
		case "rpc/dup":
			return modeDup
		case "rpc/old":
			mode = modeOld
		}
	}
	return mode
}

func (m semconvMode) old() bool { return m == modeOld || m == modeDup }
func (m semconvMode) new() bool { return m == modeNew || m == modeDup }

// WithTracerProvider sets the tracer provider. The default is the global
// one, otel.GetTracerProvider(), at the time ServerOptions or
// ClientOptions is called.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tp = tp })
}

// WithMeterProvider sets the meter provider. The default is the global
// one, otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithPropagators sets how the trace context travels in metadata. The
// default is the global propagator, otel.GetTextMapPropagator(), which
// does nothing until it is set (to propagation.TraceContext{} for W3C
// traceparent, for one).
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) { c.prop = p })
}

// WithoutMessageEvents leaves out the per-message span events. By
// default every message adds one.
func WithoutMessageEvents() Option {
	return optionFunc(func(c *config) { c.noEvents = true })
}

func newConfig(opts []Option) config {
	c := config{mode: semconvModeFromEnv()}
	for _, o := range opts {
		o.apply(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = otel.GetTextMapPropagator()
	}
	return c
}

// ServerOptions returns the options that instrument a runtime.Server: a
// stats handler and a unary and a stream interceptor, which puts the
// call's span into the handler's context wherever it is in the chain.
// The server has one stats handler: a later WithStatsHandler replaces
// this one.
func ServerOptions(opts ...Option) []runtime.ServerOption {
	h := newHandler(false, newConfig(opts))
	return []runtime.ServerOption{
		runtime.WithStatsHandler(h),
		runtime.WithUnaryInterceptor(h.unaryServer),
		runtime.WithStreamInterceptor(h.streamServer),
	}
}

// ClientOptions returns the options that instrument a runtime.Client: a
// stats handler and a unary and a stream client interceptor.
func ClientOptions(opts ...Option) []runtime.DialOption {
	h := newHandler(true, newConfig(opts))
	return []runtime.DialOption{
		runtime.WithStatsHandler(h),
		runtime.WithUnaryClientInterceptor(h.unaryClient),
		runtime.WithStreamClientInterceptor(h.streamClient),
	}
}

// handler instruments one side: it is both the runtime.StatsHandler and
// the interceptors' receiver. Its fields are set once by newHandler; calls
// holds the server calls in progress.
type handler struct {
	client bool
	mode   semconvMode
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	events bool

	// duration is rpc.*.duration (ms, modeOld and modeDup), callDuration
	// rpc.*.call.duration (s, modeNew and modeDup); nil when not written.
	duration, callDuration metric.Float64Histogram
	reqSize, resSize       metric.Int64Histogram
	reqCount, resCount     metric.Int64Histogram

	// calls maps a server call's context, as the runtime passes it to the
	// stats handler (runtime.CallContext), to the call. The stats handler
	// stores it at CallBegin (on the stream's goroutine) and deletes it at
	// CallEnd; the interceptors only read it.
	calls sync.Map
}

// call is one call's telemetry. span, ctx, attrs and start are set before
// the call is shared; the counters are written by whichever goroutine
// sends or receives.
type call struct {
	span trace.Span
	// ctx is the span's context, with the caller's baggage on a server.
	// Every measurement is made in it, as otelgrpc's are, so that the
	// metrics' exemplars name the call's span: the context the runtime
	// passes a server's stats handler does not hold the span.
	ctx   context.Context
	attrs []attribute.KeyValue
	// measure carries attrs as one attribute set, made once per call
	// rather than once per measurement.
	measure metric.MeasurementOption
	start   time.Time
	// server is a client call's server.address and server.port, for its
	// duration as otelgrpc records them: stored at CallBegin, read at the
	// end.
	server atomic.Pointer[[]attribute.KeyValue]

	sent, received atomic.Int64 // messages so far, each way
	ended          atomic.Bool  // the span was ended and the metrics recorded
}

type callKey struct{}

func newCall(span trace.Span, ctx context.Context, attrs []attribute.KeyValue, start time.Time) *call {
	return &call{span: span, ctx: ctx, attrs: attrs, measure: metric.WithAttributeSet(attribute.NewSet(attrs...)), start: start}
}

// callDurationBuckets are the bucket boundaries (seconds) of
// rpc.*.call.duration, otelgrpc's.
var callDurationBuckets = metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

func newHandler(client bool, c config) *handler {
	schema := newsemconv.SchemaURL
	if c.mode == modeOld {
		schema = semconv.SchemaURL
	}
	h := &handler{
		client: client,
		mode:   c.mode,
		tracer: c.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version), trace.WithSchemaURL(schema)),
		prop:   c.prop,
		events: !c.noEvents,
	}
	meter := c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version), metric.WithSchemaURL(schema))
	// Instruments that fail to be made are no-ops; the error goes to the
	// global OpenTelemetry error handler, as otelgrpc does.
	if client {
		if c.mode.old() {
			h.duration = made(rpcconv.NewClientDuration(meter)).Float64Histogram
		}
		if c.mode.new() {
			h.callDuration = made(newrpcconv.NewClientCallDuration(meter, callDurationBuckets)).Float64Histogram
		}
		h.reqSize = made(rpcconv.NewClientRequestSize(meter)).Int64Histogram
		h.resSize = made(rpcconv.NewClientResponseSize(meter)).Int64Histogram
		h.reqCount = made(rpcconv.NewClientRequestsPerRPC(meter)).Int64Histogram
		h.resCount = made(rpcconv.NewClientResponsesPerRPC(meter)).Int64Histogram
	} else {
		if c.mode.old() {
			h.duration = made(rpcconv.NewServerDuration(meter)).Float64Histogram
		}
		if c.mode.new() {
			h.callDuration = made(newrpcconv.NewServerCallDuration(meter, callDurationBuckets)).Float64Histogram
		}
		h.reqSize = made(rpcconv.NewServerRequestSize(meter)).Int64Histogram
		h.resSize = made(rpcconv.NewServerResponseSize(meter)).Int64Histogram
		h.reqCount = made(rpcconv.NewServerRequestsPerRPC(meter)).Int64Histogram
		h.resCount = made(rpcconv.NewServerResponsesPerRPC(meter)).Int64Histogram
	}
	return h
}

// made returns the instrument v; err, from making it, goes to handle (v
// is then a no-op).
func made[T any](v T, err error) T {
	handle(err)
	return v
}

func handle(err error) {
	if err != nil {
		otel.Handle(err)
	}
}

// methodAttrs returns the span name and the rpc.* attributes of a method
// "/pkg.Service/Method" in the handler's conventions, as otelgrpc writes
// them: in modeDup the old ones and then the new, whose rpc.method (the
// full name) wins.
func (h *handler) methodAttrs(method string) (string, []attribute.KeyValue) {
	name := strings.TrimPrefix(method, "/")
	var attrs []attribute.KeyValue
	if h.mode.old() {
		attrs = append(attrs, semconv.RPCSystemGRPC)
		if svc, m, err := wire.ParsePath(method); err == nil {
			attrs = append(attrs, semconv.RPCService(svc), semconv.RPCMethod(m))
		}
	}
	if h.mode.new() {
		attrs = append(attrs, newsemconv.RPCMethod(name), newsemconv.RPCSystemNameGRPC)
	}
	return name, attrs
}

// statusAttrs returns the attributes of a call's status code:
// rpc.response.status_code, its name, as otelgrpc writes it in every
// mode, and with the old conventions also rpc.grpc.status_code, its
// number.
func (h *handler) statusAttrs(code wire.Code) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 2)
	if h.mode.old() {
		attrs = append(attrs, semconv.RPCGRPCStatusCodeKey.Int(int(code)))
	}
	return append(attrs, newsemconv.RPCResponseStatusCode(code.String()))
}

// addrAttrs returns addr's host and port under the given keys.
func addrAttrs(addr net.Addr, hostKey, portKey attribute.Key) []attribute.KeyValue {
	if addr == nil {
		return nil
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return []attribute.KeyValue{hostKey.String(addr.String())}
	}
	attrs := []attribute.KeyValue{hostKey.String(host)}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, portKey.Int(p))
	}
	return attrs
}

// HandleStats implements runtime.StatsHandler.
func (h *handler) HandleStats(ctx context.Context, ev runtime.StatsEvent) {
	var c *call
	if h.client {
		c, _ = ctx.Value(callKey{}).(*call)
	} else if begin, ok := ev.(*runtime.CallBegin); ok {
		c = h.beginServer(ctx, begin)
		h.calls.Store(ctx, c)
		return
	} else if v, ok := h.calls.Load(ctx); ok {
		c = v.(*call)
	}
	if c == nil {
		return // a client call the interceptors did not see
	}
	switch ev := ev.(type) {
	case *runtime.CallBegin:
		server := addrAttrs(ev.Peer, semconv.ServerAddressKey, semconv.ServerPortKey)
		c.server.Store(&server)
		if c.span.IsRecording() {
			c.span.SetAttributes(server...)
		}
	case *runtime.MsgSent:
		n := c.sent.Add(1)
		size := int64(max(ev.WireLength-wire.PrefixLen, 0))
		h.sizeOf(true).Record(c.ctx, size, c.measure)
		if h.events && c.span.IsRecording() {
			c.span.AddEvent("message", trace.WithAttributes(
				semconv.RPCMessageTypeSent,
				semconv.RPCMessageID(int(n)),
				semconv.RPCMessageCompressedSize(int(size)),
			))
		}
	case *runtime.MsgReceived:
		n := c.received.Add(1)
		h.sizeOf(false).Record(c.ctx, int64(ev.Length), c.measure)
		if h.events && c.span.IsRecording() {
			c.span.AddEvent("message", trace.WithAttributes(
				semconv.RPCMessageTypeReceived,
				semconv.RPCMessageID(int(n)),
				semconv.RPCMessageCompressedSize(max(ev.WireLength-wire.PrefixLen, 0)),
				semconv.RPCMessageUncompressedSize(ev.Length),
			))
		}
	case *runtime.CallEnd:
		if !h.client {
			h.calls.Delete(ctx)
		}
		h.end(c, ev.Code, ev.Err, ev.Duration)
	}
}

// sizeOf returns the size histogram of messages sent (sent) or received:
// a client sends requests, a server responses.
func (h *handler) sizeOf(sent bool) metric.Int64Histogram {
	if sent == h.client {
		return h.reqSize
	}
	return h.resSize
}

// beginServer starts a server call's span, the child of the trace context
// in its request metadata.
func (h *handler) beginServer(ctx context.Context, ev *runtime.CallBegin) *call {
	parent := h.prop.Extract(ctx, metadataCarrier(runtime.IncomingMetadata(ctx)))
	name, attrs := h.methodAttrs(ev.Method)
	// server.address and server.port name the server's own address on
	// its span too, as otelgrpc's (the address the call came in on).
	spanAttrs := append(append([]attribute.KeyValue(nil), attrs...), addrAttrs(ev.Local, semconv.ServerAddressKey, semconv.ServerPortKey)...)
	spanAttrs = append(spanAttrs, addrAttrs(ev.Peer, semconv.NetworkPeerAddressKey, semconv.NetworkPeerPortKey)...)
	sctx, span := h.tracer.Start(parent, name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(ev.Time),
		trace.WithAttributes(spanAttrs...))
	return newCall(span, sctx, attrs, ev.Time)
}

// end ends c's span and records its metrics, once.
func (h *handler) end(c *call, code wire.Code, err error, d time.Duration) {
	ctx := c.ctx
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	status := h.statusAttrs(code)
	if c.span.IsRecording() {
		c.span.SetAttributes(status...)
		if h.isError(code) {
			msg := code.String()
			if we := wire.AsError(err); we != nil && we.Message() != "" {
				msg = we.Message()
			}
			c.span.SetStatus(otelcodes.Error, msg)
		}
		c.span.End(trace.WithTimestamp(c.start.Add(d)))
	}
	// The durations have the server's address on a client, and the
	// status, as otelgrpc's.
	attrs := append(c.attrs[:len(c.attrs):len(c.attrs)], status...)
	if server := c.server.Load(); server != nil {
		attrs = append(attrs, *server...)
	}
	if h.duration != nil {
		h.duration.Record(ctx, float64(d)/float64(time.Millisecond), metric.WithAttributeSet(attribute.NewSet(attrs...)))
	}
	if h.callDuration != nil {
		if h.isError(code) {
			// error.type, conditionally required on failure; which
			// codes are failures depends on the side, as for the span.
			attrs = append(attrs, newsemconv.ErrorTypeKey.String(code.String()))
		}
		h.callDuration.Record(ctx, float64(d)/float64(time.Second), metric.WithAttributeSet(attribute.NewSet(attrs...)))
	}
	sent, received := c.sent.Load(), c.received.Load()
	if h.client {
		h.reqCount.Record(ctx, sent, c.measure)
		h.resCount.Record(ctx, received, c.measure)
	} else {
		h.reqCount.Record(ctx, received, c.measure)
		h.resCount.Record(ctx, sent, c.measure)
	}
}

// isError tells which codes make a span's status Error: all but OK on a
// client; on a server only those that mean the server failed.
func (h *handler) isError(code wire.Code) bool {
	if code == wire.OK {
		return false
	}
	if h.client {
		return true
	}
	switch code {
	case wire.Unknown, wire.DeadlineExceeded, wire.Unimplemented, wire.Internal, wire.Unavailable, wire.DataLoss:
		return true
	}
	return false
}

// handlerContext returns ctx with the server call's span and the caller's
// baggage, for the handler. The call is found by the context its stats
// events came with (runtime.CallContext), whatever contexts interceptors
// placed before these made.
func (h *handler) handlerContext(ctx context.Context) context.Context {
	v, ok := h.calls.Load(runtime.CallContext(ctx))
	if !ok {
		return ctx
	}
	c := v.(*call)
	ctx = trace.ContextWithSpan(ctx, c.span)
	if b := baggage.FromContext(c.ctx); b.Len() > 0 {
		ctx = baggage.ContextWithBaggage(ctx, b)
	}
	return ctx
}

func (h *handler) unaryServer(ctx context.Context, req any, _ *runtime.UnaryServerInfo, next runtime.UnaryHandler) (any, error) {
	return next(h.handlerContext(ctx), req)
}

func (h *handler) streamServer(ctx context.Context, call runtime.ServerConn, _ *runtime.StreamServerInfo, next runtime.StreamHandler) error {
	return next(h.handlerContext(ctx), call)
}

// startClient starts a client call's span and puts the trace context into
// the outgoing metadata.
func (h *handler) startClient(ctx context.Context, method string) (context.Context, *call) {
	name, attrs := h.methodAttrs(method)
	start := time.Now()
	ctx, span := h.tracer.Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(start),
		trace.WithAttributes(attrs...))
	carrier := propagation.MapCarrier{}
	h.prop.Inject(ctx, carrier)
	if len(carrier) > 0 {
		// Set, not added: metadata forwarded from a server's caller
		// (NewOutgoingContext(ctx, IncomingMetadata(ctx))) holds the
		// caller's traceparent, which a server would read first and
		// parent its span to, skipping this one. otelgrpc sets them too.
		md := runtime.OutgoingMetadata(ctx).Clone()
		if md == nil {
			md = make(wire.Metadata, len(carrier))
		}
		for k, v := range carrier {
			md.Set(k, v)
		}
		ctx = runtime.NewOutgoingContext(ctx, md)
	}
	c := newCall(span, ctx, attrs, start)
	return context.WithValue(ctx, callKey{}, c), c
}

func (h *handler) unaryClient(ctx context.Context, method string, req, res any, next runtime.UnaryInvoker) error {
	ctx, c := h.startClient(ctx, method)
	err := next(ctx, method, req, res)
	// The stats handler ended the call, unless it failed before it began
	// (bad credentials, a context already done).
	h.end(c, wire.CodeOf(err), err, time.Since(c.start))
	return err
}

func (h *handler) streamClient(ctx context.Context, info *runtime.StreamClientInfo, next runtime.Streamer) (runtime.ClientConn, error) {
	ctx, c := h.startClient(ctx, info.Method)
	conn, err := next(ctx, info)
	if err != nil {
		h.end(c, wire.CodeOf(err), err, time.Since(c.start))
	}
	return conn, err
}

// metadataCarrier reads a request's metadata for a propagator.
type metadataCarrier wire.Metadata

func (m metadataCarrier) Get(key string) string {
	if vs := m[strings.ToLower(key)]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func (m metadataCarrier) Set(string, string) {}

func (m metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
