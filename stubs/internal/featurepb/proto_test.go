package featurepb_test

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/stubs/parleyimpl"
	"github.com/parleyrpc/parley/wire"
)

// TestProtoRoundTrip encodes every round-trip case with the generated
// protobuf encoder and decodes it with the generated decoder, directly
// and through wire.Proto, which must give the same bytes.
func TestProtoRoundTrip(t *testing.T) {
	for name, in := range roundTripCases() {
		t.Run(name, func(t *testing.T) {
			b, err := in.AppendProto(nil)
			if err != nil {
				t.Fatal(err)
			}
			out := reflect.New(reflect.TypeOf(in).Elem()).Interface().(message)
			if err := out.UnmarshalProto(b); err != nil {
				t.Fatalf("decode % x: %v", b, err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip through % x:\n got %#v\nwant %#v", b, out, in)
			}
			wb, err := wire.Proto.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(wb) != len(b) {
				t.Errorf("wire.Proto encoding % x differs from AppendProto % x", wb, b)
			}
			out2 := reflect.New(reflect.TypeOf(in).Elem()).Interface().(message)
			if err := wire.Proto.Unmarshal(wb, out2); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out2) {
				t.Fatalf("wire.Proto round trip:\n got %#v\nwant %#v", out2, in)
			}
			// AppendProto appends: a prefix stays as it was.
			pb, err := in.AppendProto([]byte("prefix"))
			if err != nil || !bytes.Equal(pb, append([]byte("prefix"), b...)) && len(pb) != len(b)+6 {
				t.Fatalf("AppendProto after a prefix: % x, %v", pb, err)
			}
		})
	}
}

// TestProtoLayout pins the bytes of a few messages, read off the protobuf
// encoding rules (and what protoc-gen-go's code writes for them; the
// interop module checks every case against protobuf-go itself).
func TestProtoLayout(t *testing.T) {
	long := strings.Repeat("x", 200)
	cases := []struct {
		name string
		msg  message
		hex  string
	}{
		{"zero", &featurepb.Scalars{}, ``},
		{"int32 -1 is ten bytes", &featurepb.Scalars{Int32Val: -1}, `08 ff ff ff ff ff ff ff ff ff 01`},
		{"sint32 -1 is zigzag", &featurepb.Scalars{Sint32Val: -1}, `28 01`},
		{"fixed and float", &featurepb.Scalars{Fixed32Val: 1, FloatVal: 1}, `3d 01 00 00 00 5d 00 00 80 3f`},
		{"negative zero is written", &featurepb.Scalars{DoubleVal: negZero()}, `61 00 00 00 00 00 00 00 80`},
		{"enum", &featurepb.Scalars{Color: featurepb.Color_COLOR_BLUE}, `80 01 03`},
		{"packed", &featurepb.Collections{Ints: []int32{1, 300}}, `0a 03 01 ac 02`},
		{"empty list omitted", &featurepb.Collections{Ints: []int32{}}, ``},
		{"optional zero is present", &featurepb.Optionals{OptInt32: ptr(int32(0))}, `08 00`},
		{"oneof zero is present", &featurepb.Outer{Choice: &featurepb.Outer_Number{}}, `20 00`},
		{"empty message", &featurepb.Outer{Choice: &featurepb.Outer_Nothing{Nothing: &struct{}{}}}, `42 00`},
		{"nested", &featurepb.Outer{Inner: &featurepb.Outer_Inner{Deep: &featurepb.Outer_Inner_Deep{Note: "a"}}}, `12 05 12 03 0a 01 61`},
		{"timestamp", &featurepb.WellKnown{At: time.Unix(1, 2)}, `0a 04 08 01 10 02`},
		{"epoch timestamp is an empty message", &featurepb.WellKnown{At: time.Unix(0, 0)}, `0a 00`},
		{"negative duration", &featurepb.WellKnown{Timeout: -1500 * time.Millisecond}, `12 16 08 ff ff ff ff ff ff ff ff ff 01 10 80 b6 ca 91 fe ff ff ff ff 01`},
		{"long nested length", &featurepb.Outer{Inner: &featurepb.Outer_Inner{Deep: &featurepb.Outer_Inner_Deep{Note: long}}}, `12 ce 01 12 cb 01 0a c8 01 ` + hexOf(long)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.msg.AppendProto(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := hexBytes(t, c.hex); !bytes.Equal(got, want) {
				t.Fatalf("got  % x\nwant % x", got, want)
			}
		})
	}
}

func negZero() float64 {
	z := 0.0
	return -z
}

func hexOf(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strings.ToLower(strings.TrimPrefix(strings.ToUpper(string("0123456789abcdef"[s[i]>>4])+string("0123456789abcdef"[s[i]&15])), "")))
	}
	return b.String()
}

// hexBytes decodes a spaced hex dump.
func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for _, f := range strings.Fields(s) {
		var c byte
		for _, d := range f {
			c <<= 4
			switch {
			case d >= '0' && d <= '9':
				c |= byte(d - '0')
			case d >= 'a' && d <= 'f':
				c |= byte(d - 'a' + 10)
			default:
				t.Fatalf("bad hex %q", f)
			}
		}
		out = append(out, c)
	}
	return out
}

// TestProtoDecodeTolerant checks what protobuf parsers must accept beyond
// what protoc-gen-go writes.
func TestProtoDecodeTolerant(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		msg  message
		want message
	}{
		{"unpacked repeated", `08 01 08 02 0a 01 03`, &featurepb.Collections{}, &featurepb.Collections{Ints: []int32{1, 2, 3}}},
		{"fields out of order", `10 02 08 01`, &featurepb.Scalars{}, &featurepb.Scalars{Int32Val: 1, Int64Val: 2}},
		{"last scalar wins", `08 01 08 02`, &featurepb.Scalars{}, &featurepb.Scalars{Int32Val: 2}},
		{"messages merge", `12 02 08 01 12 04 12 02 0a 00`, &featurepb.Outer{}, &featurepb.Outer{Inner: &featurepb.Outer_Inner{Kind: 1, Deep: &featurepb.Outer_Inner_Deep{}}}},
		{"last oneof case wins", `1a 01 61 20 05`, &featurepb.Outer{}, &featurepb.Outer{Choice: &featurepb.Outer_Number{Number: 5}}},
		{"oneof message merges", `2a 02 08 01 2a 02 12 00`, &featurepb.Outer{}, &featurepb.Outer{Choice: &featurepb.Outer_Nested{Nested: &featurepb.Outer_Inner{Kind: 1, Deep: &featurepb.Outer_Inner_Deep{}}}}},
		{"unknown fields skipped", `f8 07 01 fd 07 00 00 00 00 f9 07 00 00 00 00 00 00 00 00 fa 07 01 00 08 07`, &featurepb.Scalars{}, &featurepb.Scalars{Int32Val: 7}},
		{"group skipped", `fb 07 08 01 fc 07 08 07`, &featurepb.Scalars{}, &featurepb.Scalars{Int32Val: 7}},
		{"wrong wire type skipped", `0a 01 00 08 07`, &featurepb.Scalars{}, &featurepb.Scalars{Int32Val: 7}},
		{"int32 from a 64-bit varint", `08 ff ff ff ff 0f`, &featurepb.Scalars{}, &featurepb.Scalars{Int32Val: -1}},
		{"map entry without key or value", `3a 00 32 00`, &featurepb.Collections{}, &featurepb.Collections{ById: map[int32]*featurepb.Scalars{0: {}}, Counts: map[string]int64{"": 0}}},
		{"map entry key repeated", `32 06 0a 01 61 0a 01 62`, &featurepb.Collections{}, &featurepb.Collections{Counts: map[string]int64{"b": 0}}},
		{"unknown enum value kept", `80 01 2a`, &featurepb.Scalars{}, &featurepb.Scalars{Color: 42}},
		{"reused message is reset", `08 01`, &featurepb.Scalars{Int64Val: 9}, &featurepb.Scalars{Int32Val: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.msg.UnmarshalProto(hexBytes(t, c.hex)); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.msg, c.want) {
				t.Fatalf("got %#v\nwant %#v", c.msg, c.want)
			}
		})
	}
}

// TestProtoDecodeErrors checks that malformed input fails with a clear
// error naming the field, and wrapping wire.ErrMalformedProto.
func TestProtoDecodeErrors(t *testing.T) {
	cases := []struct {
		name, hex, want string
		msg             message
	}{
		{"truncated varint", `08 ff`, "", &featurepb.Scalars{}},
		{"truncated bytes", `72 05 61`, "", &featurepb.Scalars{}},
		{"field number 0", `00 01`, "", &featurepb.Scalars{}},
		{"invalid UTF-8", `72 01 ff`, "parley.feature.Scalars.string_val", &featurepb.Scalars{}},
		{"invalid UTF-8 in a map key", `32 03 0a 01 ff`, "parley.feature.Collections.counts", &featurepb.Collections{}},
		{"nested malformed", `12 02 12 05`, "parley.feature.Outer.inner", &featurepb.Outer{}},
		{"malformed packed list", `0a 01 ff`, "parley.feature.Collections.ints", &featurepb.Collections{}},
		{"unterminated group", `fb 07 08 01`, "", &featurepb.Scalars{}},
		{"duration out of range", `12 0a 08 80 80 80 80 80 80 80 80 40`, "parley.feature.WellKnown.timeout", &featurepb.WellKnown{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.msg.UnmarshalProto(hexBytes(t, c.hex))
			if err == nil {
				t.Fatalf("decoded %#v, want an error", c.msg)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			if !errors.Is(err, wire.ErrMalformedProto) && !errors.Is(err, parleyimpl.ErrDurationRange) {
				t.Fatalf("error %q wraps neither wire.ErrMalformedProto nor ErrDurationRange", err)
			}
		})
	}
	if _, err := (&featurepb.Scalars{StringVal: "\xff"}).AppendProto(nil); !errors.Is(err, parleyimpl.ErrInvalidUTF8) {
		t.Errorf("encoding invalid UTF-8: %v", err)
	}
}

// deepTree returns the encoding of n Trees, each the left child of the
// one before.
func deepTree(n int) []byte {
	// Built from the inside out, back to front, in one buffer.
	buf := make([]byte, 0, 4*n)
	for range n - 1 {
		size := len(buf)
		buf = protowire.AppendVarint(buf, uint64(size))
		// The varint was appended after the body; reverse it into place
		// below (bytes are reversed once more at the end).
		slices.Reverse(buf[size:])
		buf = append(buf, 0x1a)
	}
	slices.Reverse(buf)
	return buf
}

// TestProtoDepth checks the nesting limit: a Tree nested ProtoMaxDepth
// deep decodes, and one more level fails.
func TestProtoDepth(t *testing.T) {
	var tr featurepb.Tree
	if err := tr.UnmarshalProto(deepTree(parleyimpl.ProtoMaxDepth)); err != nil {
		t.Fatalf("%d levels: %v", parleyimpl.ProtoMaxDepth, err)
	}
	if err := tr.UnmarshalProto(deepTree(parleyimpl.ProtoMaxDepth + 1)); !errors.Is(err, parleyimpl.ErrProtoTooDeep) {
		t.Fatalf("%d levels: %v, want ErrProtoTooDeep", parleyimpl.ProtoMaxDepth+1, err)
	}
}

// TestProtoCodecEmpty checks wire.Proto on *struct{}, the Go type of
// google.protobuf.Empty in method signatures.
func TestProtoCodecEmpty(t *testing.T) {
	b, err := wire.Proto.Marshal(&struct{}{})
	if err != nil || len(b) != 0 {
		t.Fatalf("Marshal(&struct{}{}) = % x, %v", b, err)
	}
	if err := wire.Proto.Unmarshal([]byte{0x08, 0x01}, &struct{}{}); err != nil {
		t.Fatalf("Empty with an unknown field: %v", err)
	}
	if err := wire.Proto.Unmarshal([]byte{0x08}, &struct{}{}); !errors.Is(err, wire.ErrMalformedProto) {
		t.Fatalf("truncated Empty: %v", err)
	}
	if _, err := wire.Proto.Marshal(&struct{ X int }{}); err == nil {
		t.Fatal("Marshal of a type with no protobuf encoding succeeded")
	}
}

// TestProtoCodecTimes checks wire.Proto on *time.Time and *time.Duration,
// the Go types of google.protobuf.Timestamp and Duration in method
// signatures: the same bytes as those messages as fields.
func TestProtoCodecTimes(t *testing.T) {
	at := time.Unix(1700000000, 5)
	b, err := wire.Proto.Marshal(&at)
	if err != nil {
		t.Fatal(err)
	}
	field, _ := (&featurepb.WellKnown{At: at}).AppendProto(nil)
	if !bytes.Equal(b, field[2:]) {
		t.Fatalf("Timestamp % x, as a field % x", b, field)
	}
	var back time.Time
	if err := wire.Proto.Unmarshal(b, &back); err != nil || !back.Equal(at) {
		t.Fatalf("Timestamp back: %v, %v", back, err)
	}
	d := -1500 * time.Millisecond
	if b, err = wire.Proto.Marshal(&d); err != nil {
		t.Fatal(err)
	}
	field, _ = (&featurepb.WellKnown{Timeout: d}).AppendProto(nil)
	if !bytes.Equal(b, field[2:]) {
		t.Fatalf("Duration % x, as a field % x", b, field)
	}
	var dback time.Duration
	if err := wire.Proto.Unmarshal(b, &dback); err != nil || dback != d {
		t.Fatalf("Duration back: %v, %v", dback, err)
	}
	if err := wire.Proto.Unmarshal([]byte{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40}, &dback); err == nil {
		t.Fatal("a Duration of 2^62 s decoded")
	}
}
