package e2epb_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/parleyrpc/parley/stubs"
)

// TestGenerated regenerates e2e.proto, as the go:generate line in doc.go
// does, and fails if the checked-in file differs.
func TestGenerated(t *testing.T) {
	files, err := stubs.Generate([]string{"../e2e.proto"}, stubs.Options{ImportPaths: []string{".."}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Content, want) {
			t.Errorf("%s is stale: run go generate ./e2epb in browsertest", f.Name)
		}
	}
}
