package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Rich error details, interoperable with grpc-go's status.WithDetails.
//
// gRPC carries them in the trailer "grpc-status-details-bin"
// ([HeaderStatusDetails]) as a serialized google.rpc.Status protobuf:
//
//	message Status {
//	  int32 code = 1;                          // the grpc-status code
//	  string message = 2;                      // the grpc-message, unencoded
//	  repeated google.protobuf.Any details = 3;
//	}
//	message Any {
//	  string type_url = 1;                     // ".../fully.qualified.Name"
//	  bytes value = 2;                         // the detail's encoding
//	}
//
// parley encodes and decodes these two messages with protowire's
// primitives (google.golang.org/protobuf/encoding/protowire), without
// generated protobuf code. The status travels as ordinary binary
// trailer metadata, so an *Error with details is just an *Error whose
// Trailer holds grpc-status-details-bin: the server sends it with the other
// trailers, the client gets it back in the trailers of the wire error, and
// [Error.Details] decodes it.

// Detail is one error detail: a google.protobuf.Any, a type URL naming the
// detail's type and the detail's encoded bytes.
type Detail struct {
	// TypeURL names the type of Value, e.g.
	// "type.googleapis.com/google.rpc.ErrorInfo" for a protobuf message or
	// MsgpackTypeURLPrefix+"pkg.Name" for a msgpack one (see PackMsgpack).
	TypeURL string
	// Value is the detail's encoding: protobuf bytes for a protobuf type
	// URL, msgpack bytes for a parley msgpack type URL.
	Value []byte
}

// TypeName returns the part of the type URL after its last "/": the
// detail's fully qualified type name, as protobuf's Any resolves it.
func (d Detail) TypeName() string {
	return d.TypeURL[strings.LastIndexByte(d.TypeURL, '/')+1:]
}

// MsgpackTypeURLPrefix prefixes the type URL of a detail whose Value is
// msgpack, made by [PackMsgpack].
//
// The choice: parley details are msgpack, not protobuf, so they must not
// claim "type.googleapis.com/", whose consumers decode Value as protobuf.
// A grpc-go peer keeps such a detail as an Any it cannot resolve (its
// status.Details lists an error for it unless a protobuf type of the same
// name is registered) and passes it on unchanged; parley and any msgpack
// reader unpack it with [UnpackMsgpack]. To send a detail that grpc-go
// applications read natively, build a Detail with a
// "type.googleapis.com/..." URL and protobuf bytes yourself.
const MsgpackTypeURLPrefix = "type.parleyrpc.dev/msgpack/"

// PackMsgpack encodes v with [Msgpack] as a detail of type typeName (a
// fully qualified name such as "chat.v1.RoomFull"), with the type URL
// MsgpackTypeURLPrefix + typeName.
func PackMsgpack(typeName string, v any) (Detail, error) {
	b, err := Msgpack.Marshal(v)
	if err != nil {
		return Detail{}, err
	}
	return Detail{TypeURL: MsgpackTypeURLPrefix + typeName, Value: b}, nil
}

// UnpackMsgpack decodes a detail made by [PackMsgpack] into v, a non-nil
// pointer. It fails if the detail's type URL is not a parley msgpack one.
func UnpackMsgpack(d Detail, v any) error {
	if !strings.HasPrefix(d.TypeURL, MsgpackTypeURLPrefix) {
		return errors.New("parley: detail " + d.TypeURL + " is not a msgpack detail")
	}
	return Msgpack.Unmarshal(d.Value, v)
}

// WithDetails returns a copy of e that carries details after any it already
// has: its trailers get grpc-status-details-bin holding a google.rpc.Status
// with e's code and message and all the details. e is not changed. As with
// any trailer, the details go to the peer when the error ends a call.
func (e *Error) WithDetails(details ...Detail) *Error {
	if e == nil {
		return nil
	}
	all := append(e.Details(), details...)
	st := AppendStatusProto(nil, e.Code(), e.Message(), all)
	return e.WithTrailer(Metadata{HeaderStatusDetails: {string(st)}})
}

// Details returns the error details carried in e's grpc-status-details-bin
// trailer: the ones added with WithDetails, or those a peer (parley or
// grpc-go) sent. It returns nil when there are none or the trailer does not
// parse. The code inside the google.rpc.Status is not compared with e's
// (grpc-go fails such a call with INTERNAL; use ParseStatusProto to check).
func (e *Error) Details() []Detail {
	v := e.Trailer().Get(HeaderStatusDetails)
	if v == "" {
		return nil
	}
	_, _, details, err := ParseStatusProto([]byte(v))
	if err != nil {
		return nil
	}
	return details
}

// AppendStatusProto appends the protobuf encoding of a google.rpc.Status
// to dst. Fields are written in field-number order and zero values are
// omitted, as proto3 serializers do; a message that is not valid UTF-8 has
// its invalid bytes replaced by U+FFFD, since proto3 strings must be UTF-8.
func AppendStatusProto(dst []byte, code Code, msg string, details []Detail) []byte {
	if code != 0 {
		dst = protowire.AppendTag(dst, 1, protowire.VarintType)
		// int32: negative values are sign-extended to 64 bits.
		dst = protowire.AppendVarint(dst, uint64(int64(int32(code))))
	}
	if msg != "" {
		if !utf8.ValidString(msg) {
			msg = strings.ToValidUTF8(msg, "\uFFFD")
		}
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendString(dst, msg)
	}
	for _, d := range details {
		n := 0
		if d.TypeURL != "" {
			n += protowire.SizeTag(1) + protowire.SizeBytes(len(d.TypeURL))
		}
		if len(d.Value) > 0 {
			n += protowire.SizeTag(2) + protowire.SizeBytes(len(d.Value))
		}
		dst = protowire.AppendTag(dst, 3, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(n))
		if d.TypeURL != "" {
			dst = protowire.AppendTag(dst, 1, protowire.BytesType)
			dst = protowire.AppendString(dst, d.TypeURL)
		}
		if len(d.Value) > 0 {
			dst = protowire.AppendTag(dst, 2, protowire.BytesType)
			dst = protowire.AppendBytes(dst, d.Value)
		}
	}
	return dst
}

// ErrMalformedProto reports bytes that are not a valid protobuf encoding of
// the expected message.
var ErrMalformedProto = errors.New("parley: malformed protobuf")

// ParseStatusProto decodes a google.rpc.Status. As protobuf parsers do, it
// skips unknown fields, lets the last of a repeated scalar field win, and
// accepts fields in any order, and skips groups whole; it fails with
// ErrMalformedProto on a truncated field, a varint longer than 10 bytes, a
// field number 0, an unterminated group, or a known field with the wrong
// wire type. The returned
// details' Values are copies, not aliases of b. Strings are not checked for
// UTF-8 validity.
func ParseStatusProto(b []byte) (code Code, msg string, details []Detail, err error) {
	err = WalkProto(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error {
		switch num {
		case 1:
			if typ != protowire.VarintType {
				return ErrMalformedProto
			}
			code = Code(uint32(v)) // int32: the low 32 bits
		case 2:
			if typ != protowire.BytesType {
				return ErrMalformedProto
			}
			msg = string(p)
		case 3:
			if typ != protowire.BytesType {
				return ErrMalformedProto
			}
			d, err := parseAny(p)
			if err != nil {
				return err
			}
			details = append(details, d)
		}
		return nil
	})
	if err != nil {
		return 0, "", nil, err
	}
	return code, msg, details, nil
}

func parseAny(b []byte) (Detail, error) {
	var d Detail
	err := WalkProto(b, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		switch num {
		case 1:
			if typ != protowire.BytesType {
				return ErrMalformedProto
			}
			d.TypeURL = string(p)
		case 2:
			if typ != protowire.BytesType {
				return ErrMalformedProto
			}
			d.Value = append([]byte(nil), p...)
		}
		return nil
	})
	return d, err
}

// WalkProto calls fn for every field of a protobuf-encoded message, in
// order, with its number, its wire type and its value: v for varint and
// fixed-size fields (the fixed ones read little-endian, a fixed32
// zero-extended), p for length-delimited ones (aliasing b: fn must copy
// what it keeps). Groups (wire types 3 and 4), which no proto3 message
// declares, are skipped whole as unknown fields, as protobuf-go skips
// them; fn is not called for them. WalkProto stops at the first error fn
// returns, and fails with an error wrapping ErrMalformedProto on bytes
// that are not a sequence of well-formed fields (a truncated field, a
// varint longer than 10 bytes, field number 0, an unterminated or
// mismatched group).
//
// It is the one protobuf field walker of parley: the health and
// reflection services, errdetails and generated code (through
// parleyimpl.DecodeProtoFields) decode with it. fn does not escape, so a
// closure passed to it stays on the stack.
func WalkProto(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return malformedProto(n)
		}
		b = b[n:]
		var v uint64
		var p []byte
		switch typ {
		case protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type:
			v, n = ConsumeProtoScalar(typ, b)
		case protowire.BytesType:
			p, n = protowire.ConsumeBytes(b)
		default: // a group, skipped to its matching end, or an invalid wire type
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return malformedProto(n)
			}
			b = b[n:]
			continue
		}
		if n < 0 {
			return malformedProto(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, p); err != nil {
			return err
		}
	}
	return nil
}

// ConsumeProtoScalar reads one value of the scalar wire type typ from the
// front of b: a varint, a fixed32 (zero-extended) or a fixed64, the fixed
// ones little-endian. It returns the value and how many bytes it read, or
// a negative n, a protowire error code (see protowire.ParseError), when b
// does not begin with such a value. It is how WalkProto reads a scalar
// field's value, and how generated code reads each element of a packed
// repeated field. It panics if typ is not VarintType, Fixed32Type or
// Fixed64Type.
func ConsumeProtoScalar(typ protowire.Type, b []byte) (v uint64, n int) {
	switch typ {
	case protowire.VarintType:
		return protowire.ConsumeVarint(b)
	case protowire.Fixed32Type:
		v32, n := protowire.ConsumeFixed32(b)
		return uint64(v32), n
	case protowire.Fixed64Type:
		return protowire.ConsumeFixed64(b)
	}
	panic(fmt.Sprintf("wire: ConsumeProtoScalar of wire type %d, not a scalar", typ))
}

// malformedProto is WalkProto's error for a protowire parse failure n.
func malformedProto(n int) error {
	return fmt.Errorf("%w: %v", ErrMalformedProto, protowire.ParseError(n))
}
