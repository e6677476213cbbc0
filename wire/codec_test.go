package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// echoRequest mirrors the IDL
//
//	message EchoRequest { string message = 1; int32 response_size = 2; bytes payload = 3; }
type echoRequest struct {
	Message      string `msgpack:"message,omitempty"`
	ResponseSize int32  `msgpack:"response_size,omitempty"`
	Payload      []byte `msgpack:"payload,omitempty"`
}

// echoRequestV2 is a newer version of the same message with an extra field.
type echoRequestV2 struct {
	Message      string            `msgpack:"message,omitempty"`
	ResponseSize int32             `msgpack:"response_size,omitempty"`
	Payload      []byte            `msgpack:"payload,omitempty"`
	Tags         map[string]string `msgpack:"tags,omitempty"`
	Nested       *echoRequest      `msgpack:"nested,omitempty"`
	Count        int64             `msgpack:"count"`
}

// The worked example of docs/protocol.md.
const echoExampleHex = "82a76d657373616765a26869ad726573706f6e73655f73697a6503"

func TestMsgpackWorkedExample(t *testing.T) {
	b, err := Msgpack.Marshal(&echoRequest{Message: "hi", ResponseSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != echoExampleHex {
		t.Errorf("encoding = %s, want %s", got, echoExampleHex)
	}
	framed := AppendMessage(nil, false, b)
	if got, want := hex.EncodeToString(framed), "000000001b"+echoExampleHex; got != want {
		t.Errorf("framed = %s, want %s", got, want)
	}
	b2, _ := Msgpack.Marshal(&echoRequest{Payload: []byte{1, 2}})
	if got, want := hex.EncodeToString(b2), "81a77061796c6f6164c4020102"; got != want {
		t.Errorf("bytes field = %s, want %s (bin 8)", got, want)
	}
}

func TestMsgpackName(t *testing.T) {
	if Msgpack.Name() != "msgpack" {
		t.Error(Msgpack.Name())
	}
	if _, ok := Msgpack.(AppendCodec); !ok {
		t.Error("Msgpack is not an AppendCodec")
	}
}

func TestMsgpackRoundTrip(t *testing.T) {
	in := &echoRequestV2{Message: "héllo", ResponseSize: -7, Payload: []byte{0, 255}, Tags: map[string]string{"a": "b"}, Nested: &echoRequest{Message: "n"}, Count: 1 << 40}
	b, err := Msgpack.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out echoRequestV2
	if err := Msgpack.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Errorf("round trip: %+v != %+v", in, out)
	}
	// MarshalAppend appends after existing bytes.
	b2, err := Msgpack.(AppendCodec).MarshalAppend([]byte("pre"), in)
	if err != nil || !bytes.Equal(b2, append([]byte("pre"), b...)) {
		t.Errorf("MarshalAppend = %q, %v", b2, err)
	}
}

func TestMsgpackCompatibility(t *testing.T) {
	// A new writer's unknown keys are ignored by an old reader.
	b, _ := Msgpack.Marshal(&echoRequestV2{Message: "m", Tags: map[string]string{"x": "y"}, Count: 5})
	var old echoRequest
	if err := Msgpack.Unmarshal(b, &old); err != nil || old.Message != "m" {
		t.Errorf("old reader: %+v, %v", old, err)
	}
	// Absent keys read as zero, even into a reused value.
	reused := echoRequestV2{Message: "stale", Count: 9, Tags: map[string]string{"old": "1"}}
	b, _ = Msgpack.Marshal(&echoRequest{ResponseSize: 1})
	if err := Msgpack.Unmarshal(b, &reused); err != nil {
		t.Fatal(err)
	}
	if want := (echoRequestV2{ResponseSize: 1}); !reflect.DeepEqual(reused, want) {
		t.Errorf("reused value = %+v, want %+v", reused, want)
	}
	// Integers are compact whatever the Go type, and widen on decode.
	b, _ = Msgpack.Marshal(map[string]int64{"count": 5})
	if !bytes.Equal(b, []byte{0x81, 0xa5, 'c', 'o', 'u', 'n', 't', 0x05}) {
		t.Errorf("compact int = % x", b)
	}
	var v2 echoRequestV2
	if err := Msgpack.Unmarshal(b, &v2); err != nil || v2.Count != 5 {
		t.Errorf("int decode: %+v, %v", v2, err)
	}
	// Any msgpack writer's output is readable: keys in any order, wide ints.
	other, _ := msgpack.Marshal(map[string]any{"response_size": uint64(3), "message": "hi"})
	var r echoRequest
	if err := Msgpack.Unmarshal(other, &r); err != nil || !reflect.DeepEqual(r, echoRequest{Message: "hi", ResponseSize: 3}) {
		t.Errorf("foreign encoding: %+v, %v", r, err)
	}
}

func TestMsgpackErrors(t *testing.T) {
	var r echoRequest
	tests := []struct {
		name string
		data []byte
		v    any
	}{
		{"nil pointer", []byte{0x80}, (*echoRequest)(nil)},
		{"not a pointer", []byte{0x80}, r},
		{"empty", nil, &r},
		{"trailing bytes", []byte{0x80, 0x00}, &r},
		{"truncated str", []byte{0x81, 0xa7, 'm', 'e'}, &r},
		{"huge array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, &[]int64{}},
		{"huge map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, &map[string]string{}},
		{"huge bin", []byte{0x81, 0xa7, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0xc6, 0xff, 0xff, 0xff, 0xff}, &r},
		{"reserved c1", []byte{0xc1}, &r},
		// An ext whose payload claims a 4 GiB bin: msgpack decodes the
		// payload where it expects a map, so the check must look inside.
		{"lying bin inside an ext", []byte{0xc7, 0x0e, 0x30, 0x81, 0xa7, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0xc6, 0xff, 0xff, 0xff, 0xff}, &r},
		{"wrong type", []byte{0x81, 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0x05}, &r},
	}
	for _, tt := range tests {
		if err := Msgpack.Unmarshal(tt.data, tt.v); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if _, err := Msgpack.Marshal(make(chan int)); err == nil {
		t.Error("Marshal(chan) succeeded")
	}
}

func TestCheckMsgpack(t *testing.T) {
	valid := [][]byte{
		{0x00}, {0x7f}, {0xe0}, {0xc0}, {0xc2}, {0xc3}, {0x80}, {0x90}, {0xa0},
		{0x81, 0x01, 0x02}, {0x92, 0x01, 0x02}, {0xa2, 'h', 'i'},
		{0xc4, 0x01, 0xff}, {0xc5, 0x00, 0x01, 0xff}, {0xc6, 0, 0, 0, 1, 0xff},
		{0xd9, 0x01, 'x'}, {0xda, 0x00, 0x00}, {0xdb, 0, 0, 0, 0},
		{0xc7, 0x01, 0x05, 0x01}, {0xc8, 0x00, 0x02, 0x05, 0xa1, 'x'}, {0xc9, 0, 0, 0, 1, 0x05, 0xc0},
		{0xca, 0, 0, 0, 0}, {0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		{0xcc, 1}, {0xcd, 1, 2}, {0xce, 1, 2, 3, 4}, {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd0, 1}, {0xd1, 1, 2}, {0xd2, 1, 2, 3, 4}, {0xd3, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd4, 1, 1}, {0xd5, 1, 0xa1, 'x'}, {0xd6, 1, 0x93, 1, 2, 3}, {0xd6, 0xff, 1, 2, 3, 4},
		append([]byte{0xd7, 0xff}, make([]byte, 8)...), append([]byte{0xc7, 12, 0xff}, make([]byte, 12)...),
		append([]byte{0xd8, 1, 0xaf}, make([]byte, 15)...),
		{0xdc, 0x00, 0x01, 0xc0}, {0xdd, 0, 0, 0, 1, 0xc0}, {0xde, 0x00, 0x01, 0xc0, 0xc0}, {0xdf, 0, 0, 0, 1, 0xc0, 0xc0},
		{0x91, 0x91, 0x91, 0x80},
	}
	for _, b := range valid {
		if err := CheckMsgpack(b); err != nil {
			t.Errorf("CheckMsgpack(% x) = %v", b, err)
		}
		if err := msgpack.NewDecoder(bytes.NewReader(b)).Skip(); err != nil {
			t.Errorf("test bug: % x is not valid msgpack: %v", b, err)
		}
	}
	invalid := [][]byte{
		nil, {0xc1}, {0x81, 0x01}, {0x92, 0x01}, {0xa2, 'h'}, {0xc4}, {0xc4, 0x02, 0xff},
		{0xcb, 0, 0}, {0xd8, 1}, {0xdc, 0x00}, {0xdd, 0xff, 0xff, 0xff, 0xff}, {0x00, 0x00},
		{0xc7, 0x01, 0x05},
	}
	for _, b := range invalid {
		if err := CheckMsgpack(b); !errors.Is(err, ErrMalformedMsgpack) {
			t.Errorf("CheckMsgpack(% x) = %v", b, err)
		}
	}
}

// nestedArrays returns depth one-element arrays around nil: depth levels.
func nestedArrays(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

// nestedMaps returns depth one-entry maps, {"": {"": ... nil}}: depth levels.
func nestedMaps(depth int) []byte {
	return append(bytes.Repeat([]byte{0x81, 0xa0}, depth), 0xc0)
}

// siblings holds n chains of depth-1 arrays and maps, alternating, in one
// array: the depth goes up and down n times but never past depth.
func siblings(n, depth int) []byte {
	b := []byte{0xdc, byte(n >> 8), byte(n)}
	for i := range n {
		if i%2 == 0 {
			b = append(b, nestedArrays(depth-1)...)
		} else {
			b = append(b, nestedMaps(depth-1)...)
		}
	}
	return b
}

func TestCheckMsgpackDepth(t *testing.T) {
	const limit = DefaultMaxMsgpackDepth
	// mixed alternates arrays and maps, and puts the deep value in a map
	// key: keys nest like values.
	mixed := func(depth int) []byte {
		var b []byte
		for i := 0; i < depth-1; i++ {
			if i%2 == 0 {
				b = append(b, 0x92, 0x01) // [1, <deeper>]
			} else {
				b = append(b, 0x81) // {<deeper>: nil}, closed below
			}
		}
		b = append(b, 0x90) // the innermost level, an empty array
		for i := depth - 2; i >= 0; i-- {
			if i%2 == 1 {
				b = append(b, 0xc0)
			}
		}
		return b
	}
	// wrap puts data at the bottom of a chain of depth single-element
	// containers of all four header sizes.
	wrap := func(depth int, data []byte) []byte {
		var b []byte
		for i := range depth {
			switch i % 4 {
			case 0:
				b = append(b, 0xdc, 0x00, 0x01)
			case 1:
				b = append(b, 0xdd, 0, 0, 0, 1)
			case 2:
				b = append(b, 0xde, 0x00, 0x01, 0xc0)
			case 3:
				b = append(b, 0xdf, 0, 0, 0, 1, 0xc0)
			}
		}
		return append(b, data...)
	}
	tests := []struct {
		name     string
		data     []byte
		maxDepth int // 0: CheckMsgpack
		ok       bool
	}{
		{"scalar", []byte{0x01}, 0, true},
		{"scalar, limit 1", []byte{0x01}, 1, true},
		{"flat map, limit 1", []byte{0x82, 0x01, 0x02, 0xa1, 'x', 0xc0}, 1, true},
		{"empty array inside, limit 1", []byte{0x91, 0x90}, 1, false},
		{"empty map inside, limit 1", []byte{0x81, 0xc0, 0x80}, 1, false},
		{"a timestamp does not nest, limit 1", []byte{0x91, 0xd6, 0xff, 0, 0, 0, 0}, 1, true},
		{"an ext is a level, limit 1", []byte{0x91, 0xd4, 0x01, 0x01}, 1, false},
		{"an ext is a level, limit 2", []byte{0x91, 0xd4, 0x01, 0x01}, 2, true},
		{"an ext's payload nests, limit 2", []byte{0x91, 0xd4, 0x01, 0x90}, 2, false},
		{"arrays at the limit", nestedArrays(limit), 0, true},
		{"arrays over the limit", nestedArrays(limit + 1), 0, false},
		{"empty innermost array at the limit", append(bytes.Repeat([]byte{0x91}, limit-1), 0x90), 0, true},
		{"empty innermost array over the limit", append(bytes.Repeat([]byte{0x91}, limit), 0x90), 0, false},
		{"maps at the limit", nestedMaps(limit), 0, true},
		{"maps over the limit", nestedMaps(limit + 1), 0, false},
		{"mixed at the limit", mixed(limit), 0, true},
		{"mixed over the limit", mixed(limit + 1), 0, false},
		{"wide headers at the limit", wrap(limit, []byte{0xc0}), 0, true},
		{"wide headers over the limit", wrap(limit, []byte{0x90}), 0, false},
		{"siblings up and down", siblings(300, limit), 0, true},
		{"mixed siblings up and down", slices.Concat([]byte{0x93}, mixed(limit-1), mixed(limit-1), mixed(limit-1)), 0, true},
		{"siblings one over", siblings(300, limit+1), 0, false},
		{"last sibling over the limit", slices.Concat([]byte{0x93}, nestedArrays(limit-1), nestedArrays(limit-1), nestedArrays(limit)), 0, false},
		{"custom limit: at", nestedMaps(5), 5, true},
		{"custom limit: over", nestedMaps(6), 5, false},
		{"custom limit above the default", nestedArrays(3 * limit), 3 * limit, true},
		{"custom limit above the default: over", nestedArrays(3*limit + 1), 3 * limit, false},
		{"zero means the default", nestedArrays(limit + 1), 0, false},
		{"negative means the default", nestedArrays(limit), -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.maxDepth == 0 {
				err = CheckMsgpack(tt.data)
			} else {
				err = CheckMsgpackDepth(tt.data, tt.maxDepth)
			}
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if err := msgpack.NewDecoder(bytes.NewReader(tt.data)).Skip(); err != nil {
					t.Fatalf("test bug: not valid msgpack: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrMsgpackTooDeep) || !errors.Is(err, ErrMalformedMsgpack) {
				t.Fatalf("err = %v, want ErrMsgpackTooDeep wrapping ErrMalformedMsgpack", err)
			}
			if !strings.Contains(err.Error(), "at byte ") || !strings.Contains(err.Error(), "level ") {
				t.Errorf("err = %v does not name the offset and level", err)
			}
		})
	}
	// The error names the level and the offset of the container too many.
	err := CheckMsgpack(nestedArrays(limit + 1))
	if want := "the container at byte 10000 is at level 10001, over the limit of 10000"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
	// Rejected before the rest is read: the depth error comes first.
	if err := CheckMsgpack(append(nestedArrays(limit + 1)[:limit+1], 0xc1)); !errors.Is(err, ErrMsgpackTooDeep) {
		t.Errorf("deep, then malformed: %v", err)
	}
}

// TestCheckMsgpackAllocs: checking is allocation-free up to 64 levels, and
// deeper data costs less than 32 bytes per level.
func TestCheckMsgpackAllocs(t *testing.T) {
	msg, _ := Msgpack.Marshal(&echoRequestV2{Message: "m", Payload: []byte{1}, Tags: map[string]string{"a": "b"}, Nested: &echoRequest{ResponseSize: 2}})
	for _, data := range [][]byte{msg, nestedArrays(checkStackSize), nestedMaps(checkStackSize), siblings(100, checkStackSize)} {
		if err := CheckMsgpack(data); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = CheckMsgpack(data) }); n != 0 {
			t.Errorf("CheckMsgpack(% x...) allocates %v times", data[:4], n)
		}
	}
	deep := nestedArrays(DefaultMaxMsgpackDepth)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := CheckMsgpack(deep); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got >= 32*DefaultMaxMsgpackDepth {
		t.Errorf("checking %d levels allocated %d bytes", DefaultMaxMsgpackDepth, got)
	}
}

// checkModel reads the msgpack value at data[i:] by recursion, as the spec
// describes it, and returns where it ends and how deeply its arrays and
// maps nest (0 for a scalar). On malformed data ok is false and depth is
// the deepest level reached before the problem.
func checkModel(data []byte, i int) (next, depth int, ok bool) {
	return checkModelExt(data, i, 0)
}

// checkModelExt is checkModel inside extDepth ext values: the timestamp
// extension (type -1) holds 4, 8 or 12 bytes; any other ext's payload is
// one msgpack value, read as a level of its own.
func checkModelExt(data []byte, i, extDepth int) (next, depth int, ok bool) {
	if i >= len(data) {
		return i, 0, false
	}
	c := data[i]
	i++
	// length reads a big-endian length of n bytes.
	length := func(n int) (int, bool) {
		if len(data)-i < n {
			return 0, false
		}
		l := 0
		for _, b := range data[i : i+n] {
			l = l<<8 | int(b)
		}
		i += n
		return l, true
	}
	fixed := map[byte]int{0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8,
		0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
	lengthSize := map[byte]int{0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4, 0xc7: 1, 0xc8: 2, 0xc9: 4,
		0xdc: 2, 0xdd: 4, 0xde: 2, 0xdf: 4}
	var skip, elems int
	container := false
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
	case c <= 0x8f:
		container, elems = true, 2*int(c&0x0f)
	case c <= 0x9f:
		container, elems = true, int(c&0x0f)
	case c <= 0xbf:
		skip = int(c & 0x1f)
	case fixed[c] > 0:
		skip = fixed[c]
	case lengthSize[c] > 0:
		l, ok := length(lengthSize[c])
		if !ok {
			return i, 0, false
		}
		switch c {
		case 0xdc, 0xdd:
			container, elems = true, l
		case 0xde, 0xdf:
			container, elems = true, 2*l
		case 0xc7, 0xc8, 0xc9:
			skip = 1 + l // the type byte, then the data
		default:
			skip = l
		}
	default: // 0xc1, reserved
		return i, 0, false
	}
	if !container {
		if skip > len(data)-i {
			return i, 0, false
		}
		if c == 0xc7 || c == 0xc8 || c == 0xc9 || c >= 0xd4 && c <= 0xd8 {
			typ, payload := int8(data[i]), data[i+1:i+skip]
			if typ == -1 {
				n := len(payload)
				return i + skip, 0, n == 4 || n == 8 || n == 12
			}
			if extDepth >= 8 {
				return i, 1, false
			}
			end, d, ok := checkModelExt(payload, 0, extDepth+1)
			return i + skip, 1 + d, ok && end == len(payload)
		}
		return i + skip, 0, true
	}
	deepest := 0
	for range elems {
		var d int
		i, d, ok = checkModelExt(data, i, extDepth)
		deepest = max(deepest, d)
		if !ok {
			return i, 1 + deepest, false
		}
	}
	return i, 1 + deepest, true
}

// FuzzCheckMsgpackDepth compares CheckMsgpackDepth with checkModel: it
// accepts exactly the data the model reads in full within the limit, and
// it blames depth only when the model went deeper than the limit.
func FuzzCheckMsgpackDepth(f *testing.F) {
	f.Add([]byte{0x91, 0x91, 0xc0}, uint8(2))
	f.Add([]byte{0x91, 0x91, 0x90}, uint8(2))
	f.Add([]byte{0x92, 0x91, 0x90, 0x81, 0x90, 0x80}, uint8(3))
	f.Add([]byte{0x81, 0x91, 0x80, 0xc0}, uint8(2))
	f.Add([]byte{0xdc, 0x00, 0x02, 0x91, 0xc0, 0xde, 0x00, 0x01, 0x90, 0xc0}, uint8(2))
	f.Add([]byte{0x91, 0xd4, 0x01, 0x91}, uint8(1))
	f.Add([]byte{0x91, 0xd4, 0x01, 0x90}, uint8(3))
	f.Add([]byte{0xc7, 0x10, 0x30, 0x81, 0xa9, 'b', 'y', 't', 'e', 's', '_', 'v', 'a', 'l', 0xc6, 0xff, 0xff, 0xff, 0xff}, uint8(0))
	f.Add([]byte{0xd6, 0xff, 0, 0, 0, 0}, uint8(1))
	f.Add(nestedArrays(20), uint8(19))
	f.Add(append(nestedArrays(20)[:20], 0xc1), uint8(10))
	f.Add(nestedMaps(300), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		if len(data) > 1<<16 {
			return
		}
		maxDepth := int(limit)
		if maxDepth == 0 {
			maxDepth = DefaultMaxMsgpackDepth
		}
		err := CheckMsgpackDepth(data, int(limit))
		next, depth, ok := checkModel(data, 0)
		valid := ok && next == len(data)
		if valid {
			if err := msgpack.NewDecoder(bytes.NewReader(data)).Skip(); err != nil {
				t.Fatalf("model bug: msgpack cannot skip what the model reads: %v", err)
			}
		}
		switch {
		case err == nil && !(valid && depth <= maxDepth):
			t.Fatalf("accepted; model: valid %v, depth %d, limit %d", valid, depth, maxDepth)
		case err != nil && valid && depth <= maxDepth:
			t.Fatalf("rejected valid data of depth %d, limit %d: %v", depth, maxDepth, err)
		case errors.Is(err, ErrMsgpackTooDeep) && depth <= maxDepth:
			t.Fatalf("blamed depth, but the model reached only %d of %d: %v", depth, maxDepth, err)
		case err != nil && !errors.Is(err, ErrMalformedMsgpack):
			t.Fatalf("error does not wrap ErrMalformedMsgpack: %v", err)
		}
	})
}

func FuzzMsgpackUnmarshal(f *testing.F) {
	seed, _ := Msgpack.Marshal(&echoRequestV2{Message: "m", Payload: []byte{1}, Tags: map[string]string{"a": "b"}, Nested: &echoRequest{ResponseSize: 2}, Count: -1})
	f.Add(seed)
	f.Add([]byte{0x80})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x91, 0x91, 0xc0})
	f.Add(append([]byte{0x81, 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e'}, nestedArrays(DefaultMaxMsgpackDepth)...))
	f.Add(append([]byte{0x81, 0xa1, 'x'}, nestedMaps(DefaultMaxMsgpackDepth-1)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		checkErr := CheckMsgpack(data)
		var v echoRequestV2
		err := Msgpack.Unmarshal(data, &v)
		if checkErr != nil && err == nil {
			t.Fatalf("Unmarshal accepted data CheckMsgpack rejects: %v", checkErr)
		}
		if err != nil {
			return
		}
		b, err := Msgpack.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		var v2 echoRequestV2
		if err := Msgpack.Unmarshal(b, &v2); err != nil {
			t.Fatalf("re-decoding our own encoding: %v", err)
		}
		if !reflect.DeepEqual(normalize(v), normalize(v2)) {
			t.Fatalf("round trip: %+v vs %+v", v, v2)
		}
	})
}

// normalize maps empty to nil so omitempty round trips compare equal.
func normalize(v echoRequestV2) echoRequestV2 {
	if len(v.Payload) == 0 {
		v.Payload = nil
	}
	if len(v.Tags) == 0 {
		v.Tags = nil
	}
	if v.Nested != nil {
		n := *v.Nested
		if len(n.Payload) == 0 {
			n.Payload = nil
		}
		v.Nested = &n
	}
	return v
}

func TestMsgpackConcurrent(t *testing.T) {
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				in := echoRequest{Message: strings.Repeat("x", i), ResponseSize: int32(i)}
				b, err := Msgpack.Marshal(&in)
				if err != nil {
					done <- err
					return
				}
				var out echoRequest
				if err := Msgpack.Unmarshal(b, &out); err != nil || out.Message != in.Message || out.ResponseSize != in.ResponseSize {
					done <- errors.New("mismatch")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkMsgpackMarshal(b *testing.B) {
	v := &echoRequest{Message: "hello, world", ResponseSize: 1024, Payload: []byte("0123456789")}
	b.ReportAllocs()
	for b.Loop() {
		out, err := Msgpack.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		sink.n += len(out)
	}
}

func BenchmarkMsgpackMarshalAppend(b *testing.B) {
	v := &echoRequest{Message: "hello, world", ResponseSize: 1024, Payload: []byte("0123456789")}
	c := Msgpack.(AppendCodec)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = c.MarshalAppend(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
	}
	sink.n += len(buf)
}

func BenchmarkMsgpackUnmarshal(b *testing.B) {
	data, _ := Msgpack.Marshal(&echoRequest{Message: "hello, world", ResponseSize: 1024, Payload: []byte("0123456789")})
	var v echoRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Msgpack.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
	sink.n += int(v.ResponseSize)
}

// The second worked example of docs/protocol.md.
type docMember struct {
	Name string `msgpack:"name,omitempty"`
}

type docRoom struct {
	Name    string           `msgpack:"name,omitempty"`
	Members []docMember      `msgpack:"members,omitempty"`
	Scores  map[string]int32 `msgpack:"scores,omitempty"`
	Avatar  []byte           `msgpack:"avatar,omitempty"`
}

func TestMsgpackWorkedExample2(t *testing.T) {
	in := &docRoom{Name: "go", Members: []docMember{{Name: "ann"}}, Scores: map[string]int32{"ann": -1}, Avatar: []byte{0xca, 0xfe}}
	b, err := Msgpack.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	const want = "84a46e616d65a2676fa76d656d626572739181a46e616d65a3616e6ea673636f72657381a3616e6effa6617661746172c402cafe"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("encoding = %s, want %s", got, want)
	}
	// A nil value reads as zero, like an absent key.
	withNil, _ := hex.DecodeString("82a46e616d65c0a6617661746172c0")
	var r docRoom
	if err := Msgpack.Unmarshal(withNil, &r); err != nil || r.Name != "" || r.Avatar != nil {
		t.Errorf("nil values: %+v, %v", r, err)
	}
}

// TestMsgpackContainerLenRejectsExt: the decoder reads a map or array out
// of an ext's payload where it expects one; generated code reads headers
// with MsgpackMapLen and MsgpackArrayLen, which refuse an ext there, so a
// timestamp's payload cannot start a map that reads the rest of a message
// out of step with what CheckMsgpack checked.
func TestMsgpackContainerLenRejectsExt(t *testing.T) {
	// A timestamp whose payload begins like a map16 of one entry.
	ts := []byte{0xd7, 0xff, 0xde, 0x00, 0x01, 0xa1, 'x', 0xc6, 0xff, 0xff}
	if err := CheckMsgpack(ts); err != nil {
		t.Fatalf("test bug: %v", err)
	}
	for name, read := range map[string]func(*msgpack.Decoder) (int, error){"map": MsgpackMapLen, "array": MsgpackArrayLen} {
		if _, err := read(msgpack.NewDecoder(bytes.NewReader(ts))); err == nil {
			t.Errorf("%s header read out of a timestamp", name)
		}
	}
	for _, tt := range []struct {
		data []byte
		want int
	}{{[]byte{0x80}, 0}, {[]byte{0xc0}, -1}, {[]byte{0xde, 0x00, 0x02}, 2}} {
		if n, err := MsgpackMapLen(msgpack.NewDecoder(bytes.NewReader(tt.data))); err != nil || n != tt.want {
			t.Errorf("MsgpackMapLen(% x) = %d, %v; want %d", tt.data, n, err, tt.want)
		}
	}
}
