package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	chatserver "github.com/parleyrpc/parley/examples/chat/server"
)

// Chat server implementations, as given to -impl of the server subcommand.
const (
	implChatParley          = "chat-parley"           // examples/chat/server at its defaults
	implChatParleyUnchecked = "chat-parley-unchecked" // the same with Converse's protocol unchecked
	implChatGRPC            = "chat-grpc"             // gchat: the same chat as a grpc-go user writes it
)

// serveChatParley serves parley's chat example, with no limit on how fast
// a member may talk (the load generator paces itself); unchecked serves
// Converse without its protocol check.
func serveChatParley(l net.Listener, unchecked bool) func() {
	s := chatserver.New(chatserver.Config{SayRate: -1, Unchecked: unchecked})
	go s.Serve(l)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}
}

// gchat is the chat of examples/chat/chat.proto written the way a grpc-go
// user would write it: a goroutine per stream (the handler) and one more
// per member that sends its events, a mutex-protected map of rooms and
// members, a channel of 256 events per member, presence on join and
// leave, and the last 50 messages kept for Joined. It speaks the same
// msgpack layout, so the same load generator drives it.
type gchat struct {
	mu    sync.Mutex
	rooms map[string]*groom
}

type groom struct {
	name    string
	members map[*gmember]struct{}
	seq     uint64
	history []*chatpb.ChatMessage
}

type gmember struct {
	nick string
	ch   chan *chatpb.ServerEvent
	done chan struct{} // closed when the member's stream ends
}

const gchatHistory = 50

var gchatDesc = grpc.ServiceDesc{
	ServiceName: "parley.chat.v1.Chat",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Converse",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(srv any, st grpc.ServerStream) error {
			return srv.(*gchat).converse(st)
		},
	}},
}

func serveChatGRPC(l net.Listener, cfg serverConfig) func() {
	s := grpc.NewServer(grpc.MaxConcurrentStreams(cfg.maxStreams))
	s.RegisterService(&gchatDesc, &gchat{rooms: make(map[string]*groom)})
	go s.Serve(l)
	return s.Stop
}

// converse serves one member: the handler reads its events; a goroutine
// writes the events queued for it.
func (g *gchat) converse(st grpc.ServerStream) error {
	m := &gmember{ch: make(chan *chatpb.ServerEvent, 256), done: make(chan struct{})}
	defer close(m.done)
	sendErr := make(chan error, 1)
	go func() {
		for {
			select {
			case ev := <-m.ch:
				if err := st.SendMsg(ev); err != nil {
					sendErr <- err
					return
				}
			case <-m.done:
				return
			}
		}
	}()
	var cur *groom
	defer func() {
		if cur != nil {
			g.leave(cur, m, chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
		}
	}()
	for {
		ev := new(chatpb.ClientEvent)
		if err := st.RecvMsg(ev); err != nil {
			if err == io.EOF {
				if cur != nil {
					g.leave(cur, m, chatpb.LeaveReason_LEAVE_REASON_LEFT)
					cur = nil
				}
				return nil
			}
			return err
		}
		select {
		case err := <-sendErr:
			return err
		default:
		}
		switch e := ev.Event.(type) {
		case *chatpb.ClientEvent_Join:
			if e.Join == nil {
				return status.Error(codes.InvalidArgument, "empty join")
			}
			if cur != nil {
				g.leave(cur, m, chatpb.LeaveReason_LEAVE_REASON_LEFT)
			}
			m.nick = e.Join.Nick
			r, joined := g.join(e.Join.Room, m)
			if r == nil {
				return status.Errorf(codes.AlreadyExists, "nick %q is taken", m.nick)
			}
			cur = r
			if err := g.deliver(m, joined); err != nil {
				return err
			}
		case *chatpb.ClientEvent_Say:
			if cur == nil {
				return status.Error(codes.FailedPrecondition, "say needs a room")
			}
			if e.Say == nil {
				return status.Error(codes.InvalidArgument, "empty say")
			}
			g.say(cur, m, e.Say.Text)
		case *chatpb.ClientEvent_Leave:
			if cur != nil {
				g.leave(cur, m, chatpb.LeaveReason_LEAVE_REASON_LEFT)
				cur = nil
			}
		default:
			return status.Error(codes.InvalidArgument, "unsupported event")
		}
	}
}

// deliver queues ev for m, waiting while its channel is full.
func (g *gchat) deliver(m *gmember, ev *chatpb.ServerEvent) error {
	select {
	case m.ch <- ev:
		return nil
	case <-m.done:
		return errors.New("member gone")
	}
}

func (g *gchat) join(name string, m *gmember) (*groom, *chatpb.ServerEvent) {
	g.mu.Lock()
	r := g.rooms[name]
	if r == nil {
		r = &groom{name: name, members: make(map[*gmember]struct{})}
		g.rooms[name] = r
	}
	nicks := make([]string, 0, len(r.members)+1)
	for o := range r.members {
		if o.nick == m.nick {
			g.mu.Unlock()
			return nil, nil
		}
		nicks = append(nicks, o.nick)
	}
	others := r.snapshot()
	r.members[m] = struct{}{}
	nicks = append(nicks, m.nick)
	slices.Sort(nicks)
	joined := &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Joined{Joined: &chatpb.Joined{
		Room: name, Nick: m.nick, Members: nicks, History: slices.Clone(r.history),
	}}}
	n := len(r.members)
	g.mu.Unlock()
	g.broadcast(others, presence(name, m.nick, chatpb.PresenceKind_PRESENCE_KIND_JOINED, 0, n))
	return r, joined
}

func (g *gchat) say(r *groom, m *gmember, text string) {
	g.mu.Lock()
	r.seq++
	cm := &chatpb.ChatMessage{Room: r.name, Seq: r.seq, Nick: m.nick, Text: text, SentAt: time.Now()}
	r.history = append(r.history, cm)
	if len(r.history) > gchatHistory {
		r.history = r.history[1:]
	}
	all := r.snapshot()
	g.mu.Unlock()
	g.broadcast(all, &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: cm}})
}

func (g *gchat) leave(r *groom, m *gmember, reason chatpb.LeaveReason) {
	g.mu.Lock()
	delete(r.members, m)
	others := r.snapshot()
	n := len(r.members)
	if n == 0 {
		delete(g.rooms, r.name)
	}
	g.mu.Unlock()
	g.broadcast(others, presence(r.name, m.nick, chatpb.PresenceKind_PRESENCE_KIND_LEFT, reason, n))
}

// snapshot copies the member list; g.mu held.
func (r *groom) snapshot() []*gmember {
	ms := make([]*gmember, 0, len(r.members))
	for m := range r.members {
		ms = append(ms, m)
	}
	return ms
}

// broadcast queues ev for every member in ms, waiting for room in each
// channel (a member that leaves meanwhile is skipped).
func (g *gchat) broadcast(ms []*gmember, ev *chatpb.ServerEvent) {
	for _, m := range ms {
		_ = g.deliver(m, ev)
	}
}

func presence(room, nick string, kind chatpb.PresenceKind, reason chatpb.LeaveReason, n int) *chatpb.ServerEvent {
	return &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Presence{Presence: &chatpb.Presence{
		Room: room, Nick: nick, Kind: kind, Reason: reason, At: time.Now(), Members: uint32(n),
	}}}
}
