package runtime_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// xorComp is a trivial custom compressor: it flips every byte, and counts
// its uses.
type xorComp struct{ compressed, decompressed atomic.Int64 }

func (*xorComp) Name() string { return "x-xor" }

func (c *xorComp) Compress(dst, src []byte) ([]byte, error) {
	c.compressed.Add(1)
	for _, b := range src {
		dst = append(dst, b^0x5a)
	}
	return dst, nil
}

func (c *xorComp) Decompress(dst, src []byte, max int) ([]byte, error) {
	c.decompressed.Add(1)
	if max >= 0 && len(src) > max {
		return dst, &wire.SizeError{Size: len(src), Max: max}
	}
	for _, b := range src {
		dst = append(dst, b^0x5a)
	}
	return dst, nil
}

// fixedComp is a compressor that sends the same bytes whatever it is given:
// a way to put hostile frames on the wire.
type fixedComp struct {
	name string
	out  []byte
}

func (c fixedComp) Name() string { return c.name }
func (c fixedComp) Compress(dst, _ []byte) ([]byte, error) {
	return append(dst, c.out...), nil
}
func (c fixedComp) Decompress(dst, src []byte, max int) ([]byte, error) {
	return wire.Zstd.Decompress(dst, src, max)
}

// wireSizes records whether each message was compressed on the wire: a
// message sent uncompressed is its length plus the 5-byte prefix.
type wireSizes struct {
	mu         sync.Mutex
	compressed map[string][]bool // "client received", "server received"
}

func (w *wireSizes) HandleStats(_ context.Context, ev prt.StatsEvent) {
	if ev, ok := ev.(*prt.MsgReceived); ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		k := "server received"
		if ev.Client {
			k = "client received"
		}
		if w.compressed == nil {
			w.compressed = map[string][]bool{}
		}
		w.compressed[k] = append(w.compressed[k], ev.WireLength != ev.Length+wire.PrefixLen)
	}
}

func (w *wireSizes) take() map[string][]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.compressed
	w.compressed = nil
	return c
}

// registerEncodings adds the echo methods and one that reports the
// request's grpc-encoding.
func registerEncodings(s *prt.Server) {
	registerEcho(s)
	prt.HandleUnary(s, "/test.Echo/Encoding", func(ctx context.Context, req *Msg) (*Msg, error) {
		if req.Text != "" {
			if err := prt.SetCompressor(ctx, req.Text); err != nil {
				return nil, err
			}
		}
		return &Msg{Text: prt.RequestCompressor(ctx), Data: req.Data}, nil
	})
}

// TestCompressors: zstd and a custom compressor, unary and streaming both
// ways, the server answering in kind.
func TestCompressors(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport) {
		xor := &xorComp{}
		var sizes wireSizes
		e := newEnv(t, tr, registerEncodings, envOpts{
			server: []prt.ServerOption{prt.WithCompressor(xor), prt.WithStatsHandler(&sizes)},
			dial:   []prt.DialOption{prt.WithCompressor(xor), prt.WithStatsHandler(&sizes)},
		})
		ctx := testCtx(t)
		text := strings.Repeat("compressible ", 1000)
		for _, name := range []string{"zstd", "x-xor", "gzip"} {
			res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Text: text}, prt.UseCompressor(name))
			if err != nil || res.Text != "echo: "+text {
				t.Fatalf("%s unary: %v", name, err)
			}
			res, err = prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Echo/Encoding", &Msg{}, prt.UseCompressor(name))
			if err != nil || res.Text != name {
				t.Fatalf("%s: the server saw %v, %v", name, res, err)
			}
			call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi, prt.UseCompressor(name))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				_ = call.Send(&Msg{Text: text, N: int64(i)})
				m, err := call.Recv()
				if err != nil || m.Text != "pong: "+text {
					t.Fatalf("%s stream message %d: %v", name, i, err)
				}
			}
			call.CloseSend()
			if _, err := recvAll(t, call); err != nil {
				t.Fatal(err)
			}
			// Every message went compressed, both ways (x-xor keeps
			// the size, so its counters tell instead).
			got := sizes.take()
			if name == "x-xor" {
				continue
			}
			for k, cs := range got {
				for i, c := range cs {
					if !c {
						t.Errorf("%s: %s message %d uncompressed", name, k, i)
					}
				}
			}
		}
		if xor.compressed.Load() < 12 || xor.decompressed.Load() < 12 {
			t.Errorf("custom compressor used %d/%d times", xor.compressed.Load(), xor.decompressed.Load())
		}
		// The server may choose another encoding the client accepts.
		if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Echo/Encoding", &Msg{Text: "zstd", Data: []byte(text)}, prt.UseCompressor("gzip")); err != nil {
			t.Fatal(err)
		}
		if got := sizes.take(); len(got["client received"]) != 1 || !got["client received"][0] {
			t.Errorf("SetCompressor(zstd): %v", got)
		}
		_, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Echo/Encoding", &Msg{Text: "brotli"})
		wantCode(t, err, wire.Internal)
	})
}

// TestCompressorUnknown: a request in an encoding the server lacks fails
// with UNIMPLEMENTED naming the ones it has; a server without zstd does not
// answer in it.
func TestCompressorUnknown(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEncodings, envOpts{dial: []prt.DialOption{prt.WithCompressor(&xorComp{})}})
		_, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "x"}, prt.UseCompressor("x-xor"))
		wantCode(t, err, wire.Unimplemented)
		if msg := wire.AsError(err).Message(); !strings.Contains(msg, `"x-xor"`) || !strings.Contains(msg, "gzip,zstd") {
			t.Errorf("message %q", msg)
		}
		_, err = prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}, prt.UseCompressor("snappy"))
		wantCode(t, err, wire.Internal)
	})
}

// TestCompressMinBytes: messages below the minimum go uncompressed (flag
// 0) on a compressing call, larger ones compressed, both ways.
func TestCompressMinBytes(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		var sizes wireSizes
		e := newEnv(t, tr, registerEcho, envOpts{
			server: []prt.ServerOption{prt.CompressMinBytes(1024), prt.WithStatsHandler(&sizes)},
			dial:   []prt.DialOption{prt.CompressMinBytes(1024), prt.WithStatsHandler(&sizes)},
		})
		ctx := testCtx(t)
		call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi, prt.UseCompressor("zstd"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{10, 2000, 100, 5000} {
			_ = call.Send(&Msg{Text: strings.Repeat("a", n)})
			if _, err := call.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		call.CloseSend()
		if _, err := recvAll(t, call); err != nil {
			t.Fatal(err)
		}
		want := "[false true false true]"
		all := sizes.take()
		for _, k := range []string{"client received", "server received"} {
			if got := all[k]; fmtBools(got) != want {
				t.Errorf("%s compressed: %v, want %s", k, got, want)
			}
		}
	})
}

func fmtBools(b []bool) string {
	var s []string
	for _, v := range b {
		if v {
			s = append(s, "true")
		} else {
			s = append(s, "false")
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestZstdBombCall: a small zstd message inflating past MaxRecvMsgSize
// fails with RESOURCE_EXHAUSTED, and costs the server about the limit.
func TestZstdBombCall(t *testing.T) {
	declared := wire.Zstd
	bomb, _ := declared.Compress(nil, make([]byte, 64<<20))
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf, zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
	w.Write(make([]byte, 64<<20))
	w.Close()
	undeclared := buf.Bytes()
	forEachImpl(t, func(t *testing.T, tr transport) {
		for name, b := range map[string][]byte{"declared": bomb, "undeclared": undeclared} {
			e := newEnv(t, tr, registerEcho, envOpts{
				server: []prt.ServerOption{prt.MaxRecvMsgSize(1 << 20)},
				dial:   []prt.DialOption{prt.WithCompressor(fixedComp{"zstd", b})},
			})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}, prt.UseCompressor("zstd"))
			runtime.ReadMemStats(&after)
			wantCode(t, err, wire.ResourceExhausted)
			n := after.TotalAlloc - before.TotalAlloc
			t.Logf("%s bomb: %d bytes inflating to 64 MiB, max 1 MiB: %d bytes allocated by the call", name, len(b), n)
			if n > 16<<20 {
				t.Errorf("%s bomb allocated %d bytes", name, n)
			}
		}
	})
}
