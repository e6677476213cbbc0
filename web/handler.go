package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/parleyrpc/parley/wire"
)

// Subprotocol is the WebSocket subprotocol (Sec-WebSocket-Protocol) of
// parley's WebSocket framing, version 1 (docs/protocol.md). A client must
// offer it; a server that accepts the WebSocket names it in its answer.
const Subprotocol = "parley.v1"

// Defaults for the options below.
const (
	// DefaultMaxMessageSize is the default largest request frame a
	// WebSocket call accepts, 4 MiB plus the 5-byte prefix: the runtime's
	// default receive limit. Larger messages are refused by the runtime
	// with RESOURCE_EXHAUSTED as soon as their prefix is read.
	DefaultMaxMessageSize = 4 << 20
	// DefaultMaxHeaderBytes bounds the header frame that opens a WebSocket
	// call (16 KiB).
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultPreflightMaxAge is how long, in seconds, a browser may cache
	// the answer to a CORS preflight (2 hours, Chromium's cap).
	DefaultPreflightMaxAge = 7200
)

// Option configures a Handler.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	origins        map[string]bool // exact "scheme://host[:port]", lower-cased
	anyOrigin      bool            // "*" was allowed explicitly
	exposed        []string
	maxMessageSize int
	maxHeaderBytes int
}

// WithAllowedOrigins allows pages from these origins
// ("https://app.example.com", scheme, host and port as the browser sends
// them in the Origin header) to call the server: gRPC-Web calls get CORS
// answers for them and WebSocket calls from them are accepted. "*" allows
// every origin, deliberately: then any web page a user visits can call the
// server with the user's network position, so use it only for public
// APIs. By default only same-origin pages (Origin's host equal to the
// request's Host) and non-browser clients (no Origin header) are served;
// a call from any other origin is refused with HTTP 403. Options add up.
func WithAllowedOrigins(origins ...string) Option {
	return optionFunc(func(c *config) {
		for _, o := range origins {
			if o == "*" {
				c.anyOrigin = true
				continue
			}
			c.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
		}
	})
}

// WithExposedHeaders names response header fields, besides the gRPC ones
// (grpc-status, grpc-message, grpc-status-details-bin, grpc-encoding,
// grpc-accept-encoding), that cross-origin pages may read: the keys of
// response header metadata a browser client needs. The default is none.
func WithExposedHeaders(names ...string) Option {
	return optionFunc(func(c *config) {
		for _, n := range names {
			c.exposed = append(c.exposed, strings.ToLower(n))
		}
	})
}

// WithMaxMessageSize bounds the request messages a WebSocket or gRPC-Web
// call accepts, in bytes of message (the 5-byte prefix comes on top): a
// longer one ends the call with RESOURCE_EXHAUSTED. The runtime passes
// its receive limit. The default is DefaultMaxMessageSize.
func WithMaxMessageSize(n int) Option {
	return optionFunc(func(c *config) { c.maxMessageSize = n })
}

// Handler is an http.Handler that serves gRPC-Web, WebSocket calls and
// native gRPC to one StreamHandler (see ServeHTTP). Create it with
// NewHandler; it is safe for concurrent use.
type Handler struct {
	serve StreamHandler
	cfg   config
}

// NewHandler returns a Handler that serves every call with serve.
func NewHandler(serve StreamHandler, opts ...Option) *Handler {
	cfg := config{
		origins:        map[string]bool{},
		maxMessageSize: DefaultMaxMessageSize,
		maxHeaderBytes: DefaultMaxHeaderBytes,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	return &Handler{serve: serve, cfg: cfg}
}

// ServeHTTP serves one request:
//
//   - a WebSocket opening (an HTTP/1.1 upgrade, GET with "Upgrade:
//     websocket", or over HTTP/2 an extended CONNECT with :protocol
//     websocket, RFC 8441; subprotocol Subprotocol) from an allowed
//     origin: a call of any kind in parley's WebSocket framing;
//   - a CORS preflight (OPTIONS with Access-Control-Request-Method) from an
//     allowed origin: 204 with the CORS answer; from another origin: 403;
//   - a gRPC-Web call (POST, content-type application/grpc-web[-text][+codec])
//     from an allowed origin;
//   - anything else goes to the StreamHandler as it is: native gRPC over
//     net/http's HTTP/2, or a request the runtime refuses as gRPC
//     prescribes (405, 415).
//
// A browser request from an origin that is not allowed gets 403 before
// anything reaches the StreamHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case isWebSocket(r):
		if !h.originAllowed(r) {
			http.Error(w, "parley: origin not allowed", http.StatusForbidden)
			return
		}
		h.serveWebSocket(w, r)
	case r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "":
		h.preflight(w, r)
	default:
		subtype, text, ok := wire.ParseWebContentType(r.Header.Get("Content-Type"))
		if !ok {
			h.serve(newHTTPStream(w, r))
			return
		}
		if !h.originAllowed(r) {
			http.Error(w, "parley: origin not allowed", http.StatusForbidden)
			return
		}
		h.corsHeaders(w.Header(), r)
		h.serveGRPCWeb(w, r, subtype, text)
	}
}

// isWebSocket reports whether r opens a WebSocket: an HTTP/1.1 upgrade,
// or an extended CONNECT over HTTP/2 (RFC 8441).
func isWebSocket(r *http.Request) bool {
	return isH2WebSocket(r) || r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// originAllowed reports whether a request may be served: it has no Origin
// (not a browser's cross-site request), comes from the same origin (the
// Origin's host is the request's Host), or from an allowed origin.
func (h *Handler) originAllowed(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if h.cfg.anyOrigin || h.cfg.origins[strings.ToLower(o)] {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// exposedHeaders are the response fields a gRPC-Web client reads: a
// trailers-only response carries the status in them.
var exposedHeaders = []string{
	wire.HeaderStatus, wire.HeaderMessage, "grpc-status-details-bin",
	wire.HeaderEncoding, wire.HeaderAcceptEncoding,
}

// corsHeaders adds the CORS answer for an allowed cross-origin request.
func (h *Handler) corsHeaders(hdr http.Header, r *http.Request) {
	o := r.Header.Get("Origin")
	if o == "" {
		return
	}
	hdr.Add("Vary", "Origin")
	hdr.Set("Access-Control-Allow-Origin", o)
	if !h.cfg.anyOrigin || h.cfg.origins[strings.ToLower(o)] {
		// Credentials (cookies, Authorization) only for origins named
		// one by one, never through "*".
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	hdr.Set("Access-Control-Expose-Headers", strings.Join(append(exposedHeaders[:len(exposedHeaders):len(exposedHeaders)], h.cfg.exposed...), ", "))
}

// preflight answers a CORS preflight (PROTOCOL-WEB.md, "CORS preflight":
// POST and OPTIONS only, and whatever headers the preflight asks for).
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	if !h.originAllowed(r) || r.Header.Get("Access-Control-Request-Method") != http.MethodPost {
		http.Error(w, "parley: CORS preflight refused", http.StatusForbidden)
		return
	}
	hdr := w.Header()
	h.corsHeaders(hdr, r)
	hdr.Del("Access-Control-Expose-Headers")
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if req := r.Header.Values("Access-Control-Request-Headers"); len(req) > 0 {
		hdr.Set("Access-Control-Allow-Headers", strings.Join(req, ", "))
	}
	hdr.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
}
