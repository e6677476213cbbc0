package h2

import (
	"bytes"
	"context"
	"io"
	"net"
	goruntime "runtime"
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

// waitFor polls cond for up to 10 s (an idle connection parks after
// bufferIdle, 1 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("still not %s after 10 s", what)
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
	// poller's is all there is (the writers park after bufferIdle too).
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
