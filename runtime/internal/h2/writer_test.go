package h2

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"golang.org/x/net/http2"
)

// TestWriterMergesData: DATA items of one stream that are queued together
// leave as one frame, up to the peer's frame size, in queue order; another
// stream's frame, a control frame, END_STREAM or a reset stream ends the
// run.
func TestWriterMergesData(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := newConn(a, 65535)
	c.w.maxFrame = 100
	var s1, s3, s5 sendState
	s1.init(c, 1)
	s3.init(c, 3)
	s5.init(c, 5)
	s5.reset.Store(true)
	data := func(s *sendState, p string, end bool) item {
		buf := getBuf(len(p))
		*buf = append((*buf)[:0], p...)
		return item{kind: itemData, sid: s.id, data: *buf, buf: buf, end: end, s: s}
	}
	x60, x50 := string(bytes.Repeat([]byte("x"), 60)), string(bytes.Repeat([]byte("y"), 50))
	c.w.push(
		data(&s1, "aa", false), data(&s1, "bbb", false), // merged
		data(&s3, "cc", false),
		data(&s1, "dd", false), data(&s1, "ee", true), // merged, END_STREAM
		data(&s3, x60, false), data(&s3, x50, false), // over the frame size: two frames
		data(&s5, "zz", false), // reset: dropped
		data(&s3, "q", false),
		item{kind: itemWindowUpdate, n: 7},
		data(&s3, "r", false), data(&s3, "", true), // merged, the empty END_STREAM too
	)
	go c.w.run()
	defer c.close(nil)

	want := []string{
		"1:aabbb", "3:cc", "1:ddee END", "3:" + x60, "3:" + x50, "3:q", "WINDOW_UPDATE 7", "3:r END",
	}
	fr := http2.NewFramer(nil, b)
	for i, w := range want {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		var got string
		switch f := f.(type) {
		case *http2.DataFrame:
			got = fmt.Sprintf("%d:%s", f.StreamID, f.Data())
			if f.StreamEnded() {
				got += " END"
			}
		case *http2.WindowUpdateFrame:
			got = fmt.Sprintf("WINDOW_UPDATE %d", f.Increment)
		default:
			got = fmt.Sprint(f)
		}
		if got != w {
			t.Fatalf("frame %d: got %q, want %q", i, got, w)
		}
	}
}
