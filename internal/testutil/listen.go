package testutil

import (
	"net"
	"testing"
)

// Listen returns a TCP listener on an ephemeral loopback port of the given
// network: "tcp4" (127.0.0.1) or "tcp6" (::1). It skips the test when the
// machine has no IPv6 loopback.
func Listen(tb testing.TB, network string) net.Listener {
	tb.Helper()
	addr := "127.0.0.1:0"
	if network == "tcp6" {
		addr = "[::1]:0"
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		if network == "tcp6" {
			tb.Skipf("no IPv6 loopback: %v", err)
		}
		tb.Fatalf("listen %s: %v", addr, err)
	}
	return l
}
