package otelparley_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"

	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/otel/otelparley"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestGRPCWebServerSpan: a gRPC-Web call through Server.Handler, as a
// browser makes it, gets a server span like a native call's: the child of
// the traceparent in its headers, with the address it came in on.
func TestGRPCWebServerSpan(t *testing.T) {
	tel := newTelemetry(t)
	srv := runtime.NewServer(otelparley.ServerOptions(tel.parleyOptions()...)...)
	health.Register(srv, health.NewServer())
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	defer srv.Close()

	body, err := health.Codec.Marshal(&health.CheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", hs.URL+health.MethodCheck, bytes.NewReader(wire.AppendWebFrame(nil, 0, body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", wire.WebContentType(health.Codec.Name(), false))
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()

	s := tel.span(t, otelparley.ScopeName, "grpc.health.v1.Health/Check", trace.SpanKindServer, codes.OK)
	if s.Parent.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent.SpanID().String() != "b7ad6b7169203331" || !s.Parent.IsRemote() {
		t.Errorf("the server span's parent is %v, want the traceparent's", s.Parent)
	}
	host, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	wantAttrs(t, "gRPC-Web server span", s.Attributes, map[string]any{"server.address": host, "server.port": int64(p)})
}
