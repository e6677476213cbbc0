package harness

import (
	"io"
	"net"
	"sync"
)

// serveRaw echoes fixed-size frames over plain TCP: the client sends n
// bytes, the server answers with the same n bytes. No HTTP/2, no framing,
// no codec: the ceiling of a ping-pong on this machine. The frame size is
// the first frame's size, announced by the client as 4 big-endian bytes.
func serveRaw(l net.Listener, _ serverConfig) func() {
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			go func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				echoRaw(c)
			}()
		}
	}()
	return func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
}

func echoRaw(c net.Conn) {
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	size := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if size <= 0 || size > 64<<20 {
		return
	}
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
	}
}

// rawConn is one client connection of the raw ping-pong.
type rawConn struct {
	c   net.Conn
	buf []byte
}

func dialRaw(addr string, size int) (*rawConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	hdr := []byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size)}
	if _, err := c.Write(hdr); err != nil {
		c.Close()
		return nil, err
	}
	return &rawConn{c: c, buf: make([]byte, size)}, nil
}

// roundTrip sends one frame and reads its echo.
func (r *rawConn) roundTrip() error {
	if _, err := r.c.Write(r.buf); err != nil {
		return err
	}
	_, err := io.ReadFull(r.c, r.buf)
	return err
}
