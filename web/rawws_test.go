//lint:file-ignore SA1019 x/net's http2.Transport is the one Go HTTP/2 client that can send an extended CONNECT: net/http's refuses the :protocol field.

package web_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/web"
	"github.com/parleyrpc/parley/wire"
)

// WebSocket opcodes (RFC 6455, section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// rawWS is a WebSocket client written on a bare TCP connection, for
// sending what a well-behaved library never sends: bad lengths, partial
// frames, frames that break RFC 6455.
type rawWS struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

// dialRawWS opens a WebSocket to method, offering the parley.v1
// subprotocol, and returns it once the server accepted it: by an HTTP/1.1
// upgrade, or over HTTP/2 by an extended CONNECT (RFC 8441) if the env
// speaks HTTP/2.
func (e *env) dialRawWS(method string) *rawWS {
	e.t.Helper()
	if e.h2 {
		return e.dialRawWSH2(method)
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(e.base, "http://"), 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Protocol: %s\r\n\r\n", method, strings.TrimPrefix(e.base, "http://"), web.Subprotocol)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		e.t.Fatalf("upgrade answered %d", resp.StatusCode)
	}
	_ = c.SetDeadline(time.Time{})
	return &rawWS{t: e.t, c: c, br: br}
}

// header writes a frame header, masked with a zero key (which leaves the
// payload as it is), announcing length bytes of payload.
func (w *rawWS) header(fin bool, opcode byte, length uint64) {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	h := []byte{b0}
	switch {
	case length < 126:
		h = append(h, 0x80|byte(length))
	case length <= 0xffff:
		h = binary.BigEndian.AppendUint16(append(h, 0x80|126), uint16(length))
	default:
		h = binary.BigEndian.AppendUint64(append(h, 0x80|127), length)
	}
	h = append(h, 0, 0, 0, 0) // masking key
	w.write(h)
}

func (w *rawWS) write(b []byte) {
	w.t.Helper()
	_ = w.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := w.c.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// frame writes one whole frame.
func (w *rawWS) frame(fin bool, opcode byte, payload []byte) {
	w.header(fin, opcode, uint64(len(payload)))
	w.write(payload)
}

// headers sends the call's opening headers frame, as one binary message.
func (w *rawWS) headers() {
	w.frame(true, opBinary, []byte{wire.FlagHeaders, 0, 0, 0, 0})
}

// readFrame reads one frame from the server (servers do not mask).
func (w *rawWS) readFrame(timeout time.Duration) (fin bool, opcode byte, payload []byte, err error) {
	_ = w.c.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return false, 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(w.br, b[:]); err != nil {
			return false, 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 {
		return false, 0, nil, errors.New("the server masked a frame")
	}
	if n > 1<<20 {
		return false, 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(w.br, payload); err != nil {
		return false, 0, nil, err
	}
	return h[0]&0x80 != 0, h[0] & 0x0f, payload, nil
}

// untilClose reads frames until the server's close frame and returns the
// parley trailers seen before it and the close code (0 if the server
// closed the connection without a close frame).
func (w *rawWS) untilClose(timeout time.Duration) (trailers map[string][]string, code int, err error) {
	deadline := time.Now().Add(timeout)
	for range 1000 {
		_, op, p, err := w.readFrame(time.Until(deadline))
		if err != nil {
			return trailers, 0, err
		}
		switch op {
		case opClose:
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			return trailers, code, nil
		case opBinary:
			if len(p) > 0 && p[0] == wire.FlagTrailers {
				if _, _, b, ok, err := wire.ParseWebFrame(p, -1); ok && err == nil {
					trailers, _ = wire.ParseHeaderBlock(b)
				}
			}
		}
	}
	return trailers, 0, errors.New("too many frames")
}

// closedWithin reports whether the server closes the TCP connection
// within d, reading (and dropping) whatever it sends meanwhile.
func (w *rawWS) closedWithin(d time.Duration) bool {
	_ = w.c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, w.br)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// stillServes checks that a good call on a new WebSocket is served.
func (e *env) stillServes(ctx context.Context) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, _, err := e.dialWS(ctx, "/test.Echo/Sum", nil, "")
	if err != nil {
		e.t.Fatal(err)
	}
	_ = w.send(ctx, Line{N: 2})
	_ = w.closeSend(ctx)
	if msgs, tr := w.trailers(ctx); tr["grpc-status"][0] != "0" || len(msgs) != 1 || msgs[0].N != 2 {
		e.t.Fatalf("next call: %v %v", msgs, tr)
	}
}

// closeReply answers the server's close frame with one, completing the
// close handshake.
func (w *rawWS) closeReply(code int) {
	w.frame(true, opClose, binary.BigEndian.AppendUint16(nil, uint16(code)))
}

// dialRawWSH2 opens a WebSocket over HTTP/2 by extended CONNECT, on a
// connection of its own; the stream stands for the TCP connection.
func (e *env) dialRawWSH2(method string) *rawWS {
	e.t.Helper()
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, network, addr)
	}}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodConnect, e.base+method, pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Protocol", web.Subprotocol)
	// The request's context is the stream's: it ends with the test.
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	timer := time.AfterFunc(10*time.Second, cancel)
	resp, err := tr.RoundTrip(req.WithContext(ctx))
	timer.Stop()
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("extended CONNECT answered %d", resp.StatusCode)
	}
	c := &streamNetConn{body: resp.Body, pw: pw}
	e.t.Cleanup(func() {
		c.Close()
		tr.CloseIdleConnections()
	})
	return &rawWS{t: e.t, c: c, br: bufio.NewReader(c)}
}

// streamNetConn is a client's HTTP/2 stream as a net.Conn, with the
// methods rawWS uses: Read (the response body, failing with a timeout at
// the read deadline), Write (the request body) and Close.
type streamNetConn struct {
	net.Conn // not set: only the methods below are used
	body     io.ReadCloser
	pw       *io.PipeWriter

	mu       sync.Mutex
	timer    *time.Timer
	timedOut atomic.Bool
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "read deadline passed" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (c *streamNetConn) Read(p []byte) (int, error) {
	n, err := c.body.Read(p)
	if err != nil && c.timedOut.Load() {
		err = timeoutError{}
	}
	return n, err
}

func (c *streamNetConn) Write(p []byte) (int, error) { return c.pw.Write(p) }

func (c *streamNetConn) Close() error {
	c.pw.Close()
	return c.body.Close()
}

// SetReadDeadline ends the stream at t: the test fails then anyway.
func (c *streamNetConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(time.Until(t), func() {
		c.timedOut.Store(true)
		c.body.Close()
	})
	return nil
}

func (c *streamNetConn) SetWriteDeadline(time.Time) error { return nil }
