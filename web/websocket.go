package web

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/parleyrpc/parley/wire"
)

// headerTimeout bounds the wait for the header frame that opens a
// WebSocket call.
const headerTimeout = 10 * time.Second

// closeGrace bounds a close handshake: the WebSocket library waits for the
// client's close frame, and before it for the rest of a message the server
// stopped reading midway (a message found malformed), which a client may
// never send. After closeGrace the connection is closed under it.
const closeGrace = 5 * time.Second

// errBodyClosed is what a Read of a closed request body returns.
var errBodyClosed = errors.New("parley: request body closed")

// wsStream is a Stream for one call in parley's WebSocket framing
// (docs/protocol.md): each WebSocket message is one frame, the 5-byte
// gRPC prefix with the flags of wire.ParseWebFrame. The client sends a
// headers frame, messages, and a trailers frame with no payload to
// half-close; the server sends a headers frame, messages, and the trailers
// frame with grpc-status, then closes the WebSocket normally. Closing the
// WebSocket before the trailers cancels the call.
//
// Goroutines and ownership:
//   - the pump goroutine owns the WebSocket's read side: it reads one
//     frame at a time and hands it to frames, so it holds at most one
//     frame while the call layer has not taken the previous one
//     (backpressure: a handler that stops receiving stops the pump, and
//     the client's sends back up into its own socket buffer). It notices
//     the client closing the WebSocket and cancels ctx.
//   - the call layer's request reader owns cur and bodyEOF (Body's Read).
//   - the response side (resp, headersSent, done, pending) is used by the
//     goroutine calling the response methods and, after the StreamHandler
//     returned, by finish, under mu.
type wsStream struct {
	h      *Handler
	c      *websocket.Conn
	conn   *hijacked // under c
	r      *http.Request
	ctx    context.Context // cancelled when the client goes, at the deadline, or at finish
	cancel context.CancelFunc
	reqHdr http.Header

	frames     chan []byte   // pump -> Body; an empty frame is the half-close
	pumpDone   chan struct{} // closed by the pump when it returns
	pumpErr    error         // set by the pump before closing pumpDone
	bodyClosed chan struct{} // closed by CloseBody
	closeOnce  sync.Once

	cur     []byte // reader goroutine only
	bodyEOF bool   // reader goroutine only

	mu          sync.Mutex
	resp        response
	headersSent bool
	sentFrames  bool   // a message frame has gone out
	done        bool   // finish has begun: writes fail, a read error is no cancellation
	violation   error  // a framing error after the half-close, set by the pump
	lost        bool   // the WebSocket failed under the pump before finish: nothing more is sent on it
	pending     []byte // written bytes not yet sent as frames

	deadline deadline // its own lock
}

func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if isH2WebSocket(r) {
		w, r = asUpgrade(w, r)
	}
	conn := &hijacked{ResponseWriter: w}
	c, err := websocket.Accept(conn, r, &websocket.AcceptOptions{
		Subprotocols: []string{Subprotocol},
		// ServeHTTP has checked the origin against the allow-list.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept has answered with an HTTP error
	}
	if c.Subprotocol() != Subprotocol {
		conn.close(c, websocket.StatusPolicyViolation, "parley: the "+Subprotocol+" subprotocol is required")
		return
	}
	// A hijacked request's context is not cancelled when the connection
	// closes: the pump cancels this one.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	hdr, err := readHeaderFrame(ctx, c, h.cfg.maxHeaderBytes)
	if err != nil {
		conn.close(c, websocket.StatusProtocolError, truncateReason(err.Error()))
		return
	}
	// Frames are read through their prefix: the limit only stops a
	// message longer than the frame it announces.
	c.SetReadLimit(-1)
	s := &wsStream{
		h: h, c: c, conn: conn, r: r, ctx: ctx, cancel: cancel, reqHdr: hdr,
		frames:     make(chan []byte),
		pumpDone:   make(chan struct{}),
		bodyClosed: make(chan struct{}),
		resp:       response{hdr: http.Header{}},
	}
	go s.pump()
	h.serve(s)
	s.finish()
}

// hijacked is the ResponseWriter given to the WebSocket library: it
// keeps the connection the library hijacks (the TCP connection, or the
// HTTP/2 stream as one), so that a close handshake the client does not
// complete can be cut short.
type hijacked struct {
	http.ResponseWriter
	conn net.Conn // set by Hijack, on the request's goroutine
}

func (h *hijacked) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = c
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (h *hijacked) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// close closes c with a close handshake (RFC 6455, section 7), closing the
// connection underneath if the handshake has not completed within
// closeGrace.
func (h *hijacked) close(c *websocket.Conn, code websocket.StatusCode, reason string) {
	t := time.AfterFunc(closeGrace, func() {
		if h.conn != nil { // nil if the library never hijacked
			_ = h.conn.Close()
		}
	})
	defer t.Stop()
	_ = c.Close(code, reason)
}

// readHeaderFrame reads the call's first frame, a FlagHeaders frame, and
// returns its fields as request header fields with a native gRPC
// content-type.
func readHeaderFrame(ctx context.Context, c *websocket.Conn, max int) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, headerTimeout)
	defer cancel()
	c.SetReadLimit(int64(max) + wire.PrefixLen)
	typ, b, err := c.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("parley: reading the header frame: %w", err)
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("parley: the header frame must be a binary message")
	}
	rest, flag, payload, ok, err := wire.ParseWebFrame(b, max)
	switch {
	case err != nil:
		return nil, err
	case !ok || len(rest) != 0:
		return nil, errors.New("parley: a message must hold exactly one frame")
	case flag != wire.FlagHeaders:
		return nil, fmt.Errorf("parley: the first frame must be a headers frame (flag 0x40), got flag %#02x", flag)
	}
	fields, err := wire.ParseHeaderBlock(payload)
	if err != nil {
		return nil, err
	}
	hdr := make(http.Header, len(fields)+1)
	for k, v := range fields {
		hdr[http.CanonicalHeaderKey(k)] = v
	}
	ct := hdr.Get("Content-Type")
	switch sub, _, ok := wire.ParseWebContentType(ct); {
	case ct == "":
		hdr.Set("Content-Type", wire.ContentTypeMsgpack)
	case ok:
		hdr.Set("Content-Type", wire.ContentType(sub))
	}
	return hdr, nil
}

// truncateReason makes s a close frame's reason: UTF-8 (RFC 6455, section
// 5.5.1; a browser fails the WebSocket on a reason that is not) of at
// most 123 bytes (section 5.5), cut at a character boundary.
func truncateReason(s string) string {
	const max = 120
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func (s *wsStream) Context() context.Context    { return s.ctx }
func (s *wsStream) Method() string              { return http.MethodPost }
func (s *wsStream) Path() string                { return s.r.URL.RequestURI() }
func (s *wsStream) Authority() string           { return s.r.Host }
func (s *wsStream) RequestHeader() http.Header  { return s.reqHdr }
func (s *wsStream) RemoteAddr() string          { return s.r.RemoteAddr }
func (s *wsStream) TLS() *tls.ConnectionState   { return s.r.TLS }
func (s *wsStream) Body() io.Reader             { return (*wsBody)(s) }
func (s *wsStream) ResponseHeader() http.Header { return s.resp.hdr }

func (s *wsStream) CloseBody() { s.closeOnce.Do(func() { close(s.bodyClosed) }) }

// pump reads the client's frames until the WebSocket closes, handing
// message frames to Body and ending at the half-close or the first
// protocol error; see wsStream.
func (s *wsStream) pump() {
	defer close(s.pumpDone)
	halfClosed := false
	for {
		typ, msg, err := s.c.Reader(s.ctx)
		if err != nil {
			s.failed(err)
			return
		}
		frame, err := readFrame(typ, msg, s.h.cfg.maxMessageSize)
		var wf wsFailure
		if errors.As(err, &wf) {
			s.failed(wf.err)
			return
		}
		if err == nil && halfClosed {
			err = errors.New("parley: frame after the client's half-close")
		}
		if err != nil {
			var werr *wire.Error
			if errors.As(err, &werr) {
				s.pumpErr = werr // a status of its own: a message over the limit
			} else {
				s.pumpErr = wire.Errorf(wire.Internal, "WebSocket framing: %v", err)
			}
			if halfClosed {
				// The call layer reads no more: end the call
				// here, with the error in its trailers.
				s.mu.Lock()
				s.violation = s.pumpErr
				s.mu.Unlock()
				s.cancel()
			}
			return
		}
		if len(frame) == 0 {
			halfClosed = true
		}
		select {
		case s.frames <- frame:
		case <-s.bodyClosed:
			// The call layer reads no more; keep reading to see the
			// client close.
		case <-s.ctx.Done():
			return
		}
	}
}

// failed ends the pump on a WebSocket that failed under it: the client
// closed it or went away before the trailers, or broke RFC 6455 (a frame
// the library could not read: with a close frame sent, or, as for an
// unmasked frame, none). Either way nothing more is sent on it.
func (s *wsStream) failed(err error) {
	s.pumpErr = err
	s.mu.Lock()
	done := s.done
	s.lost = !done
	s.mu.Unlock()
	if !done {
		s.cancel()
	}
}

// wsFailure is an error of readFrame's that is the WebSocket's, not the
// message's: reading the message failed (the client went away, or broke
// RFC 6455 midway), rather than found the message wrong.
type wsFailure struct{ err error }

func (e wsFailure) Error() string { return e.err.Error() }
func (e wsFailure) Unwrap() error { return e.err }

// messageErr returns err, from reading a WebSocket message, as a
// wsFailure unless it says that the message has ended: io.EOF or
// io.ErrUnexpectedEOF themselves, as the message reader and io.ReadFull
// return them (the library wraps a connection's own EOF).
func messageErr(err error) error {
	if err == nil || err == io.EOF || err == io.ErrUnexpectedEOF {
		return err
	}
	return wsFailure{err}
}

// readFrame reads one frame, a whole WebSocket message, and returns it
// (prefix and payload) for a message frame, or an empty slice for the
// half-close. A message frame longer than max is discarded as it streams
// in, and refused with a RESOURCE_EXHAUSTED *wire.Error (max is the
// Handler's limit, which may be below the call layer's: the prefix alone
// would have it read the next frames as the payload). A message that
// breaks the framing is an error; one that cannot be read (the
// WebSocket failed) is a wsFailure.
func readFrame(typ websocket.MessageType, msg io.Reader, max int) ([]byte, error) {
	if typ != websocket.MessageBinary {
		return nil, errors.New("text message; frames are binary messages")
	}
	var prefix [wire.PrefixLen]byte
	if _, err := io.ReadFull(msg, prefix[:]); err != nil {
		if err := messageErr(err); err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		return nil, fmt.Errorf("message shorter than a frame prefix: %w", err)
	}
	n := binary.BigEndian.Uint32(prefix[1:])
	switch prefix[0] {
	case wire.FlagUncompressed, wire.FlagCompressed:
	case wire.FlagTrailers:
		if n != 0 {
			return nil, errors.New("the client's trailers frame (half-close) must be empty")
		}
		return []byte{}, expectEnd(msg)
	default:
		return nil, fmt.Errorf("unexpected frame flag %#02x", prefix[0])
	}
	if uint64(n) > uint64(max) {
		// Discard the rest as it streams in: the call ends, and the
		// WebSocket stays readable for the close.
		if _, err := io.Copy(io.Discard, msg); err != nil {
			return nil, messageErr(err)
		}
		return nil, wire.Errorf(wire.ResourceExhausted, "received message larger than max (%d vs. %d)", n, max)
	}
	frame, err := readGrowing(msg, prefix[:], wire.PrefixLen+int(n))
	if err != nil {
		if err := messageErr(err); err != io.ErrUnexpectedEOF {
			return nil, err
		}
		return nil, fmt.Errorf("message shorter than its frame: %w", err)
	}
	return frame, expectEnd(msg)
}

// firstChunk is how much of a message readGrowing makes room for before
// any of it has arrived.
const firstChunk = 32 << 10

// readGrowing returns start followed by bytes read from r, total bytes in
// all, growing its buffer as they arrive (at most doubling it each time):
// a peer that announces a large message and sends little of it holds no
// more of the server's memory than about twice what it sent.
func readGrowing(r io.Reader, start []byte, total int) ([]byte, error) {
	b := make([]byte, len(start), min(total, len(start)+firstChunk))
	copy(b, start)
	for len(b) < total {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), total-len(b)))
		}
		n, err := r.Read(b[len(b):min(cap(b), total)])
		b = b[:len(b)+n]
		if err != nil && len(b) < total {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// expectEnd checks that a WebSocket message holds nothing after its frame.
func expectEnd(msg io.Reader) error {
	var b [1]byte
	n, err := io.ReadFull(msg, b[:])
	if n != 0 {
		return errors.New("a message must hold exactly one frame")
	}
	if err = messageErr(err); err == io.EOF {
		return nil
	}
	return err
}

// wsBody is the request body of a wsStream: the message frames the pump
// hands over, then io.EOF at the half-close.
type wsBody wsStream

func (b *wsBody) Read(p []byte) (int, error) {
	s := (*wsStream)(b)
	for len(s.cur) == 0 {
		if s.bodyEOF {
			return 0, io.EOF
		}
		select {
		case f := <-s.frames:
			if len(f) == 0 {
				s.bodyEOF = true
				return 0, io.EOF
			}
			s.cur = f
		case <-s.pumpDone:
			if s.pumpErr == nil {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, s.pumpErr
		case <-s.bodyClosed:
			return 0, errBodyClosed
		}
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

func (s *wsStream) WriteHeader(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resp.status == 0 {
		s.resp.status = status
	}
}

func (s *wsStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeErr(s.ctx, s.done); err != nil {
		return 0, err
	}
	s.pending = append(s.pending, p...)
	return len(p), nil
}

func (s *wsStream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errFinished
	}
	return s.flushLocked()
}

// flushLocked sends the headers frame if it has not gone yet, then every
// complete frame written so far, one WebSocket message each. A write
// blocks while the client does not read (TCP backpressure) and fails once
// ctx ends. Called with mu held.
func (s *wsStream) flushLocked() error {
	if s.resp.status != 0 && s.resp.status != http.StatusOK {
		return nil // answered as a status by finish
	}
	if !s.headersSent {
		s.headersSent = true
		h := http.Header{}
		for k, v := range s.resp.hdr {
			if !strings.HasPrefix(k, http.TrailerPrefix) {
				h[k] = v
			}
		}
		if err := s.writeBlock(wire.FlagHeaders, h); err != nil {
			return err
		}
	}
	for {
		rest, _, _, ok, err := wire.ParseWebFrame(s.pending, -1)
		if err != nil {
			return fmt.Errorf("parley: the call layer wrote a malformed frame: %w", err)
		}
		if !ok {
			break
		}
		frame := s.pending[:len(s.pending)-len(rest)]
		if err := s.c.Write(s.ctx, websocket.MessageBinary, frame); err != nil {
			return err
		}
		s.sentFrames = true
		s.pending = s.pending[:copy(s.pending, rest)]
	}
	return nil
}

// writeBlock sends a headers or trailers frame holding h.
func (s *wsStream) writeBlock(flag byte, h http.Header) error {
	fields := make(map[string][]string, len(h))
	for k, v := range h {
		fields[strings.ToLower(k)] = v
	}
	block, err := wire.AppendHeaderBlock(nil, fields)
	if err != nil {
		return fmt.Errorf("parley: invalid response header: %w", err)
	}
	return s.c.Write(s.ctx, websocket.MessageBinary, wire.AppendWebFrame(nil, flag, block))
}

// SetDeadline cancels the call at t: blocked writes fail and the
// WebSocket is closed. Any goroutine may call it, also during a write.
func (s *wsStream) SetDeadline(t time.Time) {
	s.deadline.reset(t, s.cancel)
}

// finish sends what the StreamHandler left: the headers and messages not
// yet sent and the trailers frame (a trailers-only response is that frame
// alone, with the headers in it), closes the WebSocket normally and waits
// for the pump.
func (s *wsStream) finish() {
	s.mu.Lock()
	if s.lost {
		// No trailers on a WebSocket that has failed: the client has
		// gone, or sent what RFC 6455 says to answer by closing the
		// connection (a write could still succeed, racing the
		// cancellation, and tell it the call ended normally).
		s.done = true
		s.mu.Unlock()
		s.deadline.stop()
		_ = s.c.CloseNow()
		s.cancel()
		<-s.pumpDone
		return
	}
	status := s.resp.status
	var trailers http.Header
	var err error
	switch {
	case status != 0 && status != http.StatusOK:
		// The call layer refused the request with an HTTP status
		// (415, 405): carry it as the gRPC status it maps to.
		trailers = http.Header{}
		trailers.Set(wire.HeaderStatus, strconv.Itoa(int(wire.CodeFromHTTPStatus(status))))
		trailers.Set(wire.HeaderMessage, wire.EncodeMessage(fmt.Sprintf("HTTP status %d: %s", status, s.pending)))
	case !s.headersSent && !s.sentFrames && len(s.pending) == 0 && !s.resp.hasTrailers():
		trailers = s.resp.hdr // trailers-only
	default:
		trailers = s.resp.splitTrailers()
		err = s.flushLocked()
	}
	if trailers.Get(wire.HeaderStatus) == "" {
		// The call layer sets no status for a call whose client went
		// away (or broke the framing after its half-close): say what
		// happened, for a client still there to read it.
		why := wire.NewError(wire.Canceled, "the client cancelled the call or went away")
		if s.violation != nil {
			why = wire.AsError(s.violation)
		}
		trailers = http.Header{}
		trailers.Set(wire.HeaderStatus, strconv.Itoa(int(why.Code())))
		trailers.Set(wire.HeaderMessage, wire.EncodeMessage(why.Message()))
	}
	s.done = true
	s.mu.Unlock()
	if err == nil {
		err = s.writeBlock(wire.FlagTrailers, trailers)
	}
	// The response is complete (or failed): the deadline has bounded
	// its writes, which wait while the client does not read.
	s.deadline.stop()
	if err == nil {
		s.conn.close(s.c, websocket.StatusNormalClosure, "")
	} else {
		_ = s.c.CloseNow()
	}
	s.cancel()
	<-s.pumpDone
}

// hasTrailers reports whether r.hdr holds trailer fields.
func (r *response) hasTrailers() bool {
	for k := range r.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

var _ Stream = (*wsStream)(nil)
