package web_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parleyrpc/parley/wire"
)

// FuzzWebSocketCall sends arbitrary WebSocket messages after a valid
// header frame on a live bidi call: whatever they hold, the call ends
// (trailers, or a close) and the server goes on serving the next call.
// The input is a sequence of messages, each a 2-byte length and its bytes;
// a length with its top bit set marks a text message.
func FuzzWebSocketCall(f *testing.F) {
	msg := func(text bool, b []byte) []byte {
		n := uint16(len(b))
		if text {
			n |= 0x8000
		}
		return append(binary.BigEndian.AppendUint16(nil, n), b...)
	}
	good := frame(f, 0, Line{Text: "a"})
	f.Add(append(msg(false, good), msg(false, []byte{0x80, 0, 0, 0, 0})...))
	f.Add(msg(false, []byte{0x40, 0, 0, 0, 0}))
	f.Add(msg(true, []byte("hello")))
	f.Add(msg(false, append(good, good...)))
	f.Add(msg(false, []byte{0x01, 0, 0, 0, 1, 0xc0}))
	f.Add(msg(false, []byte{0x00, 0xff, 0xff, 0xff, 0xff}))
	f.Add(append(msg(false, []byte{0x80, 0, 0, 0, 0}), msg(false, good)...))
	f.Add(msg(false, []byte{0x00, 0, 0, 0, 3, 0x81}))
	f.Add(msg(false, []byte{0x00, 0, 0, 0, 2, 0xde, 0xad}))

	f.Fuzz(func(t *testing.T, in []byte) {
		e := newEnv(t, false, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		w, _, err := e.dialWS(ctx, "/test.Echo/Chat", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		for len(in) >= 2 {
			n := binary.BigEndian.Uint16(in)
			typ := websocket.MessageBinary
			if n&0x8000 != 0 {
				typ = websocket.MessageText
			}
			n &= 0x7fff
			in = in[2:]
			b := in[:min(int(n), len(in))]
			in = in[len(b):]
			if err := w.c.Write(ctx, typ, b); err != nil {
				break // the server has closed
			}
		}
		_ = w.closeSend(ctx)
		for {
			_, b, err := w.c.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					t.Fatal("the call did not end")
				}
				break
			}
			if len(b) > 0 && b[0] == wire.FlagTrailers {
				if _, _, p, ok, err := wire.ParseWebFrame(b, -1); !ok || err != nil {
					t.Fatalf("bad trailers frame %x", b)
				} else if h, err := wire.ParseHeaderBlock(p); err != nil || len(h["grpc-status"]) != 1 {
					t.Fatalf("trailers %q: %v", p, err)
				}
			}
		}
		w.c.CloseNow()
		// The server still serves.
		w2, _, err := e.dialWS(ctx, "/test.Echo/Sum", nil, "")
		if err != nil {
			t.Fatal(err)
		}
		_ = w2.closeSend(ctx)
		if _, tr := w2.trailers(ctx); tr["grpc-status"][0] != "0" {
			t.Fatalf("next call: %v", tr)
		}
	})
}

// FuzzGRPCWebCall posts arbitrary bodies as gRPC-Web calls, binary and
// text: every answer is well-formed gRPC-Web with a status, and the server
// goes on serving.
func FuzzGRPCWebCall(f *testing.F) {
	f.Add(frame(f, 0, Line{Text: "a"}), false)
	f.Add(frame(f, 0, Line{Text: "a"}), true)
	f.Add([]byte{0x80, 0, 0, 0, 0}, false)
	f.Add([]byte{0, 0, 0, 0, 9, 1}, false)
	f.Add(append(frame(f, 0, Line{}), frame(f, 0, Line{})...), false)
	f.Add([]byte("not base64!"), true)
	f.Fuzz(func(t *testing.T, body []byte, text bool) {
		e := newEnv(t, false, nil)
		ct := "application/grpc-web+msgpack"
		if text {
			ct = "application/grpc-web-text+msgpack"
		}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.base+"/test.Echo/Unary", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("HTTP %d, %v", resp.StatusCode, err)
		}
		if resp.Header.Get("Grpc-Status") != "" {
			if len(raw) != 0 {
				t.Fatalf("a trailers-only response with a body: %q", raw)
			}
		} else {
			if text {
				dec, n, err := wire.DecodeBase64Chunks(nil, raw)
				if err != nil || n != len(raw) {
					t.Fatalf("response text %q: %v", raw, err)
				}
				raw = dec
			}
			var trailers map[string][]string
			for len(raw) > 0 && trailers == nil {
				rest, flag, p, ok, err := wire.ParseWebFrame(raw, -1)
				if err != nil || !ok {
					t.Fatalf("response body %x: %v", raw, err)
				}
				raw = rest
				if flag == wire.FlagTrailers {
					if trailers, err = wire.ParseHeaderBlock(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(trailers["grpc-status"]) != 1 || len(raw) != 0 {
				t.Fatalf("trailers %v, %d bytes after them", trailers, len(raw))
			}
		}
		r, err := e.grpcWeb(t.Context(), "/test.Echo/Unary", "application/grpc-web+msgpack", frame(t, 0, Line{Text: "x"}), nil)
		if err != nil || r.grpcStatus() != "0" {
			t.Fatalf("next call: %+v %v", r, err)
		}
	})
}
