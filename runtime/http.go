package runtime

import (
	"context"
	"net/http"
	"strconv"

	"github.com/parleyrpc/parley/runtime/internal/nethttp"
	"github.com/parleyrpc/parley/wire"
)

// ServeHTTP serves a gRPC call that arrived on the application's own
// net/http server, so that a Server can be mounted on a mux next to other
// routes, as connect-go's handlers are:
//
//	mux.Handle("/chat.v1.Chat/", srv)
//
// The call runs as on a connection the Server accepted itself, with the
// same handlers, interceptors, limits and stats; only the HTTP/2 layer is
// net/http's. gRPC needs HTTP/2: over TLS, net/http negotiates it; for
// cleartext, enable it with http.Server.Protocols (SetUnencryptedHTTP2).
// Shutdown waits for the calls in flight here too, and Close cancels them;
// after either, new calls get UNAVAILABLE.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		refuseDraining(w)
		return
	}
	s.connWG.Add(1)
	s.mu.Unlock()
	defer s.connWG.Done()
	// The call's context ends with the request's, or when the Server is
	// closed.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.baseCtx, cancel)
	defer stop()
	s.httpHandler().ServeHTTP(w, r.WithContext(ctx))
}

// httpHandler is the net/http handler of the Server's streams.
func (s *Server) httpHandler() http.Handler {
	s.httpOnce.Do(func() { s.http = nethttp.Handler(s.serveStream) })
	return s.http
}

// refuseDraining answers a call that arrives after Shutdown or Close with
// UNAVAILABLE, in a trailers-only response.
func refuseDraining(w http.ResponseWriter) {
	h := w.Header()
	h.Set(wire.HeaderContentType, wire.ContentType(wire.Msgpack.Name()))
	h.Set(wire.HeaderStatus, strconv.Itoa(int(wire.Unavailable)))
	h.Set(wire.HeaderMessage, wire.EncodeMessage("the server is shutting down"))
	w.WriteHeader(http.StatusOK)
}
