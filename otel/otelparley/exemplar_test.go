package otelparley_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
)

// TestServerExemplars: a server's measurements are made in the context of
// its call's span, as otelgrpc's are, so that with the SDK's default
// exemplar filter (trace based) every server histogram carries exemplars
// pointing at the server span: the link from a dashboard's latency or
// size panel to the trace behind it.
func TestServerExemplars(t *testing.T) {
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
	if _, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{}); err != nil {
		t.Fatal(err)
	}
	server := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindServer, codes.OK)
	client := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindClient, codes.OK)
	tel.waitCount(t, otelparley.ScopeName, "rpc.server.call.duration", 1)

	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelparley.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			want := client.SpanContext.SpanID()
			if strings.Contains(m.Name, ".server.") {
				want = server.SpanContext.SpanID()
			}
			var spans []trace.SpanID
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					for _, e := range p.Exemplars {
						spans = append(spans, trace.SpanID(e.SpanID))
					}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					for _, e := range p.Exemplars {
						spans = append(spans, trace.SpanID(e.SpanID))
					}
				}
			}
			if len(spans) == 0 {
				t.Errorf("%s has no exemplar", m.Name)
			}
			for _, s := range spans {
				if s != want {
					t.Errorf("%s has an exemplar of span %v, want %v", m.Name, s, want)
				}
			}
			seen++
		}
	}
	if seen == 0 {
		t.Fatal("no metrics")
	}
}
