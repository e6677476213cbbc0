package stubs

import "testing"

// emptyProto uses Empty, and a message of no fields, as the values of
// maps and lists, where a generated loop has no value to look at.
const emptyProto = `syntax = "proto3";
package e;
option go_package = "GENPKG;e";
import "google/protobuf/empty.proto";
message None {}
message M {
  map<string, google.protobuf.Empty> set = 1;
  repeated google.protobuf.Empty list = 2;
  map<int32, None> nones = 3;
  repeated None none_list = 4;
  google.protobuf.Empty one = 5;
  oneof o { google.protobuf.Empty case = 6; }
}
`

// emptyRoundTrip is a test of the generated package: M survives both
// encodings.
const emptyRoundTrip = `package e

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestEmptyRoundTrip(t *testing.T) {
	in := &M{
		Set:      map[string]*struct{}{"a": {}, "b": {}},
		List:     []*struct{}{{}, {}, {}},
		Nones:    map[int32]*None{1: {}, 2: {}},
		NoneList: []*None{{}, {}},
		One:      &struct{}{},
		O:        &M_Case{Case: &struct{}{}},
	}
	b, err := msgpack.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out M
	if err := msgpack.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Errorf("msgpack: got %+v, want %+v", &out, in)
	}
	p, err := in.AppendProto(nil)
	if err != nil {
		t.Fatal(err)
	}
	out = M{}
	if err := out.UnmarshalProto(p); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, &out) {
		t.Errorf("protobuf: got %+v, want %+v", &out, in)
	}
	// A map entry without its value holds an Empty, as in msgpack.
	out = M{}
	if err := out.UnmarshalProto([]byte{0x0a, 0x03, 0x0a, 0x01, 'k'}); err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Set["k"]; !ok || v == nil {
		t.Errorf("entry without a value: got %v, %v", v, ok)
	}
}
`

// Empty, and messages without fields, as map values and list elements
// generate code that compiles and round-trips in both encodings.
func TestEmptyValuesBuild(t *testing.T) {
	dir, _ := genInModule(t, map[string]string{
		"e.proto":      emptyProto,
		"e_rt_test.go": emptyRoundTrip,
	}, "e.proto")
	goTool(t, "vet", dir)
	goTool(t, "test", dir)
}
