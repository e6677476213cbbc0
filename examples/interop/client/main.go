package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/parleyrpc/parley/examples/interop/cases"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10000", "server address, host:port")
	useTLS := flag.Bool("tls", false, "connect over TLS (ALPN h2) instead of h2c")
	skipVerify := flag.Bool("insecure-skip-verify", false, "with -tls, do not verify the server's certificate")
	caFile := flag.String("cacert", "", "with -tls, trust the CA certificates in this PEM file instead of the system's")
	serverName := flag.String("server-name", "", "with -tls, the name to verify the certificate against (default: the host of -addr)")
	list := flag.String("cases", "", "comma-separated cases to run (default: all): "+strings.Join(cases.Names, ","))
	timeout := flag.Duration("timeout", 10*time.Second, "time limit of each case")
	codec := flag.String("codec", "msgpack", "message encoding: msgpack (application/grpc+msgpack) or proto (application/grpc+proto, what every gRPC server speaks)")
	flag.Parse()
	os.Exit(run(*addr, *useTLS, *skipVerify, *caFile, *serverName, *list, *codec, *timeout))
}

func run(addr string, useTLS, skipVerify bool, caFile, serverName, list, codec string, timeout time.Duration) int {
	cfg := cases.Config{Addr: addr, CaseTimeout: timeout}
	switch codec {
	case "msgpack":
	case "proto":
		cfg.DialOptions = append(cfg.DialOptions, runtime.WithCodec(wire.Proto))
	default:
		fmt.Fprintf(os.Stderr, "client: unknown codec %q (msgpack or proto)\n", codec)
		return 2
	}
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify, ServerName: serverName}
		if tc.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				tc.ServerName = host
			}
		}
		if caFile != "" {
			pemBytes, err := os.ReadFile(caFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "client:", err)
				return 2
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pemBytes) {
				fmt.Fprintf(os.Stderr, "client: no certificates in %s\n", caFile)
				return 2
			}
			tc.RootCAs = pool
		}
		cfg.TLS = tc
	}
	var names []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !slices.Contains(cases.Names, n) {
			fmt.Fprintf(os.Stderr, "client: unknown case %q (known: %s)\n", n, strings.Join(cases.Names, ", "))
			return 2
		}
		names = append(names, n)
	}
	r, err := cases.NewRunner(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 2
	}
	defer r.Close()
	passed, failed := 0, 0
	r.RunAll(context.Background(), names, func(res cases.Result) {
		if res.Err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", res.Name, res.Err)
			return
		}
		passed++
		fmt.Printf("PASS %s (%s)\n", res.Name, res.Elapsed.Round(time.Millisecond))
	})
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
