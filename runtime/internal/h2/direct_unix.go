//go:build unix

package h2

import (
	"net"
	"syscall"
)

// directConn writes to a socket without waiting: one write(2), whatever
// it takes. Used by one goroutine at a time (writer.writeNow's).
type directConn struct {
	raw syscall.RawConn
	fn  func(fd uintptr) bool // d.attempt, made once so a write allocates nothing
	p   []byte
	n   int
}

// newDirectConn returns a directConn for nc's socket, or nil where the
// bytes written are not the bytes sent (TLS) or the socket is out of
// reach.
func newDirectConn(nc net.Conn) *directConn {
	if r, ok := nc.(interface{ WriteSocket() net.Conn }); ok {
		nc = r.WriteSocket()
	}
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	d := &directConn{raw: raw}
	d.fn = d.attempt
	return d
}

func (d *directConn) attempt(fd uintptr) bool {
	n, _ := syscall.Write(int(fd), d.p)
	d.n = max(n, 0)
	return true // done, whether it wrote or would have blocked
}

// write writes what the socket takes of p now and returns how much that
// was; an error (the socket full, or broken) is left to the writer, which
// meets it again.
func (d *directConn) write(p []byte) int {
	d.p, d.n = p, 0
	if d.raw.Write(d.fn) != nil {
		d.n = 0
	}
	d.p = nil
	return d.n
}
