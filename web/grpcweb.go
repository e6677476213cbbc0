package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/parleyrpc/parley/wire"
)

// errFinished is returned by writes after the response is complete.
var errFinished = errors.New("parley: write after the call finished")

// writeErr is why a web stream's Write fails, or nil: the response is
// complete (done), or the call is over (ctx, the stream's context).
func writeErr(ctx context.Context, done bool) error {
	if done {
		return errFinished
	}
	return ctx.Err()
}

// response is the part of a web Stream that both web protocols share: the
// header map and status the call layer fills, and the split of that map
// into headers and trailers when the response goes out.
type response struct {
	hdr    http.Header // ResponseHeader; guarded by the caller serialising the response methods
	status int         // from WriteHeader; 0 until then
}

// splitTrailers removes the trailer fields (keys with http.TrailerPrefix)
// from r.hdr and returns them, the prefix stripped.
func (r *response) splitTrailers() http.Header {
	t := http.Header{}
	for k, v := range r.hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			t[http.CanonicalHeaderKey(name)] = v
			delete(r.hdr, k)
		}
	}
	return t
}

// deadline is the timer that cancels a web stream's call at its deadline,
// in both web protocols. It has a lock of its own, not the stream's mu:
// SetDeadline may be called from any goroutine, also while a write holds
// mu waiting for a client that does not read, and is how such a write is
// made to fail.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer // guarded by mu
}

// reset makes cancel run at t, instead of at any deadline set before: at
// once if t has passed; never for the zero time.
func (d *deadline) reset(t time.Time, cancel func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	switch {
	case t.IsZero():
	case !time.Now().Before(t):
		cancel()
	default:
		d.timer = time.AfterFunc(time.Until(t), cancel)
	}
}

// stop stops the timer, if one is set.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

// nativeToWeb rewrites the call layer's native content-type
// ("application/grpc+msgpack") to the web one it stands for.
func nativeToWeb(h http.Header, text bool) {
	if sub, ok := wire.ParseContentType(h.Get("Content-Type")); ok {
		h.Set("Content-Type", wire.WebContentType(sub, text))
	}
}

// grpcWebStream is a Stream for one gRPC-Web call (PROTOCOL-WEB.md): the
// request body is the call's messages (base64 text for "-text"); the
// response is the headers, the messages and then the trailers as a frame
// flagged FlagTrailers, all in the body, or a trailers-only response as
// plain headers.
//
// Ownership: the response fields are used by the goroutine calling the
// response methods and, once the StreamHandler has returned, by finish on
// the request's goroutine; mu makes a late write from a handler goroutine
// that outlived its call fail instead of racing finish. body is read by
// the call layer's request reader.
type grpcWebStream struct {
	w       http.ResponseWriter
	r       *http.Request
	rc      *http.ResponseController
	ctx     context.Context
	cancel  context.CancelFunc
	reqHdr  http.Header
	body    io.Reader
	subtype string
	text    bool // the response is base64 text: the request was, or its Accept asks for it

	mu        sync.Mutex
	resp      response
	committed bool   // the HTTP headers have been written
	done      bool   // finish has run: writes fail
	raw       bool   // a non-200 answer: the body goes out as written
	pending   []byte // text mode: body bytes not yet base64-encoded

	deadline deadline // its own lock
}

func (h *Handler) serveGRPCWeb(w http.ResponseWriter, r *http.Request, subtype string, text bool) {
	s := &grpcWebStream{
		w: w, r: r, rc: http.NewResponseController(w), subtype: subtype, text: text || acceptsText(r.Header),
		resp: response{hdr: http.Header{}},
	}
	s.ctx, s.cancel = context.WithCancel(r.Context())
	defer func() { s.cancel() }() // readBody may replace it
	s.reqHdr = r.Header.Clone()
	s.reqHdr.Set("Content-Type", wire.ContentType(subtype))
	s.body = s.readBody(text, h.cfg.maxMessageSize)
	h.serve(s)
	s.finish()
}

// acceptsText reports whether a gRPC-Web request asks for a base64 text
// response with its Accept header, whatever its own encoding
// (PROTOCOL-WEB.md, "Text-encoded (response) streams": "The client
// library should indicate to the server via the Accept header that the
// response stream needs to be text encoded").
func acceptsText(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for _, media := range strings.Split(v, ",") {
			if _, text, ok := wire.ParseWebContentType(media); ok && text {
				return true
			}
		}
	}
	return false
}

// readBody reads the whole request body (readRequest) within the call's
// deadline, from grpc-timeout: a client that stalls mid-body gets
// DEADLINE_EXCEEDED at its deadline, as a native call would, and does not
// hold the server's goroutine for longer. The time the body took is taken
// off the grpc-timeout the call layer sees.
func (s *grpcWebStream) readBody(text bool, max int) io.Reader {
	timeout, err := wire.DecodeTimeout(s.reqHdr.Get("Grpc-Timeout"))
	if err != nil { // no grpc-timeout, or one the call layer refuses
		return readRequest(s.r.Body, text, max)
	}
	dl := time.Now().Add(timeout)
	var body io.Reader
	if timeout > 0 {
		_ = s.rc.SetReadDeadline(dl)
		body = readRequest(s.r.Body, text, max)
		_ = s.rc.SetReadDeadline(time.Time{})
	}
	left := time.Until(dl)
	s.reqHdr.Set("Grpc-Timeout", wire.EncodeTimeout(left)) // "0n" once passed
	if left <= 0 {
		// Over HTTP/1.1 the read deadline ended the connection's
		// context, but the answer can still be written: the call ends
		// at once (its grpc-timeout is now zero), so it needs none.
		s.cancel()
		s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(s.r.Context()))
		return errReader{wire.NewError(wire.DeadlineExceeded, "deadline exceeded while reading the request")}
	}
	return body
}

func (s *grpcWebStream) Context() context.Context    { return s.ctx }
func (s *grpcWebStream) Method() string              { return s.r.Method }
func (s *grpcWebStream) Path() string                { return s.r.URL.RequestURI() }
func (s *grpcWebStream) Authority() string           { return s.r.Host }
func (s *grpcWebStream) RequestHeader() http.Header  { return s.reqHdr }
func (s *grpcWebStream) RemoteAddr() string          { return s.r.RemoteAddr }
func (s *grpcWebStream) TLS() *tls.ConnectionState   { return s.r.TLS }
func (s *grpcWebStream) Body() io.Reader             { return s.body }
func (s *grpcWebStream) CloseBody()                  { _ = s.r.Body.Close() }
func (s *grpcWebStream) ResponseHeader() http.Header { return s.resp.hdr }

func (s *grpcWebStream) WriteHeader(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resp.status == 0 {
		s.resp.status = status
	}
}

// commit writes the HTTP response headers: the header fields set so far
// but the trailers, with the gRPC-Web content-type. Called with mu held.
func (s *grpcWebStream) commit() {
	if s.committed {
		return
	}
	s.committed = true
	status := s.resp.status
	if status == 0 {
		status = http.StatusOK
	}
	h := s.w.Header()
	for k, v := range s.resp.hdr {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			h[k] = v
		}
	}
	if status != http.StatusOK {
		s.raw = true
	} else {
		nativeToWeb(h, s.text)
	}
	s.w.WriteHeader(status)
}

func (s *grpcWebStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeErr(s.ctx, s.done); err != nil {
		return 0, err
	}
	s.commit()
	if s.text && !s.raw {
		s.pending = append(s.pending, p...)
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *grpcWebStream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return errFinished
	}
	s.commit()
	return s.flushLocked()
}

// flushLocked sends the body written so far; in text mode as one padded
// base64 chunk. Called with mu held.
func (s *grpcWebStream) flushLocked() error {
	if len(s.pending) > 0 {
		enc := base64.StdEncoding.AppendEncode(nil, s.pending)
		s.pending = s.pending[:0]
		if _, err := s.w.Write(enc); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

// SetDeadline makes writes fail from t on and cancels the stream's
// context then. Any goroutine may call it, also during a write.
func (s *grpcWebStream) SetDeadline(t time.Time) {
	_ = s.rc.SetWriteDeadline(t)
	s.deadline.reset(t, s.cancel)
}

// finish completes the response once the StreamHandler has returned:
// a trailers-only response as plain headers, else the trailers frame.
func (s *grpcWebStream) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline.stop()
	if s.done {
		return
	}
	trailers := s.resp.splitTrailers()
	if !s.committed && len(trailers) == 0 {
		// Trailers-only ("Trailers may be sent together with response
		// headers, with no message in the body", PROTOCOL-WEB.md).
		s.commit()
		s.done = true
		return
	}
	s.commit()
	if !s.raw {
		lower := make(map[string][]string, len(trailers))
		for k, v := range trailers {
			lower[strings.ToLower(k)] = v
		}
		block, err := wire.AppendHeaderBlock(nil, lower)
		if err != nil {
			// The call layer encodes trailers itself; an invalid one
			// is a bug there. Say so rather than send a block the
			// client would misread.
			block = []byte("grpc-status: 13\r\ngrpc-message: " + wire.EncodeMessage("parley: invalid trailers: "+err.Error()) + "\r\n")
		}
		frame := wire.AppendWebFrame(nil, wire.FlagTrailers, block)
		if s.text {
			s.pending = append(s.pending, frame...)
		} else {
			_, _ = s.w.Write(frame)
		}
	}
	_ = s.flushLocked()
	s.done = true
}

// readRequest reads a gRPC-Web request body before the call starts: a
// browser sends it whole (unary and server-streaming calls have one
// request message), and a body read to its end lets net/http see the
// client go away (over HTTP/1.1 it watches the connection only then) and
// never has a read outlive the handler. It reads at most one frame of
// max bytes and the next byte: a longer body reaches the call layer cut
// there, which refuses it as more than one request. A frame whose prefix
// announces more than max is refused here, RESOURCE_EXHAUSTED, before
// any of its payload is read: max is the Handler's limit, which may be
// below the call layer's, so a body cut at max would reach the call layer
// as a message cut short. A failed read is returned by the reader after
// the bytes that came.
func readRequest(body io.Reader, text bool, max int) io.Reader {
	if text {
		body = &base64Reader{r: body}
	}
	b := make([]byte, wire.PrefixLen)
	n, err := io.ReadFull(body, b)
	b = b[:n]
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return bytes.NewReader(b) // shorter than a prefix: the call layer says so
	case err == nil:
		if size := binary.BigEndian.Uint32(b[1:]); uint64(size) > uint64(max) {
			return errReader{wire.Errorf(wire.ResourceExhausted, "received message larger than max (%d vs. %d)", size, max)}
		}
		var rest []byte
		rest, err = io.ReadAll(io.LimitReader(body, int64(max)+1))
		b = append(b, rest...)
	}
	if err != nil {
		return io.MultiReader(bytes.NewReader(b), errReader{err})
	}
	return bytes.NewReader(b)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// base64Reader decodes a "-text" request body: padded base64 chunks, split
// anywhere (wire.DecodeBase64Chunks).
type base64Reader struct {
	r    io.Reader
	text []byte // undecoded characters, fewer than 4 between reads
	out  []byte // decoded bytes not yet returned
	err  error
	buf  [4096]byte
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			if b.err == io.EOF && len(b.text) > 0 {
				b.err = wire.Errorf(wire.Internal, "gRPC-Web text body ends inside a base64 quantum")
			}
			return 0, b.err
		}
		n, err := b.r.Read(b.buf[:])
		b.text = append(b.text, b.buf[:n]...)
		out, used, derr := wire.DecodeBase64Chunks(b.out[:0], b.text)
		b.out = out
		b.text = b.text[:copy(b.text, b.text[used:])]
		if derr != nil {
			b.err = wire.Errorf(wire.Internal, "gRPC-Web text body: %v", derr)
		} else if err != nil {
			b.err = err
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

var _ Stream = (*grpcWebStream)(nil)
