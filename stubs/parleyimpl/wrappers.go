package parleyimpl

import (
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"google.golang.org/protobuf/encoding/protowire"
)

// The wrapper types (google.protobuf.Int64Value and the rest) map to
// pointers (*int64, ...), nil meaning null, and BytesValue to []byte, nil
// meaning null. In msgpack a wrapper is its value (or nil); in protobuf it
// is a message whose field 1 holds the value, omitted when zero. Generated
// code calls the functions below: Encode* and Decode* for msgpack (msgpack
// nil decodes as nil), AppendProto* and Proto* for protobuf.

// appendWrapper appends field num holding a wrapper message whose value
// (field 1) is appended by value, unless zero.
func appendWrapper(b []byte, num protowire.Number, zero bool, value func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	if zero {
		return append(b, 0)
	}
	pos := len(b)
	b = append(b, 0)
	b = value(b)
	return EndLen(b, pos)
}

// wrapped returns field 1 of a wrapper message if it has wire type typ
// (the last one, as protobuf's last-wins rule says).
func wrapped(p []byte, typ protowire.Type) (v uint64, bytes []byte, err error) {
	err = DecodeProtoFields(p, func(num protowire.Number, t protowire.Type, x uint64, q []byte) error {
		if num == 1 && t == typ {
			v, bytes = x, q
		}
		return nil
	})
	return v, bytes, err
}

// AppendProtoDoubleValue appends field num holding *v as a DoubleValue.
func AppendProtoDoubleValue(b []byte, num protowire.Number, v *float64) []byte {
	x := deref(v)
	return appendWrapper(b, num, math.Float64bits(x) == 0, func(b []byte) []byte {
		return protowire.AppendFixed64(append(b, 0x09), math.Float64bits(x))
	})
}

// AppendProtoFloatValue appends field num holding *v as a FloatValue.
func AppendProtoFloatValue(b []byte, num protowire.Number, v *float32) []byte {
	x := deref(v)
	return appendWrapper(b, num, math.Float32bits(x) == 0, func(b []byte) []byte {
		return protowire.AppendFixed32(append(b, 0x0d), math.Float32bits(x))
	})
}

// AppendProtoInt64Value appends field num holding *v as an Int64Value.
func AppendProtoInt64Value(b []byte, num protowire.Number, v *int64) []byte {
	x := deref(v)
	return appendWrapper(b, num, x == 0, func(b []byte) []byte { return protowire.AppendVarint(append(b, 0x08), uint64(x)) })
}

// AppendProtoUInt64Value appends field num holding *v as a UInt64Value.
func AppendProtoUInt64Value(b []byte, num protowire.Number, v *uint64) []byte {
	x := deref(v)
	return appendWrapper(b, num, x == 0, func(b []byte) []byte { return protowire.AppendVarint(append(b, 0x08), x) })
}

// AppendProtoInt32Value appends field num holding *v as an Int32Value.
func AppendProtoInt32Value(b []byte, num protowire.Number, v *int32) []byte {
	x := deref(v)
	return appendWrapper(b, num, x == 0, func(b []byte) []byte { return protowire.AppendVarint(append(b, 0x08), uint64(int64(x))) })
}

// AppendProtoUInt32Value appends field num holding *v as a UInt32Value.
func AppendProtoUInt32Value(b []byte, num protowire.Number, v *uint32) []byte {
	x := deref(v)
	return appendWrapper(b, num, x == 0, func(b []byte) []byte { return protowire.AppendVarint(append(b, 0x08), uint64(x)) })
}

// AppendProtoBoolValue appends field num holding *v as a BoolValue.
func AppendProtoBoolValue(b []byte, num protowire.Number, v *bool) []byte {
	x := deref(v)
	return appendWrapper(b, num, !x, func(b []byte) []byte { return append(b, 0x08, 1) })
}

// AppendProtoStringValue appends field num holding *v as a StringValue;
// the string must be UTF-8.
func AppendProtoStringValue(b []byte, num protowire.Number, v *string) ([]byte, error) {
	x := deref(v)
	var err error
	b = appendWrapper(b, num, x == "", func(b []byte) []byte {
		b, err = AppendProtoString(b, 1, x)
		return b
	})
	return b, err
}

// AppendProtoBytesValue appends field num holding v as a BytesValue.
func AppendProtoBytesValue(b []byte, num protowire.Number, v []byte) []byte {
	return appendWrapper(b, num, len(v) == 0, func(b []byte) []byte { return protowire.AppendBytes(append(b, 0x0a), v) })
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// protoScalarValue decodes a wrapper message whose value has wire type
// typ, converted by conv.
func protoScalarValue[T any](p []byte, typ protowire.Type, conv func(uint64) T) (*T, error) {
	v, _, err := wrapped(p, typ)
	x := conv(v)
	return &x, err
}

// ProtoDoubleValue decodes a DoubleValue message.
func ProtoDoubleValue(p []byte) (*float64, error) {
	return protoScalarValue(p, protowire.Fixed64Type, math.Float64frombits)
}

// ProtoFloatValue decodes a FloatValue message.
func ProtoFloatValue(p []byte) (*float32, error) {
	return protoScalarValue(p, protowire.Fixed32Type, func(v uint64) float32 { return math.Float32frombits(uint32(v)) })
}

// ProtoInt64Value decodes an Int64Value message.
func ProtoInt64Value(p []byte) (*int64, error) {
	return protoScalarValue(p, protowire.VarintType, func(v uint64) int64 { return int64(v) })
}

// ProtoUInt64Value decodes a UInt64Value message.
func ProtoUInt64Value(p []byte) (*uint64, error) {
	return protoScalarValue(p, protowire.VarintType, func(v uint64) uint64 { return v })
}

// ProtoInt32Value decodes an Int32Value message.
func ProtoInt32Value(p []byte) (*int32, error) {
	return protoScalarValue(p, protowire.VarintType, func(v uint64) int32 { return int32(v) })
}

// ProtoUInt32Value decodes a UInt32Value message.
func ProtoUInt32Value(p []byte) (*uint32, error) {
	return protoScalarValue(p, protowire.VarintType, func(v uint64) uint32 { return uint32(v) })
}

// ProtoBoolValue decodes a BoolValue message.
func ProtoBoolValue(p []byte) (*bool, error) {
	return protoScalarValue(p, protowire.VarintType, func(v uint64) bool { return v != 0 })
}

// ProtoStringValue decodes a StringValue message.
func ProtoStringValue(p []byte) (*string, error) {
	_, q, err := wrapped(p, protowire.BytesType)
	if err != nil {
		return nil, err
	}
	s, err := ProtoString(q)
	return &s, err
}

// ProtoBytesValue decodes a BytesValue message; the result is not nil.
func ProtoBytesValue(p []byte) ([]byte, error) {
	_, q, err := wrapped(p, protowire.BytesType)
	return append([]byte{}, q...), err
}

// encodeWrapper writes *v with encode, or nil for a nil v.
func encodeWrapper[T any](e *msgpack.Encoder, v *T, encode func(T) error) error {
	if v == nil {
		return e.EncodeNil()
	}
	return encode(*v)
}

// EncodeMsgpackDoubleValue writes a DoubleValue: its value, or nil.
func EncodeMsgpackDoubleValue(e *msgpack.Encoder, v *float64) error {
	return encodeWrapper(e, v, e.EncodeFloat64)
}

// EncodeMsgpackFloatValue writes a FloatValue: its value, or nil.
func EncodeMsgpackFloatValue(e *msgpack.Encoder, v *float32) error {
	return encodeWrapper(e, v, e.EncodeFloat32)
}

// EncodeMsgpackInt64Value writes an Int64Value: its value, or nil.
func EncodeMsgpackInt64Value(e *msgpack.Encoder, v *int64) error {
	return encodeWrapper(e, v, e.EncodeInt)
}

// EncodeMsgpackInt32Value writes an Int32Value: its value, or nil.
func EncodeMsgpackInt32Value(e *msgpack.Encoder, v *int32) error {
	return encodeWrapper(e, v, func(x int32) error { return e.EncodeInt(int64(x)) })
}

// EncodeMsgpackUInt64Value writes a UInt64Value: its value, or nil.
func EncodeMsgpackUInt64Value(e *msgpack.Encoder, v *uint64) error {
	return encodeWrapper(e, v, e.EncodeUint)
}

// EncodeMsgpackUInt32Value writes a UInt32Value: its value, or nil.
func EncodeMsgpackUInt32Value(e *msgpack.Encoder, v *uint32) error {
	return encodeWrapper(e, v, func(x uint32) error { return e.EncodeUint(uint64(x)) })
}

// EncodeMsgpackBoolValue writes a BoolValue: its value, or nil.
func EncodeMsgpackBoolValue(e *msgpack.Encoder, v *bool) error {
	return encodeWrapper(e, v, e.EncodeBool)
}

// EncodeMsgpackStringValue writes a StringValue: its value, or nil.
func EncodeMsgpackStringValue(e *msgpack.Encoder, v *string) error {
	return encodeWrapper(e, v, e.EncodeString)
}

// EncodeMsgpackBytesValue writes a BytesValue: its value, or nil.
func EncodeMsgpackBytesValue(e *msgpack.Encoder, v []byte) error {
	if v == nil {
		return e.EncodeNil()
	}
	return e.EncodeBytes(v)
}

// nilNext reports whether the next value in d is msgpack nil.
func nilNext(d *msgpack.Decoder) bool {
	c, err := d.PeekCode()
	return err == nil && c == msgpcode.Nil
}

// decodeWrapper reads a wrapper's value with decode, or nil for msgpack
// nil.
func decodeWrapper[T any](d *msgpack.Decoder, decode func() (T, error)) (*T, error) {
	if nilNext(d) {
		return nil, d.Skip()
	}
	x, err := decode()
	return &x, err
}

// DecodeMsgpackDoubleValue reads a DoubleValue (any msgpack number).
func DecodeMsgpackDoubleValue(d *msgpack.Decoder) (*float64, error) {
	return decodeWrapper(d, d.DecodeFloat64)
}

// DecodeMsgpackFloatValue reads a FloatValue (any msgpack number).
func DecodeMsgpackFloatValue(d *msgpack.Decoder) (*float32, error) {
	return decodeWrapper(d, func() (float32, error) {
		x, err := d.DecodeFloat64()
		return float32(x), err
	})
}

// DecodeMsgpackInt64Value reads an Int64Value.
func DecodeMsgpackInt64Value(d *msgpack.Decoder) (*int64, error) {
	return decodeWrapper(d, d.DecodeInt64)
}

// DecodeMsgpackInt32Value reads an Int32Value.
func DecodeMsgpackInt32Value(d *msgpack.Decoder) (*int32, error) {
	return decodeWrapper(d, d.DecodeInt32)
}

// DecodeMsgpackUInt64Value reads a UInt64Value.
func DecodeMsgpackUInt64Value(d *msgpack.Decoder) (*uint64, error) {
	return decodeWrapper(d, d.DecodeUint64)
}

// DecodeMsgpackUInt32Value reads a UInt32Value.
func DecodeMsgpackUInt32Value(d *msgpack.Decoder) (*uint32, error) {
	return decodeWrapper(d, d.DecodeUint32)
}

// DecodeMsgpackBoolValue reads a BoolValue.
func DecodeMsgpackBoolValue(d *msgpack.Decoder) (*bool, error) {
	return decodeWrapper(d, d.DecodeBool)
}

// DecodeMsgpackStringValue reads a StringValue.
func DecodeMsgpackStringValue(d *msgpack.Decoder) (*string, error) {
	return decodeWrapper(d, d.DecodeString)
}

// DecodeMsgpackBytesValue reads a BytesValue; the result is not nil
// unless the value is msgpack nil.
func DecodeMsgpackBytesValue(d *msgpack.Decoder) ([]byte, error) {
	if nilNext(d) {
		return nil, d.Skip()
	}
	x, err := d.DecodeBytes()
	if x == nil && err == nil {
		x = []byte{}
	}
	return x, err
}
