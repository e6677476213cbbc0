package h2

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// peer is a hand-driven HTTP/2 endpoint: raw frames through a Framer, for
// testing what the other side does with each one. One goroutine uses it.
type peer struct {
	t    testing.TB
	c    net.Conn
	bw   *bufio.Writer
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

func newPeer(t testing.TB, c net.Conn) *peer {
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	p := &peer{t: t, c: c, bw: bufio.NewWriter(c)}
	p.fr = http2.NewFramer(p.bw, c)
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.fr.MaxHeaderListSize = 1 << 20
	p.enc = hpack.NewEncoder(&p.hbuf)
	return p
}

// dialPeer connects to a server as a client: preface and SETTINGS out,
// the server's SETTINGS in (returned) and acknowledged.
func dialPeer(t testing.TB, addr string, settings ...http2.Setting) (*peer, *http2.SettingsFrame) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := newPeer(t, c)
	p.check(writeString(p.bw, http2.ClientPreface))
	p.check(p.fr.WriteSettings(settings...))
	p.flush()
	f := p.next()
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		t.Fatalf("first frame from the server: %v, want SETTINGS", f)
	}
	var set []http2.Setting
	_ = sf.ForeachSetting(func(s http2.Setting) error { set = append(set, s); return nil })
	p.check(p.fr.WriteSettingsAck())
	p.flush()
	return p, sf
}

func writeString(w *bufio.Writer, s string) error {
	_, err := w.WriteString(s)
	return err
}

func (p *peer) check(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) flush() {
	p.t.Helper()
	p.check(p.bw.Flush())
}

// next reads the next frame, failing the test on a read error.
func (p *peer) next() http2.Frame {
	p.t.Helper()
	f, err := p.fr.ReadFrame()
	if err != nil {
		p.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// until reads frames until match accepts one and returns it. SETTINGS are
// acknowledged on the way; other frames are skipped.
func (p *peer) until(what string, match func(http2.Frame) bool) http2.Frame {
	p.t.Helper()
	for i := 0; i < 10000; i++ {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			p.check(p.fr.WriteSettingsAck())
			p.flush()
		}
	}
	p.t.Fatalf("no %s in 10000 frames", what)
	return nil
}

// expectClosed reads until the connection ends, returning a GOAWAY seen on
// the way, if any.
func (p *peer) expectClosed() *http2.GoAwayFrame {
	p.t.Helper()
	var ga *http2.GoAwayFrame
	for i := 0; i < 10000; i++ {
		f, err := p.fr.ReadFrame()
		if err != nil {
			return ga
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			ga = g
		}
	}
	p.t.Fatal("connection not closed")
	return nil
}

func (p *peer) encode(fields ...string) []byte {
	p.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		p.check(p.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}))
	}
	return bytes.Clone(p.hbuf.Bytes())
}

// request sends a request's HEADERS on id.
func (p *peer) request(id uint32, end bool, extra ...string) {
	p.t.Helper()
	fields := append([]string{":method", "POST", ":scheme", "http", ":path", "/t", ":authority", "x"}, extra...)
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(fields...), EndStream: end, EndHeaders: true}))
	p.flush()
}

// echo sends a request with body on stream id and checks that the
// echoHandler's answer comes back (what names it).
func (p *peer) echo(id uint32, body, what string) {
	p.t.Helper()
	p.request(id, false)
	p.data(id, true, []byte(body))
	if d := p.until(what, isData(id)).(*http2.DataFrame); string(d.Data()) != body {
		p.t.Fatalf("%s: %q, want %q", what, d.Data(), body)
	}
}

// pingAnswered sends a PING and waits for its ACK.
func (p *peer) pingAnswered(data [8]byte) {
	p.t.Helper()
	p.check(p.fr.WritePing(false, data))
	p.flush()
	p.until("PING ACK", func(f http2.Frame) bool { pf, ok := f.(*http2.PingFrame); return ok && pf.IsAck() })
}

func (p *peer) data(id uint32, end bool, b []byte) {
	p.t.Helper()
	p.check(p.fr.WriteData(id, end, b))
	p.flush()
}

func isGoAway(code http2.ErrCode) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		g, ok := f.(*http2.GoAwayFrame)
		return ok && g.ErrCode == code
	}
}

func isRST(id uint32, code http2.ErrCode) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id && r.ErrCode == code
	}
}

func isHeaders(id uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		h, ok := f.(*http2.MetaHeadersFrame)
		return ok && h.StreamID == id
	}
}

func isData(id uint32) func(http2.Frame) bool {
	return func(f http2.Frame) bool {
		d, ok := f.(*http2.DataFrame)
		return ok && d.StreamID == id
	}
}

// countingConn counts the Write calls on a net.Conn: one per flush.
type countingConn struct {
	net.Conn
	writes chan int
}

func (c *countingConn) Write(b []byte) (int, error) {
	select {
	case c.writes <- len(b):
	default:
	}
	return c.Conn.Write(b)
}
