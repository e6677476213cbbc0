package wire

import (
	"math"
	"testing"
	"time"
)

func TestEncodeTimeout(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0n"},
		{-time.Second, "0n"},
		{1, "1n"},
		{99999999, "99999999n"},
		{time.Microsecond, "1u"},
		{99999999 * time.Microsecond, "99999999u"},
		{time.Millisecond, "1m"},
		{1500 * time.Millisecond, "1500m"},
		{99999999 * time.Millisecond, "99999999m"},
		{time.Second, "1S"},
		{99999999 * time.Second, "99999999S"},
		{time.Minute, "1M"},
		{90 * time.Second, "90S"},
		{99999999 * time.Minute, "99999999M"},
		{time.Hour, "1H"},
		// Rounding up to a coarser unit when the value has more than 8 digits.
		{100000001, "100001u"},
		{100000001 * time.Microsecond, "100001m"},
		{100000001 * time.Millisecond, "100001S"},
		{100000000 * time.Second, "1666667M"},
		{100000000 * time.Minute, "1666667H"},
		{time.Duration(math.MaxInt64), "2562048H"},
	}
	for _, tt := range tests {
		got := EncodeTimeout(tt.in)
		if got != tt.want {
			t.Errorf("EncodeTimeout(%v) = %q, want %q", tt.in, got, tt.want)
		}
		d, err := DecodeTimeout(got)
		if err != nil || d < max(tt.in, 0) {
			t.Errorf("DecodeTimeout(%q) = %v, %v; shorter than %v", got, d, err, tt.in)
		}
	}
}

func TestDecodeTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1n", 1, true},
		{"1u", time.Microsecond, true},
		{"1m", time.Millisecond, true},
		{"1S", time.Second, true},
		{"1M", time.Minute, true},
		{"1H", time.Hour, true},
		{"0S", 0, true},
		{"00000001S", time.Second, true},
		{"99999999n", 99999999, true},
		{"2562047H", 2562047 * time.Hour, true},
		{"2562048H", time.Duration(math.MaxInt64), true},
		{"99999999H", time.Duration(math.MaxInt64), true},
		{"99999999M", 99999999 * time.Minute, true},
		{"", 0, false},
		{"S", 0, false},
		{"1", 0, false},
		{"100000000S", 0, false},
		{"1s", 0, false},
		{"1x", 0, false},
		{"-1S", 0, false},
		{"+1S", 0, false},
		{" 1S", 0, false},
		{"1 S", 0, false},
		{"1.5S", 0, false},
		{"0x1S", 0, false},
		{"1SS", 0, false},
	}
	for _, tt := range tests {
		got, err := DecodeTimeout(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("DecodeTimeout(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzDecodeTimeout(f *testing.F) {
	for _, s := range []string{"1S", "99999999H", "0n", "100000000n", "5x", "", "-1m"} {
		f.Add(s)
	}
	f.Add("1500m")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DecodeTimeout(s)
		if err != nil {
			return
		}
		if len(s) < 2 || len(s) > 9 || d < 0 {
			t.Fatalf("DecodeTimeout(%q) = %v", s, d)
		}
		enc := EncodeTimeout(d)
		if len(enc) > 9 {
			t.Fatalf("EncodeTimeout(%v) = %q, too long", d, enc)
		}
		d2, err := DecodeTimeout(enc)
		if err != nil {
			t.Fatalf("DecodeTimeout(EncodeTimeout(%v) = %q) = %v", d, enc, err)
		}
		// Every decoded value below the clamp is exact in some unit, so
		// the round trip is exact.
		if d2 != d {
			t.Fatalf("round trip %q → %v → %q → %v", s, d, enc, d2)
		}
	})
}

func FuzzEncodeTimeout(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(100000001))
	f.Add(int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, n int64) {
		d := time.Duration(n)
		enc := EncodeTimeout(d)
		got, err := DecodeTimeout(enc)
		if err != nil || len(enc) > 9 {
			t.Fatalf("EncodeTimeout(%v) = %q: %v", d, enc, err)
		}
		if got < max(d, 0) {
			t.Fatalf("EncodeTimeout(%v) = %q decodes shorter: %v", d, enc, got)
		}
	})
}
