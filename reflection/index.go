package reflection

import (
	"cmp"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The well-known types' files, which schemas import, are served from
	// protobuf-go's registry; these imports put them there.
	_ "google.golang.org/protobuf/types/known/anypb"
	_ "google.golang.org/protobuf/types/known/apipb"
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "google.golang.org/protobuf/types/known/sourcecontextpb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/typepb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/parleyrpc/parley/descriptors"
)

// index is everything reflection can describe: the files generated
// packages registered (package descriptors), the standard services parley
// implements (builtinFiles), and every file those import, linked so that
// symbols and extensions can be looked up. It is built once and then only
// read, so any number of calls share it.
type index struct {
	files *protoregistry.Files
	// raw holds every file's serialized FileDescriptorProto, as served.
	raw map[string][]byte
	// deps lists each file's direct imports, in order.
	deps map[string][]string
	// extensions maps an extended message's full name to its extensions'
	// numbers and the files declaring them.
	extensions map[protoreflect.FullName]map[protoreflect.FieldNumber]string
	// problems holds why each file that could not be parsed or linked was
	// left out; asking for it by name gets this reason.
	problems map[string]error
}

// source finds a file's serialized descriptor: one registered by generated
// code first, then a built-in one, then one in protobuf-go's registry (the
// well-known types, descriptor.proto, and whatever else the program
// links).
func source(name string) ([]byte, bool) {
	if d, ok := descriptors.File(name); ok {
		return d, true
	}
	if d, ok := builtinFiles[name]; ok {
		return []byte(d), true
	}
	fd, err := protoregistry.GlobalFiles.FindFileByPath(name)
	if err != nil {
		return nil, false
	}
	d, err := proto.MarshalOptions{Deterministic: true}.Marshal(protodesc.ToFileDescriptorProto(fd))
	if err != nil {
		return nil, false
	}
	return d, true
}

// buildIndex links every registered and built-in file and, transitively,
// what they import. A file that does not parse, or conflicts with one
// linked before it, is left out and recorded in problems; an import that
// cannot be found is left unresolved (its types are placeholders), so the
// files that import it can still be served.
func buildIndex() *index {
	x := &index{
		files:      new(protoregistry.Files),
		raw:        map[string][]byte{},
		deps:       map[string][]string{},
		extensions: map[protoreflect.FullName]map[protoreflect.FieldNumber]string{},
		problems:   map[string]error{},
	}
	roots := descriptors.Files()
	for name := range builtinFiles {
		roots = append(roots, name)
	}
	slices.Sort(roots)
	state := map[string]int{} // 1: being linked, 2: done
	var link func(name string)
	link = func(name string) {
		if state[name] != 0 {
			return // done, or an import cycle, which protodesc reports
		}
		state[name] = 1
		defer func() { state[name] = 2 }()
		raw, ok := source(name)
		if !ok {
			return
		}
		fdp := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(raw, fdp); err != nil {
			x.problems[name] = fmt.Errorf("the registered descriptor does not parse: %w", err)
			return
		}
		if fdp.GetName() != name {
			x.problems[name] = fmt.Errorf("the registered descriptor names itself %q", fdp.GetName())
			return
		}
		for _, dep := range fdp.GetDependency() {
			link(dep)
		}
		fd, err := protodesc.FileOptions{AllowUnresolvable: true}.New(fdp, x.files)
		if err == nil {
			err = x.files.RegisterFile(fd)
		}
		if err != nil {
			x.problems[name] = err
			return
		}
		x.raw[name] = raw
		x.deps[name] = fdp.GetDependency()
		x.addExtensions(fd.Extensions(), name)
		x.addMessageExtensions(fd.Messages(), name)
	}
	for _, name := range roots {
		link(name)
	}
	return x
}

func (x *index) addExtensions(exts protoreflect.ExtensionDescriptors, file string) {
	for i := 0; i < exts.Len(); i++ {
		ext := exts.Get(i)
		base := ext.ContainingMessage().FullName()
		if x.extensions[base] == nil {
			x.extensions[base] = map[protoreflect.FieldNumber]string{}
		}
		x.extensions[base][ext.Number()] = file
	}
}

func (x *index) addMessageExtensions(msgs protoreflect.MessageDescriptors, file string) {
	for i := 0; i < msgs.Len(); i++ {
		m := msgs.Get(i)
		x.addExtensions(m.Extensions(), file)
		x.addMessageExtensions(m.Messages(), file)
	}
}

// fileOf returns the name of the file declaring symbol, a fully qualified
// name of a message, enum, enum value, field, oneof, extension, service or
// method, with or without a leading dot.
func (x *index) fileOf(symbol string) (string, bool) {
	if len(symbol) > 0 && symbol[0] == '.' {
		symbol = symbol[1:]
	}
	d, err := x.files.FindDescriptorByName(protoreflect.FullName(symbol))
	if err != nil {
		return "", false
	}
	return d.ParentFile().Path(), true
}

// extensionNumbers returns the numbers of the known extensions of the
// message typeName, sorted, and whether the message is known.
func (x *index) extensionNumbers(typeName string) ([]int32, bool) {
	d, err := x.files.FindDescriptorByName(fullName(typeName))
	if err != nil {
		return nil, false
	}
	if _, ok := d.(protoreflect.MessageDescriptor); !ok {
		return nil, false
	}
	nums := make([]int32, 0, len(x.extensions[d.FullName()]))
	for n := range x.extensions[d.FullName()] {
		nums = append(nums, int32(n))
	}
	slices.SortFunc(nums, cmp.Compare)
	return nums, true
}

// withDeps returns the serialized descriptors of file and of every file it
// imports, transitively, in that order (file first), leaving out those
// already in sent and adding the rest to it: a reflection stream sends
// each file once, as grpc-go's server does.
func (x *index) withDeps(file string, sent map[string]bool) [][]byte {
	var out [][]byte
	var walk func(name string)
	walk = func(name string) {
		raw, ok := x.raw[name]
		if !ok || sent[name] {
			return
		}
		sent[name] = true
		out = append(out, raw)
		for _, dep := range x.deps[name] {
			walk(dep)
		}
	}
	walk(file)
	return out
}

func fullName(s string) protoreflect.FullName {
	if len(s) > 0 && s[0] == '.' {
		s = s[1:]
	}
	return protoreflect.FullName(s)
}

func fieldNumber(n int32) protoreflect.FieldNumber { return protoreflect.FieldNumber(n) }
