package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// leaveTimeout bounds telling a room that a member whose conversation has
// already ended is gone.
const leaveTimeout = 5 * time.Second

// call is the outbound side of one member's Converse call: a
// protocol.Conversation, which checks every event against the protocol,
// or, with Unchecked, the runtime.Conversation itself.
type call interface {
	Context() context.Context
	Out() mailbox.Sender[*chatpb.ServerEvent]
	Finish(err error)
}

// openConverse starts one member's conversation, served without a
// goroutine of its own (runtime.HandleConversation): the runtime delivers
// the member's events to the returned Reactor one at a time, and the
// conversation checks their contents and forwards them to the room's actor
// (Tell for Say, Ask for the rest). The room answers by queueing events in
// the member's backlog, whose drainer goroutine, running only while events
// wait, writes them into the call; the Reactor writes its direct answers
// (Joined, Members, Left) to the call too.
//
// The order of events is the protocol's business (see chat.proto): the
// checked conversation checks every event against it before the Reactor
// sees it, so a say before any join, or a leave outside a room, never
// reaches this code (the call ends with FAILED_PRECONDITION), and every
// event the Reactor or the room sends is checked too before it reaches the
// wire.
//
// The call ends with OK when the member half-closes, INVALID_ARGUMENT,
// FAILED_PRECONDITION or ALREADY_EXISTS for an event the server refuses,
// RESOURCE_EXHAUSTED when the member falls too far behind its room,
// UNAVAILABLE at shutdown, and CANCELLED when the member goes away. In every
// case the member leaves its room and the others see it leave.
func (s *Server) openConverse(conv call) (runtime.Reactor[chatpb.ClientEvent], error) {
	if s.closing() {
		return nil, errShuttingDown
	}
	ctx, cancel := context.WithCancel(conv.Context())
	c := &conversation{srv: s, conv: conv, ctx: ctx, cancel: cancel, id: s.nextID.Add(1), says: newBucket(s.cfg.SayRate)}
	// Shutdown ends the conversation. No goroutine waits for it: the
	// server's context calls this.
	c.stop = context.AfterFunc(s.ctx, func() {
		cancel()
		conv.Finish(errShuttingDown)
	})
	return c, nil
}

// conversation is one member's state and the Reactor of its call. Its
// events come one at a time from the runtime (OnMessage, OnHalfClose,
// OnDone) and from its room cutting it off (gone, on a goroutine of its
// own); mu serialises them, so everything below mu is owned by whichever
// holds it. The room and the backlog's drainer see only what joinMsg
// carries.
type conversation struct {
	srv    *Server
	conv   call
	ctx    context.Context // the call's, also cancelled by Shutdown and OnDone
	cancel context.CancelFunc
	stop   func() bool // stops the Shutdown watch
	id     uint64

	mu   sync.Mutex
	cur  *membership // the current room; nil when in none
	says *bucket     // paces Say
}

// membership is the conversation's side of being in a room.
type membership struct {
	room   *room
	nick   string
	member *backlog
}

// OnMessage handles one event. A non-nil error ends the call with its
// status; OnDone then leaves the room.
func (c *conversation) OnMessage(ev *chatpb.ClientEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.handle(ev); err != nil {
		if c.srv.closing() {
			return errShuttingDown
		}
		return err
	}
	return nil
}

// OnHalfClose is the member's clean goodbye: it leaves its room, which
// drains what was queued for it, lets that reach the member and ends the
// call with OK.
func (c *conversation) OnHalfClose() error {
	c.mu.Lock()
	m := c.cur
	c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_LEFT)
	c.mu.Unlock()
	if m != nil {
		t := time.NewTimer(leaveTimeout)
		defer t.Stop()
		select {
		case <-m.member.Done():
		case <-c.ctx.Done():
		case <-t.C:
		}
	}
	c.conv.Finish(nil)
	return nil
}

// OnDone is the end of the call, however it ended: the member leaves its
// room if it is still in one.
func (c *conversation) OnDone(error) {
	c.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
	c.cancel()
}

// gone is called when membership m ended with a reason (the room cut the
// member off, or the call refused an event): unless the member has moved
// on meanwhile, the call ends with the status that explains it.
func (c *conversation) gone(m *membership) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != m {
		return
	}
	c.conv.Finish(c.dropped())
}

// handle checks one event's contents and acts on it. A non-nil error ends
// the call with that status. Its place in the conversation was checked
// against the protocol already: say, who and leave come only in a room.
func (c *conversation) handle(ev *chatpb.ClientEvent) error {
	switch e := ev.Event.(type) {
	case *chatpb.ClientEvent_Join:
		j := e.Join
		if j == nil {
			j = &chatpb.Join{}
		}
		if err := ValidRoom(j.Room); err != nil {
			return err
		}
		if err := ValidNick(j.Nick); err != nil {
			return err
		}
		if c.cur != nil && c.cur.room.name == j.Room {
			return wire.Errorf(wire.FailedPrecondition, "already in room %q", j.Room)
		}
		// A join is paced as a say is: it makes presence events for a
		// whole room (two, when it switches rooms), and a member
		// flapping between rooms would flood them faster than any
		// talker may.
		if err := c.says.wait(c.ctx); err != nil {
			return wire.AsError(err)
		}
		if c.cur != nil {
			if err := c.leave(); err != nil {
				return err
			}
		}
		return c.join(j.Room, j.Nick)
	case *chatpb.ClientEvent_Say:
		if c.cur == nil {
			return notInRoom("say")
		}
		var text string
		if e.Say != nil {
			text = e.Say.Text
		}
		if err := ValidText(text, c.srv.cfg.MaxText); err != nil {
			return err
		}
		if err := c.says.wait(c.ctx); err != nil {
			return wire.AsError(err)
		}
		// Tell: the room's mailbox is bounded (Block), so a member who
		// talks faster than the room handles is slowed down, not queued
		// without limit.
		return c.roomErr(c.cur.room.ref.Tell(c.ctx, sayMsg{id: c.id, text: text}))
	case *chatpb.ClientEvent_Who:
		if c.cur == nil {
			return notInRoom("who")
		}
		nicks, err := actor.Ask(c.ctx, c.cur.room.ref, func(rep actor.Reply[[]string]) roomMsg { return whoMsg{reply: rep} })
		if err != nil {
			return c.roomErr(err)
		}
		return c.send(&chatpb.ServerEvent{Event: &chatpb.ServerEvent_Members{Members: &chatpb.Members{Room: c.cur.room.name, Nicks: nicks}}})
	case *chatpb.ClientEvent_Leave:
		if c.cur == nil {
			return notInRoom("leave")
		}
		return c.leave()
	case nil:
		return wire.NewError(wire.InvalidArgument, "empty event: set one of join, say, who, leave")
	default:
		return wire.Errorf(wire.InvalidArgument, "unknown event %T", e)
	}
}

// notInRoom reports an event that needs a room outside one, which the
// protocol rules out: reaching it is a bug in the protocol or the server.
func notInRoom(what string) error {
	return wire.Errorf(wire.Internal, "%s outside a room passed the protocol check", what)
}

// join enters the room named name, creating the room if it does not exist.
// The room's events wait in the member's backlog until Joined (with the
// history) has been sent, so they always come after it.
func (c *conversation) join(name, nick string) error {
	var res joinResult
	m := &membership{nick: nick}
	gone := func() { go c.gone(m) } // not on the room's goroutine: gone tells the room
	for attempt := 0; ; attempt++ {
		r, err := c.srv.room(name, true)
		if err != nil {
			return err
		}
		res, err = actor.Ask(c.ctx, r.ref, func(rep actor.Reply[joinResult]) roomMsg {
			return joinMsg{id: c.id, nick: nick, ctx: c.ctx, dst: c.conv.Out(), gone: gone, reply: rep}
		})
		if errors.Is(err, actor.ErrStopped) && attempt < 3 && !c.srv.closing() {
			continue // the room stopped as we came in: look it up again
		}
		if err != nil {
			if c.ctx.Err() != nil && !errors.Is(err, actor.ErrStopped) {
				// The call ended while the room was admitting the
				// member: the room may have done so after Ask gave up,
				// and nobody else would ever take the member out.
				c.tellLeft(r, chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
			}
			return c.roomErr(err)
		}
		m.room, m.member = r, res.member
		c.cur = m
		break
	}
	if err := c.send(&chatpb.ServerEvent{Event: &chatpb.ServerEvent_Joined{Joined: res.joined}}); err != nil {
		return err
	}
	res.member.start()
	return nil
}

// leave leaves the current room on the member's request and confirms with
// Left once the room has removed it and its backlog has been delivered, so
// Left is the last event of that room the member sees.
func (c *conversation) leave() error {
	m := c.cur
	c.cur = nil
	if err := c.tellLeft(m.room, chatpb.LeaveReason_LEAVE_REASON_LEFT); err != nil {
		return c.roomErr(err)
	}
	select {
	case <-m.member.Done():
	case <-c.ctx.Done():
		return wire.AsError(c.ctx.Err())
	}
	return c.send(&chatpb.ServerEvent{Event: &chatpb.ServerEvent_Left{Left: &chatpb.Left{Room: m.room.name}}})
}

// leaveAfterEnd tells the room the conversation is over. The call's
// context may already be done, so it waits on a context of its own,
// briefly. At shutdown the rooms are stopping anyway: nobody is told.
func (c *conversation) leaveAfterEnd(reason chatpb.LeaveReason) {
	m := c.cur
	if m == nil || c.srv.closing() {
		return
	}
	c.cur = nil
	_ = c.tellLeft(m.room, reason)
}

// tellLeft tells room r that the member has left it, and waits until the
// room has removed it. The call's context may end meanwhile (a member that
// leaves and hangs up at once): the room would then skip the request, and
// the member, no longer c.cur, would stay in it for good, its nick taken.
// So it waits on a context of its own, briefly.
func (c *conversation) tellLeft(r *room, reason chatpb.LeaveReason) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), leaveTimeout)
	defer cancel()
	_, err := actor.Ask(ctx, r.ref, func(rep actor.Reply[struct{}]) roomMsg {
		return leaveMsg{id: c.id, reason: reason, reply: rep}
	})
	return err
}

// dropped returns the status that ends the call of a member whose
// membership ended with a reason: it fell too far behind, its call
// refused an event (the call is over), or the room stopped.
func (c *conversation) dropped() error {
	m := c.cur
	reason := m.member.Err()
	switch {
	case errors.Is(reason, errTooSlow):
		c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_TOO_SLOW)
		return wire.Errorf(wire.ResourceExhausted,
			"too slow: you stayed behind room %q for more than %v (more than %d KiB of events were waiting), so you were disconnected; read your events promptly", m.room.name, behindGrace, backlogBytes>>10)
	case c.srv.closing():
		return errShuttingDown
	case errors.Is(reason, errRoomClosed):
		c.cur = nil
		return wire.Errorf(wire.Unavailable, "room %q closed", m.room.name)
	default: // the call ended under us
		c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
		if err := c.ctx.Err(); err != nil {
			return wire.AsError(err)
		}
		return wire.Errorf(wire.Internal, "left room %q: %v", m.room.name, reason)
	}
}

// send writes one of the conversation's own answers to the call, waiting
// while the outbound mailbox is full. It gives up if the conversation ends
// or the room drops the member meanwhile, so that a member who stopped
// reading cannot hold its conversation (and its nick) forever: gone then
// ends the call.
func (c *conversation) send(ev *chatpb.ServerEvent) error {
	ctx := c.ctx
	if c.cur != nil {
		ctx = c.cur.member.ctx // ends with the membership
	}
	err := c.conv.Out().Send(ctx, ev)
	if err != nil && ctx.Err() != nil && c.ctx.Err() == nil {
		return nil // dropped: gone handles it
	}
	return err
}

// roomErr maps an error from a room's actor to the call's status.
func (c *conversation) roomErr(err error) error {
	switch {
	case err == nil:
		return nil
	case c.srv.closing():
		return errShuttingDown
	case errors.Is(err, actor.ErrStopped):
		return wire.NewError(wire.Unavailable, "room closed")
	}
	return wire.AsError(err)
}

// bucket is a token bucket that paces one member's messages: rate tokens a
// second, at most rate (and at least 1) saved up. A nil bucket never
// waits. Owned by the conversation (under its mu).
type bucket struct {
	rate, tokens, max float64
	last              time.Time
}

func newBucket(rate float64) *bucket {
	if rate <= 0 {
		return nil
	}
	max := max(rate, 1)
	return &bucket{rate: rate, tokens: max, max: max, last: time.Now()}
}

// wait takes a token, waiting for one if need be, or returns ctx.Err().
func (b *bucket) wait(ctx context.Context) error {
	if b == nil {
		return nil
	}
	now := time.Now()
	b.tokens = min(b.max, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	d := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		b.tokens, b.last = 0, time.Now()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
