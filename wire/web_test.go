package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestParseWebContentType(t *testing.T) {
	for _, tc := range []struct {
		ct      string
		subtype string
		text    bool
		ok      bool
	}{
		{"application/grpc-web", "", false, true},
		{"application/grpc-web+msgpack", "msgpack", false, true},
		{"application/grpc-web+proto", "proto", false, true},
		{"application/grpc-web-text", "", true, true},
		{"application/grpc-web-text+proto", "proto", true, true},
		{"application/grpc-web-text+msgpack", "msgpack", true, true},
		{"Application/GRPC-Web-Text+MsgPack; charset=utf-8", "msgpack", true, true},
		{"application/grpc", "", false, false},
		{"application/grpc+msgpack", "", false, false},
		{"application/grpc-webx", "", false, false},
		{"application/grpc-web-textx", "", false, false},
		{"application/json", "", false, false},
		{"", "", false, false},
	} {
		sub, text, ok := ParseWebContentType(tc.ct)
		if sub != tc.subtype || text != tc.text || ok != tc.ok {
			t.Errorf("ParseWebContentType(%q) = %q, %v, %v; want %q, %v, %v", tc.ct, sub, text, ok, tc.subtype, tc.text, tc.ok)
		}
		if tc.ok {
			if back := WebContentType(sub, text); !strings.EqualFold(back, strings.Split(tc.ct, ";")[0]) {
				t.Errorf("WebContentType(%q, %v) = %q, want %q", sub, text, back, tc.ct)
			}
		}
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWebResponseFixture checks a gRPC-Web response body byte for byte,
// built by hand from PROTOCOL-WEB.md: one message frame, then the trailers
// as an 0x80 frame holding an HTTP/1 header block.
func TestWebResponseFixture(t *testing.T) {
	// {"text": "hi"} in msgpack, then the trailers grpc-status: 0 and
	// x-count: 2, 3 (0x28 = 40 bytes of header block).
	want := mustHex(t, "00 00000009 81 a4 74657874 a2 6869  80 00000028")
	want = append(want, "grpc-status: 0\r\nx-count: 2\r\nx-count: 3\r\n"...)

	body := AppendWebFrame(nil, FlagUncompressed, mustHex(t, "81 a4 74657874 a2 6869"))
	block, err := AppendHeaderBlock(nil, map[string][]string{"X-Count": {"2", "3"}, "grpc-status": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	body = AppendWebFrame(body, FlagTrailers, block)
	if !bytes.Equal(body, want) {
		t.Fatalf("body\n%x\nwant\n%x", body, want)
	}

	rest, flag, p, ok, err := ParseWebFrame(body, 100)
	if !ok || err != nil || flag != FlagUncompressed || string(p) != "\x81\xa4text\xa2hi" {
		t.Fatalf("first frame: flag %#x %q ok=%v err=%v", flag, p, ok, err)
	}
	rest, flag, p, ok, err = ParseWebFrame(rest, 100)
	if !ok || err != nil || flag != FlagTrailers || len(rest) != 0 {
		t.Fatalf("trailers frame: flag %#x ok=%v err=%v rest %d", flag, ok, err, len(rest))
	}
	h, err := ParseHeaderBlock(p)
	if err != nil {
		t.Fatal(err)
	}
	if w := map[string][]string{"grpc-status": {"0"}, "x-count": {"2", "3"}}; !maps.EqualFunc(h, w, slices.Equal) {
		t.Fatalf("trailers %v, want %v", h, w)
	}
}

// TestParseHeaderBlockSpec parses the example block of PROTOCOL-WEB.md and
// the variants other servers send.
func TestParseHeaderBlockSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string][]string
	}{
		{"key1: foo\r\nkey2: bar\r\n", map[string][]string{"key1": {"foo"}, "key2": {"bar"}}},
		{"Grpc-Status: 3\r\nGrpc-Message: bad%20arg", map[string][]string{"grpc-status": {"3"}, "grpc-message": {"bad%20arg"}}},
		{"a:1\nb:  2 \n\n", map[string][]string{"a": {"1"}, "b": {"2"}}},
		{"", map[string][]string{}},
	} {
		h, err := ParseHeaderBlock([]byte(tc.in))
		if err != nil || !maps.EqualFunc(h, tc.want, slices.Equal) {
			t.Errorf("ParseHeaderBlock(%q) = %v, %v; want %v", tc.in, h, err, tc.want)
		}
	}
	for _, bad := range []string{"no colon\r\n", ": empty name\r\n", "bad name: x\r\n", "a: b\x00c\r\n", " folded: x\r\n"} {
		if h, err := ParseHeaderBlock([]byte(bad)); err == nil {
			t.Errorf("ParseHeaderBlock(%q) = %v, want an error", bad, h)
		}
	}
	if _, err := AppendHeaderBlock(nil, map[string][]string{"a": {"x\r\ninjected: 1"}}); err == nil {
		t.Error("AppendHeaderBlock accepted a value with CR LF")
	}
	if _, err := AppendHeaderBlock(nil, map[string][]string{"a b": {"x"}}); err == nil {
		t.Error("AppendHeaderBlock accepted a name with a space")
	}
}

func TestParseWebFrame(t *testing.T) {
	if _, _, _, ok, err := ParseWebFrame([]byte{0x80, 0, 0}, -1); ok || err != nil {
		t.Fatalf("short prefix: ok=%v err=%v", ok, err)
	}
	if _, _, _, _, err := ParseWebFrame([]byte{0x02}, -1); !errors.Is(err, ErrBadWebFlag) {
		t.Fatalf("flag 2: err=%v", err)
	}
	if _, _, _, _, err := ParseWebFrame([]byte{0x81, 0, 0, 0, 0}, -1); !errors.Is(err, ErrBadWebFlag) {
		t.Fatalf("compressed trailers: err=%v", err)
	}
	var se *SizeError
	if _, _, _, _, err := ParseWebFrame([]byte{0x40, 0, 0, 1, 0}, 255); !errors.As(err, &se) || se.Size != 256 {
		t.Fatalf("oversized: err=%v", err)
	}
	rest, flag, p, ok, err := ParseWebFrame([]byte{0x40, 0, 0, 0, 1, 'x', 9}, 1)
	if !ok || err != nil || flag != FlagHeaders || string(p) != "x" || !bytes.Equal(rest, []byte{9}) {
		t.Fatalf("headers frame: %v %v %#x %q %v", ok, err, flag, p, rest)
	}
}

// TestDecodeBase64Chunks checks the chunked base64 rules of
// PROTOCOL-WEB.md's "Text-encoded (response) streams": padding may end any
// quantum, and text may arrive split anywhere.
func TestDecodeBase64Chunks(t *testing.T) {
	// A message frame and a trailers frame, each encoded and padded
	// separately, as a server that flushes twice sends them.
	frame1 := AppendWebFrame(nil, 0, []byte{0x92, 0x01, 0x02})
	frame2 := AppendWebFrame(nil, FlagTrailers, []byte("grpc-status: 0\r\n"))
	text := base64.StdEncoding.EncodeToString(frame1) + base64.StdEncoding.EncodeToString(frame2)
	if !strings.Contains(text[:len(text)-4], "=") {
		t.Fatalf("fixture %q has no padding in the middle", text)
	}
	want := append(slices.Clone(frame1), frame2...)
	for split := 0; split <= len(text); split++ {
		var out []byte
		buf := []byte(text[:split])
		out, n, err := DecodeBase64Chunks(out, buf)
		if err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		buf = append(buf[n:], text[split:]...)
		out, n, err = DecodeBase64Chunks(out, buf)
		if err != nil || n != len(buf) {
			t.Fatalf("split %d: n=%d of %d, err=%v", split, n, len(buf), err)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("split %d: %x, want %x", split, out, want)
		}
	}
	for _, bad := range []string{"AA=A", "A===", "AAAA\r\nAAAA", "AA!A", "=AAA"} {
		if _, _, err := DecodeBase64Chunks(nil, []byte(bad)); err == nil {
			t.Errorf("DecodeBase64Chunks(%q): no error", bad)
		}
	}
	// A hand-checked grpc-web-text body: an empty message frame
	// ("AAAAAAA=", padded), then the trailers "grpc-status: 0\r\n".
	out, n, err := DecodeBase64Chunks(nil, []byte("AAAAAAA=gAAAAA9ncnBjLXN0YXR1czogMA0K"))
	if err != nil || n != 36 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if w := mustHex(t, "00 00000000 80 0000000f 677270632d7374617475733a20300d0a"); !bytes.Equal(out, w) {
		t.Fatalf("decoded %x, want %x", out, w)
	}
}

func FuzzParseHeaderBlock(f *testing.F) {
	f.Add([]byte("key1: foo\r\nkey2: bar\r\n"))
	f.Add([]byte("grpc-status: 0\r\ngrpc-message: a%20b"))
	f.Add([]byte("a:\n:b\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeaderBlock(b)
		if err != nil {
			return
		}
		// What parses re-encodes, and parses back to the same fields.
		enc, err := AppendHeaderBlock(nil, h)
		if err != nil {
			t.Fatalf("AppendHeaderBlock(%v): %v", h, err)
		}
		h2, err := ParseHeaderBlock(enc)
		if err != nil || !maps.EqualFunc(h, h2, slices.Equal) {
			t.Fatalf("round trip: %v -> %q -> %v, %v", h, enc, h2, err)
		}
	})
}

func FuzzParseWebFrame(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 0, 2, 'a', ':'}, -1)
	f.Add([]byte{0x40, 0, 0, 0, 0}, 0)
	f.Add([]byte{0x00, 0xff, 0xff, 0xff, 0xff}, 10)
	f.Fuzz(func(t *testing.T, buf []byte, maxSize int) {
		rest, flag, p, ok, err := ParseWebFrame(buf, maxSize)
		if err != nil {
			var se *SizeError
			if !errors.Is(err, ErrBadWebFlag) && !errors.As(err, &se) {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if !ok {
			if !bytes.Equal(rest, buf) {
				t.Fatal("incomplete frame consumed bytes")
			}
			return
		}
		if again := AppendWebFrame(nil, flag, p); !bytes.Equal(again, buf[:len(buf)-len(rest)]) {
			t.Fatalf("re-encoded %x, parsed from %x", again, buf[:len(buf)-len(rest)])
		}
	})
}

// FuzzDecodeBase64Chunks checks the chunked decoder against a model: the
// text split after each padded quantum, each part decoded by the standard
// library; and feeding the text in two parts gives the same bytes.
func FuzzDecodeBase64Chunks(f *testing.F) {
	f.Add([]byte("AAAAAAA=gAAAAA9ncnBjLXN0YXR1czogMA0K"), 5)
	f.Add([]byte("YQ==YWI=YWJj"), 3)
	f.Add([]byte("YQ=="), 0)
	f.Fuzz(func(t *testing.T, text []byte, split int) {
		got, n, err := DecodeBase64Chunks(nil, text)
		var model []byte
		modelErr := false
		whole := text[:len(text)&^3]
		for len(whole) > 0 && !modelErr {
			j := 0
			for j < len(whole) && whole[j+3] != '=' {
				j += 4
			}
			if j < len(whole) {
				j += 4
			}
			chunk := whole[:j]
			if bytes.ContainsAny(chunk, "\r\n") {
				modelErr = true
				break
			}
			d, e := base64.StdEncoding.AppendDecode(model, chunk)
			if e != nil {
				modelErr = true
				break
			}
			model, whole = d, whole[j:]
		}
		if (err != nil) != modelErr {
			t.Fatalf("err=%v, model error=%v", err, modelErr)
		}
		if err != nil {
			return
		}
		if n != len(text)&^3 || !bytes.Equal(got, model) {
			t.Fatalf("n=%d got %x, model %x", n, got, model)
		}
		if split < 0 || split > len(text) {
			return
		}
		out, m, err := DecodeBase64Chunks(nil, text[:split])
		if err != nil {
			t.Fatalf("first part: %v", err)
		}
		rest := append(slices.Clone(text[m:split]), text[split:]...)
		out, _, err = DecodeBase64Chunks(out, rest)
		if err != nil || !bytes.Equal(out, got) {
			t.Fatalf("in two parts: %x, %v; whole: %x", out, err, got)
		}
	})
}
