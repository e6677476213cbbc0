// Command h2probe is a hostile HTTP/2 peer that measures what single
// attacking connections cost a gRPC server (or, with client-ping-flood, a
// gRPC client) on loopback.
//
// Each attack runs on one h2c connection (prior knowledge) written frame by
// frame with golang.org/x/net/http2's Framer and hand-built HPACK blocks;
// silent-conns opens many connections by design. Every attack is bounded in
// frames, streams and time (-duration, 10 s by default). For each attack
// the probe prints one Markdown table row: the attack, what the server did
// (GOAWAY, RST_STREAM codes, grpc-status, connection closed, or "held"),
// the server's VmRSS before, at its largest during the attack (sampled
// every 50 ms, through -settle after it) and -settle (2 s) after, whether a well-behaved EmptyCall on a fresh
// connection succeeds afterwards, and how long the attack took, with the
// CPU time the server used meanwhile (from /proc/PID/stat).
//
//	h2probe -addr 127.0.0.1:10000 -pid $(pgrep -n parley-interop) -attack all
//
// The server must serve grpc.testing.TestService with the msgpack codec
// (application/grpc+msgpack): parley's examples/interop/server, or
// cmd/grpcinteropserver for grpc-go. -addr must be a loopback address.
// "all" runs the attacks one after another against the same server
// process; probe.sh (make probe) starts a fresh server for each attack
// instead and prints a table for each server.
//
// client-ping-flood turns the probe around: it listens on 127.0.0.1 as an
// HTTP/2 server that sends PINGs without end and never reads, calls
// EmptyCall on it from a parley client and then from a grpc-go client in
// this process, and reports this process's own RSS. It is not part of
// "all".
//
// Because some attacks can make a server grow without bound, the probe
// closes its connections when the server's RSS passes -max-rss, and with
// -kill also sends the server SIGKILL.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10000", "server address, HOST:PORT on loopback (127.0.0.0/8 or ::1)")
	pid := flag.Int("pid", 0, "the server's process id, for its VmRSS and CPU time from /proc (0: not measured)")
	name := flag.String("attack", "all", "attack to run, \"all\" for every server attack, or \"client-ping-flood\"")
	dur := flag.Duration("duration", 10*time.Second, "time bound of each attack")
	settle := flag.Duration("settle", 2*time.Second, "wait after an attack before the RSS after and the good call")
	maxRSS := flag.Int("max-rss", 4096, "MiB: stop an attack when the server's RSS passes this (0: never)")
	kill := flag.Bool("kill", false, "also SIGKILL the server when its RSS passes -max-rss")
	header := flag.Bool("header", false, "print the table's header before the rows")
	wait := flag.Duration("wait", 10*time.Second, "how long to wait for the server to accept connections")
	list := flag.Bool("list", false, "print the attack names and exit")
	freePort := flag.Bool("free-port", false, "print a TCP port free on 127.0.0.1 and exit")
	flag.Parse()

	if *freePort {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "h2probe:", err)
			os.Exit(1)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		return
	}

	if *list {
		for _, a := range serverAttacks {
			fmt.Println(a.name)
		}
		return
	}
	if err := checkLoopback(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "h2probe:", err)
		os.Exit(2)
	}
	var run []attack
	reverse := false
	switch *name {
	case "all":
		run = serverAttacks
	case "client-ping-flood":
		reverse = true
	default:
		for _, a := range serverAttacks {
			if a.name == *name {
				run = append(run, a)
			}
		}
		if len(run) == 0 {
			fmt.Fprintf(os.Stderr, "h2probe: unknown attack %q (see -list)\n", *name)
			os.Exit(2)
		}
	}
	if *header {
		who := "server"
		if reverse {
			who = "client"
		}
		fmt.Printf("| attack | what the %s does | %s RSS before (MiB) | RSS max | RSS after | good call after | time (%s CPU) |\n", who, who, who)
		fmt.Println("|---|---|---|---|---|---|---|")
	}
	cfg := runConfig{addr: *addr, pid: *pid, dur: *dur, settle: *settle, limitKiB: int64(*maxRSS) << 10, kill: *kill}
	if reverse {
		for _, row := range clientPingFlood(cfg) {
			fmt.Println(row)
		}
		return
	}
	if err := waitReady(*addr, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "h2probe:", err)
		os.Exit(1)
	}
	for _, a := range run {
		fmt.Println(runAttack(cfg, a))
	}
}

// checkLoopback refuses any address that is not an IP literal in
// 127.0.0.0/8 or ::1: the probe attacks what it connects to.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback IP addresses (127.0.0.0/8, ::1) may be probed", addr)
	}
	return nil
}

// waitReady waits until addr accepts a TCP connection.
func waitReady(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not accepting connections after %s: %v", addr, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type runConfig struct {
	addr     string
	pid      int
	dur      time.Duration
	settle   time.Duration
	limitKiB int64
	kill     bool
}

// runAttack runs a against the server and formats its table row.
func runAttack(cfg runConfig, a attack) string {
	e := &env{addr: cfg.addr, authority: cfg.addr, pid: cfg.pid, dur: cfg.dur, kill: cfg.kill, start: time.Now()}
	before := rssKiB(cfg.pid)
	cpu0 := cpuTime(cfg.pid)
	smp := startSampler(cfg.pid, cfg.limitKiB, e.overLimit)
	res := a.run(e)
	e.closeAll()
	cpu := cpuSpent(cpu0, cpuTime(cfg.pid))
	time.Sleep(cfg.settle)
	peak := smp.stop()
	after := rssKiB(cfg.pid)
	if msg := e.overMessage(); msg != "" {
		res.outcome = msg + "; " + res.outcome
	}
	if cfg.pid > 0 && !alive(cfg.pid) {
		res.outcome = "SERVER PROCESS EXITED; " + res.outcome
	}
	good := goodCall(cfg.addr, cfg.addr)
	return row(a.name, res.outcome, mib(before), mib(peak), mib(after), good, secs(res.elapsed)+cpu)
}

// cpuSpent formats the CPU time used between two cpuTime readings for the
// time column, or "" when either is unknown.
func cpuSpent(t0, t1 time.Duration) string {
	if c := cpuText(t0, t1); c != "" {
		return " (" + c + ")"
	}
	return ""
}

// cpuText is "CPU 120ms", or "" when either reading is unknown. The
// readings are in clock ticks (10 ms).
func cpuText(t0, t1 time.Duration) string {
	switch {
	case t0 < 0 || t1 < 0:
		return ""
	case t1 == t0:
		return "CPU under " + secs(time.Second/clockTicks)
	}
	return "CPU " + secs(t1-t0)
}

// row formats one Markdown table row.
func row(cells ...string) string {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "|", "\\|")
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// env is one attack's bounds and the connections it opened, so that they
// can all be closed at once when the server's RSS passes the limit.
type env struct {
	addr      string
	authority string
	pid       int
	dur       time.Duration
	start     time.Time
	kill      bool

	mu      sync.Mutex
	conns   []net.Conn // every connection the attack opened
	overMsg string     // set once when the RSS limit was passed
}

// end is when the attack must be over.
func (e *env) end() time.Time { return e.start.Add(e.dur) }

// track registers c to be closed with the attack.
func (e *env) track(c net.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.overMsg != "" {
		c.Close()
	}
	e.conns = append(e.conns, c)
}

// over reports whether the attack was stopped by the RSS limit.
func (e *env) over() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.overMsg != ""
}

func (e *env) overMessage() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.overMsg
}

// overLimit stops the attack: the server's RSS has passed the limit. It is
// called by the sampler.
func (e *env) overLimit(kib int64) {
	e.mu.Lock()
	e.overMsg = fmt.Sprintf("STOPPED at %s: server RSS %s MiB passed -max-rss", secs(time.Since(e.start)), mib(kib))
	if e.kill && e.pid > 0 {
		if err := syscall.Kill(e.pid, syscall.SIGKILL); err == nil {
			e.overMsg += " (server killed)"
		}
	}
	e.mu.Unlock()
	e.closeAll()
}

// closeAll closes every connection of the attack.
func (e *env) closeAll() {
	e.mu.Lock()
	conns := e.conns
	e.conns = nil
	e.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
