package runtime_test

import (
	"testing"

	"golang.org/x/net/http2"

	prt "github.com/parleyrpc/parley/runtime"
)

// TestNonGRPCRequestAnsweredWhenComplete: the server answers a request
// that is not a gRPC call (HTTP 405 or 415) only once the request is
// complete, so the stream stays open while the client sends: a faulty frame
// that follows the HEADERS gets the stream error it calls for, never a
// closed stream, whatever the timing. A request that never ends is still
// answered, after a bounded wait.
func TestNonGRPCRequestAnsweredWhenComplete(t *testing.T) {
	forEachImpl(t, testNonGRPCRequestAnsweredWhenComplete)
}

// testNonGRPCRequestAnsweredWhenComplete is
// TestNonGRPCRequestAnsweredWhenComplete over tr.
func testNonGRPCRequestAnsweredWhenComplete(t *testing.T, tr transport) {
	// The request that never ends waits for the server's bound (seconds):
	// the implementations wait at once.
	t.Parallel()
	e := newEnv(t, tr, registerEcho, envOpts{server: []prt.ServerOption{prt.WithLogger(discardLogger())}})
	requests := []struct {
		name   string
		fields []string
		status string
	}{
		{"GET", []string{":method", "GET", ":scheme", "http", ":path", mUnary, ":authority", "test"}, "405"},
		{"POST text/plain", []string{":method", "POST", ":scheme", "http", ":path", mUnary, ":authority", "test", "content-type", "text/plain"}, "415"},
	}
	for _, req := range requests {
		t.Run(req.name+"/faulty frame", func(t *testing.T) {
			h := dialH2(t, e.addr)
			id := h.newStream()
			h.writeHeaders(id, false, req.fields...)
			h.writeData(id, false, []byte("body"))
			// RFC 9113, 6.9: a WINDOW_UPDATE of 0 on a stream is a stream
			// error of type PROTOCOL_ERROR.
			h.fr.AllowIllegalWrites = true
			h.check(h.fr.WriteWindowUpdate(id, 0))
			h.flush()
			r := h.await(id)
			if !r.rst || r.rstCode != http2.ErrCodeProtocol || r.header != nil {
				t.Fatalf("got %v, want RST_STREAM(PROTOCOL_ERROR) and no response", r)
			}
		})
		t.Run(req.name+"/complete", func(t *testing.T) {
			h := dialH2(t, e.addr)
			id := h.newStream()
			h.writeHeaders(id, false, req.fields...)
			h.writeData(id, false, []byte("body"))
			h.writeData(id, true, []byte("more"))
			r := h.await(id)
			if got := r.field(":status"); got != req.status || !r.ended || r.rst {
				t.Fatalf("got %v, want HTTP %s ending the stream", r, req.status)
			}
		})
	}
	t.Run("never ends", func(t *testing.T) {
		req := requests[1]
		h := dialH2(t, e.addr)
		id := h.newStream()
		h.writeHeaders(id, false, req.fields...)
		h.writeData(id, false, []byte("body"))
		r := h.await(id) // dialH2's deadline is far beyond the server's bound
		if got := r.field(":status"); got != req.status || !r.ended {
			t.Fatalf("got %v, want HTTP %s ending the stream", r, req.status)
		}
	})
}
