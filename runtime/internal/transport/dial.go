package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
)

// alpnH2 is HTTP/2's ALPN protocol ID over TLS.
const alpnH2 = "h2"

// DialConn opens a connection to target as cfg says: cfg.Dialer or TCP
// (with Nagle off), then, with cfg.TLS, a TLS handshake that must negotiate
// ALPN "h2". Every Client implementation dials with it.
func DialConn(ctx context.Context, target string, cfg ClientConfig) (net.Conn, error) {
	var conn net.Conn
	var err error
	if cfg.Dialer != nil {
		conn, err = cfg.Dialer(ctx, target)
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", target)
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if cfg.TLS == nil {
		return conn, nil
	}
	tcfg := cfg.TLS.Clone()
	tcfg.NextProtos = []string{alpnH2}
	if tcfg.ServerName == "" {
		host, _, err := net.SplitHostPort(target)
		if err != nil {
			host = target
		}
		tcfg.ServerName = host
	}
	tconn := tls.Client(conn, tcfg)
	if err := tconn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if p := tconn.ConnectionState().NegotiatedProtocol; p != alpnH2 {
		tconn.Close()
		return nil, errors.New("transport: server did not negotiate h2 over TLS (ALPN: " + p + ")")
	}
	return tconn, nil
}
