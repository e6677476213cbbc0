package main

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/examples/chat/webui"
	"github.com/parleyrpc/parley/web"
)

// newHTTPServer returns the server for browsers: the page at /, and every
// other request (gRPC-Web, WebSocket calls) to the chat's calls.
func newHTTPServer(srv *server.Server, origins []string, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	page := webui.Handler()
	for _, p := range []string{"GET /{$}", "GET /app.js", "GET /style.css"} {
		mux.Handle(p, page)
	}
	mux.Handle("/", srv.Handler(web.WithAllowedOrigins(origins...)))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// originList is the repeatable -origin flag.
type originList []string

func (o *originList) String() string { return strings.Join(*o, ",") }

func (o *originList) Set(v string) error {
	*o = append(*o, v)
	return nil
}
