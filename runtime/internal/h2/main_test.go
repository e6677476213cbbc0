package h2

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// serveTest serves srv on a loopback listener until the test ends, and
// returns its address.
func serveTest(t testing.TB, srv transport.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go srv.ServeConn(ctx, c, func() {
				c.Close()
				wg.Done()
			})
		}
	}()
	t.Cleanup(func() {
		l.Close()
		cancel()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// echoHandler answers every request with 200, its body echoed, and a
// trailer.
func echoHandler(s transport.Stream) {
	b, err := io.ReadAll(s.Body())
	if err != nil {
		return
	}
	s.ResponseHeader().Set("Content-Type", "text/plain")
	s.WriteHeader(200)
	if len(b) == 0 {
		b = []byte("hello")
	}
	_, _ = s.Write(b)
	s.ResponseHeader().Set(transport.TrailerPrefix+"X-Done", "yes")
}

// waitFor polls cond for up to 10 s (an idle connection parks within its
// idle period, at most bufferIdle, 1 s).
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
