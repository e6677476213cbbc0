// Command client is the chat example's terminal client: it joins a room
// and prints the room as it happens, reading what to say from standard
// input or from a script.
//
//	go run ./examples/chat/client -addr 127.0.0.1:7070 -name alice -room lobby
//	go run ./examples/chat/client -name bob -say 'hi all|/who|/sleep 1s|bye' -delay 300ms
//	go run ./examples/chat/client -name carol -script demo.txt
//
// Lines starting with / are commands: /join ROOM, /leave, /who, /rooms,
// /history [ROOM] [N], /quit, /help (and, in scripts, /sleep DURATION and
// /wait TEXT). Anything else is said in the room. The client exits 0 when
// the conversation ends OK (/quit or end of input) and 1 otherwise, after
// printing the status, such as "* disconnected: UNAVAILABLE: chat server is
// shutting down".
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parleyrpc/parley/examples/chat/member"
	"github.com/parleyrpc/parley/wire"
)

func main() {
	var cfg member.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:7070", "chat server `host:port`")
	flag.StringVar(&cfg.Name, "name", os.Getenv("USER"), "your `nick`")
	flag.StringVar(&cfg.Room, "room", "lobby", "`room` to join at once (empty: none)")
	script := flag.String("script", "", "play the lines of `FILE` instead of reading standard input")
	say := flag.String("say", "", "play these `lines`, separated by |, instead of reading standard input")
	flag.DurationVar(&cfg.Delay, "delay", 0, "pause before each scripted line")
	flag.BoolVar(&cfg.Timestamps, "timestamps", true, "show when each message was said")
	flag.Parse()
	if cfg.Name == "" {
		fmt.Fprintln(os.Stderr, "client: -name is required")
		os.Exit(2)
	}

	switch {
	case *script != "":
		lines, err := readLines(*script)
		if err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(2)
		}
		cfg.Script = lines
	case *say != "":
		cfg.Script = strings.Split(*say, "|")
	default:
		cfg.In = os.Stdin
		fmt.Fprintf(os.Stderr, "connected as %s; %s\n", cfg.Name, member.Help)
	}
	cfg.Out = os.Stdout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := member.Run(ctx, cfg); err != nil {
		if ctx.Err() == nil && !isStatus(err) {
			fmt.Fprintln(os.Stderr, "client:", err)
		}
		os.Exit(1)
	}
}

// isStatus reports whether err is a call status, which Run has already
// printed.
func isStatus(err error) bool {
	var we *wire.Error
	return errors.As(err, &we)
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}
