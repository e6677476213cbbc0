package wire

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// protoName is a one-field message, {string name = 1;}, that encodes
// itself.
type protoName struct{ name string }

func (m *protoName) AppendProto(dst []byte) ([]byte, error) {
	if m.name == "" {
		return dst, nil
	}
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	return protowire.AppendString(dst, m.name), nil
}

func (m *protoName) UnmarshalProto(data []byte) error {
	*m = protoName{}
	return WalkProto(data, func(num protowire.Number, typ protowire.Type, _ uint64, p []byte) error {
		if num == 1 {
			if typ != protowire.BytesType {
				return ErrMalformedProto
			}
			m.name = string(p)
		}
		return nil
	})
}

func TestProtoCodec(t *testing.T) {
	if Proto.Name() != "proto" {
		t.Fatalf("Name = %q", Proto.Name())
	}
	b, err := Proto.Marshal(&protoName{name: "a"})
	if err != nil || !bytes.Equal(b, []byte{0x0a, 0x01, 'a'}) {
		t.Fatalf("Marshal = % x, %v", b, err)
	}
	b, err = Proto.(AppendCodec).MarshalAppend([]byte{0xff}, &protoName{name: "a"})
	if err != nil || !bytes.Equal(b, []byte{0xff, 0x0a, 0x01, 'a'}) {
		t.Fatalf("MarshalAppend = % x, %v", b, err)
	}
	m := &protoName{name: "stale"}
	if err := Proto.Unmarshal([]byte{0x0a, 0x01, 'b'}, m); err != nil || m.name != "b" {
		t.Fatalf("Unmarshal = %+v, %v", m, err)
	}
	if err := Proto.Unmarshal([]byte{0x0a, 0x05, 'b'}, m); !errors.Is(err, ErrMalformedProto) {
		t.Fatalf("Unmarshal of truncated bytes: %v", err)
	}
	// Types that do not encode themselves are refused, with their name.
	if _, err := Proto.Marshal(&struct{ A int }{}); err == nil {
		t.Error("Marshal of a plain struct succeeded")
	}
	var s struct{ A int }
	if err := Proto.Unmarshal(nil, &s); err == nil {
		t.Error("Unmarshal into a plain struct succeeded")
	}
}
