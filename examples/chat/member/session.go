package member

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/protocol"
	"github.com/parleyrpc/parley/wire"
)

// Options tune a Session. The zero value records lines without printing
// them and without timestamps.
type Options struct {
	// Print is called with every line the session produces (events, answers
	// to commands, the final status), one call at a time, in order. It
	// must not block for long: the receive goroutine calls it.
	Print func(line string)
	// Timestamps shows when each message was said.
	Timestamps bool
}

// Session is one member's conversation with a chat server (a Converse
// call) plus the unary calls the commands need.
//
// Goroutines: the receive goroutine started by Start owns the call's
// inbound side: it formats each ServerEvent into lines and records the
// call's final status. Commands (Join, Say, Do, ...) send on the call's
// outbound side from the caller's goroutine; one goroutine at a time should
// issue them. Lines, Wait, Done, Err and Room are safe from any goroutine.
type Session struct {
	nick string
	chat chatpb.ChatClient
	call *chatpb.ChatConverseClientConv // checked against the protocol
	opts Options

	mu      sync.Mutex
	room    string        // the current room per the last Joined/Left; guarded by mu
	lines   []string      // every line produced so far; guarded by mu
	changed chan struct{} // closed and replaced when lines grows; guarded by mu
	waited  int           // Wait searches lines[waited:]; guarded by mu

	done chan struct{} // closed by the receive goroutine once the call has ended
	err  error         // the call's status (nil for OK); written before done is closed
}

// Start opens nick's conversation and starts its receive goroutine. The
// call lives until Quit, Cancel, the server ending it, or ctx ending.
func Start(ctx context.Context, chat chatpb.ChatClient, nick string, opts Options) (*Session, error) {
	call, err := chat.Converse(ctx)
	if err != nil {
		return nil, err
	}
	s := &Session{nick: nick, chat: chat, call: call, opts: opts, changed: make(chan struct{}), done: make(chan struct{})}
	go s.receive()
	return s, nil
}

// receive prints the server's events until the call ends, then its status.
func (s *Session) receive() {
	defer close(s.done)
	for {
		ev, err := s.call.Recv()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			s.err = err
			s.print(FormatEnd(err))
			return
		}
		switch e := ev.Event.(type) {
		case *chatpb.ServerEvent_Joined:
			if e.Joined != nil {
				s.setRoom(e.Joined.Room)
			}
		case *chatpb.ServerEvent_Left:
			s.setRoom("")
		}
		for _, l := range Format(ev, s.opts.Timestamps) {
			s.print(l)
		}
	}
}

func (s *Session) setRoom(r string) {
	s.mu.Lock()
	s.room = r
	s.mu.Unlock()
}

// print records line and passes it to Options.Print, one line at a time.
func (s *Session) print(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
	close(s.changed)
	s.changed = make(chan struct{})
	if s.opts.Print != nil {
		s.opts.Print(line)
	}
}

// Nick returns the member's nick.
func (s *Session) Nick() string { return s.nick }

// Room returns the room the member is in, as far as the events received so
// far tell, or "".
func (s *Session) Room() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.room
}

// Lines returns a copy of every line the session has produced.
func (s *Session) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Wait waits until a line containing text is produced, searching the lines
// after the one the previous Wait matched, so that successive Waits follow
// the conversation in order. It returns ctx.Err() if ctx ends first, or an
// error if the conversation ends without such a line.
func (s *Session) Wait(ctx context.Context, text string) error {
	for {
		found, changed := s.find(text)
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-s.done:
			// Look once more: the final lines came before done.
			if found, _ := s.find(text); found {
				return nil
			}
			return fmt.Errorf("%s: conversation ended before %q", s.nick, text)
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %q: %w", s.nick, text, ctx.Err())
		}
	}
}

// find searches lines[waited:] for text and, on a match, moves waited past
// it. Otherwise it returns the channel that is closed when lines next grows.
func (s *Session) find(text string) (found bool, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := s.waited; i < len(s.lines); i++ {
		if strings.Contains(s.lines[i], text) {
			s.waited = i + 1
			return true, nil
		}
	}
	return false, s.changed
}

// Done is closed once the conversation has ended and its status line has
// been produced.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns the conversation's status once Done is closed: nil for OK,
// otherwise a *wire.Error. It returns nil before that.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// send sends ev. If the call has already ended, it returns the call's
// status instead of the send error. An event the protocol does not allow
// now (a leave outside a room, say) is refused before it is sent: the
// error names the protocol's state and the conversation goes on.
func (s *Session) send(ev *chatpb.ClientEvent) error {
	err := s.call.Send(ev)
	if err == nil {
		return nil
	}
	var v *protocol.Violation
	if errors.As(err, &v) && v.Local {
		return err
	}
	<-s.done
	if s.err != nil {
		return s.err
	}
	return err
}

// Join enters room (leaving the current one); Joined arrives as an event.
func (s *Session) Join(room string) error {
	return s.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: room, Nick: s.nick}}})
}

// Say says text in the current room.
func (s *Session) Say(text string) error {
	return s.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: text}}})
}

// Who asks who is in the room; Members arrives as an event.
func (s *Session) Who() error {
	return s.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Who{Who: &chatpb.Who{}}})
}

// Leave leaves the current room; Left arrives as an event.
func (s *Session) Leave() error {
	return s.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Leave{Leave: &chatpb.Leave{}}})
}

// Rooms lists the server's rooms (a ListRooms call) and prints them.
func (s *Session) Rooms(ctx context.Context) error {
	res, err := s.chat.ListRooms(ctx, &chatpb.ListRoomsRequest{})
	if err != nil {
		s.print("* rooms: " + StatusText(err))
		return err
	}
	s.print(FormatRooms(res))
	return nil
}

// History prints the last limit messages of room (a History call); limit
// 0 asks for all the server keeps.
func (s *Session) History(ctx context.Context, room string, limit uint32) error {
	res, err := s.chat.History(ctx, &chatpb.HistoryRequest{Room: room, Limit: limit})
	if err != nil {
		s.print("* history: " + StatusText(err))
		return err
	}
	s.print(fmt.Sprintf("[%s] * %d recent messages", room, len(res.Messages)))
	for _, m := range res.Messages {
		s.print(formatMessage(m, s.opts.Timestamps, "(history) "))
	}
	return nil
}

// Quit half-closes the conversation (the server takes the member out of its
// room and ends the call with OK) and waits for the end: it returns the
// status, nil for OK, or ctx.Err() if ctx ends first.
func (s *Session) Quit(ctx context.Context) error {
	_ = s.call.CloseSend()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cancel abandons the conversation at once (RST_STREAM(CANCEL)); the
// server sees the member disconnect.
func (s *Session) Cancel() { s.call.Cancel() }

// Help lists the commands Do understands.
const Help = `commands: /join ROOM, /leave, /who, /rooms, /history [ROOM] [N], /quit; ` +
	`in scripts also /sleep DURATION and /wait TEXT; anything else is said in the room`

// Do carries out one line of input: a command, or text to say. quit
// reports /quit (the caller then calls Quit). An error is the reason a
// command could not be carried out: a usage error (the session goes on) or
// the conversation's status once it has ended.
func (s *Session) Do(ctx context.Context, line string) (quit bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	if strings.TrimSpace(line) == "" {
		return false, nil
	}
	if !strings.HasPrefix(line, "/") {
		if err := server.ValidText(line, server.DefaultMaxText); err != nil {
			return false, s.refuse(err)
		}
		return false, s.Say(line)
	}
	cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/join":
		if arg == "" {
			return false, s.usage("/join ROOM")
		}
		room := strings.ToLower(arg) // as the web page does
		if err := server.ValidRoom(room); err != nil {
			return false, s.refuse(err)
		}
		if room == s.Room() {
			s.print("* you are already in " + room)
			return false, ErrUsage
		}
		return false, s.Join(room)
	case "/leave":
		return false, s.Leave()
	case "/who":
		return false, s.Who()
	case "/rooms":
		return false, s.Rooms(ctx)
	case "/history":
		room, n := s.Room(), uint64(0)
		for _, f := range strings.Fields(arg) {
			if v, err := strconv.ParseUint(f, 10, 32); err == nil {
				n = v
			} else {
				room = f
			}
		}
		if room == "" {
			return false, s.usage("/history ROOM [N]")
		}
		return false, s.History(ctx, room, uint32(n))
	case "/quit":
		return true, nil
	case "/sleep":
		d, err := time.ParseDuration(arg)
		if err != nil {
			return false, s.usage("/sleep DURATION (like 500ms)")
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	case "/wait":
		if arg == "" {
			return false, s.usage("/wait TEXT")
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return false, s.Wait(wctx, arg)
	case "/help":
		s.print("* " + Help)
		return false, nil
	}
	return false, s.usage(Help)
}

// refuse prints why a line was not sent and returns ErrUsage: the server
// would have refused it by ending the conversation (an invalid room, a
// message too long for its default limit or not one line), so a typo is
// caught here and the session goes on.
func (s *Session) refuse(err error) error {
	msg := err.Error()
	if we := (*wire.Error)(nil); errors.As(err, &we) {
		msg = we.Message()
	}
	s.print("* not sent: " + msg)
	return ErrUsage
}

// usage prints a usage hint and returns it as an error.
func (s *Session) usage(hint string) error {
	s.print("* usage: " + hint)
	return ErrUsage
}

// ErrUsage is returned by Do for a line it cannot parse (after printing a
// hint); the session goes on.
var ErrUsage = errors.New("member: usage")
