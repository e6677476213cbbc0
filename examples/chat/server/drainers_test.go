package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/mailbox"
)

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not %s after 5 s", what)
}

// Members' events are delivered by goroutines that have delivered before:
// three members that get an event one after the other are served by one
// goroutine, which ends after drainerIdle with nothing to do; close ends
// one that waits at once.
func TestDrainersReuseGoroutines(t *testing.T) {
	var p drainers
	idle := func() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.idle) }
	started := func() int { p.mu.Lock(); defer p.mu.Unlock(); return p.started }
	deliver := func(i int) {
		t.Helper()
		mb := mailbox.New[*chatpb.ServerEvent](4)
		b := newBacklog(context.Background(), "lobby", mb, func() {}, &p)
		b.start()
		sys := &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: &chatpb.ChatMessage{Seq: uint64(i)}}}
		b.push(sys, time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ev, err := mb.Recv(ctx); err != nil || ev != sys {
			t.Fatalf("member %d: %v, %v; want its event", i, ev, err)
		}
		waitUntil(t, "idle again", func() bool { return idle() == 1 })
	}
	for i := range 3 {
		deliver(i)
	}
	if n := started(); n != 1 {
		t.Fatalf("%d goroutines started for three members one after the other, want 1", n)
	}
	waitUntil(t, "ended after drainerIdle", func() bool { return idle() == 0 })
	deliver(3)
	if n := started(); n != 2 {
		t.Fatalf("%d goroutines started, want 2: the first ended when idle", n)
	}
	p.close()
	if n := idle(); n != 0 {
		t.Fatalf("%d drainers wait after close", n)
	}
}

// msg is a message event numbered seq.
func msg(seq int) *chatpb.ServerEvent {
	return &chatpb.ServerEvent{Event: &chatpb.ServerEvent_Message{Message: &chatpb.ChatMessage{Seq: uint64(seq)}}}
}

// Members whose calls are full do not hold up the others, even more of
// them than there are delivering goroutines: their events wait for them
// on goroutines of their own and come in order once they read, while
// every other member's events are delivered meanwhile.
func TestDrainersSlowMembersWaitAlone(t *testing.T) {
	var p drainers
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow := make([]*mailbox.Mailbox[*chatpb.ServerEvent], maxDrainers+1)
	for i := range slow {
		slow[i] = mailbox.New[*chatpb.ServerEvent](1)
		b := newBacklog(context.Background(), "lobby", slow[i], func() {}, &p)
		b.start()
		for j := range 5 {
			b.push(msg(j), time.Now()) // the first fills the mailbox
		}
	}
	boxes := make([]*mailbox.Mailbox[*chatpb.ServerEvent], 4*maxDrainers)
	for i := range boxes {
		boxes[i] = mailbox.New[*chatpb.ServerEvent](4)
		b := newBacklog(context.Background(), "lobby", boxes[i], func() {}, &p)
		b.start()
		b.push(msg(100+i), time.Now())
	}
	for i, mb := range boxes {
		if ev, err := mb.Recv(ctx); err != nil || seqOf(ev) != uint64(100+i) {
			t.Fatalf("member %d, while others are full: %v, %v", i, ev, err)
		}
	}
	for i, mb := range slow {
		for j := range 5 {
			if ev, err := mb.Recv(ctx); err != nil || seqOf(ev) != uint64(j) {
				t.Fatalf("slow member %d's event %d: %v, %v", i, j, ev, err)
			}
		}
	}
	waitUntil(t, "done delivering", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.ready) == 0 && len(p.idle) == p.running })
}

// seqOf is a message event's number, or 0.
func seqOf(ev *chatpb.ServerEvent) uint64 {
	if m, ok := ev.Event.(*chatpb.ServerEvent_Message); ok && m.Message != nil {
		return m.Message.Seq
	}
	return 0
}

// A backlog started while every delivering goroutine is busy, and one
// of them is between its backlog and going idle, is queued and then
// taken by that goroutine: not left in the queue while it waits idle.
func TestDrainersQueueNotLost(t *testing.T) {
	var p drainers
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	member := func() (*backlog, *mailbox.Mailbox[*chatpb.ServerEvent]) {
		mb := mailbox.New[*chatpb.ServerEvent](1)
		b := newBacklog(context.Background(), "lobby", mb, func() {}, &p)
		b.start()
		return b, mb
	}
	late, lateBox := member()
	all := make(chan struct{})
	var mu sync.Mutex
	arrived := 0
	p.between = func() {
		// Hold every goroutine here until all have delivered, so that
		// none is idle; the last to come starts the late member first.
		mu.Lock()
		arrived++
		if arrived == maxDrainers {
			late.push(msg(99), time.Now())
			close(all)
		}
		mu.Unlock()
		<-all
	}
	boxes := make([]*mailbox.Mailbox[*chatpb.ServerEvent], maxDrainers)
	for i := range boxes {
		var b *backlog
		b, boxes[i] = member()
		b.push(msg(i), time.Now())
	}
	for i, mb := range boxes {
		if ev, err := mb.Recv(ctx); err != nil || seqOf(ev) != uint64(i) {
			t.Fatalf("member %d: %v, %v", i, ev, err)
		}
	}
	if ev, err := lateBox.Recv(ctx); err != nil || seqOf(ev) != 99 {
		t.Fatalf("the member started while every goroutine was busy: %v, %v", ev, err)
	}
	p.mu.Lock()
	started := p.started
	p.mu.Unlock()
	if started != maxDrainers {
		t.Fatalf("%d goroutines started, want %d: the late member was queued", started, maxDrainers)
	}
}
