package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// trickle returns its data one byte at a time, and nothing (0, nil) on
// every other Read, as a push transport's TryRead does when no more has
// arrived; then io.EOF, or nothing for ever if open.
type trickle struct {
	data  []byte
	open  bool
	pause bool
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.pause = !t.pause; t.pause || len(p) == 0 {
		return 0, nil
	}
	if len(t.data) == 0 {
		if t.open {
			return 0, nil
		}
		return 0, io.EOF
	}
	p[0], t.data = t.data[0], t.data[1:]
	return 1, nil
}

// TestMessageReaderByteByByte: every message comes out whole, the stream's
// end is io.EOF, and the buffer of a message being received never holds
// more than msgBufStart or msgBufGrowth times the bytes received.
func TestMessageReaderByteByByte(t *testing.T) {
	sizes := []int{0, 1, 100, msgBufStart - 1, msgBufStart, msgBufStart + 1, 3*msgBufStart + 7}
	var stream []byte
	for i, n := range sizes {
		stream = AppendMessage(stream, i%2 == 1, bytes.Repeat([]byte{byte(i + 1)}, n))
	}
	r := MessageReader{R: &trickle{data: stream}, MaxSize: 4 << 20}
	n := 0
	for {
		compressed, p, ok, err := r.Step()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		if len(r.buf) > max(msgBufStart, msgBufGrowth*r.bn) {
			t.Fatalf("message %d: a %d-byte buffer for %d bytes received", n, len(r.buf), r.bn)
		}
		if !ok {
			continue
		}
		if want := bytes.Repeat([]byte{byte(n + 1)}, sizes[n]); !bytes.Equal(p, want) || compressed != (n%2 == 1) {
			t.Fatalf("message %d: %d bytes, compressed %v", n, len(p), compressed)
		}
		n++
	}
	if n != len(sizes) {
		t.Fatalf("got %d messages, want %d", n, len(sizes))
	}
}

// TestMessageReaderPartial: a prefix announcing a large message, and a few
// of its bytes, cost msgBufStart at most.
func TestMessageReaderPartial(t *testing.T) {
	announced := 4<<20 - 1
	head := append(AppendPrefix(nil, false, announced), 1, 2, 3)
	r := MessageReader{R: &trickle{data: head, open: true}, MaxSize: 4 << 20}
	for i := 0; i < 4*len(head); i++ {
		if _, _, ok, err := r.Step(); ok || err != nil {
			t.Fatalf("Step: ok %v, err %v", ok, err)
		}
	}
	if r.bn != 3 || len(r.buf) > msgBufStart || !r.Started() {
		t.Fatalf("%d bytes received of %d announced: a %d-byte buffer", r.bn, announced, len(r.buf))
	}
}

// chunked reads its data in the chunk sizes given (cycling; 0 reads
// nothing for now, but never twice in a row).
type chunked struct {
	data   []byte
	chunks []byte
	i      int
	idle   bool // the last Read returned nothing
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(c.chunks) > 0 {
		n = min(n, int(c.chunks[c.i%len(c.chunks)]))
		c.i++
	}
	if n == 0 && c.idle {
		n = 1
	}
	c.idle = n == 0
	n = copy(p[:n], c.data)
	c.data = c.data[n:]
	return n, nil
}

// FuzzMessageReader checks MessageReader against ParseMessage: read in any
// chunking, a stream yields the same messages, and fails (or ends
// incomplete) where ParseMessage says it does.
func FuzzMessageReader(f *testing.F) {
	f.Add(AppendMessage(AppendMessage(nil, false, []byte("hi")), true, []byte("there")), []byte{1, 0, 3}, 100)
	f.Add(AppendMessage(nil, false, bytes.Repeat([]byte("x"), 70000)), []byte{200}, 1<<20)
	f.Add(AppendPrefix(nil, false, 1000), []byte{2}, 10)
	f.Add([]byte{2, 0, 0, 0, 1, 0}, []byte{}, -1)
	f.Add([]byte{0, 0, 0}, []byte{1}, 5)
	f.Fuzz(func(t *testing.T, data, chunks []byte, maxSize int) {
		if maxSize > 1<<20 {
			maxSize = 1 << 20 // bound what a seed may make the reader allocate
		}
		type msg struct {
			compressed bool
			payload    string
		}
		var want []msg
		rest := data
		var wantErr error
		for {
			r, compressed, payload, ok, err := ParseMessage(rest, maxSize)
			if err != nil {
				wantErr = err
				break
			}
			if !ok {
				break
			}
			want = append(want, msg{compressed, string(payload)})
			rest = r
		}
		r := MessageReader{R: &chunked{data: data, chunks: chunks}, MaxSize: maxSize}
		var got []msg
		var err error
		for steps := 0; steps < 2*len(data)+16; steps++ {
			compressed, p, ok, e := r.Step()
			if e != nil {
				err = e
				break
			}
			if ok {
				got = append(got, msg{compressed, string(p)})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("MessageReader read %d messages, ParseMessage %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("message %d differs", i)
			}
		}
		var we *Error
		switch {
		case wantErr == nil && len(rest) == 0:
			if err != io.EOF {
				t.Fatalf("clean end: got %v, want io.EOF", err)
			}
		case wantErr == nil:
			if !errors.As(err, &we) || we.Code() != Internal {
				t.Fatalf("stream ends inside a message: got %v, want INTERNAL", err)
			}
		case errors.Is(wantErr, ErrBadFlag):
			if !errors.As(err, &we) || we.Code() != Internal {
				t.Fatalf("bad flag: got %v, want INTERNAL", err)
			}
		default:
			if !errors.As(err, &we) || we.Code() != ResourceExhausted {
				t.Fatalf("oversized (%v): got %v, want RESOURCE_EXHAUSTED", wantErr, err)
			}
		}
	})
}
