package web_test

import (
	"context"
	"encoding/binary"
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
