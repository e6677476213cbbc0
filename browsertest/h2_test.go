package browsertest

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/examples/chat/webui"
	"github.com/parleyrpc/parley/internal/testutil"
	"github.com/parleyrpc/parley/runtime"
)

// TestBrowserChatOverHTTP2: served over TLS, the page comes over HTTP/2,
// and Chromium opens its WebSockets as extended CONNECT streams of that
// connection (RFC 8441), since parley's transport offers them; two
// browser members converse that way. The server counts how each
// WebSocket arrived, so the test fails if Chromium fell back to an
// HTTP/1.1 upgrade.
func TestBrowserChatOverHTTP2(t *testing.T) {
	exe := chromium(t)
	var overH2, overH1 atomic.Int64
	mux := http.NewServeMux()
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodConnect && r.ProtoMajor == 2 && r.Header.Get(":protocol") == "websocket":
			overH2.Add(1)
		case r.Header.Get("Upgrade") != "":
			overH1.Add(1)
		}
		mux.ServeHTTP(w, r)
	})
	pki := testutil.NewPKI(t)
	srv := server.New(server.Config{}, runtime.WithHTTPHandler(count), runtime.WithTLS(pki.ServerTLS(false)))
	page := webui.Handler()
	for _, p := range []string{"GET /{$}", "GET /app.js", "GET /style.css"} {
		mux.Handle(p, page)
	}
	mux.Handle("/", srv.Handler())
	l := testutil.Listen(t, "tcp4")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	base := "https://" + l.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true), // the test PKI's certificate
	)...)
	defer cancelAlloc()
	ann, cancelAnn := chromedp.NewContext(alloc)
	defer cancelAnn()
	bea, cancelBea := chromedp.NewContext(ann)
	defer cancelBea()
	run := func(c context.Context, what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(c, a...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	run(ann, "ann joins", joinPage(base, "ann", "lobby"))
	proto, err := chromedp.Run(ann, chromedp.Evaluate[string](`performance.getEntriesByType("navigation")[0].nextHopProtocol`))
	if err != nil {
		t.Fatal(err)
	}
	if proto != "h2" {
		t.Fatalf("the page came over %q, want h2", proto)
	}
	run(bea, "bea joins", joinPage(base, "bea", "lobby"))
	run(ann, "ann sees bea arrive", waitText("#log", "bea joined (2 here)"))
	run(ann, "ann says hi", say("hi over one connection"))
	run(bea, "bea sees it", waitText("#log", "hi over one connection"))
	run(bea, "bea answers", say("and back"))
	run(ann, "ann sees the answer", waitText("#log", "and back"))

	if h2, h1 := overH2.Load(), overH1.Load(); h2 < 2 || h1 != 0 {
		t.Fatalf("WebSockets: %d over HTTP/2, %d over HTTP/1.1; want both members' over HTTP/2", h2, h1)
	}
}
