package h2

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

func settingsOf(sf *http2.SettingsFrame) map[http2.SettingID]uint32 {
	m := map[http2.SettingID]uint32{}
	_ = sf.ForeachSetting(func(s http2.Setting) error { m[s.ID] = s.Val; return nil })
	return m
}

// TestServerSettings: the server announces its limits and windows, and
// acknowledges the client's SETTINGS.
func TestServerSettings(t *testing.T) {
	srv := NewServer(transport.ServerConfig{MaxConcurrentStreams: 7, MaxHeaderListSize: 9000, MaxUploadBufferPerStream: 100000, MaxUploadBufferPerConnection: 200000}, echoHandler)
	p, sf := dialPeer(t, serveTest(t, srv))
	got := settingsOf(sf)
	want := map[http2.SettingID]uint32{
		http2.SettingMaxConcurrentStreams: 7, http2.SettingMaxHeaderListSize: 9000, http2.SettingInitialWindowSize: 100000,
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("%v = %d, want %d", id, got[id], v)
		}
	}
	wu := p.until("connection WINDOW_UPDATE", func(f http2.Frame) bool {
		w, ok := f.(*http2.WindowUpdateFrame)
		return ok && w.StreamID == 0
	}).(*http2.WindowUpdateFrame)
	if wu.Increment != 200000-65535 {
		t.Errorf("connection window increment %d, want %d", wu.Increment, 200000-65535)
	}
	p.until("SETTINGS ACK", func(f http2.Frame) bool {
		s, ok := f.(*http2.SettingsFrame)
		return ok && s.IsAck()
	})
}

// TestServerExchange: HEADERS split over CONTINUATION frames, a body in
// DATA frames, and the response: HEADERS, DATA, trailers with END_STREAM,
// all written with one flush.
func TestServerExchange(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		b, _ := io.ReadAll(s.Body())
		if s.RequestHeader().Get("X-Long") == "" || s.Path() != "/t" || s.Method() != "POST" {
			s.WriteHeader(400)
			return
		}
		s.WriteHeader(200)
		_, _ = s.Write(b)
		s.ResponseHeader().Set(transport.TrailerPrefix+"Grpc-Status", "0")
	})
	addr := serveTest(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := newPeer(t, c)
	p.check(writeString(p.bw, http2.ClientPreface))
	p.check(p.fr.WriteSettings())
	p.flush()
	p.until("SETTINGS", func(f http2.Frame) bool { s, ok := f.(*http2.SettingsFrame); return ok && !s.IsAck() })
	block := p.encode(":method", "POST", ":scheme", "http", ":path", "/t", ":authority", "x", "x-long", strings.Repeat("v", 40000))
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:10000]}))
	p.check(p.fr.WriteContinuation(1, false, block[10000:20000]))
	p.check(p.fr.WriteContinuation(1, true, block[20000:]))
	p.data(1, false, []byte("hel"))
	p.data(1, true, []byte("lo"))

	// The response comes in one write: count the server's socket writes by
	// reading what arrives in one go.
	h := p.until("response HEADERS", isHeaders(1)).(*http2.MetaHeadersFrame)
	if h.PseudoValue("status") != "200" || h.StreamEnded() {
		t.Fatalf("response headers %v", h.Fields)
	}
	d := p.until("DATA", isData(1)).(*http2.DataFrame)
	if string(d.Data()) != "hello" {
		t.Fatalf("body %q", d.Data())
	}
	tr := p.until("trailers", isHeaders(1)).(*http2.MetaHeadersFrame)
	if !tr.StreamEnded() || tr.Fields[0].Name != "grpc-status" {
		t.Fatalf("trailers %v, END_STREAM %v", tr.Fields, tr.StreamEnded())
	}
}

// TestServerOneFlush: a unary response (HEADERS, DATA, trailers) leaves in
// one socket write.
func TestServerOneFlush(t *testing.T) {
	writes := make(chan int, 100)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	done := make(chan struct{})
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(done)
			return
		}
		srv.ServeConn(context.Background(), &countingConn{Conn: c, writes: writes}, func() { close(done) })
	}()
	p, _ := dialPeer(t, l.Addr().String())
	defer func() { p.c.Close(); <-done }()
	p.until("SETTINGS ACK", func(f http2.Frame) bool { s, ok := f.(*http2.SettingsFrame); return ok && s.IsAck() })
	time.Sleep(10 * time.Millisecond)
	for len(writes) > 0 {
		<-writes
	}
	p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.encode(":method", "POST", ":scheme", "http", ":path", "/t"), EndHeaders: true}))
	p.check(p.fr.WriteData(1, true, []byte("ping")))
	p.flush()
	p.until("trailers", func(f http2.Frame) bool { h, ok := f.(*http2.MetaHeadersFrame); return ok && h.StreamEnded() })
	if n := len(writes); n != 1 {
		t.Fatalf("the response took %d writes, want 1", n)
	}
}

// TestServerTrailersOnly: a handler that writes nothing gets one HEADERS
// frame with END_STREAM.
func TestServerTrailersOnly(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		s.ResponseHeader().Set("Grpc-Status", "12")
		s.WriteHeader(200)
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, true)
	h := p.until("HEADERS", isHeaders(1)).(*http2.MetaHeadersFrame)
	if !h.StreamEnded() || h.PseudoValue("status") != "200" || len(h.RegularFields()) != 1 {
		t.Fatalf("trailers-only response: %v END_STREAM=%v", h.Fields, h.StreamEnded())
	}
}

// TestServerSendFlowControl: the server never sends beyond the client's
// windows, resumes on WINDOW_UPDATE, and applies a changed
// SETTINGS_INITIAL_WINDOW_SIZE to an open stream.
func TestServerSendFlowControl(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 100)
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		s.WriteHeader(200)
		_, _ = s.Write(body)
	})
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	p.request(1, true)
	got, ended := 0, false
	readData := func(want int) {
		t.Helper()
		for got < want {
			d := p.until("DATA", isData(1)).(*http2.DataFrame)
			got += len(d.Data())
			ended = d.StreamEnded()
		}
		if got != want {
			t.Fatalf("received %d bytes, window allows %d", got, want)
		}
	}
	readData(10)
	p.check(p.fr.WriteWindowUpdate(1, 40))
	p.flush()
	readData(50)
	// Raise the initial window by 90: the stream's window grows by 90.
	p.check(p.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}))
	p.flush()
	readData(100)
	if !ended {
		p.until("END_STREAM", func(f http2.Frame) bool {
			d, ok := f.(*http2.DataFrame)
			return ok && d.StreamEnded()
		})
	}
}

// TestServerReceiveFlowControl: the server credits consumed bytes back in
// batches and treats DATA beyond the stream's window as FLOW_CONTROL_ERROR.
func TestServerReceiveFlowControl(t *testing.T) {
	const win = 64 << 10
	read := make(chan int)
	srv := NewServer(transport.ServerConfig{MaxUploadBufferPerStream: win}, func(s transport.Stream) {
		buf := make([]byte, win)
		for n := range read {
			if _, err := io.ReadFull(s.Body(), buf[:n]); err != nil {
				return
			}
		}
		<-s.Context().Done()
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, false)
	chunk := make([]byte, 16<<10)
	for i := 0; i < 4; i++ {
		p.data(1, false, chunk) // exactly the window
	}
	// Consuming a quarter of the window earns a WINDOW_UPDATE of a quarter.
	read <- win / 4
	wu := p.until("stream WINDOW_UPDATE", func(f http2.Frame) bool {
		w, ok := f.(*http2.WindowUpdateFrame)
		return ok && w.StreamID == 1
	}).(*http2.WindowUpdateFrame)
	if wu.Increment != win/4 {
		t.Fatalf("WINDOW_UPDATE %d, want %d", wu.Increment, win/4)
	}
	p.data(1, false, chunk) // fills the window again
	p.data(1, false, []byte{1})
	p.until("RST_STREAM(FLOW_CONTROL_ERROR)", isRST(1, http2.ErrCodeFlowControl))
	close(read)
}

// TestServerReset: RST_STREAM from the client cancels the handler's
// context.
func TestServerReset(t *testing.T) {
	cancelled := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		<-s.Context().Done()
		close(cancelled)
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, false)
	p.check(p.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	p.flush()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("handler context not cancelled by RST_STREAM")
	}
}

// TestServerStreamLimit: streams beyond MAX_CONCURRENT_STREAMS are refused
// with RST_STREAM(REFUSED_STREAM).
func TestServerStreamLimit(t *testing.T) {
	release := make(chan struct{})
	srv := NewServer(transport.ServerConfig{MaxConcurrentStreams: 2}, func(s transport.Stream) {
		select {
		case <-release:
		case <-s.Context().Done():
		}
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, true)
	p.request(3, true)
	p.request(5, true)
	p.until("RST_STREAM(REFUSED_STREAM) for stream 5", isRST(5, http2.ErrCodeRefusedStream))
	close(release)
	p.until("stream 1's response", isHeaders(1))
}

// TestServerRapidReset: a client that resets streams faster than its
// budget gets GOAWAY(ENHANCE_YOUR_CALM).
func TestServerRapidReset(t *testing.T) {
	srv := NewServer(transport.ServerConfig{MaxConcurrentStreams: 10}, func(s transport.Stream) {
		<-s.Context().Done()
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	block := p.encode(":method", "POST", ":scheme", "http", ":path", "/t")
	var werr error
	for id := uint32(1); id < 2*500 && werr == nil; id += 2 {
		werr = p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true})
		if werr == nil {
			werr = p.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}
	if werr == nil {
		werr = p.bw.Flush()
	}
	if ga := p.expectClosed(); ga == nil || ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("got GOAWAY %v (write error %v), want ENHANCE_YOUR_CALM", ga, werr)
	}
}

// TestServerHeaderListSize: a request header list beyond
// MAX_HEADER_LIST_SIZE gets HTTP 431 and never reaches the handler.
func TestServerHeaderListSize(t *testing.T) {
	srv := NewServer(transport.ServerConfig{MaxHeaderListSize: 1000}, func(s transport.Stream) {
		t.Error("handler called")
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	v := strings.Repeat("b", 400)
	p.request(1, true, "x-a", v, "x-b", v, "x-c", v)
	h := p.until("HEADERS", isHeaders(1)).(*http2.MetaHeadersFrame)
	if h.PseudoValue("status") != "431" || !h.StreamEnded() {
		t.Fatalf("got %v", h.Fields)
	}
}

// TestServerProtocolErrors: each violation gets the error code RFC 9113
// prescribes, as a stream error (RST_STREAM) or connection error (GOAWAY).
func TestServerProtocolErrors(t *testing.T) {
	srv := NewServer(transport.ServerConfig{}, echoHandler)
	addr := serveTest(t, srv)
	cases := []struct {
		name  string
		send  func(p *peer)
		match func(http2.Frame) bool
	}{
		{"even stream id", func(p *peer) { p.request(2, true) }, isGoAway(http2.ErrCodeProtocol)},
		{"DATA on an idle stream", func(p *peer) { p.data(5, true, []byte("x")) }, isGoAway(http2.ErrCodeProtocol)},
		{"WINDOW_UPDATE on an idle stream", func(p *peer) { p.check(p.fr.WriteWindowUpdate(5, 1)); p.flush() }, isGoAway(http2.ErrCodeProtocol)},
		{"connection-specific header", func(p *peer) { p.request(1, true, "connection", "close") }, isRST(1, http2.ErrCodeProtocol)},
		{"te: gzip", func(p *peer) { p.request(1, true, "te", "gzip") }, isRST(1, http2.ErrCodeProtocol)},
		{"missing :path", func(p *peer) {
			p.check(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: p.encode(":method", "POST", ":scheme", "http"), EndStream: true, EndHeaders: true}))
			p.flush()
		}, isRST(1, http2.ErrCodeProtocol)},
		{"content-length mismatch", func(p *peer) { p.request(1, false, "content-length", "3"); p.data(1, true, []byte("four")) }, isRST(1, http2.ErrCodeProtocol)},
		{"DATA after END_STREAM", func(p *peer) { p.request(1, false); p.data(1, true, nil); p.data(1, false, []byte("x")) }, isRST(1, http2.ErrCodeStreamClosed)},
		{"stream window overflow", func(p *peer) {
			p.request(1, false)
			p.check(p.fr.WriteWindowUpdate(1, 1<<31-1))
			p.flush()
		}, isRST(1, http2.ErrCodeFlowControl)},
		{"connection window overflow", func(p *peer) { p.check(p.fr.WriteWindowUpdate(0, 1<<31-1)); p.flush() }, isGoAway(http2.ErrCodeFlowControl)},
		{"invalid SETTINGS value", func(p *peer) {
			p.check(p.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}))
			p.flush()
		}, isGoAway(http2.ErrCodeProtocol)},
		{"frame too large", func(p *peer) { p.request(1, false); p.data(1, true, make([]byte, 20000)) }, isGoAway(http2.ErrCodeFrameSize)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := dialPeer(t, addr)
			tc.send(p)
			p.until("the error", tc.match)
		})
	}
}

// TestServerGoAway: GoAway sends GOAWAY with the last stream id, refuses
// new streams, lets the one in flight finish, then closes.
func TestServerGoAway(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		started <- struct{}{}
		<-release
		s.WriteHeader(200)
		_, _ = s.Write([]byte("done"))
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(1, true)
	<-started
	srv.GoAway()
	ga := p.until("GOAWAY", isGoAway(http2.ErrCodeNo)).(*http2.GoAwayFrame)
	if ga.LastStreamID != 1 {
		t.Fatalf("GOAWAY last stream %d, want 1", ga.LastStreamID)
	}
	p.request(3, true)
	p.until("RST_STREAM(REFUSED_STREAM)", isRST(3, http2.ErrCodeRefusedStream))
	close(release)
	p.until("stream 1's response", isData(1))
	p.c.Close() // the server waits for the client to close after draining
}

// TestServerControlFlood: a client that sends SETTINGS frames (each needs an
// ACK) and never reads gets GOAWAY(ENHANCE_YOUR_CALM) once more than
// maxQueuedControl answers wait in the writer's queue, and the connection
// closes: its queue cannot grow without bound. (The limit is lowered here
// so that the test does not depend on how much the socket buffers hold.)
func TestServerControlFlood(t *testing.T) {
	defer func(n int32) { maxQueuedControl = n }(maxQueuedControl)
	maxQueuedControl = 100
	addr := serveTest(t, NewServer(transport.ServerConfig{}, echoHandler))
	p, _ := dialPeer(t, addr)
	p.floodUnread(t, "SETTINGS frames", 200_000, func() error { return p.fr.WriteSettings() },
		func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
}

// TestServerPingPolicy: the keepalive enforcement policy after grpc-go's.
// A PING after each response is never a strike (grpc-go's BDP probes);
// back-to-back PINGs strike out on the third early one; with
// KeepaliveRequireStream, PINGs on a connection without streams do too.
func TestServerPingPolicy(t *testing.T) {
	ping := func(p *peer, n byte) {
		p.check(p.fr.WritePing(false, [8]byte{n}))
		p.flush()
	}
	isPingAck := func(f http2.Frame) bool { pf, ok := f.(*http2.PingFrame); return ok && pf.IsAck() }
	t.Run("min time", func(t *testing.T) {
		addr := serveTest(t, NewServer(transport.ServerConfig{KeepaliveMinTime: time.Hour}, echoHandler))
		p, _ := dialPeer(t, addr)
		for i := uint32(0); i < 5; i++ {
			id := 2*i + 1
			p.request(id, true)
			p.until("trailers", func(f http2.Frame) bool {
				h, ok := f.(*http2.MetaHeadersFrame)
				return ok && h.StreamID == id && h.StreamEnded()
			})
			ping(p, byte(i))
			p.until("PING ACK", isPingAck)
		}
		// The PING after the last response is free; the next two are
		// strikes, the third strike ends the connection.
		for i := 0; i < 2; i++ {
			ping(p, byte(10+i))
			p.until("PING ACK", isPingAck)
		}
		ping(p, 20)
		ga := p.until("GOAWAY", isGoAway(http2.ErrCodeEnhanceYourCalm)).(*http2.GoAwayFrame)
		if string(ga.DebugData()) != "too_many_pings" {
			t.Fatalf("GOAWAY debug data %q", ga.DebugData())
		}
	})
	t.Run("require stream", func(t *testing.T) {
		addr := serveTest(t, NewServer(transport.ServerConfig{KeepaliveRequireStream: true}, echoHandler))
		p, _ := dialPeer(t, addr)
		for i := 0; i < 3; i++ {
			ping(p, byte(i))
			p.until("PING ACK", isPingAck)
		}
		ping(p, 9)
		p.until("GOAWAY", isGoAway(http2.ErrCodeEnhanceYourCalm))
	})
	t.Run("no policy", func(t *testing.T) {
		addr := serveTest(t, NewServer(transport.ServerConfig{}, echoHandler))
		p, _ := dialPeer(t, addr)
		for i := 0; i < 100; i++ {
			ping(p, byte(i))
			p.until("PING ACK", isPingAck)
		}
	})
}

// TestServerLogsConnErrors: a connection error is logged, at debug level
// only, with the peer's address and the GOAWAY code.
func TestServerLogsConnErrors(t *testing.T) {
	var mu sync.Mutex
	var logged bytes.Buffer
	h := slog.NewTextHandler(lockedWriter{&mu, &logged}, &slog.HandlerOptions{Level: slog.LevelDebug})
	srv := NewServer(transport.ServerConfig{Logger: slog.New(h)}, echoHandler)
	p, _ := dialPeer(t, serveTest(t, srv))
	p.request(2, true) // even stream id: PROTOCOL_ERROR
	p.until("GOAWAY", isGoAway(http2.ErrCodeProtocol))
	mu.Lock()
	out := logged.String()
	mu.Unlock()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "code=PROTOCOL_ERROR") || !strings.Contains(out, "remote=127.0.0.1:") {
		t.Fatalf("log output %q", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestServerRepliesWhileClientDoesNotRead: a handler's replies, which it
// writes to the socket itself while the writer is idle (conn.pushReply),
// arrive whole and in order even when the client stops reading and the
// socket fills up: what the socket does not take is left to the writer,
// before anything queued later.
func TestServerRepliesWhileClientDoesNotRead(t *testing.T) {
	const (
		replies = 640
		size    = 32 << 10
	)
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		s.WriteHeader(200)
		one := make([]byte, 1)
		for i := 0; ; i++ {
			if _, err := io.ReadFull(s.Body(), one); err != nil {
				return
			}
			p := bytes.Repeat([]byte{byte(i)}, size)
			if ok, err := s.TryWrite(p); err != nil {
				return
			} else if !ok {
				if _, err := s.Write(p); err != nil {
					return
				}
				if s.Flush() != nil {
					return
				}
			}
		}
	})
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	p.check(p.fr.WriteWindowUpdate(0, 1<<30))
	p.request(1, false)
	// Every message asks for a reply, and none is read yet: the replies
	// fill the socket's buffers (about 10 MiB on loopback) and then some.
	for range replies {
		p.check(p.fr.WriteData(1, false, []byte{1}))
		p.flush()
		time.Sleep(2 * time.Millisecond) // the reply goes before the next
	}
	p.check(p.fr.WriteData(1, true, nil))
	p.flush()
	want, got := 0, 0
	for want < replies {
		d := p.until("a reply", isData(1)).(*http2.DataFrame)
		for _, b := range d.Data() {
			if b != byte(want) {
				t.Fatalf("byte %d of reply %d is %d, want %d", got, want, b, byte(want))
			}
			if got++; got == size {
				want, got = want+1, 0
			}
		}
	}
}

// TestServerClientThatNeverReads: a finished stream whose frames are
// still in the writer's queue counts against MAX_CONCURRENT_STREAMS, so a
// client that sends requests and never reads the responses gets its new
// streams refused once the socket's buffers are full, rather than the
// server running every handler and queuing every response (it queued
// 290 MiB in 3 s so).
func TestServerClientThatNeverReads(t *testing.T) {
	const (
		requests = 3000
		size     = 32 << 10
	)
	var handled atomic.Int32
	body := bytes.Repeat([]byte("r"), size)
	srv := NewServer(transport.ServerConfig{MaxConcurrentStreams: 16}, func(s transport.Stream) {
		handled.Add(1)
		s.WriteHeader(200)
		_, _ = s.Write(body)
	})
	p, _ := dialPeer(t, serveTest(t, srv), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	p.check(p.fr.WriteWindowUpdate(0, 1<<30))
	for i := range requests {
		p.request(uint32(2*i+1), true)
		if i%50 == 49 {
			p.flush()
			time.Sleep(time.Millisecond)
		}
	}
	p.flush()
	// The socket's buffers (about 10 MiB on loopback) hold some 300
	// responses; the streams waiting behind them hold 16 more.
	time.Sleep(200 * time.Millisecond)
	n := handled.Load()
	t.Logf("%d of %d requests handled", n, requests)
	if n > requests/6 {
		t.Fatalf("%d of %d requests handled for a client that reads nothing", n, requests)
	}
}

// idleWorkers is how many handler goroutines of srv wait for a stream.
func idleWorkers(srv transport.Server) int {
	p := &srv.(*server).workers
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// TestServerReusesHandlerGoroutines: a stream's handler runs on the
// goroutine that ran an earlier one and is idle (its stack has grown to
// what a handler needs), and an idle one ends after workerIdle.
func TestServerReusesHandlerGoroutines(t *testing.T) {
	ids := make(chan string, 2)
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		buf := make([]byte, 64)
		ids <- strings.Fields(string(buf[:goruntime.Stack(buf, false)]))[1] // "goroutine N ..."
		echoHandler(s)
	})
	p, _ := dialPeer(t, serveTest(t, srv))
	waitIdle := func(n int) {
		t.Helper()
		for i := 0; idleWorkers(srv) != n; i++ {
			if i == 300 {
				t.Fatalf("%d idle handler goroutines after 3 s, want %d", idleWorkers(srv), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var seen []string
	for _, id := range []uint32{1, 3} {
		// The request's end comes after its handler has started: not a
		// request the reader serves itself.
		p.request(id, false)
		p.data(id, false, []byte("x"))
		seen = append(seen, <-ids)
		p.data(id, true, nil)
		p.until("the trailers", func(f http2.Frame) bool {
			h, ok := f.(*http2.MetaHeadersFrame)
			return ok && h.StreamID == id && h.StreamEnded()
		})
		waitIdle(1)
	}
	if seen[0] != seen[1] {
		t.Errorf("the second handler ran on goroutine %s, not on the idle %s", seen[1], seen[0])
	}
	waitIdle(0) // after workerIdle
}

// TestServerStreamContexts: a stream's context carries the values of the
// context its connection is served with; it is cancelled, with what was
// derived from it, when its connection closes, and not when another
// connection does; when the served-with context ends, every connection
// ends. A stream that ends leaves nothing registered with its connection.
func TestServerStreamContexts(t *testing.T) {
	type key struct{}
	started := make(chan context.Context, 4)
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		if s.RequestHeader().Get("X-Wait") == "" {
			echoHandler(s)
			return
		}
		started <- s.Context()
		<-s.Context().Done()
	})
	base, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "served"))
	defer cancel()
	ended := make(chan struct{}, 2)
	addr := serveWith(t, srv, base, ended)
	a, _ := dialPeer(t, addr)
	b, _ := dialPeer(t, addr)

	// A finished call leaves its connection nothing to cancel.
	a.echo(1, "hi", "the echo")
	s := srv.(*server)
	waitFor(t, "registrations dropped", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc := range s.conns {
			sc.ctxMu.Lock()
			left := !sc.after.Empty()
			sc.ctxMu.Unlock()
			if left {
				return false
			}
		}
		return len(s.conns) == 2
	})

	a.request(3, false, "x-wait", "1")
	a.request(5, false, "x-wait", "1")
	b.request(1, false, "x-wait", "1")
	var ctxs []context.Context
	for range 3 {
		select {
		case ctx := <-started:
			if v := ctx.Value(key{}); v != "served" {
				t.Fatalf("a stream's context has %v for the served-with context's key", v)
			}
			ctxs = append(ctxs, ctx)
		case <-time.After(10 * time.Second):
			t.Fatal("handlers did not start")
		}
	}
	// Which context is b's: the one still running after a closes.
	derived := make([]context.Context, len(ctxs))
	fired := make([]chan struct{}, len(ctxs))
	for i, ctx := range ctxs {
		var stop context.CancelFunc
		derived[i], stop = context.WithTimeout(ctx, time.Hour)
		defer stop()
		fired[i] = make(chan struct{})
		context.AfterFunc(ctx, func() { close(fired[i]) })
	}
	a.c.Close()
	<-ended
	done := 0
	for i, ctx := range ctxs {
		select {
		case <-fired[i]:
		case <-time.After(200 * time.Millisecond):
			continue
		}
		if ctx.Err() != context.Canceled || derived[i].Err() != context.Canceled {
			t.Fatalf("after its connection closed: %v, derived %v", ctx.Err(), derived[i].Err())
		}
		done++
	}
	if done != 2 {
		t.Fatalf("%d stream contexts ended with their connection, want 2 (the other connection's goes on)", done)
	}
	cancel()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the other connection did not end with the served-with context")
	}
	for i := range ctxs {
		select {
		case <-fired[i]:
		case <-time.After(10 * time.Second):
			t.Fatal("a stream's context did not end with the served-with context")
		}
	}
}

// TestServerStreamLazyContext: a handler that asks only for its context's
// values and whether it has ended (transport.LazyContext, what the
// runtime asks) costs its connection no registration; the values are the
// served-with context's, with no deadline and no cancellation; it sees
// the client's reset, and the end of its connection. A context asked for
// after the stream's end is cancelled already.
func TestServerStreamLazyContext(t *testing.T) {
	type key struct{}
	type seen struct {
		st     transport.Stream
		values context.Context
	}
	started := make(chan seen, 4)
	release := make(chan struct{})
	srv := NewServer(transport.ServerConfig{}, func(s transport.Stream) {
		started <- seen{s, transport.ContextValues(s)}
		<-release
	})
	base, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "served"), time.Hour)
	defer cancel()
	ended := make(chan struct{}, 1)
	addr := serveWith(t, srv, base, ended)
	defer close(release)
	p, _ := dialPeer(t, addr)
	next := func() seen {
		t.Helper()
		select {
		case s := <-started:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not start")
			return seen{}
		}
	}
	p.request(1, false)
	p.request(3, false)
	one, three := next(), next()
	if one.st.(*serverStream).id != 1 {
		one, three = three, one
	}
	sc := one.st.(*serverStream).sc
	sc.ctxMu.Lock()
	registered := !sc.after.Empty()
	sc.ctxMu.Unlock()
	if registered {
		t.Fatal("streams whose contexts were not asked for registered with their connection")
	}
	if v := one.values.Value(key{}); v != "served" {
		t.Fatalf("ContextValues has %v for the served-with context's key", v)
	}
	if _, ok := one.values.Deadline(); ok || one.values.Done() != nil || one.values.Err() != nil {
		t.Fatal("ContextValues has a deadline or ends")
	}
	if transport.ContextDone(one.st) || transport.ContextDone(three.st) {
		t.Fatal("a running stream's context reports done")
	}

	// The client resets stream 1: its context is done, made or not.
	cancelled := make(chan struct{})
	one.st.OnCancel(func() { close(cancelled) })
	p.check(p.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	p.flush()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("OnCancel was not called after the client's reset")
	}
	if !transport.ContextDone(one.st) {
		t.Fatal("a reset stream's context does not report done")
	}
	if err := one.st.Context().Err(); err != context.Canceled {
		t.Fatalf("a reset stream's context, made afterwards: %v, want Canceled", err)
	}
	if transport.ContextDone(three.st) {
		t.Fatal("the other stream's context reports done")
	}
	// Stream 3's, made while it runs, ends with its connection.
	ctx := three.st.Context()
	if ctx.Err() != nil || ctx.Value(key{}) != "served" {
		t.Fatalf("a running stream's context: %v, value %v", ctx.Err(), ctx.Value(key{}))
	}
	p.c.Close()
	<-ended
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a stream's context did not end with its connection")
	}
	if !transport.ContextDone(three.st) {
		t.Fatal("a stream of a closed connection does not report done")
	}
}

// serveWith serves srv on a loopback listener, each connection with
// base, and sends on ended as each connection ends: its address. The
// listener closes with the test.
func serveWith(t *testing.T, srv transport.Server, base context.Context, ended chan<- struct{}) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(base, c, func() { c.Close(); ended <- struct{}{} })
		}
	}()
	return l.Addr().String()
}
