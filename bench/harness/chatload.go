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
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
)

// ChatConfig is the chat benchmark: one load generator (a grpc-go client,
// the same for every server) against each chat server in turn, in its own
// process.
type ChatConfig struct {
	Command []string // starts this program (the server children)
	Env     []string
	Impls   []string // chat-parley, chat-parley-unchecked, chat-grpc
	Rounds  int      // every server once a round, interleaved
	// Members idle members join Rooms rooms; the figure is the server's
	// memory per member, and the time they take to connect. With no
	// members only the burst runs.
	Members, Rooms int
	// OwnConns is how many members have a connection of their own (each
	// is a file in both processes: 20,000 a process here); the others
	// share connections, PerConn to one, as behind an edge proxy.
	OwnConns, PerConn int
	// Burst: BigRoom members in one room, Talkers of them each saying
	// Rate lines a second for Talk; every member reads every line.
	BigRoom, Talkers int
	Rate             float64
	Talk             time.Duration
	Log              io.Writer // progress, or nil
	// round0 is added to the round numbers (the sweep runs one round
	// of each room size at a time).
	round0 int
}

// chatResult is one server's figures in one round.
type chatResult struct {
	Impl  string
	Round int
	// Idle members.
	Members      int
	HeapPerMem   float64 // server heap+stacks, bytes per member
	RSSPerMem    float64 // server RSS, bytes per member
	GoroutPerMem float64
	Connect      time.Duration // connecting and joining every member
	ConnectCPU   float64       // the server's CPU seconds for that (and the idle wait after)
	// The burst.
	BigRoom     int
	Said        int   // lines said
	Delivered   int64 // lines delivered, over all members
	Expected    int64 // Said × BigRoom
	Gaps        int64 // Gap events received
	Dropped     int   // members whose conversation ended during the burst
	PerSecond   float64
	P50, P99    time.Duration
	BurstLength time.Duration // first say to last delivery
}

// chatMain is the "chat" subcommand.
func chatMain(self []string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := ChatConfig{Command: self}
	impls := fs.String("impls", implChatParley+","+implChatParleyUnchecked+","+implChatGRPC, "chat servers, comma-separated: chat-parley, chat-parley-unchecked, chat-grpc")
	fs.IntVar(&cfg.Rounds, "rounds", 2, "rounds, every server once a round, interleaved")
	fs.IntVar(&cfg.Members, "members", 2000, "idle members")
	fs.IntVar(&cfg.Rooms, "rooms", 100, "rooms the idle members are spread over")
	fs.IntVar(&cfg.OwnConns, "own-conns", 15000, "members with a connection of their own (the file limit is 20,000 a process)")
	fs.IntVar(&cfg.PerConn, "per-conn", 100, "members sharing one connection, past own-conns")
	fs.IntVar(&cfg.BigRoom, "room", 1000, "members in the burst room")
	fs.IntVar(&cfg.Talkers, "talkers", 20, "members of the burst room who talk")
	fs.Float64Var(&cfg.Rate, "rate", 16, "lines a second each talker says")
	fs.DurationVar(&cfg.Talk, "talk", 1250*time.Millisecond, "how long the talkers talk")
	quick := fs.Bool("quick", false, "smoke run: 1 round, 200 members in 10 rooms, a room of 100 with 5 talkers for 0.5 s (explicit flags win)")
	svgDir := fs.String("svg", "", "also write SVG charts of the results into this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		quickChat(fs, &cfg)
	}
	cfg.Impls = strings.Split(*impls, ",")
	cfg.Log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := RunChat(ctx, cfg)
	printChat(stdout, cfg, results)
	if err == nil && *svgDir != "" && len(results) > 0 {
		err = writeChatPlots(*svgDir, cfg, results)
	}
	return err
}

// quickChat shrinks cfg for a smoke run, keeping the flags given.
func quickChat(fs *flag.FlagSet, cfg *ChatConfig) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, apply := range map[string]func(){
		"rounds":  func() { cfg.Rounds = 1 },
		"members": func() { cfg.Members = 200 },
		"rooms":   func() { cfg.Rooms = 10 },
		"room":    func() { cfg.BigRoom = 100 },
		"talkers": func() { cfg.Talkers = 5 },
		"talk":    func() { cfg.Talk = 500 * time.Millisecond },
	} {
		if !set[name] {
			apply()
		}
	}
}

// RunChat runs the chat benchmark: every server once a round.
func RunChat(ctx context.Context, cfg ChatConfig) ([]chatResult, error) {
	if cfg.Rounds < 1 || cfg.Members < 0 || cfg.Rooms < 1 || cfg.BigRoom < 1 || cfg.Talkers < 1 || cfg.Talkers > cfg.BigRoom || cfg.Rate <= 0 || cfg.Talk <= 0 || cfg.PerConn < 1 || cfg.OwnConns < 0 {
		return nil, errors.New("chat: -rounds, -rooms, -room, -talkers (at most -room), -rate, -talk and -per-conn must be positive")
	}
	var results []chatResult
	for round := 1; round <= cfg.Rounds; round++ {
		for _, impl := range cfg.Impls {
			r, err := runChatServer(ctx, cfg, impl, cfg.round0+round)
			if err != nil {
				return results, fmt.Errorf("%s, round %d: %w", impl, round, err)
			}
			results = append(results, r)
			if cfg.Log != nil {
				idle := fmt.Sprintf("%.1f KiB/member, connect %v (server CPU %.2f s); ", r.HeapPerMem/1024, r.Connect.Round(time.Millisecond), r.ConnectCPU)
				if cfg.Members == 0 {
					idle = ""
				}
				fmt.Fprintf(cfg.Log, "chat %s round %d: %sburst of %d: %d/%d delivered, %.0f/s, p50 %v p99 %v\n",
					impl, r.Round, idle, cfg.BigRoom, r.Delivered, r.Expected, r.PerSecond, r.P50, r.P99)
			}
		}
	}
	return results, nil
}

// runChatServer starts one chat server process and runs both phases
// against it (the burst alone when cfg.Members is 0).
func runChatServer(ctx context.Context, cfg ChatConfig, impl string, round int) (chatResult, error) {
	r := chatResult{Impl: impl, Round: round, Members: cfg.Members, BigRoom: cfg.BigRoom}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	srv, addr, err := startServer(ctx, Config{Command: cfg.Command, Env: cfg.Env}, impl, max(cfg.PerConn, 1)+100)
	if err != nil {
		return r, err
	}
	defer srv.kill()
	if cfg.Members > 0 {
		if err := idleMembers(ctx, cfg, srv, addr, &r); err != nil {
			return r, err
		}
	}
	if err := burst(ctx, cfg, addr, &r); err != nil {
		return r, err
	}
	var bye map[string]bool
	_ = srv.ask("quit", &bye)
	return r, nil
}

// idleMembers is phase 1: cfg.Members members join cfg.Rooms rooms and
// sit idle; r gets the time they took and the server's memory per member.
func idleMembers(ctx context.Context, cfg ChatConfig, srv *child, addr string, r *chatResult) error {
	var mark, hold serverStats
	if err := srv.ask("stats", &mark); err != nil {
		return err
	}
	start := time.Now()
	lg, err := connectMembers(ctx, addr, cfg, cfg.Members, func(i int) string { return fmt.Sprintf("room%d", i%cfg.Rooms) })
	if err != nil {
		return fmt.Errorf("connecting %d members: %w", cfg.Members, err)
	}
	defer lg.close()
	r.Connect = time.Since(start)
	time.Sleep(connsIdle) // idle members, idle for a while (the conns cell)
	if err := srv.ask("stats", &hold); err != nil {
		return err
	}
	n := float64(cfg.Members)
	r.HeapPerMem = float64(int64(hold.HeapAlloc+hold.StackInuse)-int64(mark.HeapAlloc+mark.StackInuse)) / n
	r.RSSPerMem = float64(int64(hold.RSS)-int64(mark.RSS)) / n
	r.GoroutPerMem = float64(hold.Goroutines-mark.Goroutines) / n
	r.ConnectCPU = hold.CPU - mark.CPU
	return nil
}

// burst is phase 2: cfg.BigRoom members in one room, cfg.Talkers of them
// talking; r gets the deliveries and their latencies.
func burst(ctx context.Context, cfg ChatConfig, addr string, r *chatResult) error {
	lg, err := connectMembers(ctx, addr, cfg, cfg.BigRoom, func(int) string { return "big" })
	if err != nil {
		return fmt.Errorf("connecting the room of %d: %w", cfg.BigRoom, err)
	}
	defer lg.close()
	lines := int(cfg.Rate * cfg.Talk.Seconds())
	r.Said = lines * cfg.Talkers
	r.Expected = int64(r.Said) * int64(cfg.BigRoom)
	lg.expect(r.Said)
	burstStart := time.Now()
	var g errgroup.Group
	for t := range cfg.Talkers {
		g.Go(func() error { return lg.members[t].talk(ctx, lines, cfg.Rate) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("talking: %w", err)
	}
	// Every member that keeps reading gets every line, or the wait ends.
	wait, stop := context.WithTimeout(ctx, cfg.Talk+60*time.Second)
	defer stop()
	last := lg.wait(wait)
	r.BurstLength = last.Sub(burstStart)
	for _, m := range lg.members {
		r.Delivered += m.got.Load()
		r.Gaps += m.gaps.Load()
		if m.ended.Load() {
			r.Dropped++
		}
	}
	if r.BurstLength > 0 {
		r.PerSecond = float64(r.Delivered) / r.BurstLength.Seconds()
	}
	r.P50, r.P99 = lg.percentiles()
	return nil
}

// loadGen is a set of connected members.
type loadGen struct {
	conns   []*grpc.ClientConn
	members []*chatMember
	cancel  context.CancelFunc
	want    atomic.Int64 // lines each member is to get
	wg      sync.WaitGroup

	mu   sync.Mutex
	lat  []time.Duration // say-to-delivery latencies, every member's
	last time.Time       // the latest delivery
}

// chatMember is one member's conversation.
type chatMember struct {
	lg    *loadGen
	st    grpc.ClientStream
	got   atomic.Int64 // lines received since expect
	gaps  atomic.Int64
	ended atomic.Bool
	done  chan struct{} // closed once it has all the lines, or ended
	once  sync.Once
}

// connectMembers connects n members, each joining room(i), 64 at a time,
// the first cfg.OwnConns on connections of their own and the rest
// cfg.PerConn to a connection, and starts each one's reader.
func connectMembers(ctx context.Context, addr string, cfg ChatConfig, n int, room func(int) string) (*loadGen, error) {
	ctx, cancel := context.WithCancel(ctx)
	lg := &loadGen{cancel: cancel, members: make([]*chatMember, n)}
	own := min(n, cfg.OwnConns)
	shared := (n - own + cfg.PerConn - 1) / cfg.PerConn
	lg.conns = make([]*grpc.ClientConn, own+shared)
	for i := range lg.conns {
		cc, err := grpc.NewClient("passthrough:///"+addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.CallContentSubtype(grpcCodec{}.Name())))
		if err != nil {
			lg.close()
			return nil, err
		}
		lg.conns[i] = cc
	}
	desc := &grpc.StreamDesc{StreamName: "Converse", ServerStreams: true, ClientStreams: true}
	var next atomic.Int64
	var g errgroup.Group
	for range 64 {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return nil
				}
				ci := i
				if i >= own {
					ci = own + (i-own)/cfg.PerConn
				}
				cc := lg.conns[ci]
				st, err := cc.NewStream(ctx, desc, "/parley.chat.v1.Chat/Converse")
				if err != nil {
					return err
				}
				join := &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: room(i), Nick: "m" + strconv.Itoa(i)}}}
				if err := st.SendMsg(join); err != nil {
					return err
				}
				for {
					ev := new(chatpb.ServerEvent)
					if err := st.RecvMsg(ev); err != nil {
						return fmt.Errorf("member %d joining: %w", i, err)
					}
					if _, ok := ev.Event.(*chatpb.ServerEvent_Joined); ok {
						break
					}
				}
				m := &chatMember{lg: lg, st: st, done: make(chan struct{})}
				lg.members[i] = m
				lg.wg.Add(1)
				go m.read()
			}
		})
	}
	if err := g.Wait(); err != nil {
		lg.close()
		return nil, err
	}
	return lg, nil
}

// expect resets the members' counts: each is to get lines more lines.
func (lg *loadGen) expect(lines int) {
	lg.want.Store(int64(lines))
}

// read receives the member's events until its stream ends, timing every
// line from when it was said (its text is the time, in nanoseconds).
func (m *chatMember) read() {
	defer m.lg.wg.Done()
	defer m.finish()
	var lat []time.Duration
	defer func() {
		m.lg.mu.Lock()
		m.lg.lat = append(m.lg.lat, lat...)
		m.lg.mu.Unlock()
	}()
	for {
		ev := new(chatpb.ServerEvent)
		if err := m.st.RecvMsg(ev); err != nil {
			m.ended.Store(true)
			return
		}
		switch e := ev.Event.(type) {
		case *chatpb.ServerEvent_Message:
			if e.Message == nil {
				continue
			}
			sent, err := strconv.ParseInt(e.Message.Text, 10, 64)
			if err != nil {
				continue // not a timed line
			}
			now := time.Now()
			lat = append(lat, now.Sub(time.Unix(0, sent)))
			if want := m.lg.want.Load(); want > 0 && m.got.Add(1) == want {
				m.lg.mu.Lock()
				if now.After(m.lg.last) {
					m.lg.last = now
				}
				m.lg.mu.Unlock()
				m.finish()
			}
		case *chatpb.ServerEvent_Gap:
			m.gaps.Add(1)
		}
	}
}

func (m *chatMember) finish() { m.once.Do(func() { close(m.done) }) }

// talk says lines lines at rate a second, each its own send time.
func (m *chatMember) talk(ctx context.Context, lines int, rate float64) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for range lines {
		say := &chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: strconv.FormatInt(time.Now().UnixNano(), 10)}}}
		if err := m.st.SendMsg(say); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// wait waits until every member has every line (or its conversation
// ended), or ctx ends, and returns the time of the last delivery.
func (lg *loadGen) wait(ctx context.Context) time.Time {
	for _, m := range lg.members {
		select {
		case <-m.done:
		case <-ctx.Done():
		}
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if lg.last.IsZero() {
		return time.Now()
	}
	return lg.last
}

// close ends every member's conversation and connection and waits for the
// readers.
func (lg *loadGen) close() {
	lg.cancel()
	for _, cc := range lg.conns {
		if cc != nil {
			cc.Close()
		}
	}
	lg.wg.Wait()
}

// percentiles returns the 50th and 99th percentile latencies; the readers
// must have ended (close).
func (lg *loadGen) percentiles() (p50, p99 time.Duration) {
	lg.close()
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if len(lg.lat) == 0 {
		return 0, 0
	}
	slices.Sort(lg.lat)
	at := func(q float64) time.Duration { return lg.lat[min(len(lg.lat)-1, int(q*float64(len(lg.lat))))] }
	return at(0.50), at(0.99)
}

// printChat writes the chat table: medians over rounds, and the ratio of
// each figure to the grpc-go room's in the same run.
func printChat(w io.Writer, cfg ChatConfig, results []chatResult) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "chat: %d idle members in %d rooms (%d on their own connection, the rest %d to one); a room of %d, %d talkers at %g lines/s for %v; %d round(s)\n\n",
		cfg.Members, cfg.Rooms, min(cfg.Members, cfg.OwnConns), cfg.PerConn, cfg.BigRoom, cfg.Talkers, cfg.Rate, cfg.Talk, cfg.Rounds)
	fmt.Fprintln(w, "| server | heap+stacks per member | RSS per member | goroutines per member | connect all | server CPU connecting | burst delivered | gaps | members lost | deliveries/s | p50 | p99 |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, impl := range cfg.Impls {
		var rs []chatResult
		for _, r := range results {
			if r.Impl == impl {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		med := func(f func(chatResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return (v[(len(v)-1)/2] + v[len(v)/2]) / 2
		}
		fmt.Fprintf(w, "| %s | %.1f KiB | %.1f KiB | %.2f | %.2f s | %.2f s | %.0f / %d | %.0f | %.0f | %.0f | %.1f ms | %.1f ms |\n",
			impl,
			med(func(r chatResult) float64 { return r.HeapPerMem / 1024 }),
			med(func(r chatResult) float64 { return r.RSSPerMem / 1024 }),
			med(func(r chatResult) float64 { return r.GoroutPerMem }),
			med(func(r chatResult) float64 { return r.Connect.Seconds() }),
			med(func(r chatResult) float64 { return r.ConnectCPU }),
			med(func(r chatResult) float64 { return float64(r.Delivered) }), rs[0].Expected,
			med(func(r chatResult) float64 { return float64(r.Gaps) }),
			med(func(r chatResult) float64 { return float64(r.Dropped) }),
			med(func(r chatResult) float64 { return r.PerSecond }),
			med(func(r chatResult) float64 { return float64(r.P50) / 1e6 }),
			med(func(r chatResult) float64 { return float64(r.P99) / 1e6 }))
	}
	fmt.Fprintln(w)
}
