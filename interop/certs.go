package interop

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/parleyrpc/parley/internal/testutil"
)

// Certs is a throwaway certificate authority and a server certificate it
// signed for the loopback names 127.0.0.1, ::1 and localhost.
type Certs struct {
	// CAPool trusts the authority.
	CAPool *x509.CertPool
	// Server is the server's certificate and key.
	Server tls.Certificate
}

// NewCerts generates a fresh CA and server certificate, valid for a day.
func NewCerts() (*Certs, error) {
	pki, err := testutil.GeneratePKI()
	if err != nil {
		return nil, err
	}
	return &Certs{CAPool: pki.CAPool, Server: pki.Server}, nil
}

// ServerTLS returns a server configuration with the server certificate.
func (c *Certs) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.Server}, MinVersion: tls.VersionTLS12}
}

// ClientTLS returns a client configuration that trusts the CA and verifies
// the server as serverName.
func (c *Certs) ClientTLS(serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.CAPool, ServerName: serverName, MinVersion: tls.VersionTLS12}
}
