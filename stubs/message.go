package stubs

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// coding names the msgpack calls for one value: the Encoder method and
// the conversion its argument needs, the Decoder method and the
// conversion its result needs ("" for none).
type coding struct {
	enc, encConv string
	dec, decConv string
}

// scalars maps each scalar kind to its Go type and msgpack calls.
var scalars = map[protoreflect.Kind]struct {
	goType string
	coding
}{
	protoreflect.Int32Kind:    {"int32", coding{"EncodeInt", "int64", "DecodeInt32", ""}},
	protoreflect.Sint32Kind:   {"int32", coding{"EncodeInt", "int64", "DecodeInt32", ""}},
	protoreflect.Sfixed32Kind: {"int32", coding{"EncodeInt", "int64", "DecodeInt32", ""}},
	protoreflect.Int64Kind:    {"int64", coding{"EncodeInt", "", "DecodeInt64", ""}},
	protoreflect.Sint64Kind:   {"int64", coding{"EncodeInt", "", "DecodeInt64", ""}},
	protoreflect.Sfixed64Kind: {"int64", coding{"EncodeInt", "", "DecodeInt64", ""}},
	protoreflect.Uint32Kind:   {"uint32", coding{"EncodeUint", "uint64", "DecodeUint32", ""}},
	protoreflect.Fixed32Kind:  {"uint32", coding{"EncodeUint", "uint64", "DecodeUint32", ""}},
	protoreflect.Uint64Kind:   {"uint64", coding{"EncodeUint", "", "DecodeUint64", ""}},
	protoreflect.Fixed64Kind:  {"uint64", coding{"EncodeUint", "", "DecodeUint64", ""}},
	// A float is read as float64 so that float 64 (and int) input is
	// accepted too.
	protoreflect.FloatKind:  {"float32", coding{"EncodeFloat32", "", "DecodeFloat64", "float32"}},
	protoreflect.DoubleKind: {"float64", coding{"EncodeFloat64", "", "DecodeFloat64", ""}},
	protoreflect.BoolKind:   {"bool", coding{"EncodeBool", "", "DecodeBool", ""}},
	protoreflect.StringKind: {"string", coding{"EncodeString", "", "DecodeString", ""}},
	protoreflect.BytesKind:  {"[]byte", coding{"EncodeBytes", "", "DecodeBytes", ""}},
}

// elem describes the Go side of one value of a field: the field itself
// for singular fields, one element of a repeated field, or a map key or
// value.
type elem struct {
	kind   protoreflect.Kind
	goType string // the Go type of one value
	wkt    string // wktEmpty, wktTimestamp, wktDuration or ""
	// ident is the generated type of an enum or message (qualified when
	// it lives in another package).
	ident string
	// coding is empty for Empty and generated messages, which have their
	// own code.
	coding
}

func (f *fileGen) elemOf(fd protoreflect.FieldDescriptor) (elem, error) {
	e := elem{kind: fd.Kind()}
	if s, ok := scalars[fd.Kind()]; ok {
		e.goType, e.coding = s.goType, s.coding
		return e, nil
	}
	switch fd.Kind() {
	case protoreflect.EnumKind:
		id, err := f.ident(fd.Enum())
		if err != nil {
			return e, err
		}
		e.ident, e.goType = id, id
		e.coding = coding{"EncodeInt", "int64", "DecodeInt32", id}
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case wktEmpty:
			e.wkt, e.goType = wktEmpty, "*struct{}"
		case wktTimestamp:
			e.wkt, e.goType = wktTimestamp, f.use("time")+".Time"
			e.coding = coding{"EncodeTime", "", "DecodeTime", ""}
		case wktDuration:
			e.wkt, e.goType = wktDuration, f.use("time")+".Duration"
			e.coding = coding{"EncodeInt", "int64", "DecodeInt64", e.goType}
		default:
			name := fd.Message().FullName()
			if w, ok := funcWKTs[name]; ok {
				e.wkt, e.goType = string(name), w.goType
				return e, nil
			}
			if t, ok := typeWKTs[name]; ok {
				e.ident = f.use(wktPath) + "." + t
				e.goType = "*" + e.ident
				return e, nil
			}
			id, err := f.ident(fd.Message())
			if err != nil {
				return e, err
			}
			e.ident, e.goType = id, "*"+id
		}
	default:
		return e, f.g.schema.errorAt(fd, "unsupported field kind %s (field %s)", fd.Kind(), fd.Name())
	}
	return e, nil
}

// isMessage reports whether values are generated message pointers.
func (e elem) isMessage() bool { return e.kind == protoreflect.MessageKind && e.wkt == "" }

// conv returns x converted by the Go conversion conv ("" for none).
func conv(conv, x string) string {
	if conv == "" {
		return x
	}
	return conv + "(" + x + ")"
}

// encode writes a statement encoding x.
func (f *fileGen) encode(e elem, x string) {
	call := "e." + e.enc + "(" + conv(e.encConv, x) + ")"
	switch {
	case e.wkt == wktEmpty:
		call = "e.EncodeMapLen(0)"
	case e.isMessage():
		call = x + ".EncodeMsgpack(e)"
	case isFuncWKT(e):
		call = f.wktFunc("EncodeMsgpack", e) + "(e, " + x + ")"
	}
	f.check(call)
}

// rangeClause returns the for clause ranging over x, a list or map whose
// values are e, declaring vars ("k, v" or "_, v"). An Empty value is
// written without looking at it, so the loop must not declare v, which
// would be unused: it declares k alone, or nothing.
func rangeClause(e elem, vars, x string) string {
	if e.wkt == wktEmpty {
		if vars = strings.TrimSuffix(vars, ", v"); vars == "_" {
			return "for range " + x
		}
	}
	return "for " + vars + " := range " + x
}

// decode writes statements decoding one value into a new variable v and
// returns the expression for the value (v, or a conversion of it).
// onErr is the statement that returns a decoding error held in err.
func (f *fileGen) decode(e elem, v, onErr string) string {
	switch {
	case e.wkt == wktEmpty:
		f.P("if err := d.Skip(); err != nil {")
		f.P(onErr)
		f.P("}")
		return "&struct{}{}"
	case isFuncWKT(e):
		f.P(v, ", err := ", f.wktFunc("DecodeMsgpack", e), "(d)")
		f.P("if err != nil {")
		f.P(onErr)
		f.P("}")
		return v
	case e.isMessage():
		f.P(v, " := new(", e.ident, ")")
		f.P("if err := ", v, ".DecodeMsgpack(d); err != nil {")
		f.P(onErr)
		f.P("}")
		return v
	}
	f.P(v, ", err := d.", e.dec, "()")
	f.P("if err != nil {")
	f.P(onErr)
	f.P("}")
	return conv(e.decConv, v)
}

// isSetExpr returns a boolean expression telling whether the singular
// value x is set (not zero).
func isSetExpr(e elem, x string) string {
	switch e.kind {
	case protoreflect.BoolKind:
		return x
	case protoreflect.StringKind:
		return x + ` != ""`
	case protoreflect.BytesKind:
		return "len(" + x + ") > 0"
	case protoreflect.MessageKind:
		switch e.wkt {
		case wktTimestamp:
			return "!" + x + ".IsZero()"
		case wktDuration:
			return x + " != 0"
		}
		return x + " != nil"
	}
	return x + " != 0"
}

// field is one member of a generated struct (a plain field or a oneof) or
// one case of a oneof.
type field struct {
	fd     protoreflect.FieldDescriptor // nil for a oneof
	oneof  protoreflect.OneofDescriptor // nil for a plain field or a case
	goName string
	// e is the value of a plain field or case: the field itself, the
	// element of a list or the value of a map; key is the key of a map.
	e, key elem
	// cases are the cases of a oneof.
	cases []field
	// caseType is the wrapper type of a case.
	caseType string
}

// fieldsOf lists m's struct members in declaration order; a oneof takes
// the place of its first field.
func (f *fileGen) fieldsOf(m protoreflect.MessageDescriptor) ([]field, error) {
	var out []field
	seen := map[protoreflect.FullName]bool{}
	fields := m.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if !seen[o.FullName()] {
				seen[o.FullName()] = true
				out = append(out, field{oneof: o, goName: f.names.fields[o.FullName()]})
			}
			continue
		}
		out = append(out, field{fd: fd, goName: f.names.fields[fd.FullName()]})
	}
	// The plain fields' types are resolved before the cases', as the
	// struct declares them before the case wrappers: the first to use an
	// import gets its plain package name.
	var err error
	for i := range out {
		fl := &out[i]
		if fl.oneof != nil {
			continue
		}
		if fl.fd.IsMap() {
			if fl.key, err = f.elemOf(fl.fd.MapKey()); err != nil {
				return nil, err
			}
			if fl.e, err = f.elemOf(fl.fd.MapValue()); err != nil {
				return nil, err
			}
		} else if fl.e, err = f.elemOf(fl.fd); err != nil {
			return nil, err
		}
	}
	for i := range out {
		fl := &out[i]
		if fl.oneof == nil {
			continue
		}
		cases := fl.oneof.Fields()
		for j := 0; j < cases.Len(); j++ {
			c := cases.Get(j)
			e, err := f.elemOf(c)
			if err != nil {
				return nil, err
			}
			fl.cases = append(fl.cases, field{fd: c, goName: f.names.fields[c.FullName()], e: e, caseType: f.names.oneofCase[c.FullName()]})
		}
	}
	return out, nil
}

// optionalPtr reports whether fd is a proto3 optional field whose Go type
// gets an extra pointer (messages and Empty are pointers already).
// Optional bytes stay []byte, like protoc-gen-go: nil is absent, non-nil
// (even empty) is present.
func optionalPtr(fd protoreflect.FieldDescriptor, e elem) bool {
	return fd.HasOptionalKeyword() && !e.isMessage() && e.wkt != wktEmpty && !isFuncWKT(e) && e.kind != protoreflect.BytesKind
}

// goType returns the Go type of a plain field.
func (fl field) goType() string {
	switch {
	case fl.fd.IsMap():
		return "map[" + fl.key.goType + "]" + fl.e.goType
	case fl.fd.IsList():
		return "[]" + fl.e.goType
	case optionalPtr(fl.fd, fl.e):
		return "*" + fl.e.goType
	}
	return fl.e.goType
}

// comments returns d's proto comment as Go line comments, or "".
func (f *fileGen) comments(d protoreflect.Descriptor) string {
	return leadingComments(f.fd.SourceLocations().ByDescriptor(d))
}

// message writes the struct for m, its oneof types, its msgpack methods,
// then its nested enums and messages.
func (f *fileGen) message(m protoreflect.MessageDescriptor) error {
	if m.IsMapEntry() {
		return nil
	}
	name := f.names.idents[m.FullName()]
	fields, err := f.fieldsOf(m)
	if err != nil {
		return err
	}

	f.doc(m, fmt.Sprintf("%s is the message %s.", name, m.FullName()))
	f.P("//")
	f.P("// It is encoded as a msgpack map keyed by proto field name; zero fields are omitted.")
	f.P("type ", name, " struct {")
	for _, fl := range fields {
		if fl.oneof != nil {
			f.doc(fl.oneof, fmt.Sprintf("%s holds the oneof %s: nil, or one of its case types.", fl.goName, fl.oneof.Name()))
			f.P("// The case is encoded under its field's name in this message's map.")
			f.P(fl.goName, " ", f.names.oneofIface[fl.oneof.FullName()], " `msgpack:\"-\"`")
			continue
		}
		f.buf.WriteString(f.comments(fl.fd))
		f.P(fl.goName, " ", fl.goType(), " `msgpack:\"", fl.fd.Name(), ",omitempty\"`")
	}
	f.P("}")
	f.P()

	// Oneof interfaces and case wrappers.
	for _, fl := range fields {
		if fl.oneof == nil {
			continue
		}
		iface := f.names.oneofIface[fl.oneof.FullName()]
		var caseNames []string
		for _, c := range fl.cases {
			caseNames = append(caseNames, "*"+c.caseType)
		}
		f.P("// ", iface, " is the oneof ", fl.oneof.FullName(), ": one of ", strings.Join(caseNames, ", "), ".")
		f.P("// It is sealed: only those types implement it.")
		f.P("type ", iface, " interface {")
		f.P("is", iface, "()")
		f.P("}")
		f.P()
		for _, c := range fl.cases {
			f.P("// ", c.caseType, " is the case ", c.fd.Name(), " of the oneof ", fl.oneof.FullName(), ".")
			f.P("type ", c.caseType, " struct {")
			f.buf.WriteString(f.comments(c.fd))
			f.P(c.goName, " ", c.e.goType, " `msgpack:\"", c.fd.Name(), "\"`")
			f.P("}")
			f.P()
			f.P("func (*", c.caseType, ") is", iface, "() {}")
			f.P()
		}
	}

	f.encoder(name, fields)
	f.decoder(m, name, fields)
	f.protoMethods(m, name, fields)

	enums := m.Enums()
	for i := 0; i < enums.Len(); i++ {
		f.enum(enums.Get(i))
	}
	msgs := m.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if err := f.message(msgs.Get(i)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fileGen) encoder(name string, fields []field) {
	msgpack := f.use("github.com/vmihailenco/msgpack/v5")
	f.P("// EncodeMsgpack implements msgpack.CustomEncoder: it writes m as a map")
	f.P("// keyed by proto field name, omitting zero fields, without reflection.")
	f.P("// A nil m is encoded as msgpack nil.")
	f.P("func (m *", name, ") EncodeMsgpack(e *", msgpack, ".Encoder) error {")
	f.P("if m == nil {")
	f.P("return e.EncodeNil()")
	f.P("}")
	if len(fields) == 0 {
		f.P("return e.EncodeMapLen(0)")
		f.P("}")
		f.P()
		return
	}
	// First count the entries, then write them.
	f.P("n := 0")
	f.ifPresent(fields, func(field, string) { f.P("n++") })
	f.check("e.EncodeMapLen(n)")
	f.ifPresent(fields, func(fl field, x string) {
		fd := fl.fd
		f.encodeKey(fd)
		switch {
		case fl.caseType != "": // a oneof's case
			f.encode(fl.e, x)
		case fd.IsMap():
			f.check("e.EncodeMapLen(len(", x, "))")
			f.P(rangeClause(fl.e, "k, v", x), " {")
			f.encode(fl.key, "k")
			f.encode(fl.e, "v")
			f.P("}")
		case fd.IsList():
			f.check("e.EncodeArrayLen(len(", x, "))")
			f.P(rangeClause(fl.e, "_, v", x), " {")
			f.encode(fl.e, "v")
			f.P("}")
		case optionalPtr(fd, fl.e):
			f.encode(fl.e, "*"+x)
		default:
			f.encode(fl.e, x)
		}
	})
	f.P("return nil")
	f.P("}")
	f.P()
}

// ifPresent writes, for each of m's fields, a test of whether m holds
// it, and inside the test what present writes for the field and the Go
// expression x of its value: for a oneof, one type-switch case for each
// of its cases (fl is the case, x is "x.Name"), else one if (x is
// "m.Name").
func (f *fileGen) ifPresent(fields []field, present func(fl field, x string)) {
	for _, fl := range fields {
		if fl.oneof != nil {
			f.P("switch x := m.", fl.goName, ".(type) {")
			for _, c := range fl.cases {
				f.P("case *", c.caseType, ":")
				f.P("if x != nil {")
				present(c, "x."+c.goName)
				f.P("}")
			}
			f.P("}")
			continue
		}
		f.P("if ", presentExpr(fl), " {")
		present(fl, "m."+fl.goName)
		f.P("}")
	}
}

// check writes code that runs call, Go source of its parts concatenated,
// and returns its error if it fails.
func (f *fileGen) check(call ...any) {
	f.P(append(append([]any{"if err := "}, call...), "; err != nil {")...)
	f.P("return err")
	f.P("}")
}

func (f *fileGen) encodeKey(fd protoreflect.FieldDescriptor) {
	f.check("e.EncodeString(", strconv.Quote(string(fd.Name())), ")")
}

// presentExpr returns the condition under which a plain field is encoded.
func presentExpr(fl field) string {
	x := "m." + fl.goName
	fd := fl.fd
	if fd.IsMap() || fd.IsList() {
		return "len(" + x + ") > 0"
	}
	if optionalPtr(fd, fl.e) || (fd.HasOptionalKeyword() && fl.e.kind == protoreflect.BytesKind) {
		return x + " != nil"
	}
	return isSetExpr(fl.e, x)
}

func (f *fileGen) decoder(m protoreflect.MessageDescriptor, name string, fields []field) {
	msgpack := f.use("github.com/vmihailenco/msgpack/v5")
	impl := f.use(parleyimplPath)
	f.P("// DecodeMsgpack implements msgpack.CustomDecoder: it resets m and reads")
	f.P("// a map keyed by proto field name, without reflection. Absent keys and")
	f.P("// nil values leave fields zero; unknown keys are skipped; msgpack nil")
	f.P("// decodes as the zero message.")
	f.P("func (m *", name, ") DecodeMsgpack(d *", msgpack, ".Decoder) error {")
	f.P("*m = ", name, "{}")
	if len(fields) == 0 {
		f.P("return ", impl, ".SkipMsgpackMap(d)")
		f.P("}")
		f.P()
		return
	}
	longest := 0
	for _, fl := range fields {
		for _, c := range fl.cases {
			longest = max(longest, len(c.fd.Name()))
		}
		if fl.oneof == nil {
			longest = max(longest, len(fl.fd.Name()))
		}
	}
	f.P("return ", impl, ".DecodeMsgpackFields(d, ", longest, ", func(key []byte) error {")
	f.P("switch string(key) {")
	fmtPkg := f.use("fmt")
	// wrapErr returns the statement that returns a decoding error of fd.
	wrapErr := func(fd protoreflect.FieldDescriptor) string {
		return fmt.Sprintf("return %s.Errorf(\"%s.%s: %%w\", err)", fmtPkg, m.FullName(), fd.Name())
	}
	for _, fl := range fields {
		if fl.oneof != nil {
			f.decodeOneof(m, fl, fmtPkg, wrapErr)
			continue
		}
		f.P("case ", strconv.Quote(string(fl.fd.Name())), ":")
		f.decodeField(fl, wrapErr(fl.fd))
	}
	f.P("default:")
	f.P("return d.Skip()")
	f.P("}")
	f.P("return nil")
	f.P("})")
	f.P("}")
	f.P()
}

// decodeOneof writes the cases of DecodeMsgpack's key switch for a oneof's
// fields: a second case present is an error.
func (f *fileGen) decodeOneof(m protoreflect.MessageDescriptor, fl field, fmtPkg string, wrapErr func(protoreflect.FieldDescriptor) string) {
	for _, c := range fl.cases {
		f.P("case ", strconv.Quote(string(c.fd.Name())), ":")
		f.skipNil()
		f.P("if m.", fl.goName, " != nil {")
		f.P("return ", fmtPkg, ".Errorf(\"", m.FullName(), ": more than one case of oneof ", fl.oneof.Name(), " present (", c.fd.Name(), ")\")")
		f.P("}")
		v := f.decode(c.e, "v", wrapErr(c.fd))
		f.P("m.", fl.goName, " = &", c.caseType, "{", c.goName, ": ", v, "}")
	}
}

// decodeField writes the body of DecodeMsgpack's case for a field that is
// not in a oneof: a map, a list or a single value; onErr returns its
// decoding error.
func (f *fileGen) decodeField(fl field, onErr string) {
	fd := fl.fd
	x := "m." + fl.goName
	switch {
	case fd.IsMap():
		f.P("l, err := ", f.use("github.com/parleyrpc/parley/wire"), ".MsgpackMapLen(d)")
		f.P("if err != nil {")
		f.P(onErr)
		f.P("}")
		f.P("if l > 0 {")
		f.P(x, " = make(", fl.goType(), ", min(l, 64))")
		f.P("}")
		f.P("for j := 0; j < l; j++ {")
		kx := f.decode(fl.key, "k", onErr)
		vx := f.decode(fl.e, "v", onErr)
		f.P(x, "[", kx, "] = ", vx)
		f.P("}")
	case fd.IsList():
		f.P("l, err := ", f.use("github.com/parleyrpc/parley/wire"), ".MsgpackArrayLen(d)")
		f.P("if err != nil {")
		f.P(onErr)
		f.P("}")
		f.P("if l > 0 {")
		f.P(x, " = make([]", fl.e.goType, ", 0, min(l, 64))")
		f.P("}")
		f.P("for j := 0; j < l; j++ {")
		vx := f.decode(fl.e, "v", onErr)
		f.P(x, " = append(", x, ", ", vx, ")")
		f.P("}")
	default:
		if fl.e.kind == protoreflect.MessageKind || fd.HasOptionalKeyword() {
			// nil is absent: the field stays nil (or zero).
			f.skipNil()
		}
		vx := f.decode(fl.e, "v", onErr)
		if optionalPtr(fd, fl.e) {
			if vx != "v" {
				f.P("p := ", vx)
				vx = "p"
			}
			vx = "&" + vx
		}
		f.P(x, " = ", vx)
	}
}

// skipNil writes statements that skip a msgpack nil value and return from
// the field callback, leaving the field as it is (nil or zero).
func (f *fileGen) skipNil() {
	f.P("if c, err := d.PeekCode(); err != nil {")
	f.P("return err")
	f.P("} else if c == ", f.use("github.com/vmihailenco/msgpack/v5/msgpcode"), ".Nil {")
	f.P("return d.Skip()")
	f.P("}")
}
