package parleyimpl

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/wire"
)

// The packed encoders append a repeated scalar field as protobuf-go does:
// nothing for an empty list, else one length-delimited field holding
// every element (proto3 packs repeated scalars by default). The decoders
// append to s the elements of one occurrence of the field, accepting the
// packed form and one unpacked element alike, as protobuf parsers must;
// an occurrence of another wire type is ignored (an unknown field).

// appendPackedLen appends the tag of field num, a packed list, and its
// length, size bytes.
func appendPackedLen(b []byte, num protowire.Number, size int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(size))
}

// appendPackedVarints appends s packed as varints.
func appendPackedVarints[T any](b []byte, num protowire.Number, s []T, conv func(T) uint64) []byte {
	if len(s) == 0 {
		return b
	}
	n := 0
	for _, x := range s {
		n += protowire.SizeVarint(conv(x))
	}
	b = appendPackedLen(b, num, n)
	for _, x := range s {
		b = protowire.AppendVarint(b, conv(x))
	}
	return b
}

// appendPackedFixed appends s packed as fixed-size values of size bytes,
// 4 (fixed32) or 8 (fixed64).
func appendPackedFixed[T any](b []byte, num protowire.Number, s []T, size int, conv func(T) uint64) []byte {
	if len(s) == 0 {
		return b
	}
	b = appendPackedLen(b, num, size*len(s))
	for _, x := range s {
		if size == 4 {
			b = protowire.AppendFixed32(b, uint32(conv(x)))
		} else {
			b = protowire.AppendFixed64(b, conv(x))
		}
	}
	return b
}

// AppendPackedInt32 appends a repeated int32 or enum field.
func AppendPackedInt32[T ~int32](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedVarints(b, num, s, func(x T) uint64 { return uint64(int64(x)) })
}

// AppendPackedInt64 appends a repeated int64 field.
func AppendPackedInt64[T ~int64](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedVarints(b, num, s, func(x T) uint64 { return uint64(x) })
}

// AppendPackedUint32 appends a repeated uint32 field.
func AppendPackedUint32[T ~uint32](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedVarints(b, num, s, func(x T) uint64 { return uint64(x) })
}

// AppendPackedUint64 appends a repeated uint64 field.
func AppendPackedUint64[T ~uint64](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedVarints(b, num, s, func(x T) uint64 { return uint64(x) })
}

// AppendPackedSint32 appends a repeated sint32 field.
func AppendPackedSint32[T ~int32](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedVarints(b, num, s, func(x T) uint64 { return protowire.EncodeZigZag(int64(x)) })
}

// AppendPackedSint64 appends a repeated sint64 field.
func AppendPackedSint64[T ~int64](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedVarints(b, num, s, func(x T) uint64 { return protowire.EncodeZigZag(int64(x)) })
}

// AppendPackedBool appends a repeated bool field.
func AppendPackedBool(b []byte, num protowire.Number, s []bool) []byte {
	return appendPackedVarints(b, num, s, protowire.EncodeBool)
}

// AppendPackedFixed32 appends a repeated fixed32 or sfixed32 field.
func AppendPackedFixed32[T ~uint32 | ~int32](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedFixed(b, num, s, 4, func(x T) uint64 { return uint64(uint32(x)) })
}

// AppendPackedFixed64 appends a repeated fixed64 or sfixed64 field.
func AppendPackedFixed64[T ~uint64 | ~int64](b []byte, num protowire.Number, s []T) []byte {
	return appendPackedFixed(b, num, s, 8, func(x T) uint64 { return uint64(x) })
}

// AppendPackedFloat appends a repeated float field.
func AppendPackedFloat(b []byte, num protowire.Number, s []float32) []byte {
	return appendPackedFixed(b, num, s, 4, func(x float32) uint64 { return uint64(math.Float32bits(x)) })
}

// AppendPackedDouble appends a repeated double field.
func AppendPackedDouble(b []byte, num protowire.Number, s []float64) []byte {
	return appendPackedFixed(b, num, s, 8, math.Float64bits)
}

// appendElems decodes one occurrence of a repeated scalar field whose
// elements have wire type wt.
func appendElems[T any](s []T, typ protowire.Type, v uint64, p []byte, wt protowire.Type, conv func(uint64) T) ([]T, error) {
	if typ == wt {
		return append(s, conv(v)), nil
	}
	if typ != protowire.BytesType || len(p) == 0 {
		return s, nil
	}
	if s == nil {
		// A packed list holds at least one element per byte (fixed
		// ones 4 or 8): enough room for all without regrowing.
		per := 1
		switch wt {
		case protowire.Fixed32Type:
			per = 4
		case protowire.Fixed64Type:
			per = 8
		}
		s = make([]T, 0, min(len(p)/per, 1<<16))
	}
	for len(p) > 0 {
		x, n := wire.ConsumeProtoScalar(wt, p)
		if n < 0 {
			return s, malformedProto(n)
		}
		p = p[n:]
		s = append(s, conv(x))
	}
	return s, nil
}

// malformedProto is the error for a packed list that protowire cannot
// parse (n is its error code), as wire.WalkProto reports one.
func malformedProto(n int) error {
	return fmt.Errorf("%w: %v", wire.ErrMalformedProto, protowire.ParseError(n))
}

// AppendInt32s decodes an occurrence of a repeated int32 or enum field.
func AppendInt32s[T ~int32](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, func(x uint64) T { return T(int32(x)) })
}

// AppendInt64s decodes an occurrence of a repeated int64 field.
func AppendInt64s[T ~int64](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, func(x uint64) T { return T(x) })
}

// AppendUint32s decodes an occurrence of a repeated uint32 field.
func AppendUint32s[T ~uint32](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, func(x uint64) T { return T(x) })
}

// AppendUint64s decodes an occurrence of a repeated uint64 field.
func AppendUint64s[T ~uint64](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, func(x uint64) T { return T(x) })
}

// AppendSint32s decodes an occurrence of a repeated sint32 field.
func AppendSint32s[T ~int32](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, func(x uint64) T { return T(protowire.DecodeZigZag(x & math.MaxUint32)) })
}

// AppendSint64s decodes an occurrence of a repeated sint64 field.
func AppendSint64s[T ~int64](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, func(x uint64) T { return T(protowire.DecodeZigZag(x)) })
}

// AppendBools decodes an occurrence of a repeated bool field.
func AppendBools(s []bool, typ protowire.Type, v uint64, p []byte) ([]bool, error) {
	return appendElems(s, typ, v, p, protowire.VarintType, protowire.DecodeBool)
}

// AppendFixed32s decodes an occurrence of a repeated fixed32 or sfixed32
// field.
func AppendFixed32s[T ~uint32 | ~int32](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.Fixed32Type, func(x uint64) T { return T(uint32(x)) })
}

// AppendFixed64s decodes an occurrence of a repeated fixed64 or sfixed64
// field.
func AppendFixed64s[T ~uint64 | ~int64](s []T, typ protowire.Type, v uint64, p []byte) ([]T, error) {
	return appendElems(s, typ, v, p, protowire.Fixed64Type, func(x uint64) T { return T(x) })
}

// AppendFloats decodes an occurrence of a repeated float field.
func AppendFloats(s []float32, typ protowire.Type, v uint64, p []byte) ([]float32, error) {
	return appendElems(s, typ, v, p, protowire.Fixed32Type, func(x uint64) float32 { return math.Float32frombits(uint32(x)) })
}

// AppendDoubles decodes an occurrence of a repeated double field.
func AppendDoubles(s []float64, typ protowire.Type, v uint64, p []byte) ([]float64, error) {
	return appendElems(s, typ, v, p, protowire.Fixed64Type, math.Float64frombits)
}
