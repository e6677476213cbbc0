package member

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/wire"
)

// Format renders one server event as the lines a member sees, each
// prefixed by its room: "[lobby] <alice> hi". With stamps, messages show
// the time they were said (HH:MM:SS, local time).
func Format(ev *chatpb.ServerEvent, stamps bool) []string {
	switch e := ev.Event.(type) {
	case *chatpb.ServerEvent_Joined:
		j := e.Joined
		if j == nil {
			j = &chatpb.Joined{}
		}
		lines := []string{fmt.Sprintf("[%s] * you joined as %s; here: %s", j.Room, j.Nick, strings.Join(j.Members, ", "))}
		for _, m := range j.History {
			lines = append(lines, formatMessage(m, stamps, "(history) "))
		}
		return lines
	case *chatpb.ServerEvent_Message:
		return []string{formatMessage(e.Message, stamps, "")}
	case *chatpb.ServerEvent_Presence:
		p := e.Presence
		if p == nil {
			p = &chatpb.Presence{}
		}
		what := "joined"
		if p.Kind == chatpb.PresenceKind_PRESENCE_KIND_LEFT {
			switch p.Reason {
			case chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED:
				what = "was disconnected"
			case chatpb.LeaveReason_LEAVE_REASON_TOO_SLOW:
				what = "was too slow and got disconnected"
			default:
				what = "left"
			}
		}
		return []string{fmt.Sprintf("[%s] * %s %s (%d here)", p.Room, p.Nick, what, p.Members)}
	case *chatpb.ServerEvent_Members:
		m := e.Members
		if m == nil {
			m = &chatpb.Members{}
		}
		return []string{fmt.Sprintf("[%s] * here: %s", m.Room, strings.Join(m.Nicks, ", "))}
	case *chatpb.ServerEvent_Left:
		room := ""
		if e.Left != nil {
			room = e.Left.Room
		}
		return []string{fmt.Sprintf("[%s] * you left", room)}
	}
	return []string{"* (an event this client does not know)"}
}

func formatMessage(m *chatpb.ChatMessage, stamps bool, prefix string) string {
	if m == nil {
		m = &chatpb.ChatMessage{}
	}
	if stamps && !m.SentAt.IsZero() {
		prefix += m.SentAt.Local().Format("15:04:05") + " "
	}
	return fmt.Sprintf("[%s] %s<%s> %s", m.Room, prefix, m.Nick, m.Text)
}

// FormatRooms renders a ListRooms answer.
func FormatRooms(res *chatpb.ListRoomsResponse) string {
	if len(res.Rooms) == 0 {
		return "* no rooms yet"
	}
	parts := make([]string, len(res.Rooms))
	for i, r := range res.Rooms {
		parts[i] = fmt.Sprintf("%s (%d here)", r.Name, r.Members)
	}
	return "* rooms: " + strings.Join(parts, ", ")
}

// FormatEnd renders how a conversation ended: err is nil (or io.EOF) for
// status OK, otherwise the status, printed as "CODE: message".
func FormatEnd(err error) string {
	if err == nil || errors.Is(err, io.EOF) {
		return "* conversation over (OK)"
	}
	return "* disconnected: " + StatusText(err)
}

// StatusText renders an error as its gRPC status, "CODE: message".
func StatusText(err error) string {
	we := wire.AsError(err)
	if we.Message() == "" {
		return we.Code().String()
	}
	return we.Code().String() + ": " + we.Message()
}
