package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is one run of the driver.
type Config struct {
	// Command starts this program: the "server" and "client" subcommands
	// and their flags are appended to it.
	Command []string
	// Env is added to the environment of every child process.
	Env []string
	// Rounds is how many times every cell runs, interleaved.
	Rounds int
	// Warmup and Duration are each cell's unmeasured and measured time.
	Warmup, Duration time.Duration
	// IdleStreams is how many streams the idle cell holds open.
	IdleStreams int
	// Cells names the cells to run; empty means all.
	Cells []string
	// Pairs restricts the implementation pairs; empty means all four.
	Pairs []pair
	// ProfileDir, if set, receives a CPU and an allocation profile of
	// every process.
	ProfileDir string
	// Log receives one progress line per cell; nil discards them.
	Log io.Writer
	// set is the cells Cells chooses from: the table's (cells) when nil,
	// the sweep's otherwise.
	set []cell
}

// cellResult is one cell run for one pair in one round: the client's
// report and the server's counters at three moments.
type cellResult struct {
	Cell   string       `json:"cell"`
	Pair   pair         `json:"pair"`
	Round  int          `json:"round"`
	Client clientResult `json:"client"`
	// Mark is the server's reading before the client starts, Hold while
	// the idle cell holds its streams, End after the client has exited.
	Mark serverStats `json:"mark"`
	Hold serverStats `json:"hold"`
	End  serverStats `json:"end"`
	Err  string      `json:"error,omitempty"`
}

// serverAllocs returns the server's mallocs and bytes allocated per
// client operation over the client's whole session.
func (r cellResult) serverAllocs() (allocs, bytes float64) {
	end := r.End
	if r.Hold.Mallocs != 0 { // the idle cell: up to the streams being held
		end = r.Hold
	}
	n := float64(max(r.Client.TotalOps, 1))
	return float64(end.Mallocs-r.Mark.Mallocs) / n, float64(end.TotalAlloc-r.Mark.TotalAlloc) / n
}

// selected returns the cells and pairs cfg asks for.
func (cfg Config) selected() ([]cell, error) {
	all := cfg.set
	if all == nil {
		all = cells(cfg.Warmup, cfg.Duration, cfg.IdleStreams)
	}
	if len(cfg.Cells) == 0 {
		return all, nil
	}
	var out []cell
	for _, name := range cfg.Cells {
		found := false
		for _, c := range all {
			if c.name == name {
				out = append(out, c)
				found = true
			}
		}
		if !found {
			var names []string
			for _, c := range all {
				names = append(names, c.name)
			}
			return nil, fmt.Errorf("unknown cell %q (cells: %s)", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

func (cfg Config) pairsOf(c cell) []pair {
	if c.raw || len(cfg.Pairs) == 0 {
		return c.pairs()
	}
	return cfg.Pairs
}

// Run runs every selected cell for every pair, round after round; within a
// round the pairs of a cell run back to back, in an order rotated each
// round, so slow drifts of the machine spread over all pairs. A failed
// cell is recorded with its error and the run goes on.
func Run(ctx context.Context, cfg Config) ([]cellResult, error) {
	cs, err := cfg.selected()
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	var results []cellResult
	for round := 1; round <= cfg.Rounds; round++ {
		for _, c := range cs {
			ps := cfg.pairsOf(c)
			for i := range ps {
				p := ps[(i+round-1)%len(ps)]
				if err := ctx.Err(); err != nil {
					return results, err
				}
				start := time.Now()
				r, err := runCell(ctx, cfg, c, p, round)
				r.Cell, r.Pair, r.Round = c.name, p, round
				if err != nil {
					r.Err = err.Error()
					fmt.Fprintf(cfg.Log, "round %d/%d %-12s %-14s FAILED: %v\n", round, cfg.Rounds, c.name, p, err)
				} else {
					fmt.Fprintf(cfg.Log, "round %d/%d %-12s %-14s %12s %s (%.1fs)\n", round, cfg.Rounds, c.name, p,
						format(c.metrics[0].value(r)), c.metrics[0].unit, time.Since(start).Seconds())
				}
				results = append(results, r)
			}
		}
	}
	return results, nil
}

// runCell runs one cell for one pair: a server process, then a client
// process against it, then the server's final counters.
func runCell(ctx context.Context, cfg Config, c cell, p pair, round int) (cellResult, error) {
	var r cellResult
	s := c.spec
	ctx, cancel := context.WithTimeout(ctx, s.Warmup+s.Duration+90*time.Second)
	defer cancel()

	prof := func(role string) []string {
		if cfg.ProfileDir == "" {
			return nil
		}
		base := filepath.Join(cfg.ProfileDir, fmt.Sprintf("%s.%s-%s.r%d.%s", c.name, p.Server, p.Client, round, role))
		return []string{"-cpuprofile", base + ".cpu.pprof", "-memprofile", base + ".alloc.pprof"}
	}

	srv, addr, err := startServer(ctx, cfg, p.Server, max(cfg.IdleStreams, s.Streams)+1000, prof("server")...)
	if err != nil {
		return r, err
	}
	defer srv.kill()
	if err := srv.ask("stats", &r.Mark); err != nil {
		return r, fmt.Errorf("server: %w", err)
	}

	cliArgs := append([]string{"client", "-impl", p.Client, "-addr", addr,
		"-kind", s.Kind, "-conc", strconv.Itoa(s.Conc), "-size", strconv.Itoa(s.Size),
		"-streams", strconv.Itoa(s.Streams), "-warmup", s.Warmup.String(), "-duration", s.Duration.String()}, prof("client")...)
	cli, err := startChild(ctx, cfg, cliArgs)
	if err != nil {
		return r, err
	}
	defer cli.kill()
	for {
		var line struct {
			Event  string
			Result *clientResult
		}
		if err := cli.read(&line); err != nil {
			return r, fmt.Errorf("client: %w", err)
		}
		if line.Event == "holding" {
			if err := srv.ask("stats", &r.Hold); err != nil {
				return r, fmt.Errorf("server: %w", err)
			}
			if err := cli.send("go"); err != nil {
				return r, fmt.Errorf("client: %w", err)
			}
			continue
		}
		if line.Result != nil {
			r.Client = *line.Result
			break
		}
	}
	if err := cli.wait(); err != nil {
		return r, fmt.Errorf("client: %w", err)
	}
	if err := srv.ask("stats", &r.End); err != nil {
		return r, fmt.Errorf("server: %w", err)
	}
	var bye struct{}
	if err := srv.ask("quit", &bye); err != nil {
		return r, fmt.Errorf("server: %w", err)
	}
	if err := srv.wait(); err != nil {
		return r, fmt.Errorf("server: %w", err)
	}
	return r, nil
}

// child is a server or client process speaking JSON lines on stdout and
// taking commands on stdin.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
	stderr *bytes.Buffer
	waited bool
}

// startServer starts a "server" child process serving impl on a loopback
// port with maxStreams concurrent streams a connection (and the further
// flags args), and returns it and the address it serves.
func startServer(ctx context.Context, cfg Config, impl string, maxStreams int, args ...string) (srv *child, addr string, err error) {
	srv, err = startChild(ctx, cfg, append([]string{"server", "-impl", impl, "-addr", "127.0.0.1:0",
		"-max-streams", strconv.Itoa(maxStreams)}, args...))
	if err != nil {
		return nil, "", err
	}
	var hello struct{ Addr string }
	if err := srv.read(&hello); err != nil {
		srv.kill()
		return nil, "", fmt.Errorf("server: %w", err)
	}
	return srv, hello.Addr, nil
}

func startChild(ctx context.Context, cfg Config, args []string) (*child, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("no command to start the server and client processes")
	}
	argv := append(append([]string{}, cfg.Command[1:]...), args...)
	cmd := exec.CommandContext(ctx, cfg.Command[0], argv...)
	cmd.Env = append(os.Environ(), cfg.Env...)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &child{cmd: cmd, stdin: stdin, stdout: sc, stderr: &stderr}, nil
}

// read decodes the next line of the child's output into v.
func (c *child) read(v any) error {
	if !c.stdout.Scan() {
		err := c.stdout.Err()
		if werr := c.wait(); werr != nil {
			err = werr
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(c.stdout.Bytes(), v); err != nil {
		return fmt.Errorf("bad output line %q: %w", c.stdout.Text(), err)
	}
	return nil
}

// send writes one command line to the child.
func (c *child) send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// ask sends a command and decodes the one line that answers it.
func (c *child) ask(cmd string, v any) error {
	if err := c.send(cmd); err != nil {
		return err
	}
	return c.read(v)
}

// wait waits for the child to exit; its stderr is part of any error.
func (c *child) wait() error {
	if c.waited {
		return nil
	}
	c.waited = true
	c.stdin.Close()
	err := c.cmd.Wait()
	if err != nil {
		if msg := strings.TrimSpace(c.stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, lastLines(msg, 5))
		}
	}
	return err
}

// kill ends the child if it is still running and reaps it.
func (c *child) kill() {
	if c.waited {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.wait()
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
