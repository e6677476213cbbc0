// Command demo is `make chat`: it starts a chat server on an ephemeral
// loopback port and three members (alice, bob and carol) who connect to it
// over their own HTTP/2 connections and hold a short conversation in two
// rooms: joins, messages, history replayed to a latecomer, /who, /rooms,
// someone leaving. It prints the transcript as it happens, each line
// prefixed by the member who sees it ("alice | ...") or who types it
// ("alice > ..."), and exits 0 once everyone has seen what they should,
// within a few seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/member"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
)

func main() {
	pace := flag.Duration("pace", 150*time.Millisecond, "pause between steps, for human eyes")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout, *pace); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// script is the conversation: who types what, and what each member must
// then have seen (in order) before the next step. Waiting for every
// recipient makes the transcript the same on every run.
var script = []step{
	{"alice", "/join lobby", expect{"alice": {"you joined as alice"}}},
	{"bob", "/join lobby", expect{"bob": {"you joined as bob"}, "alice": {"bob joined"}}},
	{"carol", "/join random", expect{"carol": {"you joined as carol"}}},
	{"alice", "hi bob, welcome to parley", expect{"alice": {"<alice> hi bob"}, "bob": {"<alice> hi bob"}}},
	{"bob", "hey alice! is carol around?", expect{"alice": {"<bob> hey alice"}, "bob": {"<bob> hey alice"}}},
	{"carol", "anyone here?", expect{"carol": {"<carol> anyone here?"}}},
	{"carol", "/rooms", expect{"carol": {"* rooms:"}}},
	{"carol", "/join lobby", expect{
		"carol": {"[random] * you left", "you joined as carol", "(history) <bob> hey alice"},
		"alice": {"carol joined"},
		"bob":   {"carol joined"},
	}},
	{"carol", "/who", expect{"carol": {"* here:"}}},
	{"carol", "hi both, I just read the history", expect{
		"alice": {"<carol> hi both"}, "bob": {"<carol> hi both"}, "carol": {"<carol> hi both"},
	}},
	{"bob", "gotta go, bye!", expect{
		"alice": {"<bob> gotta go"}, "bob": {"<bob> gotta go"}, "carol": {"<bob> gotta go"},
	}},
	{"bob", "/quit", expect{"bob": {"conversation over"}, "alice": {"bob left"}, "carol": {"bob left"}}},
	{"alice", "/history lobby 2", expect{"alice": {"2 recent messages", "(history)", "(history)"}}},
	{"alice", "bye carol", expect{"alice": {"<alice> bye carol"}, "carol": {"<alice> bye carol"}}},
	{"carol", "/quit", expect{"carol": {"conversation over"}, "alice": {"carol left"}}},
	{"alice", "/quit", expect{"alice": {"conversation over"}}},
}

// step is one line typed by one member.
type step struct {
	who  string
	line string
	want expect
}

// expect maps a member to texts that must appear, in order, in the lines
// it sees after the step.
type expect map[string][]string

// cast is the order members' lines are printed in after each step.
var cast = []string{"alice", "bob", "carol"}

// run starts the server, plays the script and shuts everything down. It
// writes the transcript to out.
//
// The server and the conversation end together and run reports the first
// error of either: the conversation shuts the server down when it is over,
// and a server that stops serving ends the conversation.
func run(ctx context.Context, out io.Writer, pace time.Duration) error {
	quiet := slog.New(slog.DiscardHandler)
	srv := server.New(server.Config{Logger: quiet}, runtime.WithLogger(quiet))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(l); !errors.Is(err, runtime.ErrServerClosed) {
			return fmt.Errorf("chat server: %w", err)
		}
		return nil
	})
	addr := l.Addr().String()
	fmt.Fprintf(out, "chat server listening on %s; alice, bob and carol connect over loopback\n", addr)
	g.Go(func() error {
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		return converse(gctx, out, addr, quiet, pace)
	})
	return g.Wait()
}

// converse connects the cast to the server on addr and plays the script.
func converse(ctx context.Context, out io.Writer, addr string, quiet *slog.Logger, pace time.Duration) error {
	members := make(map[string]*member.Session, len(cast))
	flushed := make(map[string]int, len(cast))
	for _, name := range cast {
		client, err := runtime.Dial(addr, runtime.WithLogger(quiet)) // one HTTP/2 connection each
		if err != nil {
			return err
		}
		defer client.Close()
		s, err := member.Start(ctx, chatpb.NewChatClient(client), name, member.Options{})
		if err != nil {
			return err
		}
		defer func() {
			s.Cancel()
			<-s.Done()
		}()
		members[name] = s
	}

	flush := func() {
		for _, name := range cast {
			lines := members[name].Lines()
			for _, l := range lines[flushed[name]:] {
				fmt.Fprintf(out, "%-5s | %s\n", name, l)
			}
			flushed[name] = len(lines)
		}
	}
	for _, st := range script {
		if pace > 0 {
			select {
			case <-time.After(pace):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		fmt.Fprintf(out, "%-5s > %s\n", st.who, st.line)
		s := members[st.who]
		quit, err := s.Do(ctx, st.line)
		if err != nil {
			return fmt.Errorf("%s: %q: %w", st.who, st.line, err)
		}
		if quit {
			if err := s.Quit(ctx); err != nil {
				return fmt.Errorf("%s quit: %w", st.who, err)
			}
		}
		for _, name := range cast {
			for _, text := range st.want[name] {
				if err := members[name].Wait(ctx, text); err != nil {
					flush()
					return err
				}
			}
		}
		flush()
	}
	fmt.Fprintln(out, "everyone has left; shutting the server down")
	return nil
}
