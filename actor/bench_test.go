package actor_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/mailbox"
)

// reportRate adds a msgs/s metric: b.N messages over the timed part of the
// benchmark, which includes waiting for the actor to handle them all.
func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func benchTell(b *testing.B, ctx context.Context, parallel bool) {
	var handled atomic.Int64
	ref := actor.Spawn(context.Background(), func(context.Context, int) error {
		handled.Add(1)
		return nil
	}, actor.WithMailbox(1024))
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if err := ref.Tell(ctx, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for i := range b.N {
			if err := ref.Tell(ctx, i); err != nil {
				b.Fatal(err)
			}
		}
	}
	ref.Stop(actor.Drain)
	ref.Wait(context.Background())
	b.StopTimer()
	if handled.Load() != int64(b.N) {
		b.Fatalf("handled %d of %d", handled.Load(), b.N)
	}
	reportRate(b)
}

// BenchmarkTell is one sender telling one actor; the handler does nothing.
func BenchmarkTell(b *testing.B) {
	b.Run("background-ctx", func(b *testing.B) { benchTell(b, context.Background(), false) })
	// A sender context with values costs the handler-side context wrapper.
	valueCtx := context.WithValue(context.Background(), ctxKey("k"), "v")
	b.Run("value-ctx", func(b *testing.B) { benchTell(b, valueCtx, false) })
}

// BenchmarkTellParallel is GOMAXPROCS senders telling one actor.
func BenchmarkTellParallel(b *testing.B) {
	benchTell(b, context.Background(), true)
}

// BenchmarkAsk is a request/reply round trip to one actor.
func BenchmarkAsk(b *testing.B) {
	ref := actor.Spawn(context.Background(), func(_ context.Context, r actor.Reply[int]) error {
		r.Send(1)
		return nil
	})
	defer func() { ref.Stop(actor.Discard); ref.Wait(context.Background()) }()
	ctx := context.Background()
	build := func(r actor.Reply[int]) actor.Reply[int] { return r }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := actor.Ask(ctx, ref, build); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b)
}

// BenchmarkAskParallel is GOMAXPROCS askers sharing one actor.
func BenchmarkAskParallel(b *testing.B) {
	ref := actor.Spawn(context.Background(), func(_ context.Context, r actor.Reply[int]) error {
		r.Send(1)
		return nil
	}, actor.WithMailbox(1024))
	defer func() { ref.Stop(actor.Discard); ref.Wait(context.Background()) }()
	build := func(r actor.Reply[int]) actor.Reply[int] { return r }
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := actor.Ask(ctx, ref, build); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportRate(b)
}

// BenchmarkGroupBroadcast is one broadcaster and 8 members, each draining
// into its own mailbox; msgs/s counts broadcasts, dropped/op the messages
// the members' DropOldest queues evicted because the broadcaster outran
// them.
func BenchmarkGroupBroadcast(b *testing.B) {
	const members = 8
	g := actor.NewGroup[int]()
	ctx, cancel := context.WithCancel(context.Background())
	var ms []*actor.Member[int]
	done := make(chan struct{}, members)
	for range members {
		out := mailbox.New[int](1024)
		ms = append(ms, g.Join(context.Background(), out, actor.QueueSize(1024)))
		go func() {
			for {
				if _, err := out.Recv(ctx); err != nil {
					done <- struct{}{}
					return
				}
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if g.Broadcast(i) != members {
			b.Fatal("a member left")
		}
	}
	b.StopTimer()
	reportRate(b)
	var dropped uint64
	for _, m := range ms {
		dropped += m.Dropped()
	}
	b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
	g.Close(nil)
	cancel()
	for range members {
		<-done
	}
}
