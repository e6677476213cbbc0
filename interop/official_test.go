package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcinterop "google.golang.org/grpc/interop"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/testdata"

	"github.com/parleyrpc/parley/examples/interop/cases"
	"github.com/parleyrpc/parley/examples/interop/service"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// The official interop suite, both directions, with the protobuf codec:
//
//   - grpc-go's interop client, google.golang.org/grpc/interop/client,
//     built unmodified from its module (a tool of this module, see go.mod)
//     and run once per case as a process, against parley's interop server
//     (examples/interop/service), which speaks protobuf by default;
//   - parley's interop client (examples/interop/cases, dialed with
//     runtime.WithCodec(wire.Proto)) against grpc-go's interop server: the
//     TestService implementation that google.golang.org/grpc/interop/server
//     serves (grpc/interop.NewTestServer), on a grpc-go server with the
//     stock protobuf codec, hosted in this process on a loopback listener.
//
// Over h2c and TLS (grpc's own test certificates, server name
// foo.test.google.fr), and over both of parley's HTTP/2 implementations.

// officialClientCases are the grpc-go interop client's cases that need no
// credentials, xDS or ORCA: every case it has besides the *_creds,
// oauth2_auth_token, google_default_credentials,
// compute_engine_channel_credentials and orca_* ones. (grpc-go's client
// has no compression cases; the compression cases run in both directions
// in the msgpack suite, interop_test.go.)
var officialClientCases = []string{
	"empty_unary",
	"large_unary",
	"client_streaming",
	"server_streaming",
	"ping_pong",
	"empty_stream",
	"timeout_on_sleeping_server",
	"cancel_after_begin",
	"cancel_after_first_response",
	"status_code_and_message",
	"special_status_message",
	"custom_metadata",
	"unimplemented_method",
	"unimplemented_service",
	"pick_first_unary",
	"rpc_soak",
	"channel_soak",
}

// officialServerSkips are parley's cases that grpc-go's interop server
// does not implement: it neither checks expect_compressed nor honours
// response_compressed (grpc-go's interop/test_utils.go has no compression
// support).
var officialServerSkips = map[string]bool{
	"client_compressed_unary":     true,
	"server_compressed_unary":     true,
	"client_compressed_streaming": true,
	"server_compressed_streaming": true,
}

var (
	clientBinOnce sync.Once
	clientBinDir  string
	clientBin     string
	clientBinErr  error
)

// removeOfficialClient removes the interop client binary, if one was
// built; TestMain calls it once the tests are done.
func removeOfficialClient() {
	if clientBinDir != "" {
		os.RemoveAll(clientBinDir)
	}
}

// officialClient builds grpc-go's interop client once per test run, from
// the module version go.mod pins, and returns the binary's path.
func officialClient(t *testing.T) string {
	t.Helper()
	clientBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-interop-client")
		if err != nil {
			clientBinErr = err
			return
		}
		clientBinDir = dir
		clientBin = filepath.Join(dir, "interop-client")
		cmd := exec.Command("go", "build", "-o", clientBin, "google.golang.org/grpc/interop/client")
		if out, err := cmd.CombinedOutput(); err != nil {
			clientBinErr = fmt.Errorf("building google.golang.org/grpc/interop/client: %v\n%s", err, out)
		}
	})
	if clientBinErr != nil {
		t.Fatal(clientBinErr)
	}
	return clientBin
}

// officialServerName is the name grpc's test server certificate holds
// (*.test.google.fr).
const officialServerName = "foo.test.google.fr"

// officialServerTLS is grpc's test server certificate, as grpc-go's
// interop server loads it.
func officialServerTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(testdata.Path("server1.pem"), testdata.Path("server1.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// officialClientTLS trusts grpc's test CA, as grpc-go's interop client
// does with --use_test_ca.
func officialClientTLS(t *testing.T) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(testdata.Path("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in grpc's ca.pem")
	}
	return &tls.Config{RootCAs: roots, ServerName: officialServerName}
}

// startParleyOfficial serves parley's interop service with the server's
// default codecs (protobuf and msgpack) and grpc's test certificate for
// TLS.
func startParleyOfficial(t *testing.T, useTLS, framer bool) string {
	t.Helper()
	opts := []runtime.ServerOption{http2Impl(framer)}
	if useTLS {
		opts = append(opts, runtime.WithTLS(officialServerTLS(t)))
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

// startOfficialServer serves grpc-go's interop TestService
// (interop.NewTestServer, what google.golang.org/grpc/interop/server
// serves) with the stock protobuf codec, on loopback. Every call must
// arrive as application/grpc+proto: the server fails the test otherwise
// (this package also registers a msgpack codec with grpc-go).
func startOfficialServer(t *testing.T, useTLS bool) string {
	t.Helper()
	checkProto := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		if ct := md.Get("content-type"); len(ct) != 1 || ct[0] != "application/grpc+proto" {
			t.Errorf("grpc-go's interop server was called with content-type %q", ct)
			return status.Errorf(codes.FailedPrecondition, "content-type %q, want application/grpc+proto", ct)
		}
		return nil
	}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := checkProto(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := checkProto(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
	if useTLS {
		opts = append(opts, grpc.Creds(credentials.NewTLS(officialServerTLS(t))))
	}
	srv := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(srv, grpcinterop.NewTestServer())
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

// runOfficialClient runs grpc-go's interop client binary for each case
// against addr; a case passes when the process exits 0.
func runOfficialClient(t *testing.T, addr string, useTLS bool) {
	bin := officialClient(t)
	host, port, err := splitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range officialClientCases {
		t.Run(name, func(t *testing.T) {
			args := []string{
				"--server_host=" + host, "--server_port=" + port, "--test_case=" + name,
				// Soak cases: a few iterations, generous per-iteration
				// latency (a shared machine), bounded overall.
				"--soak_iterations=5", "--soak_per_iteration_max_acceptable_latency_ms=5000",
				"--soak_overall_timeout_seconds=60",
			}
			if useTLS {
				args = append(args, "--use_tls=true", "--use_test_ca=true", "--server_host_override="+officialServerName)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Errorf("grpc-go interop client, case %s: %v\n%s", name, err, out.Bytes())
			}
		})
	}
}

func splitHostPort(addr string) (host, port string, err error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			if _, err := strconv.Atoi(addr[i+1:]); err != nil {
				return "", "", err
			}
			return addr[:i], addr[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("no port in %q", addr)
}

// TestOfficialClientParleyServer: grpc-go's interop client, unmodified,
// passes every applicable case against parley's interop server, in
// protobuf (application/grpc).
func TestOfficialClientParleyServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs grpc-go's interop client")
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			runOfficialClient(t, startParleyOfficial(t, tr.tls, tr.framer), tr.tls)
		})
	}
}

// TestParleyProtoClientOfficialServer: parley's interop client, with the
// protobuf codec, passes every case grpc-go's interop server implements.
func TestParleyProtoClientOfficialServer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			addr := startOfficialServer(t, tr.tls)
			cfg := cases.Config{Addr: addr, DialOptions: []runtime.DialOption{http2Impl(tr.framer), runtime.WithCodec(wire.Proto)}}
			if tr.tls {
				cfg.TLS = officialClientTLS(t)
			}
			runParleyCases(t, cfg, officialServerSkips)
		})
	}
}

// TestParleyProtoClientParleyServer: parley's client with the protobuf
// codec against parley's server: every case, the compression ones too.
func TestParleyProtoClientParleyServer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			addr := startParleyOfficial(t, tr.tls, tr.framer)
			cfg := cases.Config{Addr: addr, DialOptions: []runtime.DialOption{http2Impl(tr.framer), runtime.WithCodec(wire.Proto)}}
			if tr.tls {
				cfg.TLS = officialClientTLS(t)
			}
			runParleyCases(t, cfg, nil)
		})
	}
}

// runParleyCases runs every parley interop case but skip.
func runParleyCases(t *testing.T, cfg cases.Config, skip map[string]bool) {
	r, err := cases.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, name := range cases.Names {
		if skip[name] {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if err := r.Run(context.Background(), name); err != nil {
				t.Error(err)
			}
		})
	}
}
