package wire

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestContentType(t *testing.T) {
	for in, want := range map[string]string{"": "application/grpc", "msgpack": "application/grpc+msgpack", "proto": "application/grpc+proto"} {
		if got := ContentType(in); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", in, got, want)
		}
	}
	if ContentType("msgpack") != ContentTypeMsgpack {
		t.Error("ContentTypeMsgpack")
	}
}

func TestParseContentType(t *testing.T) {
	tests := []struct {
		in      string
		subtype string
		ok      bool
	}{
		{"application/grpc", "", true},
		{"application/grpc+msgpack", "msgpack", true},
		{"application/grpc+proto", "proto", true},
		{"Application/GRPC+MsgPack", "msgpack", true},
		{"application/grpc+msgpack; charset=utf-8", "msgpack", true},
		{"application/grpc;charset=utf-8", "", true},
		{" application/grpc+msgpack ", "msgpack", true},
		{"application/grpc+", "", true},
		{"application/json", "", false},
		{"application/grpc-web", "", false},
		{"application/grpc-web+proto", "", false},
		{"application/grpcx", "", false},
		{"application/grp", "", false},
		{"", "", false},
		{"text/plain", "", false},
	}
	for _, tt := range tests {
		s, ok := ParseContentType(tt.in)
		if s != tt.subtype || ok != tt.ok {
			t.Errorf("ParseContentType(%q) = %q, %v; want %q, %v", tt.in, s, ok, tt.subtype, tt.ok)
		}
	}
}

func FuzzParseContentType(f *testing.F) {
	for _, s := range []string{"application/grpc", "application/grpc+msgpack", "application/grpc;x", "application/grpc-web", "APPLICATION/GRPC+X"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		sub, ok := ParseContentType(ct)
		if !ok {
			if sub != "" {
				t.Fatal("subtype without ok")
			}
			return
		}
		if !strings.HasPrefix(lower(strings.TrimLeft(ct, " \t")), ContentTypeBase) {
			t.Fatalf("accepted %q", ct)
		}
		if strings.ContainsAny(sub, ";") || sub != lower(sub) {
			t.Fatalf("subtype %q of %q", sub, ct)
		}
		if sub2, ok := ParseContentType(ContentType(sub)); !ok || sub2 != sub {
			t.Fatalf("round trip of %q: %q, %v", sub, sub2, ok)
		}
	})
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in, service, method string
		ok                  bool
	}{
		{"/pkg.Svc/Method", "pkg.Svc", "Method", true},
		{"/s/m", "s", "m", true},
		{"/p/s/m", "p/s", "m", true},
		{"/grpc.health.v1.Health/Check", "grpc.health.v1.Health", "Check", true},
		{"", "", "", false},
		{"/", "", "", false},
		{"/sm", "", "", false},
		{"sm", "", "", false},
		{"s/m", "", "", false},
		{"//m", "", "", false},
		{"/s/", "", "", false},
	}
	for _, tt := range tests {
		s, m, err := ParsePath(tt.in)
		if s != tt.service || m != tt.method || (err == nil) != tt.ok {
			t.Errorf("ParsePath(%q) = %q, %q, %v", tt.in, s, m, err)
		}
		if tt.ok && Path(s, m) != tt.in {
			t.Errorf("Path(%q, %q) = %q", s, m, Path(s, m))
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/pkg.Svc/Method", "/", "//", "/a/b/c", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		s, m, err := ParsePath(p)
		if err != nil {
			return
		}
		if s == "" || m == "" || strings.Contains(m, "/") || Path(s, m) != p {
			t.Fatalf("ParsePath(%q) = %q, %q", p, s, m)
		}
	})
}

func TestUserAgent(t *testing.T) {
	if got := UserAgent(Version); got != "parley-go/"+Version {
		t.Errorf("UserAgent = %q", got)
	}
}

func TestParseAcceptEncoding(t *testing.T) {
	tests := map[string][]string{
		"":                    nil,
		"gzip":                {"gzip"},
		"gzip, identity":      {"gzip", "identity"},
		" identity ,deflate,": {"identity", "deflate"},
		",,":                  nil,
	}
	for in, want := range tests {
		if got := ParseAcceptEncoding(in); !slices.Equal(got, want) {
			t.Errorf("ParseAcceptEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseAcceptEncoding(f *testing.F) {
	f.Add("gzip, identity")
	f.Add(" , ,x")
	f.Fuzz(func(t *testing.T, v string) {
		for _, e := range ParseAcceptEncoding(v) {
			if e == "" || strings.Contains(e, ",") || strings.Trim(e, " \t") != e {
				t.Fatalf("element %q of %q", e, v)
			}
		}
	})
}

func statusFields(err error) []field {
	var out []field
	StatusFields(err, func(k, v string) { out = append(out, field{k, v}) })
	return out
}

func TestStatusFields(t *testing.T) {
	tests := []struct {
		err  error
		want []field
	}{
		{nil, []field{{"grpc-status", "0"}}},
		{NewError(NotFound, ""), []field{{"grpc-status", "5"}}},
		{NewError(Internal, "100% broken\n"), []field{{"grpc-status", "13"}, {"grpc-message", "100%25 broken%0A"}}},
		{errors.New("plain"), []field{{"grpc-status", "2"}, {"grpc-message", "plain"}}},
		{NewWireError(Code(42), "x", nil), []field{{"grpc-status", "42"}, {"grpc-message", "x"}}},
	}
	for _, tt := range tests {
		if got := statusFields(tt.err); !slices.Equal(got, tt.want) {
			t.Errorf("StatusFields(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestStatusFromTrailer(t *testing.T) {
	md := Pairs("k", "v")
	tests := []struct {
		status, message string
		code            Code
		wantMsg         string
	}{
		{"0", "", OK, ""},
		{"0", "ignored", OK, ""},
		{"00", "", OK, ""},
		{"5", "no%20such%20room", NotFound, "no such room"},
		{"13", "%ZZ", Internal, "%ZZ"},
		{"42", "", Code(42), ""},
		{"", "", Internal, "server closed the stream without sending a grpc-status"},
		{"x", "", Internal, `malformed grpc-status: "x"`},
		{"-1", "", Internal, `malformed grpc-status: "-1"`},
		{"+5", "", Internal, `malformed grpc-status: "+5"`},
		{"4294967296", "", Internal, `malformed grpc-status: "4294967296"`},
		{"2147483647", "", Code(2147483647), ""},
		{"2147483648", "", Internal, `malformed grpc-status: "2147483648"`}, // grpc-go: an int32
		{"4294967295", "", Internal, `malformed grpc-status: "4294967295"`},
	}
	for _, tt := range tests {
		err := StatusFromTrailer(tt.status, tt.message, md)
		if tt.code == OK {
			if err != nil {
				t.Errorf("StatusFromTrailer(%q) = %v, want nil", tt.status, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code() != tt.code || e.Message() != tt.wantMsg || !e.IsWire() || !reflect.DeepEqual(e.Trailer(), md) {
			t.Errorf("StatusFromTrailer(%q, %q) = %v", tt.status, tt.message, err)
		}
	}
}

// TestStatusRoundTrip sends every code and some messages through
// StatusFields and back through StatusFromTrailer.
func TestStatusRoundTrip(t *testing.T) {
	for c := Canceled; c <= Unauthenticated+1; c++ {
		for _, msg := range []string{"", "simple", "100% \x00 系统 \n"} {
			var status, message string
			StatusFields(NewError(c, msg), func(k, v string) {
				switch k {
				case HeaderStatus:
					status = v
				case HeaderMessage:
					message = v
				}
			})
			got := AsError(StatusFromTrailer(status, message, nil))
			if got.Code() != c || got.Message() != msg {
				t.Errorf("round trip of %v %q: %v", c, msg, got)
			}
		}
	}
}

func FuzzStatusFromTrailer(f *testing.F) {
	f.Add("0", "")
	f.Add("5", "a%20b")
	f.Add("", "")
	f.Add("x", "%")
	f.Fuzz(func(t *testing.T, status, message string) {
		err := StatusFromTrailer(status, message, nil)
		if err == nil {
			if c, ok := ParseCode(status); !ok || c != OK {
				t.Fatalf("nil error for grpc-status %q", status)
			}
			return
		}
		if !IsWireError(err) || CodeOf(err) == OK {
			t.Fatalf("StatusFromTrailer(%q) = %v", status, err)
		}
	})
}
