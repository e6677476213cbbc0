package wire

import (
	"bytes"
	"errors"
	"math/rand"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdStream compresses b with a streaming encoder, whose frames declare
// no content size when written in several pieces.
func zstdStream(t testing.TB, b []byte, opts ...zstd.EOption) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, append(opts, zstd.WithEncoderConcurrency(1))...)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 {
		n := min(len(b), 100<<10)
		w.Write(b[:n])
		b = b[n:]
	}
	w.Close()
	return buf.Bytes()
}

// allocs returns the bytes f allocates.
func allocs(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestZstdRoundTrip(t *testing.T) {
	if Zstd.Name() != "zstd" {
		t.Fatal(Zstd.Name())
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	rng := rand.New(rand.NewSource(3))
	for _, n := range []int{0, 1, 100, 4096, 100000, 1 << 20} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte('a' + rng.Intn(4))
		}
		c, err := Zstd.Compress([]byte("pre"), src)
		if err != nil || !bytes.HasPrefix(c, []byte("pre")) {
			t.Fatalf("Compress: %v", err)
		}
		// The output is a standard zstd frame.
		if std, err := dec.DecodeAll(c[3:], nil); err != nil || !bytes.Equal(std, src) {
			t.Fatalf("%d bytes: standard decoder: %v", n, err)
		}
		for _, max := range []int{-1, n} {
			d, err := Zstd.Decompress([]byte("x"), c[3:], max)
			if err != nil || !bytes.Equal(d[1:], src) || d[0] != 'x' {
				t.Fatalf("%d bytes, max %d: %v", n, max, err)
			}
		}
		if n > 0 {
			_, err := Zstd.Decompress(nil, c[3:], n-1)
			var se *SizeError
			if !errors.As(err, &se) || se.Max != n-1 || se.Size <= n-1 {
				t.Fatalf("%d bytes, max %d: %v", n, n-1, err)
			}
		}
		// A frame without a declared size decodes the same.
		s := zstdStream(t, src)
		if d, err := Zstd.Decompress(nil, s, n); err != nil || !bytes.Equal(d, src) {
			t.Fatalf("%d bytes streamed: %v", n, err)
		}
	}
}

func TestZstdBomb(t *testing.T) {
	const max = 64 << 10
	// A frame declaring 8 MiB, and one declaring nothing, each a few
	// hundred bytes on the wire.
	declared, _ := Zstd.Compress(nil, make([]byte, 8<<20))
	undeclared := zstdStream(t, make([]byte, 8<<20), zstd.WithWindowSize(max))
	// The default window of a streaming encoder, 8 MiB, over max.
	wide := zstdStream(t, make([]byte, 8<<20))
	// A 20-byte frame header declaring 4 GiB, followed by nothing.
	forged := []byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 1, 0, 0, 0, 0x01, 0, 0}
	for name, bomb := range map[string][]byte{"declared": declared, "undeclared": undeclared, "forged": forged, "wide": wide} {
		t.Run(name, func(t *testing.T) {
			if len(bomb) > 4<<10 {
				t.Fatalf("bomb of %d bytes", len(bomb))
			}
			d, err := Zstd.Decompress([]byte("keep"), bomb, max)
			var se *SizeError
			if !errors.As(err, &se) || se.Max != max || se.Size <= max || string(d) != "keep" {
				t.Fatalf("bomb: %q, %v", d, err)
			}
			if CodeOf(err) != ResourceExhausted {
				t.Errorf("CodeOf = %v", CodeOf(err))
			}
			// Bounded by max plus one zstd block (128 KiB) and the
			// output slice's growth.
			limit := uint64(1 << 20)
			if name == "wide" {
				// Decoded up to the window's bound, 8 MiB, in a
				// growing slice.
				limit = 64 << 20
			}
			if n := allocs(func() { Zstd.Decompress(nil, bomb, max) }); n > limit {
				t.Errorf("decompressing %d bytes with max 64 KiB allocated %d bytes", len(bomb), n)
			}
		})
	}
	// With the default 4 MiB limit, the 8 MiB bombs cost about the limit.
	for name, bomb := range map[string][]byte{"declared": declared, "wide": wide} {
		n := allocs(func() { Zstd.Decompress(nil, bomb, 4<<20) })
		t.Logf("%s bomb, %d bytes, max 4 MiB: %d bytes allocated", name, len(bomb), n)
		if n > 64<<20 {
			t.Errorf("%s bomb with max 4 MiB allocated %d bytes", name, n)
		}
	}
}

func TestZstdWindow(t *testing.T) {
	// Frames declaring a window of 2^(10+exp) bytes and no content size,
	// each holding one raw block "hi".
	frame := func(exp byte) []byte {
		return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, exp << 3, 0x11, 0, 0, 'h', 'i'}
	}
	for _, tc := range []struct {
		exp byte
		max int
		ok  bool
	}{
		{0, 5, true},   // 1 KiB window, over a max of 5
		{13, 5, true},  // 8 MiB
		{13, -1, true}, // 8 MiB, no max
		{14, 1 << 20, false},
		{14, -1, false},
		{31, 4 << 20, false}, // 2 TiB
	} {
		var d []byte
		var err error
		n := allocs(func() { d, err = Zstd.Decompress(nil, frame(tc.exp), tc.max) })
		if tc.ok && (err != nil || string(d) != "hi") {
			t.Errorf("window 2^%d, max %d: %q, %v", 10+tc.exp, tc.max, d, err)
		}
		if !tc.ok && (!errors.As(err, new(*SizeError)) || CodeOf(err) != ResourceExhausted) {
			t.Errorf("window 2^%d, max %d: %v", 10+tc.exp, tc.max, err)
		}
		if n > 64<<10 {
			t.Errorf("window 2^%d allocated %d bytes", 10+tc.exp, n)
		}
	}
}

func TestZstdCorrupt(t *testing.T) {
	good, _ := Zstd.Compress(nil, []byte("hello, hello, hello"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0xff // checksum
	tests := map[string][]byte{
		"not zstd":  []byte("hello"),
		"truncated": good[:len(good)-3],
		"bad crc":   flipped,
		"trailing":  append(bytes.Clone(good), 0x00),
	}
	for name, src := range tests {
		d, err := Zstd.Decompress([]byte("keep"), src, -1)
		if !errors.Is(err, ErrCorruptCompression) || string(d) != "keep" {
			t.Errorf("%s: %q, %v", name, d, err)
		}
	}
	// Concatenated frames are one message, as with gzip members.
	a, _ := Zstd.Compress(nil, []byte("ab"))
	two, _ := Zstd.Compress(a, []byte("cd"))
	if d, err := Zstd.Decompress(nil, two, -1); err != nil || string(d) != "abcd" {
		t.Errorf("two frames: %q, %v", d, err)
	}
	if _, err := Zstd.Decompress(nil, two, 3); !errors.As(err, new(*SizeError)) {
		t.Errorf("two frames over max: %v", err)
	}
	// The pooled decoder recovers after errors.
	if d, err := Zstd.Decompress(nil, good, -1); err != nil || string(d) != "hello, hello, hello" {
		t.Errorf("after errors: %q, %v", d, err)
	}
}

func TestZstdZeroMax(t *testing.T) {
	empty, _ := Zstd.Compress(nil, nil)
	if d, err := Zstd.Decompress(nil, empty, 0); err != nil || len(d) != 0 {
		t.Errorf("empty with max 0: %v", err)
	}
	one, _ := Zstd.Compress(nil, []byte("a"))
	if _, err := Zstd.Decompress(nil, one, 0); !errors.As(err, new(*SizeError)) {
		t.Errorf("1 byte with max 0: %v", err)
	}
}

// TestZstdConcurrent runs compressions and decompressions with different
// limits at once; run it with -race.
func TestZstdConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			src := bytes.Repeat([]byte{byte(g)}, 1000*(g+1))
			for range 50 {
				c, err := Zstd.Compress(nil, src)
				if err != nil {
					t.Error(err)
					return
				}
				if d, err := Zstd.Decompress(nil, c, len(src)); err != nil || !bytes.Equal(d, src) {
					t.Errorf("round trip: %v", err)
					return
				}
				if _, err := Zstd.Decompress(nil, c, len(src)/2); !errors.As(err, new(*SizeError)) {
					t.Errorf("over max: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzZstdDecompress(f *testing.F) {
	hello, _ := Zstd.Compress(nil, []byte("hello"))
	zeros, _ := Zstd.Compress(nil, make([]byte, 1000))
	empty, _ := Zstd.Compress(nil, nil)
	f.Add(hello, 10)
	f.Add(zeros, 100)
	f.Add(zstdStream(f, make([]byte, 300<<10)), 1<<20)
	f.Add(empty, 0)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 1, 0, 0, 0}, 1000)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 31 << 3, 0x11, 0, 0, 'h', 'i'}, 5)
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}, -1)
	f.Add([]byte{}, 5)
	f.Fuzz(func(t *testing.T, src []byte, max int) { checkDecompress(t, Zstd, src, max) })
}

func BenchmarkZstdRoundTrip(b *testing.B) { benchRoundTrip(b, Zstd) }
