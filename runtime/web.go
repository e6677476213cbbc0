package runtime

import (
	"context"
	"net/http"

	"github.com/parleyrpc/parley/runtime/internal/transport"
	"github.com/parleyrpc/parley/web"
)

// Handler returns an http.Handler that serves the server's methods over
// net/http, to mount on any mux next to other routes, over HTTP/1.1 and
// HTTP/2 (TLS, or h2c with http.Server's Protocols):
//
//   - gRPC-Web (application/grpc-web[-text][+codec]) for unary and
//     server-streaming calls from browsers;
//   - parley's WebSocket framing (subprotocol web.Subprotocol) for calls of
//     every kind, client-streaming and bidi included;
//   - native gRPC over net/http's HTTP/2.
//
// Every call reaches the same methods, interceptors, stats handler, codecs
// and limits as calls served by Serve. Browser calls are accepted only
// from the same origin unless opts allow more (web.WithAllowedOrigins); the
// WebSocket frame limit is the server's receive limit unless opts say
// otherwise. Calls are cancelled by Close, and by Shutdown once it returns
// or its context ends; while the server drains, new calls are refused with
// HTTP 503 (UNAVAILABLE). Calls served through the handler are not counted
// by Shutdown's wait: shut the http.Server down too.
func (s *Server) Handler(opts ...web.Option) http.Handler {
	opts = append([]web.Option{web.WithMaxMessageSize(s.cfg.maxRecv)}, opts...)
	return web.NewHandler(s.serveWeb, opts...)
}

// serveWeb serves one call that came through Handler. It runs on the
// request's goroutine.
func (s *Server) serveWeb(st web.Stream) {
	s.mu.RLock()
	draining := s.draining
	s.mu.RUnlock()
	if draining {
		st.ResponseHeader().Set("Content-Type", "text/plain; charset=utf-8")
		st.WriteHeader(http.StatusServiceUnavailable)
		_, _ = st.Write([]byte("parley: server is shutting down"))
		return
	}
	ctx, cancel := context.WithCancel(st.Context())
	defer cancel()
	stop := context.AfterFunc(s.baseCtx, cancel)
	defer stop()
	s.serveStream(webStream{Stream: st, ctx: ctx})
}

// webStream is a web.Stream as the transport seam's ServerStream: the same
// methods with the seam's header type, and a context that the server's
// Close also cancels.
type webStream struct {
	web.Stream
	ctx context.Context
}

func (w webStream) Context() context.Context { return w.ctx }

func (w webStream) RequestHeader() transport.Header {
	return transport.Header(w.Stream.RequestHeader())
}

func (w webStream) ResponseHeader() transport.Header {
	return transport.Header(w.Stream.ResponseHeader())
}

var _ transport.ServerStream = webStream{}
