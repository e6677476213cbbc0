package runtime_test

import (
	"bytes"
	"context"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

const (
	mDeepUnary = "/test.Deep/Unary" // unary: echoes the request
	mDeepBidi  = "/test.Deep/Bidi"  // bidi: echoes each request
)

// Deep is a message whose field x holds raw msgpack: the sender writes it
// as given, so a test can send any nesting, and the receiver's codec
// checks it like any other message.
type Deep struct {
	X msgpack.RawMessage `msgpack:"x,omitempty"`
}

// deepMsg returns a Deep nested levels deep in all: its own map is level
// 1, and x holds levels-1 one-element arrays around nil.
func deepMsg(levels int) *Deep {
	return &Deep{X: append(bytes.Repeat([]byte{0x91}, levels-1), 0xc0)}
}

// registerDeep adds the echo methods and the Deep methods.
func registerDeep(s *prt.Server) {
	registerEcho(s)
	prt.HandleUnary(s, mDeepUnary, func(ctx context.Context, req *Deep) (*Deep, error) {
		return req, nil
	})
	prt.HandleBidi(s, mDeepBidi, func(call *prt.ServerCall[Deep, Deep]) error {
		for {
			m, err := call.Recv()
			if err != nil {
				if err == errEOF {
					return nil
				}
				return err
			}
			if err := call.Send(m); err != nil {
				return err
			}
		}
	})
}

// deepBidi sends req on a new Deep bidi call, half-closes, and returns the
// first response or the call's error.
func deepBidi(ctx context.Context, t *testing.T, c *prt.Client, req *Deep, opts ...prt.CallOption) (*Deep, error) {
	t.Helper()
	call, err := prt.Open[Deep, Deep](ctx, c, mDeepBidi, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// Send and CloseSend may fail once the server has ended the call;
	// Recv reports why.
	_ = call.Send(req)
	_ = call.CloseSend()
	res, err := call.Recv()
	if err != nil {
		return nil, err
	}
	if _, err := recvAll(t, call); err != nil {
		return nil, err
	}
	return res, nil
}

// wantTooDeep fails the test unless err is INTERNAL for a message nested
// too deeply, sent by the server (fromServer) or made by the client.
func wantTooDeep(t *testing.T, err error, fromServer bool) {
	t.Helper()
	we := wantCode(t, err, wire.Internal)
	if !strings.Contains(we.Message(), "nested too deeply") {
		t.Errorf("message %q does not say the message nests too deeply", we.Message())
	}
	if we.IsWire() != fromServer {
		t.Errorf("IsWire() = %v, want %v: %v", we.IsWire(), fromServer, err)
	}
}

// TestMsgpackDepthLimit: a request nested a million levels deep, a 1 KB
// gzip frame, fails with INTERNAL on unary and streaming calls, and the
// server goes on serving. So does the 4 MiB, four-million-level one that
// overflowed the decoder's stack and crashed the server, and it costs
// the process little memory.
func TestMsgpackDepthLimit(t *testing.T) { forEachImpl(t, testMsgpackDepthLimit) }

// testMsgpackDepthLimit is TestMsgpackDepthLimit over tr.
func testMsgpackDepthLimit(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerDeep, envOpts{})
	ctx := testCtx(t)
	gzip := prt.UseCompressor("gzip")
	stillServing := func(t *testing.T) {
		t.Helper()
		if res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Text: "hi"}); err != nil || res.Text != "echo: hi" {
			t.Fatalf("good call afterwards: %v, %v", res, err)
		}
		ok := deepMsg(wire.DefaultMaxMsgpackDepth)
		if res, err := prt.CallUnary[Deep, Deep](ctx, e.client, mDeepUnary, ok, gzip); err != nil || !bytes.Equal(res.X, ok.X) {
			t.Fatalf("a message at the limit afterwards: %v", err)
		}
		if res, err := deepBidi(ctx, t, e.client, ok, gzip); err != nil || !bytes.Equal(res.X, ok.X) {
			t.Fatalf("a streamed message at the limit afterwards: %v", err)
		}
	}

	t.Run("one over the limit", func(t *testing.T) {
		_, err := prt.CallUnary[Deep, Deep](ctx, e.client, mDeepUnary, deepMsg(wire.DefaultMaxMsgpackDepth+1))
		wantTooDeep(t, err, true)
		_, err = deepBidi(ctx, t, e.client, deepMsg(wire.DefaultMaxMsgpackDepth+1))
		wantTooDeep(t, err, true)
		stillServing(t)
	})

	t.Run("a million levels", func(t *testing.T) {
		req := deepMsg(1_000_000)
		_, err := prt.CallUnary[Deep, Deep](ctx, e.client, mDeepUnary, req, gzip)
		wantTooDeep(t, err, true)
		_, err = deepBidi(ctx, t, e.client, req, gzip)
		wantTooDeep(t, err, true)
		stillServing(t)
	})

	t.Run("4 MiB of nesting", func(t *testing.T) {
		// 3 bytes of map and key, the arrays, nil: just under 4 MiB, the
		// default receive limit, once inflated.
		req := deepMsg(4<<20 - 4)
		if b, _ := wire.Msgpack.Marshal(req); len(b) > prt.DefaultMaxRecvMsgSize {
			t.Fatalf("test bug: the message is %d bytes, over the receive limit", len(b))
		}
		var before, after goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&before)
		_, err := prt.CallUnary[Deep, Deep](ctx, e.client, mDeepUnary, req, gzip)
		goruntime.ReadMemStats(&after)
		wantTooDeep(t, err, true)
		allocated := after.TotalAlloc - before.TotalAlloc
		sysGrowth := int64(after.Sys) - int64(before.Sys)
		t.Logf("client and server together: allocated %.1f MB, memory from the OS %+.1f MB, stacks in use %.1f MB",
			float64(allocated)/1e6, float64(sysGrowth)/1e6, float64(after.StackInuse)/1e6)
		// The client encodes the 4 MiB message and the server inflates
		// it, a few copies in all; decoding, which used to recurse four
		// million times, never starts.
		if allocated > 64<<20 {
			t.Errorf("the call allocated %d bytes", allocated)
		}
		if sysGrowth > 128<<20 {
			t.Errorf("the process took %d more bytes from the OS", sysGrowth)
		}
		stillServing(t)
	})
}

// TestMaxRecvMsgDepth: the option lowers and raises the limit on the
// server, which then rejects or accepts requests, and on the client, which
// then rejects or accepts responses, on unary and streaming calls.
func TestMaxRecvMsgDepth(t *testing.T) { forEachImpl(t, testMaxRecvMsgDepth) }

// testMaxRecvMsgDepth is TestMaxRecvMsgDepth over tr.
func testMaxRecvMsgDepth(t *testing.T, tr transport) {
	ctx := testCtx(t)
	const high = 3 * wire.DefaultMaxMsgpackDepth
	// roundTrip makes a unary and a bidi call echoing req, and checks
	// both succeed, or both fail as too deep, from the server or not.
	roundTrip := func(t *testing.T, c *prt.Client, req *Deep, wantErr, fromServer bool) {
		t.Helper()
		res, err := prt.CallUnary[Deep, Deep](ctx, c, mDeepUnary, req)
		res2, err2 := deepBidi(ctx, t, c, req)
		if !wantErr {
			if err != nil || !bytes.Equal(res.X, req.X) {
				t.Fatalf("unary: %v", err)
			}
			if err2 != nil || !bytes.Equal(res2.X, req.X) {
				t.Fatalf("bidi: %v", err2)
			}
			return
		}
		wantTooDeep(t, err, fromServer)
		wantTooDeep(t, err2, fromServer)
	}

	t.Run("server lowered", func(t *testing.T) {
		e := newEnv(t, tr, registerDeep, envOpts{server: []prt.ServerOption{prt.MaxRecvMsgDepth(5)}})
		roundTrip(t, e.client, deepMsg(5), false, false)
		roundTrip(t, e.client, deepMsg(6), true, true)
	})
	t.Run("server raised, client default", func(t *testing.T) {
		e := newEnv(t, tr, registerDeep, envOpts{server: []prt.ServerOption{prt.MaxRecvMsgDepth(high)}})
		// The server accepts the request and echoes it; the client
		// rejects the response.
		roundTrip(t, e.client, deepMsg(wire.DefaultMaxMsgpackDepth), false, false)
		roundTrip(t, e.client, deepMsg(high), true, false)
	})
	t.Run("both raised", func(t *testing.T) {
		e := newEnv(t, tr, registerDeep, envOpts{
			server: []prt.ServerOption{prt.MaxRecvMsgDepth(high)},
			dial:   []prt.DialOption{prt.MaxRecvMsgDepth(high)},
		})
		roundTrip(t, e.client, deepMsg(high), false, false)
		roundTrip(t, e.client, deepMsg(high+1), true, true)
	})
	t.Run("client lowered", func(t *testing.T) {
		e := newEnv(t, tr, registerDeep, envOpts{dial: []prt.DialOption{prt.MaxRecvMsgDepth(5)}})
		roundTrip(t, e.client, deepMsg(5), false, false)
		roundTrip(t, e.client, deepMsg(6), true, false)
		// The limit is on what the client receives, not on what it sends.
		if _, err := prt.CallUnary[Deep, Msg](ctx, e.client, mUnary, deepMsg(100)); err != nil {
			t.Fatalf("sending a deep request: %v", err)
		}
	})
	t.Run("zero means the default", func(t *testing.T) {
		e := newEnv(t, tr, registerDeep, envOpts{
			server: []prt.ServerOption{prt.MaxRecvMsgDepth(0)},
			dial:   []prt.DialOption{prt.MaxRecvMsgDepth(-1)},
		})
		roundTrip(t, e.client, deepMsg(wire.DefaultMaxMsgpackDepth), false, false)
		roundTrip(t, e.client, deepMsg(wire.DefaultMaxMsgpackDepth+1), true, true)
	})
	t.Run("a later WithCodec replaces it", func(t *testing.T) {
		e := newEnv(t, tr, registerDeep, envOpts{
			server: []prt.ServerOption{prt.MaxRecvMsgDepth(5), prt.WithCodec(wire.NewMsgpack(wire.MsgpackOptions{MaxDepth: 7}))},
			dial:   []prt.DialOption{prt.WithCodec(wire.NewMsgpack(wire.MsgpackOptions{MaxDepth: 7})), prt.MaxRecvMsgDepth(6)},
		})
		roundTrip(t, e.client, deepMsg(6), false, false)
		roundTrip(t, e.client, deepMsg(7), true, false)
		roundTrip(t, e.client, deepMsg(8), true, true)
	})
}
