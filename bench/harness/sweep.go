package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SweepConfig is the sweep: the table's cells run at several sizes each,
// for parley and grpc-go on both sides, and the chat's burst at several
// room sizes, for the curves of docs/performance.md.
type SweepConfig struct {
	Command []string // starts this program (the server and client children)
	Env     []string // added to every child's environment
	// Rounds is how many times every point runs, interleaved as in Run.
	Rounds int
	// Warmup and Duration are the unmeasured and measured time of each
	// unary and ping-pong point.
	Warmup, Duration time.Duration
	// Concs are the callers (unary) and streams (ping-pong) of the
	// throughput and latency points.
	Concs []int
	// Convs are the idle conversations held on one connection; Conns the
	// idle connections held.
	Convs, Conns []int
	// Rooms are the burst's room sizes; Talkers of each room (at most all
	// of it) say Rate lines a second for Talk.
	Rooms   []int
	Talkers int
	Rate    float64
	Talk    time.Duration
	Log     io.Writer // progress, or nil
}

// sweepPairs are the sweep's server/client pairs: grpc-go on both sides
// (the reference) and parley on both sides.
var sweepPairs = []pair{ref, {implParley, implParley}}

// sweepChats are the chat servers of the room-size sweep.
var sweepChats = []string{implChatParley, implChatGRPC}

// sweepResults are a sweep's raw results.
type sweepResults struct {
	Cells []cellResult `json:"cells"`
	Chat  []chatResult `json:"chat"`
}

// cells returns the sweep's cells: the table's cells, made at each size.
func (cfg SweepConfig) cells() []cell {
	t := timing{cfg.Warmup, cfg.Duration}
	var cs []cell
	for _, n := range cfg.Concs {
		cs = append(cs, unaryCell(n, t))
	}
	for _, n := range cfg.Concs {
		cs = append(cs, pingPongCell(n, t))
	}
	for _, n := range cfg.Convs {
		cs = append(cs, idleCell(fmt.Sprintf("idle-conv-%d", n), kindIdleConv, n, "conversations", t))
	}
	for _, n := range cfg.Conns {
		cs = append(cs, connsCell(fmt.Sprintf("conns-%d", n), n, t))
	}
	return cs
}

// driver returns the Config that runs the sweep's cells with Run.
func (cfg SweepConfig) driver() Config {
	return Config{
		Command: cfg.Command, Env: cfg.Env, Rounds: cfg.Rounds,
		Warmup: cfg.Warmup, Duration: cfg.Duration,
		// Every server allows as many streams as the largest point
		// holds, as the table's idle cell does (runCell adds 1,000).
		IdleStreams: slices.Max(append([]int{1}, cfg.Convs...)),
		Pairs:       sweepPairs,
		Log:         cfg.Log,
		set:         cfg.cells(),
	}
}

// chat returns the ChatConfig of one burst in a room of n in a round: the
// burst alone, every member on a connection of its own, the servers in
// an order rotated each round.
func (cfg SweepConfig) chat(n, round int) ChatConfig {
	k := round % len(sweepChats)
	return ChatConfig{
		Command: cfg.Command, Env: cfg.Env, Impls: slices.Concat(sweepChats[k:], sweepChats[:k]), Rounds: 1,
		Rooms: 1, OwnConns: n, PerConn: 1,
		BigRoom: n, Talkers: min(cfg.Talkers, n), Rate: cfg.Rate, Talk: cfg.Talk,
		Log: cfg.Log, round0: round - 1,
	}
}

func (cfg SweepConfig) check() error {
	all := slices.Concat(cfg.Concs, cfg.Convs, cfg.Conns, cfg.Rooms)
	if cfg.Rounds < 1 || cfg.Duration <= 0 || len(all) == 0 || slices.Min(all) < 1 || cfg.Talkers < 1 || cfg.Rate <= 0 || cfg.Talk <= 0 {
		return errors.New("sweep: -rounds, -duration, -talkers, -rate, -talk and every size must be positive")
	}
	// Each idle connection is a file in the server and in the client,
	// and each chat member one in the server and in the driver: the
	// machine allows 20,000 a process.
	if slices.Max(append(slices.Clone(cfg.Conns), cfg.Rooms...)) > 15000 {
		return errors.New("sweep: at most 15,000 connections or members (20,000 open files a process)")
	}
	return nil
}

// RunSweep runs the cells at every size with Run (rounds interleaved,
// the pairs of a point back to back), then the chat's burst at every room
// size, round after round.
func RunSweep(ctx context.Context, cfg SweepConfig) (sweepResults, error) {
	var res sweepResults
	if err := cfg.check(); err != nil {
		return res, err
	}
	var err error
	if res.Cells, err = Run(ctx, cfg.driver()); err != nil {
		return res, err
	}
	for round := 1; round <= cfg.Rounds; round++ {
		for _, n := range cfg.Rooms {
			rs, err := RunChat(ctx, cfg.chat(n, round))
			res.Chat = append(res.Chat, rs...)
			if err != nil {
				return res, fmt.Errorf("room of %d: %w", n, err)
			}
		}
	}
	return res, nil
}

// sweepMain is the "sweep" subcommand.
func sweepMain(self []string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := SweepConfig{Command: self}
	fs.IntVar(&cfg.Rounds, "rounds", 3, "rounds: every point runs once per round, interleaved")
	fs.DurationVar(&cfg.Warmup, "warmup", 300*time.Millisecond, "unmeasured time at the start of each unary and ping-pong point")
	fs.DurationVar(&cfg.Duration, "duration", time.Second, "measured time of each unary and ping-pong point")
	concs := fs.String("concs", "1,4,16,64", "callers (unary) and streams (ping-pong)")
	convs := fs.String("convs", "1000,5000,10000", "idle conversations on one connection")
	conns := fs.String("conns", "100,500,2000", "idle connections")
	rooms := fs.String("rooms", "100,300,1000", "chat room sizes")
	fs.IntVar(&cfg.Talkers, "talkers", 20, "members of each room who talk")
	fs.Float64Var(&cfg.Rate, "rate", 16, "lines a second each talker says")
	fs.DurationVar(&cfg.Talk, "talk", 1250*time.Millisecond, "how long the talkers talk")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 300ms points at 1 and 4, 100 and 300 conversations, 20 and 50 connections, rooms of 20 and 50 (explicit flags win)")
	svgDir := fs.String("svg", "", "also write the sweep's line charts into this directory")
	jsonOut := fs.String("json", "", "also write every raw result to this file as JSON")
	verbose := fs.Bool("v", true, "log each point to stderr as it finishes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		quickSweep(fs, concs, convs, conns, rooms, &cfg)
	}
	for _, l := range []struct {
		flag string
		into *[]int
	}{{*concs, &cfg.Concs}, {*convs, &cfg.Convs}, {*conns, &cfg.Conns}, {*rooms, &cfg.Rooms}} {
		var err error
		if *l.into, err = sizes(l.flag); err != nil {
			return err
		}
	}
	if *verbose {
		cfg.Log = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	res, err := RunSweep(ctx, cfg)
	if err != nil && len(res.Cells) == 0 {
		return err
	}
	header(stdout, "parleybench sweep", "point", cfg.Rounds, cfg.Warmup, cfg.Duration, start)
	if werr := writeTable(stdout, cfg.driver(), res.Cells); werr != nil {
		return werr
	}
	fmt.Fprintln(stdout)
	writeSweepChat(stdout, cfg, res.Chat)
	if *svgDir != "" && err == nil {
		if perr := writeSweepPlots(*svgDir, cfg, res); perr != nil {
			return perr
		}
	}
	if *jsonOut != "" {
		if jerr := writeJSON(*jsonOut, res); jerr != nil {
			return jerr
		}
	}
	return err
}

// quickSweep shrinks the sweep for a smoke run, keeping the flags given.
func quickSweep(fs *flag.FlagSet, concs, convs, conns, rooms *string, cfg *SweepConfig) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, apply := range map[string]func(){
		"rounds":   func() { cfg.Rounds = 1 },
		"warmup":   func() { cfg.Warmup = 100 * time.Millisecond },
		"duration": func() { cfg.Duration = 300 * time.Millisecond },
		"concs":    func() { *concs = "1,4" },
		"convs":    func() { *convs = "100,300" },
		"conns":    func() { *conns = "20,50" },
		"rooms":    func() { *rooms = "20,50" },
		"talkers":  func() { cfg.Talkers = 5 },
		"talk":     func() { cfg.Talk = 500 * time.Millisecond },
	} {
		if !set[name] {
			apply()
		}
	}
}

// sizes parses a comma-separated list of sizes.
func sizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad size %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// chatPoint is the chat's figures at one room size for one server:
// medians over the rounds, in milliseconds.
type chatPoint struct {
	p50, p99             stat
	delivered, expected  int64
	perSecond            float64
	gaps, dropped, count int
}

// chatPointOf summarises the rounds of impl's burst in a room of n.
func chatPointOf(results []chatResult, impl string, n int) chatPoint {
	var pt chatPoint
	var p50, p99, rate []float64
	for _, r := range results {
		if r.Impl != impl || r.BigRoom != n {
			continue
		}
		p50 = append(p50, float64(r.P50)/1e6)
		p99 = append(p99, float64(r.P99)/1e6)
		rate = append(rate, r.PerSecond)
		pt.delivered += r.Delivered
		pt.expected += r.Expected
		pt.gaps += int(r.Gaps)
		pt.dropped += r.Dropped
		pt.count++
	}
	pt.p50, pt.p99 = summarize(p50), summarize(p99)
	pt.perSecond = summarize(rate).median
	return pt
}

// writeSweepChat writes the room-size sweep's table: for each room and
// server the medians over the rounds, their spread, and the ratio of
// the p99 to grpc-go's chat in the same run.
func writeSweepChat(w io.Writer, cfg SweepConfig, results []chatResult) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "chat burst: %d talkers at %g lines/s for %v in rooms of %v; %d round(s)\n\n", cfg.Talkers, cfg.Rate, cfg.Talk, cfg.Rooms, cfg.Rounds)
	fmt.Fprintln(w, "| room | server | delivered (all rounds) | gaps | members lost | deliveries/s | p50 ms | p50 min–max | p99 ms | p99 min–max | p99 ×grpc-go |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, n := range cfg.Rooms {
		ref := chatPointOf(results, implChatGRPC, n)
		for _, impl := range sweepChats {
			pt := chatPointOf(results, impl, n)
			if pt.count == 0 {
				continue
			}
			ratio := "—"
			if ref.count > 0 && ref.p99.median > 0 {
				ratio = strconv.FormatFloat(pt.p99.median/ref.p99.median, 'f', 2, 64)
			}
			fmt.Fprintf(w, "| %d | %s | %d / %d | %d | %d | %s | %s | %s–%s | %s | %s–%s | %s |\n",
				n, impl, pt.delivered, pt.expected, pt.gaps, pt.dropped, format(pt.perSecond),
				format(pt.p50.median), format(pt.p50.min), format(pt.p50.max),
				format(pt.p99.median), format(pt.p99.min), format(pt.p99.max), ratio)
		}
	}
	fmt.Fprintln(w)
}
