package server_test

import (
	goruntime "runtime"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
)

// Members who sit in a room saying nothing hold no goroutine on the
// server: after n members have joined one room and each has read every
// presence up to the last one's arrival, the process holds about as many
// goroutines as before they came (their client calls, idle, hold none
// either), where a handler goroutine per member would add n.
func TestIdleMembersHoldNoGoroutine(t *testing.T) {
	const n = 100
	ts := start(t, server.Config{})
	c := dial(t, ts.addr)
	first := open(t, c, "first") // the room, the connection and its goroutines
	first.mustJoin("lobby")
	before := goruntime.NumGoroutine()
	calls := make([]*runtime.ClientCall[chatpb.ClientEvent, chatpb.ServerEvent], n)
	for i := range calls {
		call, err := runtime.Open[chatpb.ClientEvent, chatpb.ServerEvent](ctxT(t), c.raw, chatpb.Chat_Converse_FullMethodName)
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = call
		join := &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: "lobby", Nick: nickOf(i)}}}
		if err := call.Send(join); err != nil {
			t.Fatal(err)
		}
		if ev, err := call.Recv(); err != nil || joinedOf(ev) == nil {
			t.Fatalf("member %d: %v, %v; want joined", i, ev, err)
		}
	}
	// Every member has been told of every later arrival: the room's
	// deliveries are done.
	for i, call := range calls {
		for j := i + 1; j < n; j++ {
			ev, err := call.Recv()
			if p := presenceOf(ev); err != nil || p == nil || p.Nick != nickOf(j) {
				t.Fatalf("member %d: %v, %v; want the presence of %s", i, ev, err, nickOf(j))
			}
		}
	}
	// Goroutines that served the joins (the transport's handler workers,
	// the room's delivering goroutines) wait up to a second for more work
	// before they end: under load there may be many at once.
	after := goruntime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); after-before > n/10 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		after = goruntime.NumGoroutine()
	}
	if after-before > n/10 {
		t.Errorf("%d idle members added %d goroutines (%d before, %d after), want about none", n, after-before, before, after)
	}
	for _, call := range calls {
		call.Cancel()
	}
}

func nickOf(i int) string { return "m" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }
