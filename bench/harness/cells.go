package harness

import (
	"fmt"
	"time"
)

// pair is one combination of implementations in a cell: who serves and who
// calls.
type pair struct{ Server, Client string }

func (p pair) String() string { return p.Server + "/" + p.Client }

// ref is the reference pair of every ratio: grpc-go on both sides.
var ref = pair{implGRPC, implGRPC}

// allPairs are the four combinations each cell runs, reference first.
var allPairs = []pair{
	ref,
	{implParley, implParley},
	{implParley, implGRPC},
	{implGRPC, implParley},
}

// protocolPair is the extra pair of the ping-pong cells: parley on both
// sides with the method's protocol checked on both.
var protocolPair = pair{implProtocol, implProtocol}

// rawPair is the only pair of the plain TCP cells.
var rawPair = pair{implRaw, implRaw}

// metric is one row of the table: a figure computed from a cell's result.
type metric struct {
	title       string
	unit        string
	lowerBetter bool
	value       func(r cellResult) float64
}

// cell is one workload, run for each of its pairs in every round.
type cell struct {
	name string
	spec spec
	raw  bool // plain TCP: runs rawPair only
	// protocol adds protocolPair to the pairs, to compare parley with
	// and without a declared protocol.
	protocol bool
	metrics  []metric
}

func (c cell) pairs() []pair {
	if c.raw {
		return []pair{rawPair}
	}
	if c.protocol {
		return append(append([]pair(nil), allPairs...), protocolPair)
	}
	return allPairs
}

func perSecond(r cellResult) float64 { return float64(r.Client.Ops) / r.Client.Seconds }

func mibPerSecond(size int) func(cellResult) float64 {
	return func(r cellResult) float64 { return perSecond(r) * float64(size) / (1 << 20) }
}

// timing is the unmeasured and measured time of the cells that run for a
// while.
type timing struct{ warmup, duration time.Duration }

func (t timing) spec(kind string, conc, size int) spec {
	return spec{Kind: kind, Conc: conc, Size: size, Warmup: t.warmup, Duration: t.duration}
}

// rate is the metric of a cell measured in operations a second.
func rate(title, unit string) metric {
	return metric{title: title, unit: unit, value: perSecond}
}

// p99 is the metric of the 99th percentile round trip.
func p99(title string) metric {
	return metric{title: title + ", p99", unit: "µs", lowerBetter: true, value: func(r cellResult) float64 { return r.Client.P99Micros }}
}

// serverCPU is the metric of the server process's CPU time a round
// trip, over the client's whole session (warm-up included, as the
// allocation columns are). The client and the server share this
// machine's cores, so a server that costs less lets the client run more;
// the round trips a second show that only in part, and less steadily.
func serverCPU(title string) metric {
	return metric{title: title + ", server CPU", unit: "µs/round trip", lowerBetter: true, value: func(r cellResult) float64 {
		if r.Client.TotalOps == 0 {
			return 0
		}
		return (r.End.CPU - r.Mark.CPU) / float64(r.Client.TotalOps) * 1e6
	}}
}

// clientCPU is the metric of the client process's CPU time a round trip
// over the measured window: the client side's cost as serverCPU is the
// server's. Against the same server, it says what a client costs, which
// the round trips a second show only in part when the server's side or
// the kernel's bounds them.
func clientCPU(title string) metric {
	return metric{title: title + ", client CPU", unit: "µs/round trip", lowerBetter: true, value: func(r cellResult) float64 { return r.Client.CPUMicros }}
}

// plural returns "n what", with an s when n is not 1.
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// unaryCell is unary echo of 64 bytes from conc callers on one connection,
// named unary-CONC: round trips a second, the 99th percentile and the
// server's and the client's CPU a round trip.
func unaryCell(conc int, t timing) cell {
	title := "unary, " + plural(conc, "caller")
	return cell{name: fmt.Sprintf("unary-%d", conc), spec: t.spec(kindUnary, conc, 64),
		metrics: []metric{rate(title, "round trips/s"), p99(title), serverCPU(title), clientCPU(title)}}
}

// pingPongCell is ping-pong of 64 bytes on conc bidi streams of one
// connection, named pingpong-CONC, with the protocol pair among its
// pairs: round trips a second, the 99th percentile and the server's and
// the client's CPU a round trip.
func pingPongCell(conc int, t timing) cell {
	title := "ping-pong, " + plural(conc, "stream")
	return cell{name: fmt.Sprintf("pingpong-%d", conc), spec: t.spec(kindPingPong, conc, 64), protocol: true,
		metrics: []metric{rate(title, "round trips/s"), p99(title), serverCPU(title), clientCPU(title)}}
}

// idleCell holds n streams of a kind (kindIdle or kindIdleConv) open on
// one connection; what names them in the table.
func idleCell(name, kind string, n int, what string, t timing) cell {
	s := t.spec(kind, 1, 64)
	s.Streams = n
	return cell{name: name, spec: s, metrics: memMetrics(n, what, "stream")}
}

// connsCell holds n connections open, each after one unary call.
func connsCell(name string, n int, t timing) cell {
	s := t.spec(kindConns, 1, 64)
	s.Streams = n
	return cell{name: name, spec: s, metrics: memMetrics(n, "connections", "conn")}
}

// cells returns every cell of the table, in table order, for the given
// timing.
func cells(warmup, duration time.Duration, idleStreams int) []cell {
	t := timing{warmup, duration}
	one := func(title, unit string) []metric { return []metric{rate(title, unit)} }
	// Connections cost more than streams, and each is a file on both
	// sides (20,000 a process here): a tenth as many, 1,000 at most.
	idleConns := max(1, min(idleStreams/10, 1000))
	return []cell{
		unaryCell(1, t),
		unaryCell(32, t),
		pingPongCell(1, t),
		pingPongCell(32, t),
		{name: "sstream-64", spec: t.spec(kindSStream, 1, 64), metrics: one("server stream, 64 B", "msgs/s")},
		{name: "sstream-1k", spec: t.spec(kindSStream, 1, 1024), metrics: []metric{{title: "server stream, 1 KiB", unit: "MiB/s", value: mibPerSecond(1024)}}},
		{name: "cstream-64", spec: t.spec(kindCStream, 1, 64), metrics: one("client stream, 64 B", "msgs/s")},
		{name: "unary-1m", spec: t.spec(kindUnary, 1, 1<<20), metrics: []metric{{title: "unary, 1 MiB each way", unit: "MiB/s", value: mibPerSecond(1 << 20)}}},
		idleCell("idle", kindIdle, idleStreams, "streams", t),
		idleCell("idle-conv", kindIdleConv, idleStreams, "conversations", t),
		connsCell("conns", idleConns, t),
		{name: "dial", spec: t.spec(kindDial, 1, 64), metrics: []metric{{title: "dial to first response", unit: "µs, median", lowerBetter: true, value: func(r cellResult) float64 { return r.Client.MedianMicros }}}},
		{name: "raw-1", spec: t.spec(kindRaw, 1, 64), raw: true, metrics: one("TCP ping-pong, 64 B, 1 conn (ceiling)", "round trips/s")},
		{name: "raw-32", spec: t.spec(kindRaw, 32, 64), raw: true, metrics: one("TCP ping-pong, 64 B, 32 conns (ceiling)", "round trips/s")},
	}
}

// memMetrics are the idle cells' figures for n held streams or
// connections, called what (parley serves the idle-conv cell's streams
// without a goroutine each), per one of them.
func memMetrics(n int, what, per string) []metric {
	return []metric{
		{title: fmt.Sprintf("%d idle %s, server heap+stacks", n, what), unit: "KiB/" + per, lowerBetter: true, value: func(r cellResult) float64 {
			d := int64(r.Hold.HeapAlloc+r.Hold.StackInuse) - int64(r.Mark.HeapAlloc+r.Mark.StackInuse)
			return float64(d) / float64(n) / 1024
		}},
		{title: fmt.Sprintf("%d idle %s, server RSS", n, what), unit: "KiB/" + per, lowerBetter: true, value: func(r cellResult) float64 {
			return float64(int64(r.Hold.RSS)-int64(r.Mark.RSS)) / float64(n) / 1024
		}},
		{title: fmt.Sprintf("%d idle %s, client heap+stacks", n, what), unit: "KiB/" + per, lowerBetter: true, value: func(r cellResult) float64 {
			return float64(r.Client.HeldMem) / float64(n) / 1024
		}},
		{title: fmt.Sprintf("%d idle %s, server goroutines", n, what), unit: "per " + per, lowerBetter: true, value: func(r cellResult) float64 {
			return float64(r.Hold.Goroutines-r.Mark.Goroutines) / float64(n)
		}},
	}
}
