package web

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// WebSocket over HTTP/2 (RFC 8441). A browser that holds an HTTP/2
// connection to a server which sent SETTINGS_ENABLE_CONNECT_PROTOCOL opens
// a WebSocket as an extended CONNECT on a new stream of that connection
// (":method CONNECT", ":protocol websocket"), not as an HTTP/1.1 upgrade;
// the answer is 200, and the stream's DATA frames then carry the
// WebSocket's frames, exactly as the TCP connection would after an
// upgrade. The WebSocket library speaks only the HTTP/1.1 handshake, so
// the request is presented to it as that handshake and the stream as the
// hijacked connection.

// protocolHeader is where net/http's HTTP/2 server, and parley's, put an
// extended CONNECT's :protocol.
const protocolHeader = ":protocol"

// h2Key stands in for Sec-WebSocket-Key, which RFC 8441 (section 5)
// leaves out: the Sec-WebSocket-Accept it leads to is not sent either.
const h2Key = "AAAAAAAAAAAAAAAAAAAAAA=="

// isH2WebSocket reports whether r opens a WebSocket over HTTP/2.
func isH2WebSocket(r *http.Request) bool {
	return r.Method == http.MethodConnect && r.ProtoMajor == 2 && r.Header.Get(protocolHeader) == "websocket"
}

// asUpgrade returns r as the HTTP/1.1 upgrade the WebSocket library
// accepts, and a ResponseWriter that answers the upgrade as RFC 8441
// prescribes (200, none of the upgrade's header fields) and hands over
// the stream as the connection.
func asUpgrade(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	u := r.Clone(r.Context())
	u.Method = http.MethodGet
	u.Proto, u.ProtoMajor, u.ProtoMinor = "HTTP/1.1", 1, 1
	u.Header.Del(protocolHeader)
	u.Header.Set("Connection", "Upgrade")
	u.Header.Set("Upgrade", "websocket")
	u.Header.Set("Sec-WebSocket-Key", h2Key)
	return &h2Upgrader{ResponseWriter: w, r: r, rc: http.NewResponseController(w), hdr: http.Header{}}, u
}

// h2Upgrader is the ResponseWriter of a WebSocket over HTTP/2.
type h2Upgrader struct {
	http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController
	// hdr is the response header as the WebSocket library sets it; it
	// reads the chosen subprotocol back after the response has gone,
	// when a transport may have let the sent header map go.
	hdr   http.Header
	wrote bool
}

// Header returns the response header to be sent by WriteHeader.
func (u *h2Upgrader) Header() http.Header { return u.hdr }

// WriteHeader answers the upgrade with 200: in HTTP/2 the stream itself
// is what was upgraded. Other statuses (a refusal) go as they are.
func (u *h2Upgrader) WriteHeader(code int) {
	if u.wrote {
		return
	}
	u.wrote = true
	h := u.ResponseWriter.Header()
	for k, v := range u.hdr {
		h[k] = v
	}
	if code == http.StatusSwitchingProtocols {
		h.Del("Connection")
		h.Del("Upgrade")
		h.Del("Sec-WebSocket-Accept")
		code = http.StatusOK
	}
	u.ResponseWriter.WriteHeader(code)
}

// Write writes a refusal's body.
func (u *h2Upgrader) Write(p []byte) (int, error) {
	u.WriteHeader(http.StatusOK)
	return u.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the stream's writer.
func (u *h2Upgrader) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// Hijack sends the 200 now (the client waits for it before it sends
// WebSocket frames) and returns the stream as a connection.
func (u *h2Upgrader) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if err := u.rc.Flush(); err != nil {
		return nil, nil, err
	}
	c := &streamConn{body: u.r.Body, w: u.ResponseWriter, rc: u.rc, remote: u.r.RemoteAddr}
	if a, ok := u.r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.local = a
	}
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
}

// streamConn is an HTTP/2 stream as a net.Conn: the request body is what
// it reads, the response body what it writes. Closing it ends reading
// and, if a write is waiting for flow-control window, cuts the stream
// off; the stream itself ends when the handler returns.
type streamConn struct {
	body   io.ReadCloser
	w      http.ResponseWriter
	rc     *http.ResponseController
	local  net.Addr
	remote string

	mu      sync.Mutex
	writing int  // writes under way
	closed  bool // Close has been called
}

func (c *streamConn) Read(p []byte) (int, error) { return c.body.Read(p) }

func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.writing++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.writing--
		c.mu.Unlock()
	}()
	n, err := c.w.Write(p)
	if err == nil {
		err = c.rc.Flush()
	}
	return n, err
}

// Close ends reading, and makes a write that waits for flow-control
// window fail by a write deadline in the past (the stream is reset, as at
// any missed write deadline). Without a waiting write, the stream is left
// to end normally when the handler returns.
func (c *streamConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	busy := c.writing > 0
	c.mu.Unlock()
	err := c.body.Close()
	if busy {
		if derr := c.rc.SetWriteDeadline(time.Now()); derr != nil && !errors.Is(derr, http.ErrNotSupported) {
			err = errors.Join(err, derr)
		}
	}
	return err
}

func (c *streamConn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return stringAddr("")
}

func (c *streamConn) RemoteAddr() net.Addr { return stringAddr(c.remote) }

// SetDeadline sets the read and write deadlines where the HTTP/2 server
// supports them.
func (c *streamConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.rc.SetReadDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.rc.SetWriteDeadline(t) }

// stringAddr is a net.Addr known only as the string a request carries.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }
