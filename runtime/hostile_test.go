package runtime_test

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

const (
	mBlock = "/test.Hostile/Block" // bidi: holds the call until it is cancelled
	mFlood = "/test.Hostile/Flood" // server stream: sends 64 KiB messages until stopped
	mSink  = "/test.Hostile/Sink"  // bidi: reads until the request stream fails
	mCount = "/test.Hostile/Count" // unary: counts the calls that reached a handler
)

// hostileServer is the state of the handlers the hostile tests use.
type hostileServer struct {
	inflight, maxInflight atomic.Int64
	blockStarted          chan struct{} // one token per Block call, when there is room
	floodSent             atomic.Int64  // messages Flood's Send accepted
	floodInSend           atomic.Bool   // Flood is inside Send
	floodEnd              chan error
	sinkEnd               chan error
	counted               atomic.Int64
	// hold, if set, makes Block ignore its cancellation until hold is
	// closed: a slow handler, the case the stream limit must bound.
	hold chan struct{}
}

// floodLimit bounds Flood: a handler that reaches it was never held back.
const floodLimit = 2000

func newHostileServer() *hostileServer {
	return &hostileServer{
		blockStarted: make(chan struct{}, 64),
		floodEnd:     make(chan error, 4),
		sinkEnd:      make(chan error, 4),
	}
}

func (hs *hostileServer) register(s *prt.Server) {
	registerEcho(s)
	prt.HandleBidi(s, mBlock, func(call *prt.ServerCall[Msg, Msg]) error {
		n := hs.inflight.Add(1)
		defer hs.inflight.Add(-1)
		for {
			m := hs.maxInflight.Load()
			if n <= m || hs.maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case hs.blockStarted <- struct{}{}:
		default:
		}
		<-call.Context().Done()
		if hs.hold != nil {
			<-hs.hold
		}
		return call.Context().Err()
	})
	prt.HandleServerStream(s, mFlood, func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
		payload := make([]byte, 64<<10)
		var err error
		for i := 0; i < floodLimit; i++ {
			hs.floodInSend.Store(true)
			err = call.Send(&Msg{Data: payload})
			hs.floodInSend.Store(false)
			if err != nil {
				break
			}
			hs.floodSent.Add(1)
		}
		hs.floodEnd <- err
		return err
	})
	prt.HandleBidi(s, mSink, func(call *prt.ServerCall[Msg, Msg]) error {
		for {
			if _, err := call.Recv(); err != nil {
				hs.sinkEnd <- err
				return err
			}
		}
	})
	prt.HandleUnary(s, mCount, func(ctx context.Context, req *Msg) (*Msg, error) {
		hs.counted.Add(1)
		return req, nil
	})
}

// wellBehaved runs unary calls on c in a loop until stop is called, which
// returns how many succeeded and the first failure. The loop is bounded in
// count and time.
func wellBehaved(t *testing.T, c *prt.Client) (stop func() (int, error)) {
	done := make(chan struct{})
	var ok int
	var firstErr error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
			select {
			case <-done:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := prt.CallUnary[Msg, Msg](ctx, c, mUnary, &Msg{Text: "hi", N: int64(i)})
			cancel()
			if err == nil && res.N != int64(i)+1 {
				err = fmt.Errorf("call %d: got N=%d", i, res.N)
			}
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			ok++
			time.Sleep(time.Millisecond) // pacing, not synchronization
		}
	}()
	return func() (int, error) {
		close(done)
		<-finished
		return ok, firstErr
	}
}

// prefix returns a gRPC message prefix announcing n bytes.
func prefix(flag byte, n uint32) []byte {
	return []byte{flag, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// TestHostilePeers sends, with raw HTTP/2 frames, what a broken or
// malicious client might, while a well-behaved client calls the same
// server in parallel: every hostile stream gets the status, RST_STREAM or
// GOAWAY the protocol prescribes, and the well-behaved client never fails.
func TestHostilePeers(t *testing.T) { forEachImpl(t, testHostilePeers) }

// testHostilePeers is TestHostilePeers over tr.
func testHostilePeers(t *testing.T, tr transport) {
	hs := newHostileServer()
	e := newEnv(t, tr, hs.register, envOpts{server: []prt.ServerOption{
		prt.MaxHeaderListSize(64 << 10),
		prt.MaxConcurrentStreams(100),
		prt.WithLogger(discardLogger()),
	}})
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
	stop := wellBehaved(t, e.client)
	defer func() {
		ok, err := stop()
		if err != nil {
			t.Errorf("the well-behaved client failed during the hostile suite: %v", err)
		}
		if ok == 0 {
			t.Error("the well-behaved client made no call")
		}
		t.Logf("well-behaved client: %d calls succeeded during the suite", ok)
	}()

	msg := frame(0, msgpackMsg)
	statusCases := []struct {
		name   string
		path   string
		fields []string // extra request headers
		body   []byte
		end    bool // END_STREAM on the last DATA
		code   wire.Code
	}{
		{"length prefix beyond data then END_STREAM (unary)", mUnary, nil, append(prefix(0, 100), 1, 2, 3), true, wire.Internal},
		{"length prefix beyond data then END_STREAM (bidi)", mBidi, nil, append(prefix(0, 100), 1, 2, 3), true, wire.Internal},
		{"oversized message, refused on its prefix (unary)", mUnary, nil, prefix(0, 5<<20), false, wire.ResourceExhausted},
		{"oversized message, refused on its prefix (bidi)", mBidi, nil, prefix(0, 1<<31), false, wire.ResourceExhausted},
		{"invalid msgpack", mUnary, nil, frame(0, []byte{0xc1}), true, wire.Internal},
		{"msgpack with trailing bytes", mUnary, nil, frame(0, append(append([]byte{}, msgpackMsg...), 0x80)), true, wire.Internal},
		{"msgpack header claiming 4G elements", mBidi, nil, frame(0, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), true, wire.Internal},
		{"bad grpc-timeout unit", mUnary, []string{"grpc-timeout", "1x"}, msg, true, wire.Internal},
		{"grpc-timeout with 9 digits", mUnary, []string{"grpc-timeout", "123456789S"}, msg, true, wire.Internal},
		{"negative grpc-timeout", mUnary, []string{"grpc-timeout", "-1S"}, msg, true, wire.Internal},
		{"unknown grpc-encoding", mUnary, []string{"grpc-encoding", "snappy"}, msg, true, wire.Unimplemented},
		{"compressed flag, bad gzip", mBidi, []string{"grpc-encoding", "gzip"}, frame(1, []byte{0x1f, 0x8b, 0, 0}), true, wire.Internal},
		{"invalid binary metadata", mUnary, []string{"x-trace-bin", "!!!not base64"}, msg, true, wire.Internal},
		// A method is named by its :path exactly, as grpc-go routes it: a
		// proxy that allows or denies paths must agree with the server.
		{"percent-encoded slash in :path", "/test.Echo%2FUnary", nil, msg, true, wire.Unimplemented},
		{"percent-encoded letter in :path", "/test.Echo/Un%61ry", nil, msg, true, wire.Unimplemented},
		{"query in :path", mUnary + "?x=1", nil, msg, true, wire.Unimplemented},
	}
	for _, tc := range statusCases {
		t.Run(tc.name, func(t *testing.T) {
			h := dialH2(t, e.addr)
			id := h.newStream()
			h.writeHeaders(id, false, grpcFields(tc.path, tc.fields...)...)
			h.writeData(id, tc.end, tc.body)
			r := h.await(id)
			if got := r.field("grpc-status"); got != fmt.Sprint(uint32(tc.code)) {
				t.Fatalf("got %v, want grpc-status %d (%v)", r, tc.code, tc.code)
			}
		})
	}

	// Header-level attacks that the HTTP/2 transport refuses before parley sees the
	// request: a stream reset, HTTP 400, or the connection closed with
	// GOAWAY.
	refusedCases := []struct {
		name   string
		fields []string
	}{
		{"upper-case header name", grpcFields(mCount, "X-Upper", "1")},
		{"connection-specific header", grpcFields(mCount, "connection", "keep-alive")},
		{"te other than trailers", append(grpcFields(mCount)[:10], "te", "gzip")},
		{"control character in a value", grpcFields(mCount, "x-val", "a\x01b")},
		{"missing :path", []string{":method", "POST", ":scheme", "http", ":authority", "x", "content-type", "application/grpc"}},
	}
	for _, tc := range refusedCases {
		t.Run(tc.name, func(t *testing.T) {
			before := hs.counted.Load()
			h := dialH2(t, e.addr)
			id := h.newStream()
			h.writeHeaders(id, false, tc.fields...)
			h.writeData(id, true, msg)
			r := h.await(id)
			if !(r.rst && r.rstCode == http2.ErrCodeProtocol) && r.field(":status") != "400" && r.goAway == nil && (r.err == nil || !closedConn(r.err)) {
				t.Fatalf("got %v, want RST_STREAM(PROTOCOL_ERROR), HTTP 400 or GOAWAY", r)
			}
			t.Logf("answer: %v", r)
			if hs.counted.Load() != before {
				t.Fatal("the request reached a handler")
			}
		})
	}

	t.Run("oversized header list", func(t *testing.T) {
		before := hs.counted.Load()
		for _, size := range []int{70 << 10, 1 << 20} {
			h := dialH2(t, e.addr)
			id := h.newStream()
			h.writeHeaders(id, false, grpcFields(mCount, "x-big", strings.Repeat("a", size))...)
			h.writeData(id, true, msg)
			r := h.await(id)
			// A header list over the limit gets HTTP 431; a single value
			// longer than the limit, as here, makes x/net's Framer (under
			// both transports) refuse the HPACK string and close the
			// connection with GOAWAY(COMPRESSION_ERROR) (CVE-2023-45288
			// guard).
			if r.field(":status") != "431" && r.goAway == nil && (r.err == nil || !closedConn(r.err)) {
				t.Fatalf("%d-byte header: got %v, want 431 or GOAWAY", size, r)
			}
			t.Logf("%d-byte header: %v", size, r)
		}
		if hs.counted.Load() != before {
			t.Fatal("an oversized request reached a handler")
		}
	})

	t.Run("CONTINUATION flood", func(t *testing.T) {
		h := dialH2(t, e.addr)
		id := h.newStream()
		block := h.encode(grpcFields(mCount))
		h.check(h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: false}))
		frag := h.encode([]string{"x-flood", strings.Repeat("f", 1000)})
		sent := 0
		var werr error
		for ; sent < 20000 && werr == nil; sent++ {
			werr = h.fr.WriteContinuation(id, false, frag)
			if sent%64 == 0 && werr == nil {
				werr = h.bw.Flush()
			}
		}
		if werr == nil {
			werr = h.bw.Flush()
		}
		r := h.await(id)
		if r.goAway == nil && (r.err == nil || !closedConn(r.err)) {
			t.Fatalf("after %d CONTINUATION frames (write error %v): got %v, want GOAWAY", sent, werr, r)
		}
		t.Logf("CONTINUATION flood: connection closed (%v) after %d frames written", r, sent)
	})

	t.Run("HEADERS flood beyond MAX_CONCURRENT_STREAMS", func(t *testing.T) {
		h := dialH2(t, e.addr)
		const streams = 300
		for i := 0; i < streams; i++ {
			id := h.newStream()
			h.check(h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.encode(grpcFields(mBlock)), EndHeaders: true}))
		}
		h.flush()
		refused := 0
		var goAway *http2.GoAwayFrame
		deadline := time.Now().Add(20 * time.Second)
		for refused < streams-100 && goAway == nil && time.Now().Before(deadline) {
			f, err := h.fr.ReadFrame()
			if err != nil {
				break
			}
			switch f := f.(type) {
			case *http2.RSTStreamFrame:
				refused++
			case *http2.GoAwayFrame:
				goAway = f
			}
		}
		if refused == 0 && goAway == nil {
			t.Fatal("no stream beyond the limit was refused")
		}
		if m := hs.maxInflight.Load(); m > 100 {
			t.Fatalf("%d handlers ran at once, limit 100", m)
		}
		t.Logf("HEADERS flood: %d of %d streams refused, GOAWAY %v, at most %d handlers at once", refused, streams, goAway != nil, hs.maxInflight.Load())
		h.c.Close()
		waitFor(t, "the blocked handlers to end", func() bool { return hs.inflight.Load() == 0 })
	})

	t.Run("DATA after END_STREAM", func(t *testing.T) {
		h := dialH2(t, e.addr)
		id := h.newStream()
		h.writeHeaders(id, false, grpcFields(mBlock)...)
		h.writeData(id, true, msg)
		h.writeData(id, false, msg)
		r := h.await(id)
		if !(r.rst && r.rstCode == http2.ErrCodeStreamClosed) && r.goAway == nil {
			t.Fatalf("got %v, want RST_STREAM(STREAM_CLOSED)", r)
		}
		// The connection is still usable for a new stream.
		id = h.newStream()
		h.writeHeaders(id, false, grpcFields(mUnary)...)
		h.writeData(id, true, msg)
		if r := h.await(id); r.field("grpc-status") != "0" && r.goAway == nil {
			t.Fatalf("next stream on the same connection: %v", r)
		}
		waitFor(t, "the blocked handler to end", func() bool { return hs.inflight.Load() == 0 })
	})

	t.Run("peer stops reading", func(t *testing.T) {
		h := dialH2(t, e.addr)
		id := h.newStream()
		h.writeHeaders(id, false, grpcFields(mFlood)...)
		h.writeData(id, true, msg)
		// Never read again: the server's writes to this connection stall
		// once the socket buffers are full.
		stalled := stableFor(t, 300*time.Millisecond, hs.floodSent.Load)
		if !hs.floodInSend.Load() || stalled >= floodLimit {
			t.Fatalf("Flood sent %d messages and is not blocked in Send", stalled)
		}
		t.Logf("a peer that stops reading: the handler blocked in Send after %d messages of 64 KiB", stalled)
		// Other streams, on other connections, are served.
		h2 := dialH2(t, e.addr)
		id2 := h2.newStream()
		h2.writeHeaders(id2, false, grpcFields(mUnary)...)
		h2.writeData(id2, true, msg)
		if r := h2.await(id2); r.field("grpc-status") != "0" {
			t.Fatalf("another client was not served: %v", r)
		}
		h.c.Close()
		select {
		case err := <-hs.floodEnd:
			wantCode(t, err, wire.Canceled)
		case <-time.After(10 * time.Second):
			t.Fatal("the Flood handler did not end after its client went away")
		}
	})

	t.Run("peer disconnects mid-message", func(t *testing.T) {
		h := dialH2(t, e.addr)
		id := h.newStream()
		h.writeHeaders(id, false, grpcFields(mSink)...)
		h.writeData(id, false, msg)
		h.writeData(id, false, append(prefix(0, 1000), make([]byte, 10)...))
		time.Sleep(20 * time.Millisecond) // let the partial message arrive (not needed for correctness)
		h.c.Close()
		select {
		case err := <-hs.sinkEnd:
			wantCode(t, err, wire.Canceled)
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not see its client go away")
		}
	})
}

// stableFor polls get until its value has not changed for d, and returns
// it. It fails the test if that takes more than 20 s.
func stableFor(t *testing.T, d time.Duration, get func() int64) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, since := get(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		if v := get(); v != last {
			last, since = v, time.Now()
			continue
		}
		if time.Since(since) >= d {
			return last
		}
	}
	t.Fatalf("value still changing after 20 s (now %d)", last)
	return 0
}

// heapInUse returns the live heap after a GC.
func heapInUse() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestRapidReset: a client that opens streams and resets them at once
// (CVE-2023-44487) cannot run more handlers at a time than
// MAX_CONCURRENT_STREAMS nor grow the server's memory without bound, and a
// well-behaved client is served throughout.
func TestRapidReset(t *testing.T) { forEachImpl(t, testRapidReset) }

// testRapidReset is TestRapidReset over tr.
func testRapidReset(t *testing.T, tr transport) {
	hs := newHostileServer()
	hs.hold = make(chan struct{})
	released := false
	release := func() {
		if !released {
			released = true
			close(hs.hold)
		}
	}
	defer release()
	e := newEnv(t, tr, hs.register, envOpts{server: []prt.ServerOption{prt.WithLogger(discardLogger())}})
	if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
		t.Fatal(err)
	}
	heapBefore := heapInUse()
	stop := wellBehaved(t, e.client)

	h := dialH2(t, e.addr)
	// Drain the server's frames on another goroutine so that its writes
	// never block; note a GOAWAY.
	var goAway atomic.Value
	drained := make(chan struct{})
	pingAck := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				goAway.Store(f.ErrCode)
			case *http2.PingFrame:
				if f.IsAck() {
					close(pingAck)
				}
			}
		}
	}()
	const streams = 20000
	block := h.encode(grpcFields(mBlock))
	var maxGoroutines int
	start := time.Now()
	sent := 0
	var werr error
	for ; sent < streams && werr == nil && time.Since(start) < 30*time.Second; sent++ {
		id := h.newStream()
		werr = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true})
		if werr == nil {
			werr = h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		if sent%100 == 99 && werr == nil {
			werr = h.bw.Flush()
			maxGoroutines = max(maxGoroutines, goruntime.NumGoroutine())
		}
	}
	if werr == nil {
		werr = h.fr.WritePing(false, [8]byte{1})
	}
	if werr == nil {
		werr = h.bw.Flush()
	}
	// The server handles frames in order: its PING ACK means it has
	// processed every HEADERS and RST_STREAM sent before.
	if werr == nil {
		select {
		case <-pingAck:
		case <-drained:
		case <-time.After(30 * time.Second):
			t.Fatal("no PING ACK after the attack")
		}
	}
	elapsed := time.Since(start)
	maxGoroutines = max(maxGoroutines, goruntime.NumGoroutine())
	heapPeak := heapInUse()
	ok, err := stop()
	h.c.Close()
	<-drained
	release()
	waitFor(t, "the reset handlers to end", func() bool { return hs.inflight.Load() == 0 })
	if err != nil {
		t.Errorf("the well-behaved client failed during the attack: %v", err)
	}
	if ok == 0 {
		t.Error("the well-behaved client made no call during the attack")
	}
	// The memory held for the attack is released once its streams are
	// gone (goroutines exit, pools drain): poll, bounded.
	var heapAfter uint64
	for i := 0; i < 100; i++ {
		if heapAfter = heapInUse(); heapAfter < heapBefore+16<<20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := hs.maxInflight.Load(); m > prt.DefaultMaxConcurrentStreams {
		t.Errorf("%d handlers ran at once, limit %d", m, prt.DefaultMaxConcurrentStreams)
	}
	// Each handler costs a few goroutines; the bound is what the stream
	// limit allows, not what the attacker sent.
	if maxGoroutines > 4*prt.DefaultMaxConcurrentStreams+100 {
		t.Errorf("%d goroutines during the attack", maxGoroutines)
	}
	if heapPeak > heapBefore+64<<20 || heapAfter > heapBefore+16<<20 {
		t.Errorf("heap grew from %d to %d bytes (%d after the attack)", heapBefore, heapPeak, heapAfter)
	}
	t.Logf("rapid reset: %d streams opened and reset in %v (write error: %v, GOAWAY: %v); at most %d handlers and %d goroutines at once; heap %d → %d KiB at the peak, %d KiB after; well-behaved client: %d calls OK",
		sent, elapsed.Round(time.Millisecond), werr, goAway.Load(), hs.maxInflight.Load(), maxGoroutines, heapBefore>>10, heapPeak>>10, heapAfter>>10, ok)
}

// TestBackpressureToClient: a handler streaming to a client that stops
// reading is held back by HTTP/2 flow control: its Send blocks, and the
// memory in between stays bounded by the mailboxes and windows.
func TestBackpressureToClient(t *testing.T) { forEachImpl(t, testBackpressureToClient) }

// testBackpressureToClient is TestBackpressureToClient over tr.
func testBackpressureToClient(t *testing.T, tr transport) {
	hs := newHostileServer()
	e := newEnv(t, tr, hs.register, envOpts{})
	heapBefore := heapInUse()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	call, err := prt.OpenServerStream[Msg, Msg](ctx, e.client, mFlood, &Msg{})
	if err != nil {
		t.Fatal(err)
	}
	// The client never receives.
	stalled := stableFor(t, 300*time.Millisecond, hs.floodSent.Load)
	if !hs.floodInSend.Load() {
		t.Fatalf("Flood is not blocked in Send after %d messages", stalled)
	}
	buffered := stalled * (64 << 10)
	heapStalled := heapInUse()
	// Bound: client inbound mailbox (16) + server outbound mailbox (16) +
	// the HTTP/2 stream window of the client's transport (4 MiB) + socket
	// buffers, far below the floodLimit (128 MiB).
	if buffered > 32<<20 {
		t.Errorf("%d MiB sent to a client that does not read", buffered>>20)
	}
	if heapStalled > heapBefore+64<<20 {
		t.Errorf("heap grew from %d to %d bytes", heapBefore, heapStalled)
	}
	t.Logf("server→client backpressure: Send blocked after %d messages (%d KiB); heap %d → %d KiB", stalled, buffered>>10, heapBefore>>10, heapStalled>>10)
	// Reading resumes the flow (once enough is read for the client's
	// transport to return flow-control credit): bounded.
	for i := 0; hs.floodSent.Load() <= stalled; i++ {
		if i == floodLimit {
			t.Fatal("Flood never sent again while the client read")
		}
		if _, err := call.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	call.Cancel()
	select {
	case err := <-hs.floodEnd:
		wantCode(t, err, wire.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Flood did not end after the client cancelled")
	}
}
