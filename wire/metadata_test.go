package wire

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestMetadataMethods(t *testing.T) {
	md := Metadata{}
	md.Set("X-Trace", "a")
	md.Add("x-trace", "b", "c")
	md.Add("other")
	if got := md.Values("X-TRACE"); !slices.Equal(got, []string{"a", "b", "c"}) || md.Get("x-trace") != "a" {
		t.Errorf("values = %v", got)
	}
	if _, ok := md["other"]; ok {
		t.Error("Add with no values created a key")
	}
	md.Set("x-trace")
	if _, ok := md["x-trace"]; ok {
		t.Error("Set with no values kept the key")
	}
	md.Set("k", "1")
	md.Del("K")
	if len(md) != 0 || md.Get("k") != "" {
		t.Errorf("after Del: %v", md)
	}
	var nilMD Metadata
	if nilMD.Get("x") != "" || nilMD.Values("x") != nil || nilMD.Clone() != nil {
		t.Error("nil Metadata reads misbehave")
	}
}

func TestMetadataSetCopies(t *testing.T) {
	vals := []string{"a", "b"}
	md := Metadata{}
	md.Set("k", vals...)
	vals[0] = "z"
	if md.Get("k") != "a" {
		t.Error("Set aliases the caller's slice")
	}
	c := md.Clone()
	c["k"][0] = "y"
	if md.Get("k") != "a" {
		t.Error("Clone is shallow")
	}
}

func TestPairsAndJoin(t *testing.T) {
	md := Pairs("K1", "v1", "k2", "v2", "k1", "v3")
	want := Metadata{"k1": {"v1", "v3"}, "k2": {"v2"}}
	if !reflect.DeepEqual(md, want) {
		t.Errorf("Pairs = %v, want %v", md, want)
	}
	for _, odd := range [][]string{{"a"}, {"a", "b", "c"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Pairs(%q) did not panic", odd)
				}
			}()
			Pairs(odd...)
		}()
	}
	j := Join(md, Pairs("k2", "v4"), nil)
	if !slices.Equal(j.Values("k2"), []string{"v2", "v4"}) || !slices.Equal(j.Values("k1"), []string{"v1", "v3"}) {
		t.Errorf("Join = %v", j)
	}
	j["k1"][0] = "changed"
	if md.Get("k1") != "v1" {
		t.Error("Join aliases its input")
	}
	if Join() == nil {
		t.Error("Join() is nil")
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"a", "x-trace-id", "a.b_c-d", "0", "key-bin", "grpc-timeout"} {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v", k, err)
		}
	}
	for k, char := range map[string]string{"": "empty", "X-Trace": "'X'", "a b": "' '", "a:b": "':'", "ü": "byte 0xc3", ":path": "':'", "a/b": "'/'"} {
		err := ValidKey(k)
		if err == nil || !strings.Contains(err.Error(), char) {
			t.Errorf("ValidKey(%q) = %v, want an error naming %s", k, err, char)
		}
	}
	if err := ValidKey("Abc"); err == nil || !strings.Contains(err.Error(), "lower case") {
		t.Errorf("ValidKey(Abc) = %v, want a lower-case hint", err)
	}
}

func TestIsReservedKey(t *testing.T) {
	reserved := []string{":path", ":authority", "grpc-timeout", "grpc-status", "grpc-message", "grpc-encoding",
		"grpc-accept-encoding", "grpc-anything", "content-type", "te", "connection", "keep-alive",
		"proxy-connection", "transfer-encoding", "upgrade", "host", "content-length"}
	for _, k := range reserved {
		if !IsReservedKey(k) {
			t.Errorf("IsReservedKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "user-agent", "authorization", "grpc", "x-grpc-foo", "grpc-status-details-bin", "trace-bin", "tea"} {
		if IsReservedKey(k) {
			t.Errorf("IsReservedKey(%q) = true", k)
		}
	}
	if !IsBinaryKey("trace-bin") || IsBinaryKey("bin") || IsBinaryKey("trace-binx") {
		t.Error("IsBinaryKey")
	}
}

func TestValidValue(t *testing.T) {
	for _, v := range []string{"", "abc", " spaced ", "~!@#$%^&*()"} {
		if !ValidValue(v) {
			t.Errorf("ValidValue(%q) = false", v)
		}
	}
	for _, v := range []string{"a\nb", "\x00", "\x7f", "é", "tab\t"} {
		if ValidValue(v) {
			t.Errorf("ValidValue(%q) = true", v)
		}
	}
}

func TestBinaryEncoding(t *testing.T) {
	tests := []struct {
		raw    []byte
		enc    string
		padded string
	}{
		{nil, "", ""},
		{[]byte{0}, "AA", "AA=="},
		{[]byte{0, 1}, "AAE", "AAE="},
		{[]byte{0, 1, 2}, "AAEC", "AAEC"},
		{[]byte{0xfb, 0xff}, "+/8", "+/8="},
	}
	for _, tt := range tests {
		if got := EncodeBinary(tt.raw); got != tt.enc {
			t.Errorf("EncodeBinary(% x) = %q, want %q", tt.raw, got, tt.enc)
		}
		for _, s := range []string{tt.enc, tt.padded} {
			got, err := DecodeBinary(s)
			if err != nil || !bytes.Equal(got, tt.raw) {
				t.Errorf("DecodeBinary(%q) = % x, %v", s, got, err)
			}
		}
	}
	for _, s := range []string{"A", "AA=", "A===", "-_8", "AA==AA", "*"} {
		if _, err := DecodeBinary(s); err == nil {
			t.Errorf("DecodeBinary(%q) succeeded", s)
		}
	}
}

type field struct{ k, v string }

func encodeAll(t *testing.T, md Metadata) ([]field, error) {
	t.Helper()
	var out []field
	err := EncodeHeader(md, func(k, v string) { out = append(out, field{k, v}) })
	slices.SortStableFunc(out, func(a, b field) int { return strings.Compare(a.k, b.k) })
	return out, err
}

func TestEncodeHeader(t *testing.T) {
	got, err := encodeAll(t, Metadata{
		"a":                       {"1", "2"},
		"trace-bin":               {"\x00\x01\x02", ""},
		"user-agent":              {"app/1"},
		"grpc-status-details-bin": {"\x08\x05"},
		"empty":                   {},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []field{{"a", "1"}, {"a", "2"}, {"grpc-status-details-bin", "CAU"}, {"trace-bin", "AAEC"}, {"trace-bin", ""}, {"user-agent", "app/1"}}
	if !slices.Equal(got, want) {
		t.Errorf("EncodeHeader = %v, want %v", got, want)
	}
	bad := []Metadata{
		{"Upper": {"x"}},
		{"": {"x"}},
		{"grpc-timeout": {"1S"}},
		{":path": {"/x"}},
		{"te": {"trailers"}},
		{"ok": {"line\nbreak"}},
		{"ok": {"é"}},
	}
	for _, md := range bad {
		called := false
		if err := EncodeHeader(md, func(k, v string) { called = true }); err == nil || called {
			t.Errorf("EncodeHeader(%q) = %v, emitted %v", md, err, called)
		}
	}
}

func TestDecodeHeader(t *testing.T) {
	md := Metadata{}
	fields := []field{
		{":authority", "example.com"},
		{"content-type", "application/grpc+msgpack"},
		{"te", "trailers"},
		{"grpc-timeout", "1S"},
		{"grpc-accept-encoding", "gzip"},
		{"user-agent", "grpc-go/1.70.0"},
		{"X-Custom", "Value with spaces "},
		{"x-custom", "second"},
		{"odd", "\x01 not ascii é"},
		{"trace-bin", "AAEC"},
		{"trace-bin", "AAE=, AA ,"},
		{"grpc-status-details-bin", "CAU"},
	}
	for _, f := range fields {
		if err := DecodeHeader(md, f.k, f.v); err != nil {
			t.Fatalf("DecodeHeader(%q, %q) = %v", f.k, f.v, err)
		}
	}
	want := Metadata{
		"user-agent":              {"grpc-go/1.70.0"},
		"x-custom":                {"Value with spaces ", "second"},
		"odd":                     {"\x01 not ascii é"},
		"trace-bin":               {"\x00\x01\x02", "\x00\x01", "\x00", ""},
		"grpc-status-details-bin": {"\x08\x05"},
	}
	if !reflect.DeepEqual(md, want) {
		t.Errorf("DecodeHeader result\n got %q\nwant %q", md, want)
	}
	before := md.Clone()
	if err := DecodeHeader(md, "trace-bin", "AAEC,!!!"); err == nil {
		t.Error("undecodable bin value accepted")
	}
	if !reflect.DeepEqual(md, before) {
		t.Error("failed DecodeHeader changed md")
	}
}

// TestAppendDecodedHeader: the flat form appends after what is there,
// nothing for a field that is not metadata, and nothing on error.
func TestAppendDecodedHeader(t *testing.T) {
	pairs := []string{"a", "1"}
	var err error
	for _, f := range []field{{"te", "trailers"}, {"X-B", "2"}, {"c-bin", "AAE=,AA"}} {
		if pairs, err = AppendDecodedHeader(pairs, f.k, f.v); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a", "1", "x-b", "2", "c-bin", "\x00\x01", "c-bin", "\x00"}
	if !slices.Equal(pairs, want) {
		t.Fatalf("pairs %q, want %q", pairs, want)
	}
	got, err := AppendDecodedHeader(pairs, "c-bin", "AAEC,!!!")
	if err == nil || !slices.Equal(got, want) {
		t.Fatalf("undecodable: %q, %v; want the pairs unchanged and an error", got, err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	in := Metadata{"k": {"v1", "v2"}, "b-bin": {"\xff\x00", "", "x"}, "user-agent": {"u"}}
	out := Metadata{}
	err := EncodeHeader(in, func(k, v string) {
		if err := DecodeHeader(out, k, v); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Errorf("round trip: %q, %v", out, err)
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add("trace-bin", "AAEC")
	f.Add("trace-bin", "AAE=, AA,")
	f.Add("trace-bin", "!!")
	f.Add("x-key", "value")
	f.Add(":path", "/a/b")
	f.Add("Grpc-Status", "0")
	f.Fuzz(func(t *testing.T, key, value string) {
		md := Metadata{}
		err := DecodeHeader(md, key, value)
		if err != nil {
			if len(md) != 0 {
				t.Fatal("md changed on error")
			}
			if !IsBinaryKey(lower(key)) {
				t.Fatalf("error for non-binary key %q: %v", key, err)
			}
			return
		}
		for k, vs := range md {
			if k != lower(key) || IsReservedKey(k) || len(vs) == 0 {
				t.Fatalf("DecodeHeader(%q, %q) = %q", key, value, md)
			}
			if ValidKey(k) != nil {
				return // peers may send keys we would not; nothing to round-trip
			}
			// Re-encoding what was decoded and decoding again is stable.
			md2 := Metadata{}
			if err := EncodeHeader(md, func(k, v string) {
				if err := DecodeHeader(md2, k, v); err != nil {
					t.Fatal(err)
				}
			}); err != nil {
				if !IsBinaryKey(k) {
					return // invalid ASCII value received; accepted but not re-sendable
				}
				t.Fatal(err)
			}
			if !reflect.DeepEqual(md, md2) {
				t.Fatalf("round trip %q → %q", md, md2)
			}
		}
	})
}

func FuzzDecodeBinary(f *testing.F) {
	for _, s := range []string{"", "AA", "AA==", "AAE", "AAE=", "AAEC", "+/8", "A", "AA=", "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBinary(s)
		if err != nil {
			return
		}
		again, err := DecodeBinary(EncodeBinary(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("round trip of %q: % x vs % x, %v", s, b, again, err)
		}
	})
}
