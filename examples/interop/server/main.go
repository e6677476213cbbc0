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
	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/runtime"
)

// testService is the name under which the server reports the interop
// service's health.
const testService = "grpc.testing.TestService"

func main() {
	addr := flag.String("addr", "127.0.0.1:10000", "address to listen on")
	useTLS := flag.Bool("tls", false, "serve over TLS (ALPN h2) instead of h2c")
	certFile := flag.String("cert", "", "TLS certificate file (PEM); default: a generated self-signed one")
	keyFile := flag.String("key", "", "TLS key file (PEM), with -cert")
	caOut := flag.String("cacert-out", "", "with -tls and a generated certificate, write it here in PEM")
	drain := flag.Duration("drain", 0, "after SIGTERM or Ctrl-C, keep serving this long while health checks report NOT_SERVING")
	flag.Parse()
	if err := run(*addr, *useTLS, *certFile, *keyFile, *caOut, *drain); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, useTLS bool, certFile, keyFile, caOut string, drain time.Duration) error {
	opts := []runtime.ServerOption{runtime.WithCodec(health.Codec)}
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
	hs := health.NewServer()
	health.Register(srv, hs)
	reflection.Register(srv)
	hs.SetServingStatus(testService, health.Serving)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mode := "h2c"
	if useTLS {
		mode = "TLS"
	}
	log.Printf("interop server: serving grpc.testing.TestService, grpc.health.v1.Health and server reflection on %s (%s)", l.Addr(), mode)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	stopped := make(chan error, 1)
	go func() { stopped <- stop(srv, hs, sig, drain) }()
	if err := srv.Serve(l); !errors.Is(err, runtime.ErrServerClosed) {
		return err
	}
	// Serve returns as soon as the listener closes; the calls in flight
	// end within Shutdown's deadline.
	if err := <-stopped; err != nil {
		log.Printf("interop server: %v", err)
	}
	return nil
}

// stop waits for a signal, marks every service NOT_SERVING, keeps serving
// for drain (or until a second signal), and then shuts srv down
// gracefully, waiting up to 5 s for the calls in flight.
func stop(srv *runtime.Server, hs *health.Server, sig chan os.Signal, drain time.Duration) error {
	<-sig
	hs.Shutdown()
	if drain > 0 {
		log.Printf("interop server: draining: health checks report NOT_SERVING; shutting down in %v (signal again to stop now)", drain)
		t := time.NewTimer(drain)
		select {
		case <-t.C:
		case <-sig:
		}
		t.Stop()
	}
	signal.Stop(sig) // from here on a signal stops the process at once
	log.Printf("interop server: shutting down")
	hs.EndWatches()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
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
