package featurepb_test

import (
	"bytes"
	"encoding/hex"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/wire"
	"github.com/parleyrpc/parley/wkt"
)

func ptr[T any](v T) *T { return &v }

// message is what every generated message type implements.
type message interface {
	msgpack.CustomEncoder
	msgpack.CustomDecoder
	wire.ProtoMessage
	MergeProto(data []byte, depth int) error
}

// fullScalars sets every scalar field to a non-zero value, with extremes.
func fullScalars() *featurepb.Scalars {
	return &featurepb.Scalars{
		Int32Val:    math.MinInt32,
		Int64Val:    math.MaxInt64,
		Uint32Val:   math.MaxUint32,
		Uint64Val:   math.MaxUint64,
		Sint32Val:   -1,
		Sint64Val:   math.MinInt64,
		Fixed32Val:  7,
		Fixed64Val:  1 << 40,
		Sfixed32Val: -300,
		Sfixed64Val: -1 << 40,
		FloatVal:    1.5,
		DoubleVal:   -2.25e100,
		BoolVal:     true,
		StringVal:   "héllo",
		BytesVal:    []byte{0, 1, 2, 0xff},
		Color:       featurepb.Color_COLOR_BLUE,
	}
}

// roundTripCases covers every field kind of the feature schema.
func roundTripCases() map[string]message {
	t0 := time.Unix(1700000000, 123456789)
	return map[string]message{
		"scalars/full":  fullScalars(),
		"scalars/zero":  &featurepb.Scalars{},
		"scalars/small": &featurepb.Scalars{Int32Val: 1, Uint64Val: 2, StringVal: "x"},
		"optionals/zero-values-present": &featurepb.Optionals{
			OptInt32: ptr(int32(0)), OptString: ptr(""), OptBytes: []byte{},
			OptColor: ptr(featurepb.Color_COLOR_UNSPECIFIED), OptBool: ptr(false), OptDouble: ptr(0.0),
			OptMessage: &featurepb.Scalars{},
		},
		"optionals/set": &featurepb.Optionals{
			OptInt32: ptr(int32(-5)), OptString: ptr("s"), OptBytes: []byte("b"),
			OptColor: ptr(featurepb.Color_COLOR_RED), OptBool: ptr(true), OptDouble: ptr(3.5),
			OptMessage: fullScalars(),
		},
		"optionals/absent": &featurepb.Optionals{},
		"collections": &featurepb.Collections{
			Ints:       []int32{1, -1, math.MaxInt32},
			Strings:    []string{"a", "", "c"},
			Blobs:      [][]byte{{1}, {}, {2, 3}},
			Colors:     []featurepb.Color{featurepb.Color_COLOR_RED, featurepb.Color(42)},
			Items:      []*featurepb.Scalars{fullScalars(), {}},
			Counts:     map[string]int64{"a": 1, "b": -1 << 50},
			ById:       map[int32]*featurepb.Scalars{-7: fullScalars(), 0: {}},
			Flags:      map[bool]string{true: "yes", false: "no"},
			Palette:    map[string]featurepb.Color{"sky": featurepb.Color_COLOR_BLUE},
			BlobsByKey: map[uint64][]byte{math.MaxUint64: {9}},
			Times:      []time.Time{t0, time.Unix(0, 0), time.Unix(-1, 5)},
			Timeouts:   map[string]time.Duration{"read": time.Second, "neg": -time.Millisecond},
		},
		"outer/text":    &featurepb.Outer{Name: "n", Choice: &featurepb.Outer_Text{Text: "t"}},
		"outer/text0":   &featurepb.Outer{Choice: &featurepb.Outer_Text{}},
		"outer/number":  &featurepb.Outer{Choice: &featurepb.Outer_Number{Number: -9}},
		"outer/number0": &featurepb.Outer{Choice: &featurepb.Outer_Number{}},
		"outer/nested": &featurepb.Outer{Choice: &featurepb.Outer_Nested{Nested: &featurepb.Outer_Inner{
			Kind: featurepb.Outer_Inner_KIND_LARGE, Deep: &featurepb.Outer_Inner_Deep{Note: "deep"},
		}}},
		"outer/raw":     &featurepb.Outer{Choice: &featurepb.Outer_Raw{Raw: []byte{1, 2}}},
		"outer/tint":    &featurepb.Outer{Choice: &featurepb.Outer_Tint{Tint: featurepb.Color_COLOR_GREEN}},
		"outer/nothing": &featurepb.Outer{Choice: &featurepb.Outer_Nothing{Nothing: &struct{}{}}},
		"outer/rest": &featurepb.Outer{
			Inner: &featurepb.Outer_Inner{Kind: featurepb.Outer_Inner_KIND_SMALL},
			Deeps: []*featurepb.Outer_Inner_Deep{{Note: "a"}, {}},
			Page:  &featurepb.Page{Offset: 10, Limit: 20, Level: featurepb.Level_LEVEL_HIGH},
			Level: featurepb.Level_LEVEL_LOW,
			Kind:  featurepb.Outer_Inner_KIND_LARGE,
		},
		"wellknown": &featurepb.WellKnown{
			At: t0, Timeout: 90 * time.Minute, Marker: &struct{}{}, MaybeAt: ptr(time.Unix(0, 0)),
		},
		"wellknown/far": &featurepb.WellKnown{At: time.Unix(1<<40, 999999999)},
		"nothing":       &featurepb.Nothing{},
		"wrappers/zero": &featurepb.Wrappers{
			DoubleVal: ptr(0.0), FloatVal: ptr(float32(0)), Int64Val: ptr(int64(0)), Uint64Val: ptr(uint64(0)),
			Int32Val: ptr(int32(0)), Uint32Val: ptr(uint32(0)), BoolVal: ptr(false), StringVal: ptr(""), BytesVal: []byte{},
		},
		"wrappers/set": &featurepb.Wrappers{
			DoubleVal: ptr(-1.5), FloatVal: ptr(float32(2.5)), Int64Val: ptr(int64(math.MinInt64)), Uint64Val: ptr(uint64(math.MaxUint64)),
			Int32Val: ptr(int32(-7)), Uint32Val: ptr(uint32(math.MaxUint32)), BoolVal: ptr(true), StringVal: ptr("ß"), BytesVal: []byte{0, 1},
			List: []*int64{ptr(int64(1)), ptr(int64(0))}, ByName: map[string]*string{"a": ptr("x"), "b": ptr("")},
		},
		"wrappers/null": &featurepb.Wrappers{},
		"freeform/set": &featurepb.FreeForm{
			Attrs: map[string]any{"n": 1.5, "s": "x", "b": true, "null": nil, "l": []any{1.0, "two"}, "m": map[string]any{"k": false}},
			Value: "str", List: []any{nil, 2.0, []any{}},
			Detail: &wkt.Any{TypeURL: "type.googleapis.com/parley.feature.Number", Value: []byte{8, 1}},
			Mask:   &wkt.FieldMask{Paths: []string{"a.b", "c"}},
			Values: []any{1.0, nil, map[string]any{}}, ByName: map[string]any{"x": map[string]any{"y": -0.25}},
			Details: []*wkt.Any{{TypeURL: "u"}, {}},
		},
		"freeform/empty":  &featurepb.FreeForm{Attrs: map[string]any{}, List: []any{}, Mask: &wkt.FieldMask{}, Detail: &wkt.Any{}},
		"freeform/absent": &featurepb.FreeForm{},
		"tree":            &featurepb.Tree{Label: "root", Children: []*featurepb.Tree{{Label: "a"}, {Left: &featurepb.Tree{Label: "b"}}}},
		"chat":            &featurepb.ChatMessage{From: "ann", Text: "hi", Sent: t0},
	}
}

// TestRoundTrip encodes every case with the generated encoder and decodes
// it with the generated decoder, through msgpack directly and through the
// runtime's codec.
func TestRoundTrip(t *testing.T) {
	for name, in := range roundTripCases() {
		t.Run(name, func(t *testing.T) {
			b, err := msgpack.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			out := reflect.New(reflect.TypeOf(in).Elem()).Interface().(message)
			if err := msgpack.Unmarshal(b, out); err != nil {
				t.Fatalf("decode %x: %v", b, err)
			}
			if !reflect.DeepEqual(in, out) {
				t.Fatalf("round trip through %x:\n got %#v\nwant %#v", b, out, in)
			}

			// The runtime's codec gives the same bytes (up to map order).
			wb, err := wire.Msgpack.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(wb) != len(b) {
				t.Errorf("wire.Msgpack encoding %x differs from msgpack.Marshal %x", wb, b)
			}
			out2 := reflect.New(reflect.TypeOf(in).Elem()).Interface().(message)
			if err := wire.Msgpack.Unmarshal(wb, out2); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, out2) {
				t.Fatalf("wire.Msgpack round trip:\n got %#v\nwant %#v", out2, in)
			}
		})
	}
}

// h turns a spaced hex dump with "quoted" ASCII runs into bytes:
// `81 "ab" 01` is 81 61 62 01.
func h(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \n\t")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
			continue
		}
		tok := s
		if i := strings.IndexAny(s, " \n\t\""); i >= 0 {
			tok = s[:i]
		}
		b, err := hex.DecodeString(tok)
		if err != nil {
			t.Fatalf("bad hex %q: %v", tok, err)
		}
		out = append(out, b...)
		s = s[len(tok):]
	}
	return out
}

// TestDocumentedLayout checks the encoder against hand-written msgpack and
// the decoder on the same bytes: the layout docs/idl.md documents.
func TestDocumentedLayout(t *testing.T) {
	cases := []struct {
		name string
		msg  message
		hex  string
	}{
		{"echo request (docs/idl.md example)", &featurepb.EchoRequest{Message: "hi", ResponseSize: 300},
			`82 a7 "message" a2 "hi" ad "response_size" cd 01 2c`},
		{"zero message is an empty map", &featurepb.EchoRequest{}, `80`},
		{"empty message type", &featurepb.Nothing{}, `80`},
		{"scalars", &featurepb.Scalars{
			Int32Val: -1, Int64Val: -200, Uint32Val: 200, Uint64Val: 1 << 32, Sint32Val: 127,
			FloatVal: 1.5, DoubleVal: 0.5, BoolVal: true, StringVal: "s", BytesVal: []byte{0xab}, Color: featurepb.Color_COLOR_GREEN,
		}, `8b a9 "int32_val" ff  a9 "int64_val" d1 ff 38  aa "uint32_val" cc c8
		     aa "uint64_val" cf 00 00 00 01 00 00 00 00  aa "sint32_val" 7f
		     a9 "float_val" ca 3f c0 00 00  aa "double_val" cb 3f e0 00 00 00 00 00 00
		     a8 "bool_val" c3  aa "string_val" a1 "s"  a9 "bytes_val" c4 01 ab  a5 "color" 02`},
		{"optional zero is present", &featurepb.Optionals{OptInt32: ptr(int32(0)), OptBool: ptr(false)},
			`82 a9 "opt_int32" 00 a8 "opt_bool" c2`},
		{"repeated and map", &featurepb.Collections{Ints: []int32{1, 2}, Counts: map[string]int64{"k": 3}},
			`82 a4 "ints" 92 01 02 a6 "counts" 81 a1 "k" 03`},
		{"int map key", &featurepb.Collections{ById: map[int32]*featurepb.Scalars{-2: {BoolVal: true}}},
			`81 a5 "by_id" 81 fe 81 a8 "bool_val" c3`},
		{"oneof case under its own key", &featurepb.Outer{Name: "o", Choice: &featurepb.Outer_Text{Text: "x"}},
			`82 a4 "name" a1 "o" a4 "text" a1 "x"`},
		{"oneof zero case still present", &featurepb.Outer{Choice: &featurepb.Outer_Number{}},
			`81 a6 "number" 00`},
		{"oneof message case", &featurepb.Outer{Choice: &featurepb.Outer_Nested{Nested: &featurepb.Outer_Inner{}}},
			`81 a6 "nested" 80`},
		{"oneof empty case", &featurepb.Outer{Choice: &featurepb.Outer_Nothing{Nothing: &struct{}{}}},
			`81 a7 "nothing" 80`},
		{"nested message", &featurepb.Outer{Inner: &featurepb.Outer_Inner{Deep: &featurepb.Outer_Inner_Deep{Note: "n"}}},
			`81 a5 "inner" 81 a4 "deep" 81 a4 "note" a1 "n"`},
		{"timestamp is ext -1, duration is int64 nanoseconds, empty is an empty map",
			&featurepb.WellKnown{At: time.Unix(1, 0), Timeout: 1500 * time.Millisecond, Marker: &struct{}{}},
			`83 a2 "at" d6 ff 00 00 00 01  a7 "timeout" ce 59 68 2f 00  a6 "marker" 80`},
		{"timestamp with nanoseconds", &featurepb.WellKnown{At: time.Unix(1, 1)},
			`81 a2 "at" d7 ff 00 00 00 04 00 00 00 01`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := h(t, c.hex)
			got, err := msgpack.Marshal(c.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoded\n got % x\nwant % x", got, want)
			}
			out := reflect.New(reflect.TypeOf(c.msg).Elem()).Interface().(message)
			if err := msgpack.Unmarshal(want, out); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, c.msg) {
				t.Errorf("decoded\n got %#v\nwant %#v", out, c.msg)
			}
		})
	}
}

// TestDecodeTolerant decodes maps with unknown keys (of every msgpack
// type), absent keys, nil values, str-typed bytes and wide integers.
func TestDecodeTolerant(t *testing.T) {
	data := h(t, `88
		a7 "unknown" 93 01 81 a1 "x" c0 c4 02 00 00
		a7 "message" a2 "hi"
		a3 "ext" d6 ff 00 00 00 01
		ad "response_size" d2 00 00 00 07
		a4 "more" 82 a1 "a" cb 00 00 00 00 00 00 00 00 a1 "b" a0
		a3 "nil" c0
		a5 "float" ca 3f c0 00 00
		a4 "last" c3`)
	var got featurepb.EchoRequest
	got.ResponseSize = 99 // decoding resets the message first
	if err := msgpack.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if want := (featurepb.EchoRequest{Message: "hi", ResponseSize: 7}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	// Nil values read as absent; bytes may arrive as str.
	var s featurepb.Scalars
	s.StringVal = "stale"
	if err := msgpack.Unmarshal(h(t, `83 aa "string_val" c0 a9 "bytes_val" a2 "ab" a5 "color" c0`), &s); err != nil {
		t.Fatal(err)
	}
	if want := (featurepb.Scalars{BytesVal: []byte("ab")}); !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}

	// Readers accept any numeric width: float 64 for a float, an int for a
	// double, a wide int format for a small value.
	if err := msgpack.Unmarshal(h(t, `83 a9 "float_val" cb 3f f8 00 00 00 00 00 00 aa "double_val" 02 a9 "int32_val" d3 00 00 00 00 00 00 00 05`), &s); err != nil {
		t.Fatal(err)
	}
	if want := (featurepb.Scalars{FloatVal: 1.5, DoubleVal: 2, Int32Val: 5}); !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}

	// msgpack nil is the zero message; absent message fields stay nil.
	var o featurepb.Outer
	o.Name = "stale"
	if err := msgpack.Unmarshal(h(t, `c0`), &o); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, featurepb.Outer{}) {
		t.Fatalf("got %+v, want zero", o)
	}
	if err := msgpack.Unmarshal(h(t, `81 a5 "inner" c0`), &o); err != nil || o.Inner != nil {
		t.Fatalf("nil message field: %+v, %v", o, err)
	}

	// A nil *Message encodes as msgpack nil.
	b, err := msgpack.Marshal((*featurepb.Outer)(nil))
	if err != nil || !bytes.Equal(b, []byte{0xc0}) {
		t.Fatalf("nil message encoded as % x, %v", b, err)
	}
}

// TestDecodeErrors checks that malformed input is reported with the field.
func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, hex, want string
		msg             message
	}{
		{"two oneof cases", `82 a4 "text" a1 "x" a6 "number" 01`, "more than one case of oneof choice", &featurepb.Outer{}},
		{"repeated oneof case", `82 a3 "raw" c4 00 a3 "raw" c4 00`, "more than one case of oneof choice", &featurepb.Outer{}},
		{"wrong type", `81 a9 "int32_val" a1 "x"`, "parley.feature.Scalars.int32_val", &featurepb.Scalars{}},
		{"nested wrong type", `81 a5 "inner" 81 a4 "kind" c3`, "parley.feature.Outer.Inner.kind", &featurepb.Outer{}},
		{"not a map", `92 01 02`, "", &featurepb.Scalars{}},
		{"truncated", `82 a4 "ints" 92 01`, "", &featurepb.Collections{}},
		{"timestamp not a time", `81 a2 "at" a1 "x"`, "parley.feature.WellKnown.at", &featurepb.WellKnown{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := msgpack.Unmarshal(h(t, c.hex), c.msg)
			if err == nil {
				t.Fatalf("decoded %#v, want an error", c.msg)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestEnumString(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{featurepb.Color_COLOR_RED.String(), "COLOR_RED"},
		{featurepb.Color(0).String(), "COLOR_UNSPECIFIED"},
		{featurepb.Color(42).String(), "42"},
		{featurepb.Color(-3).String(), "-3"},
		{featurepb.Status_STATUS_RUNNING.String(), "STATUS_STARTED"}, // aliases print the first name
		{featurepb.Outer_Inner_KIND_LARGE.String(), "KIND_LARGE"},
		{featurepb.Level_LEVEL_HIGH.String(), "LEVEL_HIGH"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if featurepb.Status_value["STATUS_RUNNING"] != 1 || featurepb.Color_name[3] != "COLOR_BLUE" {
		t.Error("name/value maps are wrong")
	}
}

// Method-less copies of generated types: msgpack encodes them by
// reflection on their struct tags.
type (
	plainScalars     featurepb.Scalars
	plainCollections featurepb.Collections
	plainWellKnown   featurepb.WellKnown
	plainOptionals   featurepb.Optionals
)

// TestReflectionLayout checks that the struct tags describe the same
// layout as the generated methods: values encoded one way decode the other.
func TestReflectionLayout(t *testing.T) {
	cases := roundTripCases()
	pairs := []struct {
		gen   message
		plain any
	}{
		{cases["scalars/full"], (*plainScalars)(cases["scalars/full"].(*featurepb.Scalars))},
		{cases["collections"], (*plainCollections)(cases["collections"].(*featurepb.Collections))},
		{cases["wellknown"], (*plainWellKnown)(cases["wellknown"].(*featurepb.WellKnown))},
		{cases["optionals/set"], (*plainOptionals)(cases["optionals/set"].(*featurepb.Optionals))},
	}
	// Reflection's omitempty drops a present but empty optional bytes
	// field (and cannot express oneofs): the one layout difference.
	zeros := *cases["optionals/zero-values-present"].(*featurepb.Optionals)
	zeros.OptBytes = nil
	pairs = append(pairs, struct {
		gen   message
		plain any
	}{&zeros, (*plainOptionals)(&zeros)})
	for _, p := range pairs {
		name := reflect.TypeOf(p.gen).Elem().Name()
		t.Run(name, func(t *testing.T) {
			// Reflection → generated.
			var buf bytes.Buffer
			enc := msgpack.NewEncoder(&buf)
			enc.UseCompactInts(true)
			if err := enc.Encode(p.plain); err != nil {
				t.Fatal(err)
			}
			out := reflect.New(reflect.TypeOf(p.gen).Elem()).Interface().(message)
			if err := msgpack.Unmarshal(buf.Bytes(), out); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, p.gen) {
				t.Fatalf("reflection-encoded, generated-decoded:\n got %#v\nwant %#v", out, p.gen)
			}
			// Generated → reflection.
			b, err := msgpack.Marshal(p.gen)
			if err != nil {
				t.Fatal(err)
			}
			plainOut := reflect.New(reflect.TypeOf(p.plain).Elem())
			if err := msgpack.Unmarshal(b, plainOut.Interface()); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plainOut.Interface(), p.plain) {
				t.Fatalf("generated-encoded, reflection-decoded:\n got %#v\nwant %#v", plainOut.Interface(), p.plain)
			}
		})
	}
}

// TestDecodeLongUnknownKey: an unknown key longer than every field name is
// skipped, not a panic (a client could otherwise crash a server with one
// message).
func TestDecodeLongUnknownKey(t *testing.T) {
	long := strings.Repeat("k", 300)
	data, err := msgpack.Marshal(map[string]any{long: 1, "message": "hi", long + "x": []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	var got featurepb.EchoRequest
	if err := msgpack.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Message != "hi" {
		t.Fatalf("got %+v", got)
	}
	var s featurepb.Scalars
	if err := msgpack.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
}
