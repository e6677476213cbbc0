package server

import (
	"context"
	"errors"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
)

// leaveTimeout bounds telling a room that a member whose conversation has
// already ended is gone.
const leaveTimeout = 5 * time.Second

// Converse serves one member's conversation on the runtime's handler
// goroutine, which owns the member's state (its room and nick): it reads
// the member's events from conv.In(), checks their contents, and forwards
// them to the room's actor (Tell for Say, Ask for the rest). The room
// answers by broadcasting to its group, whose pump goroutine for this
// member writes into conv.Out() through a gate; the handler writes its
// direct answers (Joined, Members, Left) to conv.Out() too.
//
// The order of events is the protocol's business (see chat.proto): conv
// checks every event against it before the handler sees it, so a say
// before any join, or a leave outside a room, never reaches this code (the
// call ends with FAILED_PRECONDITION), and every event the handler or the
// room sends is checked too before it reaches the wire.
//
// The call ends with OK when the member half-closes, INVALID_ARGUMENT,
// FAILED_PRECONDITION or ALREADY_EXISTS for an event the server refuses,
// RESOURCE_EXHAUSTED when the member falls too far behind its room,
// UNAVAILABLE at shutdown, and CANCELLED when the member goes away. In every
// case the member leaves its room and the others see it leave.
func (s *Server) Converse(conv *chatpb.ChatConverseServerConv) error {
	if s.closing() {
		return errShuttingDown
	}
	ctx, cancel := context.WithCancel(conv.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Shutdown ends the conversation
	defer stop()
	c := &conversation{srv: s, conv: conv, ctx: ctx, id: s.nextID.Add(1), says: newBucket(s.cfg.SayRate)}
	err := c.run()
	if err != nil && s.closing() {
		return errShuttingDown
	}
	return err
}

// conversation is one member's state. It is owned by the handler goroutine
// (Converse); the room and the group's pump see only what joinMsg carries.
type conversation struct {
	srv  *Server
	conv *chatpb.ChatConverseServerConv // the call, checked against its protocol
	ctx  context.Context                // the call's, also cancelled by Shutdown
	id   uint64
	cur  *membership // the current room; nil when in none
	says *bucket     // paces Say
}

// membership is the conversation's side of being in a room.
type membership struct {
	room   *room
	nick   string
	member *actor.Member[*chatpb.ServerEvent]
}

// run handles events until the conversation ends, and returns its status.
func (c *conversation) run() error {
	in := c.conv.In()
	for {
		var dropped <-chan struct{}
		if c.cur != nil {
			dropped = c.cur.member.Done() // closed if the room cuts us off
		}
		select {
		case ev, ok := <-in.C():
			if !ok {
				end, _ := in.End()
				if end.Err != nil { // the call failed: cancelled, a bad message...
					c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
					return end.Err
				}
				// The member half-closed: a clean goodbye. The room
				// drains what was queued for it (LeaveAfterDrain); let
				// that reach the member before the call ends.
				m := c.cur
				c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_LEFT)
				if m != nil {
					select {
					case <-m.member.Done():
					case <-c.ctx.Done():
					case <-time.After(leaveTimeout):
					}
				}
				return nil
			}
			if err := c.handle(ev); err != nil {
				c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
				return err
			}
		case <-dropped:
			return c.dropped()
		case <-c.ctx.Done():
			c.leaveAfterEnd(chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED)
			return wire.AsError(c.ctx.Err())
		}
	}
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
		if c.cur != nil {
			if c.cur.room.name == j.Room {
				return wire.Errorf(wire.FailedPrecondition, "already in room %q", j.Room)
			}
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
// The member's recipient in the room's group is a closed gate over
// call.Out(): the room's events wait in the member's queue until Joined
// (with the history) has been sent, so they always come after it.
func (c *conversation) join(name, nick string) error {
	g := newGate(c.conv.Out())
	var res joinResult
	for attempt := 0; ; attempt++ {
		r, err := c.srv.room(name, true)
		if err != nil {
			return err
		}
		res, err = actor.Ask(c.ctx, r.ref, func(rep actor.Reply[joinResult]) roomMsg {
			return joinMsg{id: c.id, nick: nick, ctx: c.ctx, dst: g, reply: rep}
		})
		if errors.Is(err, actor.ErrStopped) && attempt < 3 && !c.srv.closing() {
			continue // the room stopped as we came in: look it up again
		}
		if err != nil {
			return c.roomErr(err)
		}
		c.cur = &membership{room: r, nick: nick, member: res.member}
		break
	}
	if err := c.send(&chatpb.ServerEvent{Event: &chatpb.ServerEvent_Joined{Joined: res.joined}}); err != nil {
		return err
	}
	g.open()
	return nil
}

// leave leaves the current room on the member's request and confirms with
// Left once the room has removed it and its pump has stopped, so Left is
// the last event of that room the member sees.
func (c *conversation) leave() error {
	m := c.cur
	c.cur = nil
	_, err := actor.Ask(c.ctx, m.room.ref, func(rep actor.Reply[struct{}]) roomMsg {
		return leaveMsg{id: c.id, reason: chatpb.LeaveReason_LEAVE_REASON_LEFT, reply: rep}
	})
	if err != nil {
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), leaveTimeout)
	defer cancel()
	_, _ = actor.Ask(ctx, m.room.ref, func(rep actor.Reply[struct{}]) roomMsg {
		return leaveMsg{id: c.id, reason: reason, reply: rep}
	})
}

// dropped handles the room's group cutting the member off: it fell too far
// behind, its call's outbound mailbox closed, or the room stopped.
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

// send writes one of the handler's own answers to the call, waiting while
// the outbound mailbox is full. It gives up if the conversation ends or
// the room drops the member meanwhile, so that a member who stopped
// reading cannot hold its handler (and its nick) forever: run then sees
// the drop.
func (c *conversation) send(ev *chatpb.ServerEvent) error {
	ctx := c.ctx
	if c.cur != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(c.ctx)
		defer cancel()
		dropped := c.cur.member.Done()
		go func() { // ends with the send: cancel closes ctx
			select {
			case <-dropped:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	err := c.conv.Out().Send(ctx, ev)
	if err != nil && ctx.Err() != nil && c.ctx.Err() == nil {
		return nil // dropped: run handles it next
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

// gate is the recipient a conversation gives its room's group: the
// member's pump goroutine calls Send, which waits until the handler opens
// the gate (after sending Joined) and then passes the event on to the
// call's outbound mailbox.
type gate struct {
	out    mailbox.Sender[*chatpb.ServerEvent]
	opened chan struct{} // closed by open, on the handler goroutine
}

var _ mailbox.Sender[*chatpb.ServerEvent] = (*gate)(nil)

func newGate(out mailbox.Sender[*chatpb.ServerEvent]) *gate {
	return &gate{out: out, opened: make(chan struct{})}
}

func (g *gate) open() { close(g.opened) }

// Send waits for the gate to open, then sends v on the call. Once the gate
// is open (every event but those queued before Joined) it goes straight to
// the call, without the three-way select.
func (g *gate) Send(ctx context.Context, v *chatpb.ServerEvent) error {
	select {
	case <-g.opened:
	default:
		select {
		case <-g.opened:
		case <-ctx.Done():
			return ctx.Err()
		case <-g.out.Done():
			return mailbox.ErrClosed
		}
	}
	return g.out.Send(ctx, v)
}

// TrySend sends v if the gate is open and the call has room.
func (g *gate) TrySend(v *chatpb.ServerEvent) error {
	select {
	case <-g.opened:
		return g.out.TrySend(v)
	default:
		return mailbox.ErrFull
	}
}

// Done is closed when the call's outbound mailbox is.
func (g *gate) Done() <-chan struct{} { return g.out.Done() }

// bucket is a token bucket that paces one member's messages: rate tokens a
// second, at most rate (and at least 1) saved up. A nil bucket never
// waits. Owned by the conversation's handler goroutine.
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
