package stubs

import (
	"bytes"
	"fmt"
)

// parleyimplPath is the import path of the support package generated code
// calls (stubs/parleyimpl), versioned with the generator.
const parleyimplPath = "github.com/parleyrpc/parley/stubs/parleyimpl"

// implVersion is the parleyimpl API version the generated code needs: it
// must lie in parleyimpl's [MinVersion, MaxVersion].
const implVersion = 1

// writeVersionCheck writes, into a file that uses parleyimpl, the constants
// that fail to compile when the parleyimpl it is built with does not offer
// the API version the file was generated for.
func (f *fileGen) writeVersionCheck(out *bytes.Buffer) {
	name, ok := f.imports[parleyimplPath]
	if !ok {
		return
	}
	fmt.Fprintf(out, "// This file needs version %d of the %s API:\n", implVersion, name)
	fmt.Fprintf(out, "// regenerate it with a matching parley gen if these do not compile.\n")
	fmt.Fprintf(out, "const (\n\t_ = %[1]s.EnforceVersion(%[2]d - %[1]s.MinVersion)\n\t_ = %[1]s.EnforceVersion(%[1]s.MaxVersion - %[2]d)\n)\n", name, implVersion)
	out.WriteString("\n")
}
