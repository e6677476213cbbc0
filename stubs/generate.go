package stubs

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Version is the generator version, written into the header of every
// generated file.
const Version = "v0.1.0"

// File is one generated Go source file.
type File struct {
	// Name is the output path relative to the output directory, with
	// forward slashes: the .proto file's proto name (its path relative to
	// its import path) with ".proto" replaced by ".parley.go", or by
	// ".protocols.md" for the Markdown file holding a diagram of each
	// protocol the file declares (written after its Go file).
	Name string
	// Proto is the proto name of the file it was generated from.
	Proto string
	// GoPackage is the Go package name the file declares.
	GoPackage string
	// Content is the gofmt-formatted Go source.
	Content []byte
}

// Generate parses the given .proto files (see Parse) and generates one Go
// file for each of them, in the same order, each followed by a Markdown
// file of its protocols' diagrams when it declares any. Imported files are used for
// their types but not generated: list them too when they belong to the
// same Go package.
func Generate(files []string, opts Options) ([]File, error) {
	s, err := compile(files, opts)
	if err != nil {
		return nil, err
	}
	g := &generator{schema: s, names: map[string]*fileNames{}, declared: map[string]map[string]bool{}}
	out := make([]File, 0, len(s.files))
	declared := map[string]map[string]string{}       // output directory and Go package → name → proto file declaring it
	dirs := map[string]protoreflect.FileDescriptor{} // output directory → the first file generated into it
	var dirErr *Error                                // the first file generated into a directory of another Go package
	for _, fd := range s.files {
		f, err := g.generateFile(fd)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				// A schema error found while generating.
				return nil, ErrorList{e}
			}
			return nil, err
		}
		// The go command builds one package per directory.
		n := g.namesOf(fd)
		if prev, ok := dirs[path.Dir(f.Name)]; !ok {
			dirs[path.Dir(f.Name)] = fd
		} else if p := g.namesOf(prev).pkg; p != n.pkg && dirErr == nil {
			dirErr = s.errorAtGoPackage(fd, "%s is generated as Go package %s into the directory of %s, which is Go package %s: one directory holds one Go package; give the files the same package name in option go_package, or put them in different directories",
				fd.Path(), n.pkg, prev.Path(), p)
		}
		// Names are given file by file, so that every file referring to
		// a type agrees on its name; two files generated into one Go
		// package must not both declare one.
		pkg := path.Dir(f.Name) + ";" + n.pkg
		if declared[pkg] == nil {
			declared[pkg] = map[string]string{}
		}
		for _, name := range slices.Sorted(maps.Keys(g.declared[fd.Path()])) {
			if prev, ok := declared[pkg][name]; ok {
				return nil, ErrorList{s.errorAtGoPackage(fd, "%s and %s are generated into one Go package (%s) and both declare %s: rename one of the declarations, or give the files different go_package options", prev, fd.Path(), n.pkg, name)}
			}
			declared[pkg][name] = fd.Path()
		}
		out = append(out, f)
		if md, ok := g.diagrams(fd); ok {
			out = append(out, md)
		}
	}
	if err := checkOutputNames(out); err != nil {
		return nil, err
	}
	if dirErr != nil {
		return nil, ErrorList{dirErr}
	}
	return out, nil
}

// checkOutputNames fails when two generated files would be written to
// the same path, or to paths that differ only in case (which the go
// command refuses in one package, and which overwrite each other on
// case-insensitive file systems), such as those of "x" and "x.proto".
func checkOutputNames(files []File) error {
	seen := map[string]File{}
	for _, f := range files {
		key := strings.ToLower(f.Name)
		if prev, ok := seen[key]; ok {
			return fmt.Errorf("stubs: %s and %s would both be generated as %s: rename one of them", prev.Proto, f.Proto, f.Name)
		}
		seen[key] = f
	}
	return nil
}

// generator holds the state shared by the files of one Generate call.
type generator struct {
	schema *schema
	// names caches the Go identifiers of each proto file, by proto name.
	names map[string]*fileNames
	// declared holds the package-level names each generated file
	// declares, by proto name.
	declared map[string]map[string]bool
}

// fileNames holds the Go identifiers chosen for the declarations of one
// proto file; they depend only on that file, so every file that refers to
// its types agrees on them.
type fileNames struct {
	importPath, pkg string
	idents          map[protoreflect.FullName]string    // messages, enums, enum values
	oneofIface      map[protoreflect.FullName]string    // oneof full name -> sealed interface
	oneofCase       map[protoreflect.FullName]string    // field full name -> case wrapper type
	fields          map[protoreflect.FullName]string    // field or oneof full name -> struct field
	enumMaps        map[protoreflect.FullName][2]string // enum -> its _name and _value maps
	// taken holds the package-level names given above; the file's
	// services and descriptor take theirs after them, as it is generated.
	taken map[string]bool
}

// namesOf computes (once) the Go identifiers for fd's declarations, the
// way protoc-gen-go does, appending "_" to resolve collisions.
func (g *generator) namesOf(fd protoreflect.FileDescriptor) *fileNames {
	if n, ok := g.names[fd.Path()]; ok {
		return n
	}
	nm := &namer{fd: fd, n: &fileNames{
		idents:     map[protoreflect.FullName]string{},
		oneofIface: map[protoreflect.FullName]string{},
		oneofCase:  map[protoreflect.FullName]string{},
		fields:     map[protoreflect.FullName]string{},
		enumMaps:   map[protoreflect.FullName][2]string{},
		taken:      map[string]bool{},
	}}
	n := nm.n
	n.importPath, n.pkg = goPackageOf(fileGoPackage(fd), string(fd.Package()), fd.Path())
	enums := fd.Enums()
	for i := 0; i < enums.Len(); i++ {
		nm.enum(enums.Get(i), "")
	}
	msgs := fd.Messages()
	for i := 0; i < msgs.Len(); i++ {
		nm.message(msgs.Get(i))
	}
	services := fd.Services()
	for i := 0; i < services.Len(); i++ {
		// The prefix of the names the service's code declares; they
		// are claimed when it is generated (see svcNames).
		sv := services.Get(i)
		n.idents[sv.FullName()] = goCamelCase(string(sv.Name()))
	}
	g.names[fd.Path()] = n
	return n
}

// namer gives a file's declarations their Go names, each unique in the
// package: a name already taken gets underscores appended.
type namer struct {
	fd protoreflect.FileDescriptor
	n  *fileNames
}

// claim takes name, or the first free name made of it and underscores.
func (nm *namer) claim(name string) string { return claimIn(nm.n.taken, name) }

// claimIn takes name in taken, or the first name made of it and
// underscores that is not in taken, and returns it. Every name the
// generated code declares in a namespace (the package, the fields of a
// struct, the methods of a service) goes through it.
func claimIn(taken map[string]bool, name string) string {
	for taken[name] {
		name += "_"
	}
	taken[name] = true
	return name
}

// rel is d's name relative to the file's package, in Go case.
func (nm *namer) rel(d protoreflect.Descriptor) string {
	name := string(d.FullName())
	if p := string(nm.fd.Package()); p != "" {
		name = name[len(p)+1:]
	}
	return goCamelCase(name)
}

// enum names an enum and its values (prefixed with the enclosing
// message's name for nested enums, as protoc-gen-go does).
func (nm *namer) enum(e protoreflect.EnumDescriptor, parent string) {
	name := nm.claim(nm.rel(e))
	nm.n.idents[e.FullName()] = name
	nm.n.enumMaps[e.FullName()] = [2]string{nm.claim(name + "_name"), nm.claim(name + "_value")}
	prefix := name
	if parent != "" {
		prefix = parent
	}
	values := e.Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		nm.n.idents[v.FullName()] = nm.claim(prefix + "_" + string(v.Name()))
	}
}

// message names a message, its fields and oneofs, and what it nests.
func (nm *namer) message(m protoreflect.MessageDescriptor) {
	if m.IsMapEntry() {
		return
	}
	n := nm.n
	name := nm.claim(nm.rel(m))
	n.idents[m.FullName()] = name
	// Field names must not collide with each other or with the methods
	// generated on the message.
	fieldTaken := map[string]bool{"EncodeMsgpack": true, "DecodeMsgpack": true, "AppendProto": true, "UnmarshalProto": true, "MergeProto": true}
	claimField := func(s string) string { return claimIn(fieldTaken, s) }
	fields := m.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if _, ok := n.fields[o.FullName()]; !ok {
				n.fields[o.FullName()] = claimField(goCamelCase(string(o.Name())))
				n.oneofIface[o.FullName()] = nm.claim(name + "_" + goCamelCase(string(o.Name())))
			}
			n.fields[f.FullName()] = goCamelCase(string(f.Name()))
			continue
		}
		n.fields[f.FullName()] = claimField(goCamelCase(string(f.Name())))
	}
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			n.oneofCase[f.FullName()] = nm.claim(name + "_" + goCamelCase(string(f.Name())))
		}
	}
	enums := m.Enums()
	for i := 0; i < enums.Len(); i++ {
		nm.enum(enums.Get(i), name)
	}
	msgs := m.Messages()
	for i := 0; i < msgs.Len(); i++ {
		nm.message(msgs.Get(i))
	}
}

// fileGoPackage returns fd's go_package option, or "".
func fileGoPackage(fd protoreflect.FileDescriptor) string {
	type goPackager interface{ GetGoPackage() string }
	if o, ok := fd.Options().(goPackager); ok {
		return o.GetGoPackage()
	}
	return ""
}

// fileGen generates one Go file.
type fileGen struct {
	g     *generator
	fd    protoreflect.FileDescriptor
	names *fileNames
	buf   bytes.Buffer
	// imports maps an import path to its name in this file.
	imports map[string]string
	// taken holds the package-level names declared so far: those of
	// names, then the services' as they are generated.
	taken map[string]bool
}

// claim takes a package-level name for the file's code (see claimIn).
func (f *fileGen) claim(name string) string { return claimIn(f.taken, name) }

// Standard imports of generated code, by import path.
var stdImports = map[string]string{
	"context":                           "context",
	"fmt":                               "fmt",
	"io":                                "io",
	"strconv":                           "strconv",
	"time":                              "time",
	"github.com/vmihailenco/msgpack/v5": "msgpack",
	"github.com/vmihailenco/msgpack/v5/msgpcode": "msgpcode",
	"github.com/parleyrpc/parley/runtime":        "runtime",
	"github.com/parleyrpc/parley/descriptors":    "descriptors",
	"github.com/parleyrpc/parley/protocol":       "protocol",
	"github.com/parleyrpc/parley/wire":           "wire",
	parleyimplPath:                               "parleyimpl",
	protowirePath:                                "protowire",
	wktPath:                                      "wkt",
	"math":                                       "math",
}

// localNames are the receivers, parameters and variables of generated
// functions: an imported package is never named like one, which would
// hide it inside them (a package m in a method of receiver m).
var localNames = []string{"b", "c", "call", "conv", "ctx", "d", "data", "depth", "e", "err", "impl", "j", "k", "key",
	"l", "m", "mk", "mv", "n", "num", "ok", "opts", "p", "pos", "req", "s", "typ", "v", "x"}

// use records that the file imports path and returns its name.
func (f *fileGen) use(importPath string) string {
	if name, ok := f.imports[importPath]; ok {
		return name
	}
	name, ok := stdImports[importPath]
	if !ok {
		panic("stubs: unknown import " + importPath)
	}
	f.imports[importPath] = name
	return name
}

// P writes one line made of its arguments.
func (f *fileGen) P(args ...any) {
	for _, a := range args {
		fmt.Fprint(&f.buf, a)
	}
	f.buf.WriteByte('\n')
}

func (g *generator) generateFile(fd protoreflect.FileDescriptor) (File, error) {
	names := g.namesOf(fd)
	f := &fileGen{g: g, fd: fd, names: names, imports: map[string]string{}, taken: maps.Clone(names.taken)}
	if err := f.body(); err != nil {
		return File{}, err
	}
	if err := f.descriptor(); err != nil {
		return File{}, err
	}
	g.declared[fd.Path()] = f.taken
	var out bytes.Buffer
	fmt.Fprintf(&out, "// Code generated by parley gen %s. DO NOT EDIT.\n// source: %s\n\n", Version, fd.Path())
	fmt.Fprintf(&out, "package %s\n\n", f.names.pkg)
	if len(f.imports) > 0 {
		var std, other []string
		for _, p := range slices.Sorted(maps.Keys(f.imports)) {
			if strings.Contains(p, ".") {
				other = append(other, p)
			} else {
				std = append(std, p)
			}
		}
		if len(std) > 0 && len(other) > 0 {
			std = append(std, "")
		}
		out.WriteString("import (\n")
		for _, p := range append(std, other...) {
			if p == "" {
				out.WriteString("\n")
				continue
			}
			name := f.imports[p]
			if name == path.Base(p) || (name == "msgpack" && p == "github.com/vmihailenco/msgpack/v5") {
				fmt.Fprintf(&out, "\t%q\n", p)
			} else {
				fmt.Fprintf(&out, "\t%s %q\n", name, p)
			}
		}
		out.WriteString(")\n\n")
	}
	f.writeVersionCheck(&out)
	out.Write(f.buf.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		return File{}, fmt.Errorf("stubs: formatting generated code for %s: %w\n%s", fd.Path(), err, out.Bytes())
	}
	return File{
		Name:      strings.TrimSuffix(fd.Path(), ".proto") + ".parley.go",
		Proto:     fd.Path(),
		GoPackage: f.names.pkg,
		Content:   src,
	}, nil
}

// leadingComments renders a source location's leading comments as Go line
// comments, or "" when there are none.
func leadingComments(loc protoreflect.SourceLocation) string {
	// Go allows a byte order mark only at the start of a file.
	c := strings.TrimRight(strings.ReplaceAll(loc.LeadingComments, "\ufeff", ""), "\n")
	if strings.TrimSpace(c) == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(c, "\n") {
		line = strings.TrimRight(line, " \t")
		if line == "" {
			b.WriteString("//\n")
			continue
		}
		if !strings.HasPrefix(line, " ") {
			line = " " + line
		}
		b.WriteString("//" + line + "\n")
	}
	return b.String()
}

// doc writes d's proto comment, or def (a sentence starting with the Go
// name) when it has none.
func (f *fileGen) doc(d protoreflect.Descriptor, def string) {
	c := f.comments(d)
	if c == "" {
		f.P("// ", def)
		return
	}
	f.buf.WriteString(c)
}

// ident returns the Go expression naming the type, enum value or service
// declared by d, qualified with its package when it lives in another Go
// package.
func (f *fileGen) ident(d protoreflect.Descriptor) (string, error) {
	n := f.g.namesOf(d.ParentFile())
	name, ok := n.idents[d.FullName()]
	if !ok {
		return "", fmt.Errorf("stubs: no Go name for %s", d.FullName())
	}
	// Code is written at its file's proto path, so files of one Go
	// package are files of one directory.
	samePkg := n.pkg == f.names.pkg && n.importPath == f.names.importPath
	if n == f.names || samePkg && path.Dir(d.ParentFile().Path()) == path.Dir(f.fd.Path()) {
		return name, nil
	}
	if samePkg && n.importPath != "" {
		return "", f.g.schema.errorAtGoPackage(d.ParentFile(), "option go_package puts %s in Go package %s (%q), as it does %s, which uses its type %s; but code is written at its file's path, these files are in different directories, and a Go package is one directory: move the files into one, or give them different import paths",
			d.ParentFile().Path(), n.pkg, n.importPath, f.fd.Path(), d.FullName())
	}
	if n.importPath == "" {
		return "", f.g.schema.errorAt(d, "%s is in Go package %s (directory %s), used from Go package %s (directory %s), but its file %s has no import path in option go_package", d.FullName(), n.pkg, path.Dir(d.ParentFile().Path()), f.names.pkg, path.Dir(f.fd.Path()), d.ParentFile().Path())
	}
	if !validImportPath(n.importPath) {
		return "", f.g.schema.errorAtGoPackage(d.ParentFile(), "option go_package gives %s the import path %q, which is not a valid Go import path (%s uses its type %s)",
			d.ParentFile().Path(), n.importPath, f.fd.Path(), d.FullName())
	}
	if n.importPath == f.names.importPath {
		// The file would import its own package.
		return "", f.g.schema.errorAtGoPackage(d.ParentFile(), "option go_package gives %s the import path %q with the package name %s, but %s, which uses its type %s, has the same import path with the package name %s: an import path is one Go package; give both files the same package name, or different import paths",
			d.ParentFile().Path(), n.importPath, n.pkg, f.fd.Path(), d.FullName(), f.names.pkg)
	}
	alias, ok := f.imports[n.importPath]
	if !ok {
		alias = n.pkg
		used := map[string]bool{}
		for _, a := range f.imports {
			used[a] = true
		}
		for _, a := range stdImports {
			used[a] = true
		}
		for _, a := range localNames {
			used[a] = true
		}
		for i := 2; used[alias]; i++ {
			alias = n.pkg + strconv.Itoa(i)
		}
		f.imports[n.importPath] = alias
	}
	return alias + "." + name, nil
}

// validImportPath reports whether p can be imported, as the Go
// specification lets implementations restrict import paths (and the
// gc compiler does): non-empty, of graphic characters other than
// spaces and !"#$%&'()*,:;<=>?[\]^`{|} and U+FFFD.
func validImportPath(p string) bool {
	if p == "" {
		return false
	}
	for _, r := range p {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || strings.ContainsRune("!\"#$%&'()*,:;<=>?[\\]^`{|}\uFFFD", r) {
			return false
		}
	}
	return true
}

// body writes everything after the imports.
func (f *fileGen) body() error {
	enums := f.fd.Enums()
	for i := 0; i < enums.Len(); i++ {
		f.enum(enums.Get(i))
	}
	msgs := f.fd.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if err := f.message(msgs.Get(i)); err != nil {
			return err
		}
	}
	services := f.fd.Services()
	for i := 0; i < services.Len(); i++ {
		if err := f.service(services.Get(i)); err != nil {
			return err
		}
	}
	return nil
}

// enum writes a named int32 type, its constants, its name maps and String.
func (f *fileGen) enum(e protoreflect.EnumDescriptor) {
	name := f.names.idents[e.FullName()]
	f.doc(e, fmt.Sprintf("%s is the enum %s, encoded as a msgpack int.", name, e.FullName()))
	f.P("type ", name, " int32")
	f.P()
	values := e.Values()
	f.P("// Values of ", name, ".")
	f.P("const (")
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		f.doc(v, fmt.Sprintf("%s is %s = %d.", f.names.idents[v.FullName()], v.Name(), v.Number()))
		f.P(f.names.idents[v.FullName()], " ", name, " = ", v.Number())
	}
	f.P(")")
	f.P()
	maps := f.names.enumMaps[e.FullName()]
	f.P("// ", maps[0], " maps the numbers of ", name, " to their proto names (the first name of aliased numbers).")
	f.P("var ", maps[0], " = map[int32]string{")
	seen := map[protoreflect.EnumNumber]bool{}
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		if seen[v.Number()] {
			continue
		}
		seen[v.Number()] = true
		f.P(v.Number(), ": ", strconv.Quote(string(v.Name())), ",")
	}
	f.P("}")
	f.P()
	f.P("// ", maps[1], " maps the proto names of ", name, " to their numbers.")
	f.P("var ", maps[1], " = map[string]int32{")
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		f.P(strconv.Quote(string(v.Name())), ": ", v.Number(), ",")
	}
	f.P("}")
	f.P()
	f.P("// String returns the proto name of x, or its number for values the schema does not name.")
	f.P("func (x ", name, ") String() string {")
	f.P("if s, ok := ", maps[0], "[int32(x)]; ok {")
	f.P("return s")
	f.P("}")
	f.P("return ", f.use("strconv"), ".FormatInt(int64(x), 10)")
	f.P("}")
	f.P()
}
