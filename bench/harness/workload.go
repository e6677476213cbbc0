package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Workload kinds: what a client process does for one cell.
const (
	kindUnary    = "unary"    // unary round trips from conc callers
	kindPingPong = "pingpong" // one message each way at a time, on conc bidi streams
	kindSStream  = "sstream"  // messages received from conc server streams
	kindCStream  = "cstream"  // messages sent into conc client streams
	kindIdle     = "idle"     // streams opened and held open
	kindIdleConv = "idleconv" // the same, of mConverse
	kindDial     = "dial"     // a new connection and its first unary call, again and again
	kindConns    = "conns"    // connections opened, each with one unary call, and held open
	kindRaw      = "raw"      // plain TCP ping-pong on conc connections
)

// spec is one cell's workload, as a client process receives it in flags.
type spec struct {
	Kind     string        `json:"kind"`
	Conc     int           `json:"conc"`              // callers, streams or connections
	Size     int           `json:"size"`              // payload bytes of each message
	Streams  int           `json:"streams,omitempty"` // kindIdle: streams to hold open
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
}

// clientResult is what a client process reports for one cell.
type clientResult struct {
	// Ops counts the operations (round trips, messages, streams, dials)
	// completed in the measured window, which lasted Seconds.
	Ops     int64   `json:"ops"`
	Seconds float64 `json:"seconds"`
	// TotalOps counts every operation of the session, warm-up included:
	// the server's counters cover the whole session, so they are divided
	// by this.
	TotalOps int64 `json:"total_ops"`
	// Mallocs and AllocBytes are the client's runtime.MemStats Mallocs and
	// TotalAlloc deltas over the measured window.
	Mallocs    uint64 `json:"mallocs"`
	AllocBytes uint64 `json:"alloc_bytes"`
	// MedianMicros is, for kindDial, the median time from dial to the
	// first response.
	MedianMicros float64 `json:"median_us,omitempty"`
	// P50Micros and P99Micros are, for kindUnary and kindPingPong, the
	// 50th and 99th percentile round trip over the measured window.
	P50Micros float64 `json:"p50_us,omitempty"`
	P99Micros float64 `json:"p99_us,omitempty"`
	// HeldMem is, for kindIdle, the client's Go heap and stack growth
	// while holding the streams open, in bytes.
	HeldMem int64 `json:"held_mem,omitempty"`
	// CPUMicros is the client process's CPU time, user and system, per
	// operation over the measured window, in µs (0 where the platform
	// does not say).
	CPUMicros float64 `json:"cpu_us,omitempty"`
}

// memSnap is a runtime.MemStats reading.
type memSnap struct{ mallocs, bytes uint64 }

func readMem() memSnap {
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return memSnap{m.Mallocs, m.TotalAlloc}
}

// env is what a workload runs against: the server's address, its dialer,
// and (for kindIdle) the driver's line protocol.
type env struct {
	addr string
	dial dialer
	// events tells the driver about phases (kindIdle's "holding").
	events io.Writer
	// release is read for the driver's go-ahead to let the held streams go.
	release *bufio.Reader
}

// run runs s against e and reports the result.
func run(ctx context.Context, s spec, e env) (clientResult, error) {
	if s.Conc < 1 {
		s.Conc = 1
	}
	if s.Kind == kindRaw {
		return runRaw(ctx, s, e)
	}
	if s.Kind == kindDial {
		return runDial(ctx, s, e)
	}
	if s.Kind == kindConns {
		return runConns(ctx, s, e)
	}
	c, err := e.dial(e.addr)
	if err != nil {
		return clientResult{}, err
	}
	defer c.close()
	payload := make([]byte, s.Size)
	switch s.Kind {
	case kindUnary:
		return window(s, false, func(m *meter) error {
			req := &Msg{Data: payload}
			for !m.stop.Load() {
				begun := time.Now()
				if _, err := c.unary(ctx, req); err != nil {
					return err
				}
				m.roundTrip(begun)
			}
			return nil
		})
	case kindPingPong:
		return window(s, false, func(m *meter) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			st, err := c.bidi(ctx)
			if err != nil {
				return err
			}
			req := &Msg{Data: payload}
			for !m.stop.Load() {
				begun := time.Now()
				if err := st.send(req); err != nil {
					return err
				}
				if _, err := st.recv(); err != nil {
					return err
				}
				m.roundTrip(begun)
			}
			if err := st.closeSend(); err != nil {
				return err
			}
			for {
				if _, err := st.recv(); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
			}
		})
	case kindSStream:
		return window(s, false, func(m *meter) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			st, err := c.flood(ctx, &Msg{Data: payload})
			if err != nil {
				return err
			}
			for !m.stop.Load() {
				if _, err := st.recv(); err != nil {
					return err
				}
				m.count.Add(1)
			}
			cancel() // the stream is endless: the error that follows is expected
			return nil
		})
	case kindCStream:
		// The window ends when the server's count comes back, so
		// messages still queued at the stop are paid for.
		return window(s, true, func(m *meter) error {
			st, err := c.sink(ctx)
			if err != nil {
				return err
			}
			req := &Msg{Data: payload}
			var sent int64
			for !m.stop.Load() {
				if err := st.send(req); err != nil {
					return err
				}
				sent++
				m.count.Add(1)
			}
			res, err := st.closeAndRecv()
			if err != nil {
				return err
			}
			if res.N != sent {
				return fmt.Errorf("server counted %d messages, %d were sent", res.N, sent)
			}
			return nil
		})
	case kindIdle:
		return runIdle(ctx, s, e, c.bidi, payload)
	case kindIdleConv:
		return runIdle(ctx, s, e, c.converse, payload)
	}
	return clientResult{}, fmt.Errorf("unknown workload kind %q", s.Kind)
}

// meter is one worker's view of a window: the stop flag and the shared
// count every worker reads and writes, and the worker's own histogram of
// round trips, written by the worker alone and read by window once the
// workers have stopped.
type meter struct {
	stop      *atomic.Bool // set by window at the end, or by a failing worker
	measuring *atomic.Bool // set by window over the measured window
	count     *atomic.Int64
	lat       latencies
}

// roundTrip counts one operation begun at begun and, inside the measured
// window, records how long it took.
func (m *meter) roundTrip(begun time.Time) {
	m.count.Add(1)
	if m.measuring.Load() {
		m.lat.add(time.Since(begun))
	}
}

// window runs work on s.Conc goroutines, measures the operations they count
// between the end of the warm-up and the end of the duration, then stops
// them and waits for them. With endAfterDrain the window ends when the
// workers have finished instead of at the stop. The round trips the
// workers time (meter.roundTrip) give the window's percentiles.
func window(s spec, endAfterDrain bool, work func(m *meter) error) (clientResult, error) {
	var stop, measuring atomic.Bool
	var count atomic.Int64
	meters := make([]meter, s.Conc)
	var g errgroup.Group // its Wait reports the first worker's error
	for i := range meters {
		m := &meters[i]
		*m = meter{stop: &stop, measuring: &measuring, count: &count}
		g.Go(func() error {
			err := work(m)
			if err != nil {
				stop.Store(true)
			}
			return err
		})
	}
	time.Sleep(s.Warmup)
	measuring.Store(true)
	m0, c0, t0, cpu0 := readMem(), count.Load(), time.Now(), cpuSeconds()
	time.Sleep(s.Duration)
	c1, t1, cpu1 := count.Load(), time.Now(), cpuSeconds()
	measuring.Store(false)
	m1 := readMem()
	stop.Store(true)
	err := g.Wait()
	if endAfterDrain {
		c1, t1, cpu1 = count.Load(), time.Now(), cpuSeconds()
		m1 = readMem()
	}
	if err != nil {
		return clientResult{}, err
	}
	var lat latencies
	for i := range meters {
		lat.merge(&meters[i].lat)
	}
	micros := func(q float64) float64 { return float64(lat.quantile(q)) / float64(time.Microsecond) }
	var cpu float64
	if c1 > c0 {
		cpu = (cpu1 - cpu0) / float64(c1-c0) * 1e6
	}
	return clientResult{
		CPUMicros:  cpu,
		Ops:        c1 - c0,
		Seconds:    t1.Sub(t0).Seconds(),
		TotalOps:   count.Load(),
		Mallocs:    m1.mallocs - m0.mallocs,
		AllocBytes: m1.bytes - m0.bytes,
		P50Micros:  micros(0.50),
		P99Micros:  micros(0.99),
	}, nil
}

// runIdle opens s.Streams bidi streams on c, each established by one ping
// and its pong, holds them open until the driver has sampled the server's
// memory, then cancels them all.
func runIdle(ctx context.Context, s spec, e env, open func(context.Context) (bidiStream, error), payload []byte) (clientResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := startHolding()
	streams := make([]bidiStream, s.Streams)
	var next atomic.Int64
	var failed atomic.Bool
	var g errgroup.Group // its Wait reports the first opener's error
	for range 16 {
		g.Go(func() error {
			req := &Msg{Data: payload}
			for {
				i := int(next.Add(1)) - 1
				if i >= len(streams) || failed.Load() {
					return nil
				}
				st, err := open(ctx)
				if err == nil {
					if err = st.send(req); err == nil {
						_, err = st.recv()
					}
				}
				if err != nil {
					failed.Store(true)
					return fmt.Errorf("stream %d: %w", i, err)
				}
				streams[i] = st
			}
		})
	}
	if err := g.Wait(); err != nil {
		return clientResult{}, err
	}
	h.opened()
	res, err := h.hold(e, s.Streams)
	goruntime.KeepAlive(streams)
	return res, err
}

// holding measures a workload that opens streams or connections and
// holds them while the driver samples the server: the time and
// allocations of the opening, and the memory held.
type holding struct {
	before int64 // heldMem before opening
	m0, m1 memSnap
	t0, t1 time.Time
}

// startHolding starts measuring, before the workload opens anything.
func startHolding() *holding {
	goruntime.GC()
	h := &holding{before: heldMem()}
	h.m0, h.t0 = readMem(), time.Now()
	return h
}

// opened marks the end of the opening.
func (h *holding) opened() { h.t1, h.m1 = time.Now(), readMem() }

// hold measures the memory held, tells the driver the client is holding
// ({"event":"holding"}), waits for its go-ahead to let go, and returns
// the result for n streams or connections held.
func (h *holding) hold(e env, n int) (clientResult, error) {
	goruntime.GC()
	goruntime.GC() // pooled buffers survive one (readServerStats)
	held := heldMem() - h.before
	if _, err := fmt.Fprintln(e.events, `{"event":"holding"}`); err != nil {
		return clientResult{}, err
	}
	if _, err := e.release.ReadString('\n'); err != nil {
		return clientResult{}, errors.New("no go-ahead from the driver")
	}
	return clientResult{
		Ops:        int64(n),
		TotalOps:   int64(n),
		Seconds:    h.t1.Sub(h.t0).Seconds(),
		Mallocs:    h.m1.mallocs - h.m0.mallocs,
		AllocBytes: h.m1.bytes - h.m0.bytes,
		HeldMem:    held,
	}, nil
}

// heldMem is the live Go heap plus goroutine stacks, in bytes; call it
// after a GC.
func heldMem() int64 {
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

// runConns opens s.Streams connections, each established by one unary
// call, holds them open until the driver has sampled the server's memory,
// then closes them all.
func runConns(ctx context.Context, s spec, e env) (clientResult, error) {
	h := startHolding()
	conns := make([]conn, 0, s.Streams)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	req := &Msg{Data: make([]byte, s.Size)}
	for range s.Streams {
		c, err := e.dial(e.addr)
		if err != nil {
			return clientResult{}, err
		}
		conns = append(conns, c)
		if _, err := c.unary(ctx, req); err != nil {
			return clientResult{}, fmt.Errorf("connection %d: %w", len(conns), err)
		}
	}
	h.opened()
	// Idle means idle for a while: parley gives an idle connection's
	// buffers back after a second without traffic.
	time.Sleep(connsIdle)
	return h.hold(e, s.Streams)
}

// connsIdle is how long the conns cell lets its connections sit idle
// before the memory is read.
const connsIdle = 1500 * time.Millisecond

// runDial opens a new connection, makes one unary call and closes it,
// again and again; the figure is the median time from dial to response.
func runDial(ctx context.Context, s spec, e env) (clientResult, error) {
	req := &Msg{Data: make([]byte, s.Size)}
	var lat []time.Duration
	var total int64
	start := time.Now()
	warmEnd := start.Add(s.Warmup)
	end := warmEnd.Add(s.Duration)
	var m0 memSnap
	var t0 time.Time
	for {
		now := time.Now()
		if t0.IsZero() && !now.Before(warmEnd) {
			m0, t0 = readMem(), now
		}
		if !now.Before(end) {
			break
		}
		c, err := e.dial(e.addr)
		if err != nil {
			return clientResult{}, err
		}
		_, err = c.unary(ctx, req)
		d := time.Since(now)
		c.close()
		if err != nil {
			return clientResult{}, err
		}
		total++
		if !t0.IsZero() {
			lat = append(lat, d)
		}
	}
	m1, t1 := readMem(), time.Now()
	if len(lat) == 0 {
		return clientResult{}, errors.New("no dial completed in the window")
	}
	slices.Sort(lat)
	return clientResult{
		Ops:          int64(len(lat)),
		Seconds:      t1.Sub(t0).Seconds(),
		TotalOps:     total,
		Mallocs:      m1.mallocs - m0.mallocs,
		AllocBytes:   m1.bytes - m0.bytes,
		MedianMicros: float64(lat[len(lat)/2]) / float64(time.Microsecond),
	}, nil
}

// runRaw ping-pongs s.Size bytes over plain TCP on s.Conc connections.
func runRaw(_ context.Context, s spec, e env) (clientResult, error) {
	return window(s, false, func(m *meter) error {
		rc, err := dialRaw(e.addr, s.Size)
		if err != nil {
			return err
		}
		defer rc.c.Close()
		for !m.stop.Load() {
			if err := rc.roundTrip(); err != nil {
				return err
			}
			m.count.Add(1)
		}
		return nil
	})
}
