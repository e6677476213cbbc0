package chatpb_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/stubs"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite chat.parley.go from ../chat.proto")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestGenerated regenerates chat.proto, as the go:generate line in doc.go
// does, and fails if the checked-in chat.parley.go or chat.protocols.md
// (the diagram of Converse's protocol) differs. Run
// `go generate ./examples/chat/chatpb` (or this test with -update) after
// changing chat.proto or the generator.
func TestGenerated(t *testing.T) {
	files, err := stubs.Generate([]string{"../chat.proto"}, stubs.Options{ImportPaths: []string{".."}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "chat.parley.go" || files[1].Name != "chat.protocols.md" {
		t.Fatalf("generated %d files, want chat.parley.go and chat.protocols.md", len(files))
	}
	for _, f := range files {
		if *update {
			if err := os.WriteFile(f.Name, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(f.Content, want) {
			continue
		}
		wl, gl := strings.Split(string(want), "\n"), strings.Split(string(f.Content), "\n")
		for i := 0; i < len(wl) || i < len(gl); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Fatalf("%s is stale (run go generate ./examples/chat/chatpb); first difference at line %d:\n  checked in: %s\n  generated:  %s", f.Name, i+1, w, g)
			}
		}
	}
}
