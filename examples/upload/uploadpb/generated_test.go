package uploadpb_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/parleyrpc/parley/stubs"
)

// TestGenerated regenerates upload.proto, as the go:generate line in
// doc.go does, and fails if the checked-in files differ.
func TestGenerated(t *testing.T) {
	files, err := stubs.Generate([]string{"../upload.proto"}, stubs.Options{ImportPaths: []string{".."}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("generated %d files, want upload.parley.go and upload.protocols.md", len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Content, want) {
			t.Errorf("%s is stale: run go generate ./examples/upload/uploadpb", f.Name)
		}
	}
}
