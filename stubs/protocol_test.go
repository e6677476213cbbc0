package stubs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// protoHeader declares a chat-like pair of messages; the test's service
// comes after it, so its lines start at protoHeaderLines+1.
const protoHeader = `syntax = "proto3";
package p.v1;
option go_package = "example.com/p;p";
message C { oneof event { Join join = 1; Say say = 2; Leave leave = 3; } }
message S { oneof event { Joined joined = 1; Msg msg = 2; Left left = 3; } }
message Join {}
message Say { string text = 1; }
message Leave {}
message Joined {}
message Msg {}
message Left {}
message Plain { string x = 1; }
`

const protoHeaderLines = 12

// genService writes protoHeader and service to a temporary .proto file
// and generates it.
func genService(t *testing.T, service string) ([]File, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "p.proto")
	if err := os.WriteFile(path, []byte(protoHeader+service), 0o644); err != nil {
		t.Fatal(err)
	}
	return Generate([]string{path}, Options{})
}

// Each well-formedness check refuses its schema with the position of the
// offending part of the protocol.
func TestProtocolSchemaErrors(t *testing.T) {
	tests := []struct {
		name    string
		service string
		line    int // relative to the service's first line (1)
		col     int
		msg     string
	}{
		{"unknown kind", `service X {
  // @protocol { client join; server welcome }
  rpc Talk(stream C) returns (stream S);
}`, 2, 38, "unknown server kind welcome (the server sends joined, msg, left)"},
		{"kind of the wrong side", `service X {
  // @protocol { client joined }
  rpc Talk(stream C) returns (stream S);
}`, 2, 25, "joined is sent by the server, not the client"},
		{"choice without distinct first kinds", `service X {
  // @protocol {
  //   client join
  //   (client say; server msg | client say; server left)
  // }
  rpc Talk(stream C) returns (stream S);
}`, 4, 41, "both start with client say"},
		{"choice by both sides", `service X {
  // @protocol { client join; (client say | server msg) }
  rpc Talk(stream C) returns (stream S);
}`, 2, 52, "branches start with messages from different sides"},
		{"repetition whose end the other side cannot observe", `service X {
  // @protocol { client join; client say*; server left }
  rpc Talk(stream C) returns (stream S);
}`, 2, 41, "the server cannot observe where this repetition of client messages ends: server left follows it"},
		{"interleaving part mixing sides", `service X {
  // @protocol { client join; (client say; server msg) & server left* }
  rpc Talk(stream C) returns (stream S);
}`, 2, 39, "a part of an interleaving mixes senders"},
		{"missing include", `service X {
  // @protocol { client join; include Room }
  rpc Talk(stream C) returns (stream S);
}`, 2, 31, "include Room: no protocol named Room in this service"},
		{"include without progress", `// @protocol Loop { include Loop }
service X {
  // @protocol { client join; include Loop }
  rpc Talk(stream C) returns (stream S);
}`, 1, 21, "include Loop comes back to Loop without any message in between"},
		{"unreachable part", `// @protocol Forever { client say; include Forever }
service X {
  // @protocol { client join; include Forever; server left }
  rpc Talk(stream C) returns (stream S);
}`, 3, 55, "server left can never be reached"},
		{"unreachable after half-close", `service X {
  // @protocol { client join; client halfclose; client say }
  rpc Talk(stream C) returns (stream S);
}`, 2, 56, "client say can never be reached"},
		{"cannot finish", `// @protocol Forever { client say; include Forever }
service X {
  // @protocol { client join; include Forever }
  rpc Talk(stream C) returns (stream S);
}`, 3, 6, "this protocol cannot finish"},
		{"syntax error", `service X {
  // @protocol { client join; server }
  rpc Talk(stream C) returns (stream S);
}`, 2, 38, "want the kind server sends"},
		{"client-streaming without the response", `service X {
  // @protocol { client join }
  rpc Talk(stream C) returns (S);
}`, 2, 25, "the protocol can end without the server's message: this method's server sends exactly one, last"},
		{"server-streaming with two requests", `service X {
  // @protocol { client join; client say; server msg* }
  rpc Talk(C) returns (stream S);
}`, 2, 38, "client say: this method's client sends exactly one message, first"},
		{"server-streaming half-closing after a response", `service X {
  // @protocol { client join; server msg; client halfclose }
  rpc Talk(C) returns (stream S);
}`, 2, 50, "client halfclose: this method's client sends exactly one message, first, and half-closes right after it"},
		{"unary half-closing after the response", `service X {
  // @protocol { client join; server joined; client halfclose }
  rpc Talk(C) returns (S);
}`, 2, 53, "client halfclose: this method's client sends exactly one message, first, and half-closes right after it"},
		{"unary with two responses", `service X {
  // @protocol { client join; server joined; server left }
  rpc Talk(C) returns (S);
}`, 2, 53, "server left: this method's server sends exactly one message, last"},
		{"two oneofs", `message Two { oneof a { string x = 1; } oneof b { string y = 2; } }
service X {
  // @protocol { client x }
  rpc Talk(stream Two) returns (stream S);
}`, 4, 3, "may have at most one oneof"},
		{"two protocols for one rpc", `service X {
  // @protocol { client join; server joined }
  // @protocol { client join; server left }
  rpc Talk(stream C) returns (stream S);
}`, 3, 6, "rpc Talk has a second unnamed @protocol"},
		{"a name declared twice", `// @protocol P { client join }
// @protocol P { client say }
service X {
  // @protocol { include P }
  rpc Talk(stream C) returns (stream S);
}`, 2, 4, "protocol P is declared twice"},
		{"unnamed protocol in the service comment", `// @protocol { client join }
service X {
  rpc Talk(stream C) returns (stream S);
}`, 1, 4, "an unnamed @protocol belongs in the comment of the rpc"},
		{"recursion not last", `// @protocol P { client join; include P; server left }
service X {
  // @protocol { include P }
  rpc Talk(stream C) returns (stream S);
}`, 1, 31, "include P inside P is not its last step"},
		{"messages that may cross", `service X {
  // @protocol { client join; client say*; client say; server msg }
  rpc Talk(stream C) returns (stream S);
}`, 2, 38, "client say and server msg may both come next here, and if they cross in flight the two sides disagree"},
		{"a sub-protocol nobody includes", `// @protocol Lost { client say }
service X {
  // @protocol { client join }
  rpc Talk(stream C) returns (stream S);
}`, 1, 4, "protocol Lost can never be reached: no rpc's protocol in service X includes it"},
		{"repetition of nothing", `service X {
  // @protocol { (client join?)* }
  rpc Talk(stream C) returns (stream S);
}`, 2, 32, "* repeats a part that can send nothing"},
		{"block comment", `service X {
  /* @protocol {
   *   client join; server welcome
   * } */
  rpc Talk(stream C) returns (stream S);
}`, 3, 28, "unknown server kind welcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := genService(t, tt.service)
			if err == nil {
				t.Fatal("Generate accepted the schema")
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a schema error", err)
			}
			want := fmt.Sprintf("p.proto:%d:%d: ", protoHeaderLines+tt.line, tt.col)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error:\n%v\nwant position %s and %q", err, want, tt.msg)
			}
		})
	}
}

// validProtocols exercise every construct on every kind of method; they
// must generate code that builds.
const validProtocols = `
message E {}
message Num { int64 v = 1; }
message K { oneof k { string text = 1; bytes blob = 2; E empty = 3; int32 n = 4; Say half_close = 5; } }

// @protocol Lobby { client join; include Room | client halfclose }
// @protocol Room {
//   client (say | join); include Room
//   | client leave; include Lobby
//   | client halfclose
// }
service V {
  // The chat's shape, with a sub-protocol pair.
  //
  // @protocol {
  //   client halfclose
  //   | client join
  //     (include Room) & (server joined; server (msg | joined | left)*)
  // }
  rpc Chat(stream C) returns (stream S);
  /* Upload-like, in a block comment:
   * @protocol {
   *   client join
   *   (client say*; client (leave | join); client halfclose) & server msg*
   *   server left
   * }
   */
  rpc Up(stream C) returns (stream S);
  // @protocol { client say+; client halfclose; server msg }
  rpc Sum(stream C) returns (S);
  // @protocol { client join; (server msg | server joined)*; server left? }
  rpc Watch(C) returns (stream S);
  // @protocol { client join; server joined }
  rpc Once(C) returns (S);
  // Messages without a oneof, and scalar, bytes and empty cases.
  //
  // @protocol { (client Num*; client halfclose) & (server text | server blob | server empty | server n | server half_close)* }
  rpc Mixed(stream Num) returns (stream K);
  // @protocol { client E; server E; (client E; server E)* }
  rpc Ping(stream E) returns (stream E);
}
`

// Valid protocols on every method kind generate code that compiles, with
// a diagram file for them.
func TestValidProtocolsBuild(t *testing.T) {
	src := strings.Replace(protoHeader, `option go_package = "example.com/p;p";`, `option go_package = "GENPKG;p";`, 1) + validProtocols
	dir, files := genInModule(t, map[string]string{"p.proto": src}, "p.proto")
	if len(files) != 2 || files[1].Name != "p.protocols.md" || strings.Count(string(files[1].Content), "stateDiagram-v2") != 7 {
		t.Fatalf("generated %d files", len(files))
	}
	goTool(t, "vet", dir)
}

// Protocols over imported message types, nested types, well-known types
// as whole messages and as oneof cases, enums, and kinds named like Go
// keywords, across two files in two Go packages, build.
func TestImportedProtocolsBuild(t *testing.T) {
	dir, _ := genInModule(t, map[string]string{"a/a.proto": importedA, "b/b.proto": importedB}, "a/a.proto", "b/b.proto")
	goTool(t, "vet", dir)
}

const importedA = `syntax = "proto3";
package ext.a;
option go_package = "GENPKG/a;a";
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";

enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }

message Outer {
  message Inner { string s = 1; }
  oneof body {
    Inner inner = 1;
    Color color = 2;
    google.protobuf.Timestamp at = 3;
    google.protobuf.Duration wait = 4;
    string type = 5;
    double range = 6;
  }
}
`

const importedB = `syntax = "proto3";
package ext.b;
option go_package = "GENPKG/b;b";
import "a/a.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/timestamp.proto";

message Reply { oneof r { ext.a.Outer.Inner echo = 1; google.protobuf.Empty ok = 2; } }

// @protocol Loop { client (inner | color | at | wait | type | range); include Loop | client halfclose }
service One {
  // @protocol { include Loop & server (echo | ok)* }
  rpc Stream(stream ext.a.Outer) returns (stream Reply);
  // @protocol { client Empty; server Timestamp*; server Timestamp }
  rpc Ticks(google.protobuf.Empty) returns (stream google.protobuf.Timestamp);
  // @protocol { client inner+; client halfclose; server ok }
  rpc collect_all(stream ext.a.Outer) returns (Reply);
  // @protocol { client Inner; server echo }
  rpc Nested(ext.a.Outer.Inner) returns (Reply);
}

// @protocol Loop { client Timestamp; include Loop | client halfclose }
service Two {
  // @protocol { include Loop & server Empty* }
  rpc Stream(stream google.protobuf.Timestamp) returns (stream google.protobuf.Empty);
}
`

// FuzzBlockComment: any source and end line give lines within the source,
// with positions that point at their text.
func FuzzBlockComment(f *testing.F) {
	for _, s := range []string{
		"/* @protocol {\n * client a\n * } */",
		"/*/",
		"  /** x */",
		"a\n/*\n*/",
		"/* one */ /* two */",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lines := strings.Split(src, "\n")
		for end := range lines {
			for _, l := range blockComment(lines, end) {
				if l.Pos.Line < 1 || l.Pos.Line > len(lines) || l.Pos.Col < 1 {
					t.Fatalf("line %+v out of the source", l)
				}
				orig := lines[l.Pos.Line-1]
				if l.Pos.Col-1+len(l.Text) > len(orig) || orig[l.Pos.Col-1:l.Pos.Col-1+len(l.Text)] != l.Text {
					t.Fatalf("line %+v is not at its position in %q", l, orig)
				}
			}
		}
	})
}

// Kinds whose Go names look like numbered state names (x and x2), or like
// the half-close (a client kind half_close), get distinct Go names: the
// generated code builds, and names that collide with nothing keep their
// plain form.
func TestProtocolGoNamesDistinct(t *testing.T) {
	src := `syntax = "proto3";
package n.v1;
option go_package = "GENPKG;n";
message C { oneof k { int64 a = 1; int64 b = 2; int64 c = 3; int64 half_close = 4; } }
message S { oneof k { int64 x = 1; int64 x2 = 2; } }
service N {
  // @protocol {
  //   client a; server x; client b; server x; client c; server x2
  // }
  rpc Numbered(stream C) returns (stream S);
  // @protocol {
  //   client a
  //   (client half_close; client halfclose; server x | client halfclose)
  // }
  rpc HalfClose(stream C) returns (stream S);
}
`
	dir, files := genInModule(t, map[string]string{"n.proto": src}, "n.proto")
	goTool(t, "vet", dir)
	code := string(files[0].Content)
	for _, name := range []string{
		"type NNumberedServerAfterX struct", "type NNumberedServerAfterX2 struct", "type NNumberedServerAfterX3 struct",
		"type NHalfCloseServerAfterHalfClose struct", "type NHalfCloseServerAfterHalfClose2 struct",
		"type NHalfCloseServerAfterAGotHalfClose struct", "type NHalfCloseServerAfterAGotHalfClose2 struct",
	} {
		if !strings.Contains(code, name) {
			t.Errorf("no %q in the generated code", name)
		}
	}
}
