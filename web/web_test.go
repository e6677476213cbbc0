package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/web"
	"github.com/parleyrpc/parley/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Line struct {
	Text string `msgpack:"text"`
	N    int    `msgpack:"n"`
}

// testService registers the methods the tests call. started is signalled
// by calls that block, done gets their context's error.
type testService struct {
	started  chan struct{}
	ended    chan error
	sent     atomic.Int64
	release  chan struct{}
	received atomic.Int64
}

func newService(srv *prt.Server) *testService {
	ts := &testService{started: make(chan struct{}, 8), ended: make(chan error, 8), release: make(chan struct{})}
	prt.HandleUnary(srv, "/test.Echo/Unary", func(ctx context.Context, req *Line) (*Line, error) {
		md := prt.IncomingMetadata(ctx)
		if req.Text == "fail" {
			return nil, wire.Errorf(wire.NotFound, "no such thing: %s", md.Get("x-who"))
		}
		_ = prt.SetHeader(ctx, wire.Pairs("x-header", "h-"+md.Get("x-who")))
		_ = prt.SetTrailer(ctx, wire.Pairs("x-trailer", "t1", "x-trailer", "t2"))
		return &Line{Text: "echo " + req.Text}, nil
	})
	prt.HandleServerStream(srv, "/test.Echo/Count", func(req *Line, call *prt.ServerCall[Line, Line]) error {
		if req.N < 0 { // block until the call ends
			ts.started <- struct{}{}
			<-call.Context().Done()
			ts.ended <- call.Context().Err()
			return call.Context().Err()
		}
		for i := range req.N {
			if err := call.Send(&Line{Text: req.Text, N: i}); err != nil {
				return err
			}
			ts.sent.Add(1)
		}
		return nil
	})
	prt.HandleClientStream(srv, "/test.Echo/Sum", func(call *prt.ServerCall[Line, Line]) (*Line, error) {
		total := 0
		for m := range call.In().C() {
			total += m.N
		}
		if end, _ := call.In().End(); end.Err != nil {
			return nil, end.Err
		}
		return &Line{N: total}, nil
	})
	prt.HandleBidi(srv, "/test.Echo/Chat", func(call *prt.ServerCall[Line, Line]) error {
		_ = call.SendHeader(wire.Pairs("x-header", "bidi"))
		for {
			m, err := call.Recv()
			if err == io.EOF {
				call.SetTrailer(wire.Pairs("x-trailer", "bye"))
				return nil
			}
			if err != nil {
				return err
			}
			switch m.Text {
			case "block":
				ts.started <- struct{}{}
				<-call.Context().Done()
				ts.ended <- call.Context().Err()
				return call.Context().Err()
			case "wait":
				ts.started <- struct{}{}
				<-ts.release
				continue
			}
			ts.received.Add(1)
			if err := call.Send(&Line{Text: "re: " + m.Text, N: m.N}); err != nil {
				return err
			}
		}
	})
	return ts
}

// env is a parley server mounted on a net/http server on loopback, or
// serving the web protocols from its own listener (WithHTTPHandler).
type env struct {
	t        *testing.T
	srv      *prt.Server
	ts       *testService
	base     string       // http://host:port
	client   *http.Client // for gRPC-Web and native calls
	wsClient *http.Client // for websocket.Dial: over HTTP/2, by extended CONNECT
	h2       bool
}

// How a test reaches the server.
type mode int

const (
	modeHTTP1   mode = iota // net/http's server, HTTP/1.1
	modeHTTP2               // net/http's server, HTTP/2 (h2c)
	modeFramer              // parley's own HTTP/2 transport, WithHTTPHandler (h2c)
	modeFramer1             // parley's listener, HTTP/1.1 (sorted to net/http)
)

func (m mode) String() string {
	return [...]string{"HTTP1.1", "HTTP2", "framer-HTTP2", "framer-HTTP1.1"}[m]
}

func newEnv(t *testing.T, h2 bool, serverOpts []prt.ServerOption, webOpts ...web.Option) *env {
	if h2 {
		return newModeEnv(t, modeHTTP2, serverOpts, webOpts...)
	}
	return newModeEnv(t, modeHTTP1, serverOpts, webOpts...)
}

func newModeEnv(t *testing.T, m mode, serverOpts []prt.ServerOption, webOpts ...web.Option) *env {
	t.Helper()
	l := testutil.Listen(t, "tcp4")
	framer := m == modeFramer || m == modeFramer1
	mux := http.NewServeMux()
	if framer {
		serverOpts = append(serverOpts[:len(serverOpts):len(serverOpts)], prt.WithHTTPHandler(mux))
	}
	srv := prt.NewServer(serverOpts...)
	ts := newService(srv)
	mux.Handle("/", srv.Handler(webOpts...))
	shutdown := func(context.Context) error { return nil }
	if framer {
		go srv.Serve(l)
	} else {
		protos := new(http.Protocols)
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		hs := &http.Server{Handler: mux, Protocols: protos}
		go hs.Serve(l)
		shutdown = hs.Shutdown
	}
	h2 := m == modeHTTP2 || m == modeFramer
	cp := new(http.Protocols)
	if h2 {
		cp.SetUnencryptedHTTP2(true)
	} else {
		cp.SetHTTP1(true)
	}
	tr := &http.Transport{Protocols: cp}
	e := &env{t: t, srv: srv, ts: ts, base: "http://" + l.Addr().String(), client: &http.Client{Transport: tr}, h2: h2}
	e.wsClient = e.client
	closeWS := func() {}
	if h2 {
		e.wsClient, closeWS = extendedConnectClient()
	}
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = shutdown(ctx)
		tr.CloseIdleConnections()
		closeWS()
	})
	return e
}

func forEachProto(t *testing.T, f func(t *testing.T, h2 bool)) {
	for _, h2 := range []bool{false, true} {
		name := "HTTP1.1"
		if h2 {
			name = "HTTP2"
		}
		t.Run(name, func(t *testing.T) { f(t, h2) })
	}
}

func frame(t testing.TB, flag byte, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return wire.AppendWebFrame(nil, flag, b)
}

// webResponse is a gRPC-Web response taken apart by hand.
type webResponse struct {
	status   int
	header   http.Header
	messages []Line
	trailers map[string][]string
}

func (r webResponse) grpcStatus() string {
	if v, ok := r.trailers["grpc-status"]; ok {
		return v[0]
	}
	return r.header.Get("Grpc-Status") // trailers-only
}

// grpcWeb posts one gRPC-Web call and parses the response body with
// wire.ParseWebFrame.
func (e *env) grpcWeb(ctx context.Context, method, ct string, body []byte, hdr http.Header) (webResponse, error) {
	if strings.Contains(ct, "-text") {
		body = []byte(base64.StdEncoding.EncodeToString(body))
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", e.base+method, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Grpc-Web", "1")
	resp, err := e.client.Do(req)
	if err != nil {
		return webResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return webResponse{}, err
	}
	out := webResponse{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != 200 {
		return out, nil
	}
	if strings.Contains(ct, "-text") {
		dec, n, err := wire.DecodeBase64Chunks(nil, raw)
		if err != nil || n != len(raw) {
			return out, fmt.Errorf("text body %q: %v", raw, err)
		}
		raw = dec
	}
	for len(raw) > 0 {
		rest, flag, p, ok, err := wire.ParseWebFrame(raw, -1)
		if err != nil || !ok {
			return out, fmt.Errorf("bad body %x: %v", raw, err)
		}
		raw = rest
		if flag == wire.FlagTrailers {
			if out.trailers, err = wire.ParseHeaderBlock(p); err != nil {
				return out, err
			}
			if len(raw) != 0 {
				return out, errors.New("bytes after the trailers")
			}
			break
		}
		var m Line
		if err := msgpack.Unmarshal(p, &m); err != nil {
			return out, err
		}
		out.messages = append(out.messages, m)
	}
	return out, nil
}

func TestGRPCWebUnary(t *testing.T) {
	forEachProto(t, func(t *testing.T, h2 bool) {
		e := newEnv(t, h2, nil)
		for _, ct := range []string{"application/grpc-web+msgpack", "application/grpc-web-text+msgpack"} {
			r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", ct, frame(t, 0, Line{Text: "hi"}), http.Header{"X-Who": {"ann"}})
			if err != nil {
				t.Fatal(err)
			}
			if r.status != 200 || r.header.Get("Content-Type") != ct {
				t.Fatalf("%s: HTTP %d, content-type %q", ct, r.status, r.header.Get("Content-Type"))
			}
			if len(r.messages) != 1 || r.messages[0].Text != "echo hi" {
				t.Fatalf("%s: messages %+v", ct, r.messages)
			}
			if r.header.Get("X-Header") != "h-ann" {
				t.Errorf("%s: header metadata %q", ct, r.header.Get("X-Header"))
			}
			if r.grpcStatus() != "0" || strings.Join(r.trailers["x-trailer"], ",") != "t1,t2" {
				t.Errorf("%s: trailers %v", ct, r.trailers)
			}
		}
		// A failure before any message: a trailers-only response.
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "fail"}), http.Header{"X-Who": {"bob"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.grpcStatus() != "5" || wire.DecodeMessage(r.header.Get("Grpc-Message")) != "no such thing: bob" || len(r.messages) != 0 {
			t.Fatalf("failure: %+v", r)
		}
		// Unknown method: UNIMPLEMENTED, as over native gRPC.
		r, err = e.grpcWeb(t.Context(), "/test.Echo/Nope", "application/grpc-web+msgpack", frame(t, 0, Line{}), nil)
		if err != nil || r.grpcStatus() != "12" {
			t.Fatalf("unknown method: %+v, %v", r, err)
		}
	})
}

func TestGRPCWebServerStream(t *testing.T) {
	forEachProto(t, func(t *testing.T, h2 bool) {
		e := newEnv(t, h2, nil)
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Count", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "x", N: 50}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.messages) != 50 || r.messages[49].N != 49 || r.grpcStatus() != "0" {
			t.Fatalf("%d messages, status %q", len(r.messages), r.grpcStatus())
		}
	})
}

func TestGRPCWebDeadlineAndCancel(t *testing.T) {
	forEachProto(t, func(t *testing.T, h2 bool) {
		e := newEnv(t, h2, nil)
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Count", "application/grpc-web+msgpack", frame(t, 0, Line{N: -1}), http.Header{"Grpc-Timeout": {"100m"}})
		if err != nil {
			t.Fatal(err)
		}
		<-e.ts.started
		if err := <-e.ts.ended; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler saw %v", err)
		}
		if r.grpcStatus() != strconv.Itoa(int(wire.DeadlineExceeded)) {
			t.Fatalf("deadline: status %q", r.grpcStatus())
		}

		// Cancellation: the client goes away mid-call.
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := e.grpcWeb(ctx, "/test.Echo/Count", "application/grpc-web+msgpack", frame(t, 0, Line{N: -1}), nil)
			errc <- err
		}()
		<-e.ts.started
		cancel()
		if err := <-e.ts.ended; !errors.Is(err, context.Canceled) {
			t.Errorf("handler saw %v after the client cancelled", err)
		}
		<-errc
	})
}

// TestGRPCWebDeadlineWhileReadingBody: a gRPC-Web request whose body
// stalls halfway is answered DEADLINE_EXCEEDED at its grpc-timeout, on
// every server the handler is mounted on: the body is read whole before
// the call starts, and that read used to wait as long as the client held
// the connection.
func TestGRPCWebDeadlineWhileReadingBody(t *testing.T) {
	for _, m := range []mode{modeHTTP1, modeHTTP2, modeFramer} {
		t.Run(m.String(), func(t *testing.T) {
			e := newModeEnv(t, m, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			// A frame prefix announcing 20 bytes, one of them, then nothing.
			body := &stalledBody{ctx: ctx, first: []byte{0, 0, 0, 0, 20, 1}}
			req, err := http.NewRequestWithContext(ctx, "POST", e.base+"/test.Echo/Unary", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/grpc-web+msgpack")
			req.Header.Set("Grpc-Timeout", "200m")
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatalf("no answer before the client gave up: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := "grpc-status:" + strconv.Itoa(int(wire.DeadlineExceeded))
			if got := resp.Header.Get("Grpc-Status"); got != "" {
				b = []byte("grpc-status:" + got) // trailers-only
			}
			if !bytes.Contains(bytes.ReplaceAll(b, []byte(" "), nil), []byte(want)) {
				t.Fatalf("answer %d %v %q, want %s", resp.StatusCode, resp.Header, b, want)
			}
		})
	}
}

// stalledBody yields first, then blocks until ctx ends.
type stalledBody struct {
	ctx   context.Context
	first []byte
}

func (b *stalledBody) Read(p []byte) (int, error) {
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func TestGRPCWebSizeLimit(t *testing.T) {
	forEachProto(t, func(t *testing.T, h2 bool) {
		e := newEnv(t, h2, []prt.ServerOption{prt.MaxRecvMsgSize(100)})
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: strings.Repeat("x", 200)}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.grpcStatus() != strconv.Itoa(int(wire.ResourceExhausted)) {
			t.Fatalf("status %q", r.grpcStatus())
		}
	})
}

func TestCORS(t *testing.T) {
	e := newEnv(t, false, nil, web.WithAllowedOrigins("https://app.example"), web.WithExposedHeaders("x-header"))
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", e.base+"/test.Echo/Unary", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-grpc-web,x-who")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example")
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		resp.Header.Get("Access-Control-Allow-Headers") != "content-type,x-grpc-web,x-who" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" {
		t.Fatalf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused preflight: %d %v", resp.StatusCode, resp.Header)
	}
	for origin, want := range map[string]int{"https://app.example": 200, "https://evil.example": 403, e.base: 200, "": 200} {
		hdr := http.Header{}
		if origin != "" {
			hdr.Set("Origin", origin)
		}
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "x"}), hdr)
		if err != nil || r.status != want {
			t.Fatalf("origin %q: HTTP %d, %v; want %d", origin, r.status, err, want)
		}
		if origin == "https://app.example" && (r.header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "grpc-status") ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "x-header")) {
			t.Fatalf("CORS answer: %v", r.header)
		}
	}
	// Nothing is open by default: another origin is refused.
	d := newEnv(t, false, nil)
	r, err := d.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{}), http.Header{"Origin": {"https://app.example"}})
	if err != nil || r.status != 403 {
		t.Fatalf("default: HTTP %d, %v", r.status, err)
	}
}

// wsCall is a client of parley's WebSocket framing, written from
// docs/protocol.md.
type wsCall struct {
	t *testing.T
	c *websocket.Conn
}

func (e *env) dialWS(ctx context.Context, method string, hdr map[string][]string, origin string) (*wsCall, *http.Response, error) {
	opts := &websocket.DialOptions{Subprotocols: []string{web.Subprotocol}, HTTPClient: e.wsClient, HTTPHeader: http.Header{}}
	if origin != "" {
		opts.HTTPHeader.Set("Origin", origin)
	}
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.base, "http")+method, opts)
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(-1)
	block, err := wire.AppendHeaderBlock(nil, hdr)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageBinary, wire.AppendWebFrame(nil, wire.FlagHeaders, block)); err != nil {
		return nil, resp, err
	}
	return &wsCall{t: e.t, c: c}, resp, nil
}

func (w *wsCall) send(ctx context.Context, m Line) error {
	return w.c.Write(ctx, websocket.MessageBinary, frame(w.t, 0, m))
}

func (w *wsCall) closeSend(ctx context.Context) error {
	return w.c.Write(ctx, websocket.MessageBinary, []byte{wire.FlagTrailers, 0, 0, 0, 0})
}

// recv returns the next frame: a message, or headers or trailers.
func (w *wsCall) recv(ctx context.Context) (flag byte, m Line, fields map[string][]string, err error) {
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		return 0, m, nil, err
	}
	if typ != websocket.MessageBinary {
		w.t.Fatalf("text message %q", b)
	}
	rest, flag, p, ok, err := wire.ParseWebFrame(b, -1)
	if err != nil || !ok || len(rest) != 0 {
		w.t.Fatalf("bad frame %x: %v", b, err)
	}
	if flag == wire.FlagHeaders || flag == wire.FlagTrailers {
		fields, err = wire.ParseHeaderBlock(p)
		return flag, m, fields, err
	}
	return flag, m, nil, msgpack.Unmarshal(p, &m)
}

// trailers reads frames up to the trailers and returns them with the
// messages before.
func (w *wsCall) trailers(ctx context.Context) ([]Line, map[string][]string) {
	var msgs []Line
	for {
		flag, m, f, err := w.recv(ctx)
		if err != nil {
			w.t.Fatalf("recv: %v", err)
		}
		switch flag {
		case wire.FlagTrailers:
			// The server closes the WebSocket normally after them.
			if _, _, err := w.c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				w.t.Errorf("after the trailers: %v", err)
			}
			return msgs, f
		case wire.FlagHeaders:
		default:
			msgs = append(msgs, m)
		}
	}
}

func TestWebSocketBidi(t *testing.T) {
	forEachWSMode(t, func(t *testing.T, m mode) {
		e := newModeEnv(t, m, nil)
		ctx := t.Context()
		w, _, err := e.dialWS(ctx, "/test.Echo/Chat", map[string][]string{"content-type": {"application/grpc+msgpack"}, "x-who": {"ann"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		flag, _, hdr, err := w.recv(ctx)
		if err != nil || flag != wire.FlagHeaders || hdr["x-header"][0] != "bidi" || hdr["content-type"][0] != "application/grpc+msgpack" {
			t.Fatalf("headers frame: %#x %v %v", flag, hdr, err)
		}
		for i := range 10 {
			if err := w.send(ctx, Line{Text: "m", N: i}); err != nil {
				t.Fatal(err)
			}
			_, m, _, err := w.recv(ctx)
			if err != nil || m.Text != "re: m" || m.N != i {
				t.Fatalf("reply %d: %+v %v", i, m, err)
			}
		}
		if err := w.closeSend(ctx); err != nil {
			t.Fatal(err)
		}
		msgs, tr := w.trailers(ctx)
		if len(msgs) != 0 || tr["grpc-status"][0] != "0" || tr["x-trailer"][0] != "bye" {
			t.Fatalf("end: %v %v", msgs, tr)
		}
	})
}

func TestWebSocketClientStream(t *testing.T) {
	forEachWSMode(t, func(t *testing.T, m mode) {
		e := newModeEnv(t, m, nil)
		ctx := t.Context()
		// No content-type: msgpack by default.
		w, _, err := e.dialWS(ctx, "/test.Echo/Sum", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 100; i++ {
			if err := w.send(ctx, Line{N: i}); err != nil {
				t.Fatal(err)
			}
		}
		_ = w.closeSend(ctx)
		msgs, tr := w.trailers(ctx)
		if len(msgs) != 1 || msgs[0].N != 5050 || tr["grpc-status"][0] != "0" {
			t.Fatalf("sum: %+v %v", msgs, tr)
		}
	})
}

func TestWebSocketStatusDeadlineCancel(t *testing.T) {
	forEachWSMode(t, func(t *testing.T, m mode) {
		e := newModeEnv(t, m, nil)
		ctx := t.Context()
		// Unknown method: a trailers-only answer.
		w, _, err := e.dialWS(ctx, "/test.Echo/Nope", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, tr := w.trailers(ctx); tr["grpc-status"][0] != "12" {
			t.Fatalf("unknown method: %v", tr)
		}
		// Deadline.
		w, _, err = e.dialWS(ctx, "/test.Echo/Chat", map[string][]string{"grpc-timeout": {"100m"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = w.send(ctx, Line{Text: "block"})
		<-e.ts.started
		if err := <-e.ts.ended; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("handler saw %v", err)
		}
		if _, tr := w.trailers(ctx); tr["grpc-status"][0] != "4" {
			t.Fatalf("deadline: %v", tr)
		}
		// Cancellation: the client closes the WebSocket.
		w, _, err = e.dialWS(ctx, "/test.Echo/Chat", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = w.send(ctx, Line{Text: "block"})
		<-e.ts.started
		_ = w.c.CloseNow()
		if err := <-e.ts.ended; !errors.Is(err, context.Canceled) {
			t.Errorf("handler saw %v after the client closed", err)
		}
		// Malformed framing: a text message ends the call with INTERNAL.
		w, _, err = e.dialWS(ctx, "/test.Echo/Chat", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = w.c.Write(ctx, websocket.MessageText, []byte("hello"))
		if _, tr := w.trailers(ctx); tr["grpc-status"][0] != "13" {
			t.Fatalf("text message: %v", tr)
		}
	})
}

func TestWebSocketSizeLimit(t *testing.T) {
	forEachWSMode(t, func(t *testing.T, m mode) {
		e := newModeEnv(t, m, []prt.ServerOption{prt.MaxRecvMsgSize(1000)})
		ctx := t.Context()
		w, _, err := e.dialWS(ctx, "/test.Echo/Chat", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = w.send(ctx, Line{Text: strings.Repeat("x", 5000)})
		if _, tr := w.trailers(ctx); tr["grpc-status"][0] != strconv.Itoa(int(wire.ResourceExhausted)) {
			t.Fatalf("oversized: %v", tr)
		}
	})
}

// TestWebSocketPartialMessageMemory: the memory held for a WebSocket
// message being received grows with the bytes that arrived, not with the
// length its frame prefix announces. 100 calls each announce a message
// just under the receive limit (4 MiB) and send 8 KiB of it: allocating
// the announced length up front held 400 MiB.
func TestWebSocketPartialMessageMemory(t *testing.T) {
	e := newModeEnv(t, modeHTTP1, nil)
	ctx := t.Context()
	heap := func() uint64 {
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	before := heap()
	const calls = 100
	n := uint32(prt.DefaultMaxRecvMsgSize - 1)
	part := append([]byte{0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, make([]byte, 8<<10)...)
	var conns []*websocket.Conn
	for range calls {
		w, _, err := e.dialWS(ctx, "/test.Echo/Chat", map[string][]string{"content-type": {"application/grpc+msgpack"}}, "")
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, w.c)
		mw, err := w.c.Writer(ctx, websocket.MessageBinary)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mw.Write(part); err != nil { // and never finished
			t.Fatal(err)
		}
	}
	// A good call answers after them: the server is still serving.
	w, _, err := e.dialWS(ctx, "/test.Echo/Chat", map[string][]string{"content-type": {"application/grpc+msgpack"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.send(ctx, Line{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	var peak uint64
	for range 5 {
		time.Sleep(50 * time.Millisecond)
		peak = max(peak, heap())
	}
	grown := int64(peak) - int64(before)
	t.Logf("%d calls sending 8 KiB of a %d-byte message: heap %+d KiB", calls, n, grown>>10)
	if grown > 64<<20 {
		t.Errorf("the heap grew by %d MiB for %d KiB received", grown>>20, calls*8)
	}
	for _, c := range append(conns, w.c) {
		c.CloseNow()
	}
}

func TestWebSocketOrigin(t *testing.T) {
	forEachWSMode(t, func(t *testing.T, m mode) {
		e := newModeEnv(t, m, nil, web.WithAllowedOrigins("https://app.example"))
		ctx := t.Context()
		for origin, ok := range map[string]bool{"https://app.example": true, e.base: true, "https://evil.example": false} {
			w, resp, err := e.dialWS(ctx, "/test.Echo/Sum", nil, origin)
			if !ok {
				if err == nil || resp == nil || resp.StatusCode != 403 {
					t.Fatalf("origin %s: accepted (%v)", origin, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("origin %s: %v", origin, err)
			}
			_ = w.closeSend(ctx)
			if _, tr := w.trailers(ctx); tr["grpc-status"][0] != "0" {
				t.Fatalf("origin %s: %v", origin, tr)
			}
		}
	})
}

// waitStill samples n until it stops growing. The tests below assert only
// what a stalled count implies, never how long anything took.
func waitStill(n *atomic.Int64) int64 {
	last := int64(-1)
	for {
		time.Sleep(200 * time.Millisecond)
		v := n.Load()
		if v == last {
			return v
		}
		last = v
	}
}

// TestWebSocketBackpressure: a client that stops reading stops the
// server's sends, and one that sends to a handler that does not receive
// is stopped in turn; memory stays bounded by the socket buffers and one
// frame in the server.
func TestWebSocketBackpressure(t *testing.T) {
	forEachWSMode(t, func(t *testing.T, m mode) {
		e := newModeEnv(t, m, nil)
		ctx := t.Context()
		const total = 4000
		payload := strings.Repeat("y", 16<<10) // 64 MB in all: more than any socket buffer
		w, _, err := e.dialWS(ctx, "/test.Echo/Chat", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		// Inbound: the handler waits; the client sends until blocked.
		_ = w.send(ctx, Line{Text: "wait"})
		<-e.ts.started
		var sent atomic.Int64
		sendDone := make(chan error, 1)
		go func() {
			for i := range total {
				if err := w.send(ctx, Line{Text: payload, N: i}); err != nil {
					sendDone <- err
					return
				}
				sent.Add(1)
			}
			sendDone <- w.closeSend(ctx)
		}()
		n := waitStill(&sent)
		if n >= total {
			t.Fatalf("the client sent all %d messages to a handler that read none", n)
		}
		t.Logf("inbound: the client's sends stalled after %d of %d messages of 16 KiB", n, total)
		// Outbound: the handler is released and echoes everything, but the
		// client reads nothing yet, so both directions stall.
		close(e.ts.release)
		if n := waitStill(&e.ts.received); n >= total {
			t.Fatalf("the server echoed all %d messages to a client that read none", n)
		} else {
			t.Logf("outbound: the server's echoes stalled after %d of %d", n, total)
		}
		// The client reads: everything arrives, in order.
		_, hdr, _, err := w.recv(ctx)
		_ = hdr
		if err != nil {
			t.Fatal(err)
		}
		msgs, tr := w.trailers(ctx)
		if err := <-sendDone; err != nil {
			t.Fatal(err)
		}
		if len(msgs) != total || msgs[total-1].N != total-1 || tr["grpc-status"][0] != "0" {
			t.Fatalf("%d messages, trailers %v", len(msgs), tr)
		}
	})
}

// TestNativeGRPCOverNetHTTP: a parley client's native gRPC calls through
// the Handler, on net/http's HTTP/2 (h2c).
func TestNativeGRPCOverNetHTTP(t *testing.T) {
	e := newEnv(t, true, nil)
	c, err := prt.Dial(strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := prt.CallUnary[Line, Line](t.Context(), c, "/test.Echo/Unary", &Line{Text: "native"})
	if err != nil || res.Text != "echo native" {
		t.Fatalf("unary: %+v %v", res, err)
	}
	call, err := prt.Open[Line, Line](t.Context(), c, "/test.Echo/Chat")
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(&Line{Text: "a"})
	if m, err := call.Recv(); err != nil || m.Text != "re: a" {
		t.Fatalf("bidi: %+v %v", m, err)
	}
	_ = call.CloseSend()
	if _, err := call.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v", err)
	}
	if _, err := prt.CallUnary[Line, Line](t.Context(), c, "/test.Echo/Unary", &Line{Text: "fail"}); wire.CodeOf(err) != wire.NotFound {
		t.Fatalf("status: %v", err)
	}
}

// TestGRPCWebBackpressure: a gRPC-Web client that stops reading a
// server-streaming response stops the server's sends (TCP over HTTP/1.1,
// flow control over HTTP/2); once it reads, everything arrives.
func TestGRPCWebBackpressure(t *testing.T) {
	forEachProto(t, func(t *testing.T, h2 bool) {
		e := newEnv(t, h2, nil)
		const total = 4000 // of 16 KiB: 64 MB, more than any buffer between the two
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/test.Echo/Count",
			bytes.NewReader(frame(t, 0, Line{Text: strings.Repeat("z", 16<<10), N: total})))
		req.Header.Set("Content-Type", "application/grpc-web+msgpack")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if n := waitStill(&e.ts.sent); n >= total {
			t.Fatalf("the server sent all %d messages to a client that read none", n)
		} else {
			t.Logf("the server's sends stalled after %d of %d messages of 16 KiB", n, total)
		}
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			rest, flag, _, ok, err := wire.ParseWebFrame(raw, -1)
			if err != nil || !ok {
				t.Fatalf("after %d messages: %v", n, err)
			}
			raw = rest
			if flag == wire.FlagTrailers {
				break
			}
			n++
		}
		if n != total || len(raw) != 0 {
			t.Fatalf("%d messages, %d bytes after the trailers", n, len(raw))
		}
	})
}
