package interop

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
)

// The chat protocol as examples/chat/README.md documents it ("The
// protocol, for any gRPC client"), written from the README alone: the
// method names, and the messages as msgpack maps keyed by field name.
// Nothing below comes from chat.proto or the generated chatpb; client
// events are built as plain maps, server events are decoded into structs
// whose msgpack tags are the README's keys.
const (
	chatConverse  = "/parley.chat.v1.Chat/Converse"
	chatListRooms = "/parley.chat.v1.Chat/ListRooms"
	chatHistory   = "/parley.chat.v1.Chat/History"
)

// converseDesc describes Converse to grpc-go: bidirectional streaming.
var converseDesc = &grpc.StreamDesc{StreamName: "Converse", ServerStreams: true, ClientStreams: true}

// PresenceKind and LeaveReason numbers, from the README.
const (
	presenceJoined = 1
	presenceLeft   = 2

	reasonNone = 0
	reasonLeft = 1
)

// chatServerEvent is the README's ServerEvent: exactly one of its fields
// is set.
type chatServerEvent struct {
	Joined   *chatJoined   `msgpack:"joined"`
	Message  *chatMessage  `msgpack:"message"`
	Presence *chatPresence `msgpack:"presence"`
	Members  *chatMembers  `msgpack:"members"`
	Left     *chatLeft     `msgpack:"left"`
}

type chatJoined struct {
	Room    string        `msgpack:"room"`
	Nick    string        `msgpack:"nick"`
	Members []string      `msgpack:"members"`
	History []chatMessage `msgpack:"history"`
}

type chatMessage struct {
	Room   string    `msgpack:"room"`
	Seq    uint64    `msgpack:"seq"`
	Nick   string    `msgpack:"nick"`
	Text   string    `msgpack:"text"`
	SentAt time.Time `msgpack:"sent_at"`
}

type chatPresence struct {
	Room    string    `msgpack:"room"`
	Nick    string    `msgpack:"nick"`
	Kind    int       `msgpack:"kind"`
	Reason  int       `msgpack:"reason"`
	At      time.Time `msgpack:"at"`
	Members uint32    `msgpack:"members"`
}

type chatMembers struct {
	Room  string   `msgpack:"room"`
	Nicks []string `msgpack:"nicks"`
}

type chatLeft struct {
	Room string `msgpack:"room"`
}

type chatListRoomsResponse struct {
	Rooms []chatRoom `msgpack:"rooms"`
}

type chatRoom struct {
	Name    string `msgpack:"name"`
	Members uint32 `msgpack:"members"`
}

type chatHistoryResponse struct {
	Room     string        `msgpack:"room"`
	Messages []chatMessage `msgpack:"messages"`
}

// cases returns which of the README's ServerEvent cases are set.
func (ev *chatServerEvent) cases() []string {
	var set []string
	for name, on := range map[string]bool{
		"joined": ev.Joined != nil, "message": ev.Message != nil, "presence": ev.Presence != nil,
		"members": ev.Members != nil, "left": ev.Left != nil,
	} {
		if on {
			set = append(set, name)
		}
	}
	slices.Sort(set)
	return set
}

// grpcMember is a chat member on a stock grpc-go client: one Converse
// stream on its own ClientConn.
type grpcMember struct {
	t      *testing.T
	nick   string
	cc     *grpc.ClientConn
	stream grpc.ClientStream
}

// joinChatGRPC connects a grpc-go client to addr exactly as the README
// says (a codec named msgpack, grpc.CallContentSubtype("msgpack")) and
// opens Converse.
func joinChatGRPC(ctx context.Context, t *testing.T, addr, nick string) *grpcMember {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(CodecName)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	stream, err := cc.NewStream(ctx, converseDesc, chatConverse)
	if err != nil {
		t.Fatalf("%s: Converse: %v", nick, err)
	}
	return &grpcMember{t: t, nick: nick, cc: cc, stream: stream}
}

// send sends one client event, a plain map as the README writes it.
func (m *grpcMember) send(ev map[string]any) {
	m.t.Helper()
	if err := m.stream.SendMsg(ev); err != nil {
		m.t.Fatalf("%s: send %v: %v", m.nick, ev, err)
	}
}

// recv receives one server event and checks that exactly one case is set.
func (m *grpcMember) recv() *chatServerEvent {
	m.t.Helper()
	ev := new(chatServerEvent)
	if err := m.stream.RecvMsg(ev); err != nil {
		m.t.Fatalf("%s: recv: %v", m.nick, err)
	}
	if set := ev.cases(); len(set) != 1 {
		m.t.Fatalf("%s: a ServerEvent with cases %v, want exactly one", m.nick, set)
	}
	return ev
}

// expectPresence receives a presence event and checks it.
func (m *grpcMember) expectPresence(room, nick string, kind, reason int, members uint32) {
	m.t.Helper()
	ev := m.recv()
	p := ev.Presence
	if p == nil {
		m.t.Fatalf("%s: got %v, want presence of %s", m.nick, ev.cases(), nick)
	}
	if p.Room != room || p.Nick != nick || p.Kind != kind || p.Reason != reason || p.Members != members {
		m.t.Fatalf("%s: presence %+v, want room %s nick %s kind %d reason %d members %d", m.nick, *p, room, nick, kind, reason, members)
	}
	checkTime(m.t, "presence.at", p.At)
}

// expectMessage receives a chat message and checks it.
func (m *grpcMember) expectMessage(room string, seq uint64, nick, text string) chatMessage {
	m.t.Helper()
	ev := m.recv()
	if ev.Message == nil {
		m.t.Fatalf("%s: got %v, want message %d", m.nick, ev.cases(), seq)
	}
	checkMessage(m.t, *ev.Message, room, seq, nick, text)
	return *ev.Message
}

// hangUp half-closes the conversation and expects it to end with OK.
func (m *grpcMember) hangUp() {
	m.t.Helper()
	if err := m.stream.CloseSend(); err != nil {
		m.t.Fatalf("%s: CloseSend: %v", m.nick, err)
	}
	if err := m.stream.RecvMsg(new(chatServerEvent)); err != io.EOF {
		m.t.Fatalf("%s: after half-closing: %v, want the end of the stream with OK", m.nick, err)
	}
}

func checkMessage(t *testing.T, got chatMessage, room string, seq uint64, nick, text string) {
	t.Helper()
	if got.Room != room || got.Seq != seq || got.Nick != nick || got.Text != text {
		t.Fatalf("message %+v, want room %s seq %d nick %s text %q", got, room, seq, nick, text)
	}
	checkTime(t, "message.sent_at", got.SentAt)
}

// checkTime checks that a timestamp decoded from msgpack's timestamp
// extension is recent.
func checkTime(t *testing.T, what string, at time.Time) {
	t.Helper()
	if now := time.Now(); at.Before(now.Add(-time.Minute)) || at.After(now.Add(time.Second)) {
		t.Fatalf("%s = %v, not a time of this test (now %v)", what, at, now)
	}
}

// startChat serves the chat example's server on 127.0.0.1 until the test
// ends.
func startChat(t *testing.T) string {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	srv := server.New(server.Config{Logger: quiet, IdleGrace: time.Minute}, runtime.WithLogger(quiet))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("chat Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("chat Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// TestGRPCChat proves examples/chat/README.md's claim that a grpc-go
// client with a msgpack codec can join the chat from the documented schema
// alone: two grpc-go members (ann and bob), built only from the README,
// and a parley member (carol, on the generated chatpb client) share a room
// on the parley chat server. They see each other join, talk, ask who is
// there, list rooms and read history with the unary calls, switch rooms,
// leave, and hang up with OK.
func TestGRPCChat(t *testing.T) {
	addr := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// ann (grpc-go) opens the lobby.
	ann := joinChatGRPC(ctx, t, addr, "ann")
	ann.send(map[string]any{"join": map[string]any{"room": "lobby", "nick": "ann"}})
	if ev := ann.recv(); ev.Joined == nil || ev.Joined.Room != "lobby" || ev.Joined.Nick != "ann" ||
		!slices.Equal(ev.Joined.Members, []string{"ann"}) || len(ev.Joined.History) != 0 {
		t.Fatalf("ann: first event %v %+v, want joined lobby as ann, members [ann], no history", ev.cases(), ev.Joined)
	}

	// bob (grpc-go) joins; ann sees him arrive.
	bob := joinChatGRPC(ctx, t, addr, "bob")
	bob.send(map[string]any{"join": map[string]any{"room": "lobby", "nick": "bob"}})
	if ev := bob.recv(); ev.Joined == nil || !slices.Equal(ev.Joined.Members, []string{"ann", "bob"}) {
		t.Fatalf("bob: first event %v %+v, want joined with members [ann bob]", ev.cases(), ev.Joined)
	}
	ann.expectPresence("lobby", "bob", presenceJoined, reasonNone, 2)

	// carol (parley, generated stubs) joins; both grpc-go members see her.
	pc, err := runtime.Dial(addr, runtime.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	chat := chatpb.NewChatClient(pc)
	carol, err := chat.Converse(ctx)
	if err != nil {
		t.Fatalf("carol: Converse: %v", err)
	}
	defer carol.Cancel()
	carolSend := func(ev *chatpb.ClientEvent) {
		t.Helper()
		if err := carol.Send(ev); err != nil {
			t.Fatalf("carol: send: %v", err)
		}
	}
	carolRecv := func() *chatpb.ServerEvent {
		t.Helper()
		ev, err := carol.Recv()
		if err != nil {
			t.Fatalf("carol: recv: %v", err)
		}
		return ev
	}
	carolMessage := func(seq uint64, nick, text string) {
		t.Helper()
		m, ok := carolRecv().Event.(*chatpb.ServerEvent_Message)
		if !ok {
			t.Fatalf("carol: want message %d", seq)
		}
		checkMessage(t, chatMessage{Room: m.Message.Room, Seq: m.Message.Seq, Nick: m.Message.Nick, Text: m.Message.Text, SentAt: m.Message.SentAt}, "lobby", seq, nick, text)
	}
	carolPresence := func(nick string, kind chatpb.PresenceKind, reason chatpb.LeaveReason, members uint32) {
		t.Helper()
		p, ok := carolRecv().Event.(*chatpb.ServerEvent_Presence)
		if !ok || p.Presence.Nick != nick || p.Presence.Kind != kind || p.Presence.Reason != reason || p.Presence.Members != members {
			t.Fatalf("carol: got %+v, want presence %s %v %v %d", p, nick, kind, reason, members)
		}
	}
	carolSend(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: "lobby", Nick: "carol"}}})
	if j, ok := carolRecv().Event.(*chatpb.ServerEvent_Joined); !ok || !slices.Equal(j.Joined.Members, []string{"ann", "bob", "carol"}) {
		t.Fatalf("carol: first event %+v, want joined with members [ann bob carol]", j)
	}
	ann.expectPresence("lobby", "carol", presenceJoined, reasonNone, 3)
	bob.expectPresence("lobby", "carol", presenceJoined, reasonNone, 3)

	// Everyone talks, each waiting for the echo before the next speaks, so
	// that the room's order is the order below. ann's Say carries a key
	// the README does not know: unknown keys are ignored.
	ann.send(map[string]any{"say": map[string]any{"text": "hello from grpc-go", "mood": "cheerful"}})
	for _, m := range []*grpcMember{ann, bob} {
		m.expectMessage("lobby", 1, "ann", "hello from grpc-go")
	}
	carolMessage(1, "ann", "hello from grpc-go")
	bob.send(map[string]any{"say": map[string]any{"text": "hi ann"}})
	for _, m := range []*grpcMember{bob, ann} {
		m.expectMessage("lobby", 2, "bob", "hi ann")
	}
	carolMessage(2, "bob", "hi ann")
	carolSend(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "parley here"}}})
	carolMessage(3, "carol", "parley here")
	for _, m := range []*grpcMember{ann, bob} {
		m.expectMessage("lobby", 3, "carol", "parley here")
	}

	// who: {"who": {}} is answered with members.
	bob.send(map[string]any{"who": map[string]any{}})
	if ev := bob.recv(); ev.Members == nil || ev.Members.Room != "lobby" || !slices.Equal(ev.Members.Nicks, []string{"ann", "bob", "carol"}) {
		t.Fatalf("bob: who answered with %v %+v, want members of lobby [ann bob carol]", ev.cases(), ev.Members)
	}

	// bob switches rooms: left, then joined; the others see him go.
	bob.send(map[string]any{"join": map[string]any{"room": "random", "nick": "bob"}})
	if ev := bob.recv(); ev.Left == nil || ev.Left.Room != "lobby" {
		t.Fatalf("bob: after join random: %v %+v, want left lobby", ev.cases(), ev.Left)
	}
	if ev := bob.recv(); ev.Joined == nil || ev.Joined.Room != "random" || !slices.Equal(ev.Joined.Members, []string{"bob"}) {
		t.Fatalf("bob: after left: %v %+v, want joined random alone", ev.cases(), ev.Joined)
	}
	ann.expectPresence("lobby", "bob", presenceLeft, reasonLeft, 2)
	carolPresence("bob", chatpb.PresenceKind_PRESENCE_KIND_LEFT, chatpb.LeaveReason_LEAVE_REASON_LEFT, 2)

	// The unary calls, on grpc-go with plain maps. limit is sent as a
	// fixed-width int32 (d2): integers may have any width.
	var rooms chatListRoomsResponse
	if err := ann.cc.Invoke(ctx, chatListRooms, map[string]any{}, &rooms); err != nil {
		t.Fatalf("ListRooms: %v", err)
	}
	if want := []chatRoom{{"lobby", 2}, {"random", 1}}; !slices.Equal(rooms.Rooms, want) {
		t.Fatalf("ListRooms: %+v, want %+v", rooms.Rooms, want)
	}
	var hist chatHistoryResponse
	if err := bob.cc.Invoke(ctx, chatHistory, map[string]any{"room": "lobby", "limit": int32(2)}, &hist); err != nil {
		t.Fatalf("History: %v", err)
	}
	if hist.Room != "lobby" || len(hist.Messages) != 2 {
		t.Fatalf("History(lobby, 2): %+v, want the last 2 messages of lobby", hist)
	}
	checkMessage(t, hist.Messages[0], "lobby", 2, "bob", "hi ann")
	checkMessage(t, hist.Messages[1], "lobby", 3, "carol", "parley here")
	hist = chatHistoryResponse{}
	if err := bob.cc.Invoke(ctx, chatHistory, map[string]any{"room": "lobby"}, &hist); err != nil || len(hist.Messages) != 3 {
		t.Fatalf("History(lobby): %+v, %v; want all 3 messages", hist, err)
	}
	err = bob.cc.Invoke(ctx, chatHistory, map[string]any{"room": "nowhere"}, new(chatHistoryResponse))
	if status.Code(err) != codes.NotFound {
		t.Fatalf("History(nowhere): %v, want NotFound", err)
	}
	err = bob.cc.Invoke(ctx, chatHistory, map[string]any{"room": "Not A Room"}, new(chatHistoryResponse))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("History(Not A Room): %v, want InvalidArgument", err)
	}

	// bob leaves random but stays connected, in no room. An empty room is
	// still listed for a while, with "members" absent, that is 0.
	bob.send(map[string]any{"leave": map[string]any{}})
	if ev := bob.recv(); ev.Left == nil || ev.Left.Room != "random" {
		t.Fatalf("bob: leave answered with %v %+v, want left random", ev.cases(), ev.Left)
	}
	rooms = chatListRoomsResponse{}
	if err := bob.cc.Invoke(ctx, chatListRooms, map[string]any{}, &rooms); err != nil {
		t.Fatalf("ListRooms: %v", err)
	}
	if want := []chatRoom{{"lobby", 2}, {"random", 0}}; !slices.Equal(rooms.Rooms, want) {
		t.Fatalf("ListRooms after bob left random: %+v, want %+v", rooms.Rooms, want)
	}

	// Hanging up: half-closing ends each call with OK, and the room sees
	// the member leave.
	ann.hangUp()
	carolPresence("ann", chatpb.PresenceKind_PRESENCE_KIND_LEFT, chatpb.LeaveReason_LEAVE_REASON_LEFT, 1)
	bob.hangUp()
	if err := carol.CloseSend(); err != nil {
		t.Fatalf("carol: CloseSend: %v", err)
	}
	if ev, err := carol.Recv(); err != io.EOF {
		t.Fatalf("carol: after half-closing: %v, %v; want the end of the stream with OK", ev, err)
	}
}

// TestGRPCChatOutOfProtocol: a stock grpc-go client, which knows nothing
// of Converse's declared protocol and sends whatever it is told, breaks
// the protocol in each way a client can; each time the parley chat server
// ends the call with the documented status and a message naming what it
// got, what the protocol wanted and where. (The chat's protocol lets a
// member half-close anywhere, so an early half-close is not among them;
// protocol's own tests cover it.)
func TestGRPCChatOutOfProtocol(t *testing.T) {
	addr := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	join := map[string]any{"join": map[string]any{"room": "lobby", "nick": "eve"}}
	tests := []struct {
		name  string
		sends []map[string]any // nil: wait for the next event
		code  codes.Code
		msg   string
	}{
		{"say before join", []map[string]any{{"say": map[string]any{"text": "hi"}}}, codes.FailedPrecondition,
			"parley.chat.v1.Chat/Converse: got say, want join or half-close (before the first message)"},
		{"who before join", []map[string]any{{"who": map[string]any{}}}, codes.FailedPrecondition,
			"parley.chat.v1.Chat/Converse: got who, want join or half-close (before the first message)"},
		{"leave before join", []map[string]any{{"leave": map[string]any{}}}, codes.FailedPrecondition,
			"parley.chat.v1.Chat/Converse: got leave, want join or half-close (before the first message)"},
		{"say after leave", []map[string]any{join, nil, {"leave": map[string]any{}}, nil, {"say": map[string]any{"text": "hi"}}}, codes.FailedPrecondition,
			"parley.chat.v1.Chat/Converse: got say, want join or half-close (after client join, client leave, server joined)"},
		{"leave twice", []map[string]any{join, nil, {"leave": map[string]any{}}, nil, {"leave": map[string]any{}}}, codes.FailedPrecondition,
			"parley.chat.v1.Chat/Converse: got leave, want join or half-close (after client join, client leave, server joined)"},
		{"an event with no case", []map[string]any{{}}, codes.InvalidArgument,
			"parley.chat.v1.Chat/Converse: got a message with no kind (set one of its cases), want join or half-close (before the first message)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := joinChatGRPC(ctx, t, addr, "eve")
			for _, ev := range tt.sends {
				if ev == nil {
					m.recv()
					continue
				}
				m.send(ev)
			}
			var err error
			for err == nil {
				err = m.stream.RecvMsg(new(chatServerEvent))
			}
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Errorf("status %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
	// Following the protocol after all that, a member still chats: the
	// server kept serving.
	m := joinChatGRPC(ctx, t, addr, "ann")
	m.send(map[string]any{"join": map[string]any{"room": "lobby", "nick": "ann"}})
	if ev := m.recv(); ev.Joined == nil {
		t.Fatalf("first event %v, want joined", ev.cases())
	}
	m.send(map[string]any{"say": map[string]any{"text": "still open"}})
	m.expectMessage("lobby", 1, "ann", "still open")
	m.hangUp()
}
