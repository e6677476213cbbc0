package runtime_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestClientAmbiguousStatus: a server's trailers whose grpc-status is
// ambiguous (two of them) or out of grpc-go's range (an int32) end the
// call with INTERNAL on either transport; reading the first of two
// statuses once reported OK for a call the server said had failed.
func TestClientAmbiguousStatus(t *testing.T) {
	msg := frame(0, msgpackMsg)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/grpc+msgpack")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(msg)
		switch r.URL.Path {
		case "/test.Status/Two":
			w.Header().Add(http.TrailerPrefix+"Grpc-Status", "0")
			w.Header().Add(http.TrailerPrefix+"Grpc-Status", "5")
		case "/test.Status/Huge":
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "2147483648")
		}
	})
	l := testutil.Listen(t, "tcp4")
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: handler, Protocols: p}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { hs.Close() })
	forEachImpl(t, func(t *testing.T, tr transport) {
		c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, m := range []string{"/test.Status/Two", "/test.Status/Huge"} {
			_, err := prt.CallUnary[Msg, Msg](testCtx(t), c, m, &Msg{})
			if wire.CodeOf(err) != wire.Internal {
				t.Errorf("%s: %v, want INTERNAL", m, err)
			}
		}
	})
}

// TestClientRetriesRefusedStream: a stream the server refuses with
// RST_STREAM(REFUSED_STREAM) was not processed (RFC 9113, 8.7), and the
// call is sent again, on either transport.
func TestClientRetriesRefusedStream(t *testing.T) {
	var streams atomic.Int32
	l := testutil.Listen(t, "tcp4")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() { serveRefusingFirst(nc, &streams) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	forEachImpl(t, func(t *testing.T, tr transport) {
		streams.Store(0)
		c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := prt.CallUnary[Msg, Msg](testCtx(t), c, mUnary, &Msg{}); err != nil {
			t.Fatalf("a call whose first stream was refused: %v", err)
		}
		if n := streams.Load(); n != 2 {
			t.Fatalf("%d streams reached the server, want 2", n)
		}
	})
}

// serveRefusingFirst is a raw HTTP/2 server connection: the first stream
// of all (streams counts them) is refused, any other answered OK with one
// message.
func serveRefusingFirst(nc net.Conn, streams *atomic.Int32) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil {
		return
	}
	bw := bufio.NewWriter(nc)
	fr := http2.NewFramer(bw, nc)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	block := func(kv ...string) []byte {
		hbuf.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return bytes.Clone(hbuf.Bytes())
	}
	_ = fr.WriteSettings()
	_ = bw.Flush()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			id := f.StreamID
			if streams.Add(1) == 1 {
				_ = fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
				break
			}
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
				BlockFragment: block(":status", "200", "content-type", "application/grpc+msgpack")})
			_ = fr.WriteData(id, false, frame(0, msgpackMsg))
			_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true,
				BlockFragment: block("grpc-status", "0")})
		}
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// TestClientStatusOverHTTPStatus: a response that is not HTTP 200 but
// carries a grpc-status (a proxy's or a gateway's trailers-only answer)
// ends the call with that status: "If grpc-status was provided, it must
// be used" (grpc's http-grpc-status-mapping.md). The HTTP status is
// mapped only when there is none, or when the response is not gRPC's
// (its content-type), as grpc-go does. The mapping used to win: a 429 with
// RESOURCE_EXHAUSTED was UNAVAILABLE, which invites a retry.
func TestClientStatusOverHTTPStatus(t *testing.T) {
	cases := []struct {
		path     string
		http     int
		ct       string
		status   string
		wantCode wire.Code
		wantMsg  string
	}{
		{"/test.HTTP/Limited", http.StatusTooManyRequests, "application/grpc", "8", wire.ResourceExhausted, "slow down"},
		{"/test.HTTP/Gone", http.StatusServiceUnavailable, "application/grpc+msgpack", "5", wire.NotFound, "slow down"},
		{"/test.HTTP/NotGRPC", http.StatusUnauthorized, "text/plain", "7", wire.Unauthenticated, ""},
		{"/test.HTTP/Plain", http.StatusForbidden, "text/html", "", wire.PermissionDenied, ""},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, c := range cases {
			if c.path != r.URL.Path {
				continue
			}
			w.Header().Set("Content-Type", c.ct)
			if c.status != "" {
				w.Header().Set("Grpc-Status", c.status)
				w.Header().Set("Grpc-Message", "slow%20down")
			}
			w.WriteHeader(c.http)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	l := testutil.Listen(t, "tcp4")
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: handler, Protocols: p}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { hs.Close() })
	forEachImpl(t, func(t *testing.T, tr transport) {
		c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, tc := range cases {
			_, err := prt.CallUnary[Msg, Msg](testCtx(t), c, tc.path, &Msg{})
			we := wire.AsError(err)
			if we == nil || we.Code() != tc.wantCode || (tc.wantMsg != "" && we.Message() != tc.wantMsg) {
				t.Errorf("%s (HTTP %d, grpc-status %q): %v, want %v %q", tc.path, tc.http, tc.status, err, tc.wantCode, tc.wantMsg)
			}
		}
	})
}

// TestClientUnknownResponseEncoding: a response whose grpc-encoding the
// client did not offer is readable as long as no message arrives
// compressed (flag 00 means "not compressed", whatever the encoding
// declared), so its messages and its status come through, as with
// grpc-go; a compressed message is INTERNAL. The whole call used to fail
// with INTERNAL at the headers, hiding the server's own status.
func TestClientUnknownResponseEncoding(t *testing.T) {
	msg := frame(0, msgpackMsg)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc+msgpack")
		w.Header().Set("Grpc-Encoding", "br")
		w.WriteHeader(http.StatusOK)
		switch r.URL.Path {
		case "/test.Enc/Plain":
			_, _ = w.Write(msg)
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		case "/test.Enc/Fail":
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "5")
			w.Header().Set(http.TrailerPrefix+"Grpc-Message", "no such room")
		case "/test.Enc/Compressed":
			_, _ = w.Write(frame(1, msgpackMsg))
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		}
	})
	l := testutil.Listen(t, "tcp4")
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: handler, Protocols: p}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { hs.Close() })
	forEachImpl(t, func(t *testing.T, tr transport) {
		c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, streaming := range []bool{false, true} {
			call := func(method string) (*Msg, error) {
				if !streaming {
					return prt.CallUnary[Msg, Msg](testCtx(t), c, method, &Msg{})
				}
				cl, err := prt.OpenServerStream[Msg, Msg](testCtx(t), c, method, &Msg{})
				if err != nil {
					return nil, err
				}
				res, err := recvAll(t, cl)
				if err != nil {
					return nil, err
				}
				if len(res) != 1 {
					t.Fatalf("%s: %d responses, want 1", method, len(res))
				}
				return res[0], nil
			}
			if res, err := call("/test.Enc/Plain"); err != nil || res.Text != "hi" {
				t.Errorf("streaming %v: an uncompressed response: %+v, %v; want hi", streaming, res, err)
			}
			if _, err := call("/test.Enc/Fail"); wire.CodeOf(err) != wire.NotFound {
				t.Errorf("streaming %v: the server's NOT_FOUND: got %v", streaming, err)
			}
			if _, err := call("/test.Enc/Compressed"); wire.CodeOf(err) != wire.Internal {
				t.Errorf("streaming %v: a message compressed with br: %v, want INTERNAL", streaming, err)
			}
		}
	})
}

// TestClientStatusInResponseHeaders: a grpc-status in response headers
// that do not end the stream is not a trailers-only response: the
// messages and the trailers that follow are the call's, as grpc-go reads
// them ("A client treats a first HEADERS frame that has END_STREAM as
// trailers-only", protocol.md). The client used to end the call with the
// headers' status: a streaming call ended OK with none of its responses,
// and the server's NOT_FOUND in the trailers was lost.
func TestClientStatusInResponseHeaders(t *testing.T) {
	msg := frame(0, msgpackMsg)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc+msgpack")
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("X-Early", "1")
		w.Header().Set(http.TrailerPrefix+"Grpc-Status", "5")
		w.Header().Set(http.TrailerPrefix+"Grpc-Message", "no such room")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(msg)
	})
	l := testutil.Listen(t, "tcp4")
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: handler, Protocols: p}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { hs.Close() })
	forEachImpl(t, func(t *testing.T, tr transport) {
		c, err := prt.Dial(l.Addr().String(), tr.dialOpts()...)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var hdr wire.Metadata
		_, err = prt.CallUnary[Msg, Msg](testCtx(t), c, "/test.Hdr/Unary", &Msg{}, prt.Header(&hdr))
		if we := wire.AsError(err); we == nil || we.Code() != wire.NotFound || we.Message() != "no such room" || hdr.Get("x-early") != "1" {
			t.Errorf("unary: %v, header %v; want NOT_FOUND from the trailers, x-early in the header", err, hdr)
		}
		call, err := prt.OpenServerStream[Msg, Msg](testCtx(t), c, "/test.Hdr/Stream", &Msg{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := recvAll(t, call)
		if len(res) != 1 || wire.CodeOf(err) != wire.NotFound {
			t.Errorf("stream: %d responses, %v; want 1 and NOT_FOUND", len(res), err)
		}
	})
}
