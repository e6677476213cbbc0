package stubs

import (
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeProtos writes name → content files into a temporary directory and
// returns it.
func writeProtos(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSchemaErrors checks that invalid schemas and unsupported features
// are reported with file:line:column and a message naming the problem.
func TestSchemaErrors(t *testing.T) {
	cases := []struct {
		name  string
		proto string
		// want are substrings of the error, the first being the position.
		want []string
	}{
		{"syntax error", "syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n",
			[]string{"a.proto:3:13: ", "syntax error"}},
		{"unknown type", "syntax = \"proto3\";\nmessage A {\n  Missing m = 1;\n}\n",
			[]string{"a.proto:3:3: ", "Missing"}},
		{"duplicate field number", "syntax = \"proto3\";\nmessage A {\n  int32 x = 1;\n  int32 y = 1;\n}\n",
			[]string{"a.proto:4:13: ", "same tag 1"}},
		{"proto2", "syntax = \"proto2\";\nmessage A {\n  optional int32 x = 1;\n}\n",
			[]string{"a.proto:1:1: ", "proto2 syntax is not supported"}},
		{"no syntax means proto2", "message A {\n  optional int32 x = 1;\n}\n",
			[]string{"a.proto", "proto2 syntax is not supported", "no syntax statement"}},
		{"editions", "edition = \"2023\";\nmessage A {\n  int32 x = 1;\n}\n",
			[]string{"a.proto:1:1: ", "editions are not supported"}},
		{"extend of a message", "syntax = \"proto3\";\nimport \"google/protobuf/descriptor.proto\";\nextend google.protobuf.FileDescriptorProto {\n  string tag = 50000;\n}\n",
			[]string{"a.proto:3:8: ", "google.protobuf.FileDescriptorProto"}},
		{"group", "syntax = \"proto2\";\nmessage A {\n  optional group G = 1 {\n    optional int32 x = 2;\n  }\n}\n",
			[]string{"a.proto:1:1: ", "proto2 syntax is not supported", "groups are not supported"}},
		{"unsupported well-known type", "syntax = \"proto3\";\nimport \"google/protobuf/type.proto\";\nmessage A {\n  google.protobuf.Type a = 1;\n}\n",
			[]string{"a.proto:4:3: ", "unsupported well-known type google.protobuf.Type"}},
		{"unsupported well-known map value", "syntax = \"proto3\";\nimport \"google/protobuf/source_context.proto\";\nmessage A {\n  map<string, google.protobuf.SourceContext> a = 1;\n}\n",
			[]string{"a.proto:4:3: ", "google.protobuf.SourceContext"}},
		{"unsupported well-known rpc type", "syntax = \"proto3\";\nimport \"google/protobuf/wrappers.proto\";\nmessage A {}\nservice S {\n  rpc M(google.protobuf.StringValue) returns (A);\n}\n",
			[]string{"a.proto:5:3: ", "google.protobuf.StringValue", "method M"}},
		{"invalid UTF-8 in a comment", "syntax = \"proto3\";\n// caf\xe9\nmessage A {}\n",
			[]string{"a.proto:2:7: ", "not valid UTF-8"}},
		{"invalid UTF-8 in an escape", "\"\\\xb9", // which protocompile v0.14.1 panics on
			[]string{"a.proto:1:3: ", "not valid UTF-8"}},
		{"missing import", "syntax = \"proto3\";\nimport \"nowhere.proto\";\n",
			[]string{"a.proto:2:8: ", "nowhere.proto"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeProtos(t, map[string]string{"a.proto": c.proto})
			_, err := Generate([]string{filepath.Join(dir, "a.proto")}, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T %v is not an ErrorList", err, err)
			}
			var one *Error
			if !errors.As(err, &one) {
				t.Fatalf("errors.As finds no *Error in %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, filepath.Join(dir, "a.proto")) {
				t.Errorf("error %q does not start with the file's path", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestNoFiles(t *testing.T) {
	if _, err := Generate(nil, Options{}); err == nil {
		t.Fatal("no error for no files")
	}
	if _, err := Generate([]string{"/nonexistent/x.proto"}, Options{}); err == nil {
		t.Fatal("no error for a missing file")
	}
	if _, err := Generate([]string{"x.proto"}, Options{ImportPaths: []string{"/somewhere/else"}}); err == nil || !strings.Contains(err.Error(), "not under any import path") {
		t.Fatalf("got %v, want a not-under-import-path error", err)
	}
}

// generateOne generates the named file from files and parses the output.
func generateOne(t *testing.T, files map[string]string, opts Options, gen ...string) []File {
	t.Helper()
	dir := writeProtos(t, files)
	var paths []string
	for _, g := range gen {
		paths = append(paths, filepath.Join(dir, g))
	}
	for i, p := range opts.ImportPaths {
		opts.ImportPaths[i] = filepath.Join(dir, p)
	}
	out, err := Generate(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range out {
		if _, err := parser.ParseFile(token.NewFileSet(), f.Name, f.Content, 0); err != nil {
			t.Fatalf("%s does not parse: %v", f.Name, err)
		}
	}
	return out
}

func TestCrossPackageImport(t *testing.T) {
	out := generateOne(t, map[string]string{
		"b/b.proto": `syntax = "proto3"; package b; option go_package = "example.com/proj/b;bpb";
			message B { int32 x = 1; } enum E { E_ZERO = 0; }`,
		"a/a.proto": `syntax = "proto3"; package a; option go_package = "example.com/proj/a";
			import "b/b.proto";
			message A { b.B b = 1; repeated b.E es = 2; map<string, b.B> bs = 3; }
			service S { rpc Get(b.B) returns (A); }`,
	}, Options{ImportPaths: []string{"."}}, "a/a.proto")
	if out[0].Name != "a/a.parley.go" || out[0].GoPackage != "a" {
		t.Errorf("got name %q package %q", out[0].Name, out[0].GoPackage)
	}
	src := string(out[0].Content)
	for _, want := range []string{
		`bpb "example.com/proj/b"`, "B  *bpb.B", "[]bpb.E", "map[string]*bpb.B",
		"runtime.HandleUnary[bpb.B, A]", "package a",
		"// Code generated by parley gen " + Version + ". DO NOT EDIT.", "// source: a/a.proto",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("output lacks %q:\n%s", want, src)
		}
	}
}

func TestCrossPackageImportWithoutPath(t *testing.T) {
	dir := writeProtos(t, map[string]string{
		"b.proto": `syntax = "proto3"; package b; message B {}`,
		"a.proto": `syntax = "proto3"; package a; import "b.proto"; message A { b.B b = 1; }`,
	})
	_, err := Generate([]string{filepath.Join(dir, "a.proto")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "no import path") {
		t.Fatalf("got %v, want a no-import-path error", err)
	}
	// Found while generating, it is a schema error like the others.
	var list ErrorList
	if !errors.As(err, &list) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "b.proto")+":1:") {
		t.Errorf("got %T %v, want an ErrorList positioned in b.proto", err, err)
	}
}

func TestNames(t *testing.T) {
	out := generateOne(t, map[string]string{
		"n.proto": `syntax = "proto3"; package my.pkg;
			message Foo_Bar {}
			message Foo { message Bar {} int32 encode_msgpack = 1; oneof kind { string x_y = 2; } }
			message lower_case { int32 _under = 1; int32 a1b = 2; }`,
	}, Options{}, "n.proto")
	src := string(out[0].Content)
	for _, want := range []string{
		"package pkg",
		"type Foo_Bar struct",
		"type Foo_Bar_ struct", // the nested Foo.Bar collides with Foo_Bar
		"EncodeMsgpack_ int32", // a field named like a generated method
		"type Foo_Kind interface",
		"type Foo_XY struct",
		"type LowerCase struct",
		"XUnder int32",
		"A1B    int32",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("output lacks %q:\n%s", want, src)
		}
	}
}

func TestGoPackageOf(t *testing.T) {
	for _, c := range []struct{ goPkg, protoPkg, file, path, name string }{
		{"example.com/x/foo;foopb", "a.b", "f.proto", "example.com/x/foo", "foopb"},
		{"example.com/x/foo", "a.b", "f.proto", "example.com/x/foo", "foo"},
		{"example.com/x/foo-bar", "", "f.proto", "example.com/x/foo-bar", "foo_bar"},
		{"", "parley.feature", "f.proto", "", "feature"},
		{"", "", "dir/my-file.proto", "", "my_file"},
		{"", "type", "f.proto", "", "type_"},
		// A name that would be the blank identifier, which Go refuses
		// as a package name: empty after ";" is the path's last element,
		// and a name made only of "_" takes another.
		{"example.com/x;", "a.b", "f.proto", "example.com/x", "x"},
		{";", "a.b", "f.proto", "", "b"},
		{"example.com/x;-", "a.b", "f.proto", "example.com/x", "__"},
		{"", "a._", "f.proto", "", "__"},
		{"", "", "_.proto", "", "__"},
	} {
		path, name := goPackageOf(c.goPkg, c.protoPkg, c.file)
		if path != c.path || name != c.name {
			t.Errorf("goPackageOf(%q, %q, %q) = %q, %q; want %q, %q", c.goPkg, c.protoPkg, c.file, path, name, c.path, c.name)
		}
	}
}

func TestGoCamelCase(t *testing.T) {
	for in, want := range map[string]string{
		"response_size": "ResponseSize",
		"foo":           "Foo",
		"_foo":          "XFoo",
		"foo_1":         "Foo_1",
		"a1b":           "A1B",
		"Outer.Inner":   "Outer_Inner",
		"fooBar":        "FooBar",
		"HTTPServer":    "HTTPServer",
	} {
		if got := goCamelCase(in); got != want {
			t.Errorf("goCamelCase(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	fds, err := Parse([]string{"testdata/feature.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 1 || fds[0].Services().Get(0).FullName() != "parley.feature.Feature" {
		t.Fatalf("unexpected descriptors %v", fds)
	}
}

// apiProtos are the schema files of a service written the way public gRPC
// APIs are: googleapis' http annotations (a proto3 file defining HttpRule
// and one extending MethodOptions, here reduced to what the test uses),
// validation rules from a proto2 file, a custom option defined in the
// file itself, and well-known wrapper and FieldMask fields.
var apiProtos = map[string]string{
	"google/api/http.proto": `syntax = "proto3";
package google.api;
message HttpRule {
  string selector = 1;
  oneof pattern {
    string get = 2;
    string put = 3;
    string post = 4;
    string delete = 5;
    string patch = 6;
  }
  string body = 7;
  repeated HttpRule additional_bindings = 11;
}
`,
	"google/api/annotations.proto": `syntax = "proto3";
package google.api;
import "google/api/http.proto";
import "google/protobuf/descriptor.proto";
extend google.protobuf.MethodOptions {
  HttpRule http = 72295728;
}
`,
	"validate/validate.proto": `syntax = "proto2";
package validate;
import "google/protobuf/descriptor.proto";
extend google.protobuf.FieldOptions {
  optional FieldRules rules = 1071;
}
message FieldRules {
  optional StringRules string = 14;
}
message StringRules {
  optional uint64 min_len = 2;
}
`,
	"items.proto": `syntax = "proto3";
package items.v1;
import "google/api/annotations.proto";
import "google/protobuf/descriptor.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/wrappers.proto";
import "validate/validate.proto";
option go_package = "example.com/items;items";
extend google.protobuf.MessageOptions {
  string resource = 50001;
}
message Item {
  option (resource) = "items/{id}";
  string id = 1 [(validate.rules).string.min_len = 1];
  google.protobuf.StringValue nickname = 2;
}
message GetItemRequest {
  string id = 1;
  google.protobuf.FieldMask read_mask = 2;
}
service Items {
  rpc GetItem(GetItemRequest) returns (Item) {
    option (google.api.http) = { get: "/v1/items/{id}" };
  }
}
`,
}

// TestCustomOptions generates a schema that uses custom options from
// googleapis' annotations and a proto2 validation file, and defines one of
// its own: the options are accepted and change nothing in the mapping.
func TestCustomOptions(t *testing.T) {
	files := generateOne(t, apiProtos, Options{ImportPaths: []string{"."}}, "items.proto")
	if len(files) != 1 {
		t.Fatalf("generated %d files", len(files))
	}
	src := string(files[0].Content)
	for _, want := range []string{
		"Nickname *string",
		"ReadMask *wkt.FieldMask",
		"GetItem(ctx context.Context, req *GetItemRequest, opts ...runtime.CallOption) (*Item, error)",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("generated code lacks %q", want)
		}
	}
	for _, unwanted := range []string{"HttpRule", "FieldRules", "Resource"} {
		if strings.Contains(src, unwanted) {
			t.Errorf("generated code mentions %q, which only options use", unwanted)
		}
	}
}

// TestWKTMethodTypes generates methods taking and returning Any and
// FieldMask, which map to the message types of package wkt.
func TestWKTMethodTypes(t *testing.T) {
	out := generateOne(t, map[string]string{
		"a.proto": `syntax = "proto3"; package a; option go_package = "example.com/a";
			import "google/protobuf/any.proto"; import "google/protobuf/field_mask.proto";
			service S { rpc Get(google.protobuf.FieldMask) returns (google.protobuf.Any); }`,
	}, Options{}, "a.proto")
	src := string(out[0].Content)
	for _, want := range []string{`"github.com/parleyrpc/parley/wkt"`, "runtime.HandleUnary[wkt.FieldMask, wkt.Any]"} {
		if !strings.Contains(src, want) {
			t.Errorf("output lacks %q:\n%s", want, src)
		}
	}
}

// Two inputs that would get the same proto name, and with it the same
// output file, are refused with both names and the fix, in Go and
// TypeScript; a file listed twice is generated once.
func TestSameProtoName(t *testing.T) {
	dir := writeProtos(t, map[string]string{
		"a/x.proto": `syntax = "proto3"; package a; message A {}`,
		"b/x.proto": `syntax = "proto3"; package b; message B {}`,
		"b/y.proto": `syntax = "proto3"; package b; message Y {}`,
		"c/y.proto": `syntax = "proto3"; package c; message C {}`,
	})
	p := func(name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }
	for _, c := range []struct {
		name  string
		files []string
		opts  Options
		want  []string
	}{
		{"same base name without -I", []string{p("a/x.proto"), p("b/x.proto")}, Options{},
			[]string{p("a/x.proto"), p("b/x.proto"), "x.proto", "-I " + dir}},
		{"same name under two import paths", []string{p("a/x.proto"), p("b/x.proto")}, Options{ImportPaths: []string{p("a"), p("b")}},
			[]string{p("a/x.proto"), p("b/x.proto"), "-I"}},
		{"shadowed by an earlier import path", []string{p("b/x.proto")}, Options{ImportPaths: []string{p("a"), p("b")}},
			[]string{p("b/x.proto"), p("a/x.proto"), "order"}},
		{"shadowed by another file's directory", []string{p("b/x.proto"), p("c/y.proto")}, Options{},
			[]string{p("c/y.proto"), p("b/y.proto"), "-I " + dir}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for lang, gen := range map[string]func([]string, Options) ([]File, error){"go": Generate, "ts": GenerateTS} {
				_, err := gen(c.files, c.opts)
				if err == nil {
					t.Fatalf("%s: no error", lang)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", lang, err, w)
					}
				}
			}
		})
	}
	out, err := Generate([]string{p("a/x.proto"), p("b/x.proto")}, Options{ImportPaths: []string{dir}})
	if err != nil || len(out) != 2 || out[0].Name != "a/x.parley.go" || out[1].Name != "b/x.parley.go" {
		t.Fatalf("with a common import path: %v, %v", out, err)
	}
	out, err = Generate([]string{p("a/x.proto"), filepath.Join(dir, "a", "..", "a", "x.proto")}, Options{})
	if err != nil || len(out) != 1 {
		t.Fatalf("a file listed twice: %d files, %v", len(out), err)
	}
}

// Files whose output names differ only in case (or not at all, as for
// "x" and "x.proto") are refused.
func TestSameOutputName(t *testing.T) {
	dir := writeProtos(t, map[string]string{
		"x":       `syntax = "proto3"; package a; message A {}`,
		"x.proto": `syntax = "proto3"; package b; message B {}`,
		"Y.proto": `syntax = "proto3"; package c; message C {}`,
		"y.proto": `syntax = "proto3"; package d; message D {}`,
	})
	for _, pair := range [][2]string{{"x", "x.proto"}, {"Y.proto", "y.proto"}} {
		_, err := Generate([]string{filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1])}, Options{})
		if err == nil || !strings.Contains(err.Error(), "would both be generated") {
			t.Errorf("%v: got %v, want a same-output error", pair, err)
		}
	}
}

// Files whose Go code could not build together are refused, with the
// position of the go_package option that makes them so: two files
// generated into one directory that name different Go packages (the go
// command allows one package per directory), and a file using a type
// from a file that gives the same import path with another package name
// (a package importing itself).
func TestGoPackageConflicts(t *testing.T) {
	for _, c := range []struct {
		name   string
		protos map[string]string
		gen    []string
		want   []string
	}{
		{"one directory, two packages", map[string]string{
			"a.proto": `syntax = "proto3"; package a; option go_package = "example.com/a;a"; message A {}`,
			"b.proto": "syntax = \"proto3\";\npackage b;\noption go_package = \"example.com/b;b\";\nmessage B {}",
		}, []string{"a.proto", "b.proto"}, []string{"b.proto:3:1: ", "Go package b", "Go package a", "a.proto", "one directory"}},
		{"one directory, two packages without go_package", map[string]string{
			"x/a.proto": `syntax = "proto3"; package a; message A {}`,
			"x/b.proto": "syntax = \"proto3\";\npackage b;\nmessage B {}",
		}, []string{"x/a.proto", "x/b.proto"}, []string{"b.proto:2:1: ", "Go package b", "Go package a"}},
		{"one import path, two package names", map[string]string{
			"a/a.proto": "syntax = \"proto3\";\npackage a;\noption go_package = \"example.com/p;a\";\nimport \"b/b.proto\";\nmessage A { b.B b = 1; }",
			"b/b.proto": "syntax = \"proto3\";\npackage b;\noption go_package = \"example.com/p;b\";\nmessage B {}",
		}, []string{"a/a.proto"}, []string{"b.proto:3:1: ", `"example.com/p"`, "package name a", "package name b", "a/a.proto"}},
		{"an import path Go cannot import", map[string]string{
			"a/a.proto": "syntax = \"proto3\";\npackage a;\noption go_package = \"example.com/a;a\";\nimport \"b/b.proto\";\nmessage A { b.B b = 1; }",
			"b/b.proto": "syntax = \"proto3\";\npackage b;\noption go_package = \"example.com/b c;b\";\nmessage B {}",
		}, []string{"a/a.proto"}, []string{"b.proto:3:1: ", `"example.com/b c"`, "not a valid Go import path"}},
		{"one Go package, two directories", map[string]string{
			"a/a.proto": "syntax = \"proto3\";\npackage a;\noption go_package = \"example.com/p;p\";\nimport \"b/b.proto\";\nmessage A { b.B b = 1; }",
			"b/b.proto": "syntax = \"proto3\";\npackage b;\noption go_package = \"example.com/p;p\";\nmessage B {}",
		}, []string{"a/a.proto", "b/b.proto"}, []string{"b.proto:3:1: ", `"example.com/p"`, "a/a.proto", "different directories"}},
		{"same package name, two directories, no import path", map[string]string{
			"foo/v1/a.proto": "syntax = \"proto3\";\npackage foo.v1;\nimport \"bar/v1/b.proto\";\nmessage A { bar.v1.B b = 1; }",
			"bar/v1/b.proto": "syntax = \"proto3\";\npackage bar.v1;\nmessage B {}",
		}, []string{"foo/v1/a.proto", "bar/v1/b.proto"}, []string{"b.proto:3:1: ", "no import path", "directory bar/v1", "directory foo/v1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeProtos(t, c.protos)
			var paths []string
			for _, g := range c.gen {
				paths = append(paths, filepath.Join(dir, filepath.FromSlash(g)))
			}
			_, err := Generate(paths, Options{ImportPaths: []string{dir}})
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want an ErrorList", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Comments may hold any UTF-8 text, including byte order marks, which Go
// allows only at the start of a file: they are left out of the Go
// comments.
func TestCommentCharacters(t *testing.T) {
	out := generateOne(t, map[string]string{
		"a.proto": "syntax = \"proto3\";\n// A \ufeff mark, \r, \v\f and \u2028.\nmessage A {\n  // \ufeff\n  int32 x = 1;\n}\n",
	}, Options{}, "a.proto")
	if strings.Contains(string(out[0].Content), "\ufeff") {
		t.Error("the output holds a byte order mark")
	}
}
