package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/stubs"
	"github.com/parleyrpc/parley/stubs/parleyimpl"
	"github.com/parleyrpc/parley/wire"
	"github.com/parleyrpc/parley/wkt"
)

// wrapperMsg and freeForm decode the feature schema's Wrappers and FreeForm
// messages as the generated code (stubs/internal/featurepb, not importable
// here) does: the same struct tags, the same parleyimpl calls.
type wrapperMsg struct {
	DoubleVal *float64           `msgpack:"double_val,omitempty"`
	Int64Val  *int64             `msgpack:"int64_val,omitempty"`
	Int32Val  *int32             `msgpack:"int32_val,omitempty"`
	Uint32Val *uint32            `msgpack:"uint32_val,omitempty"`
	BoolVal   *bool              `msgpack:"bool_val,omitempty"`
	StringVal *string            `msgpack:"string_val,omitempty"`
	BytesVal  []byte             `msgpack:"bytes_val,omitempty"`
	List      []*int64           `msgpack:"list,omitempty"`
	ByName    map[string]*string `msgpack:"by_name,omitempty"`
}

type freeForm struct {
	Attrs  map[string]any
	Value  any
	List   []any
	Detail *wkt.Any
	Mask   *wkt.FieldMask
}

func (m *freeForm) DecodeMsgpack(d *msgpack.Decoder) error {
	return parleyimpl.DecodeMsgpackFields(d, 8, func(key []byte) error {
		var err error
		switch string(key) {
		case "attrs":
			m.Attrs, err = parleyimpl.DecodeMsgpackStruct(d)
		case "value":
			m.Value, err = parleyimpl.DecodeMsgpackValue(d)
		case "list":
			m.List, err = parleyimpl.DecodeMsgpackListValue(d)
		case "detail":
			m.Detail = new(wkt.Any)
			err = m.Detail.DecodeMsgpack(d)
		case "mask":
			m.Mask = new(wkt.FieldMask)
			err = m.Mask.DecodeMsgpack(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

func (m *freeForm) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeMapLen(5); err != nil {
		return err
	}
	for _, f := range []func() error{
		func() error { return e.EncodeString("attrs") }, func() error { return parleyimpl.EncodeMsgpackStruct(e, m.Attrs) },
		func() error { return e.EncodeString("value") }, func() error { return parleyimpl.EncodeMsgpackValue(e, m.Value) },
		func() error { return e.EncodeString("list") }, func() error { return parleyimpl.EncodeMsgpackListValue(e, m.List) },
		func() error { return e.EncodeString("detail") }, func() error { return m.Detail.EncodeMsgpack(e) },
		func() error { return e.EncodeString("mask") }, func() error { return m.Mask.EncodeMsgpack(e) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// featureMessage returns the descriptor of a message of the feature test
// schema, whose generated Go types are stubs/internal/featurepb.
func featureMessage(t *testing.T, name protoreflect.FullName) protoreflect.MessageDescriptor {
	t.Helper()
	files, err := stubs.Parse([]string{"../../stubs/testdata/feature.proto"}, stubs.Options{ImportPaths: []string{"../../stubs/testdata"}})
	if err != nil {
		t.Fatal(err)
	}
	md := files[0].Messages().ByName(name.Name())
	if md == nil {
		t.Fatalf("no message %s", name)
	}
	return md
}

func ptr[T any](v T) *T { return &v }

// TestCallWellKnownTypes converts JSON to msgpack by the schema, as parley
// call does, for the wrapperMsg, free-form and Any/FieldMask fields, and
// checks that the generated Go types decode exactly the values meant;
// then converts back to JSON.
func TestCallWellKnownTypes(t *testing.T) {
	cases := []struct {
		msg  protoreflect.FullName
		json string
		into any
		want any
		back string
	}{
		{"parley.feature.Wrappers",
			`{"double_val":1.5,"int64_val":"-9007199254740993","uint32_val":7,"bool_val":false,"string_val":"ß","bytes_val":"AAE=","list":[1,2],"by_name":{"a":"x"}}`,
			&wrapperMsg{},
			&wrapperMsg{DoubleVal: ptr(1.5), Int64Val: ptr(int64(-9007199254740993)), Uint32Val: ptr(uint32(7)), BoolVal: ptr(false),
				StringVal: ptr("ß"), BytesVal: []byte{0, 1}, List: []*int64{ptr(int64(1)), ptr(int64(2))}, ByName: map[string]*string{"a": ptr("x")}},
			`{"double_val":1.5,"int64_val":-9007199254740993,"uint32_val":7,"bool_val":false,"string_val":"ß","bytes_val":"AAE=","list":[1,2],"by_name":{"a":"x"}}`},
		{"parley.feature.Wrappers", `{"int32_val":null}`, &wrapperMsg{}, &wrapperMsg{}, `{}`},
		{"parley.feature.FreeForm",
			`{"attrs":{"n":1,"l":[true,null,"s"],"o":{}},"value":2.5,"list":["a"],"detail":{"type_url":"u","value":"CAE="},"mask":{"paths":["a.b"]}}`,
			&freeForm{},
			&freeForm{Attrs: map[string]any{"n": 1.0, "l": []any{true, nil, "s"}, "o": map[string]any{}}, Value: 2.5, List: []any{"a"},
				Detail: &wkt.Any{TypeURL: "u", Value: []byte{8, 1}}, Mask: &wkt.FieldMask{Paths: []string{"a.b"}}},
			`{"attrs":{"l":[true,null,"s"],"n":1,"o":{}},"value":2.5,"list":["a"],"detail":{"type_url":"u","value":"CAE="},"mask":{"paths":["a.b"]}}`},
	}
	for _, c := range cases {
		t.Run(string(c.msg), func(t *testing.T) {
			md := featureMessage(t, c.msg)
			b, err := jsonToMsgpack(md, json.RawMessage(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if err := wire.Msgpack.Unmarshal(b, c.into); err != nil {
				t.Fatalf("the generated type cannot decode % x: %v", b, err)
			}
			if !reflect.DeepEqual(c.into, c.want) {
				t.Fatalf("decoded %#v\nwant    %#v", c.into, c.want)
			}
			enc, err := wire.Msgpack.Marshal(c.want)
			if err != nil {
				t.Fatal(err)
			}
			back, err := msgpackToJSON(md, enc)
			if err != nil {
				t.Fatal(err)
			}
			if string(back) != c.back {
				t.Fatalf("back to JSON:\n got %s\nwant %s", back, c.back)
			}
		})
	}
	md := featureMessage(t, "parley.feature.FreeForm")
	for _, bad := range []string{`{"attrs":[1]}`, `{"list":{}}`} {
		if _, err := jsonToMsgpack(md, json.RawMessage(bad)); err == nil || !strings.Contains(err.Error(), "want an") {
			t.Errorf("%s: %v, want a type error", bad, err)
		}
	}
}
