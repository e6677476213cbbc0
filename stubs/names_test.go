package stubs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// advProto declares names that collide with what the generator declares
// for other declarations (service helpers, method constants, enum maps,
// oneof cases, conversation types), Go keywords and predeclared
// identifiers, methods whose Go names collide, and two services of one Go
// name; it imports packages named like the receivers and parameters of
// generated methods.
const advProto = `syntax = "proto3";
package adv;
option go_package = "GENPKG/adv;adv";
import "google/protobuf/empty.proto";
import "m/m.proto";
import "d/d.proto";

enum Color { name = 0; value = 1; String = 2; }

message SvcServer { string a = 1; }
message SvcClient { string a = 1; }
message UnimplementedSvcServer {}
message NewSvcClient {}
message RegisterSvcServer {}
message Svc_Get_FullMethodName {}
message Svc_GetIt_FullMethodName {}
message ChatTalkProtocol {}
message ChatTalkClientConv {}

message string { string string = 1; int32 error = 2; bool any = 3; int64 len = 4; }
message error { string type = 1; string func = 2; string range = 3; string go = 4; string nil = 5; }
message any { int32 m = 1; int32 e = 2; int32 d = 3; int32 err = 4; int32 b = 5; int32 v = 6; int32 key = 7; int32 x = 8; }
message len { int32 make = 1; int32 new = 2; int32 append = 3; int32 copy = 4; int32 true = 5; int32 iota = 6; }

message O { oneof kind { int32 a = 1; m.Thing thing = 2; } }
message O_A {}
message O_Kind {}
message E_E_X {}
enum E { E_X = 0; }
message Outer { enum Kind { INNER = 0; } message Inner {} }
message Outer_INNER {}

message Uses {
  m.Thing m = 1;
  repeated m.Thing list = 2;
  map<string, m.Thing> by_name = 3;
  map<int32, d.Doc> docs = 4;
  d.Doc d = 5;
  oneof x { m.Thing one = 6; d.Doc other = 7; }
  map<string, google.protobuf.Empty> set = 8;
}

message C { oneof event { Say say = 1; Bye bye = 2; } }
message S { oneof event { Msg msg = 1; } }
message Say {}
message Bye {}
message Msg {}

service Svc {
  rpc Get(string) returns (error);
  rpc get(string) returns (error);
  rpc GetIt(m.Thing) returns (m.Thing);
  rpc get_it(stream m.Thing) returns (stream d.Doc);
  rpc String(any) returns (len);
  rpc New(google.protobuf.Empty) returns (google.protobuf.Empty);
  rpc Register(stream any) returns (len);
  rpc Client(any) returns (stream len);
}
service svc { rpc Get(string) returns (error); }
service SvcClientServer { rpc Get(string) returns (error); }

service Chat {
  // @protocol { client say; server msg; client bye }
  rpc Talk(stream C) returns (stream S);
  // @protocol { client say; server msg }
  rpc talk(stream C) returns (stream S);
  // @protocol { client say; server msg }
  rpc Talk_(stream C) returns (stream S);
}
`

// Every name in advProto gets a Go name of its own, and the generated
// packages build.
func TestAdversarialNamesBuild(t *testing.T) {
	dir, files := genInModule(t, map[string]string{
		"adv/adv.proto": advProto,
		"m/m.proto":     `syntax = "proto3"; package m; option go_package = "GENPKG/m;m"; message Thing { string s = 1; }`,
		"d/d.proto":     `syntax = "proto3"; package d; option go_package = "GENPKG/d;d"; message Doc { bytes b = 1; }`,
	}, "adv/adv.proto", "m/m.proto", "d/d.proto")
	src := string(files[0].Content)
	for _, want := range []string{
		"type SvcClient struct",     // the message keeps its name,
		"type SvcClient_ interface", // the service's client takes an underscore
		"type SvcServer_ interface", //
		"func NewSvcClient_(",       //
		"func RegisterSvcServer_(",  //
		"type UnimplementedSvcServer_ struct",
		"Svc_Get_FullMethodName_ ",    // Get's constant, after the message
		"Svc_Get__FullMethodName ",    // get is Get_
		"Get_(ctx context.Context",    //
		"GetIt_(ctx context.Context,", // get_it is GetIt_
		"SvcServer__ interface",       // the second service named Svc
		"var Color_name = map",        // the enum's maps come before
		"Color_name_ Color = 0",       // its values
		"type Outer_INNER_ struct",    // a nested enum's value comes before a later message
		"ChatTalk_Protocol",           // the conversation's types, renamed together
		"ChatTalk_ClientConv",         //
		"m2 \"",                       // package m imported under another name
	} {
		if !strings.Contains(src, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	goTool(t, "vet", dir)
}

// Two files generated into one Go package that declare the same Go name
// (two messages, or the descriptors of a-b.proto and a_b.proto) are
// refused, naming both files.
func TestSameNameInPackage(t *testing.T) {
	for _, c := range []struct{ a, b, name string }{
		{`syntax = "proto3"; package x.a; option go_package = "ex/p;p"; message M {}`,
			`syntax = "proto3"; package x.b; option go_package = "ex/p;p"; message M {}`, "M"},
		{`syntax = "proto3"; package x; message A {}`,
			`syntax = "proto3"; package x; message B {}`, "file_a_b_proto_rawDesc"},
	} {
		dir := writeProtos(t, map[string]string{"a-b.proto": c.a, "a_b.proto": c.b})
		_, err := Generate([]string{filepath.Join(dir, "a-b.proto"), filepath.Join(dir, "a_b.proto")}, Options{})
		if err == nil || !strings.Contains(err.Error(), "a-b.proto and a_b.proto") || !strings.Contains(err.Error(), "declare "+c.name) {
			t.Errorf("got %v, want an error naming both files and %s", err, c.name)
		}
		// A schema error, at the second file's choice of Go package.
		var list ErrorList
		if !errors.As(err, &list) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "a_b.proto")+":1:") {
			t.Errorf("got %T %v, want an ErrorList positioned in a_b.proto", err, err)
		}
	}
}

// Packages named like the receivers, parameters and variables of the
// generated methods (m, d, v...) are imported under other names, which
// those do not hide.
func TestImportNamedLikeALocal(t *testing.T) {
	protos := map[string]string{
		"u/u.proto": `syntax = "proto3"; package u; option go_package = "GENPKG/u;u";
			import "m/m.proto"; import "d/d.proto"; import "v/v.proto";
			message U {
			  m.Thing m = 1;
			  repeated m.Thing list = 2;
			  map<string, d.Doc> docs = 3;
			  v.E e = 4;
			  repeated v.E es = 5;
			  oneof x { m.Thing one = 6; d.Doc other = 7; }
			}
			service S { rpc Get(m.Thing) returns (d.Doc); rpc All(stream d.Doc) returns (stream m.Thing); }`,
		"m/m.proto": `syntax = "proto3"; package m; option go_package = "GENPKG/m;m"; message Thing { string s = 1; }`,
		"d/d.proto": `syntax = "proto3"; package d; option go_package = "GENPKG/d;d"; message Doc { bytes b = 1; }`,
		"v/v.proto": `syntax = "proto3"; package v; option go_package = "GENPKG/v;v"; enum E { E_ZERO = 0; }`,
	}
	dir, files := genInModule(t, protos, "u/u.proto", "m/m.proto", "d/d.proto", "v/v.proto")
	for _, want := range []string{"*m2.Thing", "*d2.Doc", "v2.E"} {
		if !strings.Contains(string(files[0].Content), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	goTool(t, "vet", dir)
}
