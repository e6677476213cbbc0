package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// rawResponse is what a plain HTTP/2 client saw.
type rawResponse struct {
	status  int
	header  http.Header
	body    []byte
	trailer http.Header
}

// grpcStatus returns the grpc-status from the trailers, or from the headers
// of a trailers-only response.
func (r rawResponse) grpcStatus() string {
	if v := r.trailer.Get("grpc-status"); v != "" {
		return v
	}
	return r.header.Get("grpc-status")
}

// h2cTransport returns a plain HTTP/2 client: net/http's, speaking h2c
// with prior knowledge to http:// URLs.
func h2cTransport() *http.Transport {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{Protocols: &p}
}

// rawCall sends one HTTP/2 request with exactly the given headers and body,
// bypassing parley's client, and reads the whole response.
func rawCall(t *testing.T, addr, method, path string, header http.Header, body []byte) rawResponse {
	t.Helper()
	tr := h2cTransport()
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b, trailer: resp.Trailer}
}

func grpcHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/grpc+msgpack"}, "Te": {"trailers"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func frame(flag byte, payload []byte) []byte {
	b := []byte{flag, 0, 0, 0, 0}
	n := len(payload)
	b[1], b[2], b[3], b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return append(b, payload...)
}

// msgpackMsg is {"text": "hi"} as msgpack.
var msgpackMsg = []byte{0x81, 0xa4, 't', 'e', 'x', 't', 0xa2, 'h', 'i'}

// TestBadRequests sends what a broken or hostile client might, straight
// over HTTP/2; each gets the answer gRPC prescribes and the server goes on
// serving.
func TestBadRequests(t *testing.T) { forEachImpl(t, testBadRequests) }

// testBadRequests is TestBadRequests over tr.
func testBadRequests(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{})
	cases := []struct {
		name       string
		method     string
		path       string
		header     http.Header
		body       []byte
		httpStatus int
		grpcStatus wire.Code
		msg        string // substring of grpc-message
	}{
		{"wrong content-type", "POST", mUnary, http.Header{"Content-Type": {"application/json"}}, []byte("{}"), 415, 0, ""},
		{"no content-type", "POST", mUnary, http.Header{}, nil, 415, 0, ""},
		{"grpc-web is not grpc", "POST", mUnary, grpcHeader("Content-Type", "application/grpc-web"), nil, 415, 0, ""},
		{"GET", "GET", mUnary, grpcHeader(), nil, 405, 0, ""},
		{"unknown method", "POST", "/test.Echo/Missing", grpcHeader(), frame(0, msgpackMsg), 200, wire.Unimplemented, "unknown method Missing"},
		{"unknown service", "POST", "/no.Such/Thing", grpcHeader(), frame(0, msgpackMsg), 200, wire.Unimplemented, "unknown service no.Such"},
		{"malformed path", "POST", "/nonsense", grpcHeader(), frame(0, msgpackMsg), 200, wire.Unimplemented, "malformed"},
		{"unknown codec", "POST", mUnary, grpcHeader("Content-Type", "application/grpc+json"), frame(0, msgpackMsg), 200, wire.Unimplemented, "codec"},
		{"bad flag", "POST", mUnary, grpcHeader(), frame(7, msgpackMsg), 200, wire.Internal, "prefix"},
		{"truncated prefix", "POST", mUnary, grpcHeader(), []byte{0, 0, 0}, 200, wire.Internal, "prefix"},
		{"length beyond data", "POST", mUnary, grpcHeader(), frame(0, msgpackMsg)[:8], 200, wire.Internal, "inside a message"},
		{"no message", "POST", mUnary, grpcHeader(), nil, 200, wire.Internal, "exactly one request"},
		{"undecodable msgpack", "POST", mUnary, grpcHeader(), frame(0, []byte{0xc1}), 200, wire.Internal, "unmarshal"},
		{"oversized", "POST", mUnary, grpcHeader(), []byte{0, 0x7f, 0xff, 0xff, 0xff}, 200, wire.ResourceExhausted, "larger than max"},
		{"compressed without encoding", "POST", mUnary, grpcHeader(), frame(1, msgpackMsg), 200, wire.Internal, "grpc-encoding"},
		{"unknown encoding", "POST", mUnary, grpcHeader("Grpc-Encoding", "br"), frame(0, msgpackMsg), 200, wire.Unimplemented, "not supported"},
		{"bad gzip", "POST", mUnary, grpcHeader("Grpc-Encoding", "gzip"), frame(1, []byte("not gzip")), 200, wire.Internal, "decompress"},
		{"bad timeout", "POST", mUnary, grpcHeader("Grpc-Timeout", "123456789S"), frame(0, msgpackMsg), 200, wire.Internal, "grpc-timeout"},
		{"bad timeout unit", "POST", mUnary, grpcHeader("Grpc-Timeout", "10x"), frame(0, msgpackMsg), 200, wire.Internal, "grpc-timeout"},
		{"empty timeout", "POST", mUnary, grpcHeader("Grpc-Timeout", ""), frame(0, msgpackMsg), 200, wire.Internal, "grpc-timeout"},
		{"bad binary metadata", "POST", mUnary, grpcHeader("X-Thing-Bin", "!!!"), frame(0, msgpackMsg), 200, wire.Internal, "metadata"},
		{"stream: bad flag", "POST", mBidi, grpcHeader(), append(frame(0, msgpackMsg), frame(9, msgpackMsg)...), 200, wire.Internal, "prefix"},
		{"stream: oversized", "POST", mBidi, grpcHeader(), []byte{0, 0x7f, 0xff, 0xff, 0xff}, 200, wire.ResourceExhausted, "larger than max"},
		{"stream: undecodable", "POST", mBidi, grpcHeader(), frame(0, []byte{0x92, 1}), 200, wire.Internal, "unmarshal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawCall(t, e.addr, tc.method, tc.path, tc.header, tc.body)
			if r.status != tc.httpStatus {
				t.Fatalf("HTTP status %d, want %d (body %q)", r.status, tc.httpStatus, r.body)
			}
			if tc.httpStatus != 200 {
				return
			}
			if got := r.grpcStatus(); got != wire.Code(tc.grpcStatus).String() && got != itoa(int(tc.grpcStatus)) {
				t.Fatalf("grpc-status %q, want %d (%v); message %q", got, tc.grpcStatus, tc.grpcStatus, r.header.Get("grpc-message")+r.trailer.Get("grpc-message"))
			}
			msg := wire.DecodeMessage(r.header.Get("grpc-message") + r.trailer.Get("grpc-message"))
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("grpc-message %q does not mention %q", msg, tc.msg)
			}
			if ct := r.header.Get("content-type"); ct != "application/grpc+msgpack" {
				t.Errorf("content-type %q", ct)
			}
		})
	}
	// Still serving.
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

// TestResponseShape checks the bytes of OK and error responses: headers,
// one length-prefixed message, grpc-status 0 in the trailers; a
// trailers-only response for an early failure.
func TestResponseShape(t *testing.T) { forEachImpl(t, testResponseShape) }

// testResponseShape is TestResponseShape over tr.
func testResponseShape(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{})
	r := rawCall(t, e.addr, "POST", mUnary, grpcHeader(), frame(0, msgpackMsg))
	if r.status != 200 || r.header.Get("content-type") != "application/grpc+msgpack" {
		t.Fatalf("status %d, content-type %q", r.status, r.header.Get("content-type"))
	}
	if r.header.Get("grpc-status") != "" {
		t.Fatal("grpc-status in the headers of a response with a message")
	}
	if r.trailer.Get("grpc-status") != "0" {
		t.Fatalf("trailer grpc-status %q, want 0", r.trailer.Get("grpc-status"))
	}
	if len(r.body) < 5 || r.body[0] != 0 || int(r.body[4]) != len(r.body)-5 {
		t.Fatalf("body %x is not one uncompressed length-prefixed message", r.body)
	}
	var m Msg
	if err := wire.Msgpack.Unmarshal(r.body[5:], &m); err != nil || m.Text != "echo: hi" {
		t.Fatalf("decoded %+v, %v", m, err)
	}
	// Trailers-only: everything in one HEADERS frame.
	r = rawCall(t, e.addr, "POST", "/no.Such/Thing", grpcHeader(), frame(0, msgpackMsg))
	if r.header.Get("grpc-status") != "12" || len(r.body) != 0 || len(r.trailer) != 0 {
		t.Fatalf("trailers-only response: headers %v, body %q, trailers %v", r.header, r.body, r.trailer)
	}
}

// TestServerDeadline: the server enforces grpc-timeout by itself, without a
// client reset to help: the handler sees DeadlineExceeded and the client
// gets DEADLINE_EXCEEDED in the trailers.
func TestServerDeadline(t *testing.T) { forEachImpl(t, testServerDeadline) }

// testServerDeadline is TestServerDeadline over tr.
func testServerDeadline(t *testing.T, tr transport) {
	handlerErr := make(chan error, 2)
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Slow/Unary", func(ctx context.Context, req *Msg) (*Msg, error) {
			<-ctx.Done()
			handlerErr <- ctx.Err()
			return nil, ctx.Err()
		})
		prt.HandleBidi(s, "/test.Slow/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			<-call.Context().Done()
			handlerErr <- call.Context().Err()
			return nil // even a handler claiming success cannot beat the deadline
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	for _, m := range []string{"/test.Slow/Unary", "/test.Slow/Bidi"} {
		r := rawCall(t, e.addr, "POST", m, grpcHeader("Grpc-Timeout", "100m"), frame(0, msgpackMsg))
		if got := r.grpcStatus(); got != "4" {
			t.Errorf("%s: grpc-status %q, want 4 (DEADLINE_EXCEEDED)", m, got)
		}
		if err := <-handlerErr; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: handler saw %v, want DeadlineExceeded", m, err)
		}
	}
}

// TestExpiredTimeout: a request whose grpc-timeout has already passed
// when it arrives ("0n", "0S", as a proxy may forward a spent budget)
// ends DEADLINE_EXCEEDED, as on grpc-go, even when the handler returns
// at once and claims success: its context is done from the start.
func TestExpiredTimeout(t *testing.T) { forEachImpl(t, testExpiredTimeout) }

func testExpiredTimeout(t *testing.T, tr transport) {
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Quick/Unary", func(ctx context.Context, req *Msg) (*Msg, error) {
			if ctx.Err() == nil {
				return &Msg{Text: "context not done"}, nil
			}
			return &Msg{}, nil
		})
		prt.HandleBidi(s, "/test.Quick/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			return nil
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	for i := 0; i < 10; i++ {
		for _, m := range []string{"/test.Quick/Unary", "/test.Quick/Bidi"} {
			for _, timeout := range []string{"0n", "0S"} {
				r := rawCall(t, e.addr, "POST", m, grpcHeader("Grpc-Timeout", timeout), frame(0, msgpackMsg))
				if got := r.grpcStatus(); got != "4" {
					t.Fatalf("%s, grpc-timeout %s: grpc-status %q, want 4 (DEADLINE_EXCEEDED)", m, timeout, got)
				}
			}
		}
	}
}
