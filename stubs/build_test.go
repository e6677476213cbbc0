package stubs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// genInModule writes protos (proto name → source, with every "GENPKG"
// replaced by the Go import path of the directory they are written in)
// into a new directory under internal/, so that the generated code builds
// inside this module; generates the files named in gen, with that
// directory as the import path; writes the output next to them and
// returns the directory (relative to the stubs package) and the files
// generated. The directory is removed when the test ends.
func genInModule(t *testing.T, protos map[string]string, gen ...string) (string, []File) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds generated packages")
	}
	dir, err := os.MkdirTemp("internal", "gentest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pkg := "github.com/parleyrpc/parley/stubs/" + filepath.ToSlash(dir)
	for name, src := range protos {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), []byte(strings.ReplaceAll(src, "GENPKG", pkg)))
	}
	var paths []string
	for _, name := range gen {
		paths = append(paths, filepath.Join(dir, filepath.FromSlash(name)))
	}
	files, err := Generate(paths, Options{ImportPaths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(f.Name)), f.Content)
	}
	return dir, files
}

func writeFile(t *testing.T, path string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goTool runs the go command (vet, test...) on the packages under dir,
// a directory genInModule returned, and fails the test if it fails.
func goTool(t *testing.T, cmd, dir string) {
	t.Helper()
	out, err := exec.Command("go", cmd, "./"+filepath.ToSlash(dir)+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go %s of the generated code: %v\n%s", cmd, err, out)
	}
}
