package otelparley_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// oldConventions has otelparley and otelgrpc write the RPC conventions
// of semconv 1.37 (rpc.system, rpc.service, rpc.method, the numeric
// rpc.grpc.status_code, rpc.*.duration in ms), which the tests that use
// it check; TestSameConventionsAsOtelgrpc checks every mode.
func oldConventions(t *testing.T) { t.Setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/old") }

// patience bounds every wait.
const patience = 20 * time.Second

// telemetry is one test's SDK: an in-memory span exporter behind a
// synchronous processor, and a manual metric reader.
type telemetry struct {
	spans  *tracetest.InMemoryExporter
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		tel.tp.Shutdown(context.Background())
		tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) parleyOptions() []otelparley.Option {
	return []otelparley.Option{
		otelparley.WithTracerProvider(tel.tp),
		otelparley.WithMeterProvider(tel.mp),
		otelparley.WithPropagators(propagation.TraceContext{}),
	}
}

func (tel *telemetry) grpcOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tel.tp),
		otelgrpc.WithMeterProvider(tel.mp),
		otelgrpc.WithPropagators(propagation.TraceContext{}),
	}
}

// span returns the ended span named name of kind kind from the scope
// scope whose call ended with code (both conventions' attributes are
// looked at: rpc.grpc.status_code and otelgrpc's rpc.response.status_code),
// waiting for it to end (a server span ends shortly after the client has
// its answer).
func (tel *telemetry) span(t *testing.T, scope, name string, kind trace.SpanKind, code codes.Code) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		for _, s := range tel.spans.GetSpans() {
			if s.Name == name && s.SpanKind == kind && s.InstrumentationScope.Name == scope && spanCode(s) == code {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %v span %q from %s among %d spans", kind, name, scope, len(tel.spans.GetSpans()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// histogram returns the data points of the float64 histogram name.
func (tel *telemetry) histogram(t *testing.T, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelparley.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name == name {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if !ok {
					t.Fatalf("%s is a %T", name, m.Data)
				}
				return h.DataPoints
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// noCode stands for a span that records no status code.
const noCode = codes.Code(1 << 31)

// spanCode returns the status code a span records, or noCode.
func spanCode(s tracetest.SpanStub) codes.Code {
	if v, ok := attr(s.Attributes, "rpc.grpc.status_code"); ok {
		return codes.Code(v.AsInt64())
	}
	if v, ok := attr(s.Attributes, "rpc.response.status_code"); ok {
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(`"` + v.AsString() + `"`)); err == nil {
			return c
		}
	}
	return noCode
}

func attr(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs fails the test unless kvs hold every attribute of want.
func wantAttrs(t *testing.T, what string, kvs []attribute.KeyValue, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := attr(kvs, k)
		if !ok {
			t.Errorf("%s: no attribute %s in %v", what, k, kvs)
			continue
		}
		if v.AsInterface() != w {
			t.Errorf("%s: %s = %v (%T), want %v (%T)", what, k, v.AsInterface(), v.AsInterface(), w, w)
		}
	}
}

// wantMessages checks a span's message events: their types in order, and
// their ids counting up per direction from 1.
func wantMessages(t *testing.T, what string, events []sdktrace.Event, types ...string) {
	t.Helper()
	var got []string
	ids := map[string]int64{}
	for _, ev := range events {
		if ev.Name != "message" {
			continue
		}
		typ, _ := attr(ev.Attributes, "rpc.message.type")
		id, _ := attr(ev.Attributes, "rpc.message.id")
		ids[typ.AsString()]++
		if id.AsInt64() != ids[typ.AsString()] {
			t.Errorf("%s: %s message has id %d, want %d", what, typ.AsString(), id.AsInt64(), ids[typ.AsString()])
		}
		if _, ok := attr(ev.Attributes, "rpc.message.compressed_size"); !ok {
			t.Errorf("%s: a message event without rpc.message.compressed_size", what)
		}
		got = append(got, typ.AsString())
	}
	if len(got) < len(types) {
		t.Fatalf("%s: message events %v, want %v", what, got, types)
	}
	for i, typ := range types {
		if got[i] != typ {
			t.Fatalf("%s: message events %v, want %v first", what, got, types)
		}
	}
}

// TestParleyClientToGRPCServer: a parley client instrumented with
// otelparley calls grpc-go's health server instrumented with otelgrpc;
// the grpc-go server span is the child of parley's client span, which is
// the child of the caller's span, all in one trace.
func TestParleyClientToGRPCServer(t *testing.T) {
	oldConventions(t)
	tel := newTelemetry(t)
	gs := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(tel.grpcOptions()...)))
	hs := grpchealth.NewServer()
	hs.SetServingStatus("chat", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { gs.Serve(l); close(served) }()
	defer func() { gs.Stop(); <-served }()

	c, err := runtime.Dial(l.Addr().String(), append(otelparley.ClientOptions(tel.parleyOptions()...), runtime.WithCodec(health.Codec))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ctx, caller := tel.tp.Tracer("test").Start(ctx, "caller")
	res, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{Service: "chat"})
	if err != nil || res.Status != health.Serving {
		t.Fatalf("Check = %v, %v", res, err)
	}
	_, err = runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{Service: "nope"})
	if wire.CodeOf(err) != wire.NotFound {
		t.Fatalf("Check of an unknown service: %v", err)
	}
	caller.End()

	client := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindClient, codes.OK)
	server := tel.span(t, otelgrpc.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindServer, codes.OK)
	if client.Parent.SpanID() != caller.SpanContext().SpanID() || client.SpanContext.TraceID() != caller.SpanContext().TraceID() {
		t.Errorf("parley's client span is not the caller's child: parent %v", client.Parent)
	}
	if server.Parent.SpanID() != client.SpanContext.SpanID() || server.SpanContext.TraceID() != client.SpanContext.TraceID() || !server.Parent.IsRemote() {
		t.Errorf("grpc-go's server span is not the remote child of parley's client span: parent %v, client %v", server.Parent, client.SpanContext)
	}
	wantAttrs(t, "client span", client.Attributes, map[string]any{
		"rpc.system": "grpc", "rpc.service": "grpc.health.v1.Health", "rpc.method": "Check",
		"rpc.grpc.status_code": int64(0), "server.address": "127.0.0.1",
	})
	if client.Status.Code != otelcodes.Unset {
		t.Errorf("an OK call's client span has status %v", client.Status)
	}
	wantMessages(t, "client span", client.Events, "SENT", "RECEIVED")

	// The failed call: its own span, with the code and an Error status.
	failed := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindClient, codes.NotFound)
	if failed.Status.Code != otelcodes.Error {
		t.Errorf("the NOT_FOUND call's client span: %+v", failed)
	}

	points := tel.histogram(t, "rpc.client.duration")
	byCode := map[int64]uint64{}
	for _, p := range points {
		v, _ := p.Attributes.Value("rpc.grpc.status_code")
		byCode[v.AsInt64()] += p.Count
		if s, _ := p.Attributes.Value("rpc.system"); s.AsString() != "grpc" {
			t.Errorf("rpc.client.duration without rpc.system=grpc: %v", p.Attributes)
		}
	}
	if byCode[0] != 1 || byCode[int64(wire.NotFound)] != 1 {
		t.Errorf("rpc.client.duration counts by code: %v, want one OK and one NOT_FOUND", byCode)
	}
}

// protoEmpty is an empty message in protobuf, for a method of the test's
// own.
type protoEmpty struct{}

func (*protoEmpty) AppendProto(dst []byte) ([]byte, error) { return dst, nil }
func (*protoEmpty) UnmarshalProto([]byte) error            { return nil }

// TestGRPCClientToParleyServer: grpc-go's client instrumented with
// otelgrpc calls a parley server instrumented with otelparley; parley's
// server span is the child of grpc-go's client span, and the handler's
// context holds it. A server-streaming call the client cancels ends its
// span with CANCELLED, and the durations are recorded.
func TestGRPCClientToParleyServer(t *testing.T) {
	oldConventions(t)
	tel := newTelemetry(t)
	handlerSpans := make(chan trace.SpanContext, 1)
	srv := runtime.NewServer(append(otelparley.ServerOptions(tel.parleyOptions()...), runtime.WithCodec(wire.Proto))...)
	hs := health.NewServer()
	health.Register(srv, hs)
	runtime.HandleUnary(srv, "/parley.oteltest.Echo/Echo", func(ctx context.Context, _ *protoEmpty) (*protoEmpty, error) {
		handlerSpans <- trace.SpanContextFromContext(ctx)
		return &protoEmpty{}, nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		if err := <-served; !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	cc, err := grpc.NewClient("passthrough:///"+l.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(tel.grpcOptions()...)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ctx, caller := tel.tp.Tracer("test").Start(ctx, "caller")
	if err := cc.Invoke(ctx, "/parley.oteltest.Echo/Echo", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	inHandler := <-handlerSpans

	hc := healthpb.NewHealthClient(cc)
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("Check of an unknown service: %v", err)
	}
	wctx, stop := context.WithCancel(ctx)
	watch, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := watch.Recv(); err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v, %v", res, err)
	}
	stop()
	caller.End()

	client := tel.span(t, otelgrpc.ScopeName, "parley.oteltest.Echo/Echo", trace.SpanKindClient, codes.OK)
	server := tel.span(t, otelparley.ScopeName, "parley.oteltest.Echo/Echo", trace.SpanKindServer, codes.OK)
	if server.Parent.SpanID() != client.SpanContext.SpanID() || server.SpanContext.TraceID() != caller.SpanContext().TraceID() || !server.Parent.IsRemote() {
		t.Errorf("parley's server span is not the remote child of grpc-go's client span: parent %v, client %v", server.Parent, client.SpanContext)
	}
	if inHandler.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("the handler's context holds span %v, want the server span %v", inHandler.SpanID(), server.SpanContext.SpanID())
	}
	wantAttrs(t, "server span", server.Attributes, map[string]any{
		"rpc.system": "grpc", "rpc.service": "parley.oteltest.Echo", "rpc.method": "Echo",
		"rpc.grpc.status_code": int64(0), "network.peer.address": "127.0.0.1",
	})
	wantMessages(t, "server span", server.Events, "RECEIVED", "SENT")

	check := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindServer, codes.NotFound)
	wantAttrs(t, "NOT_FOUND server span", check.Attributes, map[string]any{"rpc.grpc.status_code": int64(wire.NotFound)})
	if check.Status.Code == otelcodes.Error {
		t.Error("NOT_FOUND made the server span an error; it is the client's, not the server's, failure")
	}

	w := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Watch", trace.SpanKindServer, codes.Canceled)
	wantAttrs(t, "cancelled Watch server span", w.Attributes, map[string]any{"rpc.grpc.status_code": int64(wire.Canceled)})
	wantMessages(t, "Watch server span", w.Events, "RECEIVED", "SENT")
	if w.SpanContext.TraceID() != caller.SpanContext().TraceID() {
		t.Error("the Watch span is not in the caller's trace")
	}

	points := tel.histogram(t, "rpc.server.duration")
	var n uint64
	for _, p := range points {
		n += p.Count
	}
	if n != 3 {
		t.Errorf("rpc.server.duration has %d calls, want 3", n)
	}
}

// TestParleyToParleyStream: both sides parley, a server-streaming call
// through the stream interceptors: one trace, the server span the child
// of the client span, the client's span ended when the client cancels.
func TestParleyToParleyStream(t *testing.T) {
	oldConventions(t)
	tel := newTelemetry(t)
	srv := runtime.NewServer(otelparley.ServerOptions(tel.parleyOptions()...)...)
	health.Register(srv, health.NewServer())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() { srv.Close(); <-served }()
	c, err := runtime.Dial(l.Addr().String(), otelparley.ClientOptions(tel.parleyOptions()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	call, err := runtime.OpenServerStream[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodWatch, &health.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := call.Recv(); err != nil || res.Status != health.Serving {
		t.Fatalf("Watch: %v, %v", res, err)
	}
	call.Cancel()
	if _, err := call.Recv(); wire.CodeOf(err) != wire.Canceled {
		t.Fatalf("Recv after Cancel: %v", err)
	}
	client := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Watch", trace.SpanKindClient, codes.Canceled)
	server := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Watch", trace.SpanKindServer, codes.Canceled)
	if server.Parent.SpanID() != client.SpanContext.SpanID() || server.SpanContext.TraceID() != client.SpanContext.TraceID() {
		t.Errorf("server span parent %v, want the client span %v", server.Parent, client.SpanContext)
	}
	wantAttrs(t, "client span", client.Attributes, map[string]any{"rpc.grpc.status_code": int64(wire.Canceled)})
	wantMessages(t, "client span", client.Events, "SENT", "RECEIVED")
	if client.Status.Code != otelcodes.Error {
		t.Errorf("a cancelled call's client span has status %v", client.Status)
	}
}
