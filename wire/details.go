package wire

import (
	"errors"
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
// accepts fields in any order; it fails with ErrMalformedProto on a
// truncated field, a varint longer than 10 bytes, a field number 0, a group
// wire type, or a known field with the wrong wire type. The returned
// details' Values are copies, not aliases of b. Strings are not checked for
// UTF-8 validity.
func ParseStatusProto(b []byte) (code Code, msg string, details []Detail, err error) {
	err = walkProto(b, func(num int, typ int, v uint64, p []byte) error {
		switch num {
		case 1:
			if typ != int(protowire.VarintType) {
				return ErrMalformedProto
			}
			code = Code(uint32(v)) // int32: the low 32 bits
		case 2:
			if typ != int(protowire.BytesType) {
				return ErrMalformedProto
			}
			msg = string(p)
		case 3:
			if typ != int(protowire.BytesType) {
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
	err := walkProto(b, func(num int, typ int, _ uint64, p []byte) error {
		switch num {
		case 1:
			if typ != int(protowire.BytesType) {
				return ErrMalformedProto
			}
			d.TypeURL = string(p)
		case 2:
			if typ != int(protowire.BytesType) {
				return ErrMalformedProto
			}
			d.Value = append([]byte(nil), p...)
		}
		return nil
	})
	return d, err
}

// WalkProto calls fn for every field of a protobuf-encoded message, in
// order: its field number and wire type, and its value, a varint (wire
// types 0, 1 and 5, the fixed ones read little-endian) or the bytes of a
// length-delimited field (wire type 2, aliasing b). It stops at the first
// error fn returns, and fails with ErrMalformedProto on bytes that are not
// a sequence of well-formed fields (groups, wire types 3 and 4, are
// rejected). It is the building block for hand-written protobuf decoders
// such as the health service's.
func WalkProto(b []byte, fn func(num, typ int, v uint64, p []byte) error) error {
	return walkProto(b, fn)
}

func walkProto(b []byte, fn func(num, typ int, v uint64, p []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ErrMalformedProto
		}
		b = b[n:]
		var v uint64
		var p []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.BytesType:
			p, n = protowire.ConsumeBytes(b)
		default: // groups
			return ErrMalformedProto
		}
		if n < 0 {
			return ErrMalformedProto
		}
		b = b[n:]
		if err := fn(int(num), int(typ), v, p); err != nil {
			return err
		}
	}
	return nil
}
