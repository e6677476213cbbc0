package stubs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file generates each message's protobuf binary codec: AppendProto,
// UnmarshalProto and MergeProto, written with protowire and parleyimpl,
// without reflection. The encoding is the one protoc-gen-go's code writes
// for the same schema: fields in number order, proto3 zero values
// omitted (but -0.0 written, as protobuf-go does), oneofs last, repeated scalars
// packed, map entries with both key and value. The decoders read any
// valid encoding: packed or not, fields in any order and repeated (the
// last scalar wins, messages merge), unknown fields skipped.

const protowirePath = "google.golang.org/protobuf/encoding/protowire"

// protoField is one field of a message in the protobuf encoding: a plain
// field, or one case of a oneof (then oneof is the struct member).
type protoField struct {
	fl    field
	oneof *field
}

func (pf protoField) num() protoreflect.FieldNumber { return pf.fl.fd.Number() }

// protoFields lists m's fields and oneof cases in the order protobuf-go
// writes them (its LegacyFieldOrder, kept for compatibility with older
// Go output): fields outside oneofs by number, then each oneof's cases,
// oneofs in declaration order, cases by number.
func protoFields(fields []field) []protoField {
	var out []protoField
	for i := range fields {
		fl := &fields[i]
		if fl.oneof == nil {
			out = append(out, protoField{fl: *fl})
			continue
		}
		for _, c := range fl.cases {
			out = append(out, protoField{fl: c, oneof: fl})
		}
	}
	slices.SortStableFunc(out, func(a, b protoField) int {
		if (a.oneof == nil) != (b.oneof == nil) {
			if a.oneof == nil {
				return -1
			}
			return 1
		}
		if a.oneof != nil && a.oneof != b.oneof {
			return cmp.Compare(a.oneof.oneof.Index(), b.oneof.oneof.Index())
		}
		return cmp.Compare(a.num(), b.num())
	})
	return out
}

// wireType returns the protobuf wire type of one value of e.
func wireType(e elem) protowire.Type {
	switch e.kind {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// wireTypeName is the protowire constant for t.
func (f *fileGen) wireTypeName(t protowire.Type) string {
	pw := f.use(protowirePath)
	switch t {
	case protowire.Fixed32Type:
		return pw + ".Fixed32Type"
	case protowire.Fixed64Type:
		return pw + ".Fixed64Type"
	case protowire.BytesType:
		return pw + ".BytesType"
	}
	return pw + ".VarintType"
}

// tagBytes returns the encoded tag of field num with wire type t as Go
// byte literals, for append.
func tagBytes(num protoreflect.FieldNumber, t protowire.Type) string {
	var parts []string
	for _, c := range protowire.AppendTag(nil, num, t) {
		parts = append(parts, fmt.Sprintf("0x%02x", c))
	}
	return strings.Join(parts, ", ")
}

// packed names the parleyimpl functions that encode and decode a
// repeated field of a packable kind ("" for kinds that are not packed):
// AppendPacked<Elem> and Append<Elem>s.
func packed(k protoreflect.Kind) (enc, dec string) {
	elem, ok := packedElems[k]
	if !ok {
		return "", ""
	}
	return "AppendPacked" + elem, "Append" + elem + "s"
}

// packedElems names the element type of each packable kind in the names
// of parleyimpl's packed encoders and decoders.
var packedElems = map[protoreflect.Kind]string{
	protoreflect.Int32Kind:    "Int32",
	protoreflect.EnumKind:     "Int32",
	protoreflect.Int64Kind:    "Int64",
	protoreflect.Uint32Kind:   "Uint32",
	protoreflect.Uint64Kind:   "Uint64",
	protoreflect.Sint32Kind:   "Sint32",
	protoreflect.Sint64Kind:   "Sint64",
	protoreflect.BoolKind:     "Bool",
	protoreflect.Fixed32Kind:  "Fixed32",
	protoreflect.Sfixed32Kind: "Fixed32",
	protoreflect.Fixed64Kind:  "Fixed64",
	protoreflect.Sfixed64Kind: "Fixed64",
	protoreflect.FloatKind:    "Float",
	protoreflect.DoubleKind:   "Double",
}

// protoPresentExpr returns the condition under which a plain singular
// field is encoded: as presentExpr, except that a float or double of
// negative zero is written, as protobuf-go does.
func protoPresentExpr(f *fileGen, fl field) string {
	k := fl.e.kind
	if !fl.fd.IsList() && !fl.fd.IsMap() && !optionalPtr(fl.fd, fl.e) && (k == protoreflect.FloatKind || k == protoreflect.DoubleKind) {
		x := "m." + fl.goName
		return x + " != 0 || " + f.use("math") + ".Signbit(float64(" + x + "))"
	}
	return presentExpr(fl)
}

// protoMethods writes AppendProto, UnmarshalProto and MergeProto for the
// message m, named name in Go.
func (f *fileGen) protoMethods(m protoreflect.MessageDescriptor, name string, fields []field) {
	pfs := protoFields(fields)
	f.protoEncoder(name, pfs)
	f.protoDecoder(m, name, pfs)
}

// encodeFails reports whether encoding a value of e can fail: strings
// must be UTF-8, and messages contain strings.
func encodeFails(e elem) bool {
	return e.kind == protoreflect.StringKind || e.isMessage() || funcWKTs[protoreflect.FullName(e.wkt)].appendFails
}

func (f *fileGen) protoEncoder(name string, pfs []protoField) {
	f.P("// AppendProto appends m's protobuf binary encoding to b, as")
	f.P("// protoc-gen-go's code writes it (fields in number order, oneofs last,")
	f.P("// zero fields omitted, repeated scalars packed), without reflection. A")
	f.P("// nil m encodes as the empty message. It fails only on a string that is")
	f.P("// not UTF-8.")
	f.P("func (m *", name, ") AppendProto(b []byte) ([]byte, error) {")
	f.P("if m == nil {")
	f.P("return b, nil")
	f.P("}")
	fails := false
	for _, pf := range pfs {
		fails = fails || encodeFails(pf.fl.e) || pf.fl.fd.IsMap() && encodeFails(pf.fl.key)
	}
	if fails {
		f.P("var err error")
	}
	for _, pf := range pfs {
		fl := pf.fl
		fd := fl.fd
		num := fd.Number()
		if pf.oneof != nil {
			f.P("if x, ok := m.", pf.oneof.goName, ".(*", fl.caseType, "); ok && x != nil {")
			f.protoEncodeValue(fl.e, fd, num, "x."+fl.goName)
			f.P("}")
			continue
		}
		x := "m." + fl.goName
		switch {
		case fd.IsMap():
			f.P(rangeClause(fl.e, "k, v", x), " {")
			f.P("b = append(b, ", tagBytes(num, protowire.BytesType), ")")
			f.P("pos := len(b)")
			f.P("b = append(b, 0)")
			f.protoEncodeValue(fl.key, fd, 1, "k")
			f.protoEncodeValue(fl.e, fd, 2, "v")
			f.P("b = ", f.use(parleyimplPath), ".EndLen(b, pos)")
			f.P("}")
		case fd.IsList():
			if enc, _ := packed(fl.e.kind); enc != "" {
				f.P("b = ", f.use(parleyimplPath), ".", enc, "(b, ", num, ", ", x, ")")
				continue
			}
			f.P(rangeClause(fl.e, "_, v", x), " {")
			f.protoEncodeValue(fl.e, fd, num, "v")
			f.P("}")
		default:
			f.P("if ", protoPresentExpr(f, fl), " {")
			if optionalPtr(fd, fl.e) {
				x = "*" + x
			}
			f.protoEncodeValue(fl.e, fd, num, x)
			f.P("}")
		}
	}
	f.P("return b, nil")
	f.P("}")
	f.P()
}

// protoEncodeValue writes statements appending field num holding x, a
// value of e; fd is the field (or map field) it belongs to, for errors.
func (f *fileGen) protoEncodeValue(e elem, fd protoreflect.FieldDescriptor, num protoreflect.FieldNumber, x string) {
	pw := f.use(protowirePath)
	impl := f.use(parleyimplPath)
	tag := tagBytes(num, wireType(e))
	onErr := func() {
		f.P("return b, ", f.use(parleyimplPath), ".FieldError(\"", fd.FullName(), "\", err)")
	}
	switch e.wkt {
	case wktEmpty:
		f.P("b = append(b, ", tag, ", 0)")
		return
	case wktTimestamp:
		f.P("b = ", impl, ".AppendProtoTimestamp(b, ", num, ", ", x, ")")
		return
	case wktDuration:
		f.P("b = ", impl, ".AppendProtoDuration(b, ", num, ", ", x, ")")
		return
	}
	if w, ok := funcWKTs[protoreflect.FullName(e.wkt)]; ok {
		if !w.appendFails {
			f.P("b = ", f.wktFunc("AppendProto", e), "(b, ", num, ", ", x, ")")
			return
		}
		f.P("if b, err = ", f.wktFunc("AppendProto", e), "(b, ", num, ", ", x, "); err != nil {")
		onErr()
		f.P("}")
		return
	}
	switch e.kind {
	case protoreflect.StringKind:
		f.P("if b, err = ", impl, ".AppendProtoString(b, ", num, ", ", x, "); err != nil {")
		onErr()
		f.P("}")
		return
	case protoreflect.MessageKind:
		f.P("{")
		f.P("b = append(b, ", tag, ")")
		f.P("pos := len(b)")
		f.P("b = append(b, 0)")
		f.P("if b, err = ", x, ".AppendProto(b); err != nil {")
		onErr()
		f.P("}")
		f.P("b = ", impl, ".EndLen(b, pos)")
		f.P("}")
		return
	}
	f.P("b = append(b, ", tag, ")")
	switch e.kind {
	case protoreflect.Int32Kind, protoreflect.EnumKind:
		f.P("b = ", pw, ".AppendVarint(b, uint64(int64(", x, ")))")
	case protoreflect.Int64Kind, protoreflect.Uint32Kind:
		f.P("b = ", pw, ".AppendVarint(b, uint64(", x, "))")
	case protoreflect.Uint64Kind:
		f.P("b = ", pw, ".AppendVarint(b, ", x, ")")
	case protoreflect.Sint32Kind:
		f.P("b = ", pw, ".AppendVarint(b, ", pw, ".EncodeZigZag(int64(", x, ")))")
	case protoreflect.Sint64Kind:
		f.P("b = ", pw, ".AppendVarint(b, ", pw, ".EncodeZigZag(", x, "))")
	case protoreflect.BoolKind:
		f.P("b = ", pw, ".AppendVarint(b, ", pw, ".EncodeBool(", x, "))")
	case protoreflect.Fixed32Kind:
		f.P("b = ", pw, ".AppendFixed32(b, ", x, ")")
	case protoreflect.Sfixed32Kind:
		f.P("b = ", pw, ".AppendFixed32(b, uint32(", x, "))")
	case protoreflect.Fixed64Kind:
		f.P("b = ", pw, ".AppendFixed64(b, ", x, ")")
	case protoreflect.Sfixed64Kind:
		f.P("b = ", pw, ".AppendFixed64(b, uint64(", x, "))")
	case protoreflect.FloatKind:
		f.P("b = ", pw, ".AppendFixed32(b, ", f.use("math"), ".Float32bits(", x, "))")
	case protoreflect.DoubleKind:
		f.P("b = ", pw, ".AppendFixed64(b, ", f.use("math"), ".Float64bits(", x, "))")
	case protoreflect.BytesKind:
		f.P("b = ", pw, ".AppendBytes(b, ", x, ")")
	default:
		panic("stubs: no protobuf encoding for kind " + e.kind.String())
	}
}

func (f *fileGen) protoDecoder(m protoreflect.MessageDescriptor, name string, pfs []protoField) {
	impl := f.use(parleyimplPath)
	pw := f.use(protowirePath)
	f.P("// UnmarshalProto resets m and decodes the protobuf binary encoding data")
	f.P("// into it, without reflection. It reads what protoc-gen-go's code writes,")
	f.P("// and any other valid encoding: fields in any order, repeated scalars")
	f.P("// packed or not, a field seen twice overriding (scalars) or merging")
	f.P("// (messages). Unknown fields, and fields of an unexpected wire type, are")
	f.P("// skipped. It does not retain data. Errors wrap wire.ErrMalformedProto")
	f.P("// or name the field that failed.")
	f.P("func (m *", name, ") UnmarshalProto(data []byte) error {")
	f.P("*m = ", name, "{}")
	f.P("return m.MergeProto(data, ", impl, ".ProtoMaxDepth)")
	f.P("}")
	f.P()
	f.P("// MergeProto decodes the protobuf binary encoding data into m as")
	f.P("// UnmarshalProto does, without resetting m first: fields present in data")
	f.P("// replace or merge into m's, as protobuf merges a message seen twice.")
	f.P("// depth is how many levels of messages data may still nest (counting m):")
	f.P("// generated code passes one less to each nested message, and fails at")
	f.P("// zero.")
	f.P("func (m *", name, ") MergeProto(data []byte, depth int) error {")
	f.P("if depth <= 0 {")
	f.P("return ", impl, ".ProtoTooDeep(", fmt.Sprintf("%q", m.FullName()), ")")
	f.P("}")
	if len(pfs) == 0 {
		f.P("return ", impl, ".DecodeProtoFields(data, func(", pw, ".Number, ", pw, ".Type, uint64, []byte) error {")
		f.P("return nil")
		f.P("})")
		f.P("}")
		f.P()
		return
	}
	f.P("return ", impl, ".DecodeProtoFields(data, func(num ", pw, ".Number, typ ", pw, ".Type, v uint64, p []byte) error {")
	f.P("switch num {")
	for _, pf := range pfs {
		f.protoDecodeField(pf)
	}
	f.P("}")
	f.P("return nil")
	f.P("})")
	f.P("}")
	f.P()
}

// protoDecodeField writes the case of the decoding switch for pf: it
// decodes the field from typ, v and p into m.
func (f *fileGen) protoDecodeField(pf protoField) {
	impl := f.use(parleyimplPath)
	fl := pf.fl
	fd := fl.fd
	f.P("case ", fd.Number(), ":")
	wrap := "return " + impl + ".FieldError(\"" + string(fd.FullName()) + "\", err)"
	x := "m." + fl.goName
	switch {
	case pf.oneof != nil:
		ox := "m." + pf.oneof.goName
		if fl.e.isMessage() {
			f.P("if typ != ", f.wireTypeName(protowire.BytesType), " {")
			f.P("return nil")
			f.P("}")
			f.P("c, _ := ", ox, ".(*", fl.caseType, ")")
			f.P("if c == nil {")
			f.P("c = &", fl.caseType, "{}")
			f.P(ox, " = c")
			f.P("}")
			f.protoMergeMessage(fl.e, "c."+fl.goName, wrap)
			return
		}
		f.protoDecodeValue(fl.e, wrap, func(v string) {
			f.P(ox, " = &", fl.caseType, "{", fl.goName, ": ", v, "}")
		})
	case fd.IsMap():
		f.protoDecodeMapEntry(fl, x, wrap)
	case fd.IsList():
		if _, dec := packed(fl.e.kind); dec != "" {
			f.P("var err error")
			f.P("if ", x, ", err = ", impl, ".", dec, "(", x, ", typ, v, p); err != nil {")
			f.P(wrap)
			f.P("}")
			return
		}
		if fl.e.isMessage() {
			f.P("if typ != ", f.wireTypeName(protowire.BytesType), " {")
			f.P("return nil")
			f.P("}")
			f.P("mv := new(", fl.e.ident, ")")
			f.P("if err := mv.MergeProto(p, depth-1); err != nil {")
			f.P(wrap)
			f.P("}")
			f.P(x, " = append(", x, ", mv)")
			return
		}
		f.protoDecodeValue(fl.e, wrap, func(v string) { f.P(x, " = append(", x, ", ", v, ")") })
	case fl.e.isMessage():
		f.P("if typ != ", f.wireTypeName(protowire.BytesType), " {")
		f.P("return nil")
		f.P("}")
		f.protoMergeMessage(fl.e, x, wrap)
	case optionalPtr(fd, fl.e):
		f.protoDecodeValue(fl.e, wrap, func(v string) {
			if v != "x" {
				f.P("x := ", v)
			}
			f.P(x, " = &x")
		})
	default:
		f.protoDecodeValue(fl.e, wrap, func(v string) { f.P(x, " = ", v) })
	}
}

// protoDecodeMapEntry writes statements decoding one map entry of the map
// field fl, held in p, into the map x; wrap returns the error held in err.
func (f *fileGen) protoDecodeMapEntry(fl field, x, wrap string) {
	impl := f.use(parleyimplPath)
	pw := f.use(protowirePath)
	f.P("if typ != ", f.wireTypeName(protowire.BytesType), " {")
	f.P("return nil")
	f.P("}")
	f.P("var mk ", fl.key.goType)
	if w, ok := funcWKTs[protoreflect.FullName(fl.e.wkt)]; ok {
		// An entry without a value holds the empty message, as
		// in protobuf-go: a wrapper of zero, an empty Struct.
		depth := ""
		if w.decodeDepth {
			depth = ", depth"
		}
		f.P("mv, _ := ", f.wktFunc("Proto", fl.e), "(nil", depth, ")")
	} else {
		f.P("var mv ", fl.e.goType)
	}
	f.P("if err := ", impl, ".DecodeProtoFields(p, func(num ", pw, ".Number, typ ", pw, ".Type, v uint64, p []byte) error {")
	f.P("switch num {")
	f.P("case 1:")
	f.protoDecodeValue(fl.key, "return err", func(v string) { f.P("mk = ", v) })
	f.P("case 2:")
	if fl.e.isMessage() {
		f.P("if typ != ", f.wireTypeName(protowire.BytesType), " {")
		f.P("return nil")
		f.P("}")
		f.protoMergeMessage(fl.e, "mv", "return err")
	} else {
		f.protoDecodeValue(fl.e, "return err", func(v string) { f.P("mv = ", v) })
	}
	f.P("}")
	f.P("return nil")
	f.P("}); err != nil {")
	f.P(wrap)
	f.P("}")
	switch {
	case fl.e.isMessage():
		f.P("if mv == nil {")
		f.P("mv = new(", fl.e.ident, ")")
		f.P("}")
	case fl.e.wkt == wktEmpty:
		// An entry without a value holds an Empty, as msgpack's
		// decoding of a map of Empty always gives one.
		f.P("if mv == nil {")
		f.P("mv = &struct{}{}")
		f.P("}")
	}
	f.P("if ", x, " == nil {")
	f.P(x, " = ", fl.goType(), "{}")
	f.P("}")
	f.P(x, "[mk] = mv")
}

// protoMergeMessage writes statements that merge the message in p into
// x, a pointer to a generated message, allocating it if nil. onErr
// returns the error held in err.
func (f *fileGen) protoMergeMessage(e elem, x, onErr string) {
	f.P("if ", x, " == nil {")
	f.P(x, " = new(", e.ident, ")")
	f.P("}")
	f.P("if err := ", x, ".MergeProto(p, depth-1); err != nil {")
	f.P(onErr)
	f.P("}")
}

// protoDecodeValue writes statements that decode one value of e, not a
// generated message, from typ, v and p, and passes the expression for it
// to set, which writes the assignment. A value of the wrong wire type is
// skipped (return nil). onErr returns the error held in err.
func (f *fileGen) protoDecodeValue(e elem, onErr string, set func(v string)) {
	wt := wireType(e)
	f.P("if typ != ", f.wireTypeName(wt), " {")
	f.P("return nil")
	f.P("}")
	impl := f.use(parleyimplPath)
	switch e.wkt {
	case wktEmpty:
		set("&struct{}{}")
		return
	case wktTimestamp, wktDuration:
		fn := "ProtoTimestamp"
		if e.wkt == wktDuration {
			fn = "ProtoDuration"
		}
		f.P("x, err := ", impl, ".", fn, "(p)")
		f.P("if err != nil {")
		f.P(onErr)
		f.P("}")
		set("x")
		return
	}
	if w, ok := funcWKTs[protoreflect.FullName(e.wkt)]; ok {
		if w.decodeDepth {
			f.P("x, err := ", f.wktFunc("Proto", e), "(p, depth-1)")
		} else {
			f.P("x, err := ", f.wktFunc("Proto", e), "(p)")
		}
		f.P("if err != nil {")
		f.P(onErr)
		f.P("}")
		set("x")
		return
	}
	pw := f.use(protowirePath)
	switch e.kind {
	case protoreflect.Int32Kind:
		set("int32(v)")
	case protoreflect.EnumKind:
		set(e.ident + "(int32(v))")
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		set("int64(v)")
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		set("uint32(v)")
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		set("v")
	case protoreflect.Sint32Kind:
		set("int32(" + pw + ".DecodeZigZag(v & " + f.use("math") + ".MaxUint32))")
	case protoreflect.Sint64Kind:
		set(pw + ".DecodeZigZag(v)")
	case protoreflect.Sfixed32Kind:
		set("int32(uint32(v))")
	case protoreflect.BoolKind:
		set(pw + ".DecodeBool(v)")
	case protoreflect.FloatKind:
		set(f.use("math") + ".Float32frombits(uint32(v))")
	case protoreflect.DoubleKind:
		set(f.use("math") + ".Float64frombits(v)")
	case protoreflect.StringKind:
		f.P("x, err := ", impl, ".ProtoString(p)")
		f.P("if err != nil {")
		f.P(onErr)
		f.P("}")
		set("x")
	case protoreflect.BytesKind:
		set("append([]byte{}, p...)")
	default:
		panic("stubs: no protobuf decoding for kind " + e.kind.String())
	}
}
