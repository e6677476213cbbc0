package member_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/member"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFormat(t *testing.T) {
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.Local)
	msg := func(seq uint64, nick, text string) *chatpb.ChatMessage {
		return &chatpb.ChatMessage{Room: "lobby", Seq: seq, Nick: nick, Text: text, SentAt: at}
	}
	tests := []struct {
		name   string
		ev     *chatpb.ServerEvent
		stamps bool
		want   []string
	}{
		{"joined with history", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Joined{Joined: &chatpb.Joined{
			Room: "lobby", Nick: "carol", Members: []string{"alice", "carol"}, History: []*chatpb.ChatMessage{msg(1, "alice", "hi")},
		}}}, false, []string{"[lobby] * you joined as carol; here: alice, carol", "[lobby] (history) <alice> hi"}},
		{"message", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: msg(2, "bob", "hey")}}, false,
			[]string{"[lobby] <bob> hey"}},
		{"message with time", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: msg(2, "bob", "hey")}}, true,
			[]string{"[lobby] 15:04:05 <bob> hey"}},
		{"joined presence", presence(chatpb.PresenceKind_PRESENCE_KIND_JOINED, 0), false, []string{"[lobby] * bob joined (2 here)"}},
		{"left", presence(chatpb.PresenceKind_PRESENCE_KIND_LEFT, chatpb.LeaveReason_LEAVE_REASON_LEFT), false, []string{"[lobby] * bob left (2 here)"}},
		{"disconnected", presence(chatpb.PresenceKind_PRESENCE_KIND_LEFT, chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED), false,
			[]string{"[lobby] * bob was disconnected (2 here)"}},
		{"too slow", presence(chatpb.PresenceKind_PRESENCE_KIND_LEFT, chatpb.LeaveReason_LEAVE_REASON_TOO_SLOW), false,
			[]string{"[lobby] * bob was too slow and got disconnected (2 here)"}},
		{"members", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Members{Members: &chatpb.Members{Room: "lobby", Nicks: []string{"a", "b"}}}}, false,
			[]string{"[lobby] * here: a, b"}},
		{"you left", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Left{Left: &chatpb.Left{Room: "lobby"}}}, false, []string{"[lobby] * you left"}},
		{"unknown", &chatpb.ServerEvent{}, false, []string{"* (an event this client does not know)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := member.Format(tt.ev, tt.stamps); !slices.Equal(got, tt.want) {
				t.Errorf("Format = %q, want %q", got, tt.want)
			}
		})
	}
	if got := member.FormatEnd(nil); got != "* conversation over (OK)" {
		t.Errorf("FormatEnd(nil) = %q", got)
	}
	if got := member.FormatEnd(wire.NewError(wire.Unavailable, "bye")); got != "* disconnected: UNAVAILABLE: bye" {
		t.Errorf("FormatEnd(UNAVAILABLE) = %q", got)
	}
	if got := member.FormatRooms(&chatpb.ListRoomsResponse{}); got != "* no rooms yet" {
		t.Errorf("FormatRooms(empty) = %q", got)
	}
}

func presence(kind chatpb.PresenceKind, reason chatpb.LeaveReason) *chatpb.ServerEvent {
	return &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Presence{Presence: &chatpb.Presence{
		Room: "lobby", Nick: "bob", Kind: kind, Reason: reason, Members: 2,
	}}}
}

// serve runs a chat server on loopback until the test ends.
func serve(t *testing.T) string {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	srv := server.New(server.Config{Logger: quiet}, runtime.WithLogger(quiet))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return l.Addr().String()
}

// A scripted member: commands, a usage error that does not end the
// session, /wait, and the end of the script quitting with OK.
func TestRunScript(t *testing.T) {
	addr := serve(t)
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := member.Run(ctx, member.Config{
		Addr: addr, Name: "ann", Room: "lobby", Out: &out, Prefix: "ann | ",
		Script: []string{"/wait you joined", "hello", "/wait <ann> hello", "/who", "/wait here:", "/rooms", "/frobnicate", "/sleep 1ms", "/history", "/join", "  "},
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	want := []string{
		"ann | [lobby] * you joined as ann; here: ann",
		"ann | [lobby] <ann> hello",
		"ann | [lobby] * here: ann",
		"ann | * rooms: lobby (1 here)",
		"ann | * usage: " + member.Help,
		"ann | [lobby] * 1 recent messages",
		"ann | [lobby] (history) <ann> hello",
		"ann | * usage: /join ROOM",
		"ann | * conversation over (OK)",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Equal(got, want) {
		t.Errorf("Run printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Typos and lines the server would refuse, which end a conversation
// there, are caught by the client: it says why and the session goes on,
// as the web page's guards do. A room is lower-cased, as on the page.
func TestRunScriptTypos(t *testing.T) {
	addr := serve(t)
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := member.Run(ctx, member.Config{
		Addr: addr, Name: "ann", Room: "lobby", Out: &out, Prefix: "ann | ",
		Script: []string{"/wait you joined", "/join Lobby", "/join the lobby", strings.Repeat("x", server.DefaultMaxText+1), "tab\there", "still here", "/wait <ann> still here", "/join Random", "/wait you joined"},
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	want := []string{
		"ann | [lobby] * you joined as ann; here: ann",
		"ann | * you are already in lobby",
		`ann | * not sent: invalid room name "the lobby": use 1 to 32 characters from a-z, 0-9, '-' and '_', starting with a letter or digit`,
		"ann | * not sent: message too long: 1025 bytes, the limit is 1024",
		"ann | * not sent: message contains control characters: send one line at a time",
		"ann | [lobby] <ann> still here",
		"ann | [lobby] * you left",
		"ann | [random] * you joined as ann; here: ann",
		"ann | * conversation over (OK)",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Equal(got, want) {
		t.Errorf("Run printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A status that ends the conversation is printed and returned.
func TestRunRejected(t *testing.T) {
	addr := serve(t)
	var out strings.Builder
	err := member.Run(context.Background(), member.Config{
		Addr: addr, Name: "bad nick", Room: "lobby", Out: &out, Script: []string{"/wait never"},
	})
	if wire.CodeOf(err) != wire.InvalidArgument {
		t.Fatalf("Run = %v, want INVALID_ARGUMENT", err)
	}
	if !strings.Contains(out.String(), `* disconnected: INVALID_ARGUMENT: invalid nick "bad nick"`) {
		t.Errorf("Run printed %q", out.String())
	}
}

// Cancelling Run's context ends it promptly.
func TestRunCancelled(t *testing.T) {
	addr := serve(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- member.Run(ctx, member.Config{Addr: addr, Name: "ann", Room: "lobby", Out: &out, Script: []string{"/sleep 1h"}})
	}()
	cancel()
	select {
	case err := <-done:
		// Cancelled before or after the call started.
		if !errors.Is(err, context.Canceled) && wire.CodeOf(err) != wire.Canceled {
			t.Errorf("Run = %v, want context.Canceled or CANCELLED", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
