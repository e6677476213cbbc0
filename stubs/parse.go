package stubs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/parleyrpc/parley/protocol"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Options configures Parse and Generate. The zero value is ready to use.
type Options struct {
	// ImportPaths lists the directories searched, in order, for the files
	// named in imports, like protoc's -I. Each file given to Parse or
	// Generate must lie under one of them; its name relative to that
	// directory is its proto name (the name other files import it by, and
	// the base of its output file name). When ImportPaths is empty, each
	// file's own directory is used as an import path. Two files given
	// with the same proto name, or a file whose proto name finds another
	// file first, are an error: their outputs would overwrite each other.
	//
	// The well-known files google/protobuf/{empty,timestamp,duration}.proto
	// (and the rest of protoc's standard imports) are always available and
	// need not exist on disk.
	ImportPaths []string
}

// Error is one schema error: a problem at a position in a .proto file.
type Error struct {
	// File is the path of the .proto file, as found on disk (or its proto
	// name for built-in files).
	File string
	// Line and Column are 1-based; they are 0 when the position is
	// unknown.
	Line, Column int
	// Msg describes the problem.
	Msg string
}

// Error formats the error as "file:line:column: message".
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// ErrorList holds every schema error found, in the order found. Parse and
// Generate return one when the schema is invalid or uses a feature parley
// does not support; errors.As finds each *Error in it.
type ErrorList []*Error

// Error returns the errors one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// schema is the result of compiling a set of .proto files.
type schema struct {
	// files are the requested files, in the order given.
	files []protoreflect.FileDescriptor
	// disk maps a proto name to the path it was read from.
	disk map[string]string
	// protocols holds the compiled protocol of each method that declares
	// one (see protocol.go).
	protocols map[protoreflect.FullName]*protocol.Spec
}

// Parse compiles the given .proto files and their imports, checks that they
// only use the proto3 features parley supports, and returns the descriptors
// of the given files in order. Schema errors come back as an ErrorList with
// file:line:column positions.
func Parse(files []string, opts Options) ([]protoreflect.FileDescriptor, error) {
	s, err := compile(files, opts)
	if err != nil {
		return nil, err
	}
	return s.files, nil
}

// compile parses, links and validates files.
func compile(files []string, opts Options) (*schema, error) {
	roots, names, err := protoNames(files, opts)
	if err != nil {
		return nil, err
	}
	ds := &diskSources{roots: roots, paths: map[string]string{}}
	var errs ErrorList
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(protocompile.ResolverFunc(ds.find)),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, ds.errorAt(err))
			return nil
		}, nil),
	}
	linked, err := c.Compile(context.Background(), names...)
	if bad := ds.notUTF8(); len(bad) > 0 {
		// Reported in place of what the compiler made of them.
		return nil, bad
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var ewp reporter.ErrorWithPos
	if errors.As(err, &ewp) {
		// A failure the compiler does not report, like a missing import.
		return nil, ErrorList{ds.errorAt(ewp)}
	}
	if err != nil {
		return nil, fmt.Errorf("stubs: %w", err)
	}

	s := &schema{disk: ds.paths}
	for _, f := range linked {
		s.files = append(s.files, f)
	}
	// Validate the given files and every non-standard file whose types
	// they use: types from imported files are generated too, by their own
	// run.
	// Files imported only for the options they define (googleapis'
	// annotations, validation rules: often proto2) are not: options do
	// not change the mapping.
	for _, fd := range typeFiles(s.files) {
		if _, onDisk := ds.paths[fd.Path()]; !onDisk && strings.HasPrefix(fd.Path(), "google/protobuf/") {
			continue
		}
		errs = append(errs, s.validate(fd)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// protoNames returns the import roots to search and the proto name of
// each file: relative to the import path it lies under, or, without
// import paths, to its own directory (which becomes a root).
func protoNames(files []string, opts Options) (roots, names []string, err error) {
	if len(files) == 0 {
		return nil, nil, errors.New("stubs: no .proto files given")
	}
	roots = opts.ImportPaths
	names = make([]string, len(files))
	for i, f := range files {
		if len(opts.ImportPaths) == 0 {
			dir := filepath.Dir(f)
			if !slices.Contains(roots, dir) {
				roots = append(roots, dir)
			}
			names[i] = filepath.Base(f)
			continue
		}
		name, ok := protoName(f, opts.ImportPaths)
		if !ok {
			return nil, nil, fmt.Errorf("stubs: %s is not under any import path (%s)", f, strings.Join(opts.ImportPaths, ", "))
		}
		names[i] = name
	}
	return checkProtoNames(files, roots, names, len(opts.ImportPaths) == 0)
}

// checkProtoNames makes sure that each of files is the file its proto name
// finds in roots, so that no two inputs share a proto name (and with it
// their output files) and none is hidden behind another: a file listed
// twice is kept once, anything else is an error that says how to tell
// the files apart. ownDirs tells that the roots are the files' own
// directories (no import paths were given).
func checkProtoNames(files, roots, names []string, ownDirs bool) ([]string, []string, error) {
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return filepath.Clean(p)
	}
	fix := "pass import paths (-I) under which their names differ"
	if ownDirs {
		fix = "without -I each file's own directory is its import path; pass -I " + commonDir(files) + " to name them by their path under it"
	}
	var keptFiles, keptNames []string
	first := map[string]int{} // proto name → index in keptFiles
	for i, f := range files {
		name := names[i]
		if j, ok := first[name]; ok {
			if abs(keptFiles[j]) == abs(f) {
				continue // listed twice
			}
			return nil, nil, fmt.Errorf("stubs: %s and %s both have the proto name %s, so their generated files would have the same name: %s", keptFiles[j], f, name, fix)
		}
		for _, root := range roots {
			p := filepath.Join(root, filepath.FromSlash(name))
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if abs(p) != abs(f) {
				if !ownDirs {
					fix = "list the import paths in another order, or use ones under which their names differ"
				}
				return nil, nil, fmt.Errorf("stubs: %s has the proto name %s, which finds %s first (import path %s), so %s would be compiled in its place: %s", f, name, p, root, p, fix)
			}
			break
		}
		first[name] = len(keptFiles)
		keptFiles = append(keptFiles, f)
		keptNames = append(keptNames, name)
	}
	return roots, keptNames, nil
}

// commonDir returns the deepest directory holding every one of files, as
// they are written (relative or absolute), for a suggested -I.
func commonDir(files []string) string {
	var common []string
	for i, f := range files {
		dir := filepath.Dir(filepath.Clean(f))
		var parts []string
		if dir != "." {
			parts = strings.Split(dir, string(filepath.Separator))
		}
		if i == 0 {
			common = parts
			continue
		}
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	if len(common) == 0 {
		return "."
	}
	if len(common) == 1 && common[0] == "" {
		return string(filepath.Separator)
	}
	return strings.Join(common, string(filepath.Separator))
}

// diskSources finds .proto files under the import roots, and remembers
// where each was found, so that errors name the file as on disk. The
// compiler calls find from several goroutines.
type diskSources struct {
	roots []string
	mu    sync.Mutex
	paths map[string]string // proto name → path on disk; guarded by mu
	bad   ErrorList         // files that are not UTF-8; guarded by mu
}

func (ds *diskSources) find(name string) (protocompile.SearchResult, error) {
	for _, root := range ds.roots {
		p := filepath.Join(root, filepath.FromSlash(name))
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ds.mu.Lock()
		defer ds.mu.Unlock()
		ds.paths[name] = p
		// A .proto file is UTF-8 text. The compiler does not check
		// comments (whose text generated code repeats, where Go and
		// TypeScript require UTF-8), and can panic on an escape
		// sequence that is not.
		if line, col, ok := firstNonUTF8(data); ok {
			ds.bad = append(ds.bad, &Error{File: p, Line: line, Column: col, Msg: "the file is not valid UTF-8 text"})
			return protocompile.SearchResult{}, fmt.Errorf("%s: not valid UTF-8", name)
		}
		return protocompile.SearchResult{Source: bytes.NewReader(data)}, nil
	}
	return protocompile.SearchResult{}, fmt.Errorf("%s: %w", name, os.ErrNotExist)
}

// notUTF8 returns the errors of the files find refused for not being
// UTF-8, ordered by file name.
func (ds *diskSources) notUTF8() ErrorList {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	bad := slices.Clone(ds.bad)
	slices.SortFunc(bad, func(a, b *Error) int { return strings.Compare(a.File, b.File) })
	return bad
}

// firstNonUTF8 returns the 1-based line and column (in characters) of
// the first byte of data that is not valid UTF-8, if any.
func firstNonUTF8(data []byte) (line, col int, ok bool) {
	if utf8.Valid(data) {
		return 0, 0, false
	}
	line, start := 1, 0
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return line, utf8.RuneCount(data[start:i]) + 1, true
		}
		i += size
		if r == '\n' {
			line, start = line+1, i
		}
	}
	return 0, 0, false
}

// errorAt is err as a schema Error, at its position in the file on disk.
func (ds *diskSources) errorAt(err reporter.ErrorWithPos) *Error {
	pos := err.GetPosition()
	name := pos.Filename
	ds.mu.Lock()
	if p, ok := ds.paths[name]; ok {
		name = p
	}
	ds.mu.Unlock()
	return &Error{File: name, Line: pos.Line, Column: pos.Col, Msg: err.Unwrap().Error()}
}

// protoName returns f's name relative to the first import path that
// contains it.
func protoName(f string, importPaths []string) (string, bool) {
	abs, err := filepath.Abs(f)
	if err != nil {
		return "", false
	}
	for _, root := range importPaths {
		r, err := filepath.Abs(root)
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(r, abs)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		return filepath.ToSlash(rel), true
	}
	return "", false
}

// Supported well-known types and what they map to.
const (
	wktEmpty     = "google.protobuf.Empty"
	wktTimestamp = "google.protobuf.Timestamp"
	wktDuration  = "google.protobuf.Duration"
)

// errorAt builds an Error positioned at d's declaration.
func (s *schema) errorAt(d protoreflect.Descriptor, format string, args ...any) *Error {
	fd := d.ParentFile()
	loc := fd.SourceLocations().ByDescriptor(d)
	return s.errorAtLoc(fd, loc, format, args...)
}

// errorAtGoPackage builds an Error positioned at fd's go_package option,
// or else at its package statement, or else at its start: where the Go
// package its code is generated into is chosen.
func (s *schema) errorAtGoPackage(fd protoreflect.FileDescriptor, format string, args ...any) *Error {
	for _, p := range []protoreflect.SourcePath{
		{8, 11}, // FileDescriptorProto.options, FileOptions.go_package
		{2},     // FileDescriptorProto.package
	} {
		if loc := fd.SourceLocations().ByPath(p); loc.Path != nil {
			return s.errorAtLoc(fd, loc, format, args...)
		}
	}
	return s.errorAtLoc(fd, protoreflect.SourceLocation{Path: protoreflect.SourcePath{}}, format, args...)
}

func (s *schema) errorAtLoc(fd protoreflect.FileDescriptor, loc protoreflect.SourceLocation, format string, args ...any) *Error {
	file := fd.Path()
	if p, ok := s.disk[file]; ok {
		file = p
	}
	e := &Error{File: file, Msg: fmt.Sprintf(format, args...)}
	if loc.Path != nil || loc.StartLine != 0 || loc.StartColumn != 0 {
		e.Line, e.Column = loc.StartLine+1, loc.StartColumn+1
	}
	return e
}

// validate reports the features of fd that parley does not support.
func (s *schema) validate(fd protoreflect.FileDescriptor) []*Error {
	var errs []*Error
	switch fd.Syntax() {
	case protoreflect.Proto3:
	case protoreflect.Proto2:
		loc := fd.SourceLocations().ByPath(protoreflect.SourcePath{12}) // FileDescriptorProto.syntax
		if loc.Path == nil {
			loc = protoreflect.SourceLocation{Path: protoreflect.SourcePath{}}
			errs = append(errs, s.errorAtLoc(fd, loc, `proto2 syntax is not supported (the file has no syntax statement, which means proto2): add syntax = "proto3";`))
		} else {
			errs = append(errs, s.errorAtLoc(fd, loc, `proto2 syntax is not supported: parley's IDL is proto3 (syntax = "proto3";)`))
		}
	default:
		loc := fd.SourceLocations().ByPath(protoreflect.SourcePath{14}) // FileDescriptorProto.edition
		if loc.Path == nil {
			loc = fd.SourceLocations().ByPath(protoreflect.SourcePath{12})
		}
		errs = append(errs, s.errorAtLoc(fd, loc, `editions are not supported: parley's IDL is proto3 (syntax = "proto3";)`))
	}
	errs = append(errs, s.checkExtensions(fd.Extensions())...)
	errs = append(errs, s.checkMessages(fd.Messages())...)
	errs = append(errs, s.checkProtocols(fd)...)
	services := fd.Services()
	for i := 0; i < services.Len(); i++ {
		methods := services.Get(i).Methods()
		for j := 0; j < methods.Len(); j++ {
			m := methods.Get(j)
			for _, t := range []protoreflect.MessageDescriptor{m.Input(), m.Output()} {
				if isUnsupportedWKT(t) {
					errs = append(errs, s.errorAt(m, "unsupported well-known type %s in method %s (%s)", t.FullName(), m.Name(), supportedWKTs))
					continue
				}
				if _, ok := funcWKTs[t.FullName()]; ok {
					errs = append(errs, s.errorAt(m, "well-known type %s cannot be a request or response (method %s): it maps to a Go value, not a message; wrap it in a message of your own", t.FullName(), m.Name()))
				}
			}
		}
	}
	return errs
}

// checkExtensions accepts extensions of the google.protobuf option
// messages, which define custom options (googleapis' http annotations,
// validation rules): they change nothing in the generated code. proto3
// allows no other extensions, so the compiler has refused those already;
// the check stays for files of other syntaxes reached through types.
func (s *schema) checkExtensions(exts protoreflect.ExtensionDescriptors) []*Error {
	var errs []*Error
	for i := 0; i < exts.Len(); i++ {
		x := exts.Get(i)
		if c := x.ContainingMessage(); c.ParentFile().Package() == "google.protobuf" && strings.HasSuffix(string(c.Name()), "Options") {
			continue
		}
		errs = append(errs, s.errorAt(x, "extend is supported only for custom options (field %s extends %s)", x.Name(), x.ContainingMessage().FullName()))
	}
	return errs
}

func (s *schema) checkMessages(msgs protoreflect.MessageDescriptors) []*Error {
	var errs []*Error
	for i := 0; i < msgs.Len(); i++ {
		m := msgs.Get(i)
		errs = append(errs, s.checkExtensions(m.Extensions())...)
		if m.ExtensionRanges().Len() > 0 {
			errs = append(errs, s.errorAt(m, "extension ranges are not supported (message %s)", m.Name()))
		}
		fields := m.Fields()
		for j := 0; j < fields.Len(); j++ {
			f := fields.Get(j)
			if f.Kind() == protoreflect.GroupKind {
				errs = append(errs, s.errorAt(f, "groups are not supported (field %s)", f.Name()))
				continue
			}
			t := f.Message()
			if f.IsMap() {
				t = f.MapValue().Message()
			}
			if t != nil && isUnsupportedWKT(t) {
				errs = append(errs, s.errorAt(f, "unsupported well-known type %s for field %s (%s)", t.FullName(), f.Name(), supportedWKTs))
			}
		}
		errs = append(errs, s.checkMessages(m.Messages())...)
	}
	return errs
}

// supportedWKTs lists the well-known types parley maps, for errors.
const supportedWKTs = "parley supports Empty, Timestamp, Duration, Any, FieldMask, Struct, Value, ListValue and the wrappers"

// isUnsupportedWKT reports whether t is a google.protobuf type that
// parley does not map to a Go type (such as the descriptor types).
func isUnsupportedWKT(t protoreflect.MessageDescriptor) bool {
	if t.ParentFile().Package() != "google.protobuf" {
		return false
	}
	switch t.FullName() {
	case wktEmpty, wktTimestamp, wktDuration:
		return false
	}
	_, fn := funcWKTs[t.FullName()]
	_, typ := typeWKTs[t.FullName()]
	return !fn && !typ
}

// typeFiles returns files and, transitively, every file declaring a
// message or enum that a field or method of theirs uses, each once, in
// dependency order (imports first).
func typeFiles(files []protoreflect.FileDescriptor) []protoreflect.FileDescriptor {
	var out []protoreflect.FileDescriptor
	seen := map[string]bool{}
	var visit func(fd protoreflect.FileDescriptor)
	var visitMessages func(msgs protoreflect.MessageDescriptors)
	use := func(d protoreflect.Descriptor) {
		if d != nil {
			visit(d.ParentFile())
		}
	}
	visitMessages = func(msgs protoreflect.MessageDescriptors) {
		for i := 0; i < msgs.Len(); i++ {
			m := msgs.Get(i)
			fields := m.Fields()
			for j := 0; j < fields.Len(); j++ {
				f := fields.Get(j)
				if f.Message() != nil {
					use(f.Message())
				}
				if f.Enum() != nil {
					use(f.Enum())
				}
			}
			visitMessages(m.Messages())
		}
	}
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		visitMessages(fd.Messages())
		services := fd.Services()
		for i := 0; i < services.Len(); i++ {
			methods := services.Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				use(methods.Get(j).Input())
				use(methods.Get(j).Output())
			}
		}
		out = append(out, fd)
	}
	for _, fd := range files {
		visit(fd)
	}
	return out
}
