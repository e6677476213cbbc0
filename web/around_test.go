package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// recorder collects what interceptors and the stats handler saw.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) HandleStats(_ context.Context, ev prt.StatsEvent) {
	switch ev := ev.(type) {
	case *prt.CallBegin:
		r.add("begin " + ev.Method)
	case *prt.MsgReceived:
		r.add("recv")
	case *prt.MsgSent:
		r.add("sent")
	case *prt.CallEnd:
		r.add("end " + ev.Code.String())
	}
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.events, ", ")
	r.events = nil
	return s
}

// TestInterceptorsAndStats: browser calls go through the server's
// interceptors and stats handler like native ones.
func TestInterceptorsAndStats(t *testing.T) {
	rec := &recorder{}
	opts := []prt.ServerOption{
		prt.WithUnaryInterceptor(func(ctx context.Context, req any, info *prt.UnaryServerInfo, next prt.UnaryHandler) (any, error) {
			rec.add("unary interceptor " + info.Method)
			if prt.IncomingMetadata(ctx).Get("x-who") == "mallory" {
				return nil, wire.NewError(wire.PermissionDenied, "not you")
			}
			return next(ctx, req)
		}),
		prt.WithStreamInterceptor(func(ctx context.Context, call prt.ServerConn, info *prt.StreamServerInfo, next prt.StreamHandler) error {
			rec.add("stream interceptor " + info.Method)
			return next(ctx, call)
		}),
		prt.WithStatsHandler(rec),
	}
	e := newEnv(t, true, opts)
	r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "a"}), nil)
	if err != nil || r.grpcStatus() != "0" {
		t.Fatalf("gRPC-Web: %+v %v", r, err)
	}
	r, err = e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "a"}), http.Header{"X-Who": {"mallory"}})
	if err != nil || r.grpcStatus() != "7" {
		t.Fatalf("refused by the interceptor: %+v %v", r, err)
	}
	if got, want := rec.take(), "begin /test.Echo/Unary, recv, unary interceptor /test.Echo/Unary, sent, end OK, "+
		"begin /test.Echo/Unary, recv, unary interceptor /test.Echo/Unary, end PERMISSION_DENIED"; got != want {
		t.Errorf("gRPC-Web events:\n%s\nwant\n%s", got, want)
	}

	e1 := newEnv(t, false, opts)
	w, _, err := e1.dialWS(t.Context(), "/test.Echo/Sum", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = w.send(t.Context(), Line{N: 2})
	_ = w.send(t.Context(), Line{N: 3})
	_ = w.closeSend(t.Context())
	if msgs, tr := w.trailers(t.Context()); len(msgs) != 1 || msgs[0].N != 5 || tr["grpc-status"][0] != "0" {
		t.Fatalf("sum: %v %v", msgs, tr)
	}
	// The requests are decoded as they arrive, concurrently with the
	// interceptor: compare the events as a set.
	got := strings.Split(rec.take(), ", ")
	slices.Sort(got)
	if got, want := strings.Join(got, ", "), "begin /test.Echo/Sum, end OK, recv, recv, sent, stream interceptor /test.Echo/Sum"; got != want {
		t.Errorf("WebSocket events:\n%s\nwant\n%s", got, want)
	}
}
