package protocol

import (
	"strings"
	"testing"
)

// lines splits a protocol text into comment lines starting at line 1,
// column 3 (as after "//").
func lines(text string) []Line {
	var out []Line
	for i, l := range strings.Split(text, "\n") {
		out = append(out, Line{Text: l, Pos: Pos{Line: i + 1, Col: 3}})
	}
	return out
}

var chatKinds = Kinds{
	Client: []string{"join", "say", "who", "leave"},
	Server: []string{"joined", "message", "presence", "members", "left"},
}

// compileText parses text (one unnamed block and any named ones) and
// compiles the unnamed one.
func compileText(t testing.TB, text string, kinds Kinds) (*Spec, []*PosError) {
	t.Helper()
	blocks, errs := ParseBlocks(lines(text))
	if len(errs) > 0 {
		return nil, errs
	}
	subs := map[string]*Block{}
	var main *Block
	for _, b := range blocks {
		if b.Name == "" {
			main = b
		} else {
			subs[b.Name] = b
		}
	}
	if main == nil {
		t.Fatalf("no unnamed block in %q", text)
	}
	return Compile("chat.v1.Chat/Converse", main, subs, kinds)
}

func mustCompile(t testing.TB, text string, kinds Kinds) *Machine {
	t.Helper()
	spec, errs := compileText(t, text, kinds)
	if len(errs) > 0 {
		t.Fatalf("%q: %v", text, errs[0])
	}
	m, err := New(*spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
