package web_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parleyrpc/parley/web"
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
		for _, m := range []mode{modeHTTP1, modeFramer} {
			t.Run(tc.name+"/"+m.String(), func(t *testing.T) {
				e := newModeEnv(t, m, nil)
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
}

// TestWebSocketRFC6455Violations: frames that break RFC 6455 fail the
// WebSocket (close 1002 or, for a frame the library cannot even read as
// one, a closed connection) at once; the call ends, the connection is
// gone, and the server serves the next call. Control frames in the middle
// of a fragmented message are served, as the RFC allows.
func TestWebSocketRFC6455Violations(t *testing.T) {
	msg := frame(t, 0, Line{Text: "a"})
	for _, tc := range []struct {
		name string
		send func(w *rawWS)
		code int // 0: the connection is closed without a close frame
	}{
		{"control frame over 125 bytes", func(w *rawWS) { w.frame(true, opPing, make([]byte, 126)) }, 1002},
		{"fragmented control frame", func(w *rawWS) { w.frame(false, opPing, []byte("x")) }, 1002},
		{"unmasked frame", func(w *rawWS) { w.write(append([]byte{0x80 | opBinary, byte(len(msg))}, msg...)) }, 0},
		{"reserved bit", func(w *rawWS) { w.write(append([]byte{0xc0 | opBinary, 0x80 | byte(len(msg)), 0, 0, 0, 0}, msg...)) }, 1002},
		{"reserved data opcode", func(w *rawWS) { w.frame(true, 0x3, msg) }, 1002},
		{"reserved control opcode", func(w *rawWS) { w.frame(true, 0xb, nil) }, 1002},
		{"64-bit length with the top bit set", func(w *rawWS) { w.header(true, opBinary, 1<<63|5); w.write(msg) }, 0},
		{"continuation with no message", func(w *rawWS) { w.frame(true, opContinuation, msg) }, 1002},
		{"new message inside a fragmented one", func(w *rawWS) {
			w.frame(false, opBinary, msg[:2])
			w.frame(true, opBinary, msg)
		}, 1002},
		{"unmasked continuation", func(w *rawWS) {
			w.frame(false, opBinary, msg[:2])
			w.write(append([]byte{0x80 | opContinuation, byte(len(msg) - 2)}, msg[2:]...))
		}, 0},
		{"continuation with the top length bit set", func(w *rawWS) {
			w.frame(false, opBinary, msg[:2])
			w.header(true, opContinuation, 1<<63|5)
		}, 0},
		{"control frame over 125 bytes inside a message", func(w *rawWS) {
			w.frame(false, opBinary, msg[:2])
			w.frame(true, opPing, make([]byte, 126))
		}, 1002},
		{"close code 1005 on the wire", func(w *rawWS) { w.frame(true, opClose, binary.BigEndian.AppendUint16(nil, 1005)) }, 1002},
		{"close payload of one byte", func(w *rawWS) { w.frame(true, opClose, []byte{3}) }, 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newModeEnv(t, modeHTTP1, nil)
			w := e.dialRawWS("/test.Echo/Chat")
			w.headers()
			tc.send(w)
			_, code, err := w.untilClose(5 * time.Second)
			if code != tc.code || tc.code == 0 && !errors.Is(err, io.EOF) {
				t.Fatalf("close %d (%v), want %d", code, err, tc.code)
			}
			if !w.closedWithin(time.Second) {
				t.Fatal("the connection is still open")
			}
			e.stillServes(t.Context())
		})
	}
	t.Run("control frames inside a fragmented message", func(t *testing.T) {
		e := newModeEnv(t, modeHTTP1, nil)
		w := e.dialRawWS("/test.Echo/Chat")
		w.headers()
		w.frame(false, opBinary, msg[:2])
		w.frame(true, opPing, []byte("p"))
		w.frame(false, opContinuation, msg[2:4])
		w.frame(true, opPong, nil)
		w.frame(true, opContinuation, msg[4:])
		w.frame(true, opBinary, []byte{wire.FlagTrailers, 0, 0, 0, 0})
		var got []string // the binary frames' flags
		pong := ""
		for range 10 {
			_, op, p, err := w.readFrame(5 * time.Second)
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			if op == opClose {
				w.closeReply(1000)
				break
			}
			if op == opPong {
				pong = string(p)
			} else if op == opBinary && len(p) > 0 {
				got = append(got, fmt.Sprintf("%#02x", p[0]))
			}
		}
		if want := "[0x40 0x00 0x80]"; fmt.Sprint(got) != want || pong != "p" {
			t.Fatalf("frames %v and pong %q, want %s and the ping's payload", got, pong, want)
		}
		if !w.closedWithin(time.Second) {
			t.Fatal("the connection is still open after the close handshake")
		}
	})
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

// TestGRPCWebAcceptText: a binary gRPC-Web request whose Accept header
// asks for text (PROTOCOL-WEB.md, "Text-encoded (response) streams":
// "The client library should indicate to the server via the Accept
// header that the response stream needs to be text encoded") gets a
// base64 response.
func TestGRPCWebAcceptText(t *testing.T) {
	forEachProto(t, func(t *testing.T, h2 bool) {
		e := newEnv(t, h2, nil)
		for _, accept := range []string{"application/grpc-web-text", "application/grpc-web-text+msgpack", "*/*, application/grpc-web-text;q=0.9"} {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/test.Echo/Unary", bytes.NewReader(frame(t, 0, Line{Text: "hi"})))
			req.Header.Set("Content-Type", "application/grpc-web+msgpack")
			req.Header.Set("Accept", accept)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/grpc-web-text+msgpack" {
				t.Fatalf("Accept %q: content-type %q", accept, ct)
			}
			dec, n, err := wire.DecodeBase64Chunks(nil, raw)
			if err != nil || n != len(raw) {
				t.Fatalf("Accept %q: body %q is not base64: %v", accept, raw, err)
			}
			rest, flag, _, ok, err := wire.ParseWebFrame(dec, -1)
			if err != nil || !ok || flag != 0 {
				t.Fatalf("Accept %q: body %x", accept, dec)
			}
			if _, flag, _, ok, _ := wire.ParseWebFrame(rest, -1); !ok || flag != wire.FlagTrailers {
				t.Fatalf("Accept %q: no trailers frame after the message: %x", accept, rest)
			}
		}
	})
}

// TestWebSocketHandlerLimitBelowServers: a WebSocket message over the
// Handler's own limit (web.WithMaxMessageSize), lower than the server's
// receive limit, ends the call with RESOURCE_EXHAUSTED; the messages
// after it are not read as its payload.
func TestWebSocketHandlerLimitBelowServers(t *testing.T) {
	e := newModeEnv(t, modeHTTP1, nil, web.WithMaxMessageSize(1000))
	ctx := t.Context()
	w, _, err := e.dialWS(ctx, "/test.Echo/Chat", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	_ = w.send(ctx, Line{Text: strings.Repeat("x", 1100)})
	for i := range 400 {
		if err := w.send(ctx, Line{Text: "after", N: i}); err != nil {
			break
		}
	}
	_ = w.closeSend(ctx)
	msgs, tr := w.trailers(ctx)
	if tr["grpc-status"][0] != strconv.Itoa(int(wire.ResourceExhausted)) || len(msgs) != 0 {
		t.Fatalf("%d replies, trailers %v", len(msgs), tr)
	}
}

// TestGRPCWebHandlerLimitBelowServers: a gRPC-Web request message over
// the Handler's own limit (web.WithMaxMessageSize), lower than the
// server's receive limit, ends the call with RESOURCE_EXHAUSTED.
func TestGRPCWebHandlerLimitBelowServers(t *testing.T) {
	e := newModeEnv(t, modeHTTP1, nil, web.WithMaxMessageSize(1000))
	for _, ct := range []string{"application/grpc-web+msgpack", "application/grpc-web-text+msgpack"} {
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", ct, frame(t, 0, Line{Text: strings.Repeat("x", 5000)}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.grpcStatus() != strconv.Itoa(int(wire.ResourceExhausted)) {
			t.Fatalf("%s: status %q %q", ct, r.grpcStatus(), r.header.Get("Grpc-Message"))
		}
	}
}
