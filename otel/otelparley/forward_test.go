package otelparley_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestForwardedMetadata: a parley server that calls onward with its
// caller's metadata (a proxy or gateway forwarding headers, with
// runtime.NewOutgoingContext(ctx, runtime.IncomingMetadata(ctx))) sends
// its own client span's traceparent, not its caller's too: the onward
// grpc-go server span is the child of the proxy's client span, as
// otelgrpc, which sets the propagation keys in the outgoing metadata,
// makes it.
func TestForwardedMetadata(t *testing.T) {
	tel := newTelemetry(t)
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	gs := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(tel.grpcOptions()...)))
	healthpb.RegisterHealthServer(gs, grpchealth.NewServer())
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gserved := make(chan struct{})
	go func() { gs.Serve(gl); close(gserved) }()
	defer func() { gs.Stop(); <-gserved }()
	onward, err := runtime.Dial(gl.Addr().String(), append(otelparley.ClientOptions(tel.parleyOptions()...), runtime.WithCodec(health.Codec))...)
	if err != nil {
		t.Fatal(err)
	}
	defer onward.Close()

	srv := runtime.NewServer(append(otelparley.ServerOptions(tel.parleyOptions()...), runtime.WithCodec(wire.Proto))...)
	runtime.HandleUnary(srv, "/parley.oteltest.Proxy/Check", func(ctx context.Context, _ *protoEmpty) (*protoEmpty, error) {
		ctx = runtime.NewOutgoingContext(ctx, runtime.IncomingMetadata(ctx))
		_, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, onward, health.MethodCheck, &health.CheckRequest{})
		return &protoEmpty{}, err
	})
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pserved := make(chan error, 1)
	go func() { pserved <- srv.Serve(pl) }()
	defer func() { srv.Close(); <-pserved }()
	c, err := runtime.Dial(pl.Addr().String(), append(otelparley.ClientOptions(tel.parleyOptions()...), runtime.WithCodec(wire.Proto))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := runtime.CallUnary[protoEmpty, protoEmpty](ctx, c, "/parley.oteltest.Proxy/Check", &protoEmpty{}); err != nil {
		t.Fatal(err)
	}

	proxy := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindClient, codes.OK)
	server := tel.span(t, otelgrpc.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindServer, codes.OK)
	caller := tel.span(t, otelparley.ScopeName, "parley.oteltest.Proxy/Check", trace.SpanKindClient, codes.OK)
	if server.Parent.SpanID() != proxy.SpanContext.SpanID() {
		what := "another span"
		if server.Parent.SpanID() == caller.SpanContext.SpanID() {
			what = "the proxy's caller's span, whose traceparent was forwarded"
		}
		t.Errorf("the onward server span's parent is %s (%v), want the proxy's client span %v", what, server.Parent.SpanID(), proxy.SpanContext.SpanID())
	}
}
