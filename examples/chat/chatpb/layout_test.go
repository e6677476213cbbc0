package chatpb_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/vmihailenco/msgpack/v5"
)

// TestLayout pins the msgpack bytes that README.md documents, so that a
// client written from the README alone keeps working.
func TestLayout(t *testing.T) {
	at := time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z
	tests := []struct {
		name string
		msg  any
		hex  string
	}{
		{"join", &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: "lobby", Nick: "alice"}}},
			"81a46a6f696e82a4726f6f6da56c6f626279a46e69636ba5616c696365"},
		{"say", &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "hi"}}},
			"81a373617981a474657874a26869"},
		{"who", &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Who{Who: &chatpb.Who{}}},
			"81a377686f80"},
		{"message", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: &chatpb.ChatMessage{
			Room: "lobby", Seq: 1, Nick: "alice", Text: "hi", SentAt: at}}},
			"81a76d65737361676585a4726f6f6da56c6f626279a373657101a46e69636ba5616c696365a474657874a26869a773656e745f6174d6ff6955b900"},
		{"presence", &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Presence{Presence: &chatpb.Presence{
			Room: "lobby", Nick: "bob", Kind: chatpb.PresenceKind_PRESENCE_KIND_LEFT,
			Reason: chatpb.LeaveReason_LEAVE_REASON_DISCONNECTED, At: at, Members: 1}}},
			"81a870726573656e636586a4726f6f6da56c6f626279a46e69636ba3626f62a46b696e6402a6726561736f6e02a26174d6ff6955b900a76d656d6265727301"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := msgpack.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(b); got != tt.hex {
				t.Errorf("encoded %s\n      want %s", got, tt.hex)
			}
		})
	}

	// And a plain msgpack map, as another language would build it, decodes.
	raw, _ := msgpack.Marshal(map[string]any{"say": map[string]any{"text": "hello", "unknown_key": 7}})
	var ev chatpb.ClientEvent
	if err := msgpack.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if s, ok := ev.Event.(*chatpb.ClientEvent_Say); !ok || s.Say.Text != "hello" {
		t.Errorf("decoded %+v", ev.Event)
	}
}
