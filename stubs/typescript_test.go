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
		"sum(opts?: $parley.CallOptions): $parley.StreamCall<Number_, Total>", // Number would shadow the global
		"count(req: CountRequest, opts?: $parley.CallOptions): AsyncGenerator<Number_, $parley.Status>",
		"list?: (number | null)[];",
		"chat(opts?: $parley.CallOptions): $parley.StreamCall<ChatMessage, ChatMessage>",
	} {
		if !strings.Contains(feature, want) {
			t.Errorf("feature.parley.ts lacks %q", want)
		}
	}
}

// tsModules returns the chat page's node_modules, where npm ci in
// examples/chat/webui installs the pinned typescript and @msgpack/msgpack,
// and skips the test when they are not installed.
func tsModules(t *testing.T) string {
	t.Helper()
	modules, err := filepath.Abs("../examples/chat/webui/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, ".bin", "tsc")); err != nil {
		t.Skip("typescript not installed (npm ci in examples/chat/webui)")
	}
	return modules
}

// writeTS writes the generated files, and the extra ones, into a new
// directory with the chat page's node_modules, and returns it.
func writeTS(t *testing.T, modules string, files []File, extra map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, content []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		write(f.Name, f.Content)
	}
	for name, content := range extra {
		write(name, content)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tsc typechecks the named files of dir, strictly, as the chat page's
// tsconfig.json does.
func tsc(t *testing.T, modules, dir string, names ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(modules, ".bin", "tsc"), "--noEmit", "--strict", "--target", "es2020",
		"--module", "esnext", "--moduleResolution", "bundler", "--isolatedModules",
		"--lib", "es2020,dom,dom.iterable,dom.asynciterable", "--skipLibCheck")
	cmd.Args = append(cmd.Args, names...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// TestTSTypecheck compiles the golden TypeScript and the runtime with tsc,
// where the chat page's npm packages are installed.
func TestTSTypecheck(t *testing.T) {
	modules := tsModules(t)
	files, err := GenerateTS([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTS(t, modules, files, nil)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	tsc(t, modules, dir, names...)
}

// namesDir holds the adversarial schema: every name that could collide
// in the TypeScript output, in files under subdirectories of their import
// path, and use.ts, a program that uses the output.
const namesDir = "testdata/ts/names"

func generateNames(t *testing.T) []File {
	t.Helper()
	var protos []string
	for _, p := range []string{"adv/v1/adversarial.proto", "pa/common.proto", "pb/common.proto", "nopkg/m.proto"} {
		protos = append(protos, filepath.Join(namesDir, filepath.FromSlash(p)))
	}
	files, err := GenerateTS(protos, Options{ImportPaths: []string{namesDir}})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestTSNames checks the output for the adversarial schema: relative
// imports from subdirectories, imports aliased where names collide across
// packages, and names escaped where they would shadow a global or a
// member; then typechecks it with use.ts.
func TestTSNames(t *testing.T) {
	files := generateNames(t)
	byName := map[string]string{}
	for _, f := range files {
		byName[f.Name] = string(f.Content)
	}
	adv := byName["adv/v1/adversarial.parley.ts"]
	for _, want := range []string{
		`import * as $parley from "../../parley";`,
		`import type { M as nopkg_m_M } from "../../nopkg/m.parley";`,
		`import type { Common as pa_Common, E as pa_E, M as pa_M, WithMap } from "../../pa/common.parley";`,
		`import type { Common as pb_Common, E as pb_E, M as pb_M } from "../../pb/common.parley";`,
		"export interface M {",
		"  a?: pa_M;",
		"  b?: pb_M;",
		"export interface Promise_ {",
		"  when?: Date;",
		"  data?: Uint8Array;",
		"  date?: Date_;",
		"  u8?: Uint8Array_;",
		"export interface Promise__ {",
		"export interface AsyncGenerator_ {",
		"export interface globalThis_ {",
		"export interface undefined_ {",
		"export interface class_ {",
		"export interface Outer_Inner {",
		"export interface Outer_Inner_ {",
		"export class AdvClient_ {",
		"  __proto___ = 0,",
		"  static readonly name_ = \"/adv.v1.Adv/name\";",
		"  static readonly prototype_ = \"/adv.v1.Adv/prototype\";",
		"  constructor_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  then_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  transport_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  toString_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  get(req: Promise_, opts?: $parley.CallOptions): Promise<AsyncGenerator_> {",
	} {
		if !strings.Contains(adv, want) {
			t.Errorf("adversarial.parley.ts lacks %q", want)
		}
	}
	modules := tsModules(t)
	use, err := os.ReadFile(filepath.Join(namesDir, "use.ts"))
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTS(t, modules, files, map[string][]byte{"use.ts": use})
	names := []string{"use.ts"}
	for _, f := range files {
		names = append(names, f.Name)
	}
	tsc(t, modules, dir, names...)
}

// TestTSProtoField: a field named __proto__ cannot be carried by the
// TypeScript client, and the generator says so where it is declared.
func TestTSProtoField(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.proto")
	if err := os.WriteFile(p, []byte("syntax = \"proto3\";\npackage p;\nmessage M {\n  message N {\n    int32 __proto__ = 1;\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := GenerateTS([]string{p}, Options{})
	if err == nil || !strings.Contains(err.Error(), "p.proto:5:5: field p.M.N.__proto__: a field named __proto__ cannot be carried by the TypeScript client") {
		t.Fatalf("got %v, want the __proto__ field refused at p.proto:5:5", err)
	}
	if _, err := Generate([]string{p}, Options{}); err != nil {
		t.Errorf("the Go output refuses it too: %v", err)
	}
}
