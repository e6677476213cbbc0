// Command chat-server runs the chat example's server until interrupted.
//
//	go run ./examples/chat/cmd/chat-server -addr 127.0.0.1:7070
//
// Open http://127.0.0.1:7070/ in a browser to chat from the web page, or
// connect with `go run ./examples/chat/client -addr 127.0.0.1:7070 -name
// alice -room lobby`, or with any gRPC client that has a msgpack codec (see
// examples/chat/README.md). One port serves both: connections that open
// with the HTTP/2 preface (gRPC clients) go to parley's own transport, the
// others (browsers: the page, gRPC-Web, WebSockets) to net/http.
//
// The server also answers the standard health service,
// grpc.health.v1.Health, for "" and parley.chat.v1.Chat, so Kubernetes gRPC
// probes and grpc-health-probe can check it (docs/health.md). On SIGTERM or
// Ctrl-C it reports NOT_SERVING, goes on serving for the -drain period (a
// second signal cuts it short), then shuts down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	maxRooms := flag.Int("max-rooms", server.DefaultMaxRooms, "most rooms the server holds at once, empty ones included (negative: no limit)")
	drain := flag.Duration("drain", 0, "after SIGTERM or Ctrl-C, keep serving this long while health checks report NOT_SERVING")
	var origins originList
	flag.Var(&origins, "origin", "also accept browser calls from pages of `ORIGIN` (https://host:port; repeatable)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// One port: gRPC on parley's own transport, and, through mux, the
	// page and the browsers' calls (gRPC-Web and WebSockets, over
	// HTTP/1.1, or HTTP/2 over TLS).
	mux := http.NewServeMux()
	srv := server.New(server.Config{HistorySize: *history, IdleGrace: *grace, MaxRooms: *maxRooms, Logger: log}, runtime.WithLogger(log), runtime.WithHTTPHandler(mux))
	routeWeb(mux, srv, origins)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat-server:", err)
		os.Exit(1)
	}
	fmt.Printf("chat server listening on %s: open http://%s/ in a browser (Ctrl-C to stop)\n", l.Addr(), l.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "chat-server:", err)
		os.Exit(1)
	case <-sig:
	}
	srv.Health().Shutdown()
	if *drain > 0 {
		fmt.Printf("draining: health checks report NOT_SERVING; shutting down in %v (signal again to stop now)\n", *drain)
		t := time.NewTimer(*drain)
		select {
		case <-t.C:
		case <-sig:
		}
		t.Stop()
	}
	signal.Stop(sig) // from here on a signal stops the process at once
	fmt.Println("shutting down: members are told UNAVAILABLE")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "chat-server:", err)
	}
	<-errc
}
