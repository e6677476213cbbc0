package featurepb_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/wire"
)

// The generated decoders parse what a peer sends, so every top-level
// message type of the feature schema has a fuzz target of its own; nested
// types are reached through their parents (Outer_Inner and
// Outer_Inner_Deep through Outer). The generator emits one codec, msgpack,
// and the targets run both ways into it: wire.Msgpack.Unmarshal (what the
// runtime calls: CheckMsgpack, then the generated DecodeMsgpack) and
// msgpack.Unmarshal, which calls the generated method with no check first.
// The latter gets only input CheckMsgpack accepts: on unchecked input,
// msgpack's DecodeBytes, which the generated decoders call for bytes
// fields, allocates whatever length a bin or str header announces: the 16
// bytes 81 a9 "bytes_val" c6 ff ff ff ff make msgpack.Unmarshal into a
// Scalars allocate 4 GiB. For every input, fuzzDecode checks that
//
//   - neither way panics;
//   - wire.Msgpack rejects the input with an error wrapping
//     wire.ErrMalformedMsgpack exactly when CheckMsgpack rejects it;
//   - otherwise wire.Msgpack and msgpack.Unmarshal agree: both fail, and
//     then never with a premature end of data (the generated decoder must
//     not read past a value it was given whole), or both decode the same
//     value;
//   - wire.Msgpack.Unmarshal allocates at most allocBound(len(data)) bytes;
//   - a decoded value encodes, the encoding passes CheckMsgpack and decodes
//     to an equal value, up to what the encoding does not carry (see
//     diff); a second round trip gives the same encoded length and an
//     identical value.
//
// The seeds (decodeSeeds) run as part of go test; `make fuzz` explores.

func FuzzDecodeScalars(f *testing.F)      { fuzzDecode[featurepb.Scalars](f) }
func FuzzDecodeOptionals(f *testing.F)    { fuzzDecode[featurepb.Optionals](f) }
func FuzzDecodeCollections(f *testing.F)  { fuzzDecode[featurepb.Collections](f) }
func FuzzDecodeOuter(f *testing.F)        { fuzzDecode[featurepb.Outer](f) }
func FuzzDecodeWellKnown(f *testing.F)    { fuzzDecode[featurepb.WellKnown](f) }
func FuzzDecodeTree(f *testing.F)         { fuzzDecode[featurepb.Tree](f) }
func FuzzDecodeWrappers(f *testing.F)     { fuzzDecode[featurepb.Wrappers](f) }
func FuzzDecodeFreeForm(f *testing.F)     { fuzzDecode[featurepb.FreeForm](f) }
func FuzzDecodeNothing(f *testing.F)      { fuzzDecode[featurepb.Nothing](f) }
func FuzzDecodeEchoRequest(f *testing.F)  { fuzzDecode[featurepb.EchoRequest](f) }
func FuzzDecodeEchoResponse(f *testing.F) { fuzzDecode[featurepb.EchoResponse](f) }
func FuzzDecodeNumber(f *testing.F)       { fuzzDecode[featurepb.Number](f) }
func FuzzDecodeTotal(f *testing.F)        { fuzzDecode[featurepb.Total](f) }
func FuzzDecodeCountRequest(f *testing.F) { fuzzDecode[featurepb.CountRequest](f) }
func FuzzDecodeChatMessage(f *testing.F)  { fuzzDecode[featurepb.ChatMessage](f) }
func FuzzDecodePage(f *testing.F)         { fuzzDecode[featurepb.Page](f) }

// maxFuzzInput bounds the inputs tried: larger ones only cost time.
const maxFuzzInput = 64 << 10

// allocBound is the most decoding n bytes may allocate. wire.Msgpack
// documents memory proportional to the input; the costliest byte here is
// an element of a list or map of Scalars (one byte, c0 or 80, for a
// 144-byte struct, plus the pointer and the container's growth).
func allocBound(n int) uint64 { return 64<<10 + 512*uint64(n) }

func fuzzDecode[T any, PT interface {
	*T
	message
}](f *testing.F) {
	for _, s := range decodeSeeds[T]() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		v1 := PT(new(T))
		before := heapAllocated()
		err := wire.Msgpack.Unmarshal(data, v1)
		if used := heapAllocated() - before; used > allocBound(len(data)) {
			// The runtime metric counts whole spans: measure exactly
			// before blaming the decoder.
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			_ = wire.Msgpack.Unmarshal(data, PT(new(T)))
			runtime.ReadMemStats(&m1)
			if exact := m1.TotalAlloc - m0.TotalAlloc; exact > allocBound(len(data)) {
				t.Fatalf("decoding %d bytes allocated %d bytes (bound %d)", len(data), exact, allocBound(len(data)))
			}
		}

		if checkErr := wire.CheckMsgpack(data); checkErr != nil {
			if !errors.Is(err, wire.ErrMalformedMsgpack) {
				t.Fatalf("CheckMsgpack rejects the input (%v), wire.Msgpack.Unmarshal returned %v", checkErr, err)
			}
			return
		}
		direct := PT(new(T))
		directErr := msgpack.Unmarshal(data, direct)
		switch {
		case errors.Is(err, wire.ErrMalformedMsgpack):
			t.Fatalf("CheckMsgpack accepts the input, yet wire.Msgpack.Unmarshal calls it malformed: %v", err)
		case (err == nil) != (directErr == nil):
			t.Fatalf("wire.Msgpack.Unmarshal: %v; msgpack.Unmarshal: %v", err, directErr)
		case err != nil:
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("the decoder read past a well-formed value: %v", err)
			}
			return
		}
		if d := diff("", reflect.ValueOf(v1), reflect.ValueOf(direct), false); d != "" {
			t.Fatalf("wire.Msgpack and msgpack.Unmarshal decode differently at %s:\n%#v\n%#v", d, v1, direct)
		}

		b1, err := wire.Msgpack.Marshal(v1)
		if err != nil {
			t.Fatalf("encoding the decoded %#v: %v", v1, err)
		}
		if err := wire.CheckMsgpack(b1); err != nil {
			t.Fatalf("the encoding % x of %#v is malformed: %v", b1, v1, err)
		}
		v2 := PT(new(T))
		if err := wire.Msgpack.Unmarshal(b1, v2); err != nil {
			t.Fatalf("decoding the encoding % x of %#v: %v", b1, v1, err)
		}
		if d := diff("", reflect.ValueOf(v1), reflect.ValueOf(v2), true); d != "" {
			t.Fatalf("round trip through % x changed %s:\n got %#v\nwant %#v", b1, d, v2, v1)
		}
		b2, err := wire.Msgpack.Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if len(b2) != len(b1) {
			t.Fatalf("re-encoding is not stable: % x, then % x", b1, b2)
		}
		v3 := PT(new(T))
		if err := wire.Msgpack.Unmarshal(b2, v3); err != nil {
			t.Fatal(err)
		}
		if d := diff("", reflect.ValueOf(v2), reflect.ValueOf(v3), false); d != "" {
			t.Fatalf("second round trip through % x changed %s:\n got %#v\nwant %#v", b2, d, v3, v2)
		}
	})
}

var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

// heapAllocated returns the bytes allocated on the heap so far, as the
// runtime metric has them: cheap to read, but small objects are counted a
// span at a time.
func heapAllocated() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// presence lists the fields whose nil and empty values the encoding tells
// apart, by struct type: proto3 optional bytes. Every other []byte value
// may come back nil for empty or empty for nil: fields are omitted when
// empty, and protobuf list and map elements decode as empty, not nil.
var presence = map[reflect.Type]map[string]bool{
	reflect.TypeFor[featurepb.Optionals](): {"OptBytes": true},
}

var timeType = reflect.TypeFor[time.Time]()

// diff returns where a and b differ ("" if nowhere); NaN equals NaN.
// With roundTrip, it allows what encoding and decoding again may change:
// an empty []byte field without presence becomes nil, and a time keeps its
// instant but not its location (and the zero instant, omitted, comes back
// as the zero time.Time).
func diff(path string, a, b reflect.Value, roundTrip bool) string {
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s (type %s vs %s)", path, a.Type(), b.Type())
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return path + " (nil vs non-nil)"
			}
			return ""
		}
		return diff(path, a.Elem(), b.Elem(), roundTrip)
	case reflect.Struct:
		if a.Type() == timeType {
			ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
			if !ta.Equal(tb) || !roundTrip && !reflect.DeepEqual(ta, tb) {
				return fmt.Sprintf("%s (%v vs %v)", path, ta, tb)
			}
			return ""
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			name := a.Type().Field(i).Name
			if presence[a.Type()][name] && fa.IsNil() != fb.IsNil() {
				return path + "." + name + " (nil vs non-nil)"
			}
			if d := diff(path+"."+name, fa, fb, roundTrip); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if roundTrip && a.Type() == reflect.TypeFor[[]byte]() && a.Len() == 0 && b.Len() == 0 {
			return ""
		}
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Sprintf("%s (len %d, nil %v vs len %d, nil %v)", path, a.Len(), a.IsNil(), b.Len(), b.IsNil())
		}
		for i := range a.Len() {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), roundTrip); d != "" {
				return d
			}
		}
		return ""
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return fmt.Sprintf("%s (len %d, nil %v vs len %d, nil %v)", path, a.Len(), a.IsNil(), b.Len(), b.IsNil())
		}
		for it := a.MapRange(); it.Next(); {
			bv := b.MapIndex(it.Key())
			if !bv.IsValid() {
				return fmt.Sprintf("%s[%v] (missing)", path, it.Key())
			}
			if d := diff(fmt.Sprintf("%s[%v]", path, it.Key()), it.Value(), bv, roundTrip); d != "" {
				return d
			}
		}
		return ""
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		if x != y && !(math.IsNaN(x) && math.IsNaN(y)) {
			return fmt.Sprintf("%s (%v vs %v)", path, x, y)
		}
		return ""
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s (%d vs %d)", path, a.Int(), b.Int())
		}
		return ""
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s (%d vs %d)", path, a.Uint(), b.Uint())
		}
		return ""
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s (%q vs %q)", path, a.String(), b.String())
		}
		return ""
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s (%v vs %v)", path, a.Bool(), b.Bool())
		}
		return ""
	}
	panic("diff: unexpected kind " + a.Kind().String() + " at " + path)
}

// oddValues replace, one at a time, every value in the seed messages: each
// is of the wrong type for most fields, out of range for some, or
// malformed.
var oddValues = []string{
	"\xc0",                                 // nil
	"\xc3",                                 // true
	"\xff",                                 // -1
	"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", // max uint64
	"\xd3\x80\x00\x00\x00\x00\x00\x00\x00", // min int64
	"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01", // float64 NaN
	"\xa1x",                                // "x"
	"\xc4\x01\x00",                         // bin 00
	"\x91\xc0",                             // [nil]
	"\x81\xa1x\xc0",                        // {"x": nil}
	"\x81\x01\x80",                         // {1: {}}
	"\xd7\xff\xff\xff\xff\xff\xff\xff\xff\xff", // timestamp 64, nanoseconds out of range
	"\xd4\x05\x00",                                 // ext type 5
	"\xdd\xff\xff\xff\xff",                         // array of 4G elements, truncated
	"\xdb\xff\xff\xff\xff",                         // str of 4 GiB, truncated
	"\x92\x01\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00", // [1, +Inf]: the legacy time layout
}

// decodeSeeds returns the seed inputs for messages of type T:
//   - the encodings of the round-trip cases of type T (roundtrip_test.go),
//     whole and cut short by a byte;
//   - the same with each value in them (at any depth, the first element
//     of lists) replaced by each of oddValues;
//   - for each of T's keys, a message of that key alone with each of
//     oddValues, and keys one byte longer and shorter;
//   - inputs that are not messages, or hide hostile values under keys no
//     field has: nil, empty, truncated, trailing bytes, huge headers, keys
//     of other types, long keys (an unknown key longer than every field
//     name once crashed the decoder), deep nesting.
func decodeSeeds[T any]() [][]byte {
	var encodings [][]byte
	cases := roundTripCases()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		m := cases[name]
		if reflect.TypeOf(m) != reflect.TypeFor[*T]() {
			continue
		}
		b, err := msgpack.Marshal(m)
		if err != nil {
			panic(err)
		}
		encodings = append(encodings, b)
	}
	if len(encodings) == 0 {
		b, err := msgpack.Marshal(new(T))
		if err != nil {
			panic(err)
		}
		encodings = append(encodings, b)
	}

	var seeds [][]byte
	seen := map[string]bool{}
	add := func(parts ...string) {
		s := strings.Join(parts, "")
		if !seen[s] {
			seen[s] = true
			seeds = append(seeds, []byte(s))
		}
	}
	keys := map[string]bool{}
	for _, t := range reflect.VisibleFields(reflect.TypeFor[T]()) {
		if name, _, _ := strings.Cut(t.Tag.Get("msgpack"), ","); name != "" && name != "-" {
			keys[name] = true
		}
	}
	paths := map[string]bool{}
	for _, b := range encodings {
		add(string(b))
		add(string(b[:len(b)-1]))
		for _, s := range valueSpans(b) {
			if s.depth == 1 {
				keys[s.key] = true
			}
			if paths[s.path] {
				continue
			}
			paths[s.path] = true
			for _, odd := range oddValues {
				add(string(b[:s.start]), odd, string(b[s.end:]))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if k == "" {
			continue
		}
		for _, odd := range oddValues {
			add("\x81", str(k), odd)
		}
		add("\x81", str(k+"x"), "\x01")
		add("\x81", str(k[:len(k)-1]), "\x01")
		add("\x82", str(k), "\xc0", str(k), "\xc0") // twice
	}

	long := strings.Repeat("k", 300)
	deep := func(n int) string { return strings.Repeat("\x91", n) + "\xc0" }
	for _, s := range []string{
		"",
		"\xc0",                         // nil: the zero message
		"\x80",                         // empty map
		"\x90",                         // empty array
		"\x01",                         // an int
		"\x81",                         // truncated map
		"\x80\x00",                     // trailing byte
		"\x81\xc0\xc0",                 // nil key
		"\x81\x01\x02",                 // int key
		"\x81\xc4\x01k\x01",            // bin key
		"\x81\x91\xc0\x01",             // array key
		"\xdf\xff\xff\xff\xff",         // map of 4G entries, truncated
		"\x82\xa1k\x01\xa1k\xa1v",      // an unknown key twice
		"\x81\xd9\x01\x2c" + long[:10], // long key, truncated
		"\x82\xd9\x01\x2c" + long + "\x01\xda\x01\x2c" + long + "\x92\x01\x02",
		"\x81\xdb\x00\x00\x01\x2c" + long + "\x81\xa1x\xc0", // str32 key
		"\x81\xa1k\xc7\x05\x07abcde",                        // ext under an unknown key
		"\x81\xa1k" + deep(100),                             // deep nesting, skipped
		"\x81\xa1k" + deep(wire.DefaultMaxMsgpackDepth),     // one level too deep
	} {
		add(s)
	}
	return seeds
}

// str is the msgpack encoding of s as a str.
func str(s string) string {
	b, err := msgpack.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// span is where one value of a msgpack message lies: path names it by keys
// and indexes, key is its own key (if it is a map value) and depth its
// level (1 for the fields of the top-level message).
type span struct {
	path, key  string
	depth      int
	start, end int
}

// valueSpans returns the spans of the values in b, a well-formed msgpack
// message: every map value, and the first element of every array.
func valueSpans(b []byte) []span {
	r := bytes.NewReader(b)
	d := msgpack.NewDecoder(r) // reads r directly: offsets are exact
	off := func() int { return len(b) - int(r.Len()) }
	var spans []span
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		c, err := d.PeekCode()
		if err != nil {
			return err
		}
		switch {
		case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
			n, err := d.DecodeMapLen()
			if err != nil {
				return err
			}
			for range n {
				k, err := d.DecodeInterfaceLoose()
				if err != nil {
					return err
				}
				key := fmt.Sprint(k)
				start := off()
				if err := walk(path+"."+key, depth+1); err != nil {
					return err
				}
				spans = append(spans, span{path: path + "." + key, key: key, depth: depth + 1, start: start, end: off()})
			}
			return nil
		case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
			n, err := d.DecodeArrayLen()
			if err != nil {
				return err
			}
			for i := range n {
				start := off()
				if i > 0 {
					if err := d.Skip(); err != nil {
						return err
					}
					continue
				}
				if err := walk(path+"[]", depth+1); err != nil {
					return err
				}
				spans = append(spans, span{path: path + "[]", depth: depth + 1, start: start, end: off()})
			}
			return nil
		}
		return d.Skip()
	}
	if err := walk("", 0); err != nil {
		panic(fmt.Sprintf("walking % x: %v", b, err))
	}
	return spans
}
