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
// does, and fails if the checked-in chat.parley.go differs. Run
// `go generate ./examples/chat/chatpb` (or this test with -update) after
// changing chat.proto or the generator.
func TestGenerated(t *testing.T) {
	files, err := stubs.Generate([]string{"../chat.proto"}, stubs.Options{ImportPaths: []string{".."}})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != "chat.parley.go" {
		t.Fatalf("generated %d files (%v), want chat.parley.go", len(files), files)
	}
	if *update {
		if err := os.WriteFile("chat.parley.go", files[0].Content, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile("chat.parley.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files[0].Content, want) {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(string(files[0].Content), "\n")
		for i := 0; i < len(wl) || i < len(gl); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Fatalf("chat.parley.go is stale (run go generate ./examples/chat/chatpb); first difference at line %d:\n  checked in: %s\n  generated:  %s", i+1, w, g)
			}
		}
	}
}
