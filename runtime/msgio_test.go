package runtime

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/wire"
)

// trickle is a reader that returns its data one byte at a time, and
// nothing (0, nil) on every other Read, as a push transport's TryRead does
// when no more has arrived; then io.EOF, or nothing for ever if open.
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

// TestMsgReaderByteByByte feeds msgReader.step messages one byte at a time:
// every message comes out whole, compressed ones decompressed, and the
// stream's end is io.EOF. (wire's TestMessageReaderByteByByte checks the
// buffers.)
func TestMsgReaderByteByByte(t *testing.T) {
	gzip := wire.Gzip
	sizes := []int{0, 1, 100, 32<<10 - 1, 32 << 10, 32<<10 + 1, 3*32<<10 + 7}
	var stream []byte
	var want [][]byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		want = append(want, p)
		stream = wire.AppendMessage(stream, false, p)
	}
	zipped, err := gzip.Compress(nil, []byte("compressed"))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, []byte("compressed"))
	stream = wire.AppendMessage(stream, true, zipped)

	mr := msgReader{r: &trickle{data: stream}, maxSize: DefaultMaxRecvMsgSize, comp: gzip}
	var got [][]byte
	for {
		raw, ok, err := mr.step()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		if !ok {
			continue
		}
		payload, err := mr.inflate(raw)
		if err != nil {
			t.Fatalf("message %d: %v", len(got), err)
		}
		got = append(got, payload)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("message %d: got %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

// TestMsgReaderPartial: the stream's end inside a prefix or a message is
// INTERNAL.
func TestMsgReaderPartial(t *testing.T) {
	head := append(wire.AppendPrefix(nil, false, DefaultMaxRecvMsgSize-1), 1, 2, 3)
	for _, tc := range []struct {
		name string
		data []byte
		msg  string
	}{
		{"inside the prefix", []byte{0, 0, 0}, "inside a message prefix"},
		{"inside the message", head, "inside a message"},
	} {
		mr := msgReader{r: &trickle{data: tc.data}, maxSize: DefaultMaxRecvMsgSize}
		_, err := mr.next()
		var we *wire.Error
		if !errors.As(err, &we) || we.Code() != wire.Internal || !strings.Contains(we.Message(), tc.msg) {
			t.Errorf("%s: got %v, want INTERNAL %q", tc.name, err, tc.msg)
		}
	}
}

// TestMsgReaderSingle: a reader of a stream that carries one message
// reports io.EOF at its end, and a cardinality violation (INTERNAL) at the
// first byte after it.
func TestMsgReaderSingle(t *testing.T) {
	one := wire.AppendMessage(nil, false, []byte("one"))
	for _, tc := range []struct {
		name  string
		after []byte
	}{
		{"end", nil},
		{"a second message", wire.AppendMessage(nil, false, []byte("two"))},
		{"an empty second message", wire.AppendMessage(nil, false, nil)},
		{"one byte", []byte{0}},
	} {
		mr := msgReader{r: &trickle{data: append(append([]byte{}, one...), tc.after...)}, maxSize: DefaultMaxRecvMsgSize, single: "request"}
		if p, err := mr.next(); err != nil || string(p) != "one" {
			t.Fatalf("%s: first message %q, %v", tc.name, p, err)
		}
		_, err := mr.next()
		if tc.after == nil {
			if err != io.EOF {
				t.Errorf("%s: got %v, want io.EOF", tc.name, err)
			}
			continue
		}
		var we *wire.Error
		if !errors.As(err, &we) || we.Code() != wire.Internal || !strings.Contains(we.Message(), "cardinality violation") {
			t.Errorf("%s: got %v, want INTERNAL cardinality violation", tc.name, err)
		}
	}
}

// TestMsgReaderAllocs: a small message whose bytes are all there costs one
// allocation, its payload.
func TestMsgReaderAllocs(t *testing.T) {
	data := wire.AppendMessage(nil, false, bytes.Repeat([]byte{7}, 200))
	var rd bytes.Reader
	mr := msgReader{r: &rd, maxSize: DefaultMaxRecvMsgSize}
	allocs := testing.AllocsPerRun(100, func() {
		rd.Reset(data)
		if p, err := mr.next(); err != nil || len(p) != 200 {
			t.Fatalf("got %d bytes, %v", len(p), err)
		}
	})
	if allocs != 1 {
		t.Errorf("%v allocations per message, want 1", allocs)
	}
}
