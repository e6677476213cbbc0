//go:build unix

package h2

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// directConn reads or writes a TCP or Unix socket through its
// syscall.RawConn: a write without waiting (write), or a write or read
// that waits (writeAll with sysWrite, read with sysRead), for which the
// socket's deadlines and Go's netpoller still apply, as for net.Conn's
// own Write and Read. One is used by one goroutine at a time: the
// writer's by whoever writes for the writer (writer.writeNow,
// drainClaimed, the writer goroutine), the reader's by the connection's
// reader.
type directConn struct {
	raw syscall.RawConn
	nc  net.Conn // for the addresses in errors
	// One operation's arguments and results.
	p     []byte
	n     int
	errno syscall.Errno
	// The operations, each made on its first use so that no later one
	// allocates (a connection reads with one directConn and writes with
	// another).
	attemptFn, writeFn, readFn func(fd uintptr) bool
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
	return &directConn{raw: raw, nc: nc}
}

// readSocket returns a directConn to read nc's socket with, or nil where
// nc's bytes are not the socket's (TLS); retry reports that it may be
// asked again later (a connection that replays bytes it has read first).
func readSocket(nc net.Conn) (d *directConn, retry bool) {
	if r, ok := nc.(interface{ Socket() net.Conn }); ok {
		s := r.Socket()
		if s == nil {
			return nil, true
		}
		nc = s
	}
	return newDirectConn(nc), false
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
	if d.attemptFn == nil {
		d.attemptFn = d.attempt
	}
	d.p, d.n = p, 0
	if d.raw.Write(d.attemptFn) != nil {
		d.n = 0
	}
	d.p = nil
	return d.n
}

func (d *directConn) writeSome(fd uintptr) bool {
	for len(d.p) > 0 {
		n, e := sysWrite(fd, d.p)
		if e == syscall.EAGAIN {
			return false // the poller waits for room, or the deadline
		}
		if e != 0 {
			d.errno = e
			return true
		}
		d.n += n
		d.p = d.p[n:]
	}
	return true
}

// writeAll writes all of p, waiting for the socket as net.Conn's Write
// does.
func (d *directConn) writeAll(p []byte) (int, error) {
	if d.writeFn == nil {
		d.writeFn = d.writeSome
	}
	d.p, d.n, d.errno = p, 0, 0
	err := d.raw.Write(d.writeFn)
	n, errno := d.n, d.errno
	d.p = nil
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	return n, d.opError("write", err)
}

func (d *directConn) readSome(fd uintptr) bool {
	n, e := sysRead(fd, d.p)
	if e == syscall.EAGAIN {
		return false // the poller waits for bytes, or the deadline
	}
	d.n, d.errno = n, e
	return true
}

// read reads what the socket has into p, waiting for some as net.Conn's
// Read does.
func (d *directConn) read(p []byte) (int, error) {
	if d.readFn == nil {
		d.readFn = d.readSome
	}
	d.p, d.n, d.errno = p, 0, 0
	err := d.raw.Read(d.readFn)
	n, errno := d.n, d.errno
	d.p = nil
	switch {
	case err != nil:
	case errno != 0:
		err = os.NewSyscallError("read", errno)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, d.opError("read", err)
}

// opError gives err the form net.Conn's errors have.
func (d *directConn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		oe.Op = op // RawConn's say raw-read, raw-write
		return oe
	}
	return &net.OpError{Op: op, Net: d.nc.LocalAddr().Network(), Source: d.nc.LocalAddr(), Addr: d.nc.RemoteAddr(), Err: err}
}
