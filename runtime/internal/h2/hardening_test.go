package h2

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// windowPeer is a peer that keeps the connection's send window as a
// well-behaved client does: it sends DATA only within the window, reading
// the server's frames (and their WINDOW_UPDATEs) while it waits.
type windowPeer struct {
	*peer
	win    int64             // the connection's send window
	onRead func(http2.Frame) // sees every frame read while waiting, if set
}

func newWindowPeer(p *peer) *windowPeer { return &windowPeer{peer: p, win: initialWindow} }

// read reads one frame and accounts its connection WINDOW_UPDATE.
func (p *windowPeer) read() http2.Frame {
	p.t.Helper()
	f := p.next()
	switch f := f.(type) {
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			p.win += int64(f.Increment)
		}
	case *http2.SettingsFrame:
		if !f.IsAck() {
			p.check(p.fr.WriteSettingsAck())
			p.flush()
		}
	case *http2.GoAwayFrame:
		p.t.Fatalf("GOAWAY(%v) %q (last stream %d)", f.ErrCode, f.DebugData(), f.LastStreamID)
	}
	if p.onRead != nil {
		p.onRead(f)
	}
	return f
}

// send sends b on id within the connection window, in frames of at most
// 16 KiB, waiting for credit as it goes. A server that never credits the
// connection makes it fail at the peer's read deadline.
func (p *windowPeer) send(id uint32, end bool, b []byte) {
	p.t.Helper()
	for len(b) > 0 || end {
		for p.win <= 0 {
			p.read()
		}
		n := min(int64(len(b)), p.win, 16<<10)
		last := int(n) == len(b)
		p.check(p.fr.WriteData(id, end && last, b[:n]))
		p.flush()
		p.win -= n
		b = b[n:]
		if last {
			return
		}
	}
}

// pingPong sends a PING and reads until its ACK: the server's reader has
// then handled every frame sent before it.
func (p *windowPeer) pingPong() {
	p.t.Helper()
	data := [8]byte{'s', 'y', 'n', 'c'}
	p.check(p.fr.WritePing(false, data))
	p.flush()
	for {
		if f, ok := p.read().(*http2.PingFrame); ok && f.IsAck() && f.Data == data {
			return
		}
	}
}

// TestServerCreditsUnreadBodies: request bodies that no handler reads are
// credited back to the connection window, whether they arrive before the
// handler has answered or after, so that a client sending many large
// requests to, say, an unknown method on one connection is never stalled
// (it used to be, after a connection window's worth). The window is the
// smallest HTTP/2 allows, so a leak shows within a few requests.
func TestServerCreditsUnreadBodies(t *testing.T) {
	body := make([]byte, 60_000)
	for _, order := range []string{"body-first", "answer-first"} {
		t.Run(order, func(t *testing.T) {
			release := make(chan struct{}, 1)
			srv := NewServer(transport.ServerConfig{MaxUploadBufferPerStream: 65535, MaxUploadBufferPerConnection: 65535}, func(s transport.Stream) {
				if s.Path() == "/good" {
					echoHandler(s)
					return
				}
				if order == "body-first" {
					<-release
				}
				s.ResponseHeader().Set("Content-Type", "application/grpc")
				s.ResponseHeader().Set("Grpc-Status", "12") // UNIMPLEMENTED, unread
				s.WriteHeader(200)
			})
			p := newWindowPeer(func() *peer { p, _ := dialPeer(t, serveTest(t, srv)); return p }())
			const n = 100
			for i := 0; i < n; i++ {
				id := uint32(2*i + 1)
				p.request(id, false)
				if order == "answer-first" {
					for {
						if h, ok := p.read().(*http2.MetaHeadersFrame); ok && h.StreamID == id {
							break
						}
					}
					p.send(id, true, body)
				} else {
					p.send(id, true, body)
					p.pingPong() // the body is in the server's buffers
					release <- struct{}{}
				}
			}
			// The connection still carries a call.
			id := uint32(2*n + 1)
			p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
				BlockFragment: p.encode(":method", "POST", ":scheme", "http", ":path", "/good", ":authority", "x")}))
			p.flush()
			p.send(id, true, []byte("still here"))
			for {
				if d, ok := p.read().(*http2.DataFrame); ok && d.StreamID == id {
					if string(d.Data()) != "still here" {
						t.Fatalf("echo %q", d.Data())
					}
					break
				}
			}
		})
	}
}

// TestServerConnFlowControl: the connection's credit goes back as DATA
// arrives until the streams together hold connBudgetWindows windows of
// unread DATA; then it stops, and DATA beyond the window is a connection
// error (FLOW_CONTROL_ERROR). So the memory one connection's receive
// buffers cost is bounded however many streams do not read.
func TestServerConnFlowControl(t *testing.T) {
	const win = 65535
	srv := NewServer(transport.ServerConfig{MaxUploadBufferPerStream: 1 << 20, MaxUploadBufferPerConnection: win}, func(s transport.Stream) {
		<-s.Context().Done()
	})
	p := newWindowPeer(func() *peer { p, _ := dialPeer(t, serveTest(t, srv)); return p }())
	p.request(1, false)
	// A well-behaved sender gets exactly the budget's credit, in batches.
	budget := int64(connBudgetWindows * win)
	batch := int64(creditBatch(win))
	credited := budget / batch * batch
	chunk := make([]byte, batch)
	sent := int64(0)
	for sent+batch <= win+credited {
		p.send(1, false, chunk)
		sent += batch
	}
	p.pingPong()
	if want := int64(win) + credited - sent; p.win != want {
		t.Fatalf("window after %d bytes: %d, want %d (credit stops at the budget)", sent, p.win, want)
	}
	p.check(p.fr.WriteData(1, false, make([]byte, p.win+1)))
	p.flush()
	p.until("GOAWAY(FLOW_CONTROL_ERROR)", isGoAway(http2.ErrCodeFlowControl))
}

// TestServerStreamDeadline: a client that grants no window (initial
// window 0) cannot hold a stream past its deadline: the stream is reset
// with CANCEL, its handler returns, and the connection drains.
func TestServerStreamDeadline(t *testing.T) {
	handlerDone := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		defer close(handlerDone)
		s.SetDeadline(time.Now().Add(200 * time.Millisecond))
		s.ResponseHeader().Set("Content-Type", "application/grpc")
		s.WriteHeader(200)
		_, _ = s.Write(make([]byte, 100))
		_ = s.Flush() // queued: the window is 0
		<-s.Context().Done()
	})
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	p.request(1, true)
	start := time.Now()
	p.until("RST_STREAM(CANCEL)", isRST(1, http2.ErrCodeCancel))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("reset after %v", d)
	}
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still running after the reset")
	}
	srv.GoAway()
	if ga := p.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v, want NO_ERROR before the connection closes", ga)
	}
}

// TestServerStreamDeadlineNotify: SetDeadlineNotify's one timer calls its
// func at the deadline, then resets a stream whose response cannot go
// out (a window of 0) at the backstop; a stream released first has it
// called never.
func TestServerStreamDeadlineNotify(t *testing.T) {
	notified := make(chan time.Time, 2)
	handlerDone := make(chan struct{}, 2)
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		defer func() { handlerDone <- struct{}{} }()
		deadline := time.Now().Add(100 * time.Millisecond)
		quick := s.RequestHeader().Get("X-Quick") != ""
		if quick {
			deadline = time.Now().Add(300 * time.Millisecond)
		}
		s.(transport.DeadlineNotifier).SetDeadlineNotify(deadline, deadline.Add(200*time.Millisecond),
			func() { notified <- time.Now() })
		s.ResponseHeader().Set("Content-Type", "application/grpc")
		s.WriteHeader(200)
		if quick {
			return // released at once: no notice, no reset
		}
		_, _ = s.Write(make([]byte, 100))
		_ = s.Flush() // queued: the window is 0
		<-s.Context().Done()
	})
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	p.request(1, true, "x-quick", "1")
	<-handlerDone
	start := time.Now()
	p.request(3, true)
	p.until("RST_STREAM(CANCEL)", isRST(3, http2.ErrCodeCancel))
	reset := time.Now()
	select {
	case at := <-notified:
		if at.After(reset) {
			t.Errorf("notified %v after the reset", at.Sub(reset))
		}
		if d := reset.Sub(start); d < 250*time.Millisecond {
			t.Errorf("reset %v after the request, before the backstop", d)
		}
	default:
		t.Fatal("the deadline's func was not called before the reset")
	}
	<-handlerDone
	time.Sleep(400 * time.Millisecond) // past the released stream's deadline
	if len(notified) != 0 {
		t.Error("the func of a stream released before its deadline was called")
	}
}

// TestServerWindowWaiterReleased: a stream waiting for connection window
// is forgotten when it is reset, so that nothing keeps it.
func TestServerWindowWaiterReleased(t *testing.T) {
	var sc atomic.Pointer[serverConn]
	blocked := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		sc.Store(s.(*serverStream).sc)
		s.WriteHeader(200)
		close(blocked)
		_, _ = s.Write(make([]byte, 2*initialWindow)) // more than the connection window
		_ = s.Flush()
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, true)
	<-blocked
	waiters := func() int {
		c := sc.Load()
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.winWaiters)
	}
	deadline := time.Now().Add(5 * time.Second)
	for waiters() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if waiters() != 1 {
		t.Fatalf("%d streams wait for window, want 1", waiters())
	}
	p.check(p.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	p.flush()
	for waiters() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := waiters(); n != 0 {
		t.Fatalf("%d reset streams still wait for window", n)
	}
}

// TestServerSettingsFlood: a SETTINGS frame with more than maxSettings
// settings ends the connection with ENHANCE_YOUR_CALM; up to that, any
// number of INITIAL_WINDOW_SIZE values is applied once, the last one
// winning (RFC 9113, 6.5.3), however many streams are open.
func TestServerSettingsFlood(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		<-s.Context().Done()
	})
	addr := serveTest(t, srv)
	p, _ := dialPeer(t, addr)
	for id := uint32(1); id < 200; id += 2 {
		p.request(id, false)
	}
	set := make([]http2.Setting, maxSettings)
	for i := range set {
		set[i] = http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(1000 + i)}
	}
	start := time.Now()
	for i := 0; i < 100; i++ {
		p.check(p.fr.WriteSettings(set...))
	}
	p.flush()
	acks := 0
	p.until("100 SETTINGS ACKs", func(f http2.Frame) bool {
		if sf, ok := f.(*http2.SettingsFrame); ok && sf.IsAck() {
			acks++
		}
		return acks == 100
	})
	t.Logf("100 SETTINGS frames of %d values over 100 streams: %v", maxSettings, time.Since(start))

	p2, _ := dialPeer(t, addr)
	p2.check(p2.fr.WriteSettings(append(set, set[0])...))
	p2.flush()
	p2.until("GOAWAY(ENHANCE_YOUR_CALM)", isGoAway(http2.ErrCodeEnhanceYourCalm))
}

// TestServerResetFlood: stream resets the server answers malformed
// requests with count against maxQueuedControl like PING and SETTINGS
// ACKs, so a client that sends tiny malformed HEADERS and never reads
// cannot grow the server's queue.
func TestServerResetFlood(t *testing.T) {
	defer func(n int32) { maxQueuedControl = n }(maxQueuedControl)
	maxQueuedControl = 100
	addr := serveTest(t, NewServer(transport.ServerConfig{}, echoHandler))
	p, _ := dialPeer(t, addr)
	block := p.encode(":method", "POST", ":scheme", "http") // no :path: malformed
	id := uint32(1)
	p.floodUnread(t, "malformed HEADERS", 400_000, func() error {
		id += 2
		return p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
	}, func(f http2.Frame) bool { _, ok := f.(*http2.RSTStreamFrame); return ok })
}

// floodUnread writes up to max frames with write, reading nothing, then
// reads what the server sent until it closes, and checks that the server
// stopped answering (the answers, told by isAnswer, are fewer than the
// frames sent) and that a GOAWAY it sent says ENHANCE_YOUR_CALM: its queue
// of answers did not grow with the flood. The peer's receive buffer is made
// small, so that the server's writes block soon.
func (p *peer) floodUnread(t *testing.T, what string, max int, write func() error, isAnswer func(http2.Frame) bool) {
	t.Helper()
	_ = p.c.(*net.TCPConn).SetReadBuffer(4 << 10)
	sent := 0
	var err error
	for ; sent < max && err == nil; sent++ {
		err = write()
		if sent%1000 == 999 && err == nil {
			err = p.bw.Flush()
		}
	}
	answers := 0
	var ga *http2.GoAwayFrame
	for {
		f, rerr := p.fr.ReadFrame()
		if rerr != nil {
			break
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			ga = g
		} else if isAnswer(f) {
			answers++
		}
	}
	t.Logf("%d %s sent (write error %v), %d answers read, GOAWAY %v", sent, what, err, answers, ga)
	if answers >= sent {
		t.Fatalf("every one of %d %s was answered", sent, what)
	}
	if ga != nil && ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY(%v), want ENHANCE_YOUR_CALM", ga.ErrCode)
	}
}

// TestServerWriteTimeout: a client that stops reading while the server
// has frames to write is cut off after the write timeout, releasing what
// the connection held.
func TestServerWriteTimeout(t *testing.T) {
	defer func(d time.Duration) { defaultWriteTimeout = d }(defaultWriteTimeout)
	defaultWriteTimeout = 300 * time.Millisecond
	done := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		defer close(done)
		s.WriteHeader(200)
		chunk := make([]byte, 16<<10)
		for s.Context().Err() == nil {
			if _, err := s.Write(chunk); err != nil {
				return
			}
			if s.Flush() != nil {
				return
			}
		}
	})
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: maxWindow})
	_ = p.c.(*net.TCPConn).SetReadBuffer(4 << 10)
	p.check(p.fr.WriteWindowUpdate(0, maxWindow-initialWindow))
	p.request(1, true)
	// Never read again: the socket buffers fill, the writer blocks.
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the handler was not released: the connection's writer still waits on a peer that does not read")
	}
}

// TestServerIdleTimeout: a connection without streams for IdleTimeout
// gets GOAWAY(NO_ERROR) and is closed; one with a stream open is not.
func TestServerIdleTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := NewServer(transport.ServerConfig{IdleTimeout: 200 * time.Millisecond}, func(s transport.Stream) {
		<-release
		s.WriteHeader(200)
	})
	addr := serveTest(t, srv)
	p, _ := dialPeer(t, addr)
	start := time.Now()
	if ga := p.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v, want NO_ERROR", ga)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before its timeout", d)
	}

	p2, _ := dialPeer(t, addr)
	p2.request(1, true)
	time.Sleep(500 * time.Millisecond) // past the timeout, with a call in flight
	close(release)
	p2.until("the response", isHeaders(1))
	if ga := p2.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v, want NO_ERROR after stream 1", ga)
	}
}

// TestServerMaxConnectionAge: at its age a connection gets GOAWAY, and a
// call still open after the grace period is cut off with the connection.
func TestServerMaxConnectionAge(t *testing.T) {
	srv := NewServer(transport.ServerConfig{MaxConnectionAge: 200 * time.Millisecond, MaxConnectionAgeGrace: 300 * time.Millisecond}, func(s transport.Stream) {
		<-s.Context().Done()
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, true)
	start := time.Now()
	ga := p.until("GOAWAY", isGoAway(http2.ErrCodeNo)).(*http2.GoAwayFrame)
	if ga.LastStreamID != 1 {
		t.Fatalf("GOAWAY last stream %d, want 1", ga.LastStreamID)
	}
	p.expectClosed()
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("closed after %v: before age and grace", d)
	}
}

// TestClientControlFlood: a server that floods PINGs (each needs an ACK)
// and never reads cannot grow a client's queue: past maxQueuedControl
// answers the client ends the connection.
func TestClientControlFlood(t *testing.T) {
	defer func(n int32) { maxQueuedControl = n }(maxQueuedControl)
	maxQueuedControl = 100
	rs := newRawServer(t)
	c := newTestClient(t, rs.addr(), transport.ClientConfig{})
	ch := roundTrip(context.Background(), c, []byte("x"))
	p := rs.accept()
	_ = p.c.(*net.TCPConn).SetReadBuffer(4 << 10)
	var err error
	sent := 0
	for ; sent < 400_000 && err == nil; sent++ {
		err = p.fr.WritePing(false, [8]byte{1})
		if sent%1000 == 999 && err == nil {
			err = p.bw.Flush()
		}
	}
	r := <-ch
	t.Logf("%d PINGs sent (write error %v); call: %v", sent, err, r.err)
	if r.err == nil {
		t.Fatal("the call succeeded on a connection whose server floods PINGs and never reads")
	}
	if err == nil {
		t.Fatal("the client kept the flooding connection open")
	}
}

// TestClientTooMany1xx: a server that streams informational responses
// without end gets the stream reset after max1xx of them.
func TestClientTooMany1xx(t *testing.T) {
	rs := newRawServer(t)
	c := newTestClient(t, rs.addr(), transport.ClientConfig{})
	ch := roundTrip(context.Background(), c, []byte("x"))
	p := rs.accept()
	p.until("request", isHeaders(1))
	for i := 0; i < 1000; i++ {
		if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.encode(":status", "100"), EndHeaders: true}); err != nil {
			break
		}
	}
	_ = p.bw.Flush()
	p.until("RST_STREAM(PROTOCOL_ERROR)", isRST(1, http2.ErrCodeProtocol))
	if r := <-ch; r.err == nil {
		t.Fatal("the call succeeded")
	}
}

// TestClientDialDoesNotBlockOthers: while one call dials (a slow TCP
// connect or TLS handshake), another call's own deadline still ends it on
// time: the client does not hold its lock through the dial.
func TestClientDialDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	dialed := make(chan struct{}, 1)
	c := newTestClient(t, "127.0.0.1:1", transport.ClientConfig{Dialer: func(ctx context.Context, addr string) (net.Conn, error) {
		dialed <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil, errors.New("dial refused by the test")
	}})
	go c.Connect(context.Background())
	<-dialed
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect during another's dial: %v, want its own deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Connect returned after %v", d)
	}
}

// TestClientCreditsAbandonedStreams: response data buffered for streams
// the client gave up on (cancelled, and closed the body as the runtime
// does when a call returns) is credited back to the connection, so a
// connection whose calls are cancelled before reading keeps working.
func TestClientCreditsAbandonedStreams(t *testing.T) {
	rs := newRawServer(t)
	c := newTestClient(t, rs.addr(), transport.ClientConfig{})
	chunk := make([]byte, 16<<10)
	var p *peer
	// Each call gets a full stream window of data it never reads, then is
	// cancelled: five calls send more than the connection window.
	n := transport.DefaultClientConnWindow/transport.DefaultClientStreamWindow + 1
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		ch := roundTrip(ctx, c, []byte("x"))
		if p == nil {
			p = rs.accept(http2.Setting{ID: http2.SettingInitialWindowSize, Val: maxWindow})
		}
		id := uint32(2*i + 1)
		p.until("request", isHeaders(id))
		p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(":status", "200"), EndHeaders: true}))
		for sent := 0; sent < transport.DefaultClientStreamWindow; sent += len(chunk) {
			p.check(p.fr.WriteData(id, false, chunk))
		}
		p.flush()
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		// Wait until the data is in the client's buffer, then give up.
		deadline := time.Now().Add(5 * time.Second)
		for buffered(r.resp) < transport.DefaultClientStreamWindow && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		cancel()
		r.resp.Body.Close()
		p.until("RST_STREAM(CANCEL)", isRST(id, http2.ErrCodeCancel))
	}
	// Nothing the abandoned streams received is still held against the
	// connection's budget.
	cc := func() *clientConn {
		cl := c.(*client)
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return cl.cc
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cc.inflow.mu.Lock()
		held := cc.inflow.held
		cc.inflow.mu.Unlock()
		if held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of abandoned streams still held", held)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestClientReadWatchesContext: a unary call's response body, once its
// headers came, is read by a Read that watches the call's context: when
// it ends, the Read returns its error and the stream is reset, with no
// registration with the context (a request queued whole needs none).
func TestClientReadWatchesContext(t *testing.T) {
	rs := newRawServer(t)
	c := newTestClient(t, rs.addr(), transport.ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	ch := roundTrip(ctx, c, []byte("x"))
	p := rs.accept()
	p.until("request", isHeaders(1))
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.encode(":status", "200"), EndHeaders: true}))
	p.check(p.fr.WriteData(1, false, []byte("part")))
	p.flush()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.resp.Body.Close()
	if cs := (*clientStream)(r.resp.Body.(*clientBody)); cs.stopCtx != nil {
		t.Error("a unary call with its request queued whole registered with its context")
	}
	got, err := io.ReadAll(r.resp.Body) // "part", then waits
	if string(got) != "part" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read %q, %v; want \"part\", then DeadlineExceeded", got, err)
	}
	p.until("RST_STREAM(CANCEL)", isRST(1, http2.ErrCodeCancel))
}

func buffered(r *transport.Response) int {
	b := &(*clientStream)(r.Body.(*clientBody)).body
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return 0
	}
	return len(*b.buf) - b.r
}

// TestServerHeaderBudget: HPACK lets a peer name a large header field once
// and then repeat it for a byte a time, so that each stream's header list
// is near MAX_HEADER_LIST_SIZE at almost no cost on the wire. The open
// streams of a connection together may hold at most the header budget;
// streams past it are refused (REFUSED_STREAM, which clients retry), and
// accepted again once the others end.
func TestServerHeaderBudget(t *testing.T) {
	release := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		select {
		case <-release:
		case <-s.Context().Done():
		}
		s.WriteHeader(200)
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	big := strings.Repeat("a", 4000)
	fields := []string{":method", "POST", ":scheme", "http", ":path", "/t", ":authority", "x"}
	for i := 0; i < 240; i++ { // ~0.97 MB of header list, ~250 bytes on the wire
		fields = append(fields, "x-bomb", big)
	}
	block := p.encode(fields...)
	if len(block) > 8<<10 {
		t.Fatalf("header block of %d bytes: the repeats were not indexed", len(block))
	}
	const n = 40
	for i := 0; i < n; i++ {
		p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndHeaders: true}))
	}
	p.flush()
	refused := 0
	p.pingSync(func(f http2.Frame) {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.ErrCode == http2.ErrCodeRefusedStream {
			refused++
		}
	})
	sc := srv.(*server)
	var held uint64
	sc.mu.Lock()
	for c := range sc.conns {
		c.mu.Lock()
		held = c.headerBytes
		c.mu.Unlock()
	}
	sc.mu.Unlock()
	if held > minHeaderBudget {
		t.Fatalf("open streams hold %d bytes of headers, over the budget of %d", held, minHeaderBudget)
	}
	t.Logf("%d of %d streams refused; %d bytes of headers held", refused, n, held)
	if refused == 0 || refused == n {
		t.Fatalf("%d of %d streams refused", refused, n)
	}
	close(release)
	// Once the streams are done, a new one is accepted.
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 2*n + 1, BlockFragment: block, EndStream: true, EndHeaders: true}))
	p.flush()
	p.until("the response", isHeaders(2*n+1))
}

// pingSync sends a PING and reads until its ACK, acknowledging SETTINGS on
// the way: the server's reader has then handled everything sent before.
func (p *peer) pingSync(seen func(http2.Frame)) {
	p.t.Helper()
	data := [8]byte{'p', 'i', 'n', 'g', 's', 'y', 'n', 'c'}
	p.check(p.fr.WritePing(false, data))
	p.flush()
	p.until("PING ACK", func(f http2.Frame) bool {
		pf, ok := f.(*http2.PingFrame)
		if ok && pf.IsAck() && pf.Data == data {
			return true
		}
		seen(f)
		return false
	})
}

// TestServerSlotFreeAtEnd: a stream no longer counts against
// MAX_CONCURRENT_STREAMS once the client can see its end, so a client
// that opens its next stream the moment a response ends is never refused.
func TestServerSlotFreeAtEnd(t *testing.T) {
	srv := NewServer(transport.ServerConfig{MaxConcurrentStreams: 1}, func(s transport.Stream) {
		s.WriteHeader(200)
		_, _ = s.Write([]byte("x"))
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	for i := 0; i < 300; i++ {
		id := uint32(2*i + 1)
		p.request(id, true)
		p.until("the end of the response", func(f http2.Frame) bool {
			if r, ok := f.(*http2.RSTStreamFrame); ok {
				t.Fatalf("stream %d: RST_STREAM(%v)", r.StreamID, r.ErrCode)
			}
			return f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream)
		})
	}
}

// TestServerIgnoresDataAfterItsReset: DATA the client had in flight when
// the server reset its stream (here RST_STREAM(NO_ERROR) after a complete
// response) is ignored, as RFC 9113, 5.1 requires, not answered with a
// reset a frame.
func TestServerIgnoresDataAfterItsReset(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) { s.WriteHeader(200) })
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, false)
	p.until("RST_STREAM(NO_ERROR)", isRST(1, http2.ErrCodeNo))
	for i := 0; i < 5; i++ {
		p.check(p.fr.WriteData(1, false, make([]byte, 1000)))
	}
	p.flush()
	p.pingSync(func(f http2.Frame) {
		if r, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("RST_STREAM(%v) for DATA sent before the server's reset arrived", r.ErrCode)
		}
	})
}

// TestPushAfterCloseTakesNoConnLock: a stream that ends pushes its last
// frames with conn.mu held (sendData's last); if the connection closed
// since it took its window, the writer drops them, and must not take
// conn.mu to do it (it deadlocked so once, found by goleak).
func TestPushAfterCloseTakesNoConnLock(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := newConn(a, 65535)
	var s sendState
	s.init(c, 1)
	c.close(errors.New("gone"))
	buf := getBuf(5)
	c.mu.Lock()
	pushed := make(chan struct{})
	go func() {
		c.w.push(item{kind: itemData, sid: 1, data: (*buf)[:5], buf: buf, end: true, s: &s})
		close(pushed)
	}()
	select {
	case <-pushed:
	case <-time.After(5 * time.Second):
		c.mu.Unlock()
		<-pushed
		t.Fatal("push on a closed connection waited for conn.mu")
	}
	c.mu.Unlock()
}
