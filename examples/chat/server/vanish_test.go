package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
)

// A member that sends leave and goes away at once (its call cancelled, as
// a crash right after /leave would) must not stay in the room: whether
// the room heard the leave before the call ended or not, the member is
// gone and its nick is free. The same holds for one that vanishes while
// the room admits it. A talker keeps the room busy, so that the
// leave waits in the room's mailbox while the call ends.
func TestLeaveThenVanish(t *testing.T) {
	ts := start(t, server.Config{SayRate: -1, MaxText: 4 << 10})
	c := dial(t, ts.addr)
	talker := open(t, dial(t, ts.addr), "talker")
	talker.mustJoin("lobby")
	stop := make(chan struct{})
	talked := make(chan struct{})
	go func() {
		defer close(talked)
		line := &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: strings.Repeat("t", 4<<10)}}}
		for range 20000 {
			select {
			case <-stop:
				return
			default:
			}
			if talker.call.Send(line) != nil {
				return
			}
		}
	}()
	const n = 30
	for i := range n {
		m := open(t, c, fmt.Sprintf("v%d", i))
		if i%3 == 2 {
			m.join("lobby") // and vanish while the room admits it
			m.call.Cancel()
			continue
		}
		m.mustJoin("lobby")
		m.leave()
		m.call.Cancel()
	}
	close(stop)
	<-talked
	deadline := time.Now().Add(patience)
	for listRooms(t, c)["lobby"] != 1 {
		if time.Now().After(deadline) {
			talker.who()
			ev := talker.skipTo(func(ev *chatpb.ServerEvent) bool { return membersOf(ev) != nil })
			t.Fatalf("members left in the room after %d joined, left and vanished: %v", n, membersOf(ev).Nicks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
