package featurepb_test

import (
	"errors"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/stubs/parleyimpl"
	"github.com/parleyrpc/parley/wire"
)

// The generated protobuf decoders parse what a peer sends too, so every
// top-level message type of the feature schema has a protobuf fuzz target
// besides its msgpack one (fuzz_test.go). For every input, fuzzProto
// checks that
//
//   - wire.Proto.Unmarshal (the generated UnmarshalProto) does not panic,
//     and fails only with an error wrapping wire.ErrMalformedProto or
//     parleyimpl.ErrDurationRange;
//   - it allocates at most allocBound(len(data)) bytes;
//   - a decoded value encodes, decodes to an equal value (up to what the
//     encoding does not carry, see diff), and encodes again to as many
//     bytes.
//
// The seeds (protoSeeds) run as part of go test; `make fuzz` explores.

func FuzzProtoScalars(f *testing.F)      { fuzzProto[featurepb.Scalars](f) }
func FuzzProtoOptionals(f *testing.F)    { fuzzProto[featurepb.Optionals](f) }
func FuzzProtoCollections(f *testing.F)  { fuzzProto[featurepb.Collections](f) }
func FuzzProtoOuter(f *testing.F)        { fuzzProto[featurepb.Outer](f) }
func FuzzProtoWellKnown(f *testing.F)    { fuzzProto[featurepb.WellKnown](f) }
func FuzzProtoTree(f *testing.F)         { fuzzProto[featurepb.Tree](f) }
func FuzzProtoWrappers(f *testing.F)     { fuzzProto[featurepb.Wrappers](f) }
func FuzzProtoFreeForm(f *testing.F)     { fuzzProto[featurepb.FreeForm](f) }
func FuzzProtoNothing(f *testing.F)      { fuzzProto[featurepb.Nothing](f) }
func FuzzProtoEchoRequest(f *testing.F)  { fuzzProto[featurepb.EchoRequest](f) }
func FuzzProtoEchoResponse(f *testing.F) { fuzzProto[featurepb.EchoResponse](f) }
func FuzzProtoNumber(f *testing.F)       { fuzzProto[featurepb.Number](f) }
func FuzzProtoTotal(f *testing.F)        { fuzzProto[featurepb.Total](f) }
func FuzzProtoCountRequest(f *testing.F) { fuzzProto[featurepb.CountRequest](f) }
func FuzzProtoChatMessage(f *testing.F)  { fuzzProto[featurepb.ChatMessage](f) }
func FuzzProtoPage(f *testing.F)         { fuzzProto[featurepb.Page](f) }

func fuzzProto[T any, PT interface {
	*T
	message
}](f *testing.F) {
	for _, s := range protoSeeds[T]() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		v1 := PT(new(T))
		before := heapAllocated()
		err := wire.Proto.Unmarshal(data, v1)
		if used := heapAllocated() - before; used > allocBound(len(data)) {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			_ = wire.Proto.Unmarshal(data, PT(new(T)))
			runtime.ReadMemStats(&m1)
			if exact := m1.TotalAlloc - m0.TotalAlloc; exact > allocBound(len(data)) {
				t.Fatalf("decoding %d bytes allocated %d bytes (bound %d)", len(data), exact, allocBound(len(data)))
			}
		}
		if err != nil {
			if !errors.Is(err, wire.ErrMalformedProto) && !errors.Is(err, parleyimpl.ErrDurationRange) {
				t.Fatalf("decoding failed with an error of no known kind: %v", err)
			}
			return
		}
		b1, err := wire.Proto.Marshal(v1)
		if err != nil {
			t.Fatalf("encoding the decoded %#v: %v", v1, err)
		}
		v2 := PT(new(T))
		if err := wire.Proto.Unmarshal(b1, v2); err != nil {
			t.Fatalf("decoding the encoding % x of %#v: %v", b1, v1, err)
		}
		if d := diff("", reflect.ValueOf(v1), reflect.ValueOf(v2), true); d != "" {
			t.Fatalf("round trip through % x changed %s:\n got %#v\nwant %#v", b1, d, v2, v1)
		}
		b2, err := wire.Proto.Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if len(b2) != len(b1) {
			t.Fatalf("re-encoding is not stable: % x, then % x", b1, b2)
		}
	})
}

// oddProtoValues replace, one at a time, the value of every field of the
// seed messages, keeping its tag: each is of the wrong wire type for most
// fields, out of range or malformed.
var oddProtoValues = []struct {
	typ protowire.Type
	val string
}{
	{protowire.VarintType, "\x00"},
	{protowire.VarintType, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"}, // -1
	{protowire.VarintType, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
	{protowire.VarintType, "\x80"}, // truncated
	{protowire.Fixed32Type, "\x00\x00\xc0\x7f"},
	{protowire.Fixed64Type, "\x01\x00\x00\x00\x00\x00\xf8\x7f"}, // NaN
	{protowire.Fixed64Type, "\x00"},                             // truncated
	{protowire.BytesType, "\x00"},
	{protowire.BytesType, "\x01\xff"},                                     // invalid UTF-8
	{protowire.BytesType, "\x02\x08\x01"},                                 // a message
	{protowire.BytesType, "\x03\x0a\x01\x80"},                             // a message with a truncated field
	{protowire.BytesType, "\x0a\x08\x80\x80\x80\x80\x80\x80\x80\x80\x40"}, // seconds 2^62
	{protowire.BytesType, "\xff\xff\xff\xff\x0f"},                         // 4 GiB, truncated
	{protowire.StartGroupType, ""},                                        // unterminated group
}

// protoSeeds returns the seed inputs for messages of type T: the
// encodings of the round-trip cases of type T, whole and cut short by a
// byte; the same with each field's value replaced by each of
// oddProtoValues; and inputs that are not messages.
func protoSeeds[T any]() [][]byte {
	var encodings [][]byte
	cases := roundTripCases()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		m := cases[name]
		if reflect.TypeOf(m) != reflect.TypeFor[*T]() {
			continue
		}
		b, err := m.AppendProto(nil)
		if err != nil {
			panic(err)
		}
		encodings = append(encodings, b)
	}
	var seeds [][]byte
	seen := map[string]bool{}
	add := func(b []byte) {
		if !seen[string(b)] {
			seen[string(b)] = true
			seeds = append(seeds, b)
		}
	}
	for _, b := range encodings {
		add(b)
		if len(b) > 0 {
			add(b[:len(b)-1])
		}
		// Replace each top-level field's value.
		for off := 0; off < len(b); {
			num, _, tn := protowire.ConsumeTag(b[off:])
			_, _, n := protowire.ConsumeField(b[off:])
			if tn < 0 || n < 0 {
				break
			}
			for _, odd := range oddProtoValues {
				s := slices.Clone(b[:off])
				s = protowire.AppendTag(s, num, odd.typ)
				s = append(s, odd.val...)
				add(append(s, b[off+n:]...))
			}
			off += n
		}
	}
	for num := protowire.Number(1); num <= 17; num++ {
		for _, odd := range oddProtoValues {
			add(append(protowire.AppendTag(nil, num, odd.typ), odd.val...))
		}
	}
	for _, s := range []string{
		"",
		"\x00",                     // field number 0
		"\x08",                     // tag without value
		"\x0f\x00",                 // wire type 7
		"\xfc\x07",                 // end group without start
		"\xfb\x07\xfc\x07",         // an empty group
		"\xf8\xff\xff\xff\x0f\x01", // field number 2^29-1
		"\xf8\xff\xff\xff\x1f\x01", // field number too big
	} {
		add([]byte(s))
	}
	add(deepTree(50))
	return seeds
}
