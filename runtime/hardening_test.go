package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

type userKey struct{}

// registerWho registers /test.Auth/Who and /test.Auth/WhoStream, which
// answer with the user an auth interceptor put in the call's context
// (userKey), empty if none.
func registerWho(s *prt.Server) {
	prt.HandleUnary(s, "/test.Auth/Who", func(ctx context.Context, req *Msg) (*Msg, error) {
		u, _ := ctx.Value(userKey{}).(string)
		return &Msg{Text: u}, nil
	})
	prt.HandleBidi(s, "/test.Auth/WhoStream", func(call *prt.ServerCall[Msg, Msg]) error {
		u, _ := call.Context().Value(userKey{}).(string)
		return call.Send(&Msg{Text: u})
	})
}

// TestBearerAuth: per-call bearer tokens from the client, checked by the
// server's AuthInterceptor for unary and streaming calls; tokens are never
// sent over h2c unless explicitly allowed.
func TestBearerAuth(t *testing.T) { forEachImpl(t, testBearerAuth) }

// testBearerAuth is TestBearerAuth over tr.
func testBearerAuth(t *testing.T, tr transport) {
	var checked atomic.Int64
	auth := prt.AuthInterceptor(func(ctx context.Context, token string) (context.Context, error) {
		checked.Add(1)
		switch token {
		case "good":
			return context.WithValue(ctx, userKey{}, "ann"), nil
		case "readonly":
			return nil, wire.NewError(wire.PermissionDenied, "read-only token")
		}
		return nil, errors.New("unknown token")
	})
	register := registerWho
	who := func(c *prt.Client) (string, error) {
		res, err := prt.CallUnary[Msg, Msg](testCtx(t), c, "/test.Auth/Who", &Msg{})
		if err != nil {
			return "", err
		}
		return res.Text, nil
	}
	whoStream := func(c *prt.Client) (string, error) {
		call, err := prt.Open[Msg, Msg](testCtx(t), c, "/test.Auth/WhoStream")
		if err != nil {
			return "", err
		}
		call.CloseSend()
		res, err := call.Recv()
		if err != nil {
			return "", err
		}
		return res.Text, nil
	}
	dial := func(e *env, opts ...prt.DialOption) *prt.Client {
		c, err := prt.Dial(e.addr, append(tlsDial(t, e.tr), opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	tlsEnv := newEnv(t, tr.withTLS(t), register, envOpts{server: []prt.ServerOption{auth}})
	cases := []struct {
		name string
		opts []prt.DialOption
		code wire.Code
	}{
		{"good token", []prt.DialOption{prt.BearerToken("good")}, wire.OK},
		{"permission denied", []prt.DialOption{prt.BearerToken("readonly")}, wire.PermissionDenied},
		{"unknown token", []prt.DialOption{prt.BearerToken("forged")}, wire.Unauthenticated},
		{"no token", nil, wire.Unauthenticated},
	}
	for _, tc := range cases {
		c := dial(tlsEnv, tc.opts...)
		for kind, call := range map[string]func(*prt.Client) (string, error){"unary": who, "stream": whoStream} {
			user, err := call(c)
			if tc.code == wire.OK {
				if err != nil || user != "ann" {
					t.Errorf("%s (%s): %q, %v", tc.name, kind, user, err)
				}
				continue
			}
			if wire.CodeOf(err) != tc.code {
				t.Errorf("%s (%s): %v, want %v", tc.name, kind, err, tc.code)
			}
		}
	}
	// A token without "Bearer " is refused too.
	ctx := prt.AppendOutgoing(testCtx(t), "authorization", "Basic Zm9vOmJhcg==")
	if _, err := prt.CallUnary[Msg, Msg](ctx, tlsEnv.client, "/test.Auth/Who", &Msg{}); wire.CodeOf(err) != wire.Unauthenticated {
		t.Errorf("Basic credentials: %v", err)
	}

	h2cEnv := newEnv(t, tr, register, envOpts{server: []prt.ServerOption{auth}})
	before := checked.Load()
	for kind, call := range map[string]func(*prt.Client) (string, error){"unary": who, "stream": whoStream} {
		_, err := call(dial(h2cEnv, prt.BearerToken("good")))
		we := wantCode(t, err, wire.Unauthenticated)
		if we.IsWire() || !strings.Contains(we.Message(), "TLS") {
			t.Errorf("h2c %s: %v, want a local refusal", kind, err)
		}
	}
	if checked.Load() != before {
		t.Error("a token reached the server over h2c")
	}
	if user, err := who(dial(h2cEnv, prt.InsecureBearerToken("good"))); err != nil || user != "ann" {
		t.Errorf("InsecureBearerToken over h2c: %q, %v", user, err)
	}
}

// TestErrorDetailsOverTheWire: details returned by a handler arrive in the
// client's error, through grpc-status-details-bin.
func TestErrorDetailsOverTheWire(t *testing.T) { forEachImpl(t, testErrorDetailsOverTheWire) }

// testErrorDetailsOverTheWire is TestErrorDetailsOverTheWire over tr.
func testErrorDetailsOverTheWire(t *testing.T, tr transport) {
	d1, err := wire.PackMsgpack("test.v1.RoomFull", &Msg{Text: "go", N: 3})
	if err != nil {
		t.Fatal(err)
	}
	d2 := wire.Detail{TypeURL: "type.googleapis.com/google.rpc.ErrorInfo", Value: []byte{0x0a, 0x04, 'f', 'u', 'l', 'l'}}
	fail := wire.NewError(wire.FailedPrecondition, "room is full").WithDetails(d1, d2)
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Details/Unary", func(ctx context.Context, req *Msg) (*Msg, error) { return nil, fail })
		prt.HandleBidi(s, "/test.Details/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			if err := call.Send(&Msg{}); err != nil {
				return err
			}
			return fail
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	_, err = prt.CallUnary[Msg, Msg](testCtx(t), e.client, "/test.Details/Unary", &Msg{})
	we := wantCode(t, err, wire.FailedPrecondition)
	if !we.IsWire() || !reflect.DeepEqual(we.Details(), []wire.Detail{d1, d2}) {
		t.Fatalf("unary: details %+v", we.Details())
	}
	var m Msg
	if err := wire.UnpackMsgpack(we.Details()[0], &m); err != nil || m.Text != "go" || m.N != 3 {
		t.Fatalf("unpacked %+v, %v", m, err)
	}
	call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Details/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	call.CloseSend()
	_, err = recvAll(t, call)
	we = wantCode(t, err, wire.FailedPrecondition)
	if !reflect.DeepEqual(we.Details(), []wire.Detail{d1, d2}) {
		t.Fatalf("stream: details %+v", we.Details())
	}
	// On the wire: the trailer is the base64 (unpadded) google.rpc.Status.
	r := rawCall(t, e.addr, "POST", "/test.Details/Unary", grpcHeader(), frame(0, msgpackMsg))
	raw := r.header.Get("grpc-status-details-bin")
	got, err := wire.DecodeBinary(raw)
	want := wire.AppendStatusProto(nil, wire.FailedPrecondition, "room is full", []wire.Detail{d1, d2})
	if err != nil || string(got) != string(want) || strings.HasSuffix(raw, "=") {
		t.Fatalf("grpc-status-details-bin %q: % x, %v; want % x", raw, got, err, want)
	}
}

// statsRecorder records events as short strings, per side.
type statsRecorder struct {
	mu     sync.Mutex
	events map[bool][]string
	ctxs   map[bool]map[context.Context]bool
	sizes  map[string][]int // "client sent", "server received", ...
}

func newStatsRecorder() *statsRecorder {
	return &statsRecorder{events: map[bool][]string{}, ctxs: map[bool]map[context.Context]bool{true: {}, false: {}}, sizes: map[string][]int{}}
}

func side(client bool) string {
	if client {
		return "client"
	}
	return "server"
}

func (r *statsRecorder) HandleStats(ctx context.Context, ev prt.StatsEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s string
	var client bool
	switch ev := ev.(type) {
	case *prt.CallBegin:
		client = ev.Client
		s = "begin " + ev.Method + " " + ev.Kind.String()
		if ev.Peer == nil || !strings.HasPrefix(ev.Peer.String(), "127.0.0.1:") || ev.Time.IsZero() {
			s += fmt.Sprintf(" bad peer %v", ev.Peer)
		}
		// A server knows the address it accepted the call on (for
		// server.address and server.port in OpenTelemetry), a client
		// has none.
		if (ev.Local == nil) != ev.Client || ev.Local != nil && !strings.HasPrefix(ev.Local.String(), "127.0.0.1:") {
			s += fmt.Sprintf(" bad local address %v", ev.Local)
		}
	case *prt.MsgSent:
		client = ev.Client
		s = "sent"
		r.sizes[side(client)+" sent"] = append(r.sizes[side(client)+" sent"], ev.WireLength)
	case *prt.MsgReceived:
		client = ev.Client
		s = "received"
		if ev.WireLength != ev.Length+5 {
			s += fmt.Sprintf(" bad sizes %d %d", ev.WireLength, ev.Length)
		}
		r.sizes[side(client)+" received"] = append(r.sizes[side(client)+" received"], ev.WireLength)
	case *prt.CallEnd:
		client = ev.Client
		s = "end " + ev.Code.String()
		if (ev.Err == nil) != (ev.Code == wire.OK) || ev.Duration <= 0 {
			s += fmt.Sprintf(" bad %v %v", ev.Err, ev.Duration)
		}
	}
	r.events[client] = append(r.events[client], s)
	r.ctxs[client][ctx] = true
}

func (r *statsRecorder) take() (client, server string, ctxs int, sizes map[string][]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	client, server = strings.Join(r.events[true], ", "), strings.Join(r.events[false], ", ")
	ctxs = len(r.ctxs[true]) + len(r.ctxs[false])
	sizes = r.sizes
	r.events = map[bool][]string{}
	r.ctxs = map[bool]map[context.Context]bool{true: {}, false: {}}
	r.sizes = map[string][]int{}
	return
}

// TestStatsHandler: the event sequences of a call of each kind, on both
// sides, with matching wire sizes.
func TestStatsHandler(t *testing.T) { forEachImpl(t, testStatsHandler) }

// testStatsHandler is TestStatsHandler over tr.
func testStatsHandler(t *testing.T, tr transport) {
	srvStats, cliStats := newStatsRecorder(), newStatsRecorder()
	e := newEnv(t, tr, registerEcho, envOpts{
		server: []prt.ServerOption{prt.WithStatsHandler(srvStats)},
		dial:   []prt.DialOption{prt.WithStatsHandler(cliStats)},
	})
	check := func(what, wantClient, wantServer string) {
		t.Helper()
		c, _, cctx, csizes := cliStats.take()
		_, s, sctx, ssizes := srvStats.take()
		if c != wantClient {
			t.Errorf("%s: client events\n  %s\nwant\n  %s", what, c, wantClient)
		}
		if s != wantServer {
			t.Errorf("%s: server events\n  %s\nwant\n  %s", what, s, wantServer)
		}
		if wantServer == "" {
			return
		}
		if cctx != 1 || sctx != 1 {
			t.Errorf("%s: events of one call came with %d client and %d server contexts", what, cctx, sctx)
		}
		if !reflect.DeepEqual(csizes["client sent"], ssizes["server received"]) || !reflect.DeepEqual(ssizes["server sent"], csizes["client received"]) {
			t.Errorf("%s: sizes differ between the sides: client %v, server %v", what, csizes, ssizes)
		}
	}
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	check("unary", "begin "+mUnary+" unary, sent, received, end OK", "begin "+mUnary+" unary, received, sent, end OK")

	call, err := prt.OpenServerStream[Msg, Msg](testCtx(t), e.client, mServer, &Msg{Text: "x", N: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := recvAll(t, call); err != nil || len(res) != 3 {
		t.Fatalf("got %d responses, %v", len(res), err)
	}
	check("server stream", "begin "+mServer+" server_stream, sent, received, received, received, end OK",
		"begin "+mServer+" server_stream, received, sent, sent, sent, end OK")

	cs, err := prt.OpenClientStream[Msg, Msg](testCtx(t), e.client, mClient)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := cs.Send(&Msg{N: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	check("client stream", "begin "+mClient+" client_stream, sent, sent, received, end OK",
		"begin "+mClient+" client_stream, received, received, sent, end OK")

	bidi, err := prt.Open[Msg, Msg](testCtx(t), e.client, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // each side reports a message before the answer it causes
		if err := bidi.Send(&Msg{Text: "ping"}); err != nil {
			t.Fatal(err)
		}
		if _, err := bidi.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	_ = bidi.CloseSend()
	if res, err := recvAll(t, bidi); err != nil || len(res) != 0 {
		t.Fatalf("got %d more responses, %v", len(res), err)
	}
	check("bidi stream", "begin "+mBidi+" bidi_stream, sent, received, sent, received, end OK",
		"begin "+mBidi+" bidi_stream, received, sent, received, sent, end OK")

	_, err = prt.CallUnary[Msg, Msg](testCtx(t), e.client, "/test.Echo/Missing", &Msg{})
	wantCode(t, err, wire.Unimplemented)
	// An unknown method never becomes a call on the server.
	check("unknown method", "begin /test.Echo/Missing unary, sent, end UNIMPLEMENTED", "")
}

// TestInvalidResponseMetadataDropsOnlyItself: a handler whose response
// headers or trailers hold one key that cannot be sent (reserved, such as
// grpc-foo or content-type, not a legal key, or a non-ASCII value) loses
// that key only: the others, and the status's details, still reach the
// client, as grpc-go drops reserved keys one by one. One bad key used to
// drop the whole header or trailer block, details included.
func TestInvalidResponseMetadataDropsOnlyItself(t *testing.T) {
	forEach(t, testInvalidResponseMetadataDropsOnlyItself)
}

func testInvalidResponseMetadataDropsOnlyItself(t *testing.T, tr transport) {
	d := wire.Detail{TypeURL: "type.googleapis.com/google.rpc.ErrorInfo", Value: []byte{0x0a, 0x04, 'f', 'u', 'l', 'l'}}
	fail := wire.NewError(wire.FailedPrecondition, "room is full").WithDetails(d)
	header := wire.Metadata{"grpc-foo": {"x"}, "content-type": {"text/plain"}, "x-ok": {"1"}}
	trailer := wire.Metadata{"x y": {"1"}, "x-bad-value": {"caf\u00e9"}, "x-t": {"2"}}
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.BadMD/Unary", func(ctx context.Context, req *Msg) (*Msg, error) {
			if err := prt.SetHeader(ctx, header); err != nil {
				return nil, err
			}
			if err := prt.SetTrailer(ctx, trailer); err != nil {
				return nil, err
			}
			if req.Text == "fail" {
				return nil, fail
			}
			return &Msg{}, nil
		})
		prt.HandleBidi(s, "/test.BadMD/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			if err := call.SetHeader(header); err != nil {
				return err
			}
			call.SetTrailer(trailer)
			if err := call.Send(&Msg{}); err != nil {
				return err
			}
			return fail
		})
	}
	e := newEnv(t, tr, register, envOpts{server: []prt.ServerOption{prt.WithLogger(slog.New(slog.DiscardHandler))}})
	check := func(what string, hdr, tlr wire.Metadata, err error, wantErr bool) {
		t.Helper()
		if hdr.Get("x-ok") != "1" || tlr.Get("x-t") != "2" {
			t.Errorf("%s: header %v, trailer %v; want x-ok: 1 and x-t: 2", what, hdr, tlr)
		}
		if !wantErr {
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
			return
		}
		we := wantCode(t, err, wire.FailedPrecondition)
		if !reflect.DeepEqual(we.Details(), []wire.Detail{d}) {
			t.Errorf("%s: details %+v, want %+v", what, we.Details(), []wire.Detail{d})
		}
	}
	for _, text := range []string{"ok", "fail"} {
		var hdr, tlr wire.Metadata
		_, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, "/test.BadMD/Unary", &Msg{Text: text}, prt.Header(&hdr), prt.Trailer(&tlr))
		check("unary "+text, hdr, tlr, err, text == "fail")
	}
	call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.BadMD/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	call.CloseSend()
	_, err = recvAll(t, call)
	hdr, _ := call.Header()
	check("bidi", hdr, call.Trailer(), err, true)
}

// ctxStats remembers the context of each server call's CallBegin.
type ctxStats struct{ begun chan context.Context }

func (s ctxStats) HandleStats(ctx context.Context, ev prt.StatsEvent) {
	if b, ok := ev.(*prt.CallBegin); ok && !b.Client {
		s.begun <- ctx
	}
}

type derivedKey struct{}

// TestCallContext: CallContext gives the context a call's stats events
// come with, from the handler's context even when an interceptor replaced
// it, so that a StatsHandler's per-call state is found there (as
// OpenTelemetry's is); nil outside a server call.
func TestCallContext(t *testing.T) { forEachImpl(t, testCallContext) }

func testCallContext(t *testing.T, tr transport) {
	if prt.CallContext(context.Background()) != nil {
		t.Error("CallContext outside a call is not nil")
	}
	stats := ctxStats{begun: make(chan context.Context, 1)}
	derive := func(ctx context.Context, req any, _ *prt.UnaryServerInfo, next prt.UnaryHandler) (any, error) {
		return next(context.WithValue(ctx, derivedKey{}, true), req)
	}
	inHandler := make(chan context.Context, 1)
	e := newEnv(t, tr, func(s *prt.Server) {
		prt.HandleUnary(s, mUnary, func(ctx context.Context, m *Msg) (*Msg, error) {
			if ctx.Value(derivedKey{}) == nil {
				t.Error("the handler's context is not the interceptor's")
			}
			inHandler <- prt.CallContext(ctx)
			return m, nil
		})
	}, envOpts{server: []prt.ServerOption{prt.WithStatsHandler(stats), prt.WithUnaryInterceptor(derive)}})
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
	if begun, got := <-stats.begun, <-inHandler; got != begun {
		t.Errorf("CallContext in the handler is %v, want the stats events' %v", got, begun)
	}
}
