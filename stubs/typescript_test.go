package stubs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goldenTSDir holds the TypeScript generated from testdata/feature.proto
// and testdata/common.proto.
const goldenTSDir = "testdata/ts"

// TestGoldenTS regenerates the feature schema as TypeScript and fails on
// any difference from the checked-in files (go test ./stubs -run TestGolden
// -update rewrites them, with the Go ones).
func TestGoldenTS(t *testing.T) {
	files, err := GenerateTS([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[0].Name != TSRuntimeName {
		t.Fatalf("got %d files, the first %q; want the runtime and 2", len(files), files[0].Name)
	}
	for _, f := range files[1:] {
		path := filepath.Join(goldenTSDir, filepath.FromSlash(f.Name))
		if *update {
			if err := os.MkdirAll(goldenTSDir, 0o755); err != nil {
				t.Fatal(err)
			}
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
	feature := string(files[1].Content)
	for _, want := range []string{
		`import type { Level, Page } from "./common.parley";`, // a type from the imported file
		"export class FeatureClient {",
		"echo(req: EchoRequest, opts?: $parley.CallOptions): Promise<EchoResponse>",
		"sum(opts?: $parley.CallOptions): $parley.StreamCall<Number, Total>",
		"count(req: CountRequest, opts?: $parley.CallOptions): AsyncGenerator<Number, $parley.Status>",
		"chat(opts?: $parley.CallOptions): $parley.StreamCall<ChatMessage, ChatMessage>",
	} {
		if !strings.Contains(feature, want) {
			t.Errorf("feature.parley.ts lacks %q", want)
		}
	}
}

// TestTSTypecheck compiles the golden TypeScript and the runtime with tsc,
// where the chat page's npm packages are installed.
func TestTSTypecheck(t *testing.T) {
	modules, err := filepath.Abs("../examples/chat/webui/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, ".bin", "tsc")); err != nil {
		t.Skip("typescript not installed (npm ci in examples/chat/webui)")
	}
	dir := t.TempDir()
	files, err := GenerateTS([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(modules, ".bin", "tsc"), "--noEmit", "--strict", "--target", "es2020",
		"--module", "esnext", "--moduleResolution", "bundler", "--isolatedModules",
		"--lib", "es2020,dom,dom.iterable,dom.asynciterable", "--skipLibCheck")
	for _, f := range files {
		cmd.Args = append(cmd.Args, f.Name)
	}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}
