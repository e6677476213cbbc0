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
		{"extend", "syntax = \"proto3\";\nimport \"google/protobuf/descriptor.proto\";\nextend google.protobuf.FieldOptions {\n  string tag = 50000;\n}\n",
			[]string{"a.proto:4:3: ", "extend is not supported", "google.protobuf.FieldOptions"}},
		{"nested extend", "syntax = \"proto3\";\nimport \"google/protobuf/descriptor.proto\";\nmessage A {\n  extend google.protobuf.MessageOptions {\n    string tag = 50000;\n  }\n}\n",
			[]string{"a.proto:5:5: ", "extend is not supported"}},
		{"group", "syntax = \"proto2\";\nmessage A {\n  optional group G = 1 {\n    optional int32 x = 2;\n  }\n}\n",
			[]string{"a.proto:1:1: ", "proto2 syntax is not supported", "groups are not supported"}},
		{"unsupported well-known type", "syntax = \"proto3\";\nimport \"google/protobuf/any.proto\";\nmessage A {\n  google.protobuf.Any a = 1;\n}\n",
			[]string{"a.proto:4:3: ", "unsupported well-known type google.protobuf.Any"}},
		{"unsupported well-known map value", "syntax = \"proto3\";\nimport \"google/protobuf/struct.proto\";\nmessage A {\n  map<string, google.protobuf.Value> a = 1;\n}\n",
			[]string{"a.proto:4:3: ", "google.protobuf.Value"}},
		{"unsupported well-known rpc type", "syntax = \"proto3\";\nimport \"google/protobuf/wrappers.proto\";\nmessage A {}\nservice S {\n  rpc M(google.protobuf.StringValue) returns (A);\n}\n",
			[]string{"a.proto:5:3: ", "google.protobuf.StringValue", "method M"}},
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
