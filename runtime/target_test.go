package runtime_test

import (
	"net"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestDialTargets: Dial takes gRPC's target syntax for one address
// (dns:///host:port, dns:host:port, passthrough:///host:port) as grpc-go
// users write it, and calls over it; schemes and forms it cannot serve
// fail at Dial with INVALID_ARGUMENT, not at the first call.
func TestDialTargets(t *testing.T) {
	forEachImpl(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, registerEcho, envOpts{})
		host, port, _ := net.SplitHostPort(e.addr)
		hp := net.JoinHostPort(host, port)
		for _, target := range []string{hp, "dns:///" + hp, "dns:" + hp, "passthrough:///" + hp, "passthrough:" + hp} {
			c, err := prt.Dial(target, tr.dialOpts()...)
			if err != nil {
				t.Fatalf("Dial(%q): %v", target, err)
			}
			if c.Target() != hp {
				t.Errorf("Dial(%q).Target() = %q, want %q", target, c.Target(), hp)
			}
			res, err := prt.CallUnary[Msg, Msg](testCtx(t), c, mUnary, &Msg{N: 7})
			if err != nil || res.N != 8 { // the echo adds one
				t.Errorf("call over %q: %v, %v", target, res, err)
			}
			c.Close()
		}
	})
	for target, want := range map[string]string{
		"dns:///example.com": "example.com:443", // grpc-go's dns default port
		"dns:///[::1]":       "[::1]:443",
		"dns:example.com:80": "example.com:80",
		"[::1]:50051":        "[::1]:50051",
	} {
		c, err := prt.Dial(target)
		if err != nil {
			t.Errorf("Dial(%q): %v", target, err)
			continue
		}
		if c.Target() != want {
			t.Errorf("Dial(%q).Target() = %q, want %q", target, c.Target(), want)
		}
		c.Close()
	}
	for _, target := range []string{
		"", "example.com", "passthrough:///example.com", "dns:///", "dns:///:80",
		"dns://8.8.8.8/example.com:80", "unix:///tmp/sock", "xds:///svc", "http://example.com:80",
	} {
		_, err := prt.Dial(target)
		if we := wantCode(t, err, wire.InvalidArgument); testing.Verbose() {
			t.Logf("%q: %v", target, we)
		}
	}
}
