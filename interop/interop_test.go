package interop

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/parleyrpc/parley/examples/interop/cases"
	"github.com/parleyrpc/parley/examples/interop/service"
	"github.com/parleyrpc/parley/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeOfficialClient()
		os.Exit(code)
	}))
}

// transports are the ways every direction is run: cleartext HTTP/2 with
// prior knowledge, and TLS with ALPN h2, each with either HTTP/2
// implementation under the parley side: framer-* is parley's own
// (runtime.TransportFramer, the default), nethttp-* is net/http's
// (runtime.TransportNetHTTP).
var transports = []struct {
	name   string
	tls    bool
	framer bool
}{
	{"framer-h2c", false, true},
	{"framer-tls", true, true},
	{"nethttp-h2c", false, false},
	{"nethttp-tls", true, false},
}

// http2Impl is the parley HTTP/2 implementation a transport asks for.
func http2Impl(framer bool) runtime.Option {
	if framer {
		return runtime.WithHTTP2Transport(runtime.TransportFramer)
	}
	return runtime.WithHTTP2Transport(runtime.TransportNetHTTP)
}

var (
	certsOnce sync.Once
	certs     *Certs
	certsErr  error
)

func testCerts(t *testing.T) *Certs {
	t.Helper()
	certsOnce.Do(func() { certs, certsErr = NewCerts() })
	if certsErr != nil {
		t.Fatal(certsErr)
	}
	return certs
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startParley serves the interop service with parley and returns its
// address; the server is closed when the test ends.
func startParley(t *testing.T, useTLS, framer bool) string {
	t.Helper()
	opts := []runtime.ServerOption{http2Impl(framer)}
	if useTLS {
		opts = append(opts, runtime.WithTLS(testCerts(t).ServerTLS()))
	}
	srv := runtime.NewServer(opts...)
	service.Register(srv)
	l := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("parley Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// startGRPC serves the interop service with grpc-go and returns its
// address; the server is stopped when the test ends.
func startGRPC(t *testing.T, useTLS bool) string {
	t.Helper()
	var opts []grpc.ServerOption
	if useTLS {
		opts = append(opts, grpc.Creds(credentials.NewTLS(testCerts(t).ServerTLS())))
	}
	srv := NewGRPCServer(opts...)
	l := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("grpc-go Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// runGRPCClient runs every case with the grpc-go client against addr.
func runGRPCClient(t *testing.T, addr string, useTLS bool) {
	var creds credentials.TransportCredentials
	if useTLS {
		creds = credentials.NewTLS(testCerts(t).ClientTLS("127.0.0.1"))
	}
	cc, err := DialGRPC(addr, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, name := range cases.Names {
		f := GRPCCases[name]
		if f == nil {
			t.Fatalf("no grpc-go implementation of case %s", name)
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := f(ctx, cc); err != nil {
				t.Error(err)
			}
		})
	}
}

// runParleyClient runs every case with the parley client against addr.
func runParleyClient(t *testing.T, addr string, useTLS, framer bool) {
	cfg := cases.Config{Addr: addr, DialOptions: []runtime.DialOption{http2Impl(framer)}}
	if useTLS {
		cfg.TLS = testCerts(t).ClientTLS("127.0.0.1")
	}
	r, err := cases.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range cases.Names {
		t.Run(name, func(t *testing.T) {
			if err := r.Run(context.Background(), name); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestGRPCClientParleyServer: a stock grpc-go client with a msgpack codec
// passes every interop case against a parley server.
func TestGRPCClientParleyServer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			runGRPCClient(t, startParley(t, tr.tls, tr.framer), tr.tls)
		})
	}
}

// TestParleyClientGRPCServer: parley's client passes every interop case
// against a grpc-go server.
func TestParleyClientGRPCServer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			runParleyClient(t, startGRPC(t, tr.tls), tr.tls, tr.framer)
		})
	}
}

// TestParleyClientParleyServer: parley against itself, the same cases.
func TestParleyClientParleyServer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			runParleyClient(t, startParley(t, tr.tls, tr.framer), tr.tls, tr.framer)
		})
	}
}

// TestGRPCClientGRPCServer checks the grpc-go side against itself, so that
// a failure in the other directions can be told apart from a bug in the
// grpc-go cases or server written here.
func TestGRPCClientGRPCServer(t *testing.T) {
	for _, tr := range transports {
		if tr.framer {
			continue // no parley side
		}
		t.Run(tr.name, func(t *testing.T) {
			runGRPCClient(t, startGRPC(t, tr.tls), tr.tls)
		})
	}
}
