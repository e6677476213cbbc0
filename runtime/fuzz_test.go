package runtime_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
)

// FuzzServerRequest feeds fuzzed bytes as the DATA of a live server stream,
// with fuzzed grpc-timeout, grpc-encoding and binary metadata values, to a
// unary or a bidi method of a server on either HTTP/2 implementation.
// Whatever arrives, the server must answer with
// HTTP 200 and a valid grpc-status (or, for header values HTTP/2 itself
// rejects, refuse the stream), and keep serving. The seeds run as an
// ordinary test; `make fuzz` explores further.
func FuzzServerRequest(f *testing.F) {
	f.Add(uint8(0), "", "", "", frame(0, msgpackMsg))
	f.Add(uint8(1), "", "", "", append(frame(0, msgpackMsg), frame(0, msgpackMsg)...))
	f.Add(uint8(0), "1n", "", "", frame(0, msgpackMsg))
	f.Add(uint8(1), "99999999H", "gzip", "AAE", frame(1, []byte{0x1f, 0x8b, 8, 0}))
	f.Add(uint8(0), "1x", "zstd", "!!", []byte{0, 0, 0, 0})
	f.Add(uint8(3), "", "", "", []byte{0, 0x7f, 0xff, 0xff, 0xff})
	f.Add(uint8(2), "", "", "", frame(0, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}))
	f.Add(uint8(3), "", "identity", "", frame(2, nil))
	f.Add(uint8(2), "", "", "", frame(0, msgpackMsg))
	f.Add(uint8(3), "1n", "gzip", "AAE", append(frame(0, msgpackMsg), frame(0, msgpackMsg)...))

	// One server per HTTP/2 implementation; the method byte picks both the
	// method (bit 0) and the server (bit 1).
	var addrs []string
	for _, name := range implementations {
		tr := transportNamed(f, name)
		srv := prt.NewServer(tr.serverOpts(prt.WithLogger(discardLogger()), prt.MaxRecvMsgSize(64<<10))...)
		registerEcho(srv)
		l := testutil.Listen(f, "tcp4")
		served := make(chan struct{})
		go func() { srv.Serve(l); close(served) }()
		f.Cleanup(func() {
			srv.Close()
			<-served
		})
		addrs = append(addrs, l.Addr().String())
	}
	tr := h2cTransport()
	f.Cleanup(tr.CloseIdleConnections)

	f.Fuzz(func(t *testing.T, method uint8, timeout, encoding, md string, body []byte) {
		addr := addrs[int(method/2)%len(addrs)]
		path := mUnary
		if method%2 == 1 {
			path = mBidi
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+path, bytes.NewReader(body))
		if err != nil {
			t.Skip()
		}
		req.Header = grpcHeader()
		if timeout != "" {
			req.Header.Set("Grpc-Timeout", timeout)
		}
		if encoding != "" {
			req.Header.Set("Grpc-Encoding", encoding)
		}
		if md != "" {
			req.Header.Set("X-Fuzz-Bin", md)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			if ctx.Err() == nil {
				// The client refused to send the header value, or the
				// server reset the stream (HTTP/2-level refusal).
				return
			}
			t.Fatalf("no answer: %v", err)
		}
		defer resp.Body.Close()
		// A read error is the server resetting the stream, a legitimate
		// answer; only a server that never finishes is a failure.
		if _, err := io.Copy(io.Discard, resp.Body); err != nil && ctx.Err() != nil {
			t.Fatalf("the server did not finish its response within 10 s: %v", err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		st := resp.Trailer.Get("Grpc-Status")
		if st == "" {
			st = resp.Header.Get("Grpc-Status")
		}
		if n, err := strconv.Atoi(st); err != nil || n < 0 || n > 16 {
			t.Fatalf("grpc-status %q (headers %v, trailers %v)", st, resp.Header, resp.Trailer)
		}
	})
}
