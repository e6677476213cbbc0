package protocol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// chatProtocol is examples/chat's protocol.
const chatProtocol = `@protocol {
  client halfclose
  | client join
    (client (say | who | join | leave)*; client halfclose)
    & (server joined; server (message | presence | members | left | joined)*)
}`

// Kinds numbered as in chatKinds.
const (
	cJoin = iota
	cSay
	cWho
	cLeave
)

const (
	sJoined = iota
	sMessage
	sPresence
	sMembers
	sLeft
)

func TestChatProtocol(t *testing.T) {
	m := mustCompile(t, chatProtocol, chatKinds)
	srv := NewChecker(m, ServerSide)
	err := srv.Recv(cSay)
	var v *Violation
	if !errors.As(err, &v) || v.Local {
		t.Fatalf("say first: %v, want a received violation", err)
	}
	if got, want := err.Error(), "chat.v1.Chat/Converse: got say, want join or half-close (before the first message)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if !srv.Failed() || srv.Recv(cJoin) == nil {
		t.Error("the checker went on after a violation")
	}

	// A conversation, from both sides, with messages crossing: the client
	// says something before it sees joined.
	cli, srv := NewChecker(m, ClientSide), NewChecker(m, ServerSide)
	steps := []struct {
		name string
		err  error
	}{
		{"client sends join", cli.Send(cJoin)},
		{"client sends say", cli.Send(cSay)},
		{"server gets join", srv.Recv(cJoin)},
		{"server sends joined", srv.Send(sJoined)},
		{"server sends message", srv.Send(sMessage)},
		{"server gets say", srv.Recv(cSay)},
		{"client gets joined", cli.Recv(sJoined)},
		{"client gets message", cli.Recv(sMessage)},
		{"client half-closes", cli.CloseSend()},
		{"server sends presence", srv.Send(sPresence)},
		{"server gets half-close", srv.RecvHalfClose()},
		{"client gets presence", cli.Recv(sPresence)},
		{"server ends", srv.End()},
		{"client sees the end", cli.End()},
	}
	for _, s := range steps {
		if s.err != nil {
			t.Errorf("%s: %v", s.name, s.err)
		}
	}

	// Local refusals leave the state as it was.
	cli = NewChecker(m, ClientSide)
	err = cli.Send(cSay)
	if !errors.As(err, &v) || !v.Local {
		t.Fatalf("say first: %v, want a local violation", err)
	}
	if got, want := err.Error(), "chat.v1.Chat/Converse: the client cannot send say, may send join or half-close (before the first message)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if cli.Failed() || cli.Send(cJoin) != nil {
		t.Error("a refused send broke the checker")
	}
	// The server ending before joined is early.
	if err := cli.End(); err == nil || !strings.Contains(err.Error(), "got the end of the call (OK), want joined") {
		t.Errorf("early end: %v", err)
	}
	srv = NewChecker(m, ServerSide)
	if err := srv.Recv(cJoin); err != nil {
		t.Fatal(err)
	}
	if err := srv.End(); err == nil {
		t.Error("the server may end before sending joined")
	}
	if err := srv.Recv(-1); err == nil || !strings.Contains(err.Error(), "got a message with no kind") {
		t.Errorf("no kind: %v", err)
	}
}

// Valid protocols compile; the checker accepts exactly the traces the
// protocol allows.
func TestValidProtocols(t *testing.T) {
	kinds := Kinds{Client: []string{"begin", "chunk", "commit", "abort", "offer", "accept", "reject"}, Server: []string{"ack", "summary", "offer", "accept", "reject"}}
	tests := []struct {
		name   string
		text   string
		traces []string // space-separated c:kind, s:kind, c:halfclose, end; a trailing ! marks a refused last step
	}{
		{"upload", `@protocol {
  client begin
  (client chunk*; client (commit | abort); client halfclose) & server ack*
  server summary
}`, []string{
			"c:begin c:chunk c:chunk s:ack c:commit c:halfclose s:summary end",
			"c:begin c:commit c:halfclose s:summary end",
			"c:begin c:chunk s:ack c:chunk s:ack s:ack c:abort c:halfclose s:ack s:summary end",
			"c:begin c:commit c:chunk!",
			"c:begin c:commit s:summary!",
			"c:begin c:abort s:summary!",
		}},
		{"negotiation", `@protocol Round {
  client offer; (server offer; include Round | server accept | server reject)
}
@protocol {
  include Round
}`, []string{
			"c:offer s:offer c:offer s:accept end",
			"c:offer s:reject end",
			"c:offer c:offer!",
		}},
		{"optional then end", `@protocol { client begin; server ack? }`, []string{
			"c:begin end",
			"c:begin c:halfclose s:ack end",
			"c:begin s:ack s:ack!",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, tt.text, kinds)
			for _, tr := range tt.traces {
				c := NewChecker(m, ServerSide)
				steps := strings.Fields(tr)
				for i, st := range steps {
					refuse := strings.HasSuffix(st, "!")
					st = strings.TrimSuffix(st, "!")
					var err error
					switch {
					case st == "end":
						err = c.End()
					case st == "c:halfclose":
						err = c.RecvHalfClose()
					case strings.HasPrefix(st, "c:"):
						err = c.Recv(index(kinds.Client, st[2:]))
					default:
						err = c.Send(index(kinds.Server, st[2:]))
					}
					if refuse != (err != nil) {
						t.Errorf("%q step %d (%s): %v", tr, i, st, err)
						break
					}
				}
			}
		})
	}
}

func index(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// The parser's errors carry positions.
func TestParseErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"@protocol X client join }", "1:15: want { after @protocol"},
		{"@protocol { client join", "1:26: want } to end the protocol"},
		{"@protocol { join }", `1:15: "join" needs its sender`},
		{"@protocol { client (join | server x) }", "1:30: server inside client"},
		{"@protocol { server halfclose }", "1:22: only the client half-closes"},
		{"@protocol { (client join }", "1:28: want ) to close the ( at 1:15"},
		{"@protocol client { client join }", `1:13: "client" is a keyword`},
		{"@protocol { " + strings.Repeat("(", 100) + "client a" + strings.Repeat(")", 100) + " }", "nested more than"},
	}
	for _, tt := range tests {
		_, errs := ParseBlocks(lines(tt.text))
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.text, errs, tt.want)
		}
	}
}

// Blocks start where the marker is a word of its own, anywhere on a line,
// also on the line where another ends, and may span lines from there;
// the marker inside a word or an address is prose.
func TestParseBlocksPlacement(t *testing.T) {
	text := "Mail foo@protocol.org, read @protocols, a@protocol{.\n" +
		"@protocol { client a; include B } @protocol B {\n" +
		"  client b\n" +
		"} and @protocol C { client c }"
	blocks, errs := ParseBlocks(lines(text))
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	var got []string
	for _, b := range blocks {
		got = append(got, fmt.Sprintf("%q at %d:%d", b.Name, b.Pos.Line, b.Pos.Col))
	}
	if want := []string{`"" at 2:3`, `"B" at 2:37`, `"C" at 4:9`}; !slices.Equal(got, want) {
		t.Errorf("blocks %v, want %v", got, want)
	}
}

// Parentheses nest up to maxDepth levels.
func TestParseDepth(t *testing.T) {
	nested := func(n int) string {
		return "@protocol { " + strings.Repeat("(", n) + "client a" + strings.Repeat(")", n) + " }"
	}
	if _, errs := ParseBlocks(lines(nested(maxDepth))); len(errs) > 0 {
		t.Errorf("%d levels: %v", maxDepth, errs[0])
	}
	if _, errs := ParseBlocks(lines(nested(maxDepth + 1))); len(errs) == 0 || !strings.Contains(errs[0].Error(), "nested more than 64 deep") {
		t.Errorf("%d levels: %v", maxDepth+1, errs)
	}
}

// FuzzCompile: no input makes the parser or the compiler panic or loop,
// and whatever compiles yields tables New accepts.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		chatProtocol,
		"@protocol { client join; server joined }",
		"@protocol R { client say; include R | client leave }\n@protocol { client join; include R }",
		"@protocol { (client say* ; client halfclose) & server message* }",
		"@protocol { client (join | say)+ ; client leave? }",
		"@protocol { client join; (client say | server message) }",
		"@protocol { include X }",
		"@protocol { ((((client join)))) }",
		"@protocol {",
		"@protocol @protocol {}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 2000 {
			return
		}
		spec, errs := compileText(fuzzT{t}, strings.Replace(text, "@protocol {", "@protocol {", 1), chatKinds)
		for _, e := range errs {
			if e.Pos.Line == 0 || e.Msg == "" {
				t.Fatalf("error without a position: %v", e)
			}
		}
		if spec == nil {
			return
		}
		m, err := New(*spec)
		if err != nil {
			t.Fatalf("compiled tables refused: %v", err)
		}
		c := NewChecker(m, ServerSide)
		for k := range len(chatKinds.Client) + 1 {
			_ = c.Recv(k - 1)
		}
	})
}

// fuzzT lets compileText skip inputs without an unnamed block.
type fuzzT struct{ *testing.T }

func (f fuzzT) Fatalf(format string, args ...any) { f.Skip() }

func TestMermaid(t *testing.T) {
	m := mustCompile(t, "@protocol { client join; server joined; client (say | leave) }", chatKinds)
	got := m.Mermaid()
	want := `stateDiagram-v2
    %% chat.v1.Chat/Converse
    state "before the first message" as s0
    state "after client join" as s1
    state "after server joined" as s2
    state "after client say or leave" as s3
    [*] --> s0
    s0 --> s1: client join
    s1 --> s2: server joined
    s2 --> s3: client say<br/>client leave
    s3 --> [*]
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
