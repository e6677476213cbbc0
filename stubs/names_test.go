package stubs

import (
	"strings"
	"testing"
)

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
