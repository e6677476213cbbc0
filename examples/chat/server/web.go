package server

import (
	"net/http"

	"github.com/parleyrpc/parley/web"
)

// Handler returns an http.Handler that serves the chat's calls to
// browsers (gRPC-Web and parley's WebSocket framing) and native gRPC over
// net/http, on the server's own methods and rooms: mount it on an
// http.Server next to the page (see cmd/chat-server). Browser calls are
// accepted from the same origin and from opts' allowed origins.
func (s *Server) Handler(opts ...web.Option) http.Handler { return s.rpc.Handler(opts...) }
