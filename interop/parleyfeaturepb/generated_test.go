package featurepb_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/parleyrpc/parley/stubs"
)

// TestGenerated regenerates the feature schema, as the go:generate line in
// doc.go does, and fails if a checked-in file differs: run
// `go generate ./parleyfeaturepb` in the interop module after changing
// the schema or the generator.
func TestGenerated(t *testing.T) {
	dir := "../../stubs/testdata"
	files, err := stubs.Generate([]string{dir + "/common.proto", dir + "/feature.proto"}, stubs.Options{ImportPaths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Content, want) {
			t.Errorf("%s is stale: run go generate ./parleyfeaturepb in the interop module", f.Name)
		}
	}
}
