package wire

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
)

func TestAppendMessage(t *testing.T) {
	tests := []struct {
		compressed bool
		payload    []byte
		want       []byte
	}{
		{false, nil, []byte{0, 0, 0, 0, 0}},
		{false, []byte("hi"), []byte{0, 0, 0, 0, 2, 'h', 'i'}},
		{true, []byte{0xff}, []byte{1, 0, 0, 0, 1, 0xff}},
		{false, make([]byte, 0x010203), append([]byte{0, 0, 1, 2, 3}, make([]byte, 0x010203)...)},
	}
	for _, tt := range tests {
		got := AppendMessage([]byte("x"), tt.compressed, tt.payload)
		if !bytes.Equal(got, append([]byte("x"), tt.want...)) {
			t.Errorf("AppendMessage(%v, %d bytes) = % x, want x + % x", tt.compressed, len(tt.payload), got[:min(len(got), 16)], tt.want[:min(len(tt.want), 16)])
		}
		if p := AppendPrefix(nil, tt.compressed, len(tt.payload)); !bytes.Equal(p, tt.want[:PrefixLen]) {
			t.Errorf("AppendPrefix = % x, want % x", p, tt.want[:PrefixLen])
		}
	}
}

func TestAppendPrefixPanics(t *testing.T) {
	for _, n := range []int{-1, MaxMessageLen + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendPrefix(length %d) did not panic", n)
				}
			}()
			AppendPrefix(nil, false, n)
		}()
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in         []byte
		compressed bool
		length     uint32
		ok         bool
		err        error
	}{
		{nil, false, 0, false, nil},
		{[]byte{0}, false, 0, false, nil},
		{[]byte{1, 0, 0, 0}, false, 0, false, nil},
		{[]byte{2}, false, 0, false, ErrBadFlag},
		{[]byte{0x80, 0, 0, 0, 0}, false, 0, false, ErrBadFlag},
		{[]byte{0, 0, 0, 0, 0}, false, 0, true, nil},
		{[]byte{1, 0, 0, 1, 0}, true, 256, true, nil},
		{[]byte{0, 0xff, 0xff, 0xff, 0xff, 9}, false, 0xffffffff, true, nil},
	}
	for _, tt := range tests {
		c, l, ok, err := ParsePrefix(tt.in)
		if c != tt.compressed || l != tt.length || ok != tt.ok || err != tt.err {
			t.Errorf("ParsePrefix(% x) = %v, %d, %v, %v; want %v, %d, %v, %v", tt.in, c, l, ok, err, tt.compressed, tt.length, tt.ok, tt.err)
		}
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name       string
		in         []byte
		max        int
		rest       []byte
		compressed bool
		payload    []byte
		ok         bool
		err        error
	}{
		{"empty", nil, -1, nil, false, nil, false, nil},
		{"partial prefix", []byte{0, 0, 0}, -1, []byte{0, 0, 0}, false, nil, false, nil},
		{"partial payload", []byte{0, 0, 0, 0, 3, 'a', 'b'}, -1, []byte{0, 0, 0, 0, 3, 'a', 'b'}, false, nil, false, nil},
		{"whole", []byte{0, 0, 0, 0, 2, 'a', 'b'}, -1, []byte{}, false, []byte("ab"), true, nil},
		{"whole with rest", []byte{1, 0, 0, 0, 1, 'a', 0, 0}, 10, []byte{0, 0}, true, []byte("a"), true, nil},
		{"empty message", []byte{0, 0, 0, 0, 0}, 0, []byte{}, false, []byte{}, true, nil},
		{"at limit", []byte{0, 0, 0, 0, 2, 'a', 'b'}, 2, []byte{}, false, []byte("ab"), true, nil},
		{"over limit", []byte{0, 0, 0, 0, 3}, 2, []byte{0, 0, 0, 0, 3}, false, nil, false, &SizeError{Size: 3, Max: 2}},
		{"huge over limit", []byte{0, 0xff, 0xff, 0xff, 0xff}, 4 << 20, nil, false, nil, false, &SizeError{Size: 0xffffffff, Max: 4 << 20}},
		{"bad flag", []byte{7, 0, 0, 0, 0}, -1, []byte{7, 0, 0, 0, 0}, false, nil, false, ErrBadFlag},
	}
	for _, tt := range tests {
		rest, c, p, ok, err := ParseMessage(tt.in, tt.max)
		var se, wantSE *SizeError
		errMatch := err == tt.err || (errors.As(err, &se) && errors.As(tt.err, &wantSE) && *se == *wantSE)
		if !errMatch || ok != tt.ok || c != tt.compressed || !bytes.Equal(p, tt.payload) || (tt.rest != nil && !bytes.Equal(rest, tt.rest)) {
			t.Errorf("%s: ParseMessage(% x, %d) = % x, %v, % x, %v, %v", tt.name, tt.in, tt.max, rest, c, p, ok, err)
		}
	}
}

func TestSizeErrorMessage(t *testing.T) {
	got := (&SizeError{Size: 10, Max: 4}).Error()
	if want := "parley: received message larger than max (10 vs. 4)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseMessagePayloadCapacity(t *testing.T) {
	buf := AppendMessage(AppendMessage(nil, false, []byte("one")), false, []byte("two"))
	rest, _, p, ok, _ := ParseMessage(buf, -1)
	if !ok {
		t.Fatal("not ok")
	}
	_ = append(p, 'X') // must not clobber the next message
	_, _, p2, ok, _ := ParseMessage(rest, -1)
	if !ok || string(p2) != "two" {
		t.Fatalf("second message = %q, %v", p2, ok)
	}
}

// TestFramingRandomRoundTrip writes random messages into one stream, cuts it
// into random chunks (as DATA frames would), and parses them back.
func TestFramingRandomRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 200; iter++ {
		type msg struct {
			compressed bool
			payload    []byte
		}
		var msgs []msg
		var stream []byte
		for n := rng.Intn(20); n > 0; n-- {
			m := msg{compressed: rng.Intn(2) == 1, payload: make([]byte, rng.Intn(3000))}
			rng.Read(m.payload)
			msgs = append(msgs, m)
			stream = AppendMessage(stream, m.compressed, m.payload)
		}
		var got []msg
		var buf []byte
		for len(stream) > 0 || len(buf) > 0 {
			chunk := min(len(stream), 1+rng.Intn(4000))
			buf = append(buf, stream[:chunk]...)
			stream = stream[chunk:]
			for {
				rest, c, p, ok, err := ParseMessage(buf, 3000)
				if err != nil {
					t.Fatalf("iter %d: %v", iter, err)
				}
				if !ok {
					break
				}
				got = append(got, msg{c, append([]byte(nil), p...)})
				buf = rest
			}
			if len(stream) == 0 && len(buf) > 0 {
				t.Fatalf("iter %d: %d bytes left over", iter, len(buf))
			}
		}
		if len(got) != len(msgs) {
			t.Fatalf("iter %d: got %d messages, want %d", iter, len(got), len(msgs))
		}
		for i := range msgs {
			if got[i].compressed != msgs[i].compressed || !bytes.Equal(got[i].payload, msgs[i].payload) {
				t.Fatalf("iter %d: message %d differs", iter, i)
			}
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte{}, -1)
	f.Add([]byte{0, 0, 0, 0, 0}, 0)
	f.Add([]byte{0, 0, 0, 0, 2, 'h', 'i', 1, 0, 0}, 10)
	f.Add([]byte{1, 0, 0, 0, 1, 'x'}, -1)
	f.Add([]byte{2, 0, 0, 0, 0}, -1)
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff}, 100)
	f.Fuzz(func(t *testing.T, buf []byte, maxSize int) {
		rest, c, p, ok, err := ParseMessage(buf, maxSize)
		if err != nil {
			var se *SizeError
			if err != ErrBadFlag && !errors.As(err, &se) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if ok {
				t.Fatal("ok with error")
			}
			return
		}
		if !ok {
			if !bytes.Equal(rest, buf) {
				t.Fatal("rest != buf when incomplete")
			}
			return
		}
		if maxSize >= 0 && len(p) > maxSize {
			t.Fatalf("payload of %d bytes over max %d", len(p), maxSize)
		}
		// Round trip: re-encoding the message gives back the consumed bytes.
		consumed := buf[:len(buf)-len(rest)]
		if re := AppendMessage(nil, c, p); !bytes.Equal(re, consumed) {
			t.Fatalf("re-encoded % x, consumed % x", re, consumed)
		}
	})
}

type benchSink struct{ n int }

var sink benchSink

func BenchmarkAppendMessage(b *testing.B) {
	payload := make([]byte, 128)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		buf = AppendMessage(buf[:0], false, payload)
	}
	sink.n += len(buf)
}

func BenchmarkParseMessage(b *testing.B) {
	buf := AppendMessage(nil, false, make([]byte, 128))
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_, _, p, ok, err := ParseMessage(buf, 4<<20)
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		sink.n += len(p)
	}
}
