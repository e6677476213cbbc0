package web_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCloseWithStalledReaders: Server.Close cancels the calls in flight
// through the Handler and returns, also when their clients have stopped
// reading and the server's writes wait on a full socket or flow-control
// window.
func TestCloseWithStalledReaders(t *testing.T) {
	for _, tc := range []struct {
		proto string
		m     mode
	}{{"websocket", modeHTTP1}, {"grpc-web", modeHTTP1}, {"grpc-web", modeHTTP2}, {"native", modeHTTP2}} {
		t.Run(tc.proto+"-"+tc.m.String(), func(t *testing.T) {
			e := newModeEnv(t, tc.m, nil)
			ctx := t.Context()
			req := Line{Text: strings.Repeat("z", 16<<10), N: 4000}
			if tc.proto == "websocket" {
				w, _, err := e.dialWS(ctx, "/test.Echo/Count", nil, "")
				if err != nil {
					t.Fatal(err)
				}
				_ = w.send(ctx, req)
				_ = w.closeSend(ctx)
				defer w.c.CloseNow()
			} else {
				r, _ := http.NewRequestWithContext(ctx, "POST", e.base+"/test.Echo/Count", bytes.NewReader(frame(t, 0, req)))
				r.Header.Set("Content-Type", "application/grpc-web+msgpack")
				if tc.proto == "native" {
					r.Header.Set("Content-Type", "application/grpc+msgpack")
					r.Header.Set("Te", "trailers")
				}
				resp, err := e.client.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
			}
			if n := waitStill(&e.ts.sent); n >= int64(req.N) {
				t.Fatalf("all %d sent to a client that read none", n)
			}
			done := make(chan struct{})
			go func() { e.srv.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
		})
	}
}
