package h2

import (
	"bytes"
	"context"
	"io"
	"net"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// parkedConns is how many connections are parked now.
func parkedConns() int {
	poller.once.Do(initPoller)
	poller.mu.Lock()
	defer poller.mu.Unlock()
	return len(poller.parked)
}

// TestServerParksIdleConnections: idle connections give up their reader
// goroutine (ServeConn returns, nothing of theirs runs), wake up for the
// next request or PING, which is served as usual, and end when their
// client leaves or the server shuts down, done being called for each.
// TestServerParkedConnsEndWithContext covers the server's hard stop.
func TestServerParksIdleConnections(t *testing.T) {
	const n = 20
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{}, n)
	ended := make(chan struct{}, n)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				srv.ServeConn(ctx, c, func() { ended <- struct{}{} })
				returned <- struct{}{}
			}()
		}
	}()
	defer l.Close()
	base := goruntime.NumGoroutine()
	peers := make([]*peer, n)
	for i := range peers {
		peers[i], _ = dialPeer(t, l.Addr().String())
		peers[i].echo(1, "hello", "the echo")
	}
	waitFor(t, "parked", func() bool { return parkedConns() == n })
	for range n {
		<-returned // ServeConn has returned for each: the connections go on
	}
	// Each connection held a reader and a writer goroutine; now the
	// poller's is all there is (the writers park when idle too).
	waitFor(t, "down to the poller's goroutine", func() bool { return goruntime.NumGoroutine() <= base+1 })

	// A parked connection wakes for its next request.
	p := peers[0]
	p.echo(3, "again", "the echo after waking")
	// A PING wakes it too, and is answered.
	p.pingAnswered([8]byte{1})
	waitFor(t, "parked again", func() bool { return parkedConns() == n })

	// A client that goes away ends its parked connection.
	peers[1].c.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("a parked connection whose client left did not end")
	}
	// A graceful shutdown reaches the parked: GOAWAY, then the end.
	srv.GoAway()
	for _, p := range peers[2:] {
		if ga := p.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeNo {
			t.Fatalf("GOAWAY %v, want NO_ERROR before the connection closes", ga)
		}
	}
	for i := range n - 1 {
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d parked connections ended after GOAWAY", i, n-1)
		}
	}
	waitFor(t, "unparked", func() bool { return parkedConns() == 0 })
}

// TestServerParkedConnsEndWithContext: cancelling ServeConn's context
// ends parked connections (runtime.Server.Close closes their sockets
// first, then cancels).
func TestServerParkedConnsEndWithContext(t *testing.T) {
	const n = 5
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ended := make(chan struct{}, n)
	conns := make(chan net.Conn, n)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
			go srv.ServeConn(ctx, c, func() { ended <- struct{}{} })
		}
	}()
	peers := make([]*peer, n)
	for i := range peers {
		peers[i], _ = dialPeer(t, l.Addr().String())
	}
	waitFor(t, "parked", func() bool { return parkedConns() == n })
	for range n {
		(<-conns).Close()
	}
	cancel()
	for i := range n {
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d parked connections ended with the context", i, n)
		}
	}
	waitFor(t, "unparked", func() bool { return parkedConns() == 0 })
}

// TestServerInlineHandlerHandsOver: a complete request alone on its
// connection is served on the reader goroutine (serveInline), and the
// connection is read meanwhile: while that handler waits, a second
// request is served and a PING answered. Its response, larger than the
// client's window, goes out as the window opens: the handler, which
// writes its response itself, gives that up to the writer before it
// waits for window.
func TestServerInlineHandlerHandsOver(t *testing.T) {
	release := make(chan struct{})
	inline := make(chan bool, 1)
	const size = 1000
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		if s.Path() != "/slow" {
			echoHandler(s)
			return
		}
		buf := make([]byte, 64<<10)
		inline <- bytes.Contains(buf[:goruntime.Stack(buf, false)], []byte("serveInline"))
		<-release
		_, _ = io.ReadAll(s.Body())
		s.WriteHeader(200)
		_, _ = s.Write(bytes.Repeat([]byte("x"), size)) // buffered: finish sends it
	})
	// A 100-byte window: the response needs ten of them.
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
	block := p.encode(":method", "POST", ":scheme", "http", ":path", "/slow", ":authority", "x")
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true}))
	p.check(p.fr.WriteData(1, true, []byte("slow")))
	p.flush()
	select {
	case in := <-inline:
		if !in {
			t.Fatal("a lone complete request was not served on the reader goroutine")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}

	p.echo(3, "fast", "the second call's echo")
	p.pingAnswered([8]byte{7})

	close(release)
	got := 0
	for {
		f := p.until("the slow call's response", func(f http2.Frame) bool { return f.Header().StreamID == 1 })
		if d, ok := f.(*http2.DataFrame); ok {
			got += len(d.Data())
			if len(d.Data()) > 0 {
				p.check(p.fr.WriteWindowUpdate(1, uint32(len(d.Data()))))
				p.flush()
			}
		}
		if f.Header().Flags.Has(http2.FlagDataEndStream) {
			break
		}
	}
	if got != size {
		t.Fatalf("got %d bytes of the response, want %d", got, size)
	}
}

// parkedConnOf is the parked server connection of p's client end, if it
// is parked now.
func parkedConnOf(p *peer) *serverConn {
	poller.once.Do(initPoller)
	poller.mu.Lock()
	defer poller.mu.Unlock()
	for _, sc := range poller.parked {
		// A watched socket's reader runs a handler (serveInline): not
		// parked.
		if sc.remoteAddr == p.c.LocalAddr().String() && !sc.watched {
			return sc
		}
	}
	return nil
}

// parkedPeer dials addr, makes one call and waits for the server's end
// of the connection to park: the client, and that end.
func parkedPeer(t *testing.T, addr string) (*peer, *serverConn) {
	t.Helper()
	p, _ := dialPeer(t, addr)
	p.echo(1, "hello", "the echo")
	var sc *serverConn
	waitFor(t, "parked", func() bool { sc = parkedConnOf(p); return sc != nil })
	return p, sc
}

// settle gives a parked connection the longest idle period, as a
// connection woken often enough has: its wake-ups are then tended by the
// poller, not handed to a reader (tend).
func settle(sc *serverConn) {
	poller.mu.Lock()
	defer poller.mu.Unlock()
	sc.br.period = idlePeriod(bufferIdle)
}

// TestServerTendsParkedConnections: the control frames a client sends to
// a parked connection (PINGs, PING ACKs, WINDOW_UPDATEs, SETTINGS ACKs;
// grpc-go's client pings after the data it receives) are answered on the
// poller's goroutine, and the connection stays parked: no reader starts.
// Anything else starts the reader with the bytes the poller read (a
// request behind a PING is served, the PING answered first), and the
// frames the reader must refuse are refused as ever.
func TestServerTendsParkedConnections(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	addr := serveTest(t, srv)
	p, sc := parkedPeer(t, addr)
	// Readers started before it parked (bytes that came while the echo's
	// handler ran on the reader start another) are not the poller's.
	base := sc.restarts.Load()
	settle(sc)

	for i := range 50 {
		p.check(p.fr.WriteWindowUpdate(0, 100))
		p.check(p.fr.WriteWindowUpdate(1, 100)) // a closed stream's: ignored
		p.check(p.fr.WriteSettingsAck())
		p.pingAnswered([8]byte{byte(i)})
	}
	// Several PINGs in one read, all answered, in order.
	for i := range 20 {
		p.check(p.fr.WritePing(false, [8]byte{'m', byte(i)}))
	}
	p.flush()
	for i := range 20 {
		f := p.until("PING ACK", func(f http2.Frame) bool { pf, ok := f.(*http2.PingFrame); return ok && pf.IsAck() })
		if d := f.(*http2.PingFrame).Data; d != [8]byte{'m', byte(i)} {
			t.Fatalf("PING ACK %d carries %v", i, d)
		}
	}
	waitFor(t, "parked again", func() bool { return parkedConnOf(p) == sc })
	if n := sc.restarts.Load() - base; n != 0 {
		t.Fatalf("the reader started %d times for control frames, want 0", n)
	}

	// A request behind a PING, in one write: the reader starts with both.
	p.check(p.fr.WritePing(false, [8]byte{'r'}))
	p.echo(3, "after a ping", "the echo behind a PING")
	if n := sc.restarts.Load() - base; n != 1 {
		t.Fatalf("the reader started %d times for a request, want 1", n)
	}
	waitFor(t, "parked again", func() bool { return parkedConnOf(p) == sc })

	// A window overflow is a connection error, as it is to a reader.
	p.check(p.fr.WriteWindowUpdate(0, 1<<31-1))
	p.flush()
	if ga := p.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeFlowControl {
		t.Fatalf("GOAWAY %v after a window overflow, want FLOW_CONTROL_ERROR", ga)
	}

	// A malformed PING (on a stream) is left to the reader, which refuses it.
	q, qc := parkedPeer(t, addr)
	settle(qc)
	q.check(q.fr.WriteRawFrame(http2.FramePing, 0, 1, make([]byte, 8)))
	q.flush()
	if ga := q.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("GOAWAY %v after a PING on a stream, want PROTOCOL_ERROR", ga)
	}
}

// TestServerIdlePeriodAdapts: a connection parks idleFirst after its
// first call; a PING that comes later than that after it parked is
// answered while it stays parked, and changes nothing; one that comes
// sooner, and each request, starts its reader again, and doubles its
// idle period, up to bufferIdle; from then on a PING is answered while it
// stays parked however soon it comes. Its epoll entry, kept while the
// reader runs, is re-armed each time it parks: the next request wakes it
// again.
func TestServerIdlePeriodAdapts(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	p, sc := parkedPeer(t, serveTest(t, srv))
	period := func() time.Duration {
		// Parked: the reader's state rests until the poller wakes it, and
		// the poller's lock orders this read after the reader's writes.
		poller.mu.Lock()
		defer poller.mu.Unlock()
		if !sc.inEpoll {
			t.Fatal("a parked connection's socket is not in the poller's epoll")
		}
		return sc.br.period.get()
	}
	if d := period(); d != idleFirst {
		t.Fatalf("idle period %v after the first call, want %v", d, idleFirst)
	}
	base := sc.restarts.Load()
	time.Sleep(idleFirst + idleFirst/2) // since it parked, at least
	p.pingAnswered([8]byte{'p'})
	waitFor(t, "parked again", func() bool { return parkedConnOf(p) == sc })
	if d := period(); d != idleFirst {
		t.Fatalf("idle period %v after a late PING, want %v", d, idleFirst)
	}
	if n := sc.restarts.Load() - base; n != 0 {
		t.Fatalf("a late PING started the reader %d times, want 0", n)
	}
	want := idleFirst
	for i := 0; want < bufferIdle; i++ {
		want = min(2*want, bufferIdle)
		p.echo(uint32(3+2*i), "again", "the echo after waking")
		waitFor(t, "parked again", func() bool { return parkedConnOf(p) == sc })
		if d := period(); d != want {
			t.Fatalf("idle period %v after %d wake-ups by a request, want %v", d, i+1, want)
		}
	}

	// A PING soon after parking, while the period is short of
	// bufferIdle, starts the reader and lengthens it; at bufferIdle, one
	// is tended.
	poller.mu.Lock()
	sc.br.period = idlePeriod(bufferIdle / 2)
	sc.parkedAt = time.Now()
	poller.mu.Unlock()
	base = sc.restarts.Load()
	p.pingAnswered([8]byte{'q'})
	waitFor(t, "parked again", func() bool { return parkedConnOf(p) == sc })
	if d := period(); d != bufferIdle {
		t.Fatalf("idle period %v after a PING soon after parking, want %v", d, bufferIdle)
	}
	p.pingAnswered([8]byte{'r'})
	waitFor(t, "parked again", func() bool { return parkedConnOf(p) == sc })
	if n := sc.restarts.Load() - base; n != 1 {
		t.Fatalf("two PINGs soon after parking started the reader %d times, want 1", n)
	}
}

// TestServerParkedPingFlood: a client that floods a parked connection
// with PINGs and reads none of the answers is cut off, as one that floods
// a reading connection is (the poller counts the answers it queues), and
// the connection's end leaves nothing parked.
func TestServerParkedPingFlood(t *testing.T) {
	defer func(n int32) { maxQueuedControl = n }(maxQueuedControl)
	maxQueuedControl = 100
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	p, sc := parkedPeer(t, serveTest(t, srv))
	settle(sc)
	base := sc.restarts.Load()
	p.floodUnread(t, "PINGs", 400_000, func() error {
		return p.fr.WritePing(false, [8]byte{1})
	}, func(f http2.Frame) bool { pf, ok := f.(*http2.PingFrame); return ok && pf.IsAck() })
	waitFor(t, "unparked", func() bool { return parkedConnOf(p) == nil })
	if sc.restarts.Load() == base {
		t.Fatal("the poller never handed the flood to a reader; was the connection parked?")
	}
}

// BenchmarkParkedConnWake: the process's CPU time (the server's and the
// test's peers') for a PING to a parked connection: answered, and the
// connection parked again. Each round pings 200 parked connections once,
// then waits for them all to be parked.
func BenchmarkParkedConnWake(b *testing.B) {
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	addr := serveTest(b, srv)
	const n = 200
	peers := make([]*peer, n)
	for i := range peers {
		peers[i], _ = dialPeer(b, addr)
		peers[i].echo(1, "x", "the echo")
		_ = peers[i].c.SetDeadline(time.Time{})
	}
	parked := func() {
		for range 400 {
			if parkedConns() >= n {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.Fatal("the connections did not park")
	}
	parked()
	time.Sleep(bufferIdle) // the first round's PINGs too come late
	var cpu time.Duration
	b.ResetTimer()
	for round := range b.N {
		c0 := processCPU()
		for i, p := range peers {
			p.pingAnswered([8]byte{byte(i), byte(round)})
		}
		// Each round's PINGs come longer than a connection's idle period
		// after it parked, so that they are tended, not handed to a
		// reader (tend); the pause's own CPU counts too, as it did.
		time.Sleep(bufferIdle + bufferIdle/4)
		parked()
		cpu += processCPU() - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/wake")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestServerParkedConnHoldsLittle: a parked connection keeps only what it
// cannot make again. After a call with a large body (the Framer's read
// buffer grows to the largest frame) and an uncommon header (cached
// canonical name), it holds no Framer, no names cache, no streams map and
// no read or header buffer; its HPACK decoder is kept, so the client's
// indexed fields still decode after the next wake-up.
func TestServerParkedConnHoldsLittle(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	addr := serveTest(t, srv)
	p, _ := dialPeer(t, addr)
	big := string(bytes.Repeat([]byte{'b'}, 12<<10))
	for id := uint32(1); id <= 5; id += 2 {
		p.request(id, false, "x-uncommon-name", "v") // indexed after the first
		p.data(id, true, []byte(big))
		if d := p.until("the echo", isData(id)).(*http2.DataFrame); len(d.Data()) == 0 {
			t.Fatalf("call %d: empty echo", id)
		}
		var sc *serverConn
		waitFor(t, "parked", func() bool { sc = parkedConnOf(p); return sc != nil })
		var hblock []byte
		waitFor(t, "the writer parked", func() bool {
			sc.w.mu.Lock() // orders the read after the writer's idle
			defer sc.w.mu.Unlock()
			hblock = sc.w.hblock
			return sc.w.parked
		})
		poller.mu.Lock() // orders these reads after the reader's writes
		fr, canon, buf, hdec, fields := sc.fr, sc.canon, sc.br.buf, sc.blocks.dec, sc.blocks.meta.Fields
		sc.mu.Lock()
		streams := sc.streams
		sc.mu.Unlock()
		poller.mu.Unlock()
		if fr != nil || canon != nil || streams != nil || buf != nil || hblock != nil || fields != nil {
			t.Fatalf("call %d: a parked connection holds framer %v, names %v, streams %v, read buffer %v, header block %d bytes, fields %d",
				id, fr != nil, canon, streams, buf != nil, len(hblock), cap(fields))
		}
		if hdec == nil {
			t.Fatalf("call %d: a parked connection lost its HPACK decoder", id)
		}
	}
}
