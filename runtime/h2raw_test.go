package runtime_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2conn is a hand-driven HTTP/2 client connection: raw frames through
// http2.Framer and hpack, for sending what a well-behaved client never
// would. It is used by one goroutine at a time unless a test says
// otherwise (reading and writing may run on two goroutines; the Framer
// keeps their state apart).
type h2conn struct {
	t      testing.TB
	c      net.Conn
	bw     *bufio.Writer
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	nextID uint32
}

// bigWindow is the flow-control window the raw client grants, so the
// server never waits for WINDOW_UPDATEs from a test that does not send
// them.
const bigWindow = 1 << 30

// dialH2 connects to addr with prior knowledge and exchanges SETTINGS. The
// connection has an overall deadline, so a test that goes wrong fails
// instead of hanging.
func dialH2(t testing.TB, addr string) *h2conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	h := &h2conn{t: t, c: c, bw: bufio.NewWriterSize(c, 64<<10), nextID: 1}
	h.fr = http2.NewFramer(h.bw, c)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := h.bw.WriteString(http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	h.check(h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: bigWindow}))
	h.check(h.fr.WriteWindowUpdate(0, bigWindow))
	h.flush()
	// The server's SETTINGS come first; acknowledging them makes its
	// limits (MAX_CONCURRENT_STREAMS) binding at once.
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			h.check(h.fr.WriteSettingsAck())
			h.flush()
			return h
		}
	}
}

func (h *h2conn) check(err error) {
	if err != nil {
		h.t.Helper()
		h.t.Fatal(err)
	}
}

func (h *h2conn) flush() {
	h.t.Helper()
	h.check(h.bw.Flush())
}

// newStream returns the next client stream id.
func (h *h2conn) newStream() uint32 {
	id := h.nextID
	h.nextID += 2
	return id
}

// grpcFields returns the request header fields of a gRPC call to path,
// followed by extra name/value pairs.
func grpcFields(path string, extra ...string) []string {
	return append([]string{
		":method", "POST", ":scheme", "http", ":path", path, ":authority", "test",
		"content-type", "application/grpc+msgpack", "te", "trailers",
	}, extra...)
}

// encode hpack-encodes name/value pairs.
func (h *h2conn) encode(fields []string) []byte {
	h.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		h.check(h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}))
	}
	return bytes.Clone(h.hbuf.Bytes())
}

// writeHeaders sends a header block on id, split into HEADERS and
// CONTINUATION frames of at most 16 KiB.
func (h *h2conn) writeHeaders(id uint32, endStream bool, fields ...string) {
	h.t.Helper()
	block := h.encode(fields)
	const max = 16 << 10
	first := block
	if len(first) > max {
		first = block[:max]
	}
	block = block[len(first):]
	h.check(h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(block) == 0}))
	for len(block) > 0 {
		n := min(len(block), max)
		h.check(h.fr.WriteContinuation(id, n == len(block), block[:n]))
		block = block[n:]
	}
	h.flush()
}

// writeData sends p on id in DATA frames of at most 16 KiB.
func (h *h2conn) writeData(id uint32, endStream bool, p []byte) {
	h.t.Helper()
	for {
		n := min(len(p), 16<<10)
		h.check(h.fr.WriteData(id, endStream && n == len(p), p[:n]))
		p = p[n:]
		if len(p) == 0 {
			break
		}
	}
	h.flush()
}

// rawResult is what the server sent on one stream.
type rawResult struct {
	header  []hpack.HeaderField
	trailer []hpack.HeaderField
	data    []byte
	ended   bool // END_STREAM seen
	rst     bool
	rstCode http2.ErrCode
	goAway  *http2.GoAwayFrame
	err     error // the connection failed or closed
}

// field returns the named field from the trailers, or from the headers (a
// trailers-only response).
func (r rawResult) field(name string) string {
	for _, set := range [][]hpack.HeaderField{r.trailer, r.header} {
		for _, f := range set {
			if f.Name == name {
				return f.Value
			}
		}
	}
	return ""
}

func (r rawResult) String() string {
	var b strings.Builder
	for _, f := range r.header {
		b.WriteString(f.Name + "=" + f.Value + " ")
	}
	b.WriteString("| ")
	for _, f := range r.trailer {
		b.WriteString(f.Name + "=" + f.Value + " ")
	}
	if r.rst {
		b.WriteString("RST_STREAM(" + r.rstCode.String() + ") ")
	}
	if r.goAway != nil {
		b.WriteString("GOAWAY(" + r.goAway.ErrCode.String() + ") ")
	}
	if r.err != nil {
		b.WriteString("err=" + r.err.Error())
	}
	return b.String()
}

// await reads frames until stream id ends (END_STREAM or RST_STREAM), the
// server sends GOAWAY, or the connection fails. SETTINGS and PINGs are
// acknowledged; other streams' frames are dropped.
func (h *h2conn) await(id uint32) rawResult {
	h.t.Helper()
	var r rawResult
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			r.err = err
			return r
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				h.check(h.fr.WriteSettingsAck())
				h.flush()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h.check(h.fr.WritePing(true, f.Data))
				h.flush()
			}
		case *http2.GoAwayFrame:
			r.goAway = f
			return r
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				r.rst, r.rstCode = true, f.ErrCode
				return r
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			if r.header == nil {
				r.header = f.Fields
			} else {
				r.trailer = f.Fields
			}
			if f.StreamEnded() {
				r.ended = true
				return r
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			r.data = append(r.data, f.Data()...)
			if f.StreamEnded() {
				r.ended = true
				return r
			}
		}
	}
}

// closed reports whether err means the peer closed the connection.
func closedConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "connection reset")
}
