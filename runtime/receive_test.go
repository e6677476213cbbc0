package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestPartialMessageMemory: the memory held for a message being received
// grows with the bytes that arrived, not with the length its prefix
// announces. 200 streams each announce a message just under the receive
// limit (4 MiB) and send 16 bytes of it: allocating the announced length up
// front would hold 800 MiB. Half are unary calls (read on the stream's
// goroutine), half bidi (read by the inbound decoder).
func TestPartialMessageMemory(t *testing.T) { forEachImpl(t, testPartialMessageMemory) }

// testPartialMessageMemory is TestPartialMessageMemory over tr.
func testPartialMessageMemory(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{})
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
	h := dialH2(t, e.addr)
	heapBefore := heapInUse()

	const streams = 200
	partial := append(prefix(0, prt.DefaultMaxRecvMsgSize-1), make([]byte, 16)...)
	for i := 0; i < streams; i++ {
		path := mUnary
		if i%2 == 1 {
			path = mBidi
		}
		id := h.newStream()
		h.check(h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.encode(grpcFields(path)), EndHeaders: true}))
		h.check(h.fr.WriteData(id, false, partial))
	}
	h.flush()

	// A good call after them on the same connection: the server handles
	// a connection's frames in order, so every partial message has been
	// delivered to its stream by the time this one is answered.
	id := h.newStream()
	h.writeHeaders(id, false, grpcFields(mUnary)...)
	h.writeData(id, true, frame(0, msgpackMsg))
	if r := h.await(id); r.field("grpc-status") != "0" {
		t.Fatalf("a good call on the same connection: %v", r)
	}
	// Their readers (a unary call's goroutine, x/net's body reader) run on
	// their own goroutines: sample the heap for a while and keep the peak.
	var heapPeak uint64
	for i := 0; i < 5; i++ {
		time.Sleep(50 * time.Millisecond)
		heapPeak = max(heapPeak, heapInUse())
	}
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "still here"}); err != nil {
		t.Fatalf("a good call on another connection: %v", err)
	}
	grown := int64(heapPeak) - int64(heapBefore)
	const limit = 64 << 20
	if grown > limit {
		t.Errorf("the heap grew by %d MiB for %d partial messages of 16 bytes (limit %d MiB)", grown>>20, streams, limit>>20)
	}
	t.Logf("%d streams announcing %d bytes and sending 16: heap %d → %d KiB (%+d KiB)",
		streams, prt.DefaultMaxRecvMsgSize-1, heapBefore>>10, heapPeak>>10, grown>>10)
	h.c.Close()
}

const (
	mOneUnary  = "/test.One/Unary"        // unary: counts the handler's runs
	mOneServer = "/test.One/ServerStream" // server stream: counts the handler's runs, sends one response
)

// TestExtraRequestMessages: a unary or server-streaming request carries
// exactly one message. A second one (or any byte after the first) fails
// the call with INTERNAL, as grpc-go does ("cardinality violation"), and
// the handler does not run: like grpc-go, the server waits for the
// request's END_STREAM before running it.
func TestExtraRequestMessages(t *testing.T) { forEachImpl(t, testExtraRequestMessages) }

// testExtraRequestMessages is TestExtraRequestMessages over tr.
func testExtraRequestMessages(t *testing.T, tr transport) {
	var unaryRuns, serverRuns atomic.Int64
	register := func(s *prt.Server) {
		prt.HandleUnary(s, mOneUnary, func(ctx context.Context, req *Msg) (*Msg, error) {
			unaryRuns.Add(1)
			return req, nil
		})
		prt.HandleServerStream(s, mOneServer, func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
			serverRuns.Add(1)
			return call.Send(req)
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	msg := frame(0, msgpackMsg)
	two := append(append([]byte{}, msg...), msg...)
	cases := []struct {
		name   string
		frames [][]byte // DATA frames; END_STREAM on the last unless open
		open   bool     // the client never half-closes
		ok     bool     // one message: the call succeeds
	}{
		{"one message", [][]byte{msg}, false, true},
		{"one message, END_STREAM on an empty DATA frame", [][]byte{msg, nil}, false, true},
		{"two messages in one DATA frame", [][]byte{two}, false, false},
		{"two messages in two DATA frames", [][]byte{msg, msg}, false, false},
		{"two messages, no END_STREAM", [][]byte{msg, msg}, true, false},
		{"a message and a partial prefix", [][]byte{append(append([]byte{}, msg...), 0, 0)}, false, false},
		{"a message and an empty one", [][]byte{append(append([]byte{}, msg...), frame(0, nil)...)}, false, false},
	}
	for _, m := range []struct {
		path string
		runs *atomic.Int64
	}{{mOneUnary, &unaryRuns}, {mOneServer, &serverRuns}} {
		for _, tc := range cases {
			t.Run(strings.TrimPrefix(m.path, "/test.One/")+"/"+tc.name, func(t *testing.T) {
				before := m.runs.Load()
				h := dialH2(t, e.addr)
				id := h.newStream()
				h.writeHeaders(id, false, grpcFields(m.path)...)
				for i, f := range tc.frames {
					h.check(h.fr.WriteData(id, !tc.open && i == len(tc.frames)-1, f))
				}
				h.flush()
				r := h.await(id)
				status, message := r.field("grpc-status"), r.field("grpc-message")
				ran := m.runs.Load() - before
				if tc.ok {
					if status != "0" || ran != 1 {
						t.Fatalf("got %v (handler ran %d times), want OK", r, ran)
					}
					return
				}
				if status != fmt.Sprint(uint32(wire.Internal)) || !strings.Contains(message, "cardinality violation") {
					t.Fatalf("got %v, want grpc-status %d (INTERNAL) with a cardinality violation", r, wire.Internal)
				}
				if ran != 0 {
					t.Fatalf("the handler ran %d times", ran)
				}
				if len(r.data) != 0 {
					t.Fatalf("got %d bytes of responses", len(r.data))
				}
				t.Logf("%s: %s", status, message)
			})
		}
	}
}

// TestExtraResponseMessages: a unary or client-streaming call's response
// carries exactly one message. A server that sends a second one (here, one
// that streams until the client goes) fails the call with INTERNAL at that
// message, as grpc-go does, and the stream is reset: the caller does not
// wait for a server that may never end, and the server's handler sees its
// context end.
func TestExtraResponseMessages(t *testing.T) { forEachImpl(t, testExtraResponseMessages) }

// testExtraResponseMessages is TestExtraResponseMessages over tr.
func testExtraResponseMessages(t *testing.T, tr transport) {
	const method = "/test.Many/Responses"
	ended := make(chan error, 2)
	e := newEnv(t, tr, func(s *prt.Server) {
		prt.HandleBidi(s, method, func(call *prt.ServerCall[Msg, Msg]) error {
			if _, err := call.Recv(); err != nil {
				return err
			}
			stop := time.After(10 * time.Second) // bounds the test if the client never goes
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					ended <- nil
					return nil
				default:
				}
				if err := call.Send(&Msg{N: i}); err != nil {
					// The reset may fail a Send a moment before the
					// context says so: wait for it, boundedly.
					select {
					case <-call.Context().Done():
						ended <- call.Context().Err()
					case <-time.After(5 * time.Second):
						ended <- nil
					}
					return err
				}
			}
		})
	}, envOpts{})
	calls := map[string]func(ctx context.Context) error{
		"unary": func(ctx context.Context) error {
			_, err := prt.CallUnary[Msg, Msg](ctx, e.client, method, &Msg{})
			return err
		},
		"client stream": func(ctx context.Context) error {
			call, err := prt.OpenClientStream[Msg, Msg](ctx, e.client, method)
			if err != nil {
				return err
			}
			if err := call.Send(&Msg{}); err != nil {
				return err
			}
			_, err = call.CloseAndRecv()
			return err
		},
	}
	for _, name := range []string{"unary", "client stream"} {
		start := time.Now()
		err := calls[name](testCtx(t))
		we := wantCode(t, err, wire.Internal)
		if !strings.Contains(we.Message(), "cardinality violation") {
			t.Errorf("%s: %v, want a cardinality violation", name, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: the call returned after %v: it waited for the server's end", name, took)
		}
		select {
		case err := <-ended:
			if err == nil {
				t.Errorf("%s: the server's handler streamed on, its call not reset", name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the server's handler never ended", name)
		}
	}
}
