package web

import (
	"bytes"
	"io"
	"net"
	"sync"
	"time"
)

// http2Preface is the HTTP/2 client connection preface (RFC 9113, 3.4):
// what a native gRPC client over h2c with prior knowledge sends first.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniffTimeout bounds the wait for a new connection's first bytes.
const sniffTimeout = 10 * time.Second

// Split divides one plaintext listener's connections by protocol, so that
// one port serves native gRPC on parley's own HTTP/2 transport and
// browsers on net/http: connections that open with the HTTP/2 preface
// (h2c with prior knowledge, as gRPC clients speak) come out of Native,
// to pass to runtime.Server.Serve; all others (HTTP/1.1: pages, gRPC-Web,
// WebSockets) come out of HTTP, to pass to an http.Server whose handler
// includes runtime.Server.Handler. Browsers speak HTTP/2 only over TLS;
// with TLS, serve everything with net/http and runtime.Server.Handler
// instead (docs/web.md).
//
// A connection that sends nothing within 10 s, or fails before it has sent
// enough to tell, is closed. Closing both listeners closes l; Close on
// the returned Split closes all three.
func Split(l net.Listener) *SplitListener {
	s := &SplitListener{l: l, done: make(chan struct{})}
	s.native = &subListener{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.http = &subListener{s: s, conns: make(chan net.Conn), closed: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s
}

// SplitListener is the result of Split.
//
// Goroutines: one accepts from l; one per new connection reads its first
// bytes and hands it to a sub-listener's Accept (or closes it). Close waits
// for all of them.
type SplitListener struct {
	l            net.Listener
	native, http *subListener
	done         chan struct{} // closed by Close
	closeOnce    sync.Once
	wg           sync.WaitGroup
	mu           sync.Mutex
	subsClosed   int // sub-listeners closed by their Close; guarded by mu
	err          error
}

// Native returns the listener of the connections that opened with the
// HTTP/2 preface.
func (s *SplitListener) Native() net.Listener { return s.native }

// HTTP returns the listener of every other connection.
func (s *SplitListener) HTTP() net.Listener { return s.http }

// Close closes l and both listeners and waits for the connections being
// sorted to be handed over or closed.
func (s *SplitListener) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.err = s.l.Close()
		s.native.closeOnly()
		s.http.closeOnly()
	})
	s.wg.Wait()
	return s.err
}

func (s *SplitListener) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			s.native.fail(err)
			s.http.fail(err)
			return
		}
		s.wg.Add(1)
		go s.sort(c)
	}
}

// sort reads c's first bytes, as many as it takes to tell the HTTP/2
// preface from anything else, and hands c over with those bytes put back.
func (s *SplitListener) sort(c net.Conn) {
	defer s.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(sniffTimeout))
	var buf []byte
	var chunk [len(http2Preface)]byte
	for len(buf) < len(http2Preface) && http2Preface[:len(buf)] == string(buf) {
		n, err := c.Read(chunk[:len(http2Preface)-len(buf)])
		buf = append(buf, chunk[:n]...)
		if err != nil && (n == 0 || len(buf) < len(http2Preface)) {
			c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	to := s.http
	if string(buf) == http2Preface {
		to = s.native
	}
	to.hand(&peekedConn{Conn: c, r: io.MultiReader(bytes.NewReader(buf), c)})
}

// subListener is one side of a SplitListener.
type subListener struct {
	s      *SplitListener
	conns  chan net.Conn // sorter goroutines -> Accept
	closed chan struct{} // closed by Close
	once   sync.Once
	mu     sync.Mutex
	err    error // the accept error of l, once it failed
}

func (sl *subListener) hand(c net.Conn) {
	select {
	case sl.conns <- c:
	case <-sl.closed:
		c.Close()
	case <-sl.s.done:
		c.Close()
	}
}

func (sl *subListener) fail(err error) {
	sl.mu.Lock()
	sl.err = err
	sl.mu.Unlock()
	sl.closeOnly()
}

// Accept returns the next connection of this protocol.
func (sl *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-sl.conns:
		return c, nil
	case <-sl.closed:
		sl.mu.Lock()
		defer sl.mu.Unlock()
		if sl.err != nil {
			return nil, sl.err
		}
		return nil, net.ErrClosed
	}
}

func (sl *subListener) closeOnly() { sl.once.Do(func() { close(sl.closed) }) }

// Close stops this listener; the underlying one closes with the second.
func (sl *subListener) Close() error {
	first := false
	sl.once.Do(func() {
		close(sl.closed)
		first = true
	})
	if !first {
		return nil
	}
	sl.s.mu.Lock()
	sl.s.subsClosed++
	both := sl.s.subsClosed == 2
	sl.s.mu.Unlock()
	if both {
		return sl.s.Close()
	}
	return nil
}

// Addr is the underlying listener's address.
func (sl *subListener) Addr() net.Addr { return sl.s.l.Addr() }

// peekedConn is a connection whose first bytes were read to sort it, and
// are read again.
type peekedConn struct {
	net.Conn
	r io.Reader // read by the connection's one reading goroutine
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
