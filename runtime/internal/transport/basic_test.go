package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countingReader is a blocking source that counts the bytes taken from it.
type countingReader struct {
	r     *io.PipeReader
	taken chan int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.taken <- n
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.CloseWithError(errors.New("closed")) }

// TestPushBodyReadsAheadOneChunk: the body's goroutine reads one chunk and
// then waits until TryRead has taken all of it, so that a reader that
// stops reading stops taking from the source (and so the peer).
func TestPushBodyReadsAheadOneChunk(t *testing.T) {
	pr, pw := io.Pipe()
	src := &countingReader{r: pr, taken: make(chan int, 16)}
	b := PushBody(src)
	notified := make(chan struct{}, 16)
	b.SetNotify(func() { notified <- struct{}{} })

	go func() { _, _ = pw.Write(bytes.Repeat([]byte("a"), 3*pushChunk)) }()
	<-notified
	if n := <-src.taken; n != pushChunk {
		t.Fatalf("first read took %d bytes, want %d", n, pushChunk)
	}
	select {
	case n := <-src.taken:
		t.Fatalf("read %d more bytes before the first chunk was taken", n)
	case <-time.After(50 * time.Millisecond):
	}
	buf := make([]byte, pushChunk/2)
	if n, err := b.TryRead(buf); n != len(buf) || err != nil {
		t.Fatalf("TryRead = %d, %v", n, err)
	}
	select {
	case n := <-src.taken:
		t.Fatalf("read %d more bytes with half the chunk still unread", n)
	case <-time.After(50 * time.Millisecond):
	}
	if n, err := b.TryRead(buf); n != len(buf) || err != nil {
		t.Fatalf("TryRead = %d, %v", n, err)
	}
	<-src.taken // the next chunk, now that the first was taken
	<-notified
	if n, err := b.TryRead(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("TryRead after the next chunk = %d, %v", n, err)
	}
	// Closing stops the goroutine, even while it waits for the reader.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryRead(buf); !errors.Is(err, ErrFinished) {
		t.Fatalf("TryRead after Close: %v, want ErrFinished", err)
	}
	pw.Close()
}

// TestPushBodyEnd: the end of the source is delivered after its data.
func TestPushBodyEnd(t *testing.T) {
	b := PushBody(io.NopCloser(bytes.NewReader([]byte("hello"))))
	// Before SetNotify, Read passes through.
	p := make([]byte, 2)
	if n, err := b.Read(p); n != 2 || err != nil || string(p) != "he" {
		t.Fatalf("Read = %d, %v, %q", n, err, p)
	}
	notified := make(chan struct{}, 4)
	b.SetNotify(func() { notified <- struct{}{} })
	var got []byte
	for {
		<-notified
		n, err := b.TryRead(p)
		got = append(got, p[:n]...)
		for err == nil && n > 0 {
			n, err = b.TryRead(p)
			got = append(got, p[:n]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != "llo" {
		t.Fatalf("got %q, want %q", got, "llo")
	}
}

// TestAttachBody: the application is attached on the transport's first
// read, its writes are what the reads return, and CloseSend ends the body.
func TestAttachBody(t *testing.T) {
	attached := make(chan BodyWriter, 1)
	b := AttachBody(func(w BodyWriter) { attached <- w })
	if b.Attached() {
		t.Fatal("attached before the first read")
	}
	b = AttachBody(func(w BodyWriter) { attached <- w })
	done := make(chan []byte)
	go func() {
		data, _ := io.ReadAll(b)
		done <- data
	}()
	w := <-attached
	if ok, err := w.TryWrite([]byte("x")); ok || err != nil {
		t.Fatalf("TryWrite = %v, %v; want a refusal", ok, err)
	}
	if err := w.Write([]byte("one ")); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := w.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if got := string(<-done); got != "one two" {
		t.Fatalf("read %q", got)
	}
	if !b.Attached() {
		t.Fatal("not attached after reading")
	}
	// A closed body fails the application's writes.
	b = AttachBody(func(w BodyWriter) { attached <- w })
	go func() { _, _ = b.Read(make([]byte, 1)) }()
	w = <-attached
	b.Close()
	if err := w.Write([]byte("late")); err == nil {
		t.Fatal("Write to a closed body succeeded")
	}
}
