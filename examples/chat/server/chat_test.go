package server_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	chatclient "github.com/parleyrpc/parley/examples/chat/member"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return ctx
}

// mustJoin joins room and returns the Joined event, which must come first.
func (m *member) mustJoin(room string) *chatpb.Joined {
	m.t.Helper()
	m.join(room)
	j := joinedOf(m.read())
	if j == nil || j.Room != room || j.Nick != m.nick {
		m.t.Fatalf("%s: first event after joining %s is not its Joined: %v", m.nick, room, j)
	}
	return j
}

// mustMessage reads the next event, which must be nick's message text.
func (m *member) mustMessage(room, nick, text string) *chatpb.ChatMessage {
	m.t.Helper()
	ev := m.read()
	msg := messageOf(ev)
	if msg == nil || msg.Room != room || msg.Nick != nick || msg.Text != text || msg.SentAt.IsZero() {
		m.t.Fatalf("%s: got %+v, want %s's message %q in %s", m.nick, ev.Event, nick, text, room)
	}
	return msg
}

// mustPresence reads the next event, which must be nick's presence change.
func (m *member) mustPresence(room, nick string, kind chatpb.PresenceKind, reason chatpb.LeaveReason, members uint32) {
	m.t.Helper()
	ev := m.read()
	p := presenceOf(ev)
	if p == nil || p.Room != room || p.Nick != nick || p.Kind != kind || p.Reason != reason || p.Members != members || p.At.IsZero() {
		m.t.Fatalf("%s: got %+v, want %s %v (%v) in %s with %d members", m.nick, ev.Event, nick, kind, reason, room, members)
	}
}

func listRooms(t *testing.T, c *conn) map[string]uint32 {
	t.Helper()
	res, err := c.ListRooms(ctxT(t), &chatpb.ListRoomsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint32{}
	names := []string{}
	for _, r := range res.Rooms {
		got[r.Name] = r.Members
		names = append(names, r.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("ListRooms not sorted: %v", names)
	}
	return got
}

func texts(msgs []*chatpb.ChatMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Nick + ": " + m.Text
	}
	return out
}

const (
	joined = chatpb.PresenceKind_PRESENCE_KIND_JOINED
	left   = chatpb.PresenceKind_PRESENCE_KIND_LEFT

	noReason     = chatpb.LeaveReason_LEAVE_REASON_UNSPECIFIED
	byChoice     = chatpb.LeaveReason_LEAVE_REASON_LEFT
	disconnected = chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED
	tooSlow      = chatpb.LeaveReason_LEAVE_REASON_TOO_SLOW
)

// Several members in two rooms: presence, messages stay in their room,
// history replayed on join, who, leave, ListRooms and History.
func TestTwoRooms(t *testing.T) {
	ts := start(t, server.Config{IdleGrace: time.Hour})
	admin := dial(t, ts.addr)
	if got := listRooms(t, admin); len(got) != 0 {
		t.Fatalf("rooms before anyone joined: %v", got)
	}

	alice := open(t, dial(t, ts.addr), "alice")
	if j := alice.mustJoin("lobby"); !slices.Equal(j.Members, []string{"alice"}) || len(j.History) != 0 {
		t.Fatalf("alice's Joined: %+v", j)
	}
	bob := open(t, dial(t, ts.addr), "bob")
	if j := bob.mustJoin("lobby"); !slices.Equal(j.Members, []string{"alice", "bob"}) {
		t.Fatalf("bob's Joined: %+v", j)
	}
	alice.mustPresence("lobby", "bob", joined, noReason, 2)
	carol := open(t, dial(t, ts.addr), "carol")
	carol.mustJoin("random")

	alice.say("hi bob")
	m1 := alice.mustMessage("lobby", "alice", "hi bob")
	bob.mustMessage("lobby", "alice", "hi bob")
	bob.say("hey alice")
	bob.mustMessage("lobby", "bob", "hey alice")
	m2 := alice.mustMessage("lobby", "bob", "hey alice")
	if m1.Seq != 1 || m2.Seq != 2 {
		t.Errorf("seqs %d, %d; want 1, 2", m1.Seq, m2.Seq)
	}
	carol.say("anyone here?")
	if m := carol.mustMessage("random", "carol", "anyone here?"); m.Seq != 1 {
		t.Errorf("random's first seq = %d", m.Seq)
	}

	if got, want := listRooms(t, admin), map[string]uint32{"lobby": 2, "random": 1}; !mapsEqual(got, want) {
		t.Errorf("ListRooms = %v, want %v", got, want)
	}
	ctx := ctxT(t)
	h, err := admin.History(ctx, &chatpb.HistoryRequest{Room: "lobby"})
	if err != nil || !slices.Equal(texts(h.Messages), []string{"alice: hi bob", "bob: hey alice"}) {
		t.Errorf("History(lobby) = %v, %v", h, err)
	}
	h, err = admin.History(ctx, &chatpb.HistoryRequest{Room: "lobby", Limit: 1})
	if err != nil || !slices.Equal(texts(h.Messages), []string{"bob: hey alice"}) {
		t.Errorf("History(lobby, 1) = %v, %v", h, err)
	}

	// carol moves to the lobby: she leaves random, and the lobby's
	// history is replayed to her in her Joined.
	carol.join("lobby")
	if l := leftOf(carol.read()); l == nil || l.Room != "random" {
		t.Fatalf("carol's first event after /join lobby: %v, want Left{random}", l)
	}
	j := joinedOf(carol.read())
	if j == nil || !slices.Equal(j.Members, []string{"alice", "bob", "carol"}) ||
		!slices.Equal(texts(j.History), []string{"alice: hi bob", "bob: hey alice"}) {
		t.Fatalf("carol's Joined: %+v", j)
	}
	alice.mustPresence("lobby", "carol", joined, noReason, 3)
	bob.mustPresence("lobby", "carol", joined, noReason, 3)

	carol.who()
	if m := membersOf(carol.read()); m == nil || m.Room != "lobby" || !slices.Equal(m.Nicks, []string{"alice", "bob", "carol"}) {
		t.Fatalf("carol's Members: %+v", m)
	}
	if got, want := listRooms(t, admin), map[string]uint32{"lobby": 3, "random": 0}; !mapsEqual(got, want) {
		t.Errorf("ListRooms = %v, want %v (random lives on for its grace period)", got, want)
	}

	// bob leaves the room but stays connected; then half-closes: OK.
	bob.leave()
	if l := leftOf(bob.read()); l == nil || l.Room != "lobby" {
		t.Fatalf("bob's answer to Leave: %v", l)
	}
	alice.mustPresence("lobby", "bob", left, byChoice, 2)
	carol.mustPresence("lobby", "bob", left, byChoice, 2)
	if err := bob.call.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := bob.status(); err != nil {
		t.Errorf("bob's status after half-close = %v, want OK", err)
	}

	// alice half-closes while in the room: she leaves it, with OK.
	alice.call.CloseSend()
	if err := alice.status(); err != nil {
		t.Errorf("alice's status after half-close = %v, want OK", err)
	}
	carol.mustPresence("lobby", "alice", left, byChoice, 1)
	carol.say("alone now")
	carol.mustMessage("lobby", "carol", "alone now")
}

func mapsEqual(a, b map[string]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A member whose connection is cut mid-conversation leaves its room with
// LEAVE_REASON_DISCONNECTED; the room goes on.
func TestMemberKilled(t *testing.T) {
	ts := start(t, server.Config{})
	alice := open(t, dial(t, ts.addr), "alice")
	alice.mustJoin("lobby")
	bobConn := dial(t, ts.addr)
	bob := open(t, bobConn, "bob")
	bob.mustJoin("lobby")
	alice.mustPresence("lobby", "bob", joined, noReason, 2)
	carol := open(t, dial(t, ts.addr), "carol")
	carol.mustJoin("lobby")
	alice.mustPresence("lobby", "carol", joined, noReason, 3)
	bob.mustPresence("lobby", "carol", joined, noReason, 3)

	bob.say("I might crash")
	for _, m := range []*member{alice, bob, carol} {
		m.mustMessage("lobby", "bob", "I might crash")
	}
	bobConn.cut()

	alice.mustPresence("lobby", "bob", left, disconnected, 2)
	carol.mustPresence("lobby", "bob", left, disconnected, 2)
	if err := bob.status(); err == nil {
		t.Error("bob's call ended OK after its connection was cut")
	} else {
		t.Logf("bob sees: %v", err)
	}

	alice.say("still here?")
	alice.mustMessage("lobby", "alice", "still here?")
	carol.mustMessage("lobby", "alice", "still here?")
	if got := listRooms(t, dial(t, ts.addr)); got["lobby"] != 2 {
		t.Errorf("ListRooms = %v, want lobby with 2", got)
	}
}

// A member that stops reading is cut off with RESOURCE_EXHAUSTED once it
// stays behind (here at once: no grace); the others see it leave as too
// slow and never miss a message. backlog_test.go has the grace and the Gap.
func TestSlowMember(t *testing.T) {
	defer server.SetSlowPolicy(128<<10, 0)()
	ts := start(t, server.Config{MaxText: 16 << 10, SayRate: -1})
	alice := open(t, dial(t, ts.addr), "alice")
	alice.mustJoin("lobby")
	bob := open(t, dial(t, ts.addr), "bob")
	bob.mustJoin("lobby")
	alice.mustPresence("lobby", "bob", joined, noReason, 2)

	slow := openPaused(t, dial(t, ts.addr), "slow")
	slow.join("lobby")
	alice.mustPresence("lobby", "slow", joined, noReason, 3)
	bob.mustPresence("lobby", "slow", joined, noReason, 3)

	// alice talks until the room gives up on slow. That takes about what
	// fills slow's queue, its call's outbound mailbox, the HTTP/2 stream
	// window and its client's inbound mailbox: a hundred or so 16 KiB
	// messages. She waits for each message to reach her and bob before
	// the next, so that the members who read are never more than one
	// behind, however loaded the machine.
	big := strings.Repeat("x", 16<<10)
	wasTooSlow := isPresence("slow", left)
	said := 0
	for !bob.seen(wasTooSlow) {
		if said == 3000 {
			t.Fatalf("slow was not disconnected after %d messages; rooms: %v", said, listRooms(t, dial(t, ts.addr)))
		}
		alice.say(big)
		said++
		alice.skipTo(func(ev *chatpb.ServerEvent) bool { return messageOf(ev) != nil })
		n := uint64(said)
		bob.waitSeen(fmt.Sprintf("message %d", n), func(ev *chatpb.ServerEvent) bool {
			m := messageOf(ev)
			return m != nil && m.Seq == n || wasTooSlow(ev)
		})
	}
	t.Logf("slow was disconnected after %d messages", said)
	alice.say("after")

	// bob, who kept reading, got every message in order, and saw slow go.
	var seq uint64
	for {
		ev := bob.read()
		if p := presenceOf(ev); p != nil {
			if p.Nick != "slow" || p.Kind != left || p.Reason != tooSlow || p.Members != 2 {
				t.Fatalf("bob saw %+v", p)
			}
			continue
		}
		m := messageOf(ev)
		if m == nil || m.Seq != seq+1 {
			t.Fatalf("bob got %+v after seq %d", ev.Event, seq)
		}
		seq = m.Seq
		if m.Text == "after" {
			break
		}
	}
	if seq != uint64(said+1) {
		t.Errorf("bob got %d messages, alice said %d", seq, said+1)
	}

	// slow, reading again, gets what was queued for it and then the status.
	slow.collect()
	err := slow.status()
	wantCode(t, err, wire.ResourceExhausted)
	if !strings.Contains(err.Error(), "too slow") {
		t.Errorf("slow's status %q does not say why", err)
	}
	if got := listRooms(t, dial(t, ts.addr)); got["lobby"] != 2 {
		t.Errorf("ListRooms = %v, want lobby with 2", got)
	}
}

// Events the server refuses end the conversation with a clear status.
func TestRejected(t *testing.T) {
	ts := start(t, server.Config{})
	c := dial(t, ts.addr)
	join := func(room, nick string) *chatpb.ClientEvent {
		return &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: room, Nick: nick}}}
	}
	say := func(text string) *chatpb.ClientEvent {
		return &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: text}}}
	}
	tests := []struct {
		name      string
		joinFirst bool
		ev        *chatpb.ClientEvent
		code      wire.Code
		says      string // in the status message
	}{
		{"empty event", false, &chatpb.ClientEvent{}, wire.InvalidArgument, "got a message with no kind (set one of its cases)"},
		{"say before join", false, say("hi"), wire.FailedPrecondition, "parley.chat.v1.Chat/Converse: got say, want join or half-close (before the first message)"},
		{"who before join", false, &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Who{Who: &chatpb.Who{}}}, wire.FailedPrecondition, "got who, want join or half-close (before the first message)"},
		{"leave before join", false, &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Leave{Leave: &chatpb.Leave{}}}, wire.FailedPrecondition, "got leave, want join or half-close (before the first message)"},
		{"join without fields", false, &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{}}}, wire.InvalidArgument, "invalid room name"},
		{"uppercase room", false, join("Lobby", "x"), wire.InvalidArgument, "invalid room name"},
		{"room with space", false, join("the lobby", "x"), wire.InvalidArgument, "invalid room name"},
		{"room too long", false, join(strings.Repeat("r", 33), "x"), wire.InvalidArgument, "invalid room name"},
		{"room starting with -", false, join("-x", "x"), wire.InvalidArgument, "invalid room name"},
		{"huge room", false, join(strings.Repeat("r", 1<<20), "x"), wire.InvalidArgument, `invalid room name "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"... (1048576 bytes)`},
		{"empty nick", false, join("lobby", ""), wire.InvalidArgument, "invalid nick"},
		{"nick with space", false, join("lobby", "al ice"), wire.InvalidArgument, "invalid nick"},
		{"nick too long", false, join("lobby", strings.Repeat("n", 25)), wire.InvalidArgument, "invalid nick"},
		{"huge nick", false, join("lobby", strings.Repeat("\x01", 1<<20)), wire.InvalidArgument, "invalid nick"},
		{"empty text", true, say(""), wire.InvalidArgument, "empty message"},
		{"blank text", true, say(" \t "), wire.InvalidArgument, "empty message"},
		{"oversized text", true, say(strings.Repeat("y", server.DefaultMaxText+1)), wire.InvalidArgument, "too long"},
		{"two lines", true, say("a\nb"), wire.InvalidArgument, "control characters"},
		{"escape sequence", true, say("a\x1b[2Jb"), wire.InvalidArgument, "control characters"},
		{"C1 escape sequence", true, say("a\u009b2Jb"), wire.InvalidArgument, "control characters"},
		{"next line", true, say("a\u0085b"), wire.InvalidArgument, "control characters"},
		{"line separator", true, say("a\u2028b"), wire.InvalidArgument, "control characters"},
		{"paragraph separator", true, say("a\u2029b"), wire.InvalidArgument, "control characters"},
		{"invalid UTF-8", true, say("\xff"), wire.InvalidArgument, "UTF-8"},
		{"join the same room again", true, join("lobby", "again"), wire.FailedPrecondition, "already in room"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := open(t, c, "m"+strings.Repeat("x", i%3)+string(rune('a'+i)))
			if tt.joinFirst {
				m.mustJoin("lobby")
			}
			m.send(tt.ev)
			err := m.status()
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("status %.300q does not say %q", err, tt.says)
			}
			if len(err.Error()) > 512 {
				t.Errorf("status of %d bytes: %.300q...", len(err.Error()), err)
			}
		})
	}
	// A text of exactly the limit is fine.
	m := open(t, c, "edge")
	m.mustJoin("lobby")
	m.say(strings.Repeat("z", server.DefaultMaxText))
	m.skipTo(func(ev *chatpb.ServerEvent) bool { mm := messageOf(ev); return mm != nil && mm.Nick == "edge" })

	ctx := ctxT(t)
	_, err := c.History(ctx, &chatpb.HistoryRequest{Room: "No Such Room"})
	wantCode(t, err, wire.InvalidArgument)
	_, err = c.History(ctx, &chatpb.HistoryRequest{Room: "nowhere"})
	wantCode(t, err, wire.NotFound)
	_, err = c.History(ctx, &chatpb.HistoryRequest{Room: strings.Repeat("é", 1<<19)})
	wantCode(t, err, wire.InvalidArgument)
}

// A nick is unique within a room: a second alice is refused with
// ALREADY_EXISTS, without disturbing the first; another room is fine, and
// the nick is free again once the first alice has left.
func TestNickCollision(t *testing.T) {
	ts := start(t, server.Config{})
	c := dial(t, ts.addr)
	alice := open(t, c, "alice")
	alice.mustJoin("lobby")

	twin := open(t, dial(t, ts.addr), "alice")
	twin.join("lobby")
	err := twin.status()
	wantCode(t, err, wire.AlreadyExists)
	if !strings.Contains(err.Error(), `nick "alice" is already in room "lobby"`) {
		t.Errorf("status %q", err)
	}

	alice.say("still the only alice")
	alice.mustMessage("lobby", "alice", "still the only alice")

	elsewhere := open(t, c, "alice")
	elsewhere.mustJoin("random")

	alice.leave()
	if leftOf(alice.read()) == nil {
		t.Fatal("no Left")
	}
	again := open(t, c, "alice")
	if j := again.mustJoin("lobby"); !slices.Equal(j.Members, []string{"alice"}) || len(j.History) != 1 {
		t.Errorf("second alice's Joined: %+v", j)
	}
}

// Shutdown with members connected: every conversation ends with
// UNAVAILABLE, and the terminal client prints it.
func TestShutdown(t *testing.T) {
	ts := start(t, server.Config{})
	alice := open(t, dial(t, ts.addr), "alice")
	alice.mustJoin("lobby")

	inR, inW := io.Pipe()
	defer inW.Close()
	var out syncBuffer
	ran := make(chan error, 1)
	go func() {
		ran <- chatclient.Run(context.Background(), chatclient.Config{Addr: ts.addr, Name: "bob", Room: "lobby", In: inR, Out: &out, Prefix: "bob | "})
	}()
	alice.mustPresence("lobby", "bob", joined, noReason, 2)
	io.WriteString(inW, "hello before the end\n")
	alice.mustMessage("lobby", "bob", "hello before the end")
	// Bob's own copy travels separately from alice's; wait for it, or the
	// shutdown may drop it from his queue (which the README allows).
	for deadline := time.Now().Add(patience); !strings.Contains(out.String(), "<bob> hello before the end"); {
		if time.Now().After(deadline) {
			t.Fatalf("bob never saw his own message; he printed\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}

	ts.shutdown(t)

	err := alice.status()
	wantCode(t, err, wire.Unavailable)
	if !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("alice's status %q", err)
	}
	select {
	case err := <-ran:
		wantCode(t, err, wire.Unavailable)
	case <-time.After(patience):
		t.Fatal("the client did not return after the shutdown")
	}
	inW.Close()
	want := []string{
		"bob | [lobby] * you joined as bob; here: alice, bob",
		"bob | [lobby] <bob> hello before the end",
		"bob | * disconnected: UNAVAILABLE: chat server is shutting down",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Equal(got, want) {
		t.Errorf("the client printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// New conversations are refused.
	late := open(t, dial(t, ts.addr), "late")
	late.call.Send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: "lobby", Nick: "late"}}})
	wantCode(t, late.status(), wire.Unavailable)
}

// An empty room stops after its grace period (at once with a negative
// one) and its history goes with it; within the grace period it keeps its
// history.
func TestIdleRoom(t *testing.T) {
	t.Run("stop at once", func(t *testing.T) {
		ts := start(t, server.Config{IdleGrace: -1})
		c := dial(t, ts.addr)
		m := open(t, c, "ann")
		m.mustJoin("tmp")
		m.say("hello")
		m.mustMessage("tmp", "ann", "hello")
		m.leave()
		if leftOf(m.read()) == nil {
			t.Fatal("no Left")
		}
		if got := listRooms(t, c); len(got) != 0 {
			t.Errorf("ListRooms = %v after the last member left", got)
		}
		_, err := c.History(ctxT(t), &chatpb.HistoryRequest{Room: "tmp"})
		wantCode(t, err, wire.NotFound)
		if j := m.mustJoin("tmp"); len(j.History) != 0 {
			t.Errorf("a new room has history %v", j.History)
		}
	})
	t.Run("grace period", func(t *testing.T) {
		ts := start(t, server.Config{IdleGrace: 50 * time.Millisecond})
		c := dial(t, ts.addr)
		m := open(t, c, "ann")
		m.mustJoin("tmp")
		m.leave()
		if leftOf(m.read()) == nil {
			t.Fatal("no Left")
		}
		eventually(t, "the idle room to stop", func() bool { return len(listRooms(t, c)) == 0 })
	})
	t.Run("rejoin within the grace period", func(t *testing.T) {
		ts := start(t, server.Config{IdleGrace: time.Hour})
		c := dial(t, ts.addr)
		m := open(t, c, "ann")
		m.mustJoin("tmp")
		m.say("remember me")
		m.mustMessage("tmp", "ann", "remember me")
		m.leave()
		if leftOf(m.read()) == nil {
			t.Fatal("no Left")
		}
		if got := listRooms(t, c); got["tmp"] != 0 || len(got) != 1 {
			t.Errorf("ListRooms = %v", got)
		}
		if j := m.mustJoin("tmp"); !slices.Equal(texts(j.History), []string{"ann: remember me"}) {
			t.Errorf("history after rejoining: %v", texts(j.History))
		}
	})
}

// A member hopping from room to room creates a room with every join, and
// each lives on for its idle grace: the server holds at most MaxRooms.
// A join that would create one more ends with RESOURCE_EXHAUSTED, joins
// to existing rooms go on, and a room that has stopped frees its place.
func TestRoomLimit(t *testing.T) {
	t.Run("idle rooms count", func(t *testing.T) {
		ts := start(t, server.Config{MaxRooms: 3, IdleGrace: time.Hour})
		c := dial(t, ts.addr)
		hopper := open(t, c, "hopper")
		for i := range 3 {
			hopper.mustJoin(fmt.Sprintf("r%d", i))
			hopper.leave()
			hopper.skipTo(func(ev *chatpb.ServerEvent) bool { return leftOf(ev) != nil })
		}
		hopper.join("r3")
		err := hopper.status()
		wantCode(t, err, wire.ResourceExhausted)
		if !strings.Contains(err.Error(), `cannot create room "r3": the server holds its limit of 3 rooms`) {
			t.Errorf("status %q", err)
		}
		if got := listRooms(t, c); !mapsEqual(got, map[string]uint32{"r0": 0, "r1": 0, "r2": 0}) {
			t.Errorf("ListRooms = %v", got)
		}
		ann := open(t, c, "ann")
		ann.mustJoin("r1")
		ann.say("the rooms that exist still work")
		ann.mustMessage("r1", "ann", "the rooms that exist still work")
	})
	t.Run("stopped rooms free their place", func(t *testing.T) {
		ts := start(t, server.Config{MaxRooms: 3, IdleGrace: -1})
		c := dial(t, ts.addr)
		hopper := open(t, c, "hopper")
		for i := range 10 {
			room := fmt.Sprintf("r%d", i)
			hopper.mustJoin(room)
			hopper.leave()
			if l := leftOf(hopper.skipTo(func(ev *chatpb.ServerEvent) bool { return leftOf(ev) != nil })); l.Room != room {
				t.Fatalf("left %q, want %q", l.Room, room)
			}
		}
	})
}

// Joins are paced as says are: each join (and the leave of the room it
// switches from) makes presence events for a whole room, so a member
// flapping between two rooms would otherwise flood both faster than any
// talker may. 30 joins at 10 a second, after a burst of 10, take 2 s.
func TestJoinsArePaced(t *testing.T) {
	ts := start(t, server.Config{SayRate: 10})
	c := dial(t, ts.addr)
	obs := open(t, c, "obs")
	obs.mustJoin("lobby")
	flap := open(t, c, "flap")
	began := time.Now()
	for i := range 30 {
		flap.join([]string{"lobby", "other"}[i%2])
	}
	flap.who()
	if m := membersOf(flap.skipTo(func(ev *chatpb.ServerEvent) bool { return membersOf(ev) != nil })); m.Room != "other" {
		t.Fatalf("flap is in %q after its joins, want other", m.Room)
	}
	if d := time.Since(began); d < 1500*time.Millisecond {
		t.Errorf("30 joins took %v, want about 2s at 10 a second", d)
	}
	obs.say("still here")
	obs.skipTo(func(ev *chatpb.ServerEvent) bool { m := messageOf(ev); return m != nil && m.Text == "still here" })
}

// syncBuffer is a strings.Builder safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// futureEvent is a ClientEvent from a newer client: fields this server
// does not know must be skipped, not refused (nor crash the decoder).
type futureEvent struct {
	Join *futureJoin `msgpack:"join,omitempty"`
	Say  *futureSay  `msgpack:"say,omitempty"`
	Poke string      `msgpack:"poke_everyone_in_the_room,omitempty"`
}

type futureJoin struct {
	Room   string `msgpack:"room"`
	Nick   string `msgpack:"nick"`
	Avatar []byte `msgpack:"avatar_png_bytes"`
}

type futureSay struct {
	Text string `msgpack:"text"`
	Mood string `msgpack:"mood_of_the_speaker"`
}

// Unknown keys, as a newer client would send them, are ignored.
func TestForwardCompatible(t *testing.T) {
	ts := start(t, server.Config{})
	client, err := runtime.Dial(ts.addr, runtime.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	call, err := runtime.Open[futureEvent, chatpb.ServerEvent](ctxT(t), client, chatpb.Chat_Converse_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Cancel()
	call.Send(&futureEvent{Join: &futureJoin{Room: "lobby", Nick: "neo", Avatar: []byte{1, 2}}, Poke: ""})
	call.Send(&futureEvent{Say: &futureSay{Text: "from the future", Mood: "curious"}})
	for {
		ev, err := call.Recv()
		if err != nil {
			t.Fatalf("status %v before the message came back", err)
		}
		if m := messageOf(ev); m != nil {
			if m.Text != "from the future" || m.Nick != "neo" {
				t.Fatalf("message %+v", m)
			}
			break
		}
	}
	call.CloseSend()
	if _, err := call.Recv(); err != io.EOF {
		t.Errorf("after half-close: %v, want io.EOF (OK)", err)
	}
}

// TestSayThenHangUp: a member who says something and half-closes at once
// still gets its own echo before the call ends OK (the room drains its
// queue on a voluntary leave).
func TestSayThenHangUp(t *testing.T) {
	ts := start(t, server.Config{})
	c := dial(t, ts.addr)
	for i := range 20 {
		nick := fmt.Sprintf("quick%d", i)
		m := open(t, c, nick)
		m.mustJoin("lobby")
		m.say("bye now")
		if err := m.call.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := m.status(); err != nil {
			t.Fatalf("%s: status %v, want OK", nick, err)
		}
		m.mustMessage("lobby", nick, "bye now")
	}
}

// Out of a room (after leave) the protocol allows only join or the
// half-close: a say there ends the call with FAILED_PRECONDITION from the
// protocol, and the room the member left does not hear it.
func TestSayAfterLeave(t *testing.T) {
	ts := start(t, server.Config{})
	c := dial(t, ts.addr)
	bob := open(t, c, "bob")
	bob.mustJoin("lobby")
	alice := open(t, c, "alice")
	alice.mustJoin("lobby")
	alice.leave()
	alice.skipTo(func(ev *chatpb.ServerEvent) bool { return leftOf(ev) != nil })
	alice.say("anyone?")
	err := alice.status()
	wantCode(t, err, wire.FailedPrecondition)
	if !strings.Contains(err.Error(), "parley.chat.v1.Chat/Converse: got say, want join or half-close (after client join, client leave, server joined)") {
		t.Errorf("status %q", err)
	}
	bob.say("still here")
	bob.skipTo(func(ev *chatpb.ServerEvent) bool {
		m := messageOf(ev)
		if m != nil && m.Text == "anyone?" {
			t.Error("the room heard a say out of protocol")
		}
		return m != nil && m.Text == "still here"
	})
}

// With Unchecked, Converse's protocol is not checked: an event out of
// order reaches the conversation, whose own guard ends the call, with
// INTERNAL where the checked server says FAILED_PRECONDITION; in order,
// the unchecked server chats as the checked one does.
func TestUnchecked(t *testing.T) {
	for _, unchecked := range []bool{false, true} {
		ts := start(t, server.Config{Unchecked: unchecked})
		c := dial(t, ts.addr)
		m := open(t, c, "early")
		m.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "hi"}}})
		want, says := wire.FailedPrecondition, "got say, want join or half-close (before the first message)"
		if unchecked {
			want, says = wire.Internal, "say outside a room passed the protocol check"
		}
		err := m.status()
		wantCode(t, err, want)
		if !strings.Contains(err.Error(), says) {
			t.Errorf("unchecked %v: status %q does not say %q", unchecked, err, says)
		}
		alice := open(t, c, "alice")
		alice.mustJoin("lobby")
		alice.say("hello")
		alice.skipTo(func(ev *chatpb.ServerEvent) bool { mm := messageOf(ev); return mm != nil && mm.Text == "hello" })
	}
}

// An event the server cannot decode (a case of the wrong type, two cases
// at once), also sent with the first events, ends the call with INTERNAL,
// as for any gRPC call, and the room goes on.
func TestUndecodableEvent(t *testing.T) {
	ts := start(t, server.Config{})
	c := dial(t, ts.addr)
	ann := open(t, c, "ann")
	ann.mustJoin("lobby")
	for _, evs := range [][]map[string]any{
		{{"join": "lobby"}},
		{{"join": map[string]any{"room": "lobby", "nick": "bo"}}, {"say": []int{1}}},
	} {
		call, err := runtime.Open[map[string]any, chatpb.ServerEvent](ctxT(t), c.raw, chatpb.Chat_Converse_FullMethodName)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			call.Send(&ev)
		}
		for range 10 {
			if _, err = call.Recv(); err != nil {
				break
			}
		}
		wantCode(t, err, wire.Internal)
		if !strings.Contains(err.Error(), "failed to unmarshal") {
			t.Errorf("status %q", err)
		}
	}
	ann.say("still fine")
	ann.skipTo(func(ev *chatpb.ServerEvent) bool { m := messageOf(ev); return m != nil && m.Text == "still fine" })
}
