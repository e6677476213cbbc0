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
		{"not bidirectional", `service X {
  // @protocol { client join }
  rpc Talk(stream C) returns (S);
}`, 2, 6, "a protocol governs a bidirectional-streaming rpc"},
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
