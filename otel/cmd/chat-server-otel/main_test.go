package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer that the server and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTraceAndMetrics runs the command with -trace stdout and -metrics,
// calls it from grpc-go instrumented with otelgrpc, and finds the call in
// both: the server's span, printed, is in the client's trace and the child
// of the client's span, and /metrics has rpc.server.call.duration for it
// (the default, newer RPC conventions, as otelgrpc's).
func TestTraceAndMetrics(t *testing.T) {
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-trace", "stdout", "-metrics", "127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	sig := make(chan os.Signal, 1)
	readyc := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() { done <- run(cfg, out, sig, func(a addrs) { readyc <- a }) }()
	var a addrs
	select {
	case a = <-readyc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}

	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	defer tp.Shutdown(context.Background())
	cc, err := grpc.NewClient("passthrough:///"+a.chat,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagation.TraceContext{}))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "parley.chat.v1.Chat"})
	cc.Close()
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v, %v", res, err)
	}
	got := spans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("the client recorded %d spans, want 1", len(got))
	}
	client := got[0].SpanContext

	// The server prints its span as it ends, which may be just after the
	// client has its answer.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"Name": "grpc.health.v1.Health/Check"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no server span printed:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	printed := out.String()
	for _, want := range []string{
		`"TraceID": "` + client.TraceID().String() + `"`,
		`"SpanID": "` + client.SpanID().String() + `"`, // the parent
		`"Remote": true`,
		`"Key": "rpc.response.status_code"`,
		`"Value": "parley-chat-server"`,
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("the printed span lacks %s:\n%s", want, printed)
		}
	}

	resp, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "rpc_server_call_duration_seconds_count{") || !strings.Contains(string(body), `rpc_method="grpc.health.v1.Health/Check"`) {
		t.Errorf("/metrics lacks rpc.server.call.duration for Check:\n%s", body)
	}

	sig <- os.Interrupt
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-trace", "jaeger"}, io.Discard); err == nil {
		t.Error("-trace jaeger was accepted")
	}
}
