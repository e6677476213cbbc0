// Command chat-server runs the chat example's server until interrupted.
//
//	go run ./examples/chat/cmd/chat-server -addr 127.0.0.1:7070
//
// Connect with `go run ./examples/chat/client -addr 127.0.0.1:7070 -name
// alice -room lobby`, or with any gRPC client that has a msgpack codec (see
// examples/chat/README.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "listen on `host:port`")
	history := flag.Int("history", server.DefaultHistorySize, "messages each room keeps and replays to joiners")
	grace := flag.Duration("idle", server.DefaultIdleGrace, "how long an empty room lives on")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := server.New(server.Config{HistorySize: *history, IdleGrace: *grace, Logger: log}, runtime.WithLogger(log))
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat-server:", err)
		os.Exit(1)
	}
	fmt.Printf("chat server listening on %s (Ctrl-C to stop)\n", l.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "chat-server:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	fmt.Println("shutting down: members are told UNAVAILABLE")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "chat-server:", err)
	}
	<-errc
}
