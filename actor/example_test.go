package actor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/mailbox"
)

// The counter's messages: a closed set of request types, one of which asks
// for a reply.
type counterCmd interface{ isCounterCmd() }

type addCmd struct{ n int }
type getCmd struct{ reply actor.Reply[int] }

func (addCmd) isCounterCmd() {}
func (getCmd) isCounterCmd() {}

// Request/reply: Tell for commands, Ask for queries. The state (total) is
// owned by the actor's goroutine and needs no lock.
func ExampleAsk() {
	total := 0
	counter := actor.Spawn(context.Background(), func(_ context.Context, msg counterCmd) error {
		switch m := msg.(type) {
		case addCmd:
			total += m.n
		case getCmd:
			m.reply.Send(total)
		}
		return nil
	})

	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		counter.Tell(ctx, addCmd{i})
	}
	askCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := actor.Ask(askCtx, counter, func(r actor.Reply[int]) counterCmd { return getCmd{r} })
	fmt.Println(n, err)

	counter.Stop(actor.Drain)
	fmt.Println(counter.Wait(ctx))
	// Output:
	// 10 <nil>
	// <nil>
}

type line struct{ Text string }

// Per-conversation actor: a streaming handler gives each conversation an
// actor that owns the conversation's state, forwards the inbound mailbox to
// it and lets it write to the outbound mailbox. The two mailboxes here stand
// for runtime.ServerCall's In() and Out().
func ExampleForward() {
	ctx := context.Background()
	in := mailbox.New[*line](4)  // call.In(): what the client sends
	out := mailbox.New[*line](4) // call.Out(): what the handler answers

	// The client: two lines, then half-close.
	go func() {
		for _, s := range []string{"hello", "world"} {
			in.Send(ctx, &line{s})
		}
		in.Close(mailbox.End{})
	}()

	// The handler.
	handle := func(ctx context.Context, in mailbox.Receiver[*line], out mailbox.Sender[*line]) error {
		count := 0 // owned by the session actor
		session := actor.Spawn(ctx, func(ctx context.Context, l *line) error {
			count++
			return out.Send(ctx, &line{fmt.Sprintf("%d %s", count, strings.ToUpper(l.Text))})
		})
		err := actor.Forward(ctx, in, session, func(l *line) *line { return l })
		session.Stop(actor.Drain) // answer what was forwarded, then stop
		if werr := session.Wait(ctx); err == nil {
			err = werr
		}
		return err
	}
	err := handle(ctx, in, out)
	out.Close(mailbox.End{Err: err}) // the runtime does this when the handler returns

	for l := range out.C() {
		fmt.Println(l.Text)
	}
	fmt.Println("status:", err)
	// Output:
	// 1 HELLO
	// 2 WORLD
	// status: <nil>
}

type roomMsg interface{ isRoomMsg() }

type joinRoom struct {
	name string
	out  mailbox.Sender[string] // the member's outbound mailbox
}
type sayRoom struct{ from, text string }

func (joinRoom) isRoomMsg() {}
func (sayRoom) isRoomMsg()  {}

// Pub/sub room: one actor per room owns a Group of its members' outbound
// mailboxes. Broadcast never blocks the room; a member too slow to keep up
// is disconnected instead of stalling everyone else.
func ExampleGroup() {
	ctx := context.Background()
	members := actor.NewGroup[string]()
	room := actor.Spawn(ctx, func(_ context.Context, msg roomMsg) error {
		switch m := msg.(type) {
		case joinRoom:
			members.Join(context.Background(), m.out, actor.DisconnectWhenFull(nil))
			members.Broadcast(m.name + " joined")
		case sayRoom:
			members.Broadcast(m.from + ": " + m.text)
		}
		return nil
	}, actor.WithStop(func(context.Context, error) { members.Close(nil) }))

	alice, bob := mailbox.New[string](8), mailbox.New[string](8)
	room.Tell(ctx, joinRoom{"alice", alice})
	room.Tell(ctx, joinRoom{"bob", bob})
	room.Tell(ctx, sayRoom{"alice", "hi"})
	room.Tell(ctx, sayRoom{"bob", "hey"})

	read := func(who string, mb *mailbox.Mailbox[string], n int) {
		for range n {
			s, _ := mb.Recv(ctx)
			fmt.Printf("%s sees %q\n", who, s)
		}
	}
	read("alice", alice, 4)
	read("bob", bob, 3)

	room.Stop(actor.Drain)
	room.Wait(ctx)
	// Output:
	// alice sees "alice joined"
	// alice sees "bob joined"
	// alice sees "alice: hi"
	// alice sees "bob: hey"
	// bob sees "bob joined"
	// bob sees "alice: hi"
	// bob sees "bob: hey"
}

// Pipeline: each stage is an actor that Tells the next. Bounded mailboxes
// with the Block policy carry backpressure from the last stage to the
// first; stopping front to back with Drain loses nothing.
func ExampleSpawn_pipeline() {
	ctx := context.Background()
	var results []int // owned by sink until it has stopped
	sink := actor.Spawn(ctx, func(_ context.Context, n int) error {
		results = append(results, n)
		return nil
	}, actor.WithMailbox(2))
	square := actor.Spawn(ctx, func(ctx context.Context, n int) error {
		return sink.Tell(ctx, n*n)
	}, actor.WithMailbox(2))
	parse := actor.Spawn(ctx, func(ctx context.Context, s string) error {
		n, err := strconv.Atoi(s)
		if err != nil {
			fmt.Println("skipping", s)
			return nil
		}
		return square.Tell(ctx, n)
	}, actor.WithMailbox(2))

	for _, s := range []string{"1", "2", "x", "3", "4"} {
		parse.Tell(ctx, s)
	}
	for _, stage := range []actor.Process{parse, square, sink} {
		stage.Stop(actor.Drain)
		stage.Wait(ctx)
	}
	fmt.Println(results)
	// Output:
	// skipping x
	// [1 4 9 16]
}

type lookup struct {
	key   string
	reply actor.Reply[string]
}

// Scatter-gather with a deadline: ask every replica at once under one
// deadline and keep what arrives in time. The deadline crosses into the
// handlers: the stuck replica sees its ctx end and gives up too.
func ExampleAsk_scatterGather() {
	ctx := context.Background()
	replica := func(name string, stuck bool) *actor.Ref[lookup] {
		return actor.Spawn(ctx, func(ctx context.Context, q lookup) error {
			if stuck {
				<-ctx.Done() // the asker's deadline
				q.reply.Fail(ctx.Err())
				return nil
			}
			q.reply.Send(name + ":" + strings.ToUpper(q.key))
			return nil
		})
	}
	replicas := []*actor.Ref[lookup]{replica("r1", false), replica("r2", true), replica("r3", false)}

	gctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	answers := make([]string, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() {
			v, err := actor.Ask(gctx, r, func(rep actor.Reply[string]) lookup { return lookup{"k", rep} })
			if errors.Is(err, context.DeadlineExceeded) {
				v = "(no answer in time)"
			}
			answers[i] = v
		})
	}
	wg.Wait()
	for _, a := range answers {
		fmt.Println(a)
	}
	for _, r := range replicas {
		r.Stop(actor.Discard)
		r.Wait(ctx)
	}
	// Output:
	// r1:K
	// (no answer in time)
	// r3:K
}

// Supervision: a panicking handler is restarted (init runs again, queued
// messages are kept) until it fails more often than the budget allows; then
// the actor stops and its watchers learn why.
func ExampleWithRestart() {
	ctx := context.Background()
	incarnation := 0
	worker := actor.Spawn(ctx, func(_ context.Context, job string) error {
		if job == "crash" {
			panic("crash")
		}
		fmt.Println("incarnation", incarnation, "did", job)
		return nil
	},
		actor.WithName("worker"),
		actor.WithInit(func(context.Context) error { incarnation++; return nil }),
		actor.WithRestart(1, time.Minute),
		actor.WithBackoff(0, 0),
		actor.WithLogger(slog.New(slog.DiscardHandler)), // failures are logged at Error; silenced here
	)
	stopped := make(chan struct{})
	worker.Watch(func(reason error) {
		fmt.Println("watcher:", reason)
		close(stopped)
	})
	for _, job := range []string{"a", "crash", "b", "crash", "c"} {
		worker.Tell(ctx, job)
	}
	<-stopped
	var limit *actor.RestartLimitError
	fmt.Println(errors.As(worker.Err(), &limit), limit.Last)
	// Output:
	// incarnation 1 did a
	// incarnation 2 did b
	// watcher: actor "worker": restart budget exhausted (1 restarts in 1m0s): actor: handler panicked: crash
	// true actor: handler panicked: crash
}
