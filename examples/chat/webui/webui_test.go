package webui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/stubs"
)

// TestGeneratedTS fails when src/chat.parley.ts or src/parley.ts differ
// from what `parley gen -lang ts` writes now (go generate
// ./examples/chat/webui updates them).
func TestGeneratedTS(t *testing.T) {
	files, err := stubs.GenerateTS([]string{"../chat.proto"}, stubs.Options{ImportPaths: []string{".."}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		have, err := os.ReadFile(filepath.Join("src", f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, f.Content) {
			t.Errorf("src/%s is stale: run go generate ./examples/chat/webui, then make chat-web", f.Name)
		}
	}
}

// sourcesHash is build.mjs's sourcesHash.
func sourcesHash(t *testing.T) string {
	files := []string{"build.mjs", "package-lock.json"}
	ts, err := filepath.Glob("src/*.ts")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, ts...)
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\n"))
		h.Write(b)
		h.Write([]byte("\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

var bannerHash = regexp.MustCompile(`^// Built by build.mjs from src/ \(sources sha256 ([0-9a-f]{64})\)`)

// TestBundleFresh fails when static/app.js was built from other sources
// than those in src/ (and the pinned packages): rebuild with make chat-web.
func TestBundleFresh(t *testing.T) {
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	m := bannerHash.FindSubmatch(js)
	if m == nil {
		t.Fatal("static/app.js has no sources banner")
	}
	if want := sourcesHash(t); string(m[1]) != want {
		t.Fatalf("static/app.js is stale (built from sources %s, they are now %s): run make chat-web", m[1], want)
	}
}

// TestBundleReproducible rebuilds app.js with the pinned esbuild, where
// npm has installed it, and compares it byte for byte.
func TestBundleReproducible(t *testing.T) {
	if _, err := os.Stat("node_modules/.bin/esbuild"); err != nil {
		t.Skip("node_modules not installed (npm ci in examples/chat/webui): the bundle is checked by its sources hash only")
	}
	out := filepath.Join(t.TempDir(), "app.js")
	cmd := exec.Command("node", "build.mjs", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	want, _ := os.ReadFile("static/app.js")
	got, _ := os.ReadFile(out)
	if !bytes.Equal(got, want) {
		t.Fatal("static/app.js differs from a fresh build: run make chat-web")
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for path, want := range map[string]string{"/": `<script defer src="app.js">`, "/app.js": "sources sha256", "/style.css": "--accent"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, missing %q", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Post(srv.URL+"/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", resp.StatusCode)
	}
}
