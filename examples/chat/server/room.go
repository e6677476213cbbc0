package server

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
)

// errTooSlow is the reason a room disconnects a member that stayed behind
// (backlog).
var errTooSlow = errors.New("chat: member too slow: stayed behind its room")

// errRoomClosed is the reason a room's members are given when the room's
// actor stops with members still in it (only at shutdown, or if it failed
// past its restart budget).
var errRoomClosed = errors.New("chat: room closed")

// room is one chat room: an actor that owns the room's state and handles
// one roomMsg at a time. Everything below ref is owned by the room's actor
// goroutine (its handler), except as noted.
type room struct {
	srv  *Server
	name string
	ref  *actor.Ref[roomMsg] // set before the room is published in srv.rooms

	// count is the number of members, written by the actor goroutine and
	// read by ListRooms.
	count atomic.Int32

	// members fans the room's events out (broadcast): each member has a
	// backlog bounded by bytes, drained into its conversation by a
	// goroutine that runs only while events wait, so broadcast (from the
	// handler) never blocks. The watcher cuts the members off once the
	// actor stops.
	members map[uint64]*roomMember // by conversation ID
	nicks   map[string]uint64      // nick -> conversation ID
	history []*chatpb.ChatMessage  // the last srv.cfg.HistorySize messages, oldest first
	seq     uint64                 // the last message's sequence number

	// idle fires idleMsg{idleGen} IdleGrace after the room became empty;
	// a join bumps idleGen so that a stale timer does nothing. Stopped by
	// the watcher.
	idle    *time.Timer
	idleGen uint64
}

// roomMember is one member as its room sees it.
type roomMember struct {
	nick    string
	backlog *backlog
}

// roomMsg is what a room's actor handles: joinMsg, sayMsg, whoMsg,
// leaveMsg, historyMsg or idleMsg.
type roomMsg interface{ isRoomMsg() }

// joinMsg asks the room to admit a member. The room gives dst a backlog
// (which delivers nothing until the conversation starts it: backlog.start)
// and answers with it and the Joined event, or fails with ALREADY_EXISTS.
type joinMsg struct {
	id    uint64
	nick  string
	ctx   context.Context // the conversation's: deliveries stop with it
	dst   mailbox.Sender[*chatpb.ServerEvent]
	gone  func() // told when the room cuts the member off (newBacklog)
	reply actor.Reply[joinResult]
}

type joinResult struct {
	member *backlog
	joined *chatpb.Joined
}

// sayMsg is a message from member id, already validated.
type sayMsg struct {
	id   uint64
	text string
}

// whoMsg asks for the sorted member nicks.
type whoMsg struct{ reply actor.Reply[[]string] }

// leaveMsg removes member id (if it is still there) and tells the others
// why. reply may be the zero Reply (a Tell).
type leaveMsg struct {
	id     uint64
	reason chatpb.LeaveReason
	reply  actor.Reply[struct{}]
}

// historyMsg asks for the last limit messages (all kept if limit is 0).
type historyMsg struct {
	limit int
	reply actor.Reply[[]*chatpb.ChatMessage]
}

// idleMsg is sent by the idle timer: the room stops if it is still empty
// and no member has come and gone since the timer was set.
type idleMsg struct{ gen uint64 }

func (joinMsg) isRoomMsg()    {}
func (sayMsg) isRoomMsg()     {}
func (whoMsg) isRoomMsg()     {}
func (leaveMsg) isRoomMsg()   {}
func (historyMsg) isRoomMsg() {}
func (idleMsg) isRoomMsg()    {}

// newRoom spawns a room's actor. Called by Server.room under srv.mu, with
// the server open.
func newRoom(srv *Server, name string) *room {
	r := &room{
		srv:     srv,
		name:    name,
		members: make(map[uint64]*roomMember),
		nicks:   make(map[string]uint64),
	}
	srv.roomWG.Add(1)
	r.ref = actor.Spawn(srv.ctx, r.handle,
		actor.WithName("room "+name),
		actor.WithMailbox(256),
		actor.WithLogger(srv.cfg.Logger))
	// The watcher runs once the actor has stopped for good, whatever the
	// reason: it cuts the remaining members off and releases the timer.
	r.ref.Watch(func(error) {
		srv.removeRoom(r)
		if r.idle != nil {
			r.idle.Stop()
		}
		for _, mem := range r.members {
			mem.backlog.end(errRoomClosed)
		}
		for _, mem := range r.members {
			<-mem.backlog.Done() // its Send has returned: the context ended
		}
		srv.roomWG.Done()
	})
	return r
}

// handle is the room's actor handler: it runs on the room's goroutine, one
// message at a time, and never blocks (Broadcast does not wait for
// members; replies are buffered).
func (r *room) handle(_ context.Context, msg roomMsg) error {
	switch m := msg.(type) {
	case joinMsg:
		if _, taken := r.nicks[m.nick]; taken {
			m.reply.Fail(wire.Errorf(wire.AlreadyExists, "nick %q is already in room %q: pick another", m.nick, r.name))
			return nil
		}
		r.idleGen++ // a pending idle timer is stale now
		// The others learn of the newcomer before it is in the group, so
		// it does not see its own arrival: Joined tells it.
		r.broadcast(r.presence(m.nick, chatpb.PresenceKind_PRESENCE_KIND_JOINED, 0, len(r.members)+1))
		bl := newBacklog(m.ctx, r.name, m.dst, m.gone, &r.srv.drainers)
		r.members[m.id] = &roomMember{nick: m.nick, backlog: bl}
		r.nicks[m.nick] = m.id
		r.count.Store(int32(len(r.members)))
		m.reply.Send(joinResult{member: bl, joined: &chatpb.Joined{
			Room:    r.name,
			Nick:    m.nick,
			Members: r.nickList(),
			History: slices.Clone(r.history),
		}})
	case sayMsg:
		mem, ok := r.members[m.id]
		if !ok {
			return nil // said just before it left or was dropped
		}
		r.seq++
		cm := &chatpb.ChatMessage{Room: r.name, Seq: r.seq, Nick: mem.nick, Text: m.text, SentAt: time.Now()}
		if len(r.history) == r.srv.cfg.HistorySize {
			r.history = slices.Delete(r.history, 0, 1)
		}
		r.history = append(r.history, cm)
		r.broadcast(&chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: cm}})
	case whoMsg:
		m.reply.Send(r.nickList())
	case leaveMsg:
		if mem, ok := r.members[m.id]; ok {
			if m.reason == chatpb.LeaveReason_LEAVE_REASON_LEFT {
				// A member leaving on purpose still gets what was said
				// before it left (its own last message among them).
				mem.backlog.leave(true)
			} else {
				mem.backlog.leave(false) // gone or too slow: its queue is discarded
			}
			delete(r.members, m.id)
			delete(r.nicks, mem.nick)
			r.count.Store(int32(len(r.members)))
			r.broadcast(r.presence(mem.nick, chatpb.PresenceKind_PRESENCE_KIND_LEFT, m.reason, len(r.members)))
			if len(r.members) == 0 && r.becameEmpty() {
				m.reply.Send(struct{}{})
				return actor.ErrStop
			}
		}
		m.reply.Send(struct{}{})
	case historyMsg:
		h := r.history
		if m.limit > 0 && m.limit < len(h) {
			h = h[len(h)-m.limit:]
		}
		m.reply.Send(slices.Clone(h))
	case idleMsg:
		if m.gen == r.idleGen && len(r.members) == 0 && r.srv.removeRoom(r) {
			return actor.ErrStop
		}
	}
	return nil
}

// broadcast queues ev for every member (backlog.push, which never waits).
// A member that has stayed behind too long is cut off: its conversation
// sees errTooSlow, ends with RESOURCE_EXHAUSTED and tells the room, which
// then announces it left (LEAVE_REASON_TOO_SLOW). Room's goroutine.
func (r *room) broadcast(ev *chatpb.ServerEvent) {
	now := time.Now()
	for _, mem := range r.members {
		if mem.backlog.push(ev, now) {
			mem.backlog.end(errTooSlow) // its drainer, if any, stops at once
		}
	}
}

// becameEmpty starts the idle grace period, or, with a negative IdleGrace,
// unregisters the room and reports that it must stop now. A joiner that
// still reaches the stopping room gets ErrStopped and looks the room up
// again, creating a new one.
func (r *room) becameEmpty() (stop bool) {
	r.idleGen++
	grace := r.srv.cfg.IdleGrace
	if grace < 0 {
		return r.srv.removeRoom(r)
	}
	if r.idle != nil {
		r.idle.Stop()
	}
	gen, ref := r.idleGen, r.ref
	r.idle = time.AfterFunc(grace, func() {
		// On the timer's goroutine: the room may be gone (ErrStopped) or
		// busy; either way this must not wait long.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = ref.Tell(ctx, idleMsg{gen: gen})
	})
	return false
}

func (r *room) nickList() []string {
	nicks := make([]string, 0, len(r.nicks))
	for n := range r.nicks {
		nicks = append(nicks, n)
	}
	slices.Sort(nicks)
	return nicks
}

func (r *room) presence(nick string, kind chatpb.PresenceKind, reason chatpb.LeaveReason, members int) *chatpb.ServerEvent {
	return &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Presence{Presence: &chatpb.Presence{
		Room:    r.name,
		Nick:    nick,
		Kind:    kind,
		Reason:  reason,
		At:      time.Now(),
		Members: uint32(members),
	}}}
}
