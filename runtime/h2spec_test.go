package runtime_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	prt "github.com/parleyrpc/parley/runtime"
)

// h2specMinPassed is the number of h2spec (github.com/summerwind/h2spec
// v2.2.1) test cases the parley server passed when this test was written;
// docs/reliability.md explains each failure. The test fails if fewer pass.
const h2specMinPassed = 140

// TestH2Spec runs the h2spec HTTP/2 conformance suite against a parley
// server over h2c on 127.0.0.1. It is skipped when h2spec is not on PATH;
// .ci/run installs it, so CI runs it.
func TestH2Spec(t *testing.T) {
	bin, err := exec.LookPath("h2spec")
	if err != nil {
		t.Skip("h2spec is not on PATH: go install github.com/summerwind/h2spec/cmd/h2spec@latest")
	}
	if testing.Short() {
		t.Skip("h2spec takes a few seconds; skipped with -short")
	}
	e := newEnv(t, xnetTransport(t, "h2c"), registerEcho, envOpts{server: []prt.ServerOption{prt.WithLogger(discardLogger())}})
	_, port, _ := strings.Cut(e.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// h2spec sends generic requests (GET and POST to -P); the server
	// answers them with HTTP 405 or 415 and a short body, which is all the
	// frame-level checks need.
	cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", port, "-P", mUnary, "-o", "2")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run() // non-zero exit when any case fails
	m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("h2spec (%v) printed no summary:\n%s", runErr, out.String())
	}
	passed, _ := strconv.Atoi(m[2])
	if os.Getenv("H2SPEC_VERBOSE") != "" || passed < h2specMinPassed {
		t.Log(out.String())
	}
	t.Logf("h2spec: %s", m[0])
	if passed < h2specMinPassed {
		t.Errorf("h2spec: %d passed, want at least %d", passed, h2specMinPassed)
	}
	if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{}); err != nil {
		t.Fatalf("server unusable after h2spec: %v", err)
	}
}
