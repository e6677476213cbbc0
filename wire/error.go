package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is a gRPC status as a Go error: a [Code] other than OK, a message,
// the trailers that travel with it, and an optional cause. It is parley's
// one error type, used on both sides of a call:
//
//   - A handler returns an *Error to choose the status its caller sees; the
//     server sends Code and Message as grpc-status and grpc-message and
//     Trailer as custom trailer metadata.
//   - A client receives an *Error built with [NewWireError] from the peer's
//     trailers (or from an RST_STREAM, see [ErrorFromRSTStream]); IsWire
//     reports true for those, so a proxy or a handler can tell "the remote
//     end said NOT_FOUND" from "I decided NOT_FOUND here".
//
// The cause (see [WrapError]) is for local inspection with errors.Is and
// errors.As only; it never crosses the wire.
//
// An *Error is immutable except for the map returned by Trailer, which the
// creator may fill before handing the error on. Once shared (returned from a
// handler, stored, or sent to another goroutine) it is safe for concurrent
// reads only; use WithTrailer to derive a changed copy. All methods accept a
// nil *Error and then behave as for an empty status (code OK, no message).
type Error struct {
	code    Code
	msg     string
	trailer Metadata
	cause   error
	wire    bool
}

// NewError returns a local error with the given code and message.
//
// Code OK is not an error status: sending "grpc-status: 0" would make the
// failure look like success to the peer. NewError, Errorf, WrapError and
// NewWireError therefore replace OK with Unknown.
func NewError(code Code, msg string) *Error {
	return &Error{code: notOK(code), msg: msg, trailer: Metadata{}}
}

// Errorf returns a local error with the given code and a message formatted
// with fmt.Sprintf. Like fmt.Errorf it understands %w: the wrapped errors
// are reachable through Unwrap (and so errors.Is and errors.As), but, as
// with any cause, only the message text is sent to the peer.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{code: notOK(code), msg: err.Error(), trailer: Metadata{}}
	switch err.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		e.cause = err
	}
	return e
}

// WrapError returns a local error with the given code whose message is
// cause.Error() and whose Unwrap returns cause. A nil cause gives an empty
// message.
func WrapError(code Code, cause error) *Error {
	e := &Error{code: notOK(code), cause: cause, trailer: Metadata{}}
	if cause != nil {
		e.msg = cause.Error()
	}
	return e
}

// NewWireError returns an error that came from the peer: code and msg are the
// decoded grpc-status and grpc-message, trailer is the custom metadata of the
// trailers (kept, not copied; it may be nil). Runtimes use it when a call
// ends with a non-OK status; [StatusFromTrailer] calls it for you. Proxies
// may use it to forward a status unchanged.
func NewWireError(code Code, msg string, trailer Metadata) *Error {
	if trailer == nil {
		trailer = Metadata{}
	}
	return &Error{code: notOK(code), msg: msg, trailer: trailer, wire: true}
}

func notOK(c Code) Code {
	if c == OK {
		return Unknown
	}
	return c
}

// Code returns the status code; never OK for a non-nil *Error.
func (e *Error) Code() Code {
	if e == nil {
		return OK
	}
	return e.code
}

// Message returns the status message, without the code, unencoded.
func (e *Error) Message() string {
	if e == nil {
		return ""
	}
	return e.msg
}

// Trailer returns the custom trailer metadata of the status: for a wire
// error the trailers that came with it, for a local error the trailers to
// send with it. It never returns nil. For an error made by this package's
// constructors the returned map is the error's own, so its creator can add
// trailers before returning the error:
//
//	err := wire.NewError(wire.NotFound, "no such room")
//	err.Trailer().Set("room", name)
//	return err
//
// For a nil or zero Error it returns a new empty map that the error does not
// keep.
func (e *Error) Trailer() Metadata {
	if e == nil || e.trailer == nil {
		return Metadata{}
	}
	return e.trailer
}

// WithTrailer returns a copy of e whose trailers are e's with md merged in:
// every key of md replaces the values of that key in the copy, other keys
// are kept. e itself is not changed, and the copy shares no map or slice
// with e or md. The copy keeps e's code, message, cause and wire flag.
func (e *Error) WithTrailer(md Metadata) *Error {
	if e == nil {
		return nil
	}
	c := *e
	c.trailer = e.trailer.Clone()
	if c.trailer == nil {
		c.trailer = Metadata{}
	}
	for k, vs := range md {
		c.trailer.Set(k, vs...)
	}
	return &c
}

// IsWire reports whether the error was received from the peer (made by
// [NewWireError] or [ErrorFromRSTStream]) rather than created locally.
func (e *Error) IsWire() bool {
	return e != nil && e.wire
}

// Error returns "parley: CODE: message", or "parley: CODE" when the message
// is empty, where CODE is the canonical name (see [Code.String]).
func (e *Error) Error() string {
	if e == nil {
		return "parley: OK"
	}
	if e.msg == "" {
		return "parley: " + e.code.String()
	}
	return "parley: " + e.code.String() + ": " + e.msg
}

// Unwrap returns the cause given to [WrapError] (or the %w-wrapping error
// of [Errorf]), or nil.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.cause
}

// Is makes errors.Is match on status: target matches e when target is an
// *Error with the same code and either an empty message or the same
// message. So errors.Is(err, wire.NewError(wire.NotFound, "")) asks "did
// this fail with NOT_FOUND?". Trailers, causes and the wire flag are not
// compared.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || e == nil || t == nil {
		return false
	}
	return e.code == t.code && (t.msg == "" || t.msg == e.msg)
}

// IsWireError reports whether err is, or wraps, an *Error received from
// the peer.
func IsWireError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.IsWire()
}

// CodeOf returns the status code a call failing with err reports:
//
//   - nil: OK
//   - an *Error anywhere in err's chain: its code
//   - context.Canceled: Canceled; context.DeadlineExceeded: DeadlineExceeded
//   - *SizeError (a message over the size limit): ResourceExhausted
//   - ErrBadFlag (a corrupt message stream): Internal
//   - anything else: Unknown
//
// The first match in that order wins, so an *Error wrapping a context error
// keeps its own code.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return codeOfPlain(err)
}

func codeOfPlain(err error) Code {
	var se *SizeError
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.As(err, &se):
		return ResourceExhausted
	case errors.Is(err, ErrBadFlag):
		return Internal
	default:
		return Unknown
	}
}

// AsError converts any error to an *Error: nil gives nil; an *Error in err's
// chain is returned as is (the outer wrapping is dropped); any other error is
// wrapped with [WrapError] using the code [CodeOf] gives it (Canceled,
// DeadlineExceeded, ResourceExhausted, Internal or Unknown), so its message
// becomes the status message, as grpc-go's status.Convert does.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e
	}
	return WrapError(codeOfPlain(err), err)
}

// EncodeMessage percent-encodes a status message for the grpc-message
// trailer. From PROTOCOL-HTTP2.md:
//
//	Status-Message → "grpc-message" Percent-Encoded
//	Percent-Encoded → 1*(Percent-Byte-Unencoded / Percent-Byte-Encoded)
//	Percent-Byte-Unencoded → 1*( %x20-%x24 / %x26-%x7E ) ; space and VCHAR, except %
//	Percent-Byte-Encoded → "%" 2HEXDIGIT ; 0-9 A-F
//
// "The value portion of Status-Message is conceptually a Unicode string
// description of the error, physically encoded as UTF-8 followed by
// percent-encoding." Every byte outside 0x20..0x7E, and '%', becomes %XX
// with upper-case hex digits. As in grpc-go, bytes that are not valid UTF-8
// are first replaced by U+FFFD (sent as %EF%BF%BD), so the peer always gets
// valid UTF-8. A message that needs no encoding is returned without
// allocating.
func EncodeMessage(msg string) string {
	i := 0
	for i < len(msg) && isUnreservedMessageByte(msg[i]) {
		i++
	}
	if i == len(msg) {
		return msg
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(msg) + 2*(len(msg)-i))
	b.WriteString(msg[:i])
	for i < len(msg) {
		c := msg[i]
		if isUnreservedMessageByte(c) {
			b.WriteByte(c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(msg[i:])
		var enc [utf8.UTFMax]byte
		n := utf8.EncodeRune(enc[:], r) // RuneError for invalid input
		for _, x := range enc[:n] {
			b.WriteByte('%')
			b.WriteByte(hex[x>>4])
			b.WriteByte(hex[x&0xF])
		}
		i += size
	}
	return b.String()
}

func isUnreservedMessageByte(c byte) bool {
	return c >= 0x20 && c <= 0x7E && c != '%'
}

// DecodeMessage decodes a grpc-message value. It never fails: "When decoding
// invalid values, implementations MUST NOT error or throw away the message
// ... the implementation can decode valid portions while leaving broken
// %-encodings as-is" (PROTOCOL-HTTP2.md). Like grpc-go it decodes every '%'
// followed by two hex digits (either case) and copies anything else,
// including a '%' without two hex digits after it, literally. The result is
// not checked for UTF-8 validity. A value without '%' is returned without
// allocating.
func DecodeMessage(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
