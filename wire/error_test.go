package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorBasics(t *testing.T) {
	e := NewError(NotFound, "no such room")
	if e.Code() != NotFound || e.Message() != "no such room" || e.IsWire() || e.Unwrap() != nil {
		t.Fatalf("NewError: %#v", e)
	}
	if got, want := e.Error(), "parley: NOT_FOUND: no such room"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := NewError(Internal, "").Error(), "parley: INTERNAL"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := NewError(OK, "x").Code(); got != Unknown {
		t.Errorf("NewError(OK) code = %v, want UNKNOWN", got)
	}
	e.Trailer().Set("room", "lobby")
	if e.Trailer().Get("room") != "lobby" {
		t.Error("Trailer() is not the error's own map")
	}

	var nilErr *Error
	if nilErr.Code() != OK || nilErr.Message() != "" || nilErr.Trailer() == nil || nilErr.IsWire() || nilErr.Unwrap() != nil || nilErr.WithTrailer(nil) != nil {
		t.Error("nil *Error methods misbehave")
	}
	var zero Error
	zero.Trailer().Get("x") // must not panic
	if zero.Trailer() == nil {
		t.Error("zero Error has nil Trailer")
	}
}

func TestWrapAndErrorf(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	w := WrapError(DataLoss, cause)
	if w.Message() != cause.Error() || !errors.Is(w, io.ErrUnexpectedEOF) || w.Code() != DataLoss {
		t.Errorf("WrapError: %v", w)
	}
	if WrapError(Internal, nil).Message() != "" {
		t.Error("WrapError(nil) has a message")
	}
	f := Errorf(InvalidArgument, "bad size %d: %w", 7, cause)
	if f.Message() != "bad size 7: unexpected EOF" || !errors.Is(f, io.ErrUnexpectedEOF) {
		t.Errorf("Errorf: %q", f.Message())
	}
	if g := Errorf(InvalidArgument, "plain %s", "x"); g.Unwrap() != nil || g.Message() != "plain x" {
		t.Errorf("Errorf without %%w: %v, %v", g, g.Unwrap())
	}
}

func TestWireError(t *testing.T) {
	md := Pairs("k", "v")
	e := NewWireError(Unavailable, "going away", md)
	if !e.IsWire() || !IsWireError(fmt.Errorf("call: %w", e)) || e.Trailer().Get("k") != "v" {
		t.Errorf("NewWireError: %v", e)
	}
	if IsWireError(NewError(Unavailable, "")) || IsWireError(errors.New("x")) || IsWireError(nil) {
		t.Error("IsWireError true for local errors")
	}
	if NewWireError(Internal, "", nil).Trailer() == nil {
		t.Error("nil trailer kept")
	}
}

func TestWithTrailer(t *testing.T) {
	e := NewWireError(Aborted, "m", Pairs("a", "1", "b", "2"))
	c := e.WithTrailer(Pairs("b", "3", "c", "4"))
	if !c.IsWire() || c.Code() != Aborted || c.Message() != "m" {
		t.Errorf("copy lost fields: %v", c)
	}
	if got := c.Trailer(); got.Get("a") != "1" || len(got.Values("b")) != 1 || got.Get("b") != "3" || got.Get("c") != "4" {
		t.Errorf("merged trailer = %v", got)
	}
	if e.Trailer().Get("b") != "2" || e.Trailer().Get("c") != "" {
		t.Errorf("original changed: %v", e.Trailer())
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", NewError(NotFound, "room"))
	if !errors.Is(err, NewError(NotFound, "")) || !errors.Is(err, NewError(NotFound, "room")) {
		t.Error("errors.Is does not match on code")
	}
	if errors.Is(err, NewError(NotFound, "other")) || errors.Is(err, NewError(Internal, "")) {
		t.Error("errors.Is matches wrong status")
	}
}

func TestCodeOfAndAsError(t *testing.T) {
	deadline := fmt.Errorf("op: %w", context.DeadlineExceeded)
	tests := []struct {
		err  error
		want Code
	}{
		{nil, OK},
		{NewError(NotFound, ""), NotFound},
		{fmt.Errorf("x: %w", NewWireError(Aborted, "", nil)), Aborted},
		{context.Canceled, Canceled},
		{deadline, DeadlineExceeded},
		{&SizeError{Size: 9, Max: 1}, ResourceExhausted},
		{ErrBadFlag, Internal},
		{errors.New("boom"), Unknown},
		{WrapError(Unavailable, context.Canceled), Unavailable},
	}
	for _, tt := range tests {
		if got := CodeOf(tt.err); got != tt.want {
			t.Errorf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
		e := AsError(tt.err)
		if tt.err == nil {
			if e != nil {
				t.Errorf("AsError(nil) = %v", e)
			}
			continue
		}
		if e.Code() != tt.want || e.Message() == "" && tt.err.Error() != "" && CodeOf(tt.err) == Unknown {
			t.Errorf("AsError(%v) = %v", tt.err, e)
		}
		if !errors.Is(e, tt.err) && !errors.Is(tt.err, e) {
			t.Errorf("AsError(%v) lost the original", tt.err)
		}
	}
	orig := NewError(NotFound, "x")
	if AsError(fmt.Errorf("w: %w", orig)) != orig {
		t.Error("AsError did not return the *Error in the chain")
	}
	if m := AsError(deadline).Message(); m != deadline.Error() {
		t.Errorf("AsError(deadline) message %q", m)
	}
}

func TestEncodeMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Hello", "Hello"},
		{"my favorite character is \u0000", "my favorite character is %00"},
		{"my favorite character is %", "my favorite character is %25"},
		{"\n\r\t~\x7f", "%0A%0D%09~%7F"},
		{"系统", "%E7%B3%BB%E7%BB%9F"},
		{"\u1234", "%E1%88%B4"},
		{"a\xffb", "a%EF%BF%BDb"}, // invalid UTF-8 becomes U+FFFD, as in grpc-go
		{"\xc3", "%EF%BF%BD"},
		{" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}", " !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}"},
	}
	for _, tt := range tests {
		if got := EncodeMessage(tt.in); got != tt.want {
			t.Errorf("EncodeMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for c := 0; c < 256; c++ {
		enc := EncodeMessage(string([]byte{byte(c)}))
		plain := c >= 0x20 && c <= 0x7e && c != '%'
		if plain != (len(enc) == 1) {
			t.Errorf("byte 0x%02x encoded as %q", c, enc)
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Hello", "Hello"},
		{"H%61o", "Hao"},
		{"H%6", "H%6"},
		{"%G0", "%G0"},
		{"%", "%"},
		{"%%41", "%A"},
		{"100%", "100%"},
		{"%4a%4A", "JJ"},
		{"%E7%B3%BB%E7%BB%9F", "系统"},
		{"%EF%BF%BD", "\uFFFD"},
		{"%FF", "\xff"},
		{"%+1x", "%+1x"},
		{"%_1", "%_1"},
	}
	for _, tt := range tests {
		if got := DecodeMessage(tt.in); got != tt.want {
			t.Errorf("DecodeMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for c := 0; c < 128; c++ {
		if got := DecodeMessage(fmt.Sprintf("%%%02X", c)); got != string(rune(c)) {
			t.Errorf("DecodeMessage(%%%02X) = %q", c, got)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{"", "Hello", "H%61o", "H%6", "%G0", "%E7%B3%BB", "a\xffb", "%", "100%25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := DecodeMessage(s) // never panics, never fails
		if !strings.Contains(s, "%") && d != s {
			t.Fatalf("DecodeMessage changed %q without %%", s)
		}
		enc := EncodeMessage(s)
		for i := 0; i < len(enc); i++ {
			if enc[i] < 0x20 || enc[i] > 0x7e {
				t.Fatalf("EncodeMessage(%q) = %q has byte 0x%02x", s, enc, enc[i])
			}
		}
		if utf8.ValidString(s) {
			if got := DecodeMessage(enc); got != s {
				t.Fatalf("DecodeMessage(EncodeMessage(%q)) = %q", s, got)
			}
		} else if !utf8.ValidString(DecodeMessage(enc)) {
			t.Fatalf("EncodeMessage(%q) does not decode to valid UTF-8", s)
		}
	})
}
