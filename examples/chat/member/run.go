package member

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/runtime"
)

// Config is what Run needs: where to connect, who to be, and where the
// input comes from.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Name is the member's nick.
	Name string
	// Room, if set, is joined at once.
	Room string
	// Script, if not nil, is played instead of reading In: one line
	// (command or text) at a time, Delay apart; the member quits after the
	// last line unless the script ended the conversation itself.
	Script []string
	// Delay is the pause before each script line.
	Delay time.Duration
	// In is read line by line when Script is nil; the member quits at its
	// end. Run does not close it: a Read blocked when Run returns keeps
	// its goroutine until it returns.
	In io.Reader
	// Out receives every line, prefixed by Prefix. Writes are serialised.
	Out io.Writer
	// Prefix starts every line written to Out, like "alice | ".
	Prefix string
	// Timestamps shows when each message was said.
	Timestamps bool
	// DialOptions are passed to runtime.Dial.
	DialOptions []runtime.DialOption
}

// Run connects, joins Config.Room, and carries out input lines until /quit,
// the end of the input, the server ending the conversation, or ctx ending.
// Everything the member sees is written to Config.Out as it happens,
// ending with how the conversation ended ("* disconnected: UNAVAILABLE:
// chat server is shutting down"). It returns nil if the conversation
// ended with OK, otherwise its status (a *wire.Error) or ctx.Err().
func Run(ctx context.Context, cfg Config) error {
	client, err := runtime.Dial(cfg.Addr, cfg.DialOptions...)
	if err != nil {
		return err
	}
	defer client.Close()

	var outMu sync.Mutex
	write := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintln(cfg.Out, cfg.Prefix+line)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := Start(sctx, chatpb.NewChatClient(client), cfg.Name, Options{Print: write, Timestamps: cfg.Timestamps})
	if err != nil {
		return err
	}
	defer func() {
		s.Cancel()
		<-s.Done()
	}()
	if cfg.Room != "" {
		if err := s.Join(cfg.Room); err != nil {
			return err
		}
	}

	stop := make(chan struct{})
	defer close(stop)
	lines := feed(cfg, stop)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return quit(ctx, s)
			}
			q, err := s.Do(ctx, line)
			if q {
				return quit(ctx, s)
			}
			if err != nil && !errors.Is(err, ErrUsage) {
				select {
				case <-s.Done():
					return s.Err()
				default:
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				write("* " + err.Error())
			}
		case <-s.Done():
			return s.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// quit ends the conversation politely, giving the server a few seconds.
func quit(ctx context.Context, s *Session) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.Quit(qctx)
}

// feed delivers the input lines on a channel that is closed at the end of
// the input. Its goroutine stops when stop is closed (or, reading In, after
// the Read in progress returns).
func feed(cfg Config, stop <-chan struct{}) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		deliver := func(l string) bool {
			select {
			case lines <- l:
				return true
			case <-stop:
				return false
			}
		}
		if cfg.Script != nil {
			for _, l := range cfg.Script {
				if cfg.Delay > 0 {
					t := time.NewTimer(cfg.Delay)
					select {
					case <-t.C:
					case <-stop:
						t.Stop()
						return
					}
				}
				if !deliver(l) {
					return
				}
			}
			return
		}
		if cfg.In == nil {
			return
		}
		sc := bufio.NewScanner(cfg.In)
		for sc.Scan() {
			if !deliver(sc.Text()) {
				return
			}
		}
	}()
	return lines
}
