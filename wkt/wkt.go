package wkt

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/stubs/parleyimpl"
	"github.com/parleyrpc/parley/wire"
)

// Any is google.protobuf.Any: a message of any type, as the URL naming
// its type ("type.googleapis.com/pkg.Message") and its protobuf encoding.
// In msgpack it is a map {"type_url": str, "value": bin}, zero fields
// omitted, as every message.
type Any struct {
	TypeURL string `msgpack:"type_url,omitempty"`
	Value   []byte `msgpack:"value,omitempty"`
}

// FieldMask is google.protobuf.FieldMask: a set of field paths, such as
// "user.display_name". In msgpack it is a map {"paths": [str...]}.
type FieldMask struct {
	Paths []string `msgpack:"paths,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder; a nil a is msgpack nil.
func (a *Any) EncodeMsgpack(e *msgpack.Encoder) error {
	if a == nil {
		return e.EncodeNil()
	}
	n := 0
	if a.TypeURL != "" {
		n++
	}
	if len(a.Value) > 0 {
		n++
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	if a.TypeURL != "" {
		if err := e.EncodeString("type_url"); err != nil {
			return err
		}
		if err := e.EncodeString(a.TypeURL); err != nil {
			return err
		}
	}
	if len(a.Value) > 0 {
		if err := e.EncodeString("value"); err != nil {
			return err
		}
		return e.EncodeBytes(a.Value)
	}
	return nil
}

// DecodeMsgpack implements msgpack.CustomDecoder: it resets a and reads
// the map EncodeMsgpack writes, skipping unknown keys.
func (a *Any) DecodeMsgpack(d *msgpack.Decoder) error {
	*a = Any{}
	return parleyimpl.DecodeMsgpackFields(d, 8, func(key []byte) error {
		var err error
		switch string(key) {
		case "type_url":
			if a.TypeURL, err = d.DecodeString(); err != nil {
				return fmt.Errorf("google.protobuf.Any.type_url: %w", err)
			}
		case "value":
			if a.Value, err = d.DecodeBytes(); err != nil {
				return fmt.Errorf("google.protobuf.Any.value: %w", err)
			}
		default:
			return d.Skip()
		}
		return nil
	})
}

// AppendProto appends a's protobuf encoding to b (type_url = 1,
// value = 2).
func (a *Any) AppendProto(b []byte) ([]byte, error) {
	if a == nil {
		return b, nil
	}
	if a.TypeURL != "" {
		var err error
		if b, err = parleyimpl.AppendProtoString(b, 1, a.TypeURL); err != nil {
			return b, parleyimpl.FieldError("google.protobuf.Any.type_url", err)
		}
	}
	if len(a.Value) > 0 {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, a.Value)
	}
	return b, nil
}

// UnmarshalProto resets a and decodes data into it.
func (a *Any) UnmarshalProto(data []byte) error {
	*a = Any{}
	return a.MergeProto(data, parleyimpl.ProtoMaxDepth)
}

// MergeProto decodes data into a without resetting it, as generated
// messages do (see parley gen's MergeProto).
func (a *Any) MergeProto(data []byte, depth int) error {
	if depth <= 0 {
		return parleyimpl.ProtoTooDeep("google.protobuf.Any")
	}
	return parleyimpl.DecodeProtoFields(data, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			s, err := parleyimpl.ProtoString(p)
			if err != nil {
				return parleyimpl.FieldError("google.protobuf.Any.type_url", err)
			}
			a.TypeURL = s
		case 2:
			a.Value = append([]byte{}, p...)
		}
		return nil
	})
}

// EncodeMsgpack implements msgpack.CustomEncoder; a nil m is msgpack nil.
func (m *FieldMask) EncodeMsgpack(e *msgpack.Encoder) error {
	if m == nil {
		return e.EncodeNil()
	}
	if len(m.Paths) == 0 {
		return e.EncodeMapLen(0)
	}
	if err := e.EncodeMapLen(1); err != nil {
		return err
	}
	if err := e.EncodeString("paths"); err != nil {
		return err
	}
	if err := e.EncodeArrayLen(len(m.Paths)); err != nil {
		return err
	}
	for _, p := range m.Paths {
		if err := e.EncodeString(p); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack implements msgpack.CustomDecoder: it resets m and reads
// the map EncodeMsgpack writes, skipping unknown keys.
func (m *FieldMask) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = FieldMask{}
	return parleyimpl.DecodeMsgpackFields(d, 5, func(key []byte) error {
		if string(key) != "paths" {
			return d.Skip()
		}
		n, err := wire.MsgpackArrayLen(d)
		if err != nil {
			return fmt.Errorf("google.protobuf.FieldMask.paths: %w", err)
		}
		for range n {
			s, err := d.DecodeString()
			if err != nil {
				return fmt.Errorf("google.protobuf.FieldMask.paths: %w", err)
			}
			m.Paths = append(m.Paths, s)
		}
		return nil
	})
}

// AppendProto appends m's protobuf encoding to b (repeated string
// paths = 1).
func (m *FieldMask) AppendProto(b []byte) ([]byte, error) {
	if m == nil {
		return b, nil
	}
	for _, p := range m.Paths {
		var err error
		if b, err = parleyimpl.AppendProtoString(b, 1, p); err != nil {
			return b, parleyimpl.FieldError("google.protobuf.FieldMask.paths", err)
		}
	}
	return b, nil
}

// UnmarshalProto resets m and decodes data into it.
func (m *FieldMask) UnmarshalProto(data []byte) error {
	*m = FieldMask{}
	return m.MergeProto(data, parleyimpl.ProtoMaxDepth)
}

// MergeProto decodes data into m without resetting it: paths are
// appended, as protobuf merges repeated fields.
func (m *FieldMask) MergeProto(data []byte, depth int) error {
	if depth <= 0 {
		return parleyimpl.ProtoTooDeep("google.protobuf.FieldMask")
	}
	return parleyimpl.DecodeProtoFields(data, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		s, err := parleyimpl.ProtoString(p)
		if err != nil {
			return parleyimpl.FieldError("google.protobuf.FieldMask.paths", err)
		}
		m.Paths = append(m.Paths, s)
		return nil
	})
}
