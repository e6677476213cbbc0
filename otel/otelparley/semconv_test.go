package otelparley_test

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestSameConventionsAsOtelgrpc: in each of the modes
// OTEL_SEMCONV_STABILITY_OPT_IN selects (unset: the new RPC conventions;
// rpc/old; rpc/dup), the spans and metrics otelparley records for a call
// carry the names, units and attributes otelgrpc records for the same
// call, on both sides, so that dashboards and queries built on grpc-go
// services see parley's calls too. A grpc-go client with otelgrpc calls a
// parley server with otelparley, and a parley client a grpc-go server, an
// OK call and a NOT_FOUND each; otelgrpc's own spans and metrics are the
// reference.
func TestSameConventionsAsOtelgrpc(t *testing.T) {
	for _, mode := range []string{"", "rpc/old", "rpc/dup"} {
		t.Run("mode="+mode, func(t *testing.T) {
			t.Setenv("OTEL_SEMCONV_STABILITY_OPT_IN", mode)
			testSameConventions(t)
		})
	}
}

func testSameConventions(t *testing.T) {
	tel := newTelemetry(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	// grpc-go's health server with otelgrpc.
	gs := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(tel.grpcOptions()...)))
	ghs := grpchealth.NewServer()
	ghs.SetServingStatus("chat", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, ghs)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gserved := make(chan struct{})
	go func() { gs.Serve(gl); close(gserved) }()
	defer func() { gs.Stop(); <-gserved }()

	// parley's with otelparley.
	srv := runtime.NewServer(otelparley.ServerOptions(tel.parleyOptions()...)...)
	phs := health.NewServer()
	phs.SetServingStatus("chat", health.Serving)
	health.Register(srv, phs)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pserved := make(chan error, 1)
	go func() { pserved <- srv.Serve(pl) }()
	defer func() {
		srv.Close()
		if err := <-pserved; !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()

	// grpc-go's client with otelgrpc calls parley.
	cc, err := grpc.NewClient("passthrough:///"+pl.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(tel.grpcOptions()...)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "chat"}); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("Check of an unknown service: %v", err)
	}

	// parley's client with otelparley calls grpc-go.
	c, err := runtime.Dial(gl.Addr().String(), append(otelparley.ClientOptions(tel.parleyOptions()...), runtime.WithCodec(health.Codec))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{Service: "chat"}); err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{Service: "nope"}); wire.CodeOf(err) != wire.NotFound {
		t.Fatalf("Check of an unknown service: %v", err)
	}

	const name = "grpc.health.v1.Health/Check"
	for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer} {
		for _, code := range []codes.Code{codes.OK, codes.NotFound} {
			ref := tel.span(t, otelgrpc.ScopeName, name, kind, code)
			got := tel.span(t, otelparley.ScopeName, name, kind, code)
			what := kind.String() + " span of a " + code.String() + " call"
			for _, kv := range ref.Attributes {
				v, ok := attr(got.Attributes, string(kv.Key))
				switch {
				case !ok:
					t.Errorf("%s: no %s (otelgrpc: %s)", what, kv.Key, kv.Value.String())
				case kind == trace.SpanKindClient && strings.HasPrefix(string(kv.Key), "server."):
					// Both name the server they called, a different one.
				case kind == trace.SpanKindServer && kv.Key == "server.port":
					// Each its own port.
				case v != kv.Value:
					t.Errorf("%s: %s = %s, otelgrpc has %s", what, kv.Key, v.String(), kv.Value.String())
				}
			}
			if got.Status.Code != ref.Status.Code {
				t.Errorf("%s: status %v, otelgrpc's %v", what, got.Status.Code, ref.Status.Code)
			}
		}
	}

	// A server records a call's duration just after it ends the span.
	durations := []string{"rpc.server.duration", "rpc.server.call.duration"}
	if mode := os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"); mode == "" {
		durations = durations[1:]
	} else if mode == "rpc/old" {
		durations = durations[:1]
	}
	for _, scope := range []string{otelgrpc.ScopeName, otelparley.ScopeName} {
		for _, name := range durations {
			tel.waitCount(t, scope, name, 2)
		}
	}

	ref, got := tel.metrics(t, otelgrpc.ScopeName), tel.metrics(t, otelparley.ScopeName)
	if len(ref) == 0 {
		t.Fatal("otelgrpc recorded no metrics")
	}
	for name, r := range ref {
		g, ok := got[name]
		if !ok {
			t.Errorf("no metric %s (otelgrpc has it, in %s)", name, r.unit)
			continue
		}
		if g.unit != r.unit {
			t.Errorf("%s: unit %s, otelgrpc's %s", name, g.unit, r.unit)
		}
		// With the old conventions otelparley also writes
		// rpc.grpc.status_code, the code's number, which goes with
		// rpc.response.status_code one to one: it splits no series.
		if !slices.Equal(g.keysWithout("rpc.grpc.status_code"), r.keys) {
			t.Errorf("%s: attribute sets\n%v\notelgrpc's\n%v", name, g.keys, r.keys)
		}
	}
}

// metricShape is what a dashboard depends on: a metric's unit and the
// attribute keys of its points, each set written as "k1,k2,...", sorted.
type metricShape struct {
	unit string
	keys []string
}

// waitCount waits until the float64 histogram name of scope has counted
// n measurements.
func (tel *telemetry) waitCount(t *testing.T, scope, name string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		var rm metricdata.ResourceMetrics
		if err := tel.reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		var got uint64
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if h, ok := m.Data.(metricdata.Histogram[float64]); ok && sm.Scope.Name == scope && m.Name == name {
					for _, p := range h.DataPoints {
						got += p.Count
					}
				}
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s counted %d calls, want %d", name, scope, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keysWithout returns m's attribute key sets without key.
func (m metricShape) keysWithout(key string) []string {
	var out []string
	for _, ks := range m.keys {
		var kept []string
		for _, k := range strings.Split(ks, ",") {
			if k != key {
				kept = append(kept, k)
			}
		}
		out = append(out, strings.Join(kept, ","))
	}
	return out
}

// metrics returns the histograms a scope recorded, by name.
func (tel *telemetry) metrics(t *testing.T, scope string) map[string]metricShape {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricShape{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scope {
			continue
		}
		for _, m := range sm.Metrics {
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			}
			seen := map[string]bool{}
			var keys []string
			for _, s := range sets {
				var ks []string
				for _, kv := range s.ToSlice() {
					ks = append(ks, string(kv.Key))
				}
				k := strings.Join(ks, ",")
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			out[m.Name] = metricShape{unit: m.Unit, keys: keys}
		}
	}
	return out
}
