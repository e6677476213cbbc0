package h2

import (
	"context"
	"io"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/runtime/internal/nethttp"
	"github.com/parleyrpc/parley/runtime/internal/transport"
)

// h2specResult runs h2spec against addr and returns its summary counts.
func h2specResult(t *testing.T, path, addr string) (total, passed, failed int, out string) {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	b, _ := exec.CommandContext(ctx, path, "-h", "127.0.0.1", "-p", port, "-o", "2").CombinedOutput()
	out = string(b)
	m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no h2spec summary in:\n%s", out)
	}
	total, _ = strconv.Atoi(m[1])
	passed, _ = strconv.Atoi(m[2])
	failed, _ = strconv.Atoi(m[4])
	return total, passed, failed, out
}

// TestH2Spec runs the h2spec conformance suite (when h2spec is on PATH)
// against this package's server and, for comparison, x/net/http2's, and
// fails if this one passes fewer cases.
func TestH2Spec(t *testing.T) {
	path, err := exec.LookPath("h2spec")
	if err != nil {
		t.Skip("h2spec is not on PATH (go install github.com/summerwind/h2spec/cmd/h2spec@latest)")
	}
	if testing.Short() {
		t.Skip("h2spec takes a while")
	}
	cfg := transport.ServerConfig{MaxConcurrentStreams: 100}
	total, passed, failed, out := h2specResult(t, path, serveTest(t, NewServer(cfg, echoHandler)))
	xcfg := cfg
	xcfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	xtotal, xpassed, xfailed, xout := h2specResult(t, path, serveTest(t, nethttp.NewServer(xcfg, echoHandler)))
	t.Logf("h2spec: h2 %d/%d passed; x/net %d/%d passed", passed, total, xpassed, xtotal)
	if failed > 0 {
		t.Logf("h2 failures:\n%s", failures(out))
	}
	if xfailed > 0 {
		t.Logf("x/net failures:\n%s", failures(xout))
	}
	if passed < xpassed {
		t.Errorf("h2 passes %d h2spec cases, x/net %d", passed, xpassed)
	}
}

// failures extracts the failed cases from h2spec's report.
func failures(out string) string {
	if i := strings.Index(out, "Failures:"); i >= 0 {
		return out[i:]
	}
	return out
}
