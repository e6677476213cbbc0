package runtime_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// closedWithin reports whether the server closes c within d (a read returns
// an error other than a timeout).
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestSilentConnections: connections that never complete the HTTP/2
// handshake (no bytes at all, half a preface, a preface without SETTINGS,
// or, over TLS, no TLS handshake) are closed after ConnectionTimeout, while
// a connection that did complete it may stay idle for longer.
func TestSilentConnections(t *testing.T) { forEachImpl(t, testSilentConnections) }

func testSilentConnections(t *testing.T, tr transport) {
	const timeout = 300 * time.Millisecond
	for _, tr := range []transport{tr, tr.withTLS(t)} {
		t.Run(tr.name, func(t *testing.T) {
			e := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{prt.ConnectionTimeout(timeout)}})
			if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "before"}); err != nil {
				t.Fatal(err)
			}
			greetings := map[string]string{
				"silent":          "",
				"half a preface":  http2.ClientPreface[:10],
				"no SETTINGS":     http2.ClientPreface,
				"TLS hello, then": "\x16\x03\x01\x00\x05", // a TLS record header, then nothing
			}
			start := time.Now()
			var conns []net.Conn
			for name, greeting := range greetings {
				for i := 0; i < 5; i++ {
					c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if _, err := io.WriteString(c, greeting); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					conns = append(conns, c)
				}
			}
			for _, c := range conns {
				if !closedWithin(c, 10*time.Second) {
					t.Fatalf("a connection that never completed its handshake was open after %v", time.Since(start))
				}
			}
			if d := time.Since(start); d < timeout/2 {
				t.Fatalf("connections closed after %v, before the timeout", d)
			}
			// The established connection outlives the timeout.
			time.Sleep(2 * timeout)
			if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "after"}); err != nil {
				t.Fatalf("a call on a connection idle past ConnectionTimeout: %v", err)
			}
		})
	}
}

// TestSilentConnectionsWithHTTPHandler: with WithHTTPHandler, a server
// that also speaks HTTP/1.1 closes a connection that sends nothing, or
// half an HTTP/1.1 request, after ConnectionTimeout too (it used to give
// them net/http's fixed 10 s more).
func TestSilentConnectionsWithHTTPHandler(t *testing.T) {
	const timeout = 300 * time.Millisecond
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "page") })
	for _, name := range implementations {
		t.Run(name, func(t *testing.T) {
			tr := transportNamed(t, name)
			e := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{
				prt.ConnectionTimeout(timeout), prt.WithHTTPHandler(page),
			}})
			start := time.Now()
			var conns []net.Conn
			for _, greeting := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n"} {
				for range 5 {
					c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if _, err := io.WriteString(c, greeting); err != nil {
						t.Fatal(err)
					}
					conns = append(conns, c)
				}
			}
			for _, c := range conns {
				if !closedWithin(c, 5*time.Second) {
					t.Fatalf("a silent connection was open after %v, with a %v connection timeout", time.Since(start), timeout)
				}
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("silent connections closed after %v, with a %v connection timeout", d, timeout)
			}
			if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{}); err != nil {
				t.Fatalf("a call after them: %v", err)
			}
		})
	}
}

// TestZeroWindowDeadline: a client that grants no flow-control window
// (SETTINGS_INITIAL_WINDOW_SIZE 0) and calls with a deadline cannot hold
// the call past it: the stream is reset soon after the deadline, the
// handler and its buffered response are released, and a graceful Shutdown
// does not wait on it.
func TestZeroWindowDeadline(t *testing.T) { forEachImpl(t, testZeroWindowDeadline) }

func testZeroWindowDeadline(t *testing.T, tr transport) {
	done := make(chan struct{}, 1)
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Big/Get", func(ctx context.Context, m *Msg) (*Msg, error) {
			defer func() { done <- struct{}{} }()
			return &Msg{Data: make([]byte, 1<<20)}, nil
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	h := dialZeroWindow(t, e.addr)
	id := h.newStream()
	start := time.Now()
	h.writeHeaders(id, false, grpcFields("/test.Big/Get", "grpc-timeout", "500m")...)
	h.writeData(id, true, frame(0, msgpackMsg))
	r := h.await(id)
	took := time.Since(start)
	t.Logf("after %v: %v", took, r)
	if !r.rst || len(r.data) > 0 {
		t.Fatalf("want the stream reset with nothing sent, got %v", r)
	}
	if tr.impl == prt.TransportFramer && r.rstCode != http2.ErrCodeCancel {
		t.Fatalf("RST_STREAM(%v), want CANCEL", r.rstCode)
	}
	if took > 5*time.Second {
		t.Fatalf("reset %v after a 500 ms deadline", took)
	}
	<-done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v after %v (the call still held)", err, time.Since(start))
	}
}

// TestMaxConnectionIdle: a connection without calls for MaxConnectionIdle
// is closed gracefully, and the client dials again for its next call.
func TestMaxConnectionIdle(t *testing.T) { forEachImpl(t, testMaxConnectionIdle) }

func testMaxConnectionIdle(t *testing.T, tr transport) {
	dialer, dialled := countingDialer()
	e := newEnv(t, tr, registerEcho, envOpts{
		server: []prt.ServerOption{prt.MaxConnectionIdle(200 * time.Millisecond)},
		dial:   []prt.DialOption{dialer},
	})
	for i := 0; i < 2; i++ {
		if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "hi"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		time.Sleep(700 * time.Millisecond)
	}
	if n := dialled(); n != 2 {
		t.Fatalf("%d connections dialled for two calls 700 ms apart, want 2 (the idle one closed)", n)
	}
}

// TestMaxConnectionAge: a connection older than MaxConnectionAge is
// drained: a call in flight finishes within the grace period, later calls
// go over a new connection, and none fails.
func TestMaxConnectionAge(t *testing.T) {
	tr := transportNamed(t, "framer-h2c")
	dialer, dialled := countingDialer()
	e := newEnv(t, tr, registerEcho, envOpts{
		server: []prt.ServerOption{prt.MaxConnectionAge(200*time.Millisecond, 5*time.Second)},
		dial:   []prt.DialOption{dialer},
	})
	long, err := prt.Open[Msg, Msg](testCtx(t), e.client, mBidi)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	calls := 0
	for time.Now().Before(deadline) {
		if _, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "hi"}); err != nil {
			t.Fatalf("call %d: %v", calls, err)
		}
		calls++
		time.Sleep(20 * time.Millisecond)
	}
	// The stream opened on the first connection still works in its grace.
	if err := long.Send(&Msg{Text: "still"}); err != nil {
		t.Fatal(err)
	}
	if m, err := long.Recv(); err != nil || !strings.HasSuffix(m.Text, "still") {
		t.Fatalf("the long call in its grace period: %v, %v", m, err)
	}
	_ = long.CloseSend()
	if _, err := long.Recv(); err != io.EOF {
		t.Fatalf("the long call ended with %v", err)
	}
	if n := dialled(); n < 3 {
		t.Fatalf("%d connections over 1 s with a 200 ms age, want at least 3", n)
	}
	t.Logf("%d calls over %d connections", calls, dialled())
}

// TestMaxConnectionAgeNetHTTP: net/http cannot drain one connection, so
// over TransportNetHTTP a connection is closed at MaxConnectionAge plus
// its grace; the client's next calls go over a new one. (Its timer once
// raced with the h2c preface reader, which the race detector saw.)
func TestMaxConnectionAgeNetHTTP(t *testing.T) {
	tr := transportNamed(t, "nethttp-h2c")
	dialer, dialled := countingDialer()
	e := newEnv(t, tr, registerEcho, envOpts{
		server: []prt.ServerOption{prt.MaxConnectionAge(50*time.Millisecond, 50*time.Millisecond)},
		dial:   []prt.DialOption{dialer},
	})
	waitFor(t, "a second connection", func() bool {
		_, err := prt.CallUnary[Msg, Msg](testCtx(t), e.client, mUnary, &Msg{Text: "hi"})
		if err != nil && wire.CodeOf(err) != wire.Unavailable {
			t.Fatalf("call: %v", err)
		}
		return dialled() >= 2 && err == nil
	})
}

// TestClientControlFlood: a server that floods PINGs and never reads cannot
// run a client out of memory: the client's call fails, and its heap stays
// small. (A parley client used to queue an ACK for each PING without a
// bound: ~1 GiB in 10 s.)
func TestClientControlFlood(t *testing.T) { forEachImpl(t, testClientControlFlood) }

func testClientControlFlood(t *testing.T, tr transport) {
	l := testutil.Listen(t, "tcp4")
	flooded := make(chan int, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			flooded <- 0
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		bw := bufio.NewWriterSize(c, 64<<10)
		fr := http2.NewFramer(bw, c)
		if fr.WriteSettings() != nil || bw.Flush() != nil {
			flooded <- 0
			return
		}
		// Never read again: PINGs until the client gives up, bounded.
		n := 0
		for ; n < 2_000_000; n++ {
			if fr.WritePing(false, [8]byte{byte(n)}) != nil {
				break
			}
			if n%1000 == 999 && bw.Flush() != nil {
				break
			}
		}
		flooded <- n
	}()
	before := heapInUse()
	client, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// x/net's client stops reading while it cannot write an ACK, so its
	// call waits for its deadline; the framer's ends the connection.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = prt.CallUnary[Msg, Msg](ctx, client, mUnary, &Msg{})
	client.Close()
	n := <-flooded
	grew := int64(heapInUse()) - int64(before)
	t.Logf("call: %v; %d PINGs sent before the client stopped them; heap %+d KiB", err, n, grew>>10)
	if err == nil {
		t.Fatal("the call succeeded")
	}
	if code := wire.CodeOf(err); code != wire.Unavailable && code != wire.DeadlineExceeded {
		t.Fatalf("the call failed with %v, want UNAVAILABLE", err)
	}
	if grew > 64<<20 {
		t.Fatalf("the client's heap grew by %d MiB under a PING flood", grew>>20)
	}
}

// TestOutboundBytesBound: a client that grants no window holds a
// server-streaming call to about a megabyte of queued responses, not to
// MailboxSize messages of any size: Send blocks once the outbound mailbox
// holds maxQueuedBytes (1 MiB), whatever its count.
func TestOutboundBytesBound(t *testing.T) { forEachImpl(t, testOutboundBytesBound) }

func testOutboundBytesBound(t *testing.T, tr transport) {
	sent := make(chan int, 1)
	register := func(s *prt.Server) {
		prt.HandleServerStream(s, "/test.Big/Stream", func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
			ctx, cancel := context.WithTimeout(call.Context(), time.Second)
			defer cancel()
			n := 0
			for ; n < 64; n++ {
				if call.Out().Send(ctx, &Msg{Data: make([]byte, 512<<10)}) != nil {
					break
				}
			}
			sent <- n
			return nil
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	h := dialZeroWindow(t, e.addr)
	id := h.newStream()
	h.writeHeaders(id, false, grpcFields("/test.Big/Stream")...)
	h.writeData(id, true, frame(0, msgpackMsg))
	n := <-sent
	t.Logf("%d responses of 512 KiB queued before Send blocked", n)
	// One taken by the writer and held back by flow control, two in the
	// mailbox (1 MiB), and on x/net what its response writer buffers.
	if n > 4 {
		t.Fatalf("%d responses of 512 KiB queued for a client that reads none", n)
	}
}

// TestInboundDecodedBound: compressed messages are decoded ahead of a
// handler that does not receive only up to about a megabyte (or one
// message), not MailboxSize messages: 12 messages of a few KB of gzip that
// each inflate to 1.5 MiB used to hold 18 MiB in the mailbox of a handler
// that had not read them.
func TestInboundDecodedBound(t *testing.T) { forEachImpl(t, testInboundDecodedBound) }

func testInboundDecodedBound(t *testing.T, tr transport) {
	release := make(chan struct{})
	register := func(s *prt.Server) {
		prt.HandleBidi(s, "/test.Bomb/Hold", func(call *prt.ServerCall[Msg, Msg]) error {
			<-release // receives nothing until the test is done measuring
			return nil
		})
	}
	e := newEnv(t, tr, register, envOpts{})
	call, err := prt.Open[Msg, Msg](testCtx(t), e.client, "/test.Bomb/Hold", prt.UseCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	before := heapInUse()
	for i := 0; i < 12; i++ {
		if err := call.Send(&Msg{Data: make([]byte, 3<<19)}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the server decode what it will
	grew := int64(heapInUse()) - int64(before)
	close(release)
	_, _ = call.CloseAndRecv()
	t.Logf("heap %+d KiB with 12 messages of 1.5 MiB (gzip'd) sent to a handler that reads none", grew>>10)
	if grew > 8<<20 {
		t.Fatalf("the heap grew by %d MiB: messages were decoded ahead of the handler", grew>>20)
	}
}

// dialZeroWindow connects a raw client that grants no flow-control window
// (SETTINGS_INITIAL_WINDOW_SIZE 0, no connection WINDOW_UPDATE): the
// server can send HEADERS and trailers, but no DATA.
func dialZeroWindow(t *testing.T, addr string) *h2conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	h := &h2conn{t: t, c: c, bw: bufio.NewWriter(c), nextID: 1}
	h.fr = http2.NewFramer(h.bw, c)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hbuf)
	_, _ = h.bw.WriteString(http2.ClientPreface)
	h.check(h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}))
	return h
}

// countingDialer returns a WithDialer option that dials TCP and a function
// reporting how many connections it has dialled.
func countingDialer() (prt.DialOption, func() int64) {
	var n atomic.Int64
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		n.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return prt.WithDialer(dial), n.Load
}
