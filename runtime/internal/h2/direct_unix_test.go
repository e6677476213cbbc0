//go:build unix

package h2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestDirectConnRead reads a socket through directConn as net.Conn
// would: bytes, many reads' worth of them, end of stream, deadlines, and
// errors of net.Conn's form.
func TestDirectConnRead(t *testing.T) {
	a, b := tcpPair(t)
	r := newDirectConn(b)
	if r == nil {
		t.Fatal("no directConn for a TCP socket")
	}

	// Small: one write, one read.
	if n, err := a.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 64)
	if n, err := r.read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read = %q, %v", buf[:n], err)
	}

	// Large: more than the socket buffers hold, so the reader waits for
	// the writer, and the writer for the reader.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	done := make(chan error, 1)
	go func() {
		n, err := a.Write(big)
		if err == nil && n != len(big) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	var got bytes.Buffer
	for got.Len() < len(big) {
		n, err := r.read(buf[:cap(buf)])
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
		got.Write(buf[:n])
		if got.Len() == 64 {
			buf = make([]byte, 32<<10)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Write of %d bytes: %v", len(big), err)
	}
	if !bytes.Equal(got.Bytes(), big) {
		t.Fatal("bytes read differ from bytes written")
	}

	// A read deadline ends a read with nothing to read, as net.Conn's.
	_ = b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, err := r.read(buf)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read past the deadline: %#v, want a *net.OpError for read", err)
	}
	_ = b.SetReadDeadline(time.Time{})

	// The peer's close is io.EOF.
	a.Close()
	if n, err := r.read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed = %d, %v; want io.EOF", n, err)
	}
	// After its own close, read fails with net.ErrClosed.
	b.Close()
	if _, err := r.read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close = %v, want net.ErrClosed", err)
	}
}

// TestDirectConnWriteAll writes a socket through directConn as net.Conn
// would: more than the socket takes at once, waiting for the reader to
// make room; until the write deadline with a peer that does not read,
// having written what the socket took; and, to a peer gone, an error of
// net.Conn's form.
func TestDirectConnWriteAll(t *testing.T) {
	a, b := tcpPair(t)
	w := newDirectConn(a)
	big := bytes.Repeat([]byte("fedcba9876543210"), 1<<18) // 4 MiB
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(io.LimitReader(b, int64(len(big))))
		got <- all
	}()
	if n, err := w.writeAll(big); n != len(big) || err != nil {
		t.Fatalf("writeAll of %d bytes = %d, %v", len(big), n, err)
	}
	if !bytes.Equal(<-got, big) {
		t.Fatal("bytes read differ from bytes written")
	}

	// Nobody reads b now: the socket fills, and the deadline ends the
	// write.
	_ = a.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	huge := make([]byte, 64<<20)
	n, err := w.writeAll(huge)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writeAll to a peer that does not read = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
	if n <= 0 || n >= len(huge) {
		t.Fatalf("writeAll wrote %d of %d bytes before its deadline; want some, not all", n, len(huge))
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("writeAll past its deadline: %#v, want a *net.OpError for write", err)
	}
	_ = a.SetWriteDeadline(time.Time{})

	// The peer goes: writing fails, soon, with EPIPE or ECONNRESET.
	b.Close()
	var werr error
	for range 100 {
		if _, werr = w.writeAll([]byte("x")); werr != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
		t.Fatalf("writeAll to a closed peer = %v, want EPIPE or ECONNRESET", werr)
	}
	if !errors.As(werr, &oe) || oe.Op != "write" {
		t.Fatalf("writeAll to a closed peer: %#v, want a *net.OpError for write", werr)
	}
}

// TestReadSocketOnlyForSockets: TLS, and any other net.Conn whose bytes
// are not its socket's, is read through net.Conn; a connection replaying
// bytes it read first is read directly once they are consumed.
func TestReadSocketOnlyForSockets(t *testing.T) {
	a, _ := tcpPair(t)
	if d, retry := readSocket(a); d == nil || retry {
		t.Fatalf("readSocket(TCP) = %v, %v; want a directConn", d, retry)
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if d, retry := readSocket(p1); d != nil || retry {
		t.Fatalf("readSocket(pipe) = %v, %v; want nil for good", d, retry)
	}
	rc := &socketLater{Conn: a}
	if d, retry := readSocket(rc); d != nil || !retry {
		t.Fatalf("readSocket before the replayed bytes are read = %v, %v; want nil, retry", d, retry)
	}
	rc.ready = true
	if d, retry := readSocket(rc); d == nil || retry {
		t.Fatalf("readSocket once they are = %v, %v; want a directConn", d, retry)
	}
}

// socketLater stands for transport's replayConn: its socket is readable
// directly once ready.
type socketLater struct {
	net.Conn
	ready bool
}

func (c *socketLater) Socket() net.Conn {
	if !c.ready {
		return nil
	}
	return c.Conn
}

// TestConnsUseSocketsDirectly: over loopback TCP both ends read and write
// their sockets through directConn, and a body large enough to need many
// reads, writes and window updates comes back whole.
func TestConnsUseSocketsDirectly(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	addr := serveTest(t, srv)
	c := newTestClient(t, addr, transport.ClientConfig{})
	body := bytes.Repeat([]byte("parley "), 300<<10) // 2.1 MB
	r := <-roundTrip(context.Background(), c, body)
	if r.err != nil {
		t.Fatal(r.err)
	}
	got, err := io.ReadAll(r.resp.Body)
	r.resp.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("echo of %d bytes: got %d bytes, %v", len(body), len(got), err)
	}
	cl := c.(*client)
	cl.mu.Lock()
	cc := cl.cc
	cl.mu.Unlock()
	if cc == nil || cc.br.sock == nil || cc.w.direct == nil {
		t.Fatal("the client connection does not use its socket directly")
	}
	s := srv.(*server)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 1 {
		t.Fatalf("%d server connections, want 1", len(s.conns))
	}
	for sc := range s.conns {
		// The reader may have parked its buffers, not its socket reader.
		if !sc.br.sockSet || sc.br.sock == nil || sc.w.direct == nil {
			t.Fatal("the server connection does not use its socket directly")
		}
	}
}
