package runtime_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// blackholeProxy forwards in-memory connections (pipeListener) to a
// server until Blackhole is called; from then on it keeps reading from both
// sides but forwards nothing, like a peer that died without closing its
// connection (a cable cut, a frozen VM). Clients dial it with l.dial.
type blackholeProxy struct {
	l     *pipeListener
	dial  func(ctx context.Context, addr string) (net.Conn, error) // to the server
	dead  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newBlackholeProxy(dial func(ctx context.Context, addr string) (net.Conn, error)) *blackholeProxy {
	p := &blackholeProxy{l: newPipeListener(), dial: dial}
	p.wg.Add(1)
	go p.accept()
	return p
}

// Blackhole stops forwarding on every connection.
func (p *blackholeProxy) Blackhole() { p.dead.Store(true) }

func (p *blackholeProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := p.dial(context.Background(), "")
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

func (p *blackholeProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.dead.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !p.dead.Load() {
				dst.Close()
			}
			return
		}
	}
}

func (p *blackholeProxy) close() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestKeepaliveDeadPeer: with keepalive on, a peer that stops answering
// (traffic black-holed, no FIN or RST) is detected within interval +
// timeout (plus one interval for the idle timer's phase), and its calls
// fail with UNAVAILABLE (client) or are cancelled (server), instead of
// hanging forever. It runs on fake time (synctest, over in-memory
// connections), so the bound holds exactly on any machine.
func TestKeepaliveDeadPeer(t *testing.T) { forEachImpl(t, testKeepaliveDeadPeer) }

// testKeepaliveDeadPeer is TestKeepaliveDeadPeer over tr.
func testKeepaliveDeadPeer(t *testing.T, tr transport) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	for _, tc := range []struct {
		name         string
		server, dial []prt.Option
	}{
		{"client detects", nil, []prt.Option{prt.WithKeepalive(interval, timeout)}},
		{"server detects", []prt.Option{prt.WithKeepalive(interval, timeout)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				handlerErr := make(chan error, 1)
				srv := prt.NewServer(tr.serverOpts(append([]prt.ServerOption{prt.WithLogger(discardLogger())}, toServer(tc.server)...)...)...)
				prt.HandleBidi(srv, "/test.Keepalive/Wait", func(call *prt.ServerCall[Msg, Msg]) error {
					if err := call.Send(&Msg{Text: "ready"}); err != nil {
						return err
					}
					<-call.Context().Done()
					handlerErr <- call.Context().Err()
					return call.Context().Err()
				})
				l := newPipeListener()
				served := make(chan struct{})
				go func() { srv.Serve(l); close(served) }()
				defer func() { srv.Close(); <-served }()
				proxy := newBlackholeProxy(l.dial)
				defer proxy.close()
				c, err := prt.Dial(l.Addr().String(), tr.dialOpts(append(toDial(tc.dial), prt.WithDialer(proxy.l.dial))...)...)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				call, err := prt.Open[Msg, Msg](ctx, c, "/test.Keepalive/Wait")
				if err != nil {
					t.Fatal(err)
				}
				defer call.Cancel()
				if err := call.Send(&Msg{}); err != nil {
					t.Fatal(err)
				}
				if _, err := call.Recv(); err != nil {
					t.Fatal(err)
				}
				proxy.Blackhole()
				start := time.Now()
				if tc.dial != nil {
					_, err := call.Recv()
					wantCode(t, err, wire.Unavailable)
					t.Logf("client saw %v after %v", err, time.Since(start))
				} else {
					select {
					case err := <-handlerErr:
						if !errors.Is(err, context.Canceled) {
							t.Fatalf("handler saw %v", err)
						}
						t.Logf("server cancelled the call after %v", time.Since(start))
					case <-time.After(20 * time.Second):
						t.Fatal("the server did not detect the dead client")
					}
				}
				if d := time.Since(start); d > 2*interval+timeout {
					t.Errorf("detection took %v, want at most %v", d, 2*interval+timeout)
				}
			})
		})
	}
}

func toServer(opts []prt.Option) []prt.ServerOption {
	out := make([]prt.ServerOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func toDial(opts []prt.Option) []prt.DialOption {
	out := make([]prt.DialOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

// TestPingFlood: a client sends 10 000 PINGs back to back while a
// well-behaved client calls the same server. The framer server enforces its
// keepalive policy (WithKeepaliveEnforcement): after a few PINGs closer
// than the minimum time it answers GOAWAY(ENHANCE_YOUR_CALM) with debug data
// "too_many_pings" and closes the connection. x/net/http2's server has no
// such policy and answers every PING (its only guard is a cap of 10 000
// queued control frames, which closes the connection of a flooder that
// also stops reading). On both, the well-behaved client is served
// throughout.
func TestPingFlood(t *testing.T) { forEachImpl(t, testPingFlood) }

// testPingFlood is TestPingFlood over tr.
func testPingFlood(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{prt.WithLogger(discardLogger())}})
	stop := wellBehaved(t, e.client)
	h := dialH2(t, e.addr)
	const pings = 10000
	type result struct {
		acks   int
		code   http2.ErrCode
		debug  string
		goAway bool
	}
	res := make(chan result, 1)
	go func() {
		var r result
		defer func() { res <- r }()
		for r.acks < pings {
			f, err := h.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				if f.IsAck() {
					r.acks++
				}
			case *http2.GoAwayFrame:
				r.goAway, r.code, r.debug = true, f.ErrCode, string(f.DebugData())
			}
		}
	}()
	start := time.Now()
	var werr error
	for i := 0; i < pings && werr == nil; i++ {
		werr = h.fr.WritePing(false, [8]byte{byte(i), byte(i >> 8)})
		if i%500 == 499 && werr == nil {
			werr = h.bw.Flush()
		}
	}
	if werr == nil {
		werr = h.bw.Flush()
	}
	var r result
	select {
	case r = <-res:
	case <-time.After(30 * time.Second):
		h.c.Close()
		r = <-res
	}
	elapsed := time.Since(start)
	ok, err := stop()
	if err != nil {
		t.Errorf("the well-behaved client failed during the flood: %v", err)
	}
	if tr.impl == prt.TransportFramer {
		if !r.goAway || r.code != http2.ErrCodeEnhanceYourCalm || r.debug != "too_many_pings" {
			t.Fatalf("after %d PING ACKs: GOAWAY %v (%v, %q), want GOAWAY(ENHANCE_YOUR_CALM, \"too_many_pings\")", r.acks, r.goAway, r.code, r.debug)
		}
		t.Logf("PING flood: GOAWAY(%v, %q) after %d PINGs answered, in %v; well-behaved client: %d calls OK meanwhile", r.code, r.debug, r.acks, elapsed.Round(time.Millisecond), ok)
		return
	}
	if r.acks != pings {
		t.Fatalf("%d of %d PINGs answered (write error %v)", r.acks, pings, werr)
	}
	t.Logf("PING flood: %d PINGs answered in %v; well-behaved client: %d calls OK meanwhile", r.acks, elapsed.Round(time.Millisecond), ok)
}

// TestKeepaliveEnforcement: a client whose keepalive pings respect the
// framer server's policy (WithKeepalive with an interval of at least the
// policy's minimum time) keeps its connection and its idle stream; one that
// pings faster is sent GOAWAY(ENHANCE_YOUR_CALM) and its stream fails. The
// clients run on both implementations; x/net's Transport pings too. It
// runs on fake time (synctest, over in-memory connections): on real time a
// loaded machine could delay a PING ACK past the allowed client's timeout,
// or two PINGs into one minimum time.
func TestKeepaliveEnforcement(t *testing.T) {
	const minTime = 100 * time.Millisecond
	for _, client := range implementations {
		ctr := transportNamed(t, client)
		// The framer client sends its next PING once the previous one's
		// timeout has passed, so its rate depends on both durations.
		for _, tc := range []struct {
			name              string
			interval, timeout time.Duration
			punished          bool
		}{
			{"allowed rate", 2 * minTime, minTime, false},
			{"too fast", minTime / 10, minTime / 3, true},
		} {
			t.Run(ctr.name+" client, "+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv := prt.NewServer(prt.WithHTTP2Transport(prt.TransportFramer), prt.WithLogger(discardLogger()),
						prt.WithKeepaliveEnforcement(minTime, true))
					registerEcho(srv)
					l := newPipeListener()
					served := make(chan struct{})
					go func() { srv.Serve(l); close(served) }()
					defer func() { srv.Close(); <-served }()
					c, err := prt.Dial(l.Addr().String(), ctr.dialOpts(prt.WithKeepalive(tc.interval, tc.timeout), prt.WithDialer(l.dial))...)
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					ctx := t.Context()
					call, err := prt.Open[Msg, Msg](ctx, c, mBidi)
					if err != nil {
						t.Fatal(err)
					}
					defer call.Cancel()
					if err := call.Send(&Msg{Text: "1"}); err != nil {
						t.Fatal(err)
					}
					if _, err := call.Recv(); err != nil {
						t.Fatal(err)
					}
					// Idle long enough for several pings at either rate: the
					// policy strikes out on the third early one.
					time.Sleep(15 * minTime)
					_ = call.Send(&Msg{Text: "2"})
					_, err = call.Recv()
					if tc.punished {
						if err == nil {
							t.Fatal("a client pinging every", tc.interval, "was not stopped")
						}
						t.Logf("a client pinging every %v: stream ended with %v", tc.interval, err)
					} else if err != nil {
						t.Fatalf("a client pinging every %v lost its stream: %v", tc.interval, err)
					}
					if _, err := prt.CallUnary[Msg, Msg](ctx, c, mUnary, &Msg{}); err != nil {
						t.Fatalf("next call: %v", err)
					}
				})
			})
		}
	}
}

// TestGoAwayRedial: after the server it talks to shuts down gracefully, a
// client keeps its in-flight stream on the draining connection and sends
// new calls over a fresh connection (here to a replacement server).
func TestGoAwayRedial(t *testing.T) { forEachImpl(t, testGoAwayRedial) }

// testGoAwayRedial is TestGoAwayRedial over tr.
func testGoAwayRedial(t *testing.T, tr transport) {
	start := func(name string) (*prt.Server, string, chan struct{}) {
		srv := prt.NewServer(tr.serverOpts()...)
		prt.HandleUnary(srv, "/test.Redial/Who", func(ctx context.Context, req *Msg) (*Msg, error) {
			return &Msg{Text: name}, nil
		})
		prt.HandleBidi(srv, "/test.Redial/Echo", func(call *prt.ServerCall[Msg, Msg]) error {
			for {
				m, err := call.Recv()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := call.Send(&Msg{Text: name + ": " + m.Text}); err != nil {
					return err
				}
			}
		})
		l := testutil.Listen(t, "tcp4")
		served := make(chan struct{})
		go func() { srv.Serve(l); close(served) }()
		t.Cleanup(func() { srv.Close(); <-served })
		return srv, l.Addr().String(), served
	}
	a, addrA, servedA := start("A")
	_, addrB, _ := start("B")
	var target atomic.Value
	target.Store(addrA)
	c, err := prt.Dial("parley.test:1", tr.dialOpts(prt.WithDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", target.Load().(string))
	}))...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	who := func() string {
		t.Helper()
		res, err := prt.CallUnary[Msg, Msg](ctx, c, "/test.Redial/Who", &Msg{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Text
	}
	if got := who(); got != "A" {
		t.Fatalf("first call went to %s", got)
	}
	stream, err := prt.Open[Msg, Msg](ctx, c, "/test.Redial/Echo")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(text string) string {
		t.Helper()
		if err := stream.Send(&Msg{Text: text}); err != nil {
			t.Fatal(err)
		}
		m, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return m.Text
	}
	if got := roundTrip("1"); got != "A: 1" {
		t.Fatal(got)
	}
	shut := make(chan error, 1)
	go func() { shut <- a.Shutdown(ctx) }()
	<-servedA // A's listener is closed; its connection is draining
	target.Store(addrB)
	// New calls redial (the GOAWAY may take a moment to arrive: poll).
	deadline := time.Now().Add(10 * time.Second)
	for who() != "B" {
		if time.Now().After(deadline) {
			t.Fatal("the client never moved to the new server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The stream on the draining connection still works, and its end lets
	// Shutdown finish.
	if got := roundTrip("2"); got != "A: 2" {
		t.Fatal(got)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a stream in flight", err)
	default:
	}
	stream.CloseSend()
	if _, err := recvAll(t, stream); err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestCloseImmediate: Close does not wait for handlers, even ones that
// ignore their context; their clients see the call fail.
func TestCloseImmediate(t *testing.T) { forEachImpl(t, testCloseImmediate) }

// testCloseImmediate is TestCloseImmediate over tr.
func testCloseImmediate(t *testing.T, tr transport) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	srv := prt.NewServer(tr.serverOpts()...)
	prt.HandleUnary(srv, "/test.Close/Stuck", func(ctx context.Context, req *Msg) (*Msg, error) {
		started <- struct{}{}
		<-release
		return req, nil
	})
	prt.HandleBidi(srv, "/test.Close/StuckStream", func(call *prt.ServerCall[Msg, Msg]) error {
		started <- struct{}{}
		<-release
		return nil
	})
	defer close(release)
	l := testutil.Listen(t, "tcp4")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	unary := make(chan error, 1)
	go func() {
		_, err := prt.CallUnary[Msg, Msg](ctx, c, "/test.Close/Stuck", &Msg{})
		unary <- err
	}()
	stream, err := prt.Open[Msg, Msg](ctx, c, "/test.Close/StuckStream")
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&Msg{})
	<-started
	<-started
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waits for no handler (these wait for release, at the end of
	// the test); a loaded machine may still take a while to close the
	// connections.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := <-served; !errors.Is(err, prt.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if err := <-unary; wire.CodeOf(err) != wire.Unavailable && wire.CodeOf(err) != wire.Canceled {
		t.Errorf("unary call on a closed server: %v", err)
	}
	if _, err := recvAll(t, stream); err == nil {
		t.Error("stream on a closed server ended OK")
	}
	t.Logf("Close returned in %v with two stuck handlers", time.Since(start).Round(time.Millisecond))
}
