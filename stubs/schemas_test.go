package stubs

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// trickySchemas are accepted schemas whose generated code is easy to get
// wrong in ways that still parse: well-known types in every position,
// enums with aliases, negative values and names that collide once
// prefixed, recursion through oneofs and maps, messages named like the
// runtime's types, and package names that are not Go package names as
// they are. Proto name → source, with GENPKG replaced by the directory's
// import path (see genInModule).
var trickySchemas = map[string]string{
	"wkts/w.proto": `syntax = "proto3"; package w;
import "google/protobuf/empty.proto"; import "google/protobuf/struct.proto"; import "google/protobuf/wrappers.proto";
import "google/protobuf/duration.proto"; import "google/protobuf/timestamp.proto"; import "google/protobuf/any.proto";
import "google/protobuf/field_mask.proto";
message W {
  repeated google.protobuf.StringValue rs = 1; repeated google.protobuf.Empty re = 2; repeated google.protobuf.Value rv = 3;
  map<string, google.protobuf.Struct> ms = 4; map<bool, google.protobuf.ListValue> ml = 5; map<uint64, google.protobuf.BytesValue> mb = 6;
  optional google.protobuf.Duration od = 7; optional google.protobuf.Timestamp ot = 8;
  map<int64, google.protobuf.Duration> md = 9; map<string, google.protobuf.Timestamp> mt = 10;
  oneof o {
    google.protobuf.Value v = 11; google.protobuf.Struct s = 12; google.protobuf.ListValue l = 13;
    google.protobuf.BytesValue b = 14; google.protobuf.Timestamp t = 15; google.protobuf.FieldMask fm = 16;
    google.protobuf.Any an = 17;
  }
  repeated google.protobuf.Any ra = 18; map<string, google.protobuf.FieldMask> mfm = 19;
  optional bytes ob = 20; optional W ow = 21;
  map<sfixed32, W> mw = 22; repeated google.protobuf.Duration rd = 23; repeated google.protobuf.Timestamp rt = 24;
  google.protobuf.Empty e = 25;
}
message Empty { W w = 1; }
message Any { google.protobuf.Any a = 1; }
service S {
  rpc A(google.protobuf.Empty) returns (Empty);
  rpc B(stream google.protobuf.Duration) returns (stream google.protobuf.Timestamp);
  rpc C(google.protobuf.Any) returns (Any);
  rpc D(stream google.protobuf.FieldMask) returns (google.protobuf.Empty);
  rpc E(google.protobuf.Timestamp) returns (stream google.protobuf.Empty);
}`,
	"enums/e.proto": `syntax = "proto3"; package e;
enum A { option allow_alias = true; A_X = 0; A_Y = 0; NEG = -1; MIN = -2147483648; MAX = 2147483647; reserved 5 to 9; }
enum A_B { A_B_D = 0; }
enum B { C = 0; }
message A_B_C {}
message M {
  enum A { Q = 0; }
  A a = 1; .e.A ga = 2; repeated A ra = 3; map<int32, .e.A> ma = 4; optional A oa = 5;
  oneof o { A oaa = 6; B ob = 7; }
  map<string, A> sa = 8;
}
message M_Q {}
message M_A {}
`,
	"recursive/r.proto": `syntax = "proto3"; package r;
message R {
  oneof o { R self = 1; R.Inner in = 2; }
  R.Inner.Deep d = 3; map<string, R> kids = 4; repeated R list = 5;
  message Inner { R up = 1; message Deep { R top = 1; oneof x { Deep me = 2; } } }
}
message R_Inner {}
message R_Self {}
message R_O {}
message Ping { Pong p = 1; } message Pong { Ping p = 1; }
`,
	"runtimenames/m.proto": `syntax = "proto3"; package m;
message ServerCall {} message ClientCall {} message Context { string ctx = 1; } message CallOption {}
message Client {} message Server {} message Error {} message Msgpack {} message Runtime {} message Wire {}
message Protocol {} message Time {} message Duration {}
service S {
  rpc Ctx(Context) returns (ServerCall);
  rpc Call(stream ClientCall) returns (stream CallOption);
  rpc Opts(Client) returns (stream Server);
  rpc Impl(stream Error) returns (Msgpack);
}
service Wires { rpc Wir(Runtime) returns (Wire); }
`,
	// Comments with characters Go allows nowhere (a byte order mark
	// after the start of a file) or only in comments.
	"comments/c.proto": "syntax = \"proto3\"; package c;\n// A \ufeff byte order mark, a \r carriage return, \v\f and \u2028.\nmessage C {\n  /* \ufeff */\n  int32 x = 1;\n}\n// \ufeff\nservice S {\n  // \ufeff\n  rpc M(C) returns (C);\n}\n// \ufeff\nenum E {\n  // \ufeff\n  E_X = 0;\n}\n",
	// A service without methods, alone in its file.
	"nomethods/s.proto":  `syntax = "proto3"; package s; service Nothing {}`,
	"nomethods2/s.proto": `syntax = "proto3"; package s2; import "google/protobuf/empty.proto"; service Nothing {} service One { rpc E(google.protobuf.Empty) returns (google.protobuf.Empty); }`,
	// go_package with an empty name: the name comes from the path.
	"gp/g.proto": `syntax = "proto3"; package g.v1; option go_package = "GENPKG/gp;"; message G { int32 x = 1; }`,
	// A proto package whose last element is "_", which cannot name a Go
	// package.
	"blank/b.proto": `syntax = "proto3"; package a._; message B { int32 x = 1; }`,
}

// The Go generated from trickySchemas passes go vet, and the TypeScript
// typechecks where it is installed.
func TestTrickySchemasBuild(t *testing.T) {
	protos := slices.Sorted(maps.Keys(trickySchemas))
	dir, files := genInModule(t, trickySchemas, protos...)
	for _, f := range files {
		if strings.HasSuffix(f.Name, ".go") && (f.GoPackage == "_" || f.GoPackage == "") {
			t.Errorf("%s: package %q", f.Name, f.GoPackage)
		}
	}
	goTool(t, "vet", dir)

	modules := tsModules(t)
	var paths []string
	for _, p := range protos {
		paths = append(paths, filepath.Join(dir, filepath.FromSlash(p)))
	}
	ts, err := GenerateTS(paths, Options{ImportPaths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	out := writeTS(t, modules, ts, nil)
	var names []string
	for _, f := range ts {
		names = append(names, f.Name)
	}
	tsc(t, modules, out, names...)
}
