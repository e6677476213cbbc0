package parleyimpl

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"google.golang.org/protobuf/encoding/protowire"
)

// google.protobuf.Struct, Value and ListValue map to free-form Go values:
// Struct to map[string]any, Value to any and ListValue to []any, where
// each value is nil (null_value), bool, float64 (number_value), string,
// map[string]any (struct_value) or []any (list_value). Encoders also take
// the other Go integer and float types as numbers. In msgpack they are the
// corresponding msgpack values; numbers decode as float64 whatever their
// msgpack format (as google.protobuf.Value holds a double), and bin, ext
// and non-string map keys are refused. In protobuf they are the messages
// of google/protobuf/struct.proto; a Struct's entries are written in key
// order.

// maxValueDepth bounds how deeply free-form values may nest.
const maxValueDepth = 10000

// ErrFreeFormValue is wrapped by the errors for a free-form value of a Go
// type or msgpack format that google.protobuf.Value cannot hold, or
// nested more than 10,000 deep.
var ErrFreeFormValue = errors.New("parley: not a google.protobuf.Value")

// EncodeMsgpackValue writes v, a Value, as a msgpack value.
func EncodeMsgpackValue(e *msgpack.Encoder, v any) error {
	return encodeMsgpackValue(e, v, maxValueDepth)
}

// EncodeMsgpackStruct writes s, a Struct, as a msgpack map (nil for nil).
func EncodeMsgpackStruct(e *msgpack.Encoder, s map[string]any) error {
	if s == nil {
		return e.EncodeNil()
	}
	return encodeMsgpackValue(e, s, maxValueDepth)
}

// EncodeMsgpackListValue writes l, a ListValue, as a msgpack array (nil
// for nil).
func EncodeMsgpackListValue(e *msgpack.Encoder, l []any) error {
	if l == nil {
		return e.EncodeNil()
	}
	return encodeMsgpackValue(e, l, maxValueDepth)
}

func encodeMsgpackValue(e *msgpack.Encoder, v any, depth int) error {
	if depth <= 0 {
		return fmt.Errorf("%w: nested more than %d deep", ErrFreeFormValue, maxValueDepth)
	}
	switch x := v.(type) {
	case nil:
		return e.EncodeNil()
	case bool:
		return e.EncodeBool(x)
	case string:
		return e.EncodeString(x)
	case map[string]any:
		if err := e.EncodeMapLen(len(x)); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := e.EncodeString(k); err != nil {
				return err
			}
			if err := encodeMsgpackValue(e, x[k], depth-1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if err := e.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, y := range x {
			if err := encodeMsgpackValue(e, y, depth-1); err != nil {
				return err
			}
		}
		return nil
	}
	f, ok := number(v)
	if !ok {
		return fmt.Errorf("%w: Go type %T", ErrFreeFormValue, v)
	}
	return e.EncodeFloat64(f)
}

// number converts Go's numeric types to float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// DecodeMsgpackValue reads any msgpack value a Value can hold.
func DecodeMsgpackValue(d *msgpack.Decoder) (any, error) {
	return decodeMsgpackValue(d, maxValueDepth)
}

// DecodeMsgpackStruct reads a msgpack map of Values; the result is not
// nil.
func DecodeMsgpackStruct(d *msgpack.Decoder) (map[string]any, error) {
	v, err := decodeMsgpackValue(d, maxValueDepth)
	if err != nil {
		return nil, err
	}
	s, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a google.protobuf.Struct must be a map, got %T", ErrFreeFormValue, v)
	}
	return s, nil
}

// DecodeMsgpackListValue reads a msgpack array of Values; the result is
// not nil.
func DecodeMsgpackListValue(d *msgpack.Decoder) ([]any, error) {
	v, err := decodeMsgpackValue(d, maxValueDepth)
	if err != nil {
		return nil, err
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: a google.protobuf.ListValue must be an array, got %T", ErrFreeFormValue, v)
	}
	return l, nil
}

func decodeMsgpackValue(d *msgpack.Decoder, depth int) (any, error) {
	if depth <= 0 {
		return nil, fmt.Errorf("%w: nested more than %d deep", ErrFreeFormValue, maxValueDepth)
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.Skip()
	case c == msgpcode.True || c == msgpcode.False:
		return d.DecodeBool()
	case msgpcode.IsString(c):
		return d.DecodeString()
	case msgpcode.IsFixedNum(c) || c == msgpcode.Float || c == msgpcode.Double ||
		c >= msgpcode.Uint8 && c <= msgpcode.Uint64 || c >= msgpcode.Int8 && c <= msgpcode.Int64:
		return d.DecodeFloat64()
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, min(n, 64))
		for range n {
			k, err := d.DecodeString()
			if err != nil {
				return nil, fmt.Errorf("%w: a map key must be a string: %w", ErrFreeFormValue, err)
			}
			if m[k], err = decodeMsgpackValue(d, depth-1); err != nil {
				return nil, err
			}
		}
		return m, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		l := make([]any, 0, min(n, 64))
		for range n {
			v, err := decodeMsgpackValue(d, depth-1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	}
	return nil, fmt.Errorf("%w: msgpack code 0x%02x", ErrFreeFormValue, c)
}

// AppendProtoValue appends field num holding v as a google.protobuf.Value
// message (nil as null_value).
func AppendProtoValue(b []byte, num protowire.Number, v any) ([]byte, error) {
	return appendProtoValue(b, num, v, maxValueDepth)
}

// AppendProtoStruct appends field num holding s as a google.protobuf.Struct
// message.
func AppendProtoStruct(b []byte, num protowire.Number, s map[string]any) ([]byte, error) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	pos := len(b)
	b = append(b, 0)
	b, err := appendStructFields(b, s, maxValueDepth)
	return EndLen(b, pos), err
}

// AppendProtoListValue appends field num holding l as a
// google.protobuf.ListValue message.
func AppendProtoListValue(b []byte, num protowire.Number, l []any) ([]byte, error) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	pos := len(b)
	b = append(b, 0)
	b, err := appendListValues(b, l, maxValueDepth)
	return EndLen(b, pos), err
}

func appendStructFields(b []byte, s map[string]any, depth int) ([]byte, error) {
	for _, k := range slices.Sorted(maps.Keys(s)) {
		b = append(b, 0x0a) // fields = 1, an entry
		pos := len(b)
		b = append(b, 0)
		var err error
		if b, err = AppendProtoString(b, 1, k); err != nil {
			return b, err
		}
		if b, err = appendProtoValue(b, 2, s[k], depth); err != nil {
			return b, err
		}
		b = EndLen(b, pos)
	}
	return b, nil
}

func appendListValues(b []byte, l []any, depth int) ([]byte, error) {
	for _, v := range l {
		var err error
		if b, err = appendProtoValue(b, 1, v, depth); err != nil {
			return b, err
		}
	}
	return b, nil
}

func appendProtoValue(b []byte, num protowire.Number, v any, depth int) ([]byte, error) {
	if depth <= 0 {
		return b, fmt.Errorf("%w: nested more than %d deep", ErrFreeFormValue, maxValueDepth)
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	pos := len(b)
	b = append(b, 0)
	var err error
	switch x := v.(type) {
	case nil:
		b = append(b, 0x08, 0) // null_value = 1
	case bool:
		b = append(b, 0x20) // bool_value = 4
		b = protowire.AppendVarint(b, protowire.EncodeBool(x))
	case string:
		b, err = AppendProtoString(b, 3, x) // string_value = 3
	case map[string]any:
		b = append(b, 0x2a) // struct_value = 5
		p := len(b)
		b = append(b, 0)
		b, err = appendStructFields(b, x, depth-1)
		b = EndLen(b, p)
	case []any:
		b = append(b, 0x32) // list_value = 6
		p := len(b)
		b = append(b, 0)
		b, err = appendListValues(b, x, depth-1)
		b = EndLen(b, p)
	default:
		f, ok := number(v)
		if !ok {
			return b, fmt.Errorf("%w: Go type %T", ErrFreeFormValue, v)
		}
		b = append(b, 0x11) // number_value = 2
		b = protowire.AppendFixed64(b, math.Float64bits(f))
	}
	return EndLen(b, pos), err
}

// ProtoValue decodes a google.protobuf.Value message; depth is how many
// more levels may nest.
func ProtoValue(p []byte, depth int) (any, error) {
	if depth <= 0 {
		return nil, ErrProtoTooDeep
	}
	var v any
	err := DecodeProtoFields(p, func(num protowire.Number, typ protowire.Type, x uint64, q []byte) error {
		var err error
		switch {
		case num == 1 && typ == protowire.VarintType:
			v = nil
		case num == 2 && typ == protowire.Fixed64Type:
			v = math.Float64frombits(x)
		case num == 3 && typ == protowire.BytesType:
			v, err = ProtoString(q)
		case num == 4 && typ == protowire.VarintType:
			v = x != 0
		case num == 5 && typ == protowire.BytesType:
			v, err = ProtoStruct(q, depth-1)
		case num == 6 && typ == protowire.BytesType:
			v, err = ProtoListValue(q, depth-1)
		}
		return err
	})
	return v, err
}

// ProtoStruct decodes a google.protobuf.Struct message; the result is not
// nil.
func ProtoStruct(p []byte, depth int) (map[string]any, error) {
	if depth <= 0 {
		return nil, ErrProtoTooDeep
	}
	s := map[string]any{}
	err := DecodeProtoFields(p, func(num protowire.Number, typ protowire.Type, _ uint64, q []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		var k string
		var v any
		err := DecodeProtoFields(q, func(num protowire.Number, typ protowire.Type, _ uint64, r []byte) error {
			if typ != protowire.BytesType {
				return nil
			}
			var err error
			switch num {
			case 1:
				k, err = ProtoString(r)
			case 2:
				v, err = ProtoValue(r, depth-1)
			}
			return err
		})
		s[k] = v
		return err
	})
	return s, err
}

// ProtoListValue decodes a google.protobuf.ListValue message; the result
// is not nil.
func ProtoListValue(p []byte, depth int) ([]any, error) {
	if depth <= 0 {
		return nil, ErrProtoTooDeep
	}
	l := []any{}
	err := DecodeProtoFields(p, func(num protowire.Number, typ protowire.Type, _ uint64, q []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		v, err := ProtoValue(q, depth-1)
		l = append(l, v)
		return err
	})
	return l, err
}
