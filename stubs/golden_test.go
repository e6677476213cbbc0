package stubs

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden generated files under internal/featurepb")

// goldenDir holds the checked-in output for testdata/feature.proto and
// testdata/common.proto: a compilable package with hand-written tests.
const goldenDir = "internal/featurepb"

// TestGolden regenerates the feature schema and fails on any difference
// from the checked-in package. Run `go test ./stubs -run TestGolden -update`
// to rewrite it after changing the generator.
func TestGolden(t *testing.T) {
	files, err := Generate([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("got %d files, want 3 (two Go files and feature's protocols)", len(files))
	}
	for _, f := range files {
		path := filepath.Join(goldenDir, filepath.FromSlash(f.Name))
		if *update {
			if err := os.WriteFile(path, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./stubs -run TestGolden -update)", err)
		}
		if !bytes.Equal(f.Content, want) {
			t.Errorf("%s differs from the generator's output; run go test ./stubs -run TestGolden -update and review the diff\n%s", path, firstDiff(want, f.Content))
		}
	}
	// Nothing else generated may linger in the golden package.
	matches, _ := filepath.Glob(filepath.Join(goldenDir, "*.parley.go"))
	md, _ := filepath.Glob(filepath.Join(goldenDir, "*.protocols.md"))
	matches = append(matches, md...)
	if len(matches) != len(files) {
		t.Errorf("%s holds %d generated files, want %d: %v", goldenDir, len(matches), len(files), matches)
	}
}

// firstDiff describes the first line where want and got differ.
func firstDiff(want, got []byte) string {
	wl := bytes.Split(want, []byte("\n"))
	gl := bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d", i+1) + ":\n  golden:    " + string(w) + "\n  generated: " + string(g)
		}
	}
	return "(no line differs)"
}
