package web

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"time"
)

// httpStream is a Stream over net/http's handler types as they are: native
// gRPC over net/http's HTTP/2 (trailers through http.TrailerPrefix), and
// the requests the call layer refuses.
type httpStream struct {
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController
}

func newHTTPStream(w http.ResponseWriter, r *http.Request) *httpStream {
	return &httpStream{w: w, r: r, rc: http.NewResponseController(w)}
}

func (s *httpStream) Context() context.Context    { return s.r.Context() }
func (s *httpStream) Method() string              { return s.r.Method }
func (s *httpStream) Path() string                { return s.r.URL.RequestURI() }
func (s *httpStream) Authority() string           { return s.r.Host }
func (s *httpStream) RequestHeader() http.Header  { return s.r.Header }
func (s *httpStream) RemoteAddr() string          { return s.r.RemoteAddr }
func (s *httpStream) TLS() *tls.ConnectionState   { return s.r.TLS }
func (s *httpStream) Body() io.Reader             { return s.r.Body }
func (s *httpStream) CloseBody()                  { _ = s.r.Body.Close() }
func (s *httpStream) ResponseHeader() http.Header { return s.w.Header() }
func (s *httpStream) WriteHeader(status int)      { s.w.WriteHeader(status) }
func (s *httpStream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *httpStream) Flush() error                { return s.rc.Flush() }

// SetDeadline makes writes fail after t; net/http's HTTP/2 then resets the
// stream, and HTTP/1.1 closes the connection.
func (s *httpStream) SetDeadline(t time.Time) { _ = s.rc.SetWriteDeadline(t) }

var _ Stream = (*httpStream)(nil)
