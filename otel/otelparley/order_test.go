package otelparley_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
)

type userKey struct{}

// TestInterceptorBefore: an interceptor placed before otelparley's that
// replaces the context (an authentication interceptor that puts the
// caller's identity in it, say) leaves the handler's context with the
// call's span, and with its own value: the handler's spans and onward
// calls stay in the trace, as with otelgrpc, whose stats handler does
// not depend on the interceptors' order.
func TestInterceptorBefore(t *testing.T) {
	tel := newTelemetry(t)
	auth := func(ctx context.Context, req any, _ *runtime.UnaryServerInfo, next runtime.UnaryHandler) (any, error) {
		return next(context.WithValue(ctx, userKey{}, "alice"), req)
	}
	authStream := func(ctx context.Context, call runtime.ServerConn, _ *runtime.StreamServerInfo, next runtime.StreamHandler) error {
		return next(context.WithValue(ctx, userKey{}, "alice"), call)
	}
	opts := append([]runtime.ServerOption{runtime.WithUnaryInterceptor(auth), runtime.WithStreamInterceptor(authStream)}, otelparley.ServerOptions(tel.parleyOptions()...)...)
	srv := runtime.NewServer(opts...)
	type seen struct {
		span trace.SpanContext
		user any
	}
	unary, stream := make(chan seen, 1), make(chan seen, 1)
	runtime.HandleUnary(srv, "/parley.oteltest.Order/Unary", func(ctx context.Context, _ *health.CheckRequest) (*health.CheckResponse, error) {
		unary <- seen{trace.SpanContextFromContext(ctx), ctx.Value(userKey{})}
		return &health.CheckResponse{}, nil
	})
	runtime.HandleServerStream(srv, "/parley.oteltest.Order/Stream", func(_ *health.CheckRequest, call *runtime.ServerCall[health.CheckRequest, health.CheckResponse]) error {
		stream <- seen{trace.SpanContextFromContext(call.Context()), call.Context().Value(userKey{})}
		return nil
	})
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

	if _, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, "/parley.oteltest.Order/Unary", &health.CheckRequest{}); err != nil {
		t.Fatal(err)
	}
	call, err := runtime.OpenServerStream[health.CheckRequest, health.CheckResponse](ctx, c, "/parley.oteltest.Order/Stream", &health.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); err == nil {
		t.Fatal("the stream sent a response")
	}
	for name, ch := range map[string]chan seen{"Unary": unary, "Stream": stream} {
		got := <-ch
		s := tel.span(t, otelparley.ScopeName, "parley.oteltest.Order/"+name, trace.SpanKindServer, codes.OK)
		if got.span.SpanID() != s.SpanContext.SpanID() {
			t.Errorf("%s: the handler's context holds span %v, want the server span %v", name, got.span.SpanID(), s.SpanContext.SpanID())
		}
		if got.user != "alice" {
			t.Errorf("%s: the handler's context lost the value the first interceptor put in it: %v", name, got.user)
		}
	}
}
