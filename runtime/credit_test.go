package runtime_test

import (
	"context"
	"testing"

	"golang.org/x/net/http2"

	prt "github.com/parleyrpc/parley/runtime"
)

// windowedConn is an h2conn that sends request bodies as a well-behaved
// client does: within the server's connection and stream windows, waiting
// for WINDOW_UPDATEs as it goes. A server that never gives the credit back
// makes it fail at the connection's deadline instead of being cut off.
type windowedConn struct {
	*h2conn
	connWin   int64
	streamWin map[uint32]int64
	initWin   int64
	results   map[uint32]*rawResult // what each stream got, once it ended
	pong      bool                  // a PING ACK was read
}

func newWindowedConn(t *testing.T, addr string) *windowedConn {
	return &windowedConn{h2conn: dialH2(t, addr), connWin: 65535, initWin: 65535,
		streamWin: map[uint32]int64{}, results: map[uint32]*rawResult{}}
}

// read reads one frame, accounting windows and recording how streams end.
func (w *windowedConn) read() {
	w.t.Helper()
	f, err := w.fr.ReadFrame()
	if err != nil {
		w.t.Fatalf("reading a frame (is the server crediting the connection window?): %v", err)
	}
	res := func(id uint32) *rawResult {
		r := w.results[id]
		if r == nil {
			r = &rawResult{}
			w.results[id] = r
		}
		return r
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				w.initWin = int64(v)
			}
			w.check(w.fr.WriteSettingsAck())
			w.flush()
		}
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			w.connWin += int64(f.Increment)
		} else if _, ok := w.streamWin[f.StreamID]; ok {
			w.streamWin[f.StreamID] += int64(f.Increment)
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			w.check(w.fr.WritePing(true, f.Data))
			w.flush()
		} else {
			w.pong = true
		}
	case *http2.GoAwayFrame:
		w.t.Fatalf("GOAWAY(%v) %q", f.ErrCode, f.DebugData())
	case *http2.RSTStreamFrame:
		r := res(f.StreamID)
		r.rst, r.rstCode, r.ended = true, f.ErrCode, true
	case *http2.MetaHeadersFrame:
		r := res(f.StreamID)
		if r.header == nil {
			r.header = f.Fields
		} else {
			r.trailer = f.Fields
		}
		r.ended = r.ended || f.StreamEnded()
	case *http2.DataFrame:
		r := res(f.StreamID)
		r.data = append(r.data, f.Data()...)
		r.ended = r.ended || f.StreamEnded()
	}
}

// open sends a request's HEADERS.
func (w *windowedConn) open(end bool, fields ...string) uint32 {
	id := w.newStream()
	w.streamWin[id] = w.initWin
	w.writeHeaders(id, end, fields...)
	return id
}

// send sends b on id within the windows.
func (w *windowedConn) send(id uint32, end bool, b []byte) {
	w.t.Helper()
	for {
		for w.connWin <= 0 || w.streamWin[id] <= 0 {
			if r := w.results[id]; r != nil && r.rst {
				return // the server reset the stream: nothing more to send
			}
			w.read()
		}
		n := min(int64(len(b)), w.connWin, w.streamWin[id], 16<<10)
		last := int(n) == len(b)
		w.check(w.fr.WriteData(id, end && last, b[:n]))
		w.flush()
		w.connWin -= n
		w.streamWin[id] -= n
		b = b[n:]
		if last {
			return
		}
	}
}

// pingPong sends a PING and reads until its ACK: the server has then read
// every frame sent before it.
func (w *windowedConn) pingPong() {
	w.t.Helper()
	w.pong = false
	w.check(w.fr.WritePing(false, [8]byte{'c', 'r', 'e', 'd', 'i', 't'}))
	w.flush()
	for !w.pong {
		w.read()
	}
}

// await reads until stream id has ended.
func (w *windowedConn) await(id uint32) rawResult {
	w.t.Helper()
	for w.results[id] == nil || !w.results[id].ended {
		w.read()
	}
	return *w.results[id]
}

// TestEarlyRejectionsCredit: every way a call can end without its
// request body being read gives the body's bytes back to the connection
// window. Many requests of 60 KB each, on one connection whose windows are
// the smallest HTTP/2 has (the connection's buffer budget is four of
// them), are refused one after the other, with the body arriving before
// and after the answer; the connection must then still carry a call. The
// framer transport used to stall (a well-behaved client) or send
// GOAWAY(FLOW_CONTROL_ERROR) after about a connection window's worth.
func TestEarlyRejectionsCredit(t *testing.T) { forEachImpl(t, testEarlyRejectionsCredit) }

func testEarlyRejectionsCredit(t *testing.T, tr transport) {
	release, started := make(chan struct{}), make(chan struct{})
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Credit/Unary", func(ctx context.Context, m *Msg) (*Msg, error) { return m, nil })
		prt.HandleUnary(s, "/test.Credit/Fail", func(ctx context.Context, m *Msg) (*Msg, error) {
			return nil, context.Canceled
		})
		prt.HandleBidi(s, "/test.Credit/FailAtOnce", func(call *prt.ServerCall[Msg, Msg]) error {
			return context.Canceled // without reading anything
		})
		prt.HandleBidi(s, "/test.Credit/Stuck", func(call *prt.ServerCall[Msg, Msg]) error {
			started <- struct{}{}
			<-release // ignores its context: holds the one handler slot
			return nil
		})
		prt.HandleBidi(s, "/test.Credit/Wait", func(call *prt.ServerCall[Msg, Msg]) error {
			<-call.Context().Done() // never reads
			return call.Context().Err()
		})
	}
	e := newEnv(t, tr, register, envOpts{server: []prt.ServerOption{
		prt.InitialWindowSize(65535), prt.InitialConnWindowSize(65535),
		// One handler at a time: a request that arrives while the one
		// handler is busy waits, with its body buffered, which forces the
		// body to arrive before the answer.
		prt.MaxConcurrentStreams(1),
		prt.WithKeepaliveEnforcement(0, true), // the test's PINGs are no flood
	}})
	body := make([]byte, 60_000)
	copy(body, frame(0, make([]byte, 60_000-5))) // a prefix announcing the rest
	cases := []struct {
		name   string
		fields []string
		reset  bool // the client resets the stream after sending
		// whole: the server answers only once the request is complete
		// (a unary call's one message; a non-gRPC request, see
		// refuseHTTP), so the answer cannot come first.
		whole bool
	}{
		{"unknown method", grpcFields("/test.Credit/Nope"), false, false},
		{"unknown service", grpcFields("/nope.Nope/Nope"), false, false},
		{"415", []string{":method", "POST", ":scheme", "http", ":path", "/test.Credit/Unary", ":authority", "x", "content-type", "text/plain"}, false, true},
		{"bad grpc-timeout", grpcFields("/test.Credit/Wait", "grpc-timeout", "1Z"), false, false},
		{"bad metadata", grpcFields("/test.Credit/Wait", "x-bin", "!!!"), false, false},
		{"unknown encoding", grpcFields("/test.Credit/Wait", "grpc-encoding", "nope"), false, false},
		{"unary handler fails", grpcFields("/test.Credit/Fail"), false, true},
		{"bidi handler fails at once", grpcFields("/test.Credit/FailAtOnce"), false, false},
		{"deadline", grpcFields("/test.Credit/Wait", "grpc-timeout", "1m"), false, false},
		{"client reset", grpcFields("/test.Credit/Wait"), true, false},
		{"client reset while queued", grpcFields("/test.Credit/Wait"), true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orders := []string{"body-first", "answer-first"}
			if c.whole || c.reset {
				orders = orders[:1]
			}
			queued := c.name == "client reset while queued"
			for _, order := range orders {
				w := newWindowedConn(t, e.addr)
				const n = 30 // 1.8 MB: several times window and budget
				for i := 0; i < n; i++ {
					if order == "body-first" && (!c.reset || queued) {
						// Occupy the handler slot with a handler that
						// outlives its stream.
						stuck := w.open(false, grpcFields("/test.Credit/Stuck")...)
						<-started
						w.check(w.fr.WriteRSTStream(stuck, http2.ErrCodeCancel))
						w.flush()
					}
					id := w.open(false, c.fields...)
					switch {
					case c.reset:
						w.send(id, false, body)
						w.check(w.fr.WriteRSTStream(id, http2.ErrCodeCancel))
						w.flush()
						if queued {
							w.pingPong()
							release <- struct{}{}
						}
						// A call after it runs once the reset one's
						// handler is gone (one handler at a time), so
						// the resets do not pile up.
						good := w.open(false, grpcFields("/test.Credit/Unary")...)
						w.send(good, true, frame(0, msgpackMsg))
						w.await(good)
					case order == "answer-first":
						w.await(id)
						w.send(id, true, body)
					default:
						w.send(id, true, body)
						w.pingPong() // the body is buffered at the server
						release <- struct{}{}
						if r := w.await(id); r.field("grpc-status") == "0" {
							t.Fatalf("%s: %v", order, r)
						}
					}
				}
				// The connection still serves a call.
				id := w.open(false, grpcFields("/test.Credit/Unary")...)
				w.send(id, true, frame(0, msgpackMsg))
				if r := w.await(id); r.field("grpc-status") != "0" {
					t.Fatalf("%s: a good call after %d refused ones: %v", order, n, r)
				}
			}
		})
	}
}
