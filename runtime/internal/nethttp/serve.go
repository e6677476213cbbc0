package nethttp

import (
	"net/http"
	"net/url"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// ServeStream serves one HTTP/2 request that is not gRPC, which arrived on
// another transport (parley's own), with an http.Handler: the request is
// given to h as an *http.Request, and h's response goes out on st. h may
// flush (http.Flusher, http.ResponseController) and set trailers with
// http.TrailerPrefix; it cannot hijack the stream.
func ServeStream(h http.Handler, st transport.Stream) {
	u, err := url.ParseRequestURI(st.Path())
	if err != nil {
		st.ResponseHeader().Set("Content-Type", "text/plain; charset=utf-8")
		st.WriteHeader(http.StatusBadRequest)
		_, _ = st.Write([]byte("bad request path\n"))
		return
	}
	r := &http.Request{
		Method:        st.Method(),
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        http.Header(st.RequestHeader()),
		Body:          st.Body(),
		ContentLength: -1,
		Host:          st.Authority(),
		RemoteAddr:    st.RemoteAddr(),
		RequestURI:    st.Path(),
		TLS:           st.TLS(),
	}
	w := &streamWriter{st: st}
	h.ServeHTTP(w, r.WithContext(st.Context()))
	w.writeHeader(http.StatusOK)
	if w.readTimer != nil {
		w.readTimer.Stop()
	}
}

// streamWriter is an http.ResponseWriter on a transport.Stream.
type streamWriter struct {
	st          transport.Stream
	wroteHeader bool
	readTimer   *time.Timer // SetReadDeadline's
}

func (w *streamWriter) Header() http.Header { return http.Header(w.st.ResponseHeader()) }

func (w *streamWriter) WriteHeader(code int) {
	if code < 200 && code != http.StatusSwitchingProtocols {
		return // informational responses are not sent
	}
	w.writeHeader(code)
}

func (w *streamWriter) writeHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.st.WriteHeader(code)
	}
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.writeHeader(http.StatusOK)
	// The transport takes ownership of what it is given.
	return w.st.Write(append([]byte(nil), p...))
}

// Flush implements http.Flusher.
func (w *streamWriter) Flush() {
	w.writeHeader(http.StatusOK)
	_ = w.st.Flush()
}

// FlushError is Flush for http.ResponseController.
func (w *streamWriter) FlushError() error {
	w.writeHeader(http.StatusOK)
	return w.st.Flush()
}

// SetReadDeadline is SetReadDeadline for http.ResponseController: at t,
// the request body is closed, so that a read waiting for bytes the client
// does not send ends. The zero time clears a deadline not yet passed.
func (w *streamWriter) SetReadDeadline(t time.Time) error {
	if w.readTimer != nil {
		w.readTimer.Stop()
		w.readTimer = nil
	}
	if !t.IsZero() {
		body := w.st.Body()
		w.readTimer = time.AfterFunc(time.Until(t), func() { _ = body.Close() })
	}
	return nil
}

// SetWriteDeadline is SetWriteDeadline for http.ResponseController: at t,
// a response still incomplete is cut off, its stream reset, and a Write
// waiting for flow-control window fails, as on net/http's HTTP/2 server.
func (w *streamWriter) SetWriteDeadline(t time.Time) error {
	w.st.SetDeadline(t)
	return nil
}
