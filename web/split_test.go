package web_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/web"
)

// TestSplit serves native gRPC (parley's own transport) and gRPC-Web
// (net/http) on one port.
func TestSplit(t *testing.T) {
	srv := prt.NewServer()
	newService(srv)
	l := testutil.Listen(t, "tcp4")
	sl := web.Split(l)
	hs := &http.Server{Handler: srv.Handler()}
	nativeDone := make(chan error, 1)
	httpDone := make(chan error, 1)
	go func() { nativeDone <- srv.Serve(sl.Native()) }()
	go func() { httpDone <- hs.Serve(sl.HTTP()) }()

	addr := l.Addr().String()
	c, err := prt.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := prt.CallUnary[Line, Line](t.Context(), c, "/test.Echo/Unary", &Line{Text: "native"})
	if err != nil || res.Text != "echo native" {
		t.Fatalf("native: %+v %v", res, err)
	}
	c.Close()

	e := &env{t: t, base: "http://" + addr, client: &http.Client{Transport: &http.Transport{}}}
	r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "web"}), nil)
	if err != nil || len(r.messages) != 1 || r.messages[0].Text != "echo web" {
		t.Fatalf("gRPC-Web: %+v %v", r, err)
	}
	e.client.CloseIdleConnections()

	// A connection that starts like the preface and then differs is
	// HTTP/1.1's: net/http answers it.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte("PRI / HTTP/1.1\r\nHost: x\r\n\r\n"))
	line, _ := bufio.NewReader(nc).ReadString('\n')
	nc.Close()
	if !strings.HasPrefix(line, "HTTP/1.1 ") {
		t.Fatalf("near-preface connection: %q", line)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
	if err := <-nativeDone; !errors.Is(err, prt.ErrServerClosed) {
		t.Errorf("native Serve: %v", err)
	}
	if err := <-httpDone; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("http Serve: %v", err)
	}
	_ = sl.Close()
}
