package h2

import (
	"io"
	"testing"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// offersConnect reports whether a server's SETTINGS enable extended
// CONNECT.
func offersConnect(sf *http2.SettingsFrame) bool {
	v, ok := sf.Value(http2.SettingEnableConnectProtocol)
	return ok && v == 1
}

// TestServerExtendedConnect: with ExtendedConnect, the server offers
// SETTINGS_ENABLE_CONNECT_PROTOCOL and serves an extended CONNECT (RFC
// 8441) as a full-duplex stream whose :protocol the handler sees; it still
// refuses a plain CONNECT and a :protocol on another method.
func TestServerExtendedConnect(t *testing.T) {
	srv := NewServer(transport.ServerConfig{ExtendedConnect: true}, func(s transport.Stream) {
		if s.Method() != "CONNECT" || s.Path() != "/chat" || s.RequestHeader().Get(transport.ProtocolPseudoHeader) != "websocket" {
			s.WriteHeader(400)
			return
		}
		s.WriteHeader(200)
		_ = s.Flush()
		// Echo until the client half-closes: both ways at once.
		buf := make([]byte, 64)
		for {
			n, err := s.Body().Read(buf)
			if n > 0 {
				_, _ = s.Write(append([]byte(nil), buf[:n]...))
				_ = s.Flush()
			}
			if err != nil {
				return
			}
		}
	})
	p, sf := dialPeer(t, serveTest(t, srv))
	if !offersConnect(sf) {
		t.Fatal("SETTINGS without ENABLE_CONNECT_PROTOCOL = 1")
	}
	connect := func(id uint32, fields ...string) {
		p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.encode(fields...), EndHeaders: true}))
		p.flush()
	}
	connect(1, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "x")
	h := p.until("response HEADERS", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
	if st := h.PseudoValue("status"); st != "200" || h.StreamEnded() {
		t.Fatalf("extended CONNECT answered %s (end %v)", st, h.StreamEnded())
	}
	p.data(1, false, []byte("ping"))
	d := p.until("echo", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
	if string(d.Data()) != "ping" {
		t.Fatalf("echo %q", d.Data())
	}
	p.data(1, true, nil)
	p.until("the stream's end", func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})

	// A plain CONNECT (no :protocol), a :protocol on a POST, and an
	// extended CONNECT without :authority are malformed.
	connect(3, ":method", "CONNECT", ":authority", "x:443")
	p.until("RST_STREAM(PROTOCOL_ERROR) for a plain CONNECT", isRST(3, http2.ErrCodeProtocol))
	connect(5, ":method", "POST", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "x")
	p.until("RST_STREAM(PROTOCOL_ERROR) for :protocol on POST", isRST(5, http2.ErrCodeProtocol))
	connect(7, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat")
	p.until("RST_STREAM(PROTOCOL_ERROR) without :authority", isRST(7, http2.ErrCodeProtocol))
}

// TestServerNoExtendedConnect: without ExtendedConnect the setting is not
// sent and :protocol is malformed (RFC 8441, 4).
func TestServerNoExtendedConnect(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		_, _ = io.Copy(io.Discard, s.Body())
		s.WriteHeader(200)
	})
	p, sf := dialPeer(t, serveTest(t, srv))
	if offersConnect(sf) {
		t.Fatal("ENABLE_CONNECT_PROTOCOL sent without ExtendedConnect")
	}
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.encode(":method", "CONNECT", ":protocol", "websocket", ":scheme", "http", ":path", "/chat", ":authority", "x"), EndHeaders: true}))
	p.flush()
	p.until("RST_STREAM(PROTOCOL_ERROR)", isRST(1, http2.ErrCodeProtocol))
}
