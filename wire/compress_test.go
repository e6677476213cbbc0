package wire

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math/rand"
	"runtime"
	"testing"
)

func gzipStd(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestGzipRoundTrip(t *testing.T) {
	if Gzip.Name() != "gzip" {
		t.Fatal(Gzip.Name())
	}
	rng := rand.New(rand.NewSource(2))
	for _, n := range []int{0, 1, 100, 4096, 100000} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte('a' + rng.Intn(4))
		}
		c, err := Gzip.Compress([]byte("pre"), src)
		if err != nil || !bytes.HasPrefix(c, []byte("pre")) {
			t.Fatalf("Compress: %v", err)
		}
		// The output is standard gzip.
		zr, err := gzip.NewReader(bytes.NewReader(c[3:]))
		if err != nil {
			t.Fatal(err)
		}
		var std bytes.Buffer
		if _, err := std.ReadFrom(zr); err != nil || !bytes.Equal(std.Bytes(), src) {
			t.Fatalf("stdlib cannot read our gzip: %v", err)
		}
		for _, max := range []int{-1, n} {
			d, err := Gzip.Decompress([]byte("x"), c[3:], max)
			if err != nil || !bytes.Equal(d, append([]byte("x"), src...)) {
				t.Fatalf("Decompress(%d bytes, max %d): %v", n, max, err)
			}
		}
		if n > 0 {
			d, err := Gzip.Decompress([]byte("x"), c[3:], n-1)
			var se *SizeError
			if !errors.As(err, &se) || se.Max != n-1 || se.Size != n || string(d) != "x" {
				t.Fatalf("Decompress over max: %q, %v", d, err)
			}
		}
	}
}

func TestGzipBomb(t *testing.T) {
	bomb := gzipStd(t, make([]byte, 8<<20)) // 8 MiB of zeros, ~8 KiB compressed
	_, err := Gzip.Decompress(nil, bomb, 64<<10)
	var se *SizeError
	if !errors.As(err, &se) || se.Size != 64<<10+1 {
		t.Fatalf("bomb: %v", err)
	}
	if CodeOf(err) != ResourceExhausted {
		t.Errorf("CodeOf(SizeError) = %v", CodeOf(err))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	Gzip.Decompress(nil, bomb, 64<<10)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("decompressing the bomb with max 64 KiB allocated %d bytes", n)
	}
}

func TestGzipCorrupt(t *testing.T) {
	good := gzipStd(t, []byte("hello, hello, hello"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 0xff // CRC
	tests := map[string][]byte{
		"empty":     nil,
		"not gzip":  []byte("hello"),
		"truncated": good[:len(good)-3],
		"bad crc":   flipped,
		"trailing":  append(bytes.Clone(good), 0x00),
	}
	for name, src := range tests {
		d, err := Gzip.Decompress([]byte("keep"), src, -1)
		if !errors.Is(err, ErrCorruptCompression) || string(d) != "keep" {
			t.Errorf("%s: %q, %v", name, d, err)
		}
	}
	// Concatenated members are one message, as with grpc-go.
	two := append(gzipStd(t, []byte("ab")), gzipStd(t, []byte("cd"))...)
	if d, err := Gzip.Decompress(nil, two, -1); err != nil || string(d) != "abcd" {
		t.Errorf("multistream: %q, %v", d, err)
	}
	// The pooled reader recovers after errors.
	if d, err := Gzip.Decompress(nil, good, -1); err != nil || string(d) != "hello, hello, hello" {
		t.Errorf("after errors: %q, %v", d, err)
	}
}

func TestGzipZeroMax(t *testing.T) {
	if d, err := Gzip.Decompress(nil, gzipStd(t, nil), 0); err != nil || len(d) != 0 {
		t.Errorf("empty with max 0: %v", err)
	}
	if _, err := Gzip.Decompress(nil, gzipStd(t, []byte("a")), 0); err == nil {
		t.Error("1 byte with max 0 accepted")
	}
}

func FuzzGzipDecompress(f *testing.F) {
	f.Add(gzipStd(f, []byte("hello")), 10)
	f.Add(gzipStd(f, make([]byte, 1000)), 100)
	f.Add(gzipStd(f, nil), 0)
	f.Add([]byte{0x1f, 0x8b}, -1)
	f.Add([]byte{}, 5)
	f.Fuzz(func(t *testing.T, src []byte, max int) { checkDecompress(t, Gzip, src, max) })
}

// checkDecompress is the property every Compressor's fuzz target checks:
// Decompress never returns more than max bytes, fails only with a
// *SizeError or ErrCorruptCompression and nothing out, and what it returns
// survives a round trip.
func checkDecompress(t *testing.T, comp Compressor, src []byte, max int) {
	if max < 0 || max > 1<<20 {
		max = 1 << 20 // keep the fuzzer's memory bounded
	}
	d, err := comp.Decompress(nil, src, max)
	if len(d) > max {
		t.Fatalf("%d bytes out, max %d", len(d), max)
	}
	if err != nil {
		var se *SizeError
		if len(d) != 0 || !errors.As(err, &se) && !errors.Is(err, ErrCorruptCompression) {
			t.Fatalf("error %v with %d bytes", err, len(d))
		}
		return
	}
	c, err := comp.Compress(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := comp.Decompress(nil, c, max)
	if err != nil || !bytes.Equal(d, d2) {
		t.Fatalf("round trip: %v", err)
	}
}

func BenchmarkGzipRoundTrip(b *testing.B) { benchRoundTrip(b, Gzip) }

// benchRoundTrip compresses and decompresses a 1.5 KB message with comp.
func benchRoundTrip(b *testing.B, comp Compressor) {
	src := bytes.Repeat([]byte("parley message "), 100)
	var c, d []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		c, err = comp.Compress(c[:0], src)
		if err != nil {
			b.Fatal(err)
		}
		d, err = comp.Decompress(d[:0], c, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
	}
}
