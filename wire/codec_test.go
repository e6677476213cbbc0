package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
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
		{0xc7, 0x01, 0x05, 0xaa}, {0xc8, 0x00, 0x00, 0x05}, {0xc9, 0, 0, 0, 0, 0x05},
		{0xca, 0, 0, 0, 0}, {0xcb, 0, 0, 0, 0, 0, 0, 0, 0},
		{0xcc, 1}, {0xcd, 1, 2}, {0xce, 1, 2, 3, 4}, {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd0, 1}, {0xd1, 1, 2}, {0xd2, 1, 2, 3, 4}, {0xd3, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd4, 1, 1}, {0xd5, 1, 1, 2}, {0xd6, 1, 1, 2, 3, 4}, append([]byte{0xd7, 1}, make([]byte, 8)...),
		append([]byte{0xd8, 1}, make([]byte, 16)...),
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
	deep := append(bytes.Repeat([]byte{0x91}, 100000), 0xc0)
	if err := CheckMsgpack(deep); err != nil {
		t.Errorf("deep nesting: %v", err)
	}
}

func FuzzMsgpackUnmarshal(f *testing.F) {
	seed, _ := Msgpack.Marshal(&echoRequestV2{Message: "m", Payload: []byte{1}, Tags: map[string]string{"a": "b"}, Nested: &echoRequest{ResponseSize: 2}, Count: -1})
	f.Add(seed)
	f.Add([]byte{0x80})
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x91, 0x91, 0xc0})
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
