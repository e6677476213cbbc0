package web

import (
	"bytes"
	"encoding/base64"
	"io"
	"testing"

	"github.com/coder/websocket"

	"github.com/parleyrpc/parley/wire"
)

// FuzzReadFrame feeds readFrame one WebSocket message: it returns a whole
// message frame, the half-close, or an error (RESOURCE_EXHAUSTED when over
// the limit), and never more than one frame.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 0x81, 0xa0}, 10)
	f.Add([]byte{0x80, 0, 0, 0, 0}, 10)
	f.Add([]byte{0x80, 0, 0, 0, 1, 'x'}, 10)
	f.Add([]byte{0x40, 0, 0, 0, 0}, 10)
	f.Add([]byte{0, 0, 0, 1, 0}, 10)
	f.Add([]byte{0, 0, 0, 0, 1, 'a', 'b'}, 10)
	f.Fuzz(func(t *testing.T, msg []byte, max int) {
		if max < 0 {
			max = -max
		}
		frame, err := readFrame(websocket.MessageBinary, bytes.NewReader(msg), max)
		if len(msg) >= wire.PrefixLen && msg[0]&^wire.FlagCompressed == 0 &&
			int64(uint32(msg[1])<<24|uint32(msg[2])<<16|uint32(msg[3])<<8|uint32(msg[4])) > int64(max) {
			if wire.CodeOf(err) != wire.ResourceExhausted {
				t.Fatalf("oversized message %x: %v, want RESOURCE_EXHAUSTED", msg, err)
			}
			return
		}
		if err != nil {
			return
		}
		switch {
		case len(frame) == 0: // half-close
			if !bytes.Equal(msg, []byte{wire.FlagTrailers, 0, 0, 0, 0}) {
				t.Fatalf("half-close from %x", msg)
			}
		default:
			rest, flag, _, ok, err := wire.ParseWebFrame(frame, max)
			if err != nil || !ok || len(rest) != 0 || flag&^wire.FlagCompressed != 0 || !bytes.Equal(frame, msg) {
				t.Fatalf("frame %x from message %x: %v", frame, msg, err)
			}
		}
	})
}

// FuzzBase64Reader reads a "-text" body through base64Reader, in reads of
// every size, and checks it against wire.DecodeBase64Chunks.
func FuzzBase64Reader(f *testing.F) {
	f.Add([]byte("AAAAAAA=gAAAAA9ncnBjLXN0YXR1czogMA0K"), 3)
	f.Add([]byte("YQ==YWI"), 1)
	f.Add([]byte(base64.StdEncoding.EncodeToString([]byte("hello, world"))), 7)
	f.Fuzz(func(t *testing.T, text []byte, chunk int) {
		if chunk <= 0 || chunk > 64 {
			chunk = 5
		}
		want, n, werr := wire.DecodeBase64Chunks(nil, text)
		got, err := io.ReadAll(&base64Reader{r: &chunkReader{b: text, n: chunk}})
		if (werr != nil || n != len(text)) != (err != nil) {
			t.Fatalf("reader err %v; decoder err %v, used %d of %d", err, werr, n, len(text))
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("reader %x, decoder %x", got, want)
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}
