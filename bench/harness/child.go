package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// serverStats is a server process's reading of its own runtime counters,
// taken after a GC, sent to the driver as one JSON line per command.
type serverStats struct {
	Mallocs    uint64  `json:"mallocs"`     // MemStats.Mallocs
	TotalAlloc uint64  `json:"total_alloc"` // MemStats.TotalAlloc
	HeapAlloc  uint64  `json:"heap_alloc"`  // live heap, after GC
	StackInuse uint64  `json:"stack_inuse"` // goroutine stacks
	RSS        uint64  `json:"rss"`         // resident set size, 0 where unknown
	Goroutines int     `json:"goroutines"`
	CPU        float64 `json:"cpu"` // CPU seconds used so far, user and system
}

func readServerStats() serverStats {
	cpu := cpuSeconds() // before the collections below
	// Twice: what sync.Pools hold, free for the next user, survives one
	// collection (as either implementation's pooled buffers would).
	goruntime.GC()
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return serverStats{
		Mallocs:    m.Mallocs,
		TotalAlloc: m.TotalAlloc,
		HeapAlloc:  m.HeapAlloc,
		StackInuse: m.StackInuse,
		RSS:        rss(),
		Goroutines: goruntime.NumGoroutine(),
		CPU:        cpu,
	}
}

// rss reads the resident set size from /proc (Linux); 0 elsewhere.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// profiles starts a CPU profile if cpu is set and returns a func that
// stops it and writes the allocation profile to mem if that is set.
func profiles(cpu, mem string) (stop func() error, err error) {
	var cf *os.File
	if cpu != "" {
		if cf, err = os.Create(cpu); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cf); err != nil {
			cf.Close()
			return nil, err
		}
	}
	return func() error {
		if cf != nil {
			pprof.StopCPUProfile()
			if err := cf.Close(); err != nil {
				return err
			}
		}
		if mem == "" {
			return nil
		}
		f, err := os.Create(mem)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

// serverMain is the "server" subcommand: it serves one implementation on
// a loopback port, prints {"addr": ...}, then answers the driver's
// commands on stdin, one per line, each with one JSON line on stdout:
// "stats" (a serverStats reading) and "quit" (stop and exit). End of
// input also quits.
func serverMain(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	impl := fs.String("impl", implParley, "implementation: parley, grpc, protocol or raw")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	maxStreams := fs.Uint("max-streams", 11000, "HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS")
	cpu, mem, err := parseChildFlags(fs, args, addr)
	if err != nil {
		return err
	}
	stopProf, err := profiles(cpu, mem)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	stop, err := serve(*impl, l, serverConfig{maxStreams: uint32(*maxStreams)})
	if err != nil {
		l.Close()
		return err
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(map[string]string{"addr": l.Addr().String()}); err != nil {
		stop()
		return err
	}
	in := bufio.NewScanner(stdin)
	for in.Scan() {
		switch cmd := strings.TrimSpace(in.Text()); cmd {
		case "stats":
			if err := enc.Encode(readServerStats()); err != nil {
				stop()
				return err
			}
		case "quit":
			stop()
			if err := stopProf(); err != nil {
				return err
			}
			return enc.Encode(map[string]bool{"bye": true})
		default:
			stop()
			return fmt.Errorf("unknown command %q", cmd)
		}
	}
	stop()
	return stopProf()
}

// clientMain is the "client" subcommand: it runs one workload against a
// server and prints its clientResult as {"result": ...}. For the idle
// workload it first prints {"event":"holding"} and waits for a line on
// stdin before letting the streams go.
func clientMain(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	impl := fs.String("impl", implParley, "implementation: parley, grpc, protocol (raw for kind raw)")
	addr := fs.String("addr", "", "server address (loopback)")
	var s spec
	fs.StringVar(&s.Kind, "kind", kindUnary, "workload: unary, pingpong, sstream, cstream, idle, idleconv, conns, dial, raw")
	fs.IntVar(&s.Conc, "conc", 1, "concurrent callers, streams or connections")
	fs.IntVar(&s.Size, "size", 64, "payload bytes per message")
	fs.IntVar(&s.Streams, "streams", 10000, "idle: streams to hold open")
	fs.DurationVar(&s.Warmup, "warmup", 500*time.Millisecond, "time before measuring")
	fs.DurationVar(&s.Duration, "duration", 2*time.Second, "time measured")
	cpu, mem, err := parseChildFlags(fs, args, addr)
	if err != nil {
		return err
	}
	e := env{addr: *addr, events: stdout, release: bufio.NewReader(stdin)}
	if s.Kind != kindRaw {
		d, err := dialerFor(*impl)
		if err != nil {
			return err
		}
		e.dial = d
	}
	stopProf, err := profiles(cpu, mem)
	if err != nil {
		return err
	}
	// Bounded whatever happens: the workload's own time plus a margin.
	ctx, cancel := context.WithTimeout(context.Background(), s.Warmup+s.Duration+2*time.Minute)
	defer cancel()
	res, err := run(ctx, s, e)
	if perr := stopProf(); err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]clientResult{"result": res})
}

// parseChildFlags adds the flags both subcommands take, -cpuprofile and
// -memprofile, to fs, parses args and checks that the address flag addr
// points to is on the loopback interface. It returns the profiles' files.
func parseChildFlags(fs *flag.FlagSet, args []string, addr *string) (cpu, mem string, err error) {
	fs.StringVar(&cpu, "cpuprofile", "", "write a CPU profile of the whole process to this file")
	fs.StringVar(&mem, "memprofile", "", "write an allocation profile to this file on exit")
	if err := fs.Parse(args); err != nil {
		return "", "", err
	}
	return cpu, mem, loopbackOnly(*addr)
}

// loopbackOnly refuses any address that is not on the loopback interface:
// this tool sends load, and load goes nowhere but this machine.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("address " + addr + " is not a loopback address; this benchmark runs on 127.0.0.1 only")
	}
	return nil
}
