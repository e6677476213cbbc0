package main

import (
	"net/http"
	"strings"

	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/examples/chat/webui"
	"github.com/parleyrpc/parley/web"
)

// routeWeb adds the browsers' routes to mux: the page at /, and every
// other request (gRPC-Web, WebSocket calls) to the chat's calls, from the
// same origin or the -origin ones.
func routeWeb(mux *http.ServeMux, srv *server.Server, origins []string) {
	page := webui.Handler()
	for _, p := range []string{"GET /{$}", "GET /app.js", "GET /style.css"} {
		mux.Handle(p, page)
	}
	mux.Handle("/", srv.Handler(web.WithAllowedOrigins(origins...)))
}

// originList is the repeatable -origin flag.
type originList []string

func (o *originList) String() string { return strings.Join(*o, ",") }

func (o *originList) Set(v string) error {
	*o = append(*o, v)
	return nil
}
