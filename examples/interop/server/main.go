package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/parleyrpc/parley/examples/interop/service"
	"github.com/parleyrpc/parley/runtime"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10000", "address to listen on")
	useTLS := flag.Bool("tls", false, "serve over TLS (ALPN h2) instead of h2c")
	certFile := flag.String("cert", "", "TLS certificate file (PEM); default: a generated self-signed one")
	keyFile := flag.String("key", "", "TLS key file (PEM), with -cert")
	caOut := flag.String("cacert-out", "", "with -tls and a generated certificate, write it here in PEM")
	flag.Parse()
	if err := run(*addr, *useTLS, *certFile, *keyFile, *caOut); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, useTLS bool, certFile, keyFile, caOut string) error {
	var opts []runtime.ServerOption
	if useTLS {
		var cert tls.Certificate
		var err error
		if certFile != "" || keyFile != "" {
			cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		} else {
			cert, err = selfSigned(caOut)
		}
		if err != nil {
			return err
		}
		opts = append(opts, runtime.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}
	srv := runtime.NewServer(opts...)
	service.Register(srv)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mode := "h2c"
	if useTLS {
		mode = "TLS"
	}
	log.Printf("interop server: serving grpc.testing.TestService on %s (%s)", l.Addr(), mode)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, runtime.ErrServerClosed) {
		return err
	}
	return nil
}

// selfSigned returns a fresh self-signed certificate for the loopback names,
// and writes it in PEM to caOut if that is not empty.
func selfSigned(caOut string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "parley interop server"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if caOut != "" {
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		if err := os.WriteFile(caOut, pemBytes, 0o644); err != nil {
			return tls.Certificate{}, fmt.Errorf("writing -cacert-out: %w", err)
		}
		log.Printf("interop server: wrote the self-signed certificate to %s", caOut)
	} else {
		log.Printf("interop server: using a generated self-signed certificate; clients need -insecure-skip-verify (or run with -cacert-out)")
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
