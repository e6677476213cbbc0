package stubs

import (
	_ "embed"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// tsRuntime is the browser client runtime every generated TypeScript file
// imports, written out as parley.ts by GenerateTS.
//
//go:embed ts/parley.ts
var tsRuntime []byte

// TSRuntimeName is the name of the runtime file GenerateTS writes next to
// the generated clients.
const TSRuntimeName = "parley.ts"

// GenerateTS parses the given .proto files like Generate and writes a
// TypeScript browser client for each: FILE.parley.ts with an interface per
// message (keys are the proto field names, as on the wire), an enum per
// enum and a client class per service whose unary and server-streaming
// methods use gRPC-Web and whose client-streaming and bidi methods use
// parley's WebSocket framing. The first File is the runtime they import,
// TSRuntimeName. The output needs the npm package @msgpack/msgpack.
func GenerateTS(files []string, opts Options) ([]File, error) {
	s, err := compile(files, opts)
	if err != nil {
		return nil, err
	}
	if errs := tsValidate(s); len(errs) > 0 {
		return nil, errs
	}
	g := &tsGen{names: map[string]map[protoreflect.FullName]string{}, conv: map[protoreflect.FullName]bool{}}
	out := []File{{Name: TSRuntimeName, Content: tsRuntime}}
	for _, fd := range s.files {
		out = append(out, g.file(fd))
	}
	return out, nil
}

// tsValidate reports what the TypeScript client cannot carry: a field
// named __proto__ (an object literal's __proto__ key sets its prototype
// instead of a property, and @msgpack/msgpack refuses to decode the key).
func tsValidate(s *schema) ErrorList {
	var errs ErrorList
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			fields := m.Fields()
			for j := range fields.Len() {
				if fd := fields.Get(j); fd.Name() == "__proto__" {
					errs = append(errs, s.errorAt(fd, "field %s: a field named __proto__ cannot be carried by the TypeScript client (JavaScript objects take the key as their prototype and @msgpack/msgpack refuses to decode it): rename it", fd.FullName()))
				}
			}
			walk(m.Messages())
		}
	}
	for _, fd := range s.files {
		walk(fd.Messages())
	}
	return errs
}

// tsGen holds what the files of one GenerateTS run share: the TypeScript
// name of every message, enum and service client, and which messages need
// a conversion after decoding.
type tsGen struct {
	names map[string]map[protoreflect.FullName]string // proto file -> full name -> TS name
	conv  map[protoreflect.FullName]bool
}

// tsFile is the state of one generated TypeScript file.
type tsFile struct {
	g       *tsGen
	fd      protoreflect.FileDescriptor
	b       strings.Builder
	imports map[protoreflect.FullName]protoreflect.Descriptor // types from other files
	decoded map[protoreflect.FullName]bool                    // of those, whose $decode_ function is used
	runtime bool                                              // $parley is used
}

func tsModule(fd protoreflect.FileDescriptor) string {
	return strings.TrimSuffix(fd.Path(), ".proto") + ".parley"
}

// tsImportPath is the module specifier by which the generated file from
// imports the module to (both paths relative to the output directory,
// without extension): relative, with / separators, starting with ./ or ../.
func tsImportPath(from, to string) string {
	fromDir := strings.Split(path.Dir(from), "/")
	if fromDir[0] == "." {
		fromDir = nil
	}
	toParts := strings.Split(to, "/")
	common := 0
	for common < len(fromDir) && common < len(toParts)-1 && fromDir[common] == toParts[common] {
		common++
	}
	var rel []string
	for range fromDir[common:] {
		rel = append(rel, "..")
	}
	rel = append(rel, toParts[common:]...)
	if rel[0] != ".." {
		return "./" + strings.Join(rel, "/")
	}
	return strings.Join(rel, "/")
}

// tsPlaceholder marks, in a file's body, a type from another file (kind
// 't') or its $decode_ function (kind 'd'): their local names, aliased
// when they collide, are known once the whole body is written.
func tsPlaceholder(kind byte, d protoreflect.Descriptor) string {
	return "\x00" + string(kind) + string(d.FullName()) + "\x00"
}

func (g *tsGen) file(fd protoreflect.FileDescriptor) File {
	f := &tsFile{g: g, fd: fd, imports: map[protoreflect.FullName]protoreflect.Descriptor{}, decoded: map[protoreflect.FullName]bool{}}
	msgs := fd.Messages()
	for i := range msgs.Len() {
		f.message(msgs.Get(i))
	}
	enums := fd.Enums()
	for i := range enums.Len() {
		f.enum(enums.Get(i))
	}
	svcs := fd.Services()
	for i := range svcs.Len() {
		f.service(svcs.Get(i))
	}

	// Names for the imported types: their own, or, when that collides
	// with a name of this file or of another import, prefixed with their
	// package (pa_M).
	module := tsModule(fd)
	used := map[string]bool{}
	for _, n := range g.fileNames(fd) {
		used[n] = true
	}
	imported := slices.SortedFunc(maps.Values(f.imports), func(a, b protoreflect.Descriptor) int {
		if c := strings.Compare(a.ParentFile().Path(), b.ParentFile().Path()); c != 0 {
			return c
		}
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	count := map[string]int{}
	for _, d := range imported {
		count[g.name(d)]++
	}
	alias := map[protoreflect.FullName]string{}
	for _, d := range imported {
		n := g.name(d)
		if used[n] || count[n] > 1 {
			prefix := string(d.ParentFile().Package())
			if prefix == "" {
				prefix = strings.TrimSuffix(d.ParentFile().Path(), ".proto")
			}
			n = tsIdent(prefix) + "_" + n
		}
		n = tsEscape(n, tsReservedType)
		for used[n] {
			n += "_"
		}
		used[n] = true
		alias[d.FullName()] = n
	}
	body := f.b.String()
	for _, d := range imported {
		body = strings.ReplaceAll(body, tsPlaceholder('t', d), alias[d.FullName()])
		body = strings.ReplaceAll(body, tsPlaceholder('d', d), "$decode_"+alias[d.FullName()])
	}

	var head strings.Builder
	fmt.Fprintf(&head, "// Code generated by parley gen -lang ts %s from %s. DO NOT EDIT.\n\n", Version, fd.Path())
	head.WriteString("/* eslint-disable */\n")
	if f.runtime {
		// The runtime as a namespace: its names (Status, Transport...)
		// cannot collide with the schema's.
		fmt.Fprintf(&head, "import * as $parley from %q;\n", tsImportPath(module, strings.TrimSuffix(TSRuntimeName, ".ts")))
	}
	for i := 0; i < len(imported); {
		j := i
		var types, funcs []string
		for ; j < len(imported) && imported[j].ParentFile() == imported[i].ParentFile(); j++ {
			d := imported[j]
			types = append(types, tsImportName(g.name(d), alias[d.FullName()]))
			if f.decoded[d.FullName()] {
				funcs = append(funcs, tsImportName("$decode_"+g.name(d), "$decode_"+alias[d.FullName()]))
			}
		}
		from := tsImportPath(module, tsModule(imported[i].ParentFile()))
		fmt.Fprintf(&head, "import type { %s } from %q;\n", strings.Join(types, ", "), from)
		if len(funcs) > 0 {
			fmt.Fprintf(&head, "import { %s } from %q;\n", strings.Join(funcs, ", "), from)
		}
		i = j
	}
	if len(imported) > 0 || f.runtime {
		head.WriteString("\n")
	}
	return File{
		Name:    module + ".ts",
		Proto:   fd.Path(),
		Content: []byte(head.String() + body),
	}
}

func tsImportName(name, alias string) string {
	if name == alias {
		return name
	}
	return name + " as " + alias
}

// tsIdent turns a package or path into identifier characters.
func tsIdent(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// tsReservedType holds the names a message, enum or client class cannot
// take: JavaScript's reserved words, TypeScript's type keywords and the
// globals the generated code and runtime use or a program commonly does
// (a message named Date would turn every Timestamp field into it).
var tsReservedType = tsSet(
	// Reserved words, strict-mode and TypeScript keywords.
	"break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
	"do", "else", "enum", "export", "extends", "false", "finally", "for", "function", "if",
	"import", "in", "instanceof", "new", "null", "return", "super", "switch", "this", "throw",
	"true", "try", "typeof", "var", "void", "while", "with", "implements", "interface", "let",
	"package", "private", "protected", "public", "static", "yield", "await", "arguments", "eval",
	"any", "unknown", "never", "object", "string", "number", "boolean", "symbol", "bigint",
	"undefined", "type", "as", "async", "declare", "from", "get", "set", "is", "keyof",
	"module", "namespace", "of", "readonly", "require", "global", "infer", "asserts",
	"abstract", "constructor", "satisfies", "accessor", "out", "override", "unique", "using",
	// Globals: values, types and utility types.
	"globalThis", "NaN", "Infinity", "Object", "Function", "Array", "ReadonlyArray", "String",
	"Number", "Boolean", "BigInt", "Symbol", "Date", "RegExp", "Error", "TypeError", "RangeError",
	"SyntaxError", "Promise", "PromiseLike", "Map", "ReadonlyMap", "Set", "ReadonlySet",
	"WeakMap", "WeakSet", "WeakRef", "JSON", "Math", "Reflect", "Proxy", "Intl", "ArrayBuffer",
	"SharedArrayBuffer", "DataView", "Uint8Array", "Int8Array", "Uint8ClampedArray",
	"Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array",
	"BigInt64Array", "BigUint64Array", "Iterable", "Iterator", "IterableIterator",
	"AsyncIterable", "AsyncIterator", "AsyncIterableIterator", "Generator", "AsyncGenerator",
	"Record", "Partial", "Required", "Readonly", "Pick", "Omit", "Exclude", "Extract",
	"NonNullable", "ReturnType", "Parameters", "InstanceType", "Awaited", "ArrayLike",
	"PropertyKey", "TextEncoder", "TextDecoder", "URL", "URLSearchParams", "WebSocket",
	"MessageEvent", "CloseEvent", "Event", "EventTarget", "AbortController", "AbortSignal",
	"Response", "Request", "Headers", "BodyInit", "HeadersInit", "ReadableStream",
	"ReadableStreamReadResult", "Blob", "fetch", "setTimeout", "clearTimeout", "console",
	"window", "document", "self", "location", "queueMicrotask", "structuredClone",
)

// tsReservedMember holds the method names a client instance cannot take:
// Object.prototype's, then (an object with a then method is awaited as a
// promise), the constructor and the client's own transport.
var tsReservedMember = tsSet(
	"constructor", "then", "transport", "toString", "toLocaleString", "valueOf",
	"hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "__proto__",
	"__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
)

// tsReservedStatic holds the names a client class's static members cannot
// take: a function's own properties and Object.prototype's.
var tsReservedStatic = tsSet(
	"prototype", "name", "length", "caller", "arguments", "call", "apply", "bind",
	"constructor", "then", "toString", "toLocaleString", "valueOf", "hasOwnProperty",
	"isPrototypeOf", "propertyIsEnumerable", "__proto__",
	"__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
)

func tsSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// tsEscape appends "_" to a reserved name, as the Go output does to a
// name that collides.
func tsEscape(name string, reserved map[string]bool) string {
	if reserved[name] {
		return name + "_"
	}
	return name
}

// fileNames returns the TypeScript names of fd's messages, enums and
// service clients: a message or enum is named within its package, nested
// names joined by "_" (Outer_Inner) as in the Go output; a reserved name,
// or one taken by a type declared before it (top-level types first), gets
// a trailing "_".
func (g *tsGen) fileNames(fd protoreflect.FileDescriptor) map[protoreflect.FullName]string {
	if names, ok := g.names[fd.Path()]; ok {
		return names
	}
	names := map[protoreflect.FullName]string{}
	taken := map[string]bool{}
	claim := func(d protoreflect.Descriptor, n string) {
		n = tsEscape(n, tsReservedType)
		for taken[n] {
			n += "_"
		}
		taken[n] = true
		names[d.FullName()] = n
	}
	flat := func(d protoreflect.Descriptor) string {
		name := string(d.FullName())
		if pkg := string(fd.Package()); pkg != "" {
			name = strings.TrimPrefix(name, pkg+".")
		}
		return strings.ReplaceAll(name, ".", "_")
	}
	level := []protoreflect.Descriptor{}
	ms, es := fd.Messages(), fd.Enums()
	for i := range ms.Len() {
		level = append(level, ms.Get(i))
	}
	for i := range es.Len() {
		level = append(level, es.Get(i))
	}
	for len(level) > 0 {
		var next []protoreflect.Descriptor
		for _, d := range level {
			m, ok := d.(protoreflect.MessageDescriptor)
			if ok && m.IsMapEntry() {
				continue
			}
			claim(d, flat(d))
			if ok {
				for i := range m.Messages().Len() {
					next = append(next, m.Messages().Get(i))
				}
				for i := range m.Enums().Len() {
					next = append(next, m.Enums().Get(i))
				}
			}
		}
		level = next
	}
	svcs := fd.Services()
	for i := range svcs.Len() {
		claim(svcs.Get(i), string(svcs.Get(i).Name())+"Client")
	}
	g.names[fd.Path()] = names
	return names
}

// name is the TypeScript name of a message, enum or service client in its
// own file.
func (g *tsGen) name(d protoreflect.Descriptor) string {
	return g.fileNames(d.ParentFile())[d.FullName()]
}

// tsMapKeyed reports whether a map field's keys are not strings: such a
// map is a JavaScript Map, so that its keys keep their msgpack type.
func tsMapKeyed(fd protoreflect.FieldDescriptor) bool {
	return fd.IsMap() && fd.MapKey().Kind() != protoreflect.StringKind
}

// needsConv reports whether a decoded m must be converted before it has
// its TypeScript type: when it holds, directly or through its message
// fields, a map whose keys are not strings.
func (g *tsGen) needsConv(m protoreflect.MessageDescriptor) bool {
	if v, ok := g.conv[m.FullName()]; ok {
		return v
	}
	seen := map[protoreflect.FullName]bool{}
	var reach func(m protoreflect.MessageDescriptor) bool
	reach = func(m protoreflect.MessageDescriptor) bool {
		if seen[m.FullName()] {
			return false
		}
		seen[m.FullName()] = true
		if _, wk := tsWellKnown(string(m.FullName())); wk {
			return false
		}
		fields := m.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if tsMapKeyed(fd) {
				return true
			}
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if fd.Message() != nil && reach(fd.Message()) {
				return true
			}
		}
		return false
	}
	v := reach(m)
	g.conv[m.FullName()] = v
	return v
}

func (f *tsFile) p(format string, args ...any) {
	fmt.Fprintf(&f.b, format, args...)
	f.b.WriteByte('\n')
}

// doc writes d's proto comment as a JSDoc comment, or def.
func (f *tsFile) doc(d protoreflect.Descriptor, indent, def string) {
	c := strings.TrimRight(f.fd.SourceLocations().ByDescriptor(d).LeadingComments, "\n")
	if strings.TrimSpace(c) == "" {
		c = def
	}
	if c == "" {
		return
	}
	f.docText(indent, c)
}

// ref returns the name to use for a message or enum type, importing it when
// it is declared in another file.
func (f *tsFile) ref(d protoreflect.Descriptor) string {
	if d.ParentFile().Path() == f.fd.Path() {
		return f.g.name(d)
	}
	f.imports[d.FullName()] = d
	return tsPlaceholder('t', d)
}

// decodeRef returns the name of m's $decode_ function, importing it when m
// is declared in another file.
func (f *tsFile) decodeRef(m protoreflect.MessageDescriptor) string {
	if m.ParentFile().Path() == f.fd.Path() {
		return "$decode_" + f.g.name(m)
	}
	f.ref(m)
	f.decoded[m.FullName()] = true
	return tsPlaceholder('d', m)
}

func (f *tsFile) message(m protoreflect.MessageDescriptor) {
	if m.IsMapEntry() {
		return
	}
	name := f.g.name(m)
	f.doc(m, "", name+" is the message "+string(m.FullName())+".")
	f.p("export interface %s {", name)
	fields := m.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		def := ""
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			def = "A case of the oneof " + string(o.Name()) + ": at most one of its cases is set."
		}
		f.doc(fd, "  ", def)
		f.p("  %s?: %s;", fd.Name(), f.fieldType(fd))
	}
	f.p("}")
	f.p("")
	if f.g.needsConv(m) {
		f.decoder(m)
	}
	nested := m.Messages()
	for i := range nested.Len() {
		f.message(nested.Get(i))
	}
	enums := m.Enums()
	for i := range enums.Len() {
		f.enum(enums.Get(i))
	}
}

// decoder writes $decode_M, which turns a decoded M's maps with integer
// or bool keys (objects keyed by strings, as @msgpack/msgpack decodes
// them) into Maps, in place, through its message fields.
func (f *tsFile) decoder(m protoreflect.MessageDescriptor) {
	name := f.g.name(m)
	f.runtime = true
	f.p("/** $decode_%s gives a decoded %s its maps with integer and bool keys as Maps. */", name, name)
	f.p("export function $decode_%s(m: any): %s {", name, name)
	fields := m.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		val := fd
		if fd.IsMap() {
			val = fd.MapValue()
		}
		conv := ""
		if val.Message() != nil && f.g.needsConv(val.Message()) {
			conv = f.decodeRef(val.Message())
		}
		switch {
		case tsMapKeyed(fd):
			key := "$parley.intKey"
			if fd.MapKey().Kind() == protoreflect.BoolKind {
				key = "$parley.boolKey"
			}
			if conv != "" {
				f.p("  $parley.wireMap(m, %q, %s, %s);", fd.Name(), key, conv)
			} else {
				f.p("  $parley.wireMap(m, %q, %s);", fd.Name(), key)
			}
		case conv == "":
		case fd.IsMap():
			f.p("  $parley.wireValues(m, %q, %s);", fd.Name(), conv)
		case fd.IsList():
			f.p("  $parley.wireList(m, %q, %s);", fd.Name(), conv)
		default:
			f.p("  $parley.wireField(m, %q, %s);", fd.Name(), conv)
		}
	}
	f.p("  return m;")
	f.p("}")
	f.p("")
}

func (f *tsFile) fieldType(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		switch fd.MapKey().Kind() {
		case protoreflect.StringKind:
			return "{ [key: string]: " + f.scalarType(fd.MapValue()) + " }"
		case protoreflect.BoolKind:
			return "Map<boolean, " + f.scalarType(fd.MapValue()) + ">"
		default:
			return "Map<number, " + f.scalarType(fd.MapValue()) + ">"
		}
	}
	t := f.scalarType(fd)
	if fd.IsList() {
		if strings.Contains(t, "|") {
			return "(" + t + ")[]"
		}
		return t + "[]"
	}
	return t
}

func (f *tsFile) scalarType(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return "boolean"
	case protoreflect.StringKind:
		return "string"
	case protoreflect.BytesKind:
		return "Uint8Array"
	case protoreflect.EnumKind:
		return f.ref(fd.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if t, ok := tsWellKnown(string(fd.Message().FullName())); ok {
			return t
		}
		return f.ref(fd.Message())
	}
	// Every integer and floating-point kind. 64-bit integers past 2^53
	// lose precision as JavaScript numbers.
	return "number"
}

func (f *tsFile) enum(e protoreflect.EnumDescriptor) {
	name := f.g.name(e)
	f.doc(e, "", name+" is the enum "+string(e.FullName())+".")
	f.p("export enum %s {", name)
	vals := e.Values()
	for i := range vals.Len() {
		v := vals.Get(i)
		f.doc(v, "  ", "")
		// An enum member __proto__ would set the enum object's prototype.
		f.p("  %s = %d,", tsEscape(string(v.Name()), tsSet("__proto__")), v.Number())
	}
	f.p("}")
	f.p("")
}

func (f *tsFile) methodType(md protoreflect.MethodDescriptor) (req, res, conv string) {
	name := func(m protoreflect.MessageDescriptor) string {
		if t, ok := tsWellKnown(string(m.FullName())); ok {
			return t
		}
		return f.ref(m)
	}
	if f.g.needsConv(md.Output()) {
		conv = f.decodeRef(md.Output())
	}
	return name(md.Input()), name(md.Output()), conv
}

func (f *tsFile) service(sd protoreflect.ServiceDescriptor) {
	f.runtime = true
	cls := f.g.name(sd)
	f.doc(sd, "", cls+" calls the service "+string(sd.FullName())+".")
	f.p("export class %s {", cls)
	methods := sd.Methods()
	// The static full names and the instance methods, escaped where they
	// would shadow a built-in member and kept apart from one another.
	statics, members := make([]string, methods.Len()), make([]string, methods.Len())
	takenStatic, takenMember := map[string]bool{}, map[string]bool{}
	for i := range methods.Len() {
		md := methods.Get(i)
		s := tsEscape(string(md.Name()), tsReservedStatic)
		for takenStatic[s] {
			s += "_"
		}
		takenStatic[s] = true
		statics[i] = s
		m := tsEscape(lowerFirst(string(md.Name())), tsReservedMember)
		for takenMember[m] {
			m += "_"
		}
		takenMember[m] = true
		members[i] = m
	}
	for i := range methods.Len() {
		md := methods.Get(i)
		f.p("  /** The full name of %s. */", md.Name())
		f.p("  static readonly %s = %q;", statics[i], "/"+string(sd.FullName())+"/"+string(md.Name()))
	}
	f.p("")
	f.p("  readonly transport: $parley.Transport;")
	f.p("")
	f.p("  /** The client calls the server at transport's base URL (the page's own origin by default). */")
	f.p("  constructor(transport: $parley.Transport = new $parley.Transport()) {")
	f.p("    this.transport = transport;")
	f.p("  }")
	for i := range methods.Len() {
		md := methods.Get(i)
		req, res, conv := f.methodType(md)
		f.p("")
		var how string
		switch {
		case md.IsStreamingClient() && md.IsStreamingServer():
			how = "Bidirectional streaming, over a WebSocket: send requests, iterate over the responses; `end` is the status."
		case md.IsStreamingClient():
			how = "Client streaming, over a WebSocket: send requests, then closeAndRecv for the response."
		case md.IsStreamingServer():
			how = "Server streaming, over gRPC-Web: yields the responses; throws ParleyError if the call fails."
		default:
			how = "Unary, over gRPC-Web: rejects with ParleyError if the call fails."
		}
		c := strings.TrimRight(f.fd.SourceLocations().ByDescriptor(md).LeadingComments, "\n")
		if strings.TrimSpace(c) != "" {
			c += "\n\n"
		}
		f.docText("  ", c+how)
		full := cls + "." + statics[i]
		if conv != "" {
			conv = ", " + conv
		}
		switch {
		case md.IsStreamingClient():
			f.p("  %s(opts?: $parley.CallOptions): $parley.StreamCall<%s, %s> {", members[i], req, res)
			f.p("    return this.transport.stream(%s, opts%s);", full, conv)
		case md.IsStreamingServer():
			f.p("  %s(req: %s, opts?: $parley.CallOptions): AsyncGenerator<%s, $parley.Status> {", members[i], req, res)
			f.p("    return this.transport.serverStream(%s, req, opts%s);", full, conv)
		default:
			f.p("  %s(req: %s, opts?: $parley.CallOptions): Promise<%s> {", members[i], req, res)
			f.p("    return this.transport.unary(%s, req, opts%s);", full, conv)
		}
		f.p("  }")
	}
	f.p("}")
	f.p("")
}

func (f *tsFile) docText(indent, c string) {
	f.p("%s/**", indent)
	for _, line := range strings.Split(c, "\n") {
		line = strings.ReplaceAll(strings.TrimRight(strings.TrimPrefix(line, " "), " \t"), "*/", "* /")
		if line == "" {
			f.p("%s *", indent)
		} else {
			f.p("%s * %s", indent, line)
		}
	}
	f.p("%s */", indent)
}

// tsWellKnown returns the TypeScript type of a well-known type, as its
// msgpack mapping decodes (docs/idl.md), and false for other messages.
func tsWellKnown(name string) (string, bool) {
	switch name {
	case wktTimestamp:
		return "Date", true
	case wktDuration:
		return "number /* nanoseconds */", true
	case wktEmpty:
		return "Record<string, never>", true
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value":
		return "number | null", true
	case "google.protobuf.BoolValue":
		return "boolean | null", true
	case "google.protobuf.StringValue":
		return "string | null", true
	case "google.protobuf.BytesValue":
		return "Uint8Array | null", true
	case "google.protobuf.Struct":
		return "{ [key: string]: unknown }", true
	case "google.protobuf.Value":
		return "unknown", true
	case "google.protobuf.ListValue":
		return "unknown[]", true
	case "google.protobuf.Any":
		return "{ type_url: string; value: Uint8Array }", true
	case "google.protobuf.FieldMask":
		return "{ paths: string[] }", true
	}
	return "", false
}
