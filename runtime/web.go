package runtime

import (
	"context"
	"io"
	"net/http"
	"time"

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
// otherwise. Shutdown waits for the calls in flight through the handler
// too, and Close cancels them; after either, new calls are refused with
// HTTP 503 (UNAVAILABLE). ServeHTTP is the handler with default options.
func (s *Server) Handler(opts ...web.Option) http.Handler {
	opts = append([]web.Option{web.WithMaxMessageSize(s.cfg.maxRecv)}, opts...)
	return web.NewHandler(s.serveWeb, opts...)
}

// ServeHTTP serves a call that arrived on the application's own net/http
// server, so that a Server can be mounted on a mux, as connect-go's
// handlers are:
//
//	mux.Handle("/chat.v1.Chat/", srv)
//
// It is Handler() with default options: native gRPC (which needs HTTP/2:
// over TLS net/http negotiates it; for cleartext, enable it with
// http.Server.Protocols and SetUnencryptedHTTP2), gRPC-Web and WebSocket
// calls from the same origin.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.httpOnce.Do(func() { s.http = s.Handler() })
	s.http.ServeHTTP(w, r)
}

// closeCutoff is how long a call through Handler has, once the server
// is closed, to send its response (UNAVAILABLE) before its stream is cut
// off: long enough for a client that reads, bounded for one that does
// not.
const closeCutoff = time.Second

// serveWeb serves one call that came through Handler. It runs on the
// request's goroutine, and returns once the call's response is complete.
func (s *Server) serveWeb(st web.Stream) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		st.ResponseHeader().Set("Content-Type", "text/plain; charset=utf-8")
		st.WriteHeader(http.StatusServiceUnavailable)
		_, _ = st.Write([]byte("parley: server is shutting down"))
		return
	}
	s.connWG.Add(1)
	s.mu.Unlock()
	defer s.connWG.Done()
	// The call's context ends with the request's, or when the server is
	// closed. Closing also gives the stream a deadline, closeCutoff
	// away: a write waiting for a client that stopped reading waits on
	// its socket or flow-control window, which no context ends, and the
	// call would hold Close forever (the native transports close their
	// connections instead). A client that reads gets the call's
	// UNAVAILABLE before then.
	ctx, cancel := context.WithCancel(st.Context())
	defer cancel()
	cut := make(chan struct{})
	stop := context.AfterFunc(s.baseCtx, func() {
		defer close(cut)
		cancel()
		st.SetDeadline(time.Now().Add(closeCutoff))
	})
	defer func() {
		if !stop() {
			<-cut // st is not used once serveWeb has returned
		}
	}()
	transport.ServeBasic(webStream{Stream: st, ctx: ctx}, s.serveCall)
}

// webStream is a web.Stream as the transport seam's BasicStream: the same
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

func (w webStream) Body() io.ReadCloser { return webBody{w.Stream} }

// webBody is a web.Stream's request body as an io.ReadCloser.
type webBody struct{ st web.Stream }

func (b webBody) Read(p []byte) (int, error) { return b.st.Body().Read(p) }

func (b webBody) Close() error {
	b.st.CloseBody()
	return nil
}

var _ transport.BasicStream = webStream{}
