package runtime_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestServeHTTP mounts a Server on an application's own net/http server,
// next to another route, over h2c and TLS: parley clients of either
// HTTP/2 implementation call it (unary and bidi, metadata, status), the
// other route keeps working on the same port, and after Shutdown new
// calls get UNAVAILABLE.
func TestServeHTTP(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		for _, impl := range []prt.HTTP2Transport{prt.TransportFramer, prt.TransportNetHTTP} {
			name := map[bool]string{false: "h2c", true: "tls"}[useTLS] + map[prt.HTTP2Transport]string{prt.TransportFramer: "-framer-client", prt.TransportNetHTTP: "-nethttp-client"}[impl]
			t.Run(name, func(t *testing.T) { testServeHTTP(t, useTLS, impl) })
		}
	}
}

func testServeHTTP(t *testing.T, useTLS bool, impl prt.HTTP2Transport) {
	srv := prt.NewServer()
	registerEcho(srv)
	prt.HandleUnary(srv, "/test.Echo/Fail", func(ctx context.Context, req *Msg) (*Msg, error) {
		return nil, wire.NewError(wire.FailedPrecondition, "no: "+req.Text)
	})
	mux := http.NewServeMux()
	mux.Handle("/test.Echo/", srv)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: mux, Protocols: &protos}
	l := testutil.Listen(t, "tcp4")
	dial := []prt.DialOption{prt.WithHTTP2Transport(impl)}
	httpClient := &http.Client{}
	if useTLS {
		pki := testutil.NewPKI(t)
		hs.TLSConfig = pki.ServerTLS(false)
		dial = append(dial, prt.WithTLS(pki.ClientTLS(false)))
		httpClient.Transport = &http.Transport{TLSClientConfig: pki.ClientTLS(false)}
	}
	if useTLS {
		// net/http offers h2 and http/1.1 by ALPN.
		go hs.ServeTLS(l, "", "")
	} else {
		go hs.Serve(l)
	}
	defer hs.Close()

	client, err := prt.Dial(l.Addr().String(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := testCtx(t)
	var hdr wire.Metadata
	res, err := prt.CallUnary[Msg, Msg](prt.AppendOutgoing(ctx, "x-echo-header", "v"), client, mUnary, &Msg{Text: "hi", N: 1}, prt.Header(&hdr))
	if err != nil || res.Text != "echo: hi" || res.N != 2 || hdr.Get("x-echo-header") != "v" {
		t.Fatalf("unary: %+v, %v, header %v", res, err, hdr)
	}
	_, err = prt.CallUnary[Msg, Msg](ctx, client, "/test.Echo/Fail", &Msg{Text: "x"})
	if we := wantCode(t, err, wire.FailedPrecondition); we.Message() != "no: x" {
		t.Fatalf("status message %q", we.Message())
	}
	call, err := prt.Open[Msg, Msg](ctx, client, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := call.Send(&Msg{Text: "p", N: int64(i)}); err != nil {
			t.Fatal(err)
		}
		m, err := call.Recv()
		if err != nil || m.N != int64(i) {
			t.Fatalf("bidi %d: %+v, %v", i, m, err)
		}
	}
	call.CloseSend()
	if _, err := call.Recv(); err != io.EOF {
		t.Fatalf("bidi end: %v", err)
	}

	scheme := map[bool]string{false: "http", true: "https"}[useTLS]
	resp, err := httpClient.Get(scheme + "://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("the other route answered %q", body)
	}

	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = prt.CallUnary[Msg, Msg](ctx, client, mUnary, &Msg{})
	wantCode(t, err, wire.Unavailable)
}

// TestHTTPHandler: with WithHTTPHandler, one listening port serves gRPC
// on parley's own HTTP/2 transport and the handler's routes, in cleartext
// and over TLS: over HTTP/1.1 (a GET, and a POST, whose first byte is the
// HTTP/2 preface's) and over HTTP/2 (requests that are not gRPC, on the
// same transport as the gRPC calls).
func TestHTTPHandler(t *testing.T) {
	for _, tr := range transports[:2] { // framer-h2c, framer-tls
		t.Run(tr.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello over "+r.Proto+" "+r.URL.RawQuery)
			})
			mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				w.Write(b)
			})
			e := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{prt.WithHTTPHandler(mux)}})
			ctx := testCtx(t)
			if res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Text: "g"}); err != nil || res.Text != "echo: g" {
				t.Fatalf("gRPC on the same port: %+v, %v", res, err)
			}
			scheme := "http"
			if tr.tls {
				scheme = "https"
			}
			for _, h2 := range []bool{false, true} {
				var protos http.Protocols
				protos.SetHTTP1(!h2)
				protos.SetHTTP2(h2)
				protos.SetUnencryptedHTTP2(h2)
				ht := &http.Transport{Protocols: &protos}
				if tr.tls {
					ht.TLSClientConfig = testutil.NewPKI(t).ClientTLS(false)
				}
				hc := &http.Client{Transport: ht}
				want := map[bool]string{false: "HTTP/1.1", true: "HTTP/2.0"}[h2]
				resp, err := hc.Get(scheme + "://" + e.addr + "/hello?q=1")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "hello over "+want+" q=1" {
					t.Fatalf("GET answered %q, want hello over %s q=1", body, want)
				}
				resp, err = hc.Post(scheme+"://"+e.addr+"/echo", "text/plain", strings.NewReader("PRI-like body"))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "PRI-like body" {
					t.Fatalf("POST over %s answered %q", want, body)
				}
				hc.CloseIdleConnections()
			}
		})
	}
}

// TestHTTPHandlerHijack: a handler that takes its HTTP/1.1 connection over
// (as a WebSocket upgrade does) keeps it after it returns: the server does
// not close a connection it no longer owns.
func TestHTTPHandlerHijack(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hijack", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		go func() {
			defer c.Close()
			time.Sleep(50 * time.Millisecond) // after the handler returned
			rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlate")
			rw.Flush()
		}()
	})
	e := newEnv(t, transports[0], registerEcho, envOpts{server: []prt.ServerOption{prt.WithHTTPHandler(mux)}})
	resp, err := http.Get("http://" + e.addr + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "late" {
		t.Fatalf("read %q from the hijacked connection, want %q", body, "late")
	}
}
