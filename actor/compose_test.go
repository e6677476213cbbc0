package actor_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
)

// drain receives n messages from mb, failing the test if they do not come.
func drain[T any](t *testing.T, mb *mailbox.Mailbox[T], n int) []T {
	t.Helper()
	out := make([]T, 0, n)
	ctx := waitCtx(t)
	for range n {
		v, err := mb.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(out), err)
		}
		out = append(out, v)
	}
	return out
}

func TestForward(t *testing.T) {
	errPeer := errors.New("peer failed")
	tests := []struct {
		name    string
		end     *mailbox.End // nil: never closed, cancel ctx instead
		stopDst bool
		wantErr error
		wantN   int // messages the destination must have seen
	}{
		{name: "clean end", end: &mailbox.End{}, wantErr: nil, wantN: 3},
		{name: "failure end", end: &mailbox.End{Err: errPeer, Trailer: wire.Metadata{"k": {"v"}}}, wantErr: errPeer, wantN: 3},
		{name: "ctx cancelled", wantErr: context.Canceled, wantN: 3},
		{name: "destination stopped", end: &mailbox.End{}, stopDst: true, wantErr: actor.ErrStopped, wantN: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string // actor goroutine; read after Wait
			dst := actor.Spawn(context.Background(), func(_ context.Context, s string) error {
				got = append(got, s)
				return nil
			})
			if tt.stopDst {
				dst.Stop(actor.Drain)
			}
			src := mailbox.New[int](8)
			for i := range 3 {
				src.Send(context.Background(), i)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.end != nil {
				src.Close(*tt.end)
			}
			errc := make(chan error, 1)
			go func() { errc <- actor.Forward(ctx, src, dst, strconv.Itoa) }()
			if tt.end == nil {
				eventually(t, "source drained", func() bool { return src.Len() == 0 })
				cancel()
			}
			if err := recv(t, errc); err != tt.wantErr {
				t.Fatalf("Forward = %v, want %v", err, tt.wantErr)
			}
			if tt.end != nil && tt.end.Trailer != nil {
				if end, _ := src.End(); end.Trailer.Get("k") != "v" {
					t.Errorf("trailer lost: %v", end.Trailer)
				}
			}
			if tt.end == nil {
				if _, closed := src.End(); closed {
					t.Error("cancelling Forward closed its source")
				}
			}
			dst.Stop(actor.Drain)
			dst.Wait(waitCtx(t))
			if len(got) != tt.wantN || (tt.wantN > 0 && !slices.Equal(got, []string{"0", "1", "2"}[:tt.wantN])) {
				t.Errorf("destination saw %v", got)
			}
		})
	}
}

func TestGroupBroadcastInOrder(t *testing.T) {
	g := actor.NewGroup[int]()
	defer g.Close(nil)
	want := make([]int, 50)
	var outs []*mailbox.Mailbox[int]
	for range 3 {
		out := mailbox.New[int](100)
		outs = append(outs, out)
		g.Join(context.Background(), out, actor.QueueSize(len(want)))
	}
	// An actor is a recipient too.
	var got []int // actor goroutine; read after Wait
	var count atomic.Int32
	ref := actor.Spawn(context.Background(), func(_ context.Context, n int) error {
		got = append(got, n)
		count.Add(1)
		return nil
	})
	g.Join(context.Background(), ref, actor.QueueSize(len(want)))
	if g.Len() != 4 {
		t.Fatalf("Len = %d", g.Len())
	}
	for i := range want {
		want[i] = i
		if n := g.Broadcast(i); n != 4 {
			t.Fatalf("Broadcast reached %d members, want 4", n)
		}
	}
	for i, out := range outs {
		if got := drain(t, out, len(want)); !slices.Equal(got, want) {
			t.Errorf("member %d got %v", i, got)
		}
	}
	eventually(t, "actor member served", func() bool { return int(count.Load()) == len(want) })
	g.Close(nil)
	ref.Stop(actor.Drain)
	ref.Wait(waitCtx(t))
	if !slices.Equal(got, want) {
		t.Errorf("actor member got %v", got)
	}
}

func TestGroupSlowMember(t *testing.T) {
	errTooSlow := errors.New("too slow")
	tests := []struct {
		name    string
		opt     actor.JoinOption
		wantErr error
	}{
		{name: "drop oldest", opt: actor.DropOldestWhenFull(), wantErr: actor.ErrGroupClosed},
		{name: "disconnect", opt: actor.DisconnectWhenFull(errTooSlow), wantErr: errTooSlow},
		{name: "disconnect default reason", opt: actor.DisconnectWhenFull(nil), wantErr: actor.ErrSlowConsumer},
	}
	const n = 20
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := actor.NewGroup[int]()
			fast := mailbox.New[int](n)
			g.Join(context.Background(), fast, actor.QueueSize(n))
			slowDst := mailbox.New[int](0) // nobody reads it: its pump blocks
			slow := g.Join(context.Background(), slowDst, actor.QueueSize(2), tt.opt)
			for i := range n {
				g.Broadcast(i) // never blocks, whatever the slow member does
			}
			got := drain(t, fast, n)
			if len(got) != n || got[n-1] != n-1 {
				t.Errorf("fast member got %v", got)
			}
			if tt.wantErr != actor.ErrGroupClosed {
				recv(t, slow.Done())
				if g.Len() != 1 {
					t.Errorf("Len after disconnect = %d, want 1", g.Len())
				}
			} else if d := slow.Dropped(); d < n-3 {
				t.Errorf("slow member dropped %d, want at least %d", d, n-3)
			}
			g.Close(nil)
			<-slow.Done()
			if err := slow.Err(); err != tt.wantErr {
				t.Errorf("slow member Err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGroupMemberEnds(t *testing.T) {
	errGone := errors.New("conversation over")
	tests := []struct {
		name    string
		end     func(m *actor.Member[int], dst *mailbox.Mailbox[int], cancel context.CancelCauseFunc)
		wantErr error
	}{
		{"leave", func(m *actor.Member[int], _ *mailbox.Mailbox[int], _ context.CancelCauseFunc) { m.Leave() }, nil},
		{"recipient closed", func(_ *actor.Member[int], dst *mailbox.Mailbox[int], _ context.CancelCauseFunc) {
			dst.Close(mailbox.End{})
		}, actor.ErrRecipientClosed},
		{"join ctx ended", func(_ *actor.Member[int], _ *mailbox.Mailbox[int], cancel context.CancelCauseFunc) {
			cancel(errGone)
		}, errGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := actor.NewGroup[int]()
			defer g.Close(nil)
			other := g.Join(context.Background(), mailbox.New[int](1))
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			dst := mailbox.New[int](1)
			m := g.Join(ctx, dst)
			tt.end(m, dst, cancel)
			recv(t, m.Done())
			if err := m.Err(); err != tt.wantErr {
				t.Errorf("Err = %v, want %v", err, tt.wantErr)
			}
			if g.Len() != 1 || g.Broadcast(1) != 1 {
				t.Errorf("group still counts the member: Len %d", g.Len())
			}
			if other.Err() != nil {
				t.Errorf("other member affected: %v", other.Err())
			}
		})
	}
}

func TestGroupClose(t *testing.T) {
	errRoomClosed := errors.New("room closed")
	g := actor.NewGroup[int]()
	var ms []*actor.Member[int]
	for range 3 {
		ms = append(ms, g.Join(context.Background(), mailbox.New[int](0)))
	}
	g.Broadcast(1) // every pump blocks in Send on an unread mailbox
	g.Close(errRoomClosed)
	for _, m := range ms {
		select {
		case <-m.Done():
		default:
			t.Fatal("Close returned before a member's pump stopped")
		}
		if m.Err() != errRoomClosed {
			t.Errorf("member Err = %v", m.Err())
		}
	}
	late := g.Join(context.Background(), mailbox.New[int](1))
	<-late.Done()
	if late.Err() != actor.ErrGroupClosed {
		t.Errorf("Join after Close: Err = %v", late.Err())
	}
	if g.Broadcast(2) != 0 || g.Len() != 0 {
		t.Error("closed group still has members")
	}
	g.Close(nil) // idempotent
}

// TestGroupLeaveAfterDrain: a member that leaves after draining still gets
// everything broadcast before it left, in order, then nothing more; Leave
// discards instead.
func TestGroupLeaveAfterDrain(t *testing.T) {
	g := actor.NewGroup[int]()
	defer g.Close(nil)
	// A recipient that holds the pump back until released, so messages
	// are still queued when the member leaves.
	dst := mailbox.New[int](1)
	m := g.Join(context.Background(), dst, actor.QueueSize(20))
	other := mailbox.New[int](20)
	g.Join(context.Background(), other, actor.QueueSize(20))
	for i := range 10 {
		g.Broadcast(i)
	}
	m.LeaveAfterDrain()
	if n := g.Broadcast(99); n != 1 {
		t.Fatalf("Broadcast after LeaveAfterDrain reached %d members, want 1", n)
	}
	if got, want := drain(t, dst, 10), []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("the leaving member got %v, want %v", got, want)
	}
	select {
	case <-m.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the member's pump did not stop after draining")
	}
	if err := m.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
	if v, ok, _ := dst.TryRecv(); ok {
		t.Fatalf("the member got %d after leaving", v)
	}
	m.LeaveAfterDrain() // idempotent
	m.Leave()
}
