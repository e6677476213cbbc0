package parleyimpl

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// ProtoMaxDepth is how deeply messages may nest in a protobuf message that
// generated code decodes: 10,000 levels, protobuf-go's limit. Generated
// UnmarshalProto methods start from it and pass one less to each nested
// message's MergeProto.
const ProtoMaxDepth = 10000

// ErrProtoTooDeep is wrapped by the error of a generated MergeProto
// called with no depth left: the message nests deeper than ProtoMaxDepth.
// It wraps wire.ErrMalformedProto.
var ErrProtoTooDeep = fmt.Errorf("%w: messages nested more than %d deep", wire.ErrMalformedProto, ProtoMaxDepth)

// DecodeProtoFields calls field for every field of the protobuf-encoded
// message b, in order, with its number, its wire type and its value: v
// for varint and fixed-size fields (a fixed32 zero-extended), p for
// length-delimited ones (aliasing b: field must copy what it keeps).
// Groups (wire types 3 and 4) are skipped, as fields no proto3 message
// declares. It stops at the first error field returns, and fails with an
// error wrapping wire.ErrMalformedProto on bytes that are not a sequence
// of well-formed fields. It is wire.WalkProto, under the name generated
// code calls.
//
// field does not escape, so the closure generated code passes stays on
// the stack. A field whose wire type is not the one its declaration
// implies is treated as unknown by generated code (skipped), as
// protobuf-go does.
func DecodeProtoFields(b []byte, field func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error) error {
	return wire.WalkProto(b, field)
}

// ProtoTooDeep returns the error of a MergeProto called with no depth
// left, naming the message.
func ProtoTooDeep(message string) error {
	return fmt.Errorf("%s: %w", message, ErrProtoTooDeep)
}

// EndLen finishes a length-delimited value (a message, a map entry)
// appended to b after its tag and one reserved byte at b[pos]: it writes
// the value's length there. Generated code writes
//
//	pos := len(b)
//	b = append(b, 0)
//	... append the value ...
//	b = parleyimpl.EndLen(b, pos)
//
// Most values are shorter than 128 bytes, and their length then fits the
// reserved byte; a longer value is moved up by the few bytes its length
// needs, so the result is the minimal encoding protobuf-go writes.
func EndLen(b []byte, pos int) []byte {
	n := len(b) - pos - 1
	if n < 0x80 {
		b[pos] = byte(n)
		return b
	}
	size := protowire.SizeVarint(uint64(n))
	for range size - 1 {
		b = append(b, 0)
	}
	copy(b[pos+size:], b[pos+1:pos+1+n])
	protowire.AppendVarint(b[pos:pos], uint64(n))
	return b
}

// ErrInvalidUTF8 is wrapped by the errors of generated code for a string
// field that is not valid UTF-8, which proto3 forbids (protobuf-go
// refuses to encode or decode one too). It wraps wire.ErrMalformedProto.
var ErrInvalidUTF8 = fmt.Errorf("%w: string field is not valid UTF-8", wire.ErrMalformedProto)

// AppendProtoString appends field num holding s, which must be valid
// UTF-8 (else it returns b and ErrInvalidUTF8).
func AppendProtoString(b []byte, num protowire.Number, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return b, ErrInvalidUTF8
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s), nil
}

// ProtoString returns the string field value p, which must be valid
// UTF-8 (else ErrInvalidUTF8).
func ProtoString(p []byte) (string, error) {
	if !utf8.Valid(p) {
		return "", ErrInvalidUTF8
	}
	return string(p), nil
}

// AppendProtoTimestamp appends field num holding t as a
// google.protobuf.Timestamp: seconds and nanoseconds since the Unix epoch,
// each omitted when zero.
func AppendProtoTimestamp(b []byte, num protowire.Number, t time.Time) []byte {
	return appendSecondsNanos(b, num, t.Unix(), int32(t.Nanosecond()))
}

// AppendProtoDuration appends field num holding d as a
// google.protobuf.Duration: whole seconds and the nanoseconds left, both
// of d's sign.
func AppendProtoDuration(b []byte, num protowire.Number, d time.Duration) []byte {
	return appendSecondsNanos(b, num, int64(d/time.Second), int32(d%time.Second))
}

func appendSecondsNanos(b []byte, num protowire.Number, s int64, n int32) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	pos := len(b)
	b = append(b, 0)
	b = wire.AppendSecondsNanosProto(b, s, n)
	return EndLen(b, pos)
}

// ProtoTimestamp decodes a google.protobuf.Timestamp message into the
// time.Time it stands for, as msgpack's timestamp decoding does
// (time.Unix, in the local zone).
func ProtoTimestamp(p []byte) (time.Time, error) {
	s, n, err := wire.ParseSecondsNanosProto(p)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(s, int64(n)), nil
}

// ErrDurationRange is wrapped by the error of ProtoDuration for a
// google.protobuf.Duration outside time.Duration's range (about ±292
// years).
var ErrDurationRange = errors.New("parley: google.protobuf.Duration out of time.Duration's range")

// ProtoDuration decodes a google.protobuf.Duration message.
func ProtoDuration(p []byte) (time.Duration, error) {
	s, n, err := wire.ParseSecondsNanosProto(p)
	if err != nil {
		return 0, err
	}
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	if s > maxSeconds || s < -maxSeconds {
		return 0, ErrDurationRange
	}
	d := time.Duration(s) * time.Second
	if (n > 0 && d > math.MaxInt64-time.Duration(n)) || (n < 0 && d < math.MinInt64-time.Duration(n)) {
		return 0, ErrDurationRange
	}
	return d + time.Duration(n), nil
}

// FieldError returns err, a failure to encode or decode the field or
// message named name (a full proto name), annotated with that name: its
// message is "name: " and err's. Nested fields' errors accumulate their
// names in one error rather than wrapping once per level, so failing at
// ProtoMaxDepth costs time linear in the depth, and the message lists at
// most 16 names. errors.Is and errors.As see err.
func FieldError(name string, err error) error {
	if fe, ok := err.(*fieldError); ok {
		fe.names = append(fe.names, name)
		return fe
	}
	return &fieldError{names: []string{name}, err: err}
}

// fieldError is the error FieldError builds; names are innermost first.
type fieldError struct {
	names []string
	err   error
}

func (e *fieldError) Error() string {
	var b []byte
	n := len(e.names)
	for i := n - 1; i >= 0; i-- {
		if n > 16 && i == n-9 {
			b = fmt.Appendf(b, "(%d more): ", n-16)
			i = 7
		}
		b = append(b, e.names[i]...)
		b = append(b, ": "...)
	}
	return string(append(b, e.err.Error()...))
}

func (e *fieldError) Unwrap() error { return e.err }
