package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
)

func gapOf(ev *chatpb.ServerEvent) *chatpb.Gap {
	if e, ok := ev.Event.(*chatpb.ServerEvent_Gap); ok {
		return e.Gap
	}
	return nil
}

// A member that stops reading, within the grace, is not disconnected:
// once it reads again it gets what was queued, a Gap where it missed
// messages (several, as its HTTP/2 window let some through while it did
// not read), and then the room's messages as they come; History has what
// the Gaps name. The member that kept reading missed nothing.
func TestSlowMemberGap(t *testing.T) {
	defer server.SetSlowPolicy(64<<10, time.Hour)()
	ts := start(t, server.Config{MaxText: 16 << 10, SayRate: -1, HistorySize: 2000})
	alice := open(t, dial(t, ts.addr), "alice")
	alice.mustJoin("lobby")
	slow := openPaused(t, dial(t, ts.addr), "slow")
	slow.join("lobby")
	alice.mustPresence("lobby", "slow", joined, noReason, 2)

	// 600 messages of 16 KiB: about 9 MiB, more than slow's stream window
	// (4 MiB), its mailboxes and its backlog hold, so it misses some.
	const n = 600
	big := strings.Repeat("x", 16<<10)
	for i := 1; i <= n; i++ {
		alice.say(big)
		alice.skipTo(func(ev *chatpb.ServerEvent) bool { m := messageOf(ev); return m != nil && m.Seq == uint64(i) })
	}
	slow.collect()
	gapEv := slow.skipTo(func(ev *chatpb.ServerEvent) bool { return gapOf(ev) != nil })
	// Gaps also came while alice talked (the window let some through):
	// "after" is said once slow has caught up to the last message, by
	// receiving it or a Gap for it. Said earlier, while slow is still
	// behind, it would be missed too.
	caughtUp := func(ev *chatpb.ServerEvent) bool {
		m, g := messageOf(ev), gapOf(ev)
		return m != nil && m.Seq == n || g != nil && g.LastSeq >= n
	}
	if !caughtUp(gapEv) {
		slow.skipTo(caughtUp)
	}
	alice.say("after")

	// slow: Joined, messages in order, each Gap exactly where the missed
	// ones would have been, then "after".
	slow.next = 0
	if joinedOf(slow.read()) == nil {
		t.Fatal("slow's first event is not Joined")
	}
	var seq uint64
	var gaps []*chatpb.Gap
	for {
		ev := slow.read()
		if g := gapOf(ev); g != nil {
			gaps = append(gaps, g)
			if g.FirstSeq != seq+1 || g.LastSeq < g.FirstSeq || g.Missed != g.LastSeq-g.FirstSeq+1 || g.Room != "lobby" {
				t.Fatalf("gap %+v after message %d", g, seq)
			}
			seq = g.LastSeq
			continue
		}
		m := messageOf(ev)
		if m == nil || m.Seq != seq+1 {
			t.Fatalf("slow got %+v after seq %d", ev.Event, seq)
		}
		seq = m.Seq
		if m.Text == "after" {
			break
		}
	}
	if len(gaps) == 0 || gapOf(gapEv) == nil {
		t.Fatal("no gap")
	}
	if seq != n+1 {
		t.Fatalf("slow's stream ended at seq %d, want %d", seq, n+1)
	}
	missed := uint64(0)
	for _, g := range gaps {
		missed += g.Missed
	}
	t.Logf("slow missed %d messages in %d gaps", missed, len(gaps))

	// What it missed is in History.
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	h, err := dial(t, ts.addr).History(ctx, &chatpb.HistoryRequest{Room: "lobby"}, runtime.MaxCallRecvMsgSize(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]bool{}
	for _, m := range h.Messages {
		have[m.Seq] = true
	}
	for _, g := range gaps {
		for s := g.FirstSeq; s <= g.LastSeq; s++ {
			if !have[s] {
				t.Fatalf("History lacks message %d of gap %+v", s, g)
			}
		}
	}

	// slow is still a member and can talk.
	slow.say("back")
	slow.skipTo(func(ev *chatpb.ServerEvent) bool { m := messageOf(ev); return m != nil && m.Text == "back" })
	// alice never missed anything.
	alice.skipTo(func(ev *chatpb.ServerEvent) bool {
		if gapOf(ev) != nil {
			t.Fatal("alice got a gap")
		}
		m := messageOf(ev)
		return m != nil && m.Text == "back"
	})
}

// The burst of the chat benchmark: 1,000 members of one room, 20 of them
// saying 20 lines each at once. Every member gets every line, in order,
// with no gap. Under -race (ten times slower; the joins alone are half a
// million presence events) and -short the room has 300 members.
func TestBurstReachesEveryone(t *testing.T) {
	members, talkers, lines := 1000, 20, 20
	if testing.Short() || raceEnabled {
		members = 300
	}
	ts := start(t, server.Config{SayRate: -1})
	// Members share connections, 100 to one, as behind a proxy.
	var conns []*conn
	for range (members + 99) / 100 {
		conns = append(conns, dial(t, ts.addr))
	}
	ms := make([]*member, members)
	for i := range ms {
		ms[i] = open(t, conns[i%len(conns)], fmt.Sprintf("m%d", i))
		ms[i].join("burst")
		ms[i].skipTo(func(ev *chatpb.ServerEvent) bool { return joinedOf(ev) != nil })
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range talkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range lines {
				if err := ms[i].call.Send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: fmt.Sprintf("line %d of m%d", j, i)}}}); err != nil {
					t.Errorf("m%d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := uint64(talkers * lines)
	for i, m := range ms {
		var seq uint64
		for seq < want {
			ev := m.read()
			if gapOf(ev) != nil {
				t.Fatalf("m%d got a gap after %d: %+v", i, seq, gapOf(ev))
			}
			if msg := messageOf(ev); msg != nil {
				if msg.Seq != seq+1 {
					t.Fatalf("m%d got message %d after %d", i, msg.Seq, seq)
				}
				seq = msg.Seq
			}
		}
	}
	d := time.Since(start)
	t.Logf("%d members got %d lines each in %v: %.0f deliveries/s", members, want, d.Round(time.Millisecond), float64(members)*float64(want)/d.Seconds())
}
