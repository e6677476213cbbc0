package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file converts between JSON (what people type and read) and the
// msgpack parley sends, in two ways: typed by a message descriptor (with
// -proto), or as-is (without).

// ---- JSON → msgpack, typed by the schema ----

// jsonToMsgpack converts one JSON object to the msgpack encoding of the
// message md, checking field names and value types.
func jsonToMsgpack(md protoreflect.MessageDescriptor, j json.RawMessage) ([]byte, error) {
	v, err := decodeJSON(j)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := encodeMessage(enc, md, v, string(md.FullName())); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeJSON decodes j keeping numbers as json.Number and object keys in
// their order.
func decodeJSON(j []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	v, err := decodeJSONValue(dec)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// object is a JSON object with its keys in order.
type object struct {
	keys   []string
	values map[string]any
}

func decodeJSONValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{values: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeJSONValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := o.values[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				o.keys = append(o.keys, k)
				o.values[k] = v
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			var a []any
			for dec.More() {
				v, err := decodeJSONValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token() // ']'
			if a == nil {
				a = []any{}
			}
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil // nil, bool, json.Number, string
	}
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case *object:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// encodeMessage writes the JSON object v as the message md. Fields are
// written in declaration order; null fields are left out.
func encodeMessage(enc *msgpack.Encoder, md protoreflect.MessageDescriptor, v any, path string) error {
	switch md.FullName() {
	case "google.protobuf.Timestamp", "google.protobuf.Duration":
		return encodeScalar(enc, wktField{md}, v, path)
	}
	if w := wrappedField(md); w != nil {
		return encodeScalar(enc, w, v, path)
	}
	if isFreeForm(md) {
		return encodeFreeForm(enc, md, v, path)
	}
	o, ok := v.(*object)
	if !ok {
		return fmt.Errorf("%s: want an object for message %s, got %s", path, md.FullName(), jsonTypeName(v))
	}
	fields := md.Fields()
	type entry struct {
		fd protoreflect.FieldDescriptor
		v  any
	}
	var entries []entry
	oneofs := map[protoreflect.FullName]string{}
	for _, k := range o.keys {
		fd := fields.ByName(protoreflect.Name(k))
		if fd == nil {
			fd = fields.ByJSONName(k)
		}
		if fd == nil {
			var names []string
			for i := 0; i < fields.Len(); i++ {
				names = append(names, string(fields.Get(i).Name()))
			}
			return fmt.Errorf("%s: unknown field %q in message %s (fields: %s)", path, k, md.FullName(), strings.Join(names, ", "))
		}
		val := o.values[k]
		if val == nil {
			continue
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if prev, dup := oneofs[od.FullName()]; dup {
				return fmt.Errorf("%s: fields %s and %s are both cases of oneof %s: set at most one", path, prev, fd.Name(), od.Name())
			}
			oneofs[od.FullName()] = string(fd.Name())
		}
		entries = append(entries, entry{fd, val})
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].fd.Index() < entries[j].fd.Index() })
	if err := enc.EncodeMapLen(len(entries)); err != nil {
		return err
	}
	for _, e := range entries {
		if err := enc.EncodeString(string(e.fd.Name())); err != nil {
			return err
		}
		if err := encodeField(enc, e.fd, e.v, path+"."+string(e.fd.Name())); err != nil {
			return err
		}
	}
	return nil
}

func encodeField(enc *msgpack.Encoder, fd protoreflect.FieldDescriptor, v any, path string) error {
	switch {
	case fd.IsMap():
		o, ok := v.(*object)
		if !ok {
			return fmt.Errorf("%s: want an object for a map, got %s", path, jsonTypeName(v))
		}
		if err := enc.EncodeMapLen(len(o.keys)); err != nil {
			return err
		}
		for _, k := range o.keys {
			if err := encodeMapKey(enc, fd.MapKey(), k, path); err != nil {
				return err
			}
			if err := encodeSingle(enc, fd.MapValue(), o.values[k], path+"["+strconv.Quote(k)+"]"); err != nil {
				return err
			}
		}
		return nil
	case fd.IsList():
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array for a repeated field, got %s", path, jsonTypeName(v))
		}
		if err := enc.EncodeArrayLen(len(a)); err != nil {
			return err
		}
		for i, x := range a {
			if err := encodeSingle(enc, fd, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	return encodeSingle(enc, fd, v, path)
}

func encodeMapKey(enc *msgpack.Encoder, fd protoreflect.FieldDescriptor, k, path string) error {
	if fd.Kind() == protoreflect.StringKind {
		return enc.EncodeString(k)
	}
	if fd.Kind() == protoreflect.BoolKind {
		switch k {
		case "true":
			return enc.EncodeBool(true)
		case "false":
			return enc.EncodeBool(false)
		}
		return fmt.Errorf("%s: map key %q is not true or false", path, k)
	}
	return encodeScalar(enc, fd, json.Number(k), path+"["+strconv.Quote(k)+"]")
}

func encodeSingle(enc *msgpack.Encoder, fd protoreflect.FieldDescriptor, v any, path string) error {
	if fd.Kind() == protoreflect.MessageKind {
		if v == nil {
			return enc.EncodeNil()
		}
		if fd.Message().FullName() == "google.protobuf.Empty" {
			if o, ok := v.(*object); !ok || len(o.keys) > 0 {
				return fmt.Errorf("%s: want {} for google.protobuf.Empty", path)
			}
			return enc.EncodeMapLen(0)
		}
		return encodeMessage(enc, fd.Message(), v, path)
	}
	return encodeScalar(enc, fd, v, path)
}

// kinder is what encodeScalar needs of a field: its kind and enum.
type kinder interface {
	Kind() protoreflect.Kind
	Enum() protoreflect.EnumDescriptor
	Message() protoreflect.MessageDescriptor
}

// wktField stands for a Timestamp or Duration value.
type wktField struct {
	md protoreflect.MessageDescriptor
}

func (w wktField) Kind() protoreflect.Kind                 { return protoreflect.MessageKind }
func (w wktField) Enum() protoreflect.EnumDescriptor       { return nil }
func (w wktField) Message() protoreflect.MessageDescriptor { return w.md }

// numberText returns the text of a JSON number, or of a string holding
// one (proto's JSON mapping quotes 64-bit integers).
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case string:
		return strings.TrimSpace(n), true
	}
	return "", false
}

func encodeScalar(enc *msgpack.Encoder, fd kinder, v any, path string) error {
	bad := func(want string) error {
		return fmt.Errorf("%s: want %s, got %s", path, want, jsonTypeName(v))
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind,
		protoreflect.FloatKind, protoreflect.DoubleKind:
		return encodeNumber(enc, fd.Kind(), v, path, bad)
	case protoreflect.BoolKind:
		b, ok := v.(bool)
		if !ok {
			return bad("true or false")
		}
		return enc.EncodeBool(b)
	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		return enc.EncodeString(s)
	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return bad("a base64 string")
		}
		b, err := decodeBase64(s)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		return enc.EncodeBytes(b)
	case protoreflect.EnumKind:
		return encodeEnum(enc, fd.Enum(), v, path, bad)
	case protoreflect.MessageKind:
		if ok, err := encodeWellKnown(enc, fd.Message().FullName(), v, path, bad); ok {
			return err
		}
	}
	return fmt.Errorf("%s: unsupported kind %s", path, fd.Kind())
}

// encodeNumber encodes a JSON number (or one of proto3 JSON's strings for
// numbers) as a field of numeric kind k.
func encodeNumber(enc *msgpack.Encoder, k protoreflect.Kind, v any, path string, bad func(string) error) error {
	s, ok := numberText(v)
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if !ok {
			return bad("an integer")
		}
		bits := intBits(k)
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return fmt.Errorf("%s: %q is not an int%d", path, s, bits)
		}
		return enc.EncodeInt(n)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if !ok {
			return bad("an unsigned integer")
		}
		bits := intBits(k)
		n, err := strconv.ParseUint(s, 10, bits)
		if err != nil {
			return fmt.Errorf("%s: %q is not a uint%d", path, s, bits)
		}
		return enc.EncodeUint(n)
	}
	if !ok {
		return bad("a number")
	}
	var f float64
	switch s {
	case "NaN":
		f = math.NaN()
	case "Infinity":
		f = math.Inf(1)
	case "-Infinity":
		f = math.Inf(-1)
	default:
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return fmt.Errorf("%s: %q is not a number", path, s)
		}
	}
	if k == protoreflect.FloatKind {
		return enc.EncodeFloat32(float32(f))
	}
	return enc.EncodeFloat64(f)
}

// encodeEnum encodes an enum value given by name or number.
func encodeEnum(enc *msgpack.Encoder, ed protoreflect.EnumDescriptor, v any, path string, bad func(string) error) error {
	switch x := v.(type) {
	case string:
		if ev := ed.Values().ByName(protoreflect.Name(x)); ev != nil {
			return enc.EncodeInt(int64(ev.Number()))
		}
		var names []string
		for i := 0; i < ed.Values().Len(); i++ {
			names = append(names, string(ed.Values().Get(i).Name()))
		}
		return fmt.Errorf("%s: %q is not a value of enum %s (%s)", path, x, ed.FullName(), strings.Join(names, ", "))
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 32)
		if err != nil {
			return fmt.Errorf("%s: %q is not an enum number", path, x)
		}
		return enc.EncodeInt(n)
	}
	return bad("an enum name or number")
}

// encodeWellKnown encodes the well-known message types that JSON writes
// as strings (Timestamp and Duration); false for other messages.
func encodeWellKnown(enc *msgpack.Encoder, name protoreflect.FullName, v any, path string, bad func(string) error) (bool, error) {
	s, ok := v.(string)
	switch name {
	case "google.protobuf.Timestamp":
		if !ok {
			return true, bad(`an RFC 3339 timestamp string like "2024-01-02T15:04:05Z"`)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return true, fmt.Errorf("%s: %v", path, err)
		}
		return true, enc.EncodeTime(t)
	case "google.protobuf.Duration":
		if !ok {
			return true, bad(`a duration string like "1.5s"`)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return true, fmt.Errorf("%s: %v", path, err)
		}
		return true, enc.EncodeInt(int64(d))
	}
	return false, nil
}

// intBits returns the size in bits of an integer kind.
func intBits(k protoreflect.Kind) int {
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return 32
	}
	return 64
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%q is not base64", s)
}

// ---- msgpack → JSON, typed by the schema ----

// msgpackToJSON converts the msgpack encoding of the message md to a JSON
// object with the proto field names as keys, in the order received. Keys
// the schema does not know are printed as they decode.
func msgpackToJSON(md protoreflect.MessageDescriptor, b []byte) ([]byte, error) {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	var out bytes.Buffer
	if err := writeMessage(&out, dec, md); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func isNil(dec *msgpack.Decoder) (bool, error) {
	c, err := dec.PeekCode()
	if err != nil {
		return false, err
	}
	if c == msgpcode.Nil {
		return true, dec.Skip()
	}
	return false, nil
}

func writeMessage(out *bytes.Buffer, dec *msgpack.Decoder, md protoreflect.MessageDescriptor) error {
	if nilv, err := isNil(dec); err != nil || nilv {
		out.WriteString("null")
		return err
	}
	switch md.FullName() {
	case "google.protobuf.Timestamp", "google.protobuf.Duration":
		return writeScalar(out, dec, wktField{md})
	}
	if ok, err := writeWKTValue(out, dec, md); ok {
		return err
	}
	n, err := dec.DecodeMapLen()
	if err != nil {
		return fmt.Errorf("message %s: %w", md.FullName(), err)
	}
	out.WriteByte('{')
	fields := md.Fields()
	for i := 0; i < n; i++ {
		key, err := dec.DecodeString()
		if err != nil {
			return fmt.Errorf("message %s: key: %w", md.FullName(), err)
		}
		if i > 0 {
			out.WriteByte(',')
		}
		writeJSONString(out, key)
		out.WriteByte(':')
		fd := fields.ByName(protoreflect.Name(key))
		if fd == nil {
			if err := writeRaw(out, dec); err != nil {
				return err
			}
			continue
		}
		if err := writeField(out, dec, fd); err != nil {
			return fmt.Errorf("%s.%s: %w", md.FullName(), key, err)
		}
	}
	out.WriteByte('}')
	return nil
}

func writeField(out *bytes.Buffer, dec *msgpack.Decoder, fd protoreflect.FieldDescriptor) error {
	if nilv, err := isNil(dec); err != nil || nilv {
		out.WriteString("null")
		return err
	}
	switch {
	case fd.IsMap():
		n, err := dec.DecodeMapLen()
		if err != nil {
			return err
		}
		out.WriteByte('{')
		for i := 0; i < n; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			k, err := dec.DecodeInterface()
			if err != nil {
				return err
			}
			writeJSONString(out, fmt.Sprint(k))
			out.WriteByte(':')
			if err := writeSingle(out, dec, fd.MapValue()); err != nil {
				return err
			}
		}
		out.WriteByte('}')
		return nil
	case fd.IsList():
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		out.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := writeSingle(out, dec, fd); err != nil {
				return err
			}
		}
		out.WriteByte(']')
		return nil
	}
	return writeSingle(out, dec, fd)
}

func writeSingle(out *bytes.Buffer, dec *msgpack.Decoder, fd protoreflect.FieldDescriptor) error {
	if fd.Kind() == protoreflect.MessageKind {
		if fd.Message().FullName() == "google.protobuf.Empty" {
			out.WriteString("{}")
			return dec.Skip()
		}
		return writeMessage(out, dec, fd.Message())
	}
	return writeScalar(out, dec, fd)
}

func writeScalar(out *bytes.Buffer, dec *msgpack.Decoder, fd kinder) error {
	if nilv, err := isNil(dec); err != nil || nilv {
		out.WriteString("null")
		return err
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := dec.DecodeInt64()
		out.WriteString(strconv.FormatInt(n, 10))
		return err
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := dec.DecodeUint64()
		out.WriteString(strconv.FormatUint(n, 10))
		return err
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f, err := dec.DecodeFloat64()
		writeFloat(out, f, fd.Kind() == protoreflect.FloatKind)
		return err
	case protoreflect.BoolKind:
		b, err := dec.DecodeBool()
		out.WriteString(strconv.FormatBool(b))
		return err
	case protoreflect.StringKind:
		s, err := dec.DecodeString()
		writeJSONString(out, s)
		return err
	case protoreflect.BytesKind:
		b, err := dec.DecodeBytes()
		writeJSONString(out, base64.StdEncoding.EncodeToString(b))
		return err
	case protoreflect.EnumKind:
		n, err := dec.DecodeInt32()
		if ev := fd.Enum().Values().ByNumber(protoreflect.EnumNumber(n)); ev != nil {
			writeJSONString(out, string(ev.Name()))
		} else {
			out.WriteString(strconv.FormatInt(int64(n), 10))
		}
		return err
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Timestamp":
			t, err := dec.DecodeTime()
			writeJSONString(out, t.UTC().Format(time.RFC3339Nano))
			return err
		case "google.protobuf.Duration":
			n, err := dec.DecodeInt64()
			writeJSONString(out, formatDuration(time.Duration(n)))
			return err
		}
	}
	return fmt.Errorf("unsupported kind %s", fd.Kind())
}

// formatDuration writes d the way proto's JSON mapping does: seconds with
// up to nine fractional digits and an "s" suffix ("1.5s", "-0.001s").
func formatDuration(d time.Duration) string {
	sign := ""
	u := uint64(d)
	if d < 0 {
		sign, u = "-", uint64(-d)
	}
	s := strconv.FormatUint(u/1e9, 10)
	if frac := u % 1e9; frac != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", frac), "0")
	}
	return sign + s + "s"
}

func writeFloat(out *bytes.Buffer, f float64, single bool) {
	switch {
	case math.IsNaN(f):
		out.WriteString(`"NaN"`)
	case math.IsInf(f, 1):
		out.WriteString(`"Infinity"`)
	case math.IsInf(f, -1):
		out.WriteString(`"-Infinity"`)
	case single:
		out.WriteString(strconv.FormatFloat(f, 'g', -1, 32))
	default:
		out.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	}
}

func writeJSONString(out *bytes.Buffer, s string) {
	b, _ := json.Marshal(s)
	out.Write(b)
}

// writeRaw writes the next msgpack value as JSON without a schema.
func writeRaw(out *bytes.Buffer, dec *msgpack.Decoder) error {
	v, err := dec.DecodeInterface()
	if err != nil {
		return err
	}
	b, err := json.Marshal(jsonable(v))
	if err != nil {
		return err
	}
	out.Write(b)
	return nil
}

// ---- without a schema ----

// rawJSONToMsgpack sends a JSON value as msgpack as it is: objects become
// maps with string keys (sorted), integers msgpack ints, other numbers
// float64.
func rawJSONToMsgpack(j json.RawMessage) ([]byte, error) {
	v, err := decodeJSON(j)
	if err != nil {
		return nil, err
	}
	if _, ok := v.(*object); !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonTypeName(v))
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := encodeRaw(enc, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func encodeRaw(enc *msgpack.Encoder, v any) error {
	switch x := v.(type) {
	case nil:
		return enc.EncodeNil()
	case bool:
		return enc.EncodeBool(x)
	case string:
		return enc.EncodeString(x)
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return enc.EncodeInt(n)
		}
		if n, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return enc.EncodeUint(n)
		}
		f, err := x.Float64()
		if err != nil {
			return err
		}
		return enc.EncodeFloat64(f)
	case []any:
		if err := enc.EncodeArrayLen(len(x)); err != nil {
			return err
		}
		for _, e := range x {
			if err := encodeRaw(enc, e); err != nil {
				return err
			}
		}
		return nil
	case *object:
		if err := enc.EncodeMapLen(len(x.keys)); err != nil {
			return err
		}
		for _, k := range x.keys {
			if err := enc.EncodeString(k); err != nil {
				return err
			}
			if err := encodeRaw(enc, x.values[k]); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected JSON value %T", v)
}

// rawMsgpackToJSON prints a msgpack value as JSON without a schema: bin as
// base64, timestamps as RFC 3339, non-string map keys as their text.
func rawMsgpackToJSON(b []byte) ([]byte, error) {
	var out bytes.Buffer
	if err := writeRaw(&out, msgpack.NewDecoder(bytes.NewReader(b))); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// jsonable converts what msgpack's DecodeInterface returns to values that
// encoding/json can print.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Sprint(x)
		}
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}
