package harness

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// childEnv marks a process started by the test as the benchmark program.
const childEnv = "PARLEYBENCH_TEST_CHILD"

// childEnvVars are set for every child: the child marker, and, for a
// race-enabled build, no one-second sleep at exit.
var childEnvVars = []string{childEnv + "=1", "GORACE=atexit_sleep_ms=0"}

// TestMain lets the test binary stand in for parleybench: started with
// childEnv set, it runs the server or client subcommand instead of the
// tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Main(nil, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestHarness runs one short unary cell for each pair, a ping-pong cell
// for each pair and parley with the protocol, and the plain TCP cell,
// each server and client in its own process on 127.0.0.1, and checks that
// every run measured something and that the table has them.
func TestHarness(t *testing.T) {
	cfg := Config{
		Command:     []string{os.Args[0]},
		Env:         childEnvVars,
		Rounds:      1,
		Warmup:      50 * time.Millisecond,
		Duration:    250 * time.Millisecond,
		IdleStreams: 20,
		Cells:       []string{"unary-1", "pingpong-1", "raw-1"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 + 5 + 1; len(results) != want {
		t.Fatalf("got %d results, want %d", len(results), want)
	}
	for _, r := range results {
		if r.Err != "" {
			t.Errorf("%s %s: %s", r.Cell, r.Pair, r.Err)
			continue
		}
		if r.Client.Ops <= 0 || r.Client.Seconds <= 0 || r.Client.TotalOps < r.Client.Ops {
			t.Errorf("%s %s: nothing measured: %+v", r.Cell, r.Pair, r.Client)
		}
		if r.Pair != rawPair && r.End.Mallocs <= r.Mark.Mallocs {
			t.Errorf("%s %s: the server counted no allocations: mark %+v end %+v", r.Cell, r.Pair, r.Mark, r.End)
		}
	}
	var out bytes.Buffer
	if err := writeTable(&out, cfg, results); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{"unary, 1 caller", "ping-pong, 1 stream", "| parley | grpc-go |", "| grpc-go | parley |", "| parley+protocol | parley+protocol |", "| TCP | TCP |"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "Failed") || strings.Contains(table, "n/a") {
		t.Errorf("table reports failures:\n%s", table)
	}
}

// TestIdleAndDial runs the idle-streams, idle-conversations and dial cells
// once with parley on both sides, small, to check the driver's holding
// protocol, and that parley's conversations hold no goroutine each.
func TestIdleAndDial(t *testing.T) {
	cfg := Config{
		Command:     []string{os.Args[0]},
		Env:         childEnvVars,
		Rounds:      1,
		Warmup:      20 * time.Millisecond,
		Duration:    150 * time.Millisecond,
		IdleStreams: 50,
		Cells:       []string{"idle", "idle-conv", "dial"},
		Pairs:       []pair{{implParley, implParley}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	results, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != "" {
			t.Fatalf("%s %s: %s", r.Cell, r.Pair, r.Err)
		}
		switch r.Cell {
		case "idle":
			if r.Client.Ops != 50 || r.Hold.Goroutines <= r.Mark.Goroutines {
				t.Errorf("idle: streams not held: ops %d, goroutines %d then %d", r.Client.Ops, r.Mark.Goroutines, r.Hold.Goroutines)
			}
		case "idle-conv":
			// The connection's goroutines come and go with the client;
			// the 50 conversations themselves hold none. The handler
			// goroutines that ran their openings may wait, for a second,
			// to run the next stream's handler: at most one for each of
			// the client's 16 openers.
			if r.Client.Ops != 50 || r.Hold.Goroutines-r.Mark.Goroutines > 5+16 {
				t.Errorf("idle-conv: ops %d, goroutines %d then %d, want 50 streams and no goroutine each", r.Client.Ops, r.Mark.Goroutines, r.Hold.Goroutines)
			}
		case "dial":
			if r.Client.MedianMicros <= 0 {
				t.Errorf("dial: no latency: %+v", r.Client)
			}
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{{1234567.4, "1,234,567"}, {999.94, "999.9"}, {2.5, "2.50"}, {-12345, "-12,345"}, {100000, "100,000"}} {
		if got := format(c.in); got != c.want {
			t.Errorf("format(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestChatQuick runs the chat benchmark small against the three chat
// servers (parley's with and without its protocol check, grpc-go's):
// every line of the burst reaches every member of the room, and the idle
// phase is measured.
func TestChatQuick(t *testing.T) {
	cfg := ChatConfig{
		Command: []string{os.Args[0]},
		Env:     childEnvVars,
		Impls:   []string{implChatParley, implChatParleyUnchecked, implChatGRPC},
		Rounds:  1,
		Members: 40, Rooms: 4, OwnConns: 20, PerConn: 10,
		BigRoom: 30, Talkers: 3, Rate: 20, Talk: 300 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results, err := RunChat(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results, want 3", len(results))
	}
	for _, r := range results {
		if r.Expected == 0 || r.Delivered != r.Expected || r.Dropped != 0 || r.Gaps != 0 {
			t.Errorf("%s: delivered %d of %d, %d members lost, %d gaps", r.Impl, r.Delivered, r.Expected, r.Dropped, r.Gaps)
		}
		if r.Connect <= 0 || r.HeapPerMem <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: connect %v, %.0f B/member, p50 %v p99 %v", r.Impl, r.Connect, r.HeapPerMem, r.P50, r.P99)
		}
	}
	var out strings.Builder
	printChat(&out, cfg, results)
	if !strings.Contains(out.String(), "| chat-parley |") || !strings.Contains(out.String(), "| chat-parley-unchecked |") || !strings.Contains(out.String(), "| chat-grpc |") {
		t.Errorf("table:\n%s", out.String())
	}
}

// TestSweepQuick runs the sweep small (each point of the unary,
// ping-pong, idle-conversation and idle-connection curves for parley and
// grpc-go, each in its own processes, and the chat's burst in two rooms
// against both chat servers) and draws its charts: every point measured
// something, and every chart was written.
func TestSweepQuick(t *testing.T) {
	cfg := SweepConfig{
		Command: []string{os.Args[0]},
		Env:     childEnvVars,
		Rounds:  1,
		Warmup:  20 * time.Millisecond, Duration: 150 * time.Millisecond,
		Concs: []int{1, 4}, Convs: []int{20, 50}, Conns: []int{5, 10}, Rooms: []int{10, 20},
		Talkers: 3, Rate: 20, Talk: 300 * time.Millisecond,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunSweep(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (2 + 2 + 2 + 2); len(res.Cells) != want {
		t.Fatalf("%d cell results, want %d", len(res.Cells), want)
	}
	for _, r := range res.Cells {
		switch {
		case r.Err != "":
			t.Errorf("%s %s: %s", r.Cell, r.Pair, r.Err)
		case r.Client.Ops <= 0:
			t.Errorf("%s %s: nothing measured: %+v", r.Cell, r.Pair, r.Client)
		case strings.HasPrefix(r.Cell, "unary-") || strings.HasPrefix(r.Cell, "pingpong-"):
			if r.Client.P50Micros <= 0 || r.Client.P99Micros < r.Client.P50Micros {
				t.Errorf("%s %s: p50 %v µs, p99 %v µs", r.Cell, r.Pair, r.Client.P50Micros, r.Client.P99Micros)
			}
		case r.Hold.HeapAlloc+r.Hold.StackInuse <= r.Mark.HeapAlloc+r.Mark.StackInuse:
			t.Errorf("%s %s: the server held no memory: mark %+v hold %+v", r.Cell, r.Pair, r.Mark, r.Hold)
		}
	}
	if len(res.Chat) != 4 {
		t.Fatalf("%d chat results, want 4", len(res.Chat))
	}
	for _, r := range res.Chat {
		if r.Expected == 0 || r.Delivered != r.Expected || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s, room of %d: delivered %d of %d, p50 %v p99 %v", r.Impl, r.BigRoom, r.Delivered, r.Expected, r.P50, r.P99)
		}
	}
	dir := t.TempDir()
	if err := writeSweepPlots(dir, cfg, res); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sweep-unary-throughput", "sweep-unary-p99", "sweep-pingpong-throughput", "sweep-pingpong-p99",
		"sweep-idle-conversations", "sweep-idle-connections", "sweep-chat-latency"} {
		b, err := os.ReadFile(dir + "/" + f + ".svg")
		if err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("grpc-go")) {
			t.Errorf("%s.svg: %v, %d bytes", f, err, len(b))
		}
	}
	var out bytes.Buffer
	if err := writeTable(&out, cfg.driver(), res.Cells); err != nil {
		t.Fatal(err)
	}
	writeSweepChat(&out, cfg, res.Chat)
	for _, want := range []string{"unary, 4 callers, p99", "ping-pong, 4 streams", "50 idle conversations", "10 idle connections", "| 20 | chat-parley |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tables lack %q:\n%s", want, out.String())
		}
	}
}
