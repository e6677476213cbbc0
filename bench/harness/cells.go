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

// cells returns every cell, in table order, for the given timing.
func cells(warmup, duration time.Duration, idleStreams int) []cell {
	sp := func(kind string, conc, size int) spec {
		return spec{Kind: kind, Conc: conc, Size: size, Warmup: warmup, Duration: duration}
	}
	rate := func(title, unit string) []metric {
		return []metric{{title: title, unit: unit, value: perSecond}}
	}
	idle := sp(kindIdle, 1, 64)
	idle.Streams = idleStreams
	idleConv := idle
	idleConv.Kind = kindIdleConv
	// Connections cost more than streams, and each is a file on both
	// sides (20,000 a process here): a tenth as many, 1,000 at most.
	idleConns := max(1, min(idleStreams/10, 1000))
	conns := sp(kindConns, 1, 64)
	conns.Streams = idleConns
	return []cell{
		{name: "unary-1", spec: sp(kindUnary, 1, 64), metrics: rate("unary, 1 caller", "round trips/s")},
		{name: "unary-32", spec: sp(kindUnary, 32, 64), metrics: rate("unary, 32 callers", "round trips/s")},
		{name: "pingpong-1", spec: sp(kindPingPong, 1, 64), protocol: true, metrics: rate("ping-pong, 1 stream", "round trips/s")},
		{name: "pingpong-32", spec: sp(kindPingPong, 32, 64), protocol: true, metrics: rate("ping-pong, 32 streams", "round trips/s")},
		{name: "sstream-64", spec: sp(kindSStream, 1, 64), metrics: rate("server stream, 64 B", "msgs/s")},
		{name: "sstream-1k", spec: sp(kindSStream, 1, 1024), metrics: []metric{{title: "server stream, 1 KiB", unit: "MiB/s", value: mibPerSecond(1024)}}},
		{name: "cstream-64", spec: sp(kindCStream, 1, 64), metrics: rate("client stream, 64 B", "msgs/s")},
		{name: "unary-1m", spec: sp(kindUnary, 1, 1<<20), metrics: []metric{{title: "unary, 1 MiB each way", unit: "MiB/s", value: mibPerSecond(1 << 20)}}},
		{name: "idle", spec: idle, metrics: idleMetrics(idleStreams, "streams")},
		{name: "idle-conv", spec: idleConv, metrics: idleMetrics(idleStreams, "conversations")},
		{name: "conns", spec: conns, metrics: []metric{
			{title: fmt.Sprintf("%d idle connections, server heap+stacks", idleConns), unit: "KiB/conn", lowerBetter: true, value: func(r cellResult) float64 {
				d := int64(r.Hold.HeapAlloc+r.Hold.StackInuse) - int64(r.Mark.HeapAlloc+r.Mark.StackInuse)
				return float64(d) / float64(idleConns) / 1024
			}},
			{title: fmt.Sprintf("%d idle connections, server RSS", idleConns), unit: "KiB/conn", lowerBetter: true, value: func(r cellResult) float64 {
				return float64(int64(r.Hold.RSS)-int64(r.Mark.RSS)) / float64(idleConns) / 1024
			}},
			{title: fmt.Sprintf("%d idle connections, client heap+stacks", idleConns), unit: "KiB/conn", lowerBetter: true, value: func(r cellResult) float64 {
				return float64(r.Client.HeldMem) / float64(idleConns) / 1024
			}},
			{title: fmt.Sprintf("%d idle connections, server goroutines", idleConns), unit: "per conn", lowerBetter: true, value: func(r cellResult) float64 {
				return float64(r.Hold.Goroutines-r.Mark.Goroutines) / float64(idleConns)
			}},
		}},
		{name: "dial", spec: sp(kindDial, 1, 64), metrics: []metric{{title: "dial to first response", unit: "µs, median", lowerBetter: true, value: func(r cellResult) float64 { return r.Client.MedianMicros }}}},
		{name: "raw-1", spec: sp(kindRaw, 1, 64), raw: true, metrics: rate("TCP ping-pong, 64 B, 1 conn (ceiling)", "round trips/s")},
		{name: "raw-32", spec: sp(kindRaw, 32, 64), raw: true, metrics: rate("TCP ping-pong, 64 B, 32 conns (ceiling)", "round trips/s")},
	}
}

// idleMetrics are the idle cells' figures for n held streams, called what
// (parley serves the idle-conv cell's without a goroutine each).
func idleMetrics(n int, what string) []metric {
	return []metric{
		{title: fmt.Sprintf("%d idle %s, server heap+stacks", n, what), unit: "KiB/stream", lowerBetter: true, value: func(r cellResult) float64 {
			d := int64(r.Hold.HeapAlloc+r.Hold.StackInuse) - int64(r.Mark.HeapAlloc+r.Mark.StackInuse)
			return float64(d) / float64(n) / 1024
		}},
		{title: fmt.Sprintf("%d idle %s, server RSS", n, what), unit: "KiB/stream", lowerBetter: true, value: func(r cellResult) float64 {
			return float64(int64(r.Hold.RSS)-int64(r.Mark.RSS)) / float64(n) / 1024
		}},
		{title: fmt.Sprintf("%d idle %s, client heap+stacks", n, what), unit: "KiB/stream", lowerBetter: true, value: func(r cellResult) float64 {
			return float64(r.Client.HeldMem) / float64(n) / 1024
		}},
		{title: fmt.Sprintf("%d idle %s, server goroutines", n, what), unit: "per stream", lowerBetter: true, value: func(r cellResult) float64 {
			return float64(r.Hold.Goroutines-r.Mark.Goroutines) / float64(n)
		}},
	}
}
