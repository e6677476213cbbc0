package wire

import (
	"strings"
	"testing"
)

func TestCodeString(t *testing.T) {
	tests := []struct {
		c    Code
		want string
	}{
		{OK, "OK"}, {Canceled, "CANCELLED"}, {Unknown, "UNKNOWN"},
		{InvalidArgument, "INVALID_ARGUMENT"}, {DeadlineExceeded, "DEADLINE_EXCEEDED"},
		{NotFound, "NOT_FOUND"}, {AlreadyExists, "ALREADY_EXISTS"},
		{PermissionDenied, "PERMISSION_DENIED"}, {ResourceExhausted, "RESOURCE_EXHAUSTED"},
		{FailedPrecondition, "FAILED_PRECONDITION"}, {Aborted, "ABORTED"},
		{OutOfRange, "OUT_OF_RANGE"}, {Unimplemented, "UNIMPLEMENTED"},
		{Internal, "INTERNAL"}, {Unavailable, "UNAVAILABLE"}, {DataLoss, "DATA_LOSS"},
		{Unauthenticated, "UNAUTHENTICATED"}, {17, "CODE(17)"}, {42, "CODE(42)"},
		{4294967295, "CODE(4294967295)"},
	}
	for i, tt := range tests {
		if i <= 16 && Code(i) != tt.c {
			t.Errorf("code %s has number %d, want %d", tt.want, tt.c, i)
		}
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Code(%d).String() = %q, want %q", uint32(tt.c), got, tt.want)
		}
		if c, ok := ParseCode(tt.want); !ok || c != tt.c {
			t.Errorf("ParseCode(%q) = %v, %v", tt.want, c, ok)
		}
		if c, ok := ParseCode(strings.ToLower(tt.want)); !ok || c != tt.c {
			t.Errorf("ParseCode(lower %q) = %v, %v", tt.want, c, ok)
		}
	}
}

func TestParseCode(t *testing.T) {
	tests := []struct {
		in   string
		want Code
		ok   bool
	}{
		{"0", OK, true}, {"5", NotFound, true}, {"16", Unauthenticated, true}, {"99", 99, true},
		{"05", NotFound, true}, {"Canceled", Canceled, true}, {"cancelled", Canceled, true},
		{"not_found", NotFound, true}, {"code(7)", PermissionDenied, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"4294967296", 0, false},
		{"NOTFOUND", 0, false}, {"CODE()", 0, false}, {"CODE(-1)", 0, false}, {"CODE(x)", 0, false},
		{" OK", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseCode(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"OK", "cancelled", "17", "CODE(42)", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCode(s)
		if !ok {
			return
		}
		if c2, ok := ParseCode(c.String()); !ok || c2 != c {
			t.Fatalf("ParseCode(%q) = %v; round trip through %q gives %v, %v", s, c, c.String(), c2, ok)
		}
	})
}

func TestCodeFromHTTPStatus(t *testing.T) {
	tests := map[int]Code{
		400: Internal, 401: Unauthenticated, 403: PermissionDenied, 404: Unimplemented,
		429: Unavailable, 431: Internal, 502: Unavailable, 503: Unavailable, 504: Unavailable,
		200: Unknown, 500: Unknown, 415: Unknown, 0: Unknown, 301: Unknown,
	}
	for status, want := range tests {
		if got := CodeFromHTTPStatus(status); got != want {
			t.Errorf("CodeFromHTTPStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestCodeFromRSTStream(t *testing.T) {
	tests := []struct {
		errCode uint32
		name    string
		want    Code
	}{
		{H2NoError, "NO_ERROR", Internal},
		{H2ProtocolError, "PROTOCOL_ERROR", Internal},
		{H2InternalError, "INTERNAL_ERROR", Internal},
		{H2FlowControlError, "FLOW_CONTROL_ERROR", Internal},
		{H2SettingsTimeout, "SETTINGS_TIMEOUT", Internal},
		{H2StreamClosed, "STREAM_CLOSED", Internal},
		{H2FrameSizeError, "FRAME_SIZE_ERROR", Internal},
		{H2RefusedStream, "REFUSED_STREAM", Unavailable},
		{H2Cancel, "CANCEL", Canceled},
		{H2CompressionError, "COMPRESSION_ERROR", Internal},
		{H2ConnectError, "CONNECT_ERROR", Internal},
		{H2EnhanceYourCalm, "ENHANCE_YOUR_CALM", ResourceExhausted},
		{H2InadequateSecurity, "INADEQUATE_SECURITY", PermissionDenied},
		{H2HTTP11Required, "HTTP_1_1_REQUIRED", Internal},
		{0xe, "UNKNOWN_ERROR_0xe", Internal},
		{0xffffffff, "UNKNOWN_ERROR_0xffffffff", Internal},
	}
	for _, tt := range tests {
		if got := CodeFromRSTStream(tt.errCode); got != tt.want {
			t.Errorf("CodeFromRSTStream(%s) = %v, want %v", tt.name, got, tt.want)
		}
		if got := H2ErrorName(tt.errCode); got != tt.name {
			t.Errorf("H2ErrorName(%d) = %q, want %q", tt.errCode, got, tt.name)
		}
		e := ErrorFromRSTStream(tt.errCode)
		if e.Code() != tt.want || !e.IsWire() || !strings.Contains(e.Message(), "stream terminated by RST_STREAM with error code: "+tt.name) {
			t.Errorf("ErrorFromRSTStream(%s) = %v (wire %v)", tt.name, e, e.IsWire())
		}
	}
	if m := ErrorFromRSTStream(H2EnhanceYourCalm).Message(); !strings.Contains(m, "too many requests") {
		t.Errorf("ENHANCE_YOUR_CALM message %q lacks detail", m)
	}
}
