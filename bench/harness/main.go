package harness

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	goruntime "runtime"
	"strings"
	"time"
)

// Main runs the benchmark program with args (without the program name) and
// returns its exit code. Its subcommands:
//
//	run     the driver: spawns server and client processes for every cell
//	        and prints the table (the default when args start with a flag)
//	server  one server process; the driver's child
//	client  one client process; the driver's child
//	chat    the chat benchmark: a grpc-go load generator against parley's
//	        chat server and the same chat written on grpc-go, each in a
//	        server child
//	sweep   the table's cells and the chat's burst at several sizes, for
//	        parley and grpc-go, and their line charts
//
// self is the command that starts this program again, for run's children.
func Main(self []string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sub := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	var err error
	switch sub {
	case "run":
		err = runMain(self, args, stdout, stderr)
	case "server":
		err = serverMain(args, stdin, stdout)
	case "client":
		err = clientMain(args, stdin, stdout)
	case "chat":
		err = chatMain(self, args, stdout, stderr)
	case "sweep":
		err = sweepMain(self, args, stdout, stderr)
	default:
		err = fmt.Errorf("unknown subcommand %q (want run, chat, sweep, server or client)", sub)
	}
	if err == flag.ErrHelp {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "parleybench %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// runMain is the "run" subcommand.
func runMain(self []string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := Config{Command: self}
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds: every cell runs once per round, interleaved")
	fs.DurationVar(&cfg.Warmup, "warmup", 300*time.Millisecond, "unmeasured time at the start of each cell")
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Second, "measured time of each cell")
	fs.IntVar(&cfg.IdleStreams, "idle-streams", 10000, "streams held open by the idle cell")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 100ms warm-up, 300ms cells, 1000 idle streams (explicit flags win)")
	cellList := fs.String("cells", "", "comma-separated cells to run (default all): unary-1, unary-32, pingpong-1, pingpong-32, sstream-64, sstream-1k, cstream-64, unary-1m, idle, idle-conv, conns, dial, raw-1, raw-32")
	pairList := fs.String("pairs", "", "comma-separated server/client pairs (default all four, and protocol/protocol for ping-pong): grpc/grpc, parley/parley, parley/grpc, grpc/parley, protocol/protocol")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write CPU and allocation profiles of every process into this directory")
	jsonOut := fs.String("json", "", "also write every raw result to this file as JSON")
	svgDir := fs.String("svg", "", "also write SVG charts of the results into this directory")
	verbose := fs.Bool("v", true, "log each cell to stderr as it finishes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			cfg.Rounds = 1
		}
		if !set["warmup"] {
			cfg.Warmup = 100 * time.Millisecond
		}
		if !set["duration"] {
			cfg.Duration = 300 * time.Millisecond
		}
		if !set["idle-streams"] {
			cfg.IdleStreams = 1000
		}
	}
	if cfg.Rounds < 1 || cfg.Duration <= 0 || cfg.IdleStreams < 1 {
		return fmt.Errorf("-rounds, -duration and -idle-streams must be positive")
	}
	if *cellList != "" {
		cfg.Cells = strings.Split(*cellList, ",")
	}
	if *pairList != "" {
		for _, s := range strings.Split(*pairList, ",") {
			srv, cli, ok := strings.Cut(s, "/")
			if !ok || !validImpl(srv) || !validImpl(cli) {
				return fmt.Errorf("bad pair %q: want server/client, each parley, grpc or protocol", s)
			}
			cfg.Pairs = append(cfg.Pairs, pair{srv, cli})
		}
	}
	if *verbose {
		cfg.Log = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	results, err := Run(ctx, cfg)
	if err != nil && len(results) == 0 {
		return err
	}
	header(stdout, "parleybench", "cell", cfg.Rounds, cfg.Warmup, cfg.Duration, start)
	if werr := writeTable(stdout, cfg, results); werr != nil {
		return werr
	}
	if *svgDir != "" {
		if perr := writePlots(*svgDir, cfg, results); perr != nil {
			return perr
		}
	}
	if *jsonOut != "" {
		if jerr := writeJSON(*jsonOut, results); jerr != nil {
			return jerr
		}
	}
	return err
}

// header writes the first line of a run's output: the machine, the
// rounds, each point's timing and the run's length.
func header(w io.Writer, what, point string, rounds int, warmup, duration time.Duration, start time.Time) {
	fmt.Fprintf(w, "%s: %s, %s/%s, %d CPUs, GOMAXPROCS %d; %d round(s), %v warm-up + %v per %s; total %s\n\n",
		what, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH, goruntime.NumCPU(), goruntime.GOMAXPROCS(0),
		rounds, warmup, duration, point, time.Since(start).Round(time.Second))
}

// writeJSON writes v, indented, to the file at path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func validImpl(s string) bool { return s == implParley || s == implGRPC || s == implProtocol }
