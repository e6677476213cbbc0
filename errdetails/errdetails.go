package errdetails

import (
	"fmt"

	"github.com/parleyrpc/parley/wire"
)

// Message is one of this package's detail types: it encodes itself in
// protobuf and names its protobuf type.
type Message interface {
	wire.ProtoMessage
	// ProtoName returns the message's fully qualified protobuf name, e.g.
	// "google.rpc.ErrorInfo".
	ProtoName() string
}

// TypeURLPrefix is the prefix of the type URL of a protobuf detail, as
// protobuf's Any and grpc-go write it.
const TypeURLPrefix = "type.googleapis.com/"

// Pack encodes m as an error detail, with the type URL
// "type.googleapis.com/" + m.ProtoName(): the form grpc-go's
// status.WithDetails writes and its status.Details reads.
//
//	err := wire.NewError(wire.InvalidArgument, "bad nick").WithDetails(
//		errdetails.MustPack(&errdetails.BadRequest{FieldViolations: []errdetails.FieldViolation{{Field: "nick", Description: "empty"}}}),
//	)
func Pack(m Message) (wire.Detail, error) {
	b, err := m.AppendProto(nil)
	if err != nil {
		return wire.Detail{}, err
	}
	return wire.Detail{TypeURL: TypeURLPrefix + m.ProtoName(), Value: b}, nil
}

// MustPack is Pack for messages that cannot fail to encode, which is all
// of this package's: it panics on an error.
func MustPack(m Message) wire.Detail {
	d, err := Pack(m)
	if err != nil {
		panic(err)
	}
	return d
}

// Unpack decodes a detail whose type is one of this package's, found by
// the type name at the end of its type URL, and returns a pointer to it
// (*ErrorInfo, *RetryInfo, ...). It fails for other types, and with an
// error wrapping wire.ErrMalformedProto when the bytes do not decode.
func Unpack(d wire.Detail) (Message, error) {
	m := newMessage(d.TypeName())
	if m == nil {
		return nil, fmt.Errorf("errdetails: unknown detail type %q", d.TypeURL)
	}
	if err := m.UnmarshalProto(d.Value); err != nil {
		return nil, fmt.Errorf("errdetails: %s: %w", m.ProtoName(), err)
	}
	return m, nil
}

// UnpackAll decodes the details of err, if err is or wraps a *wire.Error
// that carries any, into this package's types. Details of other types, or
// that do not decode, are left out; use Unpack on err's Details to see
// them.
func UnpackAll(err error) []Message {
	e := wire.AsError(err)
	if e == nil {
		return nil
	}
	var out []Message
	for _, d := range e.Details() {
		if m, err := Unpack(d); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// newMessage returns a new message of the type named name, if it is one
// of this package's, else nil.
func newMessage(name string) Message {
	if n := messages[name]; n != nil {
		return n()
	}
	return nil
}

// messages makes each of this package's types, by its protobuf name.
var messages = byName(
	newOf[ErrorInfo], newOf[RetryInfo], newOf[DebugInfo], newOf[QuotaFailure], newOf[PreconditionFailure],
	newOf[BadRequest], newOf[RequestInfo], newOf[ResourceInfo], newOf[Help], newOf[LocalizedMessage],
)

// newOf returns a new T as a Message.
func newOf[T any, P interface {
	*T
	Message
}]() Message {
	return P(new(T))
}

// byName indexes the constructors by the ProtoName of what they make.
func byName(news ...func() Message) map[string]func() Message {
	m := make(map[string]func() Message, len(news))
	for _, n := range news {
		m[n().ProtoName()] = n
	}
	return m
}
