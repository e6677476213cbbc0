//lint:file-ignore SA1019 x/net's http2.Transport is the one Go HTTP/2 client that can send an extended CONNECT: net/http's refuses the :protocol field.

package web_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// forEachWSMode runs f for every way a WebSocket reaches a server: an
// HTTP/1.1 upgrade on net/http's server and on parley's listener, and
// an extended CONNECT (RFC 8441) over parley's HTTP/2 transport and over
// net/http's. net/http's HTTP/2 server accepts extended CONNECT only
// with GODEBUG=http2xconnect=1, read when the process starts, so that
// mode runs in a child test process with it set.
func forEachWSMode(t *testing.T, f func(t *testing.T, m mode)) {
	for _, m := range []mode{modeHTTP1, modeFramer1, modeFramer, modeHTTP2} {
		t.Run(m.String(), func(t *testing.T) {
			if m == modeHTTP2 && !strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") {
				runWithXConnect(t)
				return
			}
			f(t, m)
		})
	}
}

// runWithXConnect runs the current (sub)test in a child process of the
// test binary, with GODEBUG=http2xconnect=1.
func runWithXConnect(t *testing.T) {
	var run []string
	for _, part := range strings.Split(t.Name(), "/") {
		run = append(run, "^"+regexp.QuoteMeta(part)+"$")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+strings.Join(run, "/"), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG=http2xconnect=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("with GODEBUG=http2xconnect=1: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("with GODEBUG=http2xconnect=1, the test did not run:\n%s", out)
	}
}

// extendedConnect is the HTTP/2 half of a WebSocket client (RFC 8441):
// it carries websocket.Dial's HTTP/1.1 upgrade request as an extended
// CONNECT on an HTTP/2 transport and answers it as the upgrade would
// have been, with the stream as the connection.
type extendedConnect struct{ h2 http.RoundTripper }

// extendedConnectClient returns a client for websocket.Dial that opens
// WebSockets over HTTP/2 (h2c) by extended CONNECT, and a func that
// closes its connections.
func extendedConnectClient() (*http.Client, func()) {
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, network, addr)
	}}
	return &http.Client{Transport: extendedConnect{tr}}, tr.CloseIdleConnections
}

func (x extendedConnect) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Header.Get("Sec-WebSocket-Key")
	pr, pw := io.Pipe()
	r := req.Clone(req.Context())
	r.Method = http.MethodConnect
	for _, k := range []string{"Connection", "Upgrade", "Sec-WebSocket-Key"} {
		r.Header.Del(k)
	}
	r.Header.Set(":protocol", "websocket")
	r.Body = pr
	resp, err := x.h2.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		pw.Close()
		return resp, err
	}
	if resp.Header.Get("Sec-WebSocket-Accept") != "" || resp.Header.Get("Upgrade") != "" {
		resp.Body.Close()
		pw.Close()
		return nil, fmt.Errorf("RFC 8441 answer with upgrade fields: %v", resp.Header)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	resp.StatusCode = http.StatusSwitchingProtocols
	resp.Header.Set("Connection", "Upgrade")
	resp.Header.Set("Upgrade", "websocket")
	resp.Header.Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(sum[:]))
	resp.Body = &streamRWC{ReadCloser: resp.Body, w: pw}
	return resp, nil
}

// streamRWC is a client's HTTP/2 stream as the connection of a WebSocket.
type streamRWC struct {
	io.ReadCloser
	w *io.PipeWriter
}

func (s *streamRWC) Write(p []byte) (int, error) { return s.w.Write(p) }

func (s *streamRWC) Close() error {
	s.w.Close()
	return s.ReadCloser.Close()
}
