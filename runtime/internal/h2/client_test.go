package h2

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// rawServer is a listener whose connections the test drives by hand.
type rawServer struct {
	t testing.TB
	l net.Listener
}

func newRawServer(t testing.TB) *rawServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &rawServer{t: t, l: l}
}

func (s *rawServer) addr() string { return s.l.Addr().String() }

// accept takes the next connection: the client's preface and SETTINGS in,
// settings out, both acknowledged.
func (s *rawServer) accept(settings ...http2.Setting) *peer {
	s.t.Helper()
	c, err := s.l.Accept()
	if err != nil {
		s.t.Fatal(err)
	}
	p := newPeer(s.t, c)
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c, preface[:]); err != nil || string(preface[:]) != http2.ClientPreface {
		s.t.Fatalf("client preface %q, %v", preface, err)
	}
	p.check(p.fr.WriteSettings(settings...))
	p.flush()
	p.until("client SETTINGS", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && !sf.IsAck() })
	p.check(p.fr.WriteSettingsAck())
	p.flush()
	return p
}

// respond sends a complete gRPC-style response on id.
func (p *peer) respond(id uint32, body string) {
	p.t.Helper()
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(":status", "200", "content-type", "text/plain"), EndHeaders: true}))
	p.check(p.fr.WriteData(id, false, []byte(body)))
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode("grpc-status", "0"), EndStream: true, EndHeaders: true}))
	p.flush()
}

type rtResult struct {
	resp *transport.Response
	err  error
}

func roundTrip(ctx context.Context, c transport.Client, body []byte) chan rtResult {
	ch := make(chan rtResult, 1)
	go func() {
		req := &transport.Request{Path: "/t", Header: transport.Header{"Content-Type": {"application/grpc"}}, Message: body}
		resp, err := c.RoundTrip(ctx, req)
		ch <- rtResult{resp, err}
	}()
	return ch
}

func newTestClient(t testing.TB, addr string, cfg transport.ClientConfig) transport.Client {
	c := NewClient(addr, cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestClientUnary: a known-length request goes out as HEADERS and DATA
// with END_STREAM in one socket write, and the response, body and
// trailers come back through the seam.
func TestClientUnary(t *testing.T) {
	s := newRawServer(t)
	writes := make(chan int, 100)
	c := newTestClient(t, s.addr(), transport.ClientConfig{Dialer: func(ctx context.Context, addr string) (net.Conn, error) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: nc, writes: writes}, nil
	}})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := s.accept()
	p.until("SETTINGS ACK", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
	time.Sleep(10 * time.Millisecond)
	for len(writes) > 0 {
		<-writes
	}
	res := roundTrip(context.Background(), c, []byte("hello"))
	h := p.until("HEADERS", isHeaders(1)).(*http2.MetaHeadersFrame)
	if h.StreamEnded() || h.PseudoValue("path") != "/t" || h.PseudoValue("method") != "POST" {
		t.Fatalf("request headers %v", h.Fields)
	}
	d := p.until("DATA", isData(1)).(*http2.DataFrame)
	if string(d.Data()) != "hello" || !d.StreamEnded() {
		t.Fatalf("DATA %q END_STREAM=%v", d.Data(), d.StreamEnded())
	}
	if n := len(writes); n != 1 {
		t.Errorf("the request took %d writes, want 1", n)
	}
	p.respond(1, "world")
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	b, err := io.ReadAll(r.resp.Body)
	if err != nil || string(b) != "world" || r.resp.Status != 200 || r.resp.Header.Get("content-type") != "text/plain" {
		t.Fatalf("response %d %v %q %v", r.resp.Status, r.resp.Header, b, err)
	}
	if got := r.resp.Trailer().Get("grpc-status"); got != "0" {
		t.Fatalf("trailer grpc-status %q", got)
	}
	r.resp.Body.Close()
}

// TestClientRequestFieldOrder: a request's fields go out as
// PROTOCOL-HTTP2.md has them: the pseudo-headers, grpc-timeout at once,
// the fields every call carries (in one order, whatever the map's), then
// the call's own metadata.
func TestClientRequestFieldOrder(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := s.accept()
	fixed := transport.Header{
		"Content-Type": {"application/grpc+msgpack"}, "Te": {"trailers"},
		"User-Agent": {"parley-test"}, "Grpc-Accept-Encoding": {"gzip"},
		"X-Fixed": {"a", "b"},
	}
	want := []string{":method", ":scheme", ":path", ":authority", "grpc-timeout",
		"content-type", "grpc-accept-encoding", "te", "user-agent", "x-fixed", "x-fixed", "x-call"}
	for i := range 5 {
		id := uint32(2*i + 1)
		res := make(chan error, 1)
		go func() {
			req := &transport.Request{Path: "/t", Fixed: fixed, Header: transport.Header{"X-Call": {"c"}},
				Message: []byte("q"), Deadline: time.Now().Add(time.Minute)}
			if err := req.SetTimeout(); err != nil {
				res <- err
				return
			}
			resp, err := c.RoundTrip(context.Background(), req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			res <- err
		}()
		h := p.until("HEADERS", isHeaders(id)).(*http2.MetaHeadersFrame)
		var got []string
		for _, f := range h.Fields {
			got = append(got, f.Name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("call %d: fields %q, want %q", i, got, want)
		}
		if v := h.Fields[9].Value + h.Fields[10].Value; v != "ab" {
			t.Fatalf("call %d: x-fixed values in order %q, want ab", i, v)
		}
		p.until("DATA", isData(id))
		p.respond(id, "r")
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	}
}

// TestClientSendFlowControl: a body larger than the server's window is
// sent as the window allows.
func TestClientSendFlowControl(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := s.accept(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	p.until("SETTINGS ACK", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
	body := bytes.Repeat([]byte("y"), 100)
	res := roundTrip(context.Background(), c, body)
	got := 0
	ended := false
	for got < 10 {
		d := p.until("DATA", isData(1)).(*http2.DataFrame)
		got += len(d.Data())
		ended = d.StreamEnded()
	}
	if got != 10 || ended {
		t.Fatalf("got %d bytes (END_STREAM %v) in a 10-byte window", got, ended)
	}
	p.check(p.fr.WriteWindowUpdate(1, 90))
	p.flush()
	for !ended {
		d := p.until("DATA", isData(1)).(*http2.DataFrame)
		got += len(d.Data())
		ended = d.StreamEnded()
	}
	if got != 100 {
		t.Fatalf("got %d bytes, want 100", got)
	}
	p.respond(1, "ok")
	if r := <-res; r.err != nil {
		t.Fatal(r.err)
	} else {
		r.resp.Body.Close()
	}
}

// TestClientStreamLimit: with MAX_CONCURRENT_STREAMS 1 the second stream
// waits until the first ends.
func TestClientStreamLimit(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	first := roundTrip(context.Background(), c, nil)
	p := s.accept(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 1})
	p.until("stream 1", isHeaders(1))
	// Let the client see the limit before it opens the next stream.
	p.check(p.fr.WritePing(false, [8]byte{}))
	p.flush()
	p.until("PING ACK", func(f http2.Frame) bool { pf, ok := f.(*http2.PingFrame); return ok && pf.IsAck() })
	second := roundTrip(context.Background(), c, nil)
	_ = p.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if f, err := p.fr.ReadFrame(); err == nil {
		t.Fatalf("frame %v while the stream limit is reached", f)
	}
	_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p.respond(1, "one")
	r := <-first
	if r.err != nil {
		t.Fatal(r.err)
	}
	_, _ = io.ReadAll(r.resp.Body)
	p.until("stream 3", isHeaders(3))
	p.respond(3, "two")
	if r := <-second; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestClientCancel: cancelling a call's context resets its stream with
// RST_STREAM(CANCEL).
func TestClientCancel(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	res := roundTrip(ctx, c, nil)
	p := s.accept()
	p.until("HEADERS", isHeaders(1))
	cancel()
	p.until("RST_STREAM(CANCEL)", isRST(1, http2.ErrCodeCancel))
	if r := <-res; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("RoundTrip returned %v, want context.Canceled", r.err)
	}
}

// TestClientPeerReset: RST_STREAM from the server fails the stream with
// transport.StreamError.
func TestClientPeerReset(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	res := roundTrip(context.Background(), c, nil)
	p := s.accept()
	p.until("HEADERS", isHeaders(1))
	p.check(p.fr.WriteRSTStream(1, http2.ErrCodeInternal))
	p.flush()
	r := <-res
	if code, ok := transport.StreamErrorCode(r.err); !ok || code != uint32(http2.ErrCodeInternal) {
		t.Fatalf("RoundTrip returned %v, want a StreamError(INTERNAL_ERROR)", r.err)
	}
}

// TestClientGoAway: a connection that got GOAWAY takes no new streams; the
// client dials again, and a stream the server did not process is retried
// there.
func TestClientGoAway(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	res := roundTrip(context.Background(), c, []byte("a"))
	p := s.accept()
	p.until("stream 1", isData(1))
	p.respond(1, "one")
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	_, _ = io.ReadAll(r.resp.Body)
	p.check(p.fr.WriteGoAway(1, http2.ErrCodeNo, nil))
	p.flush()
	p.expectClosed() // the client closes a drained connection
	res = roundTrip(context.Background(), c, []byte("b"))
	p2 := s.accept()
	d := p2.until("the call on the new connection", isData(1)).(*http2.DataFrame)
	if string(d.Data()) != "b" {
		t.Fatalf("got %q", d.Data())
	}
	p2.respond(1, "two")
	if r := <-res; r.err != nil {
		t.Fatal(r.err)
	}
}

// TestClientKeepalive: a server that does not answer PING within the
// timeout has its connection closed, failing its streams.
func TestClientKeepalive(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	res := roundTrip(context.Background(), c, nil)
	p := s.accept()
	p.until("PING", func(f http2.Frame) bool { pf, ok := f.(*http2.PingFrame); return ok && !pf.IsAck() })
	p.expectClosed()
	r := <-res
	if r.err == nil {
		t.Fatal("RoundTrip succeeded on a connection whose keepalive failed")
	}
}

// TestClientReceiveFlowControl: the client credits the response body back
// as it is read.
func TestClientReceiveFlowControl(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	res := roundTrip(context.Background(), c, nil)
	p := s.accept()
	p.until("HEADERS", isHeaders(1))
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.encode(":status", "200"), EndHeaders: true}))
	chunk := make([]byte, 16<<10)
	for i := 0; i < 8; i++ {
		p.check(p.fr.WriteData(1, false, chunk))
	}
	p.flush()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if _, err := io.ReadFull(r.resp.Body, make([]byte, 8*len(chunk))); err != nil {
		t.Fatal(err)
	}
	wu := p.until("stream WINDOW_UPDATE", func(f http2.Frame) bool {
		w, ok := f.(*http2.WindowUpdateFrame)
		return ok && w.StreamID == 1
	}).(*http2.WindowUpdateFrame)
	if wu.Increment < maxCreditBatch || wu.Increment > uint32(8*len(chunk)) {
		t.Fatalf("WINDOW_UPDATE %d, want a batch of %d to %d", wu.Increment, maxCreditBatch, 8*len(chunk))
	}
	r.resp.Body.Close()
	p.until("RST_STREAM(CANCEL) for a body closed early", isRST(1, http2.ErrCodeCancel))
}

// TestClientSharesSameHeaders: responses whose header or trailer fields
// are those of the response before get the same (read-only) Header; any
// other field, or a block too large to keep, gets a Header of its own,
// with its own values.
func TestClientSharesSameHeaders(t *testing.T) {
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := s.accept()
	big := string(bytes.Repeat([]byte("b"), maxMemoBytes))
	type block struct{ header, trailer []string }
	blocks := []block{
		{[]string{"content-type", "application/grpc"}, []string{"grpc-status", "0"}},
		{[]string{"content-type", "application/grpc"}, []string{"grpc-status", "0"}},
		{[]string{"content-type", "application/grpc+msgpack"}, []string{"grpc-status", "5", "grpc-message", "gone"}},
		{[]string{"content-type", "application/grpc+msgpack"}, []string{"grpc-status", "5", "grpc-message", "gone"}},
		{[]string{"content-type", "application/grpc", "x-big", big}, []string{"grpc-status", "0"}},
		{[]string{"content-type", "application/grpc", "x-big", big}, []string{"grpc-status", "0"}},
	}
	var headers, trailers []transport.Header
	for i, b := range blocks {
		id := uint32(2*i + 1)
		res := roundTrip(context.Background(), c, []byte("q"))
		p.until("DATA", isData(id))
		p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(append([]string{":status", "200"}, b.header...)...), EndHeaders: true}))
		p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(b.trailer...), EndStream: true, EndHeaders: true}))
		p.flush()
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		if _, err := io.ReadAll(r.resp.Body); err != nil {
			t.Fatal(err)
		}
		h, tr := r.resp.Header, r.resp.Trailer()
		for j := 0; j < len(b.header); j += 2 {
			if got := h.Get(b.header[j]); got != b.header[j+1] {
				t.Fatalf("response %d: header %s = %.20q, want %.20q", i, b.header[j], got, b.header[j+1])
			}
		}
		for j := 0; j < len(b.trailer); j += 2 {
			if got := tr.Get(b.trailer[j]); got != b.trailer[j+1] {
				t.Fatalf("response %d: trailer %s = %q, want %q", i, b.trailer[j], got, b.trailer[j+1])
			}
		}
		headers, trailers = append(headers, h), append(trailers, tr)
		r.resp.Body.Close()
	}
	same := func(a, b transport.Header) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }
	for i, want := range []bool{false, true, false, true, false, false} {
		if i == 0 {
			continue
		}
		if got := same(headers[i], headers[i-1]); got != want {
			t.Errorf("response %d shares the header map of the one before: %v, want %v", i, got, want)
		}
	}
	for i, want := range []bool{false, true, false, true, false, true} {
		if i == 0 {
			continue
		}
		if got := same(trailers[i], trailers[i-1]); got != want {
			t.Errorf("response %d shares the trailer map of the one before: %v, want %v", i, got, want)
		}
	}
}

// TestClientMalformedResponse: a response that breaks HTTP/2's rules
// resets its stream and fails the call with a transport.ResponseError,
// which the runtime reports as INTERNAL (not UNAVAILABLE, which would
// invite a retry); a later call on the connection goes through.
func TestClientMalformedResponse(t *testing.T) {
	cases := []struct {
		name  string
		serve func(p *peer, id uint32)
	}{
		{"no :status", func(p *peer, id uint32) {
			p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode("content-type", "application/grpc"), EndHeaders: true}))
		}},
		{":status not a number", func(p *peer, id uint32) {
			p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(":status", "abc"), EndHeaders: true}))
		}},
		{"DATA before HEADERS", func(p *peer, id uint32) {
			p.check(p.fr.WriteData(id, false, []byte("x")))
		}},
		{"trailers without END_STREAM", func(p *peer, id uint32) {
			p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(":status", "200"), EndHeaders: true}))
			p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode("grpc-status", "0"), EndHeaders: true}))
		}},
	}
	s := newRawServer(t)
	c := newTestClient(t, s.addr(), transport.ClientConfig{})
	var p *peer
	id := uint32(1)
	for _, tc := range cases {
		res := roundTrip(context.Background(), c, nil)
		if p == nil {
			p = s.accept()
		}
		p.until("HEADERS", isHeaders(id))
		tc.serve(p, id)
		p.flush()
		r := <-res
		err := r.err
		if err == nil && r.resp != nil {
			_, err = io.ReadAll(r.resp.Body)
		}
		if !errors.As(err, new(transport.ResponseError)) {
			t.Errorf("%s: %v, want a transport.ResponseError", tc.name, err)
		}
		p.until("RST_STREAM", isRST(id, http2.ErrCodeProtocol))
		id += 2
	}
	res := roundTrip(context.Background(), c, nil)
	p.until("HEADERS", isHeaders(id))
	p.respond(id, "ok")
	if r := <-res; r.err != nil {
		t.Fatalf("a call after them: %v", r.err)
	}
}
