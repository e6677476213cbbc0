package web_test

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyrpc/parley/wire"
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

// TestWebSocketStallMidMessage: a client announces a long WebSocket
// message and stops sending partway, after the server has found what it
// sent so far wrong (a parley frame followed by a stray byte; an opening
// header frame over the limit). The server answers and closes the
// connection within its close-handshake grace, instead of waiting forever
// for the rest of the message, and goes on serving.
func TestWebSocketStallMidMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(w *rawWS)
		code int    // the close code
		st   string // grpc-status in trailers, if any
	}{
		{"after a frame", func(w *rawWS) {
			w.headers()
			w.header(true, opBinary, 1<<40)
			w.write([]byte{0, 0, 0, 0, 1, 0x80, 0xff}) // an empty map, then a stray byte
		}, 1000, "13"},
		{"header frame over the limit", func(w *rawWS) {
			w.header(true, opBinary, 1<<40)
			w.write(append([]byte{wire.FlagHeaders, 0, 1, 0, 0}, make([]byte, 20<<10)...))
		}, 1009, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newModeEnv(t, modeHTTP1, nil)
			w := e.dialRawWS("/test.Echo/Chat")
			tc.send(w)
			tr, code, err := w.untilClose(10 * time.Second)
			if err != nil || code != tc.code || tc.st != "" && tr["grpc-status"][0] != tc.st {
				t.Fatalf("trailers %v, close %d, %v", tr, code, err)
			}
			start := time.Now()
			if !w.closedWithin(15 * time.Second) {
				t.Fatalf("the server still holds the connection %v after its close frame", time.Since(start))
			}
			t.Logf("closed %v after the close frame", time.Since(start))
			e.stillServes(t.Context())
		})
	}
}

// TestWebSocketCloseReasonUTF8: the reason of the close frame that refuses
// a malformed header frame is valid UTF-8 (RFC 6455, section 5.5.1; a
// browser fails the WebSocket on one that is not), however the message
// that explains it is cut to fit.
func TestWebSocketCloseReasonUTF8(t *testing.T) {
	e := newModeEnv(t, modeHTTP1, nil)
	for k := range 40 {
		// A header name the server refuses and quotes back: k control
		// bytes (each quoted as 4 characters), then two-byte runes.
		name := strings.Repeat("\x01", k) + strings.Repeat("é", 40)
		block := []byte(name + ": v\r\n")
		w := e.dialRawWS("/test.Echo/Chat")
		w.frame(true, opBinary, wire.AppendWebFrame(nil, wire.FlagHeaders, block))
		_, op, p, err := w.readFrame(5 * time.Second)
		if err != nil || op != opClose || len(p) < 2 {
			t.Fatalf("k=%d: %#x %q %v", k, op, p, err)
		}
		if code := binary.BigEndian.Uint16(p); code != 1002 {
			t.Fatalf("k=%d: close %d", k, code)
		}
		if !utf8.Valid(p[2:]) {
			t.Fatalf("k=%d: close reason %q is not UTF-8", k, p[2:])
		}
		w.closeReply(1002)
		w.c.Close()
	}
	e.stillServes(t.Context())
}
