package stubs

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// descriptorImport is the package generated code registers its file
// descriptor with.
const descriptorImport = "github.com/parleyrpc/parley/descriptors"

// rawDescriptor returns fd's serialized google.protobuf.FileDescriptorProto,
// as protoc-gen-go embeds it: everything the file declares, its imports and
// its options (custom options included, as protobuf extensions of the
// options messages), without source code info (comments and positions),
// serialized deterministically so that regenerating gives the same bytes.
func rawDescriptor(fd protoreflect.FileDescriptor) ([]byte, error) {
	fdp := protodesc.ToFileDescriptorProto(fd)
	fdp.SourceCodeInfo = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return nil, fmt.Errorf("stubs: serializing the descriptor of %s: %w", fd.Path(), err)
	}
	return b, nil
}

// descriptorVar names the constant holding a file's descriptor:
// "file_" and the proto name with every character that cannot be in an
// identifier replaced by "_", then "_rawDesc", as protoc-gen-go names it.
func descriptorVar(path string) string {
	var b strings.Builder
	b.WriteString("file_")
	for _, r := range path {
		if r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	b.WriteString("_rawDesc")
	return b.String()
}

// descriptor writes the file's serialized descriptor and the init function
// that registers it with package descriptors, which server reflection
// (package reflection) serves.
func (f *fileGen) descriptor() error {
	raw, err := rawDescriptor(f.fd)
	if err != nil {
		return err
	}
	name := f.claim(descriptorVar(f.fd.Path()))
	f.P("// ", name, " is the serialized google.protobuf.FileDescriptorProto of")
	f.P("// ", f.fd.Path(), ", which server reflection serves.")
	f.P("const ", name, " = \"\" +")
	const chunk = 64
	for i := 0; i < len(raw); i += chunk {
		end := min(i+chunk, len(raw))
		sep := " +"
		if end == len(raw) {
			sep = ""
		}
		f.P("\t", strconv.Quote(string(raw[i:end])), sep)
	}
	f.P()
	f.P("func init() {")
	f.P(f.use(descriptorImport), ".Register(", strconv.Quote(f.fd.Path()), ", []byte(", name, "))")
	f.P("}")
	return nil
}
