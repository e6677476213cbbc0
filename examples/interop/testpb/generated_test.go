package testpb_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/parleyrpc/parley/stubs"
)

var update = flag.Bool("update", false, "rewrite the *.parley.go files from ../*.proto")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// protos are the schema files, as the go:generate line in doc.go passes
// them to parley gen.
var protos = []string{"../empty.proto", "../messages.proto", "../test.proto"}

// TestGenerated regenerates the interop schema, as the go:generate line in
// doc.go does, and fails if any checked-in *.parley.go file differs or is
// missing. Run `go generate ./examples/interop/testpb` (or this test with
// -update) after changing the .proto files or the generator.
func TestGenerated(t *testing.T) {
	files, err := stubs.Generate(protos, stubs.Options{ImportPaths: []string{".."}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"empty.parley.go", "messages.parley.go", "test.parley.go"}
	if len(files) != len(want) {
		t.Fatalf("generated %d files, want %d (%v)", len(files), len(want), want)
	}
	for i, f := range files {
		if f.Name != want[i] {
			t.Fatalf("generated file %d is %s, want %s", i, f.Name, want[i])
		}
		if *update {
			if err := os.WriteFile(f.Name, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatalf("%v (run go generate ./examples/interop/testpb)", err)
		}
		if !bytes.Equal(f.Content, old) {
			t.Errorf("%s is stale (run go generate ./examples/interop/testpb); %s", f.Name, firstDiff(old, f.Content))
		}
	}
}

// firstDiff describes the first line where the checked-in file differs
// from the generated one.
func firstDiff(old, gen []byte) string {
	ol, gl := strings.Split(string(old), "\n"), strings.Split(string(gen), "\n")
	for i := 0; i < len(ol) || i < len(gl); i++ {
		var o, g string
		if i < len(ol) {
			o = ol[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if o != g {
			return fmt.Sprintf("first difference at line %d:\n  checked in: %s\n  generated:  %s", i+1, o, g)
		}
	}
	return "they differ"
}
