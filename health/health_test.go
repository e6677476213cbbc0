package health_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/internal/testutil"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves a health server on a loopback port.
func start(t *testing.T) (*health.Server, string) {
	t.Helper()
	srv := runtime.NewServer(runtime.WithCodec(health.Codec))
	h := health.NewServer()
	health.Register(srv, h)
	l := testutil.Listen(t, "tcp4")
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return h, l.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCheckAndWatchMsgpack(t *testing.T) {
	h, addr := start(t)
	c, err := runtime.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	check := func(service string) (health.ServingStatus, error) {
		res, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{Service: service})
		if err != nil {
			return 0, err
		}
		return res.Status, nil
	}
	if st, err := check(""); err != nil || st != health.Serving {
		t.Fatalf("Check(\"\") = %v, %v", st, err)
	}
	if _, err := check("chat.v1.Chat"); wire.CodeOf(err) != wire.NotFound {
		t.Fatalf("Check of an unknown service: %v, want NOT_FOUND", err)
	}
	h.SetServingStatus("chat.v1.Chat", health.NotServing)
	if st, err := check("chat.v1.Chat"); err != nil || st != health.NotServing {
		t.Fatalf("Check = %v, %v", st, err)
	}

	w, err := runtime.OpenServerStream[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodWatch, &health.CheckRequest{Service: "chat.v1.Chat"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel()
	unknown, err := runtime.OpenServerStream[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodWatch, &health.CheckRequest{Service: "later"})
	if err != nil {
		t.Fatal(err)
	}
	defer unknown.Cancel()
	next := func(w *runtime.ClientCall[health.CheckRequest, health.CheckResponse], want health.ServingStatus) {
		t.Helper()
		res, err := w.Recv()
		if err != nil || res.Status != want {
			t.Fatalf("Watch got %v, %v; want %v", res, err, want)
		}
	}
	next(w, health.NotServing)
	next(unknown, health.ServiceUnknown)
	h.SetServingStatus("chat.v1.Chat", health.Serving)
	next(w, health.Serving)
	h.SetServingStatus("later", health.Serving)
	next(unknown, health.Serving)
	h.Shutdown()
	next(w, health.NotServing)
	next(unknown, health.NotServing)
	h.SetServingStatus("chat.v1.Chat", health.Serving) // ignored after Shutdown
	if st, err := check(""); err != nil || st != health.NotServing {
		t.Fatalf("after Shutdown, Check(\"\") = %v, %v", st, err)
	}
	h.Resume()
	next(w, health.Serving)
}

// TestEndWatches: after Shutdown and EndWatches a watcher sees NOT_SERVING
// and then its call ends with UNAVAILABLE, so that a graceful
// runtime.Server.Shutdown need not wait for it; a Watch started later
// gets the status and ends the same way, and Check still answers.
func TestEndWatches(t *testing.T) {
	h, addr := start(t)
	c, err := runtime.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	watch := func() *runtime.ClientCall[health.CheckRequest, health.CheckResponse] {
		t.Helper()
		w, err := runtime.OpenServerStream[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodWatch, &health.CheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Cancel)
		return w
	}
	expect := func(w *runtime.ClientCall[health.CheckRequest, health.CheckResponse], want ...health.ServingStatus) {
		t.Helper()
		for _, st := range want {
			if res, err := w.Recv(); err != nil || res.Status != st {
				t.Fatalf("Watch got %v, %v; want %v", res, err, st)
			}
		}
		if res, err := w.Recv(); wire.CodeOf(err) != wire.Unavailable {
			t.Fatalf("after EndWatches, Watch got %v, %v; want UNAVAILABLE", res, err)
		}
	}
	w := watch()
	if res, err := w.Recv(); err != nil || res.Status != health.Serving {
		t.Fatalf("Watch got %v, %v; want SERVING", res, err)
	}
	h.Shutdown()
	h.EndWatches()
	h.EndWatches() // idempotent
	expect(w, health.NotServing)
	expect(watch(), health.NotServing)
	res, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](ctx, c, health.MethodCheck, &health.CheckRequest{})
	if err != nil || res.Status != health.NotServing {
		t.Fatalf("Check after EndWatches = %v, %v", res, err)
	}
}

// rawCall sends one request with the given content-type over a plain
// HTTP/2 client, as a Kubernetes probe does, and returns the response; the
// returned func releases it.
func rawCall(t *testing.T, addr, path, contentType string, body []byte) (*http.Response, func()) {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true) // h2c with prior knowledge
	tr := &http.Transport{Protocols: &p}
	req, err := http.NewRequestWithContext(testCtx(t), "POST", "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{"Content-Type": {contentType}, "Te": {"trailers"}}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, func() { resp.Body.Close(); tr.CloseIdleConnections() }
}

func TestCheckProtobuf(t *testing.T) {
	h, addr := start(t)
	h.SetServingStatus("a", health.NotServing)
	cases := []struct {
		contentType string
		req         []byte // hand-encoded HealthCheckRequest, framed
		want        []byte // hand-encoded HealthCheckResponse, framed
	}{
		// HealthCheckRequest{} (empty) → {status: SERVING}: field 1 varint 1.
		{"application/grpc", []byte{0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 2, 0x08, 0x01}},
		// HealthCheckRequest{service: "a"}: field 1, length 1, "a" → NOT_SERVING (2).
		{"application/grpc", []byte{0, 0, 0, 0, 3, 0x0a, 0x01, 'a'}, []byte{0, 0, 0, 0, 2, 0x08, 0x02}},
		{"application/grpc+proto", []byte{0, 0, 0, 0, 3, 0x0a, 0x01, 'a'}, []byte{0, 0, 0, 0, 2, 0x08, 0x02}},
	}
	for _, tc := range cases {
		resp, done := rawCall(t, addr, health.MethodCheck, tc.contentType, tc.req)
		body, err := io.ReadAll(resp.Body)
		done()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.Header.Get("content-type") != tc.contentType {
			t.Fatalf("%s: HTTP %d, content-type %q", tc.contentType, resp.StatusCode, resp.Header.Get("content-type"))
		}
		if !bytes.Equal(body, tc.want) || resp.Trailer.Get("grpc-status") != "0" {
			t.Fatalf("%s: body % x (want % x), grpc-status %q %q", tc.contentType, body, tc.want,
				resp.Trailer.Get("grpc-status"), resp.Trailer.Get("grpc-message"))
		}
	}
	// Unknown service: NOT_FOUND, trailers-only.
	resp, done := rawCall(t, addr, health.MethodCheck, "application/grpc", []byte{0, 0, 0, 0, 3, 0x0a, 0x01, 'z'})
	defer done()
	if got := resp.Header.Get("grpc-status"); got != "5" {
		t.Fatalf("unknown service: grpc-status %q", got)
	}
}

func TestWatchProtobuf(t *testing.T) {
	h, addr := start(t)
	h.SetServingStatus("a", health.Serving)
	resp, done := rawCall(t, addr, health.MethodWatch, "application/grpc", []byte{0, 0, 0, 0, 3, 0x0a, 0x01, 'a'})
	defer done()
	read := func(want byte) {
		t.Helper()
		msg := make([]byte, 7)
		if _, err := io.ReadFull(resp.Body, msg); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(msg, []byte{0, 0, 0, 0, 2, 0x08, want}) {
			t.Fatalf("Watch sent % x, want status %d", msg, want)
		}
	}
	read(1)
	h.SetServingStatus("a", health.NotServing)
	read(2)
}

// TestProtoClient: a parley client with the proto codec speaks
// application/grpc+proto to the health service.
func TestProtoClient(t *testing.T) {
	_, addr := start(t)
	c, err := runtime.Dial(addr, runtime.WithCodec(health.Codec))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := runtime.CallUnary[health.CheckRequest, health.CheckResponse](testCtx(t), c, health.MethodCheck, &health.CheckRequest{})
	if err != nil || res.Status != health.Serving {
		t.Fatalf("Check = %v, %v", res, err)
	}
}

func TestCodec(t *testing.T) {
	for _, v := range []any{&health.CheckRequest{Service: "x.y"}, &health.CheckResponse{Status: health.ServiceUnknown}, &health.CheckResponse{Status: -1}} {
		b, err := health.Codec.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got any
		switch v.(type) {
		case *health.CheckRequest:
			got = &health.CheckRequest{}
		default:
			got = &health.CheckResponse{}
		}
		if err := health.Codec.Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}
		if g, w := got, v; !equal(g, w) {
			t.Errorf("round trip of %+v gave %+v", w, g)
		}
	}
	// Unknown fields are skipped; other types are refused.
	var req health.CheckRequest
	if err := health.Codec.Unmarshal([]byte{0x10, 0x01, 0x0a, 0x01, 's'}, &req); err != nil || req.Service != "s" {
		t.Errorf("Unmarshal with an unknown field: %+v, %v", req, err)
	}
	if err := health.Codec.Unmarshal([]byte{0x0a, 0x05}, &req); !errors.Is(err, wire.ErrMalformedProto) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := health.Codec.Marshal(&struct{ X int }{}); err == nil {
		t.Error("Marshal of a foreign type succeeded")
	}
	if health.Serving.String() != "SERVING" || health.ServingStatus(9).String() != "ServingStatus(9)" {
		t.Error("String")
	}
}

func equal(a, b any) bool {
	switch a := a.(type) {
	case *health.CheckRequest:
		return *a == *b.(*health.CheckRequest)
	case *health.CheckResponse:
		return *a == *b.(*health.CheckResponse)
	}
	return false
}
