package h2

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// FuzzServerFrames sends a server connection a sequence of frames made from
// the fuzz input (see frameRecords), then a PING. Whatever the frames, the
// server must
//
//   - not panic (the test process would crash);
//   - answer the PING or end the connection (GOAWAY, or closing it) within
//     fuzzAnswerTimeout, sending only frames a Framer can read;
//   - return from ServeConn, every goroutine of the connection ended,
//     within fuzzAnswerTimeout of the client closing the connection;
//   - then serve a well-behaved request on a new connection.
//
// The server is shared by all inputs and has small limits (4 concurrent
// streams, 4 KiB header lists, 64 KiB windows), so that a few frames reach
// them. The seeds (frameSeeds) run as part of go test; `make fuzz`
// explores.
func FuzzServerFrames(f *testing.F) {
	for _, s := range frameSeeds() {
		f.Add([]byte(s))
	}
	srv := NewServer(transport.ServerConfig{
		MaxConcurrentStreams:         4,
		MaxHeaderListSize:            4 << 10,
		MaxUploadBufferPerStream:     65535,
		MaxUploadBufferPerConnection: 65535,
	}, echoHandler)
	fs := serveFuzz(f, srv)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, ok := frameRecords(data)
		if !ok {
			return
		}
		before := goleak.IgnoreCurrent()
		fs.hostile(t, recs)
		fs.wellBehaved(t)
		if err := goleak.Find(before); err != nil {
			t.Fatalf("goroutines left after the connections ended, for frames\n%s\n%v", describe(recs), err)
		}
	})
}

const (
	// fuzzAnswerTimeout bounds each wait of FuzzServerFrames: a run takes
	// a few milliseconds, and only a hung server makes it wait this long.
	fuzzAnswerTimeout = 2 * time.Second
	// maxRecords and maxRecordBytes bound the frames of one input.
	maxRecords     = 256
	maxRecordBytes = 256 << 10
)

// probePing is the payload of the PING FuzzServerFrames sends after the
// fuzzed frames.
var probePing = [8]byte{0xfe, 'p', 'r', 'o', 'b', 'e', 0xfe, 0xff}

// record is one frame to send: kind is a frame type, or one of the kinds
// below, whose payload is header fields to encode rather than bytes to
// send.
type record struct {
	kind    int
	flags   http2.Flags
	stream  uint32
	payload []byte
}

// Record kinds that are not frame types: frames built with hpack.
const (
	// kindRequest is a well-formed request's HEADERS (END_HEADERS set,
	// END_STREAM from the flags), with fields from the payload added.
	kindRequest = 0x100 + iota
	// kindHeaderFields is HEADERS holding only the fields in the payload
	// (END_STREAM and END_HEADERS from the flags).
	kindHeaderFields
	// kindContinuationFields is CONTINUATION holding the fields in the
	// payload (END_HEADERS from the flags).
	kindContinuationFields
)

// frameRecords splits a fuzz input into records of five bytes and a
// payload:
//
//	kind  flags  stream  length (2 bytes, big endian)  payload
//
// kind%16 is 0-9 for a frame of that type (DATA to CONTINUATION) and 10-12
// for a frame of type kind, which HTTP/2 does not define (a receiver
// ignores it); 13, 14 and 15 are kindRequest, kindHeaderFields and
// kindContinuationFields. The stream id is stream&0x0f, plus 0x7ffffff0
// if stream&0x40 (ids at the top of the range), plus the reserved bit if
// stream&0x80. The payload is the next length bytes of the input, and
// zeros where the input ends first, so a short input can send a large
// frame. Fields in a payload are name, value, name, value... separated by
// '\n'.
//
// It returns false for inputs over the record limits.
func frameRecords(data []byte) ([]record, bool) {
	var recs []record
	total := 0
	for len(data) > 0 {
		if len(data) < 5 {
			data = append(data[:len(data):len(data)], make([]byte, 5-len(data))...)
		}
		kind, flags, sid := data[0], data[1], data[2]
		n := int(binary.BigEndian.Uint16(data[3:5]))
		data = data[5:]
		payload := make([]byte, n)
		copy(payload, data)
		data = data[min(n, len(data)):]
		total += 5 + n
		if len(recs) == maxRecords || total > maxRecordBytes {
			return nil, false
		}
		r := record{kind: int(kind), flags: http2.Flags(flags), stream: uint32(sid & 0x0f), payload: payload}
		if sid&0x40 != 0 {
			r.stream += 0x7ffffff0
		}
		if sid&0x80 != 0 {
			r.stream |= 1 << 31
		}
		switch k := kind % 16; {
		case k <= 9:
			r.kind = int(k)
		case k == 13:
			r.kind = kindRequest
		case k == 14:
			r.kind = kindHeaderFields
		case k == 15:
			r.kind = kindContinuationFields
		}
		recs = append(recs, r)
	}
	return recs, true
}

// describe lists records for a failure message.
func describe(recs []record) string {
	var b strings.Builder
	for _, r := range recs {
		name := http2.FrameType(r.kind).String()
		switch r.kind {
		case kindRequest:
			name = "request HEADERS"
		case kindHeaderFields:
			name = "HEADERS of fields"
		case kindContinuationFields:
			name = "CONTINUATION of fields"
		}
		p := r.payload
		more := ""
		if len(p) > 64 {
			p, more = p[:64], fmt.Sprintf(" (%d bytes)", len(r.payload))
		}
		fmt.Fprintf(&b, "  %s flags=%#02x stream=%#x payload=%q%s\n", name, uint8(r.flags), r.stream, p, more)
	}
	return b.String()
}

// fuzzServer serves one transport.Server on a loopback listener, as
// serveTest does, and tells when each connection's ServeConn has returned.
type fuzzServer struct {
	addr string
	mu   sync.Mutex
	done map[string]chan struct{} // by client address; guarded by mu
}

func serveFuzz(tb testing.TB, srv transport.Server) *fuzzServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fs := &fuzzServer{addr: l.Addr().String(), done: map[string]chan struct{}{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			done := fs.served(c.RemoteAddr().String())
			wg.Add(1)
			go srv.ServeConn(ctx, c, func() {
				c.Close()
				close(done)
				wg.Done()
			})
		}
	})
	tb.Cleanup(func() {
		l.Close()
		cancel() // ends the connections still served
		wg.Wait()
	})
	return fs
}

// served returns the channel closed when the connection from client ends;
// the accept loop and the test each ask for it, in either order.
func (fs *fuzzServer) served(client string) chan struct{} {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ch := fs.done[client]
	if ch == nil {
		ch = make(chan struct{})
		fs.done[client] = ch
	}
	return ch
}

// dial connects a peer (preface and SETTINGS exchanged) and returns with it
// a function that closes the connection and waits for ServeConn to return.
func (fs *fuzzServer) dial(t *testing.T) (*peer, func() error) {
	t.Helper()
	p, _ := dialPeer(t, fs.addr)
	client := p.c.LocalAddr().String()
	return p, func() error {
		p.c.Close()
		select {
		case <-fs.served(client):
		case <-time.After(fuzzAnswerTimeout):
			return fmt.Errorf("ServeConn did not return within %v of the client closing", fuzzAnswerTimeout)
		}
		fs.mu.Lock()
		delete(fs.done, client)
		fs.mu.Unlock()
		return nil
	}
}

// readOutcome is how the server answered the frames of hostile.
type readOutcome struct {
	answered bool  // the probe PING was acknowledged
	goAway   bool  // the server sent GOAWAY
	err      error // the read error that ended the connection, if neither
}

// hostile sends recs and the probe PING on a new connection and checks
// that the server answers or ends the connection in time, then closes it.
func (fs *fuzzServer) hostile(t *testing.T, recs []record) {
	p, closeConn := fs.dial(t)
	_ = p.c.SetDeadline(time.Now().Add(fuzzAnswerTimeout))
	p.fr.ReadMetaHeaders.SetAllowedMaxDynamicTableSize(math.MaxUint32) // whatever SETTINGS the records sent

	// The reader goroutine reads what the server sends, so that its
	// writes never block, and reports the outcome.
	outcome := make(chan readOutcome, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sent := false
		report := func(o readOutcome) {
			if !sent {
				sent = true
				outcome <- o
			}
		}
		for {
			fr, err := p.fr.ReadFrame()
			if err != nil {
				report(readOutcome{err: err})
				return
			}
			switch fr := fr.(type) {
			case *http2.PingFrame:
				if fr.IsAck() && fr.Data == probePing {
					report(readOutcome{answered: true})
				}
			case *http2.GoAwayFrame:
				report(readOutcome{goAway: true})
			}
		}
	}()

	err := writeRecords(p, recs)
	if err == nil {
		err = p.fr.WritePing(false, probePing)
	}
	if err == nil {
		err = p.bw.Flush()
	}
	// A write error means the server closed the connection: the reader
	// sees that too.
	o := <-outcome
	closeErr := closeConn()
	<-readDone
	switch {
	case o.answered, o.goAway:
	case isTimeout(o.err):
		t.Fatalf("no answer to PING and no GOAWAY within %v (write: %v), for frames\n%s", fuzzAnswerTimeout, err, describe(recs))
	case !isClosed(o.err):
		t.Fatalf("reading the server's frames: %v, for frames\n%s", o.err, describe(recs))
	}
	if closeErr != nil {
		t.Fatalf("%v, for frames\n%s", closeErr, describe(recs))
	}
}

// writeRecords writes recs, stopping at the first write error. It writes
// raw frames, which the Framer does not check, so that an error is the
// connection's.
func writeRecords(p *peer, recs []record) error {
	for _, r := range recs {
		var err error
		switch r.kind {
		case kindRequest:
			block := p.encode(append([]string{":method", "POST", ":scheme", "http", ":path", "/t", ":authority", "x"}, fields(r.payload)...)...)
			err = p.fr.WriteRawFrame(http2.FrameHeaders, r.flags&http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders, r.stream, block)
		case kindHeaderFields:
			block := p.encode(fields(r.payload)...)
			err = p.fr.WriteRawFrame(http2.FrameHeaders, r.flags&(http2.FlagHeadersEndStream|http2.FlagHeadersEndHeaders), r.stream, block)
		case kindContinuationFields:
			block := p.encode(fields(r.payload)...)
			err = p.fr.WriteRawFrame(http2.FrameContinuation, r.flags&http2.FlagContinuationEndHeaders, r.stream, block)
		default:
			err = p.fr.WriteRawFrame(http2.FrameType(r.kind), r.flags, r.stream, r.payload)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fields splits a payload into header field names and values.
func fields(payload []byte) []string {
	if len(payload) == 0 {
		return nil
	}
	f := strings.Split(string(payload), "\n")
	if len(f)%2 == 1 {
		f = append(f, "")
	}
	return f
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isClosed reports whether err is the connection ending, rather than a
// frame the client could not read.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

// wellBehaved makes a request on a new connection and checks its answer.
func (fs *fuzzServer) wellBehaved(t *testing.T) {
	p, closeConn := fs.dial(t)
	_ = p.c.SetDeadline(time.Now().Add(fuzzAnswerTimeout))
	p.request(1, false)
	p.data(1, true, []byte("ping"))
	h := p.until("response HEADERS", isHeaders(1)).(*http2.MetaHeadersFrame)
	if s := h.PseudoValue("status"); s != "200" {
		t.Fatalf("a well-behaved request on a new connection got status %q", s)
	}
	var body []byte
	for end := false; !end; {
		switch fr := p.until("response", func(fr http2.Frame) bool { return isData(1)(fr) || isHeaders(1)(fr) }).(type) {
		case *http2.DataFrame:
			body = append(body, fr.Data()...)
			end = fr.StreamEnded()
		case *http2.MetaHeadersFrame:
			if !fr.StreamEnded() {
				t.Fatal("trailers without END_STREAM")
			}
			end = true
		}
	}
	if !bytes.Equal(body, []byte("ping")) {
		t.Fatalf("a well-behaved request on a new connection got body %q", body)
	}
	if err := closeConn(); err != nil {
		t.Fatal(err)
	}
}

// rec is one record of a seed (frameRecords); sid is the stream byte.
func rec(kind, flags, sid byte, payload string) string {
	return string([]byte{kind, flags, sid, byte(len(payload) >> 8), byte(len(payload))}) + payload
}

// recSized is a record announcing n bytes of payload, of which it holds
// none: the last record of a seed, which frameRecords pads with zeros.
func recSized(kind, flags, sid byte, n int) string {
	return string([]byte{kind, flags, sid, byte(n >> 8), byte(n)})
}

func u32(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }

func setting(id http2.SettingID, v uint32) string {
	return string(binary.BigEndian.AppendUint16(nil, uint16(id))) + u32(v)
}

// frameSeeds are hand-made frame sequences, each aimed at one rule of RFC
// 9113 or one limit of the server.
func frameSeeds() []string {
	const (
		data, headers, priority, rst, settings, push, ping, goAway, window, cont = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
		request, headerFields, contFields                                        = 13, 14, 15
		endStream, ack, endHeaders, padded, prio                                 = 0x1, 0x1, 0x4, 0x8, 0x20
		top                                                                      = 0x40 // stream ids from 0x7ffffff0
	)
	cancel := u32(uint32(http2.ErrCodeCancel))
	zeros := func(n int) string { return strings.Repeat("\x00", n) }
	return []string{
		// A request without a body, and one with.
		rec(request, endStream, 1, ""),
		rec(request, 0, 1, "") + rec(data, endStream, 1, "hello"),
		// DATA, WINDOW_UPDATE and RST_STREAM on a stream never opened.
		rec(data, 0, 3, "x"),
		rec(window, 0, 5, u32(1)),
		rec(rst, 0, 5, cancel),
		// Windows past 2^31-1: the connection's, then a stream's; a zero
		// increment.
		rec(window, 0, 0, u32(1<<31-1)) + rec(window, 0, 0, u32(1<<31-1)),
		rec(request, 0, 1, "") + rec(window, 0, 1, u32(1<<31-1)) + rec(window, 0, 1, u32(1<<31-1)),
		rec(window, 0, 0, u32(0)),
		// CONTINUATION without HEADERS; HEADERS without END_HEADERS
		// interrupted by a PING; CONTINUATION on another stream.
		rec(contFields, endHeaders, 1, ":method\nPOST"),
		rec(headerFields, endStream, 1, ":method\nPOST\n:scheme\nhttp") + rec(ping, 0, 0, zeros(8)),
		rec(headerFields, endStream, 1, ":method\nPOST") + rec(contFields, endHeaders, 3, ":path\n/"),
		rec(headers, endStream, 1, "\x82") + rec(cont, 0, 1, "\x86") + rec(cont, endHeaders, 1, "\x84\x41\x01x"),
		// SETTINGS of a length not a multiple of 6, ACK with a payload, on
		// a stream, with values out of range; a stream window overflowed
		// by SETTINGS_INITIAL_WINDOW_SIZE; a large header table.
		rec(settings, 0, 0, "\x00\x04\x00"),
		rec(settings, ack, 0, setting(http2.SettingEnablePush, 0)),
		rec(settings, 0, 1, setting(http2.SettingEnablePush, 0)),
		rec(settings, 0, 0, setting(http2.SettingEnablePush, 2)) + rec(settings, 0, 0, setting(http2.SettingMaxFrameSize, 1<<24)),
		rec(request, 0, 1, "") + rec(window, 0, 1, u32(1<<31-65536)) + rec(settings, 0, 0, setting(http2.SettingInitialWindowSize, 1<<31-1)),
		rec(settings, 0, 0, setting(http2.SettingHeaderTableSize, 1<<20)) + rec(request, endStream, 1, ""),
		// PRIORITY on itself, of the wrong length; HEADERS depending on
		// itself.
		rec(priority, 0, 1, u32(1)+"\x10"),
		rec(priority, 0, 1, u32(3)),
		rec(headers, endHeaders|prio, 1, u32(1)+"\x10\x82"),
		// Padding longer than the frame, on DATA and on HEADERS.
		rec(request, 0, 1, "") + rec(data, padded|endStream, 1, "\xffx"),
		rec(headers, padded|endHeaders, 1, "\xc8\x82"),
		// A DATA frame over the 16 KiB frame size, and a body past the
		// stream's window (zeros padded by frameRecords).
		rec(request, 0, 1, "") + recSized(data, 0, 1, 16385),
		rec(request, 0, 1, "") + strings.Repeat(rec(data, 0, 1, zeros(16384)), 4) + recSized(data, 0, 1, 16384),
		// More streams than MAX_CONCURRENT_STREAMS, one opened twice, an
		// even id, ids going down, the top id, the reserved bit.
		rec(request, 0, 1, "") + rec(request, 0, 3, "") + rec(request, 0, 5, "") + rec(request, 0, 7, "") + rec(request, 0, 9, "") + rec(request, 0, 11, ""),
		rec(request, endStream, 1, "") + rec(request, endStream, 1, ""),
		rec(request, endStream, 2, ""),
		rec(request, endStream, 5, "") + rec(request, endStream, 3, ""),
		rec(request, endStream, top|0x0f, "") + rec(request, endStream, 1, ""),
		rec(request, endStream, 0x81, ""),
		// Trailers with a pseudo-header, trailers without END_STREAM, a
		// body longer than content-length, forbidden and malformed fields.
		rec(request, 0, 1, "") + rec(headerFields, endStream|endHeaders, 1, ":path\n/x"),
		rec(request, 0, 1, "") + rec(headerFields, endHeaders, 1, "x-trailer\n1"),
		rec(request, 0, 1, "content-length\n1") + rec(data, endStream, 1, "ab"),
		rec(request, endStream, 1, "connection\nclose"),
		rec(request, endStream, 1, "X-Upper\nv\n:method\nGET"),
		rec(request, endStream, 1, "te\ngzip"),
		rec(headerFields, endStream|endHeaders, 1, ":method\nGET\n:path\n/"),
		// A header list over MAX_HEADER_LIST_SIZE (4 KiB), and a field
		// longer than the whole list may be.
		rec(request, endStream, 1, strings.Repeat("x-big\n"+strings.Repeat("v", 1000)+"\n", 5)),
		rec(request, endStream, 1, "x-big\n"+strings.Repeat("v", 5000)),
		// A stream reset twice; more resets than the budget allows.
		rec(request, 0, 1, "") + rec(rst, 0, 1, cancel) + rec(rst, 0, 1, cancel),
		rec(request, 0, 1, "") + strings.Repeat(rec(rst, 0, 1, cancel), 120),
		// PUSH_PROMISE from a client; GOAWAY from the client, then a
		// request; PING of the wrong length; an undefined frame type.
		rec(push, endHeaders, 1, u32(2)+"\x82"),
		rec(goAway, 0, 0, u32(0)+u32(0)) + rec(request, endStream, 1, ""),
		rec(ping, 0, 0, "\x01\x02\x03"),
		rec(0xfa, 0xff, 1, "extension") + rec(request, endStream, 1, ""),
	}
}
