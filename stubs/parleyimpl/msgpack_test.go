package parleyimpl_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/stubs/parleyimpl"
)

// raceEnabled is set by race_test.go in -race builds.
var raceEnabled bool

// collect decodes data with DecodeMsgpackFields, skipping each value, and
// returns the keys it was called with ("<nil>" for a nil key).
func collect(t *testing.T, data []byte, longest int) ([]string, error) {
	t.Helper()
	d := msgpack.NewDecoder(bytes.NewReader(data))
	var keys []string
	err := parleyimpl.DecodeMsgpackFields(d, longest, func(key []byte) error {
		if key == nil {
			keys = append(keys, "<nil>")
		} else {
			keys = append(keys, string(key))
		}
		return d.Skip()
	})
	return keys, err
}

func enc(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeMsgpackFields(t *testing.T) {
	long := strings.Repeat("k", 300)
	for _, tc := range []struct {
		name    string
		data    []byte
		longest int
		want    string
	}{
		{"nil map", []byte{0xc0}, 4, ""},
		{"empty map", []byte{0x80}, 4, ""},
		{"keys", enc(t, map[string]int{"ab": 1}), 4, "ab"},
		{"bin key", []byte{0x81, 0xc4, 0x02, 'a', 'b', 0x01}, 4, "ab"},
		{"key longer than every field", append(append([]byte{0x82, 0xd9, 0x05}, "abcde"...), 0x01, 0xa2, 'a', 'b', 0x02), 4, "<nil>,ab"},
		{"key far longer than the pooled buffer", append(append(append([]byte{0x82, 0xda, 0x01, 0x2c}, long...), 0x01, 0xa1, 'x'), 0x02), 2, "<nil>,x"},
		{"field name longer than the pooled buffer", append(append([]byte{0x81, 0xda, 0x01, 0x2c}, long...), 0x01), 300, long},
		{"empty key", []byte{0x81, 0xa0, 0x01}, 4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := collect(t, tc.data, tc.longest)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(keys, ","); got != tc.want {
				t.Fatalf("keys %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeMsgpackFieldsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"not a map", []byte{0x01}},
		{"array", []byte{0x90}},
		{"extension where the map belongs", []byte{0xd6, 0xff, 0, 0, 0, 0}},
		{"integer key", []byte{0x81, 0x01, 0x01}},
		{"truncated key", []byte{0x81, 0xa4, 'a'}},
		{"truncated long key", []byte{0x81, 0xd9, 0x40, 'a'}},
		{"truncated map", []byte{0x82, 0xa1, 'a', 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := collect(t, tc.data, 4); err == nil {
				t.Fatalf("% x decoded without error", tc.data)
			}
		})
	}
}

// TestDecodeMsgpackFieldsAllocs is the point of the function: reading the
// keys of a message allocates nothing (the generated decoders used to
// allocate their key buffer, once per message).
func TestDecodeMsgpackFieldsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	data := enc(t, map[string]int{"offset": 1, "limit": 2, "level": 3})
	var r bytes.Reader
	d := msgpack.NewDecoder(&r)
	sum := 0
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(data)
		d.ResetReader(&r)
		err := parleyimpl.DecodeMsgpackFields(d, 6, func(key []byte) error {
			v, err := d.DecodeInt()
			sum += v + len(key)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message, want 0", allocs)
	}
}

func TestSkipMsgpackMap(t *testing.T) {
	for _, data := range [][]byte{{0xc0}, {0x80}, enc(t, map[string]any{"a": []int{1, 2}, "b": map[string]int{"c": 1}})} {
		d := msgpack.NewDecoder(bytes.NewReader(data))
		if err := parleyimpl.SkipMsgpackMap(d); err != nil {
			t.Fatalf("% x: %v", data, err)
		}
		if _, err := d.PeekCode(); err == nil {
			t.Fatalf("% x: bytes left after the map", data)
		}
	}
	if err := parleyimpl.SkipMsgpackMap(msgpack.NewDecoder(bytes.NewReader([]byte{0x91, 0x01}))); err == nil {
		t.Fatal("an array was skipped as a map")
	}
}
