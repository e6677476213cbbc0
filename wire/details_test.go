package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestStatusProtoVector checks the encoding against bytes computed by hand
// from the protobuf encoding spec.
func TestStatusProtoVector(t *testing.T) {
	// Status{code: 5, message: "x", details: [Any{type_url: "t/a", value: 01 02}]}
	want := []byte{
		0x08, 0x05, // field 1 (code), varint: tag (1<<3)|0, value 5
		0x12, 0x01, 'x', // field 2 (message), len-delimited: tag (2<<3)|2, length 1
		0x1a, 0x09, // field 3 (details), len-delimited: tag (3<<3)|2, length 9
		0x0a, 0x03, 't', '/', 'a', //   Any field 1 (type_url), length 3
		0x12, 0x02, 0x01, 0x02, //   Any field 2 (value), length 2
	}
	d := []Detail{{TypeURL: "t/a", Value: []byte{1, 2}}}
	if got := AppendStatusProto(nil, NotFound, "x", d); !bytes.Equal(got, want) {
		t.Fatalf("AppendStatusProto = % x, want % x", got, want)
	}
	code, msg, details, err := ParseStatusProto(want)
	if err != nil || code != NotFound || msg != "x" || !reflect.DeepEqual(details, d) {
		t.Fatalf("ParseStatusProto = %v %q %v %v", code, msg, details, err)
	}
	// A code above 127 takes a two-byte varint: 300 = 0xac 0x02.
	if got := AppendStatusProto(nil, Code(300), "", nil); !bytes.Equal(got, []byte{0x08, 0xac, 0x02}) {
		t.Errorf("code 300 = % x", got)
	}
	// OK, no message, no details: the empty message.
	if got := AppendStatusProto(nil, OK, "", nil); len(got) != 0 {
		t.Errorf("empty status = % x", got)
	}
}

func TestParseStatusProto(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		ok   bool
		code Code
		msg  string
	}{
		{"empty", nil, true, 0, ""},
		{"unknown fields skipped", []byte{0x08, 0x03, 0x20, 0x07, 0x2d, 1, 2, 3, 4, 0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3a, 0x01, 0xff}, true, 3, ""},
		{"last code wins", []byte{0x08, 0x03, 0x08, 0x04}, true, 4, ""},
		{"negative int32 code", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, true, Code(0xffffffff), ""},
		{"truncated varint", []byte{0x08, 0x80}, false, 0, ""},
		{"length beyond data", []byte{0x12, 0x05, 'x'}, false, 0, ""},
		{"field number 0", []byte{0x00, 0x01}, false, 0, ""},
		{"group skipped as protobuf-go does", []byte{0x08, 0x03, 0x0b, 0x08, 0x01, 0x0c}, true, 3, ""},
		{"unterminated group", []byte{0x0b, 0x08, 0x01}, false, 0, ""},
		{"group ended by another field's end", []byte{0x0b, 0x14}, false, 0, ""},
		{"stray end group", []byte{0x0c}, false, 0, ""},
		{"reserved wire type", []byte{0x0e, 0x00}, false, 0, ""},
		{"wrong wire type for code", []byte{0x0a, 0x00}, false, 0, ""},
		{"overlong varint", []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, false, 0, ""},
		{"bad Any", []byte{0x1a, 0x02, 0x08, 0x80}, false, 0, ""},
	}
	for _, tc := range cases {
		code, msg, _, err := ParseStatusProto(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrMalformedProto) {
			t.Errorf("%s: err = %v, want ErrMalformedProto", tc.name, err)
		}
		if tc.ok && (code != tc.code || msg != tc.msg) {
			t.Errorf("%s: got %v %q, want %v %q", tc.name, code, msg, tc.code, tc.msg)
		}
	}
}

type roomFull struct {
	Room     string `msgpack:"room"`
	Capacity int    `msgpack:"capacity"`
}

func TestErrorDetails(t *testing.T) {
	d1, err := PackMsgpack("chat.v1.RoomFull", &roomFull{Room: "go", Capacity: 3})
	if err != nil {
		t.Fatal(err)
	}
	if d1.TypeURL != MsgpackTypeURLPrefix+"chat.v1.RoomFull" || d1.TypeName() != "chat.v1.RoomFull" {
		t.Fatalf("detail %+v", d1)
	}
	base := NewError(ResourceExhausted, "room is full")
	if base.Details() != nil {
		t.Fatal("fresh error has details")
	}
	e := base.WithDetails(d1)
	if len(base.Trailer()) != 0 {
		t.Fatal("WithDetails changed the receiver")
	}
	d2 := Detail{TypeURL: "type.googleapis.com/google.rpc.ErrorInfo", Value: []byte{0x0a, 0x01, 'r'}}
	e = e.WithDetails(d2)
	got := e.Details()
	if !reflect.DeepEqual(got, []Detail{d1, d2}) {
		t.Fatalf("Details() = %+v", got)
	}
	var rf roomFull
	if err := UnpackMsgpack(got[0], &rf); err != nil || rf.Room != "go" || rf.Capacity != 3 {
		t.Fatalf("UnpackMsgpack = %+v, %v", rf, err)
	}
	if err := UnpackMsgpack(got[1], &rf); err == nil {
		t.Error("UnpackMsgpack accepted a protobuf detail")
	}
	// The trailer holds the whole google.rpc.Status, code and message included.
	code, msg, _, err := ParseStatusProto([]byte(e.Trailer().Get(HeaderStatusDetails)))
	if err != nil || code != ResourceExhausted || msg != "room is full" {
		t.Fatalf("status proto: %v %q %v", code, msg, err)
	}
	// It survives the header encoding a server uses and the decoding a
	// client uses (base64 of a -bin key).
	sent := Metadata{}
	if err := EncodeHeader(e.Trailer(), func(k, v string) {
		if err := DecodeHeader(sent, k, v); err != nil {
			t.Fatal(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	we := NewWireError(e.Code(), e.Message(), sent)
	if !reflect.DeepEqual(we.Details(), []Detail{d1, d2}) {
		t.Fatalf("details after the wire: %+v", we.Details())
	}
	var nilErr *Error
	if nilErr.WithDetails(d1) != nil || nilErr.Details() != nil {
		t.Error("nil *Error")
	}
}

// FuzzParseStatusProto: the parser never panics, and what it accepts
// re-encodes to bytes that parse to the same status.
func FuzzParseStatusProto(f *testing.F) {
	f.Add(AppendStatusProto(nil, NotFound, "x", []Detail{{TypeURL: "t/a", Value: []byte{1, 2}}}))
	f.Add([]byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x1a, 0x00, 0x1a, 0x02, 0x12, 0x00})
	f.Add([]byte{0x12, 0x05, 'x'})
	f.Add([]byte{0x08, 0x03, 0x0b, 0x08, 0x01, 0x0c})
	f.Fuzz(func(t *testing.T, b []byte) {
		code, msg, details, err := ParseStatusProto(b)
		if err != nil {
			return
		}
		again := AppendStatusProto(nil, code, msg, details)
		code2, msg2, details2, err := ParseStatusProto(again)
		if err != nil {
			t.Fatalf("re-encoding % x does not parse: %v", again, err)
		}
		if code2 != code || (msg2 != msg && isValidUTF8(msg)) || len(details2) != len(details) {
			t.Fatalf("round trip changed the status: %v %q %d → %v %q %d", code, msg, len(details), code2, msg2, len(details2))
		}
		for i := range details {
			if details[i].TypeURL != details2[i].TypeURL || !bytes.Equal(details[i].Value, details2[i].Value) {
				t.Fatalf("detail %d changed: %+v → %+v", i, details[i], details2[i])
			}
		}
	})
}

// TestWalkProtoAgreesWithProtowire checks the walker against protowire's
// own reading of each field: the values it hands over and the groups it
// skips whole.
func TestWalkProtoAgreesWithProtowire(t *testing.T) {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 300)
	b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 0xfffffffe)
	b = protowire.AppendTag(b, 3, protowire.StartGroupType)
	b = protowire.AppendTag(b, 4, protowire.Fixed64Type) // inside the group: not handed over
	b = protowire.AppendFixed64(b, 7)
	b = protowire.AppendTag(b, 3, protowire.EndGroupType)
	b = protowire.AppendTag(b, 5, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 1<<63)
	b = protowire.AppendTag(b, 6, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("ab"))
	type got struct {
		num protowire.Number
		typ protowire.Type
		v   uint64
		p   string
	}
	var fields []got
	err := WalkProto(b, func(num protowire.Number, typ protowire.Type, v uint64, p []byte) error {
		fields = append(fields, got{num, typ, v, string(p)})
		return nil
	})
	want := []got{
		{1, protowire.VarintType, 300, ""},
		{2, protowire.Fixed32Type, 0xfffffffe, ""},
		{5, protowire.Fixed64Type, 1 << 63, ""},
		{6, protowire.BytesType, 0, "ab"},
	}
	if err != nil || !reflect.DeepEqual(fields, want) {
		t.Fatalf("WalkProto = %+v, %v; want %+v", fields, err, want)
	}
	for _, tc := range []struct {
		typ protowire.Type
		in  []byte
		v   uint64
		n   int
	}{
		{protowire.VarintType, []byte{0xac, 0x02, 0xff}, 300, 2},
		{protowire.Fixed32Type, []byte{1, 0, 0, 0x80}, 0x80000001, 4},
		{protowire.Fixed64Type, []byte{1, 0, 0, 0, 0, 0, 0, 0, 9}, 1, 8},
	} {
		if v, n := ConsumeProtoScalar(tc.typ, tc.in); v != tc.v || n != tc.n {
			t.Errorf("ConsumeProtoScalar(%v, % x) = %d, %d; want %d, %d", tc.typ, tc.in, v, n, tc.v, tc.n)
		}
		if _, n := ConsumeProtoScalar(tc.typ, tc.in[:tc.n-1]); n >= 0 {
			t.Errorf("ConsumeProtoScalar(%v) of a truncated value read %d bytes", tc.typ, n)
		}
	}
}

// TestSecondsNanosProto round-trips Timestamp and Duration bodies,
// negative ones included, against bytes worked out from the spec.
func TestSecondsNanosProto(t *testing.T) {
	for _, tc := range []struct {
		sec  int64
		nsec int32
		want []byte
	}{
		{0, 0, nil},
		{1, 0, []byte{0x08, 0x01}},
		{0, 5, []byte{0x10, 0x05}},
		{-1, -5, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x10, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		b := AppendSecondsNanosProto(nil, tc.sec, tc.nsec)
		if !bytes.Equal(b, tc.want) {
			t.Errorf("AppendSecondsNanosProto(%d, %d) = % x, want % x", tc.sec, tc.nsec, b, tc.want)
		}
		sec, nsec, err := ParseSecondsNanosProto(b)
		if err != nil || sec != tc.sec || nsec != tc.nsec {
			t.Errorf("ParseSecondsNanosProto(% x) = %d, %d, %v", b, sec, nsec, err)
		}
	}
}

func isValidUTF8(s string) bool { return string([]rune(s)) == s }
