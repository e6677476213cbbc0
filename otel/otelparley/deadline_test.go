package otelparley_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestServerSpanOfDeadline: a client's deadline passes while a unary
// handler waits on its context. The client resets the stream as its
// deadline passes, which the server counts as its own deadline passing
// (the handler sees DeadlineExceeded); the server span and duration must
// say DEADLINE_EXCEEDED too (an Error on the server side, as otelgrpc
// marks it), not CANCELLED.
func TestServerSpanOfDeadline(t *testing.T) {
	oldConventions(t)
	tel := newTelemetry(t)
	srv := runtime.NewServer(append(otelparley.ServerOptions(tel.parleyOptions()...), runtime.WithCodec(wire.Proto))...)
	seen := make(chan error, 1)
	runtime.HandleUnary(srv, "/parley.oteltest.Echo/Wait", func(ctx context.Context, _ *protoEmpty) (*protoEmpty, error) {
		<-ctx.Done()
		seen <- ctx.Err()
		return nil, ctx.Err()
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() { srv.Close(); <-served }()

	c, err := runtime.Dial(l.Addr().String(), runtime.WithCodec(wire.Proto))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := runtime.CallUnary[protoEmpty, protoEmpty](ctx, c, "/parley.oteltest.Echo/Wait", &protoEmpty{}); wire.CodeOf(err) != wire.DeadlineExceeded {
		t.Fatalf("Wait: %v", err)
	}
	if err := <-seen; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the handler's context ended with %v, want DeadlineExceeded", err)
	}
	deadline := time.Now().Add(patience)
	for {
		var got []string
		for _, s := range tel.spans.GetSpans() {
			if s.Name != "parley.oteltest.Echo/Wait" || s.SpanKind != trace.SpanKindServer {
				continue
			}
			if c := spanCode(s); c != codes.DeadlineExceeded || s.Status.Code != otelcodes.Error {
				t.Fatalf("server span: code %v, status %v; want DEADLINE_EXCEEDED, Error", c, s.Status)
			}
			got = append(got, s.Name)
		}
		if len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no server span")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The span ends just before the metrics are recorded.
	for n := uint64(0); n == 0; {
		var rm metricdata.ResourceMetrics
		if err := tel.reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				h, ok := m.Data.(metricdata.Histogram[float64])
				if sm.Scope.Name != otelparley.ScopeName || m.Name != "rpc.server.duration" || !ok {
					continue
				}
				for _, p := range h.DataPoints {
					n += p.Count
					if v, _ := p.Attributes.Value("rpc.grpc.status_code"); v.AsInt64() != int64(codes.DeadlineExceeded) {
						t.Errorf("rpc.server.duration point with code %v, want DEADLINE_EXCEEDED", v.AsInt64())
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no rpc.server.duration")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
