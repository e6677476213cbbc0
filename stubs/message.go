package stubs

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

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
}

func (f *fileGen) elemOf(fd protoreflect.FieldDescriptor) (elem, error) {
	e := elem{kind: fd.Kind()}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		e.goType = "int32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		e.goType = "int64"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		e.goType = "uint32"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		e.goType = "uint64"
	case protoreflect.FloatKind:
		e.goType = "float32"
	case protoreflect.DoubleKind:
		e.goType = "float64"
	case protoreflect.BoolKind:
		e.goType = "bool"
	case protoreflect.StringKind:
		e.goType = "string"
	case protoreflect.BytesKind:
		e.goType = "[]byte"
	case protoreflect.EnumKind:
		id, err := f.ident(fd.Enum())
		if err != nil {
			return e, err
		}
		e.ident, e.goType = id, id
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case wktEmpty:
			e.wkt, e.goType = wktEmpty, "*struct{}"
		case wktTimestamp:
			e.wkt, e.goType = wktTimestamp, f.use("time")+".Time"
		case wktDuration:
			e.wkt, e.goType = wktDuration, f.use("time")+".Duration"
		default:
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

// encodeCall returns an expression of type error that encodes x.
func (f *fileGen) encodeCall(e elem, x string) string {
	switch e.kind {
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return "e.EncodeInt(" + x + ")"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		return "e.EncodeInt(int64(" + x + "))"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return "e.EncodeUint(" + x + ")"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return "e.EncodeUint(uint64(" + x + "))"
	case protoreflect.FloatKind:
		return "e.EncodeFloat32(" + x + ")"
	case protoreflect.DoubleKind:
		return "e.EncodeFloat64(" + x + ")"
	case protoreflect.BoolKind:
		return "e.EncodeBool(" + x + ")"
	case protoreflect.StringKind:
		return "e.EncodeString(" + x + ")"
	case protoreflect.BytesKind:
		return "e.EncodeBytes(" + x + ")"
	}
	switch e.wkt {
	case wktEmpty:
		return "e.EncodeMapLen(0)"
	case wktTimestamp:
		return "e.EncodeTime(" + x + ")"
	case wktDuration:
		return "e.EncodeInt(int64(" + x + "))"
	}
	return x + ".EncodeMsgpack(e)"
}

// encode writes a statement encoding x.
func (f *fileGen) encode(e elem, x string) {
	f.P("if err := ", f.encodeCall(e, x), "; err != nil {")
	f.P("return err")
	f.P("}")
}

// decode writes statements decoding one value into a new variable v and
// returns the expression for the value (v, or a conversion of it).
// onErr is the statement that returns a decoding error held in err.
func (f *fileGen) decode(e elem, v, onErr string) string {
	method := ""
	switch e.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		method = "DecodeInt32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		method = "DecodeInt64"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		method = "DecodeUint32"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		method = "DecodeUint64"
	case protoreflect.FloatKind:
		// Read as float64 so that float 64 (and int) input is accepted too.
		method = "DecodeFloat64"
	case protoreflect.DoubleKind:
		method = "DecodeFloat64"
	case protoreflect.BoolKind:
		method = "DecodeBool"
	case protoreflect.StringKind:
		method = "DecodeString"
	case protoreflect.BytesKind:
		method = "DecodeBytes"
	}
	switch e.wkt {
	case wktEmpty:
		f.P("if err := d.Skip(); err != nil {")
		f.P(onErr)
		f.P("}")
		return "&struct{}{}"
	case wktTimestamp:
		method = "DecodeTime"
	case wktDuration:
		method = "DecodeInt64"
	}
	if method == "" { // a generated message
		f.P(v, " := new(", e.ident, ")")
		f.P("if err := ", v, ".DecodeMsgpack(d); err != nil {")
		f.P(onErr)
		f.P("}")
		return v
	}
	f.P(v, ", err := d.", method, "()")
	f.P("if err != nil {")
	f.P(onErr)
	f.P("}")
	switch {
	case e.kind == protoreflect.EnumKind:
		return e.ident + "(" + v + ")"
	case e.kind == protoreflect.FloatKind:
		return "float32(" + v + ")"
	case e.wkt == wktDuration:
		return f.use("time") + ".Duration(" + v + ")"
	}
	return v
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

// field is one member of a generated struct: a plain field or a oneof.
type field struct {
	fd     protoreflect.FieldDescriptor // nil for a oneof
	oneof  protoreflect.OneofDescriptor // nil for a plain field
	goName string
}

// fieldsOf lists m's struct members in declaration order; a oneof takes
// the place of its first field.
func (f *fileGen) fieldsOf(m protoreflect.MessageDescriptor) []field {
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
	return out
}

// optionalPtr reports whether fd is a proto3 optional field whose Go type
// gets an extra pointer (messages and Empty are pointers already).
// Optional bytes stay []byte, like protoc-gen-go: nil is absent, non-nil
// (even empty) is present.
func optionalPtr(fd protoreflect.FieldDescriptor, e elem) bool {
	return fd.HasOptionalKeyword() && !e.isMessage() && e.wkt != wktEmpty && e.kind != protoreflect.BytesKind
}

// goTypeOf returns the Go type of a plain field.
func (f *fileGen) goTypeOf(fd protoreflect.FieldDescriptor) (string, error) {
	if fd.IsMap() {
		k, err := f.elemOf(fd.MapKey())
		if err != nil {
			return "", err
		}
		v, err := f.elemOf(fd.MapValue())
		if err != nil {
			return "", err
		}
		return "map[" + k.goType + "]" + v.goType, nil
	}
	e, err := f.elemOf(fd)
	if err != nil {
		return "", err
	}
	switch {
	case fd.IsList():
		return "[]" + e.goType, nil
	case optionalPtr(fd, e):
		return "*" + e.goType, nil
	}
	return e.goType, nil
}

// message writes the struct for m, its oneof types, its msgpack methods,
// then its nested enums and messages.
func (f *fileGen) message(m protoreflect.MessageDescriptor) error {
	if m.IsMapEntry() {
		return nil
	}
	name := f.names.idents[m.FullName()]
	fields := f.fieldsOf(m)

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
		t, err := f.goTypeOf(fl.fd)
		if err != nil {
			return err
		}
		if c := leadingComments(f.fd, f.fd.SourceLocations().ByDescriptor(fl.fd)); c != "" {
			f.buf.WriteString(c)
		}
		f.P(fl.goName, " ", t, " `msgpack:\"", fl.fd.Name(), ",omitempty\"`")
	}
	f.P("}")
	f.P()

	// Oneof interfaces and case wrappers.
	for _, fl := range fields {
		if fl.oneof == nil {
			continue
		}
		iface := f.names.oneofIface[fl.oneof.FullName()]
		cases := fl.oneof.Fields()
		var caseNames []string
		for i := 0; i < cases.Len(); i++ {
			caseNames = append(caseNames, "*"+f.names.oneofCase[cases.Get(i).FullName()])
		}
		f.P("// ", iface, " is the oneof ", fl.oneof.FullName(), ": one of ", strings.Join(caseNames, ", "), ".")
		f.P("// It is sealed: only those types implement it.")
		f.P("type ", iface, " interface {")
		f.P("is", iface, "()")
		f.P("}")
		f.P()
		for i := 0; i < cases.Len(); i++ {
			c := cases.Get(i)
			cname := f.names.oneofCase[c.FullName()]
			e, err := f.elemOf(c)
			if err != nil {
				return err
			}
			f.P("// ", cname, " is the case ", c.Name(), " of the oneof ", fl.oneof.FullName(), ".")
			f.P("type ", cname, " struct {")
			if cm := leadingComments(f.fd, f.fd.SourceLocations().ByDescriptor(c)); cm != "" {
				f.buf.WriteString(cm)
			}
			f.P(f.names.fields[c.FullName()], " ", e.goType, " `msgpack:\"", c.Name(), "\"`")
			f.P("}")
			f.P()
			f.P("func (*", cname, ") is", iface, "() {}")
			f.P()
		}
	}

	if err := f.encoder(m, name, fields); err != nil {
		return err
	}
	if err := f.decoder(m, name, fields); err != nil {
		return err
	}

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

func (f *fileGen) encoder(m protoreflect.MessageDescriptor, name string, fields []field) error {
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
		return nil
	}
	// First count the entries, then write them.
	f.P("n := 0")
	for _, fl := range fields {
		if fl.oneof != nil {
			f.P("switch x := m.", fl.goName, ".(type) {")
			cases := fl.oneof.Fields()
			for i := 0; i < cases.Len(); i++ {
				f.P("case *", f.names.oneofCase[cases.Get(i).FullName()], ":")
				f.P("if x != nil {")
				f.P("n++")
				f.P("}")
			}
			f.P("}")
			continue
		}
		cond, err := f.presentExpr(fl)
		if err != nil {
			return err
		}
		f.P("if ", cond, " {")
		f.P("n++")
		f.P("}")
	}
	f.P("if err := e.EncodeMapLen(n); err != nil {")
	f.P("return err")
	f.P("}")
	for _, fl := range fields {
		if fl.oneof != nil {
			f.P("switch x := m.", fl.goName, ".(type) {")
			cases := fl.oneof.Fields()
			for i := 0; i < cases.Len(); i++ {
				c := cases.Get(i)
				e, err := f.elemOf(c)
				if err != nil {
					return err
				}
				f.P("case *", f.names.oneofCase[c.FullName()], ":")
				f.P("if x != nil {")
				f.encodeKey(c)
				f.encode(e, "x."+f.names.fields[c.FullName()])
				f.P("}")
			}
			f.P("}")
			continue
		}
		fd := fl.fd
		cond, _ := f.presentExpr(fl)
		f.P("if ", cond, " {")
		f.encodeKey(fd)
		x := "m." + fl.goName
		switch {
		case fd.IsMap():
			k, _ := f.elemOf(fd.MapKey())
			v, _ := f.elemOf(fd.MapValue())
			f.P("if err := e.EncodeMapLen(len(", x, ")); err != nil {")
			f.P("return err")
			f.P("}")
			f.P("for k, v := range ", x, " {")
			f.encode(k, "k")
			f.encode(v, "v")
			f.P("}")
		case fd.IsList():
			e, _ := f.elemOf(fd)
			f.P("if err := e.EncodeArrayLen(len(", x, ")); err != nil {")
			f.P("return err")
			f.P("}")
			f.P("for _, v := range ", x, " {")
			f.encode(e, "v")
			f.P("}")
		default:
			e, _ := f.elemOf(fd)
			if optionalPtr(fd, e) {
				x = "*" + x
			}
			f.encode(e, x)
		}
		f.P("}")
	}
	f.P("return nil")
	f.P("}")
	f.P()
	return nil
}

func (f *fileGen) encodeKey(fd protoreflect.FieldDescriptor) {
	f.P("if err := e.EncodeString(", strconv.Quote(string(fd.Name())), "); err != nil {")
	f.P("return err")
	f.P("}")
}

// presentExpr returns the condition under which a plain field is encoded.
func (f *fileGen) presentExpr(fl field) (string, error) {
	x := "m." + fl.goName
	fd := fl.fd
	if fd.IsMap() || fd.IsList() {
		return "len(" + x + ") > 0", nil
	}
	e, err := f.elemOf(fd)
	if err != nil {
		return "", err
	}
	if optionalPtr(fd, e) || (fd.HasOptionalKeyword() && e.kind == protoreflect.BytesKind) {
		return x + " != nil", nil
	}
	return isSetExpr(e, x), nil
}

func (f *fileGen) decoder(m protoreflect.MessageDescriptor, name string, fields []field) error {
	msgpack := f.use("github.com/vmihailenco/msgpack/v5")
	f.P("// DecodeMsgpack implements msgpack.CustomDecoder: it resets m and reads")
	f.P("// a map keyed by proto field name, without reflection. Absent keys and")
	f.P("// nil values leave fields zero; unknown keys are skipped; msgpack nil")
	f.P("// decodes as the zero message.")
	f.P("func (m *", name, ") DecodeMsgpack(d *", msgpack, ".Decoder) error {")
	f.P("*m = ", name, "{}")
	f.P("n, err := d.DecodeMapLen()")
	f.P("if err != nil {")
	f.P("return err")
	f.P("}")
	if len(fields) == 0 {
		f.P("for i := 0; i < 2*n; i++ {")
		f.P("if err := d.Skip(); err != nil {")
		f.P("return err")
		f.P("}")
		f.P("}")
		f.P("return nil")
		f.P("}")
		f.P()
		return nil
	}
	longest := 0
	for _, fl := range fields {
		if fl.oneof != nil {
			cases := fl.oneof.Fields()
			for i := 0; i < cases.Len(); i++ {
				longest = max(longest, len(cases.Get(i).Name()))
			}
			continue
		}
		longest = max(longest, len(fl.fd.Name()))
	}
	f.P("// Keys are read into kb without allocating a string; a key longer")
	f.P("// than kb names no field and is discarded.")
	f.P("var kb [", longest, "]byte")
	f.P("for i := 0; i < n; i++ {")
	f.P("l, err := d.DecodeBytesLen()")
	f.P("if err != nil {")
	f.P("return err")
	f.P("}")
	f.P("key := kb[:min(max(l, 0), len(kb))]")
	f.P("if l > len(kb) {")
	f.P("key = nil")
	f.P("for l > 0 {")
	f.P("c := min(l, len(kb))")
	f.P("if err := d.ReadFull(kb[:c]); err != nil {")
	f.P("return err")
	f.P("}")
	f.P("l -= c")
	f.P("}")
	f.P("} else if err := d.ReadFull(key); err != nil {")
	f.P("return err")
	f.P("}")
	f.P("switch string(key) {")
	fmtPkg := "fmt"
	for _, fl := range fields {
		if fl.oneof != nil {
			cases := fl.oneof.Fields()
			for i := 0; i < cases.Len(); i++ {
				c := cases.Get(i)
				e, err := f.elemOf(c)
				if err != nil {
					return err
				}
				fmtPkg = f.use("fmt")
				onErr := fmt.Sprintf("return %s.Errorf(\"%s.%s: %%w\", err)", fmtPkg, m.FullName(), c.Name())
				f.P("case ", strconv.Quote(string(c.Name())), ":")
				f.skipNil()
				f.P("if m.", fl.goName, " != nil {")
				f.P("return ", fmtPkg, ".Errorf(\"", m.FullName(), ": more than one case of oneof ", fl.oneof.Name(), " present (", c.Name(), ")\")")
				f.P("}")
				v := f.decode(e, "v", onErr)
				f.P("m.", fl.goName, " = &", f.names.oneofCase[c.FullName()], "{", f.names.fields[c.FullName()], ": ", v, "}")
			}
			continue
		}
		fd := fl.fd
		fmtPkg = f.use("fmt")
		onErr := fmt.Sprintf("return %s.Errorf(\"%s.%s: %%w\", err)", fmtPkg, m.FullName(), fd.Name())
		x := "m." + fl.goName
		f.P("case ", strconv.Quote(string(fd.Name())), ":")
		switch {
		case fd.IsMap():
			k, _ := f.elemOf(fd.MapKey())
			v, _ := f.elemOf(fd.MapValue())
			t, _ := f.goTypeOf(fd)
			f.P("l, err := d.DecodeMapLen()")
			f.P("if err != nil {")
			f.P(onErr)
			f.P("}")
			f.P("if l > 0 {")
			f.P(x, " = make(", t, ", min(l, 64))")
			f.P("}")
			f.P("for j := 0; j < l; j++ {")
			kx := f.decode(k, "k", onErr)
			vx := f.decode(v, "v", onErr)
			f.P(x, "[", kx, "] = ", vx)
			f.P("}")
		case fd.IsList():
			e, _ := f.elemOf(fd)
			f.P("l, err := d.DecodeArrayLen()")
			f.P("if err != nil {")
			f.P(onErr)
			f.P("}")
			f.P("if l > 0 {")
			f.P(x, " = make([]", e.goType, ", 0, min(l, 64))")
			f.P("}")
			f.P("for j := 0; j < l; j++ {")
			vx := f.decode(e, "v", onErr)
			f.P(x, " = append(", x, ", ", vx, ")")
			f.P("}")
		default:
			e, _ := f.elemOf(fd)
			if e.kind == protoreflect.MessageKind || fd.HasOptionalKeyword() {
				// nil is absent: the field stays nil (or zero).
				f.skipNil()
			}
			vx := f.decode(e, "v", onErr)
			if optionalPtr(fd, e) {
				if vx != "v" {
					f.P("p := ", vx)
					vx = "p"
				}
				vx = "&" + vx
			}
			f.P(x, " = ", vx)
		}
	}
	f.P("default:")
	f.P("if err := d.Skip(); err != nil {")
	f.P("return err")
	f.P("}")
	f.P("}")
	f.P("}")
	f.P("return nil")
	f.P("}")
	f.P()
	return nil
}

// skipNil writes statements that skip a msgpack nil value and continue
// with the next key, leaving the field as it is (nil or zero).
func (f *fileGen) skipNil() {
	f.P("if c, err := d.PeekCode(); err != nil {")
	f.P("return err")
	f.P("} else if c == ", f.use("github.com/vmihailenco/msgpack/v5/msgpcode"), ".Nil {")
	f.P("if err := d.Skip(); err != nil {")
	f.P("return err")
	f.P("}")
	f.P("continue")
	f.P("}")
}
