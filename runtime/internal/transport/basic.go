package transport

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// BasicStream is what a request-response API such as net/http's offers
// for one stream: the request, a blocking body, and a response that is
// complete when its handler returns. ServeBasic turns one into a
// Stream.
type BasicStream interface {
	StreamRequest
	// Body is the request body; Close unblocks a Read in progress.
	Body() io.ReadCloser
	ResponseHeader() Header
	WriteHeader(status int)
	Write(p []byte) (int, error)
	Flush() error
	SetDeadline(t time.Time)
}

// ErrFinished is returned by writes to a stream after Finish.
var ErrFinished = errors.New("transport: stream finished")

// ServeBasic serves b with h, supplying what b lacks with goroutines of
// its own: h runs on a new goroutine, so that Finish can complete the
// response while h still runs (ServeBasic returns then, which completes
// b's response); the body is read ahead by a goroutine once the call layer
// asks to be notified (PushBody); TryWrite always declines, so the call
// layer writes with Write, from a goroutine of its own. ServeBasic returns
// once the response is complete: h returned or called Finish.
func ServeBasic(b BasicStream, h StreamHandler) {
	s := &basicStream{BasicStream: b, body: newPushBody(b.Body()), done: make(chan struct{})}
	go func() {
		h(s)
		if !s.detached.Load() {
			s.Finish()
		}
	}()
	<-s.done
	// A handler still running after Finish reads no more: the request
	// body closes with the response.
	_ = s.body.Close()
}

// basicStream is a Stream over a BasicStream. Its response methods
// are serialised by the caller, as the seam requires, and also take mu, so
// that they fail once Finish has let the BasicStream's own handler return.
type basicStream struct {
	BasicStream
	body     *pushBody
	done     chan struct{} // closed by Finish
	detached atomic.Bool   // Detach was called: h's return does not finish

	cancelMu   sync.Mutex
	stopCancel func() bool // OnCancel's watch

	mu       sync.Mutex
	finished bool
}

func (s *basicStream) Body() Body { return s.body }

func (s *basicStream) ResponseHeader() Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return Header{} // the response is gone; nothing set here is sent
	}
	return s.BasicStream.ResponseHeader()
}

func (s *basicStream) WriteHeader(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		s.BasicStream.WriteHeader(status)
	}
}

func (s *basicStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return 0, ErrFinished
	}
	return s.BasicStream.Write(p)
}

// TryWrite declines: a BasicStream cannot tell whether a write would wait.
func (s *basicStream) TryWrite([]byte) (bool, error) { return false, nil }

func (s *basicStream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return ErrFinished
	}
	return s.BasicStream.Flush()
}

// OnCancel watches the BasicStream's context.
func (s *basicStream) OnCancel(f func()) {
	s.cancelMu.Lock()
	defer s.cancelMu.Unlock()
	if s.stopCancel != nil {
		s.stopCancel()
		s.stopCancel = nil
	}
	if f != nil {
		s.stopCancel = context.AfterFunc(s.Context(), f)
	}
}

// Detach keeps the stream open after h returns: the BasicStream's own
// handler (net/http's goroutine) waits until Finish.
func (s *basicStream) Detach() { s.detached.Store(true) }

func (s *basicStream) Finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.finished {
		s.finished = true
		close(s.done)
	}
}

// pushBody is a Body over a blocking reader: until SetNotify, Read passes
// through; after it, a goroutine reads ahead one chunk at a time, calls the
// notify func when a chunk (or the end) has arrived, and reads the next
// only once TryRead has taken all of it, so that not reading still stops
// the peer.
type pushBody struct {
	r io.ReadCloser

	mu      sync.Mutex
	started bool
	chunk   []byte        // read ahead, not yet taken; a slice of buf
	err     error         // the reader's error, after chunk
	drained chan struct{} // 1-buffered: chunk was taken, read the next
	closed  bool
}

// PushBody returns a Body that reads r. It starts a goroutine on SetNotify,
// which exits at r's end or when the Body is closed.
func PushBody(r io.ReadCloser) Body { return newPushBody(r) }

func newPushBody(r io.ReadCloser) *pushBody {
	return &pushBody{r: r, drained: make(chan struct{}, 1)}
}

// pushChunk is the read-ahead size: a DATA frame's default maximum.
const pushChunk = 16 << 10

func (b *pushBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	started := b.started
	b.mu.Unlock()
	if !started {
		return b.r.Read(p)
	}
	return 0, errors.New("transport: Read on a body being pushed")
}

func (b *pushBody) SetNotify(fn func()) {
	b.mu.Lock()
	if b.started || b.closed {
		b.mu.Unlock()
		return
	}
	b.started = true
	b.mu.Unlock()
	go b.readAhead(fn)
}

// readAhead is the body's reading goroutine.
func (b *pushBody) readAhead(notify func()) {
	buf := make([]byte, pushChunk)
	for {
		n, err := b.r.Read(buf)
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return
		}
		b.chunk, b.err = buf[:n], err
		b.mu.Unlock()
		if n > 0 || err != nil {
			notify()
		}
		if err != nil {
			return
		}
		if n == 0 {
			continue
		}
		<-b.drained
		b.mu.Lock()
		closed := b.closed
		b.mu.Unlock()
		if closed {
			return
		}
	}
}

func (b *pushBody) TryRead(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		return 0, errors.New("transport: TryRead before SetNotify")
	}
	if len(b.chunk) > 0 {
		n := copy(p, b.chunk)
		b.chunk = b.chunk[n:]
		if len(b.chunk) == 0 && b.err == nil {
			b.drained <- struct{}{}
		}
		return n, nil
	}
	if b.closed {
		return 0, ErrFinished
	}
	return 0, b.err
}

func (b *pushBody) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.chunk = nil
	select {
	case b.drained <- struct{}{}:
	default:
	}
	b.mu.Unlock()
	return b.r.Close()
}

// AttachBody returns a request body for a client API that reads the body
// itself (net/http's): on its first Read, that is once the stream is open,
// it calls attach with a BodyWriter whose writes the Read calls return.
// BodyWriter.TryWrite always declines; Write waits until the transport has
// read all of p. Closing the body makes later writes fail.
func AttachBody(attach func(BodyWriter)) *AttachedBody {
	pr, pw := io.Pipe()
	return &AttachedBody{attach: attach, pr: pr, pw: pw}
}

// AttachedBody is the request body AttachBody returns.
type AttachedBody struct {
	once   sync.Once
	attach func(BodyWriter)
	pr     *io.PipeReader
	pw     *io.PipeWriter
}

// errBodyClosed fails writes to a request body its transport closed.
var errBodyClosed = errors.New("transport: request body closed")

// Read implements io.Reader.
func (b *AttachedBody) Read(p []byte) (int, error) {
	b.once.Do(func() { b.attach(pipeWriter{b.pw}) })
	return b.pr.Read(p)
}

// Close implements io.Closer.
func (b *AttachedBody) Close() error {
	b.once.Do(func() {}) // never attached now: nothing will write
	return b.pr.CloseWithError(errBodyClosed)
}

// Attached reports whether the body was attached, that is whether the
// application may have written to it; if not, it never will be, and the
// request may be sent again with a new body.
func (b *AttachedBody) Attached() bool {
	attached := true
	b.once.Do(func() { attached = false })
	return attached
}

type pipeWriter struct{ w *io.PipeWriter }

func (w pipeWriter) TryWrite([]byte) (bool, error) { return false, nil }

func (w pipeWriter) Write(p []byte) error {
	_, err := w.w.Write(p)
	return err
}

func (w pipeWriter) CloseSend() error { return w.w.Close() }
