package transport

import "net"

// ClientPreface is HTTP/2's client connection preface (RFC 9113, 3.4):
// what a client speaking h2c with prior knowledge sends first.
const ClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// SniffPreface reads the start of a cleartext connection, within the read
// deadline already set on c, until it either is ClientPreface or cannot
// be. It returns a connection that reads those bytes again, whether they
// were the whole preface, and how many bytes it read (a connection that
// ended or failed before reaching a verdict has n < len(ClientPreface)).
func SniffPreface(c net.Conn) (replay net.Conn, isPreface bool, n int) {
	buf := make([]byte, 0, len(ClientPreface))
	for len(buf) < len(ClientPreface) {
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if string(buf) != ClientPreface[:len(buf)] {
			return &replayConn{Conn: c, pre: buf}, false, len(buf)
		}
		if err != nil {
			break
		}
	}
	return &replayConn{Conn: c, pre: buf}, len(buf) == len(ClientPreface), len(buf)
}

// replayConn is a connection whose first bytes, already read, are read
// again.
type replayConn struct {
	net.Conn
	pre []byte // its reader's only
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Socket returns the connection underneath, once the replayed bytes have
// been read (nil before): for a transport that waits on the socket itself
// (an idle connection parked in the poller). Its reader's only.
func (c *replayConn) Socket() net.Conn {
	if len(c.pre) > 0 {
		return nil
	}
	return c.Conn
}

// WriteSocket returns the connection underneath, which writes what
// replayConn writes: for a transport that writes to the socket itself.
// Any goroutine's.
func (c *replayConn) WriteSocket() net.Conn { return c.Conn }
