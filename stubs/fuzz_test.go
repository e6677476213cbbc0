package stubs

import (
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzFileSep separates the files of one FuzzGenerate input: the input
// is the source of a.proto, then for each further file this separator,
// its proto name, a newline and its source.
const fuzzFileSep = "\n--- "

// fuzzSchemas seed FuzzGenerate: schemas as a new user writes them, and
// odd ones, accepted and refused.
var fuzzSchemas = []string{
	// Every scalar, optional, repeated, and maps of every key kind.
	`syntax = "proto3";
package scal.v1;
message S {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 f32 = 9; fixed64 f64 = 10; sfixed32 sf32 = 11; sfixed64 sf64 = 12;
  bool b = 13; string s = 14; bytes by = 15;
  optional double od = 16; optional bytes ob = 17; optional string os = 18; optional E oe = 19; optional S om = 20;
  repeated double rd = 21; repeated bytes rb = 22; repeated E re = 23; repeated S rm = 24;
  map<int32, S> m1 = 25; map<int64, E> m2 = 26; map<uint32, bytes> m3 = 27; map<uint64, double> m4 = 28;
  map<sint32, string> m5 = 29; map<sint64, bool> m6 = 30; map<fixed32, float> m7 = 31; map<fixed64, int32> m8 = 32;
  map<sfixed32, int64> m9 = 33; map<sfixed64, uint32> m10 = 34; map<bool, uint64> m11 = 35; map<string, sint32> m12 = 36;
}
enum E { E_ZERO = 0; E_ONE = 1; }
`,
	// Oneofs, nested and recursive messages.
	`syntax = "proto3";
package tree;
message Node {
  string name = 1;
  repeated Node children = 2;
  Node parent = 3;
  oneof value { int64 n = 4; string s = 5; Node link = 6; Leaf.Kind kind = 7; bytes raw = 8; }
  message Leaf {
    enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; }
    Node back = 1;
    message Deeper { Leaf up = 1; map<string, Deeper> more = 2; }
  }
  oneof other { Leaf leaf = 9; Leaf.Deeper deeper = 10; }
}
message A { B b = 1; }
message B { A a = 1; }
`,
	// Enum aliases, negative values, reserved ranges and names.
	`syntax = "proto3";
package en;
enum Mode {
  option allow_alias = true;
  MODE_UNSPECIFIED = 0;
  MODE_ON = 1;
  MODE_ENABLED = 1;
  MODE_NEG = -1;
  MODE_MIN = -2147483648;
  MODE_MAX = 2147483647;
  reserved 5 to 10, 20 to max;
  reserved "OLD", "GONE";
}
message R {
  reserved 2, 15, 9 to 11, 100 to max;
  reserved "foo", "bar";
  Mode mode = 1;
  int32 big = 536870911;
}
`,
	// Services with every streaming shape, and well-known types.
	`syntax = "proto3";
package svc.v1;
import "google/protobuf/empty.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/any.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/wrappers.proto";
option go_package = "example.com/svc/v1;svcpb";
message Req { google.protobuf.Timestamp at = 1; google.protobuf.Duration d = 2; google.protobuf.Any any = 3;
  google.protobuf.FieldMask mask = 4; google.protobuf.Struct st = 5; google.protobuf.Value v = 6;
  google.protobuf.ListValue lv = 7; google.protobuf.StringValue sv = 8; google.protobuf.BytesValue bv = 9;
  repeated google.protobuf.Timestamp ats = 10; map<string, google.protobuf.Value> vals = 11;
  optional google.protobuf.Timestamp oat = 12; google.protobuf.Empty e = 13; map<int32, google.protobuf.Empty> set = 14;
  oneof o { google.protobuf.Duration od = 15; google.protobuf.Int64Value ow = 16; google.protobuf.Empty oe = 17; } }
message Res {}
service S {
  rpc Unary(Req) returns (Res);
  rpc Client(stream Req) returns (Res);
  rpc Server(Req) returns (stream Res);
  rpc Bidi(stream Req) returns (stream Res);
  rpc Empty(google.protobuf.Empty) returns (google.protobuf.Empty);
  rpc Times(stream google.protobuf.Timestamp) returns (stream google.protobuf.Duration);
  rpc Anys(google.protobuf.Any) returns (stream google.protobuf.FieldMask);
}
`,
	// Packages with dots and underscores, go_package forms.
	`syntax = "proto3"; package my_pkg.sub_pkg.v1_2; option go_package = "example.com/a-b/c_d;c_dpb"; message M { int32 x = 1; }`,
	`syntax = "proto3"; package a.b; option go_package = "example.com/x/v2"; message M {}`,
	`syntax = "proto3"; package a.b; option go_package = "pkgonly"; message M {}`,
	`syntax = "proto3"; package a.b; option go_package = ";nameonly"; message M {}`,
	`syntax = "proto3"; option go_package = "example.com/x;"; message M {}`,
	`syntax = "proto3"; package _; message M {}`,
	`syntax = "proto3"; message NoPackage { string s = 1; }`,
	`syntax = "proto3";`,
	`syntax = "proto3"; package s; service Nothing {}`,
	``,
	// Unicode in comments, comment styles.
	"syntax = \"proto3\";\n// Ünïcödé ☃ 日本語 \u2028 in a comment.\n/* block\n * comment */\nmessage U {\n  // ✓ done\n  string s = 1; // trailing ✗\n}\n",
	"syntax = \"proto3\";\r\n// CRLF line\r\nmessage C {\r\n  // field\r\n  int32 x = 1;\r\n}\r\n",
	// proto2, editions, extensions: refused.
	"syntax = \"proto2\";\nmessage P { optional int32 x = 1 [default = 5]; required string y = 2; extensions 100 to 200; }\nextend P { optional int32 z = 100; }\n",
	"edition = \"2023\";\nmessage Ed { int32 x = 1; }\n",
	"syntax = \"proto3\";\nimport \"google/protobuf/descriptor.proto\";\nextend google.protobuf.FieldOptions { string note = 50000; }\nmessage O { int32 x = 1 [(note) = \"hi\", deprecated = true, json_name = \"X\"]; }\n",
	"syntax = \"proto3\";\nimport \"google/protobuf/type.proto\";\nmessage T { google.protobuf.Type t = 1; }\n",
	// Syntax errors.
	"syntax = \"proto3\";\nmessage {\n",
	"syntax = \"proto3\";\nmessage A { int32 x = 0; }\n",
	"syntax = \"proto3\";\nenum E { A = 1; }\n",
	"syntax = \"proto3\";\nmessage A { map<float, int32> m = 1; }\n",
	// Protocols, valid and broken.
	`syntax = "proto3";
package p;
message C { oneof k { string say = 1; string bye = 2; } }
message S { oneof k { string msg = 1; } }
service Chat {
  // Talk is a chat.
  //
  // @protocol {
  //   client say
  //   server msg*
  //   client bye
  // }
  rpc Talk(stream C) returns (stream S);
  /* @protocol { client say; server msg } */
  rpc Once(stream C) returns (stream S);
  // @protocol { (client say | client bye) ; server msg }
  rpc Choice(stream C) returns (S);
}
`,
	`syntax = "proto3";
package p;
message C { oneof k { string say = 1; } }
service Chat {
  // @protocol {
  //   client nope
  rpc Talk(stream C) returns (stream C);
  // @protocol { server say
  rpc Two(C) returns (stream C);
}
`,
	`syntax = "proto3";
package p;
message C { oneof k { string say = 1; } }
// @protocol Loop { client say; include Loop | client halfclose }
service Svc {
  // @protocol { include Loop & server say* }
  rpc Talk(stream C) returns (stream C);
  // @protocol { include Missing }
  rpc Bad(stream C) returns (stream C);
}
`,
	// Two files: one imports the other's types across Go packages.
	`syntax = "proto3"; package a; option go_package = "example.com/a;a"; import "b.proto";
message A { b.B b = 1; repeated b.E es = 2; map<string, b.B> bs = 3; oneof o { b.B ob = 4; } }
service S { rpc Get(b.B) returns (A); }` + fuzzFileSep + `b.proto
syntax = "proto3"; package b; option go_package = "example.com/b;b"; message B { int32 x = 1; } enum E { E_ZERO = 0; }`,
	// Go packages that cannot build: one directory with two packages,
	// one package in two directories, one import path with two names.
	`syntax = "proto3"; package a; option go_package = "example.com/a;a"; message A {}` + fuzzFileSep + `b.proto
syntax = "proto3"; package b; option go_package = "example.com/b;b"; message B {}`,
	`syntax = "proto3"; package a; option go_package = "example.com/p;p"; import "x/b.proto"; message A { b.B b = 1; }` + fuzzFileSep + `x/b.proto
syntax = "proto3"; package b; option go_package = "example.com/p;p"; message B {}`,
	`syntax = "proto3"; package a; option go_package = "example.com/p;a"; import "x/b.proto"; message A { b.B b = 1; }` + fuzzFileSep + `x/b.proto
syntax = "proto3"; package b; option go_package = "example.com/p;b"; message B {}`,
	// Text that is not UTF-8, and a byte order mark in a comment.
	"syntax = \"proto3\";\n// caf\xe9\nmessage A {}\n",
	"syntax = \"proto3\";\n// \ufeff\nmessage A {\n  // \ufeff\n  int32 x = 1;\n}\n",
	// Two files in one Go package.
	`syntax = "proto3"; package a; option go_package = "example.com/p;p"; import "b.proto"; message A { B b = 1; }` + fuzzFileSep + `b.proto
syntax = "proto3"; package a; option go_package = "example.com/p;p"; message B { A a = 1; }`,
}

// FuzzGenerate: any schema is either refused with positioned schema
// errors, or generated into Go (and TypeScript) without a panic, in
// files that parse and, where they import no other generated package,
// type-check.
func FuzzGenerate(f *testing.F) {
	for _, s := range fuzzSchemas {
		f.Add(s)
	}
	// The feature schema, importing its common types as b.proto.
	feature, err := os.ReadFile("testdata/feature.proto")
	if err != nil {
		f.Fatal(err)
	}
	common, err := os.ReadFile("testdata/common.proto")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(strings.ReplaceAll(string(feature), `"common.proto"`, `"b.proto"`) + fuzzFileSep + "b.proto\n" + string(common))
	f.Add(strings.ReplaceAll(advProto, "GENPKG", "example.com/gen") +
		fuzzFileSep + "m/m.proto\n" + `syntax = "proto3"; package m; option go_package = "example.com/gen/m;m"; message Thing { string s = 1; }` +
		fuzzFileSep + "d/d.proto\n" + `syntax = "proto3"; package d; option go_package = "example.com/gen/d;d"; message Doc { bytes b = 1; }`)
	f.Fuzz(func(t *testing.T, src string) {
		files, ok := splitFuzzInput(src)
		if !ok {
			t.Skip()
		}
		checkGenerate(t, files)
	})
}

// checkGenerate writes files into a new directory, generates Go and
// TypeScript from all of them, and checks the contract: no panic or
// hang; a refusal is an ErrorList with positions; accepted Go code
// parses and, where it imports no other generated package, type-checks.
func checkGenerate(t *testing.T, files []fuzzFile) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, pf := range files {
		p := filepath.Join(dir, filepath.FromSlash(pf.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(pf.src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	opts := Options{ImportPaths: []string{dir}}
	var goFiles []File
	var goErr, tsErr error
	withDeadline(t, func() {
		goFiles, goErr = Generate(paths, opts)
		_, tsErr = GenerateTS(paths, opts)
	})
	checkFuzzErr(t, "Generate", goErr)
	checkFuzzErr(t, "GenerateTS", tsErr)
	if err := typeCheckGo(goFiles); err != nil {
		t.Fatal(err)
	}
	if goErr == nil && tsErr != nil {
		// The TypeScript client refuses only what it cannot carry.
		if !strings.Contains(tsErr.Error(), "__proto__") {
			t.Errorf("Go accepted the schema, TypeScript refused it: %v", tsErr)
		}
	}
}

// namesSchema is the schema FuzzNames fills with names: %[1]s is the
// package statement, %[N+2]s the Nth name.
const namesSchema = `syntax = "proto3";
%[1]s
enum %[2]s { %[3]s = 0; %[4]s = 1; }
message %[5]s {
  int32 %[6]s = 1;
  %[5]s %[7]s = 2;
  oneof %[8]s { string %[9]s = 3; %[5]s %[10]s = 4; %[2]s %[11]s = 5; }
  map<string, %[5]s> %[12]s = 6;
  repeated %[2]s %[13]s = 7;
  optional int64 %[14]s = 8;
  message %[15]s { int32 %[16]s = 1; }
  enum %[17]s { %[18]s = 0; }
  %[15]s %[19]s = 9;
  %[17]s %[20]s = 10;
}
message %[21]s { oneof %[22]s { %[5]s %[23]s = 1; %[21]s %[24]s = 2; } }
service %[25]s {
  rpc %[26]s(%[5]s) returns (%[21]s);
  rpc %[27]s(stream %[5]s) returns (stream %[21]s);
  // @protocol { client %[9]s; server %[23]s; client %[10]s*; client halfclose }
  rpc %[28]s(stream %[5]s) returns (stream %[21]s);
  // @protocol { client %[11]s; server %[24]s*; server %[23]s }
  rpc %[29]s(%[5]s) returns (stream %[21]s);
}
service %[30]s { rpc %[31]s(%[21]s) returns (%[5]s); }
`

// namesCount is how many names namesSchema takes.
const namesCount = 30

// FuzzNames: the generator's contract (see checkGenerate) for a schema of
// every kind of declaration, named by the fuzzer: identifiers that
// collide with each other, with Go's, with the generator's own names.
func FuzzNames(f *testing.F) {
	f.Add("a.b", "Color RED GREEN Msg id self kind text nested color list enums opt Inner x Kind K inner k Other which msg other Svc Get All Talk Count Svc2 Get")
	f.Add("x", "E E_X E_Y M m M_ kind a kind_ b c d e f Inner x Kind INNER i Inner_ O O_A A O_ S S_Get_FullMethodName get Get_ get_ SClient Get")
	f.Add("string.error", "string error any len type func range go nil make new append copy true iota Outer INNER Outer_INNER b v key x e d m err S Get get")
	f.Add("", "Svc Svc_Get_FullMethodName SvcServer SvcClient UnimplementedSvcServer RegisterSvcServer NewSvcClient X Y Z W Q svcClient Get Get_ GetIt get_it EncodeMsgpack DecodeMsgpack AppendProto UnmarshalProto MergeProto String Reset Svc Get get GetIt Register")
	f.Fuzz(func(t *testing.T, pkg, names string) {
		var idents []string
		for _, w := range strings.Fields(names) {
			if id := fuzzIdent(w); id != "" {
				idents = append(idents, id)
			}
		}
		if len(idents) == 0 {
			t.Skip()
		}
		args := []any{""}
		if parts := strings.Split(pkg, "."); pkg != "" {
			for i, p := range parts {
				parts[i] = fuzzIdent(p)
			}
			if !slices.Contains(parts, "") {
				args[0] = "package " + strings.Join(parts, ".") + ";"
			}
		}
		for i := range namesCount {
			args = append(args, idents[i%len(idents)])
		}
		checkGenerate(t, []fuzzFile{{"a.proto", fmt.Sprintf(namesSchema, args...)}})
	})
}

// fuzzIdent makes a proto identifier of w: its letters, digits and
// underscores, after an "x" when it would start with a digit; "" when
// none are left.
func fuzzIdent(w string) string {
	var b strings.Builder
	for _, r := range w {
		if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	id := b.String()
	if id != "" && isASCIIDigit(id[0]) {
		id = "x" + id
	}
	return id
}

// fuzzFile is one .proto file of a FuzzGenerate input.
type fuzzFile struct{ name, src string }

// splitFuzzInput splits a FuzzGenerate input into its files, or returns
// false when a file name is not a plain relative .proto path.
func splitFuzzInput(src string) ([]fuzzFile, bool) {
	parts := strings.Split(src, fuzzFileSep)
	files := []fuzzFile{{"a.proto", parts[0]}}
	seen := map[string]bool{"a.proto": true}
	for _, p := range parts[1:] {
		name, body, _ := strings.Cut(p, "\n")
		if !validFuzzName(name) || seen[strings.ToLower(name)] {
			return nil, false
		}
		seen[strings.ToLower(name)] = true
		files = append(files, fuzzFile{name, body})
	}
	return files, true
}

func validFuzzName(name string) bool {
	if !strings.HasSuffix(name, ".proto") || len(name) > 64 || path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "..") || strings.HasPrefix(name, "google/") {
		return false
	}
	for _, r := range name {
		if !(r == '/' || r == '.' || r == '_' || r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// withDeadline runs fn and fails the test if it has not returned after a
// generous time: the generator must not hang.
func withDeadline(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the generator did not return within 30s")
	}
}

// checkFuzzErr fails the test unless err is nil or an ErrorList whose
// errors name a file and a position in it.
func checkFuzzErr(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("%s: error %T is not an ErrorList: %v", what, err, err)
	}
	if len(list) == 0 {
		t.Fatalf("%s: empty ErrorList", what)
	}
	for _, e := range list {
		if e.File == "" || e.Line < 1 || e.Column < 1 {
			t.Errorf("%s: error without a position: %q (%+v)", what, e, *e)
		}
	}
}

// goImporter imports the packages generated code uses, from the export
// data the go command writes for them, for typeCheckGo; it is not safe
// for concurrent use.
var goImporter struct {
	sync.Mutex
	imp types.Importer
	err error
}

// exportImporter returns an importer of the packages in stdImports and
// their dependencies, made once.
func exportImporter() (types.Importer, error) {
	if goImporter.imp != nil || goImporter.err != nil {
		return goImporter.imp, goImporter.err
	}
	args := []string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}
	args = append(args, slices.Sorted(maps.Keys(stdImports))...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		goImporter.err = fmt.Errorf("go list -export: %w", err)
		return nil, goImporter.err
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p, file, ok := strings.Cut(line, "\t"); ok && file != "" {
			exports[p] = file
		}
	}
	goImporter.imp = importer.ForCompiler(token.NewFileSet(), "gc", func(p string) (io.ReadCloser, error) {
		file, ok := exports[p]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", p)
		}
		return os.Open(file)
	})
	return goImporter.imp, nil
}

// typeCheckGo parses the generated Go files and type-checks them, one
// package (directory) at a time, when all their imports are packages
// generated code always uses (not other generated packages, which
// exist only as the files given).
func typeCheckGo(files []File) error {
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	for _, f := range files {
		if !strings.HasSuffix(f.Name, ".go") {
			continue
		}
		file, err := parser.ParseFile(fset, f.Name, f.Content, parser.AllErrors|parser.DeclarationErrors)
		if err != nil {
			return fmt.Errorf("%s does not parse: %v\n%s", f.Name, err, f.Content)
		}
		pkgs[path.Dir(f.Name)] = append(pkgs[path.Dir(f.Name)], file)
	}
	goImporter.Lock()
	defer goImporter.Unlock()
	imp, err := exportImporter()
	if err != nil {
		return err
	}
	for _, dir := range slices.Sorted(maps.Keys(pkgs)) {
		known := true
		for _, file := range pkgs[dir] {
			for _, is := range file.Imports {
				p, _ := strconv.Unquote(is.Path.Value)
				if _, ok := stdImports[p]; !ok {
					known = false
				}
			}
		}
		if !known {
			continue
		}
		conf := types.Config{Importer: imp}
		if _, err := conf.Check(dir, fset, pkgs[dir], nil); err != nil {
			var src strings.Builder
			for _, f := range files {
				if path.Dir(f.Name) == dir {
					src.Write(f.Content)
				}
			}
			return fmt.Errorf("package %s does not type-check: %v\n%s", dir, err, src.String())
		}
	}
	return nil
}
