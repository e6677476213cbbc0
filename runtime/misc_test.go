package runtime_test

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/parleyrpc/parley/internal/testutil"
	prt "github.com/parleyrpc/parley/runtime"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// tlsDial returns the dial options that reach a server of tr: its HTTP/2
// implementation and, for a TLS transport, a client TLS config.
func tlsDial(t *testing.T, tr transport) []prt.DialOption {
	if !tr.tls {
		return tr.dialOpts()
	}
	return tr.dialOpts(prt.WithTLS(testutil.NewPKI(t).ClientTLS(false)))
}

func listenBench(b *testing.B) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return l
}
