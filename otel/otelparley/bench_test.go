package otelparley_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
)

// noopStats is a stats handler that does nothing: what the runtime itself
// costs once a call is observed.
type noopStats struct{}

func (noopStats) HandleStats(context.Context, runtime.StatsEvent) {}

// BenchmarkUnary measures a unary call over loopback (health Check,
// protobuf): bare, with a stats handler that does nothing on both sides,
// and instrumented on both sides with the SDK recording every span
// (sampled, no exporter) and every metric (a manual reader).
func BenchmarkUnary(b *testing.B) {
	for _, bc := range []struct {
		name             string
		noop, instrument bool
	}{{"bare", false, false}, {"noop-stats", true, false}, {"otel", false, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var srvOpts []runtime.ServerOption
			var cliOpts []runtime.DialOption
			if bc.noop {
				srvOpts = []runtime.ServerOption{runtime.WithStatsHandler(noopStats{})}
				cliOpts = []runtime.DialOption{runtime.WithStatsHandler(noopStats{})}
			}
			if bc.instrument {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer tp.Shutdown(context.Background())
				defer mp.Shutdown(context.Background())
				opts := []otelparley.Option{otelparley.WithTracerProvider(tp), otelparley.WithMeterProvider(mp), otelparley.WithPropagators(propagation.TraceContext{})}
				srvOpts = otelparley.ServerOptions(opts...)
				cliOpts = otelparley.ClientOptions(opts...)
			}
			srv := runtime.NewServer(append(srvOpts, runtime.WithCodec(health.Codec))...)
			health.Register(srv, health.NewServer())
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { srv.Serve(l); close(done) }()
			defer func() { srv.Close(); <-done }()
			c, err := runtime.Dial(l.Addr().String(), append(cliOpts, runtime.WithCodec(health.Codec))...)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			req := &health.CheckRequest{}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
