package transport

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/wire"
)

// StreamError is a stream reset by the peer with RST_STREAM.
type StreamError struct {
	Code uint32
}

func (e StreamError) Error() string {
	return "transport: stream reset by the peer with error code " + wire.H2ErrorName(e.Code)
}

// ConnectError is RoundTrip's error when no connection could be made for
// the stream: the dial, the TLS handshake or the HTTP/2 preface failed.
// The stream never started, so the request may be sent again.
type ConnectError struct {
	Err error
}

func (e *ConnectError) Error() string { return "transport: connecting: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

// ResponseError is a stream the client reset because the server's
// response broke HTTP/2's rules for it (a malformed response, RFC 9113
// 8.1.1, or a flow-control violation): a fault of the server's that
// sending the call again would not mend.
type ResponseError struct {
	Err error
}

func (e ResponseError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e ResponseError) Unwrap() error { return e.Err }

// ErrHeaderListTooLarge is RoundTrip's error for a request whose header
// list is larger than the server's SETTINGS_MAX_HEADER_LIST_SIZE: it is
// not sent, and would fail the same way again.
var ErrHeaderListTooLarge = errors.New("transport: request header list larger than the server's SETTINGS_MAX_HEADER_LIST_SIZE")

// ErrGoAway is returned for streams the peer refused by GOAWAY.
var ErrGoAway = errors.New("transport: connection closed by GOAWAY")

// StreamErrorCode reports the RST_STREAM error code carried by err, if any.
func StreamErrorCode(err error) (uint32, bool) {
	var se StreamError
	if errors.As(err, &se) {
		return se.Code, true
	}
	var xe http2.StreamError
	if errors.As(err, &xe) {
		return uint32(xe.Code), true
	}
	return 0, false
}

// GoAwayError is the error of a connection the server closed with a GOAWAY
// that carried an error code: its streams fail with it.
type GoAwayError struct {
	LastStreamID uint32
	Code         http2.ErrCode
	Debug        string // the GOAWAY's debug data, e.g. "too_many_pings"
}

func (e GoAwayError) Error() string {
	return fmt.Sprintf("server sent GOAWAY(%v) and closed the connection; last stream %d, debug %q", e.Code, e.LastStreamID, e.Debug)
}

// IsGoAway reports whether err says the connection was shut down by GOAWAY:
// one of this package's errors, or net/http's (whose type is unexported,
// so it is recognised by its text).
func IsGoAway(err error) bool {
	var ga GoAwayError
	return errors.Is(err, ErrGoAway) || errors.As(err, &ga) ||
		strings.Contains(err.Error(), "http2: server sent GOAWAY and closed the connection")
}
