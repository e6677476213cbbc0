package harness

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The series of every chart: parley on both sides, grpc-go on both sides,
// and the mixed pairs where a chart has them.
var (
	colorParley = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	colorGRPC   = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	colorMixedS = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colorMixedC = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
)

// plotPair is how a chart shows a pair: its label and colour.
type plotPair struct {
	p     pair
	label string
	color color.Color
}

// cellsByName indexes cs by name.
func cellsByName(cs []cell) map[string]cell {
	m := make(map[string]cell, len(cs))
	for _, c := range cs {
		m[c.name] = c
	}
	return m
}

// series is one set of bars: a label, a colour and one value per group.
type series struct {
	label  string
	color  color.Color
	values []float64
}

// barChart writes a grouped bar chart as SVG.
func barChart(path, title, ylabel string, groups []string, ss []series) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	w := vg.Points(14)
	for i, s := range ss {
		vals := make(plotter.Values, len(s.values))
		copy(vals, s.values)
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color = s.color
		bars.LineStyle.Width = 0
		bars.Offset = w * vg.Length(float64(i)-float64(len(ss)-1)/2)
		p.Add(bars)
		p.Legend.Add(s.label, bars)
	}
	p.NominalX(groups...)
	p.Y.Min = 0
	top := 0.0
	for _, s := range ss {
		for _, v := range s.values {
			top = max(top, v)
		}
	}
	p.Y.Max = top * (1.15 + 0.12*float64(len(ss))) // room for the legend above the bars
	return p.Save(160*vg.Millimeter, 100*vg.Millimeter, path)
}

// writePlots writes the cells' charts into dir: throughput against
// concurrency relative to grpc-go, and memory per idle stream,
// conversation and connection.
func writePlots(dir string, cfg Config, results []cellResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cs, err := cfg.selected()
	if err != nil {
		return err
	}
	byName := cellsByName(cs)
	pairs := []plotPair{
		{pair{implParley, implParley}, "parley / parley", colorParley},
		{pair{implGRPC, implGRPC}, "grpc-go / grpc-go", colorGRPC},
		{pair{implParley, implGRPC}, "parley server, grpc-go client", colorMixedS},
		{pair{implGRPC, implParley}, "grpc-go server, parley client", colorMixedC},
	}
	// median returns a cell's first metric for a pair, NaN-free (0 when
	// the cell did not run).
	median := func(name string, p pair, metric int) float64 {
		c, ok := byName[name]
		if !ok || metric >= len(c.metrics) {
			return 0
		}
		st := summarize(figures(results, c, p, c.metrics[metric].value))
		if st.n == 0 {
			return 0
		}
		return st.median
	}

	type chart struct {
		file, title, ylabel string
		cells               []string // one group per cell
		groups              []string
		metric              int
	}
	charts := []chart{
		{"throughput-unary.svg", "Unary round trips/s against callers", "round trips/s",
			[]string{"unary-1", "unary-32"}, []string{"1 caller", "32 callers"}, 0},
		{"throughput-pingpong.svg", "Ping-pong round trips/s against streams", "round trips/s",
			[]string{"pingpong-1", "pingpong-32"}, []string{"1 stream", "32 streams"}, 0},
		{"memory-idle.svg", "Server heap+stacks per idle stream, conversation, connection", "KiB",
			[]string{"idle", "idle-conv", "conns"}, []string{"stream (Handle)", "conversation", "connection"}, 0},
	}
	for _, ch := range charts {
		var ss []series
		for _, pp := range pairs {
			s := series{label: pp.label, color: pp.color}
			any := false
			for _, name := range ch.cells {
				v := median(name, pp.p, ch.metric)
				any = any || v != 0
				s.values = append(s.values, v)
			}
			if any {
				ss = append(ss, s)
			}
		}
		if len(ss) == 0 {
			continue
		}
		if err := barChart(filepath.Join(dir, ch.file), ch.title, ch.ylabel, ch.groups, ss); err != nil {
			return fmt.Errorf("%s: %w", ch.file, err)
		}
	}
	return nil
}

// writeChatPlots writes the chat's charts into dir: memory per idle
// member, and the burst's say-to-delivery latency.
func writeChatPlots(dir string, cfg ChatConfig, results []chatResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mean := func(impl string, f func(chatResult) float64) float64 {
		var sum float64
		n := 0
		for _, r := range results {
			if r.Impl == impl {
				sum += f(r)
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return sum / float64(n)
	}
	impls := []struct {
		impl, label string
		color       color.Color
	}{
		{implChatParley, "parley chat", colorParley},
		{implChatGRPC, "grpc-go chat", colorGRPC},
	}
	var lat, mem []series
	for _, im := range impls {
		lat = append(lat, series{label: im.label, color: im.color, values: []float64{
			mean(im.impl, func(r chatResult) float64 { return float64(r.P50) / 1e6 }),
			mean(im.impl, func(r chatResult) float64 { return float64(r.P99) / 1e6 }),
		}})
		mem = append(mem, series{label: im.label, color: im.color, values: []float64{
			mean(im.impl, func(r chatResult) float64 { return r.HeapPerMem / 1024 }),
			mean(im.impl, func(r chatResult) float64 { return r.RSSPerMem / 1024 }),
		}})
	}
	if err := barChart(filepath.Join(dir, "chat-latency.svg"),
		fmt.Sprintf("Say to delivery, room of %d, %d talkers", cfg.BigRoom, cfg.Talkers), "ms",
		[]string{"p50", "p99"}, lat); err != nil {
		return err
	}
	return barChart(filepath.Join(dir, "chat-memory.svg"),
		fmt.Sprintf("Server memory per idle member (%d members)", cfg.Members), "KiB",
		[]string{"heap+stacks", "RSS"}, mem)
}

// curve is one line of a line chart: a label, a colour, dashed or not,
// and a point per x with the median and the spread over the rounds.
type curve struct {
	label  string
	color  color.Color
	dashed bool
	xs     []float64
	ys     []stat
}

// spread gives a curve's points and their min–max as error bars.
type spread struct {
	plotter.XYs
	plotter.YErrors
}

// lineChart writes a line chart as SVG: x on a log scale with a tick at
// every x, y from zero or, with logY, on a log scale; each point's
// min–max over the rounds is drawn as an error bar. Points without a
// figure (or not positive on a log scale) are left out.
func lineChart(path, title, xlabel, ylabel string, logY bool, cs []curve) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.X.Scale = plot.LogScale{}
	var ticks plot.ConstantTicks
	top := 0.0
	for _, c := range cs {
		var pts spread
		for i, x := range c.xs {
			y := c.ys[i]
			if y.n == 0 || (logY && y.min <= 0) {
				continue
			}
			pts.XYs = append(pts.XYs, plotter.XY{X: x, Y: y.median})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{y.median - y.min, y.max - y.median})
			top = max(top, y.max)
			if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == x }) {
				ticks = append(ticks, plot.Tick{Value: x, Label: thousands(strconv.Itoa(int(x)))})
			}
		}
		if len(pts.XYs) == 0 {
			continue
		}
		line, marks, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		line.Color, marks.Color = c.color, c.color
		if c.dashed {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = c.color
		p.Add(line, marks, bars)
		p.Legend.Add(c.label, line, marks)
	}
	if len(ticks) == 0 {
		return fmt.Errorf("%s: nothing to draw", title)
	}
	p.X.Tick.Marker = ticks
	p.X.Min /= 1.25 // room for the first and last ticks' labels
	p.X.Max *= 1.25
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
		p.Y.Max *= 3 // room for the legend above the lines
	} else {
		p.Y.Min = 0
		p.Y.Max = top * (1.15 + 0.12*float64(len(cs))) // room for the legend above the lines
		p.Y.Tick.Marker = groupedTicks{}
	}
	return p.Save(160*vg.Millimeter, 100*vg.Millimeter, path)
}

// writeSweepPlots writes the sweep's line charts into dir: throughput
// and p99 against callers or streams, server memory per idle
// conversation and connection against their number, and the chat's
// delivery latency against room size, parley and grpc-go on the same
// axes.
func writeSweepPlots(dir string, cfg SweepConfig, res sweepResults) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	byName := cellsByName(cfg.driver().set)
	pairs := []plotPair{
		{pair{implParley, implParley}, "parley", colorParley},
		{ref, "grpc-go", colorGRPC},
	}
	// cellCurves returns one curve per pair (and, with two metrics, a
	// dashed one for the second) over the cells named name(x).
	cellCurves := func(name func(int) string, xs []int, metrics []int, suffixes []string) []curve {
		var cs []curve
		for _, pp := range pairs {
			for k, m := range metrics {
				c := curve{label: pp.label + suffixes[k], color: pp.color, dashed: k > 0}
				for _, x := range xs {
					cl, ok := byName[name(x)]
					if !ok {
						continue
					}
					c.xs = append(c.xs, float64(x))
					c.ys = append(c.ys, summarize(figures(res.Cells, cl, pp.p, cl.metrics[m].value)))
				}
				cs = append(cs, c)
			}
		}
		return cs
	}
	named := func(prefix string) func(int) string {
		return func(n int) string { return prefix + strconv.Itoa(n) }
	}
	type chart struct {
		file, title, xlabel, ylabel string
		logY                        bool
		curves                      []curve
	}
	charts := []chart{
		{"sweep-unary-throughput.svg", "Unary round trips/s against callers", "callers on one connection", "round trips/s", false,
			cellCurves(named("unary-"), cfg.Concs, []int{0}, []string{""})},
		{"sweep-unary-p99.svg", "Unary round trip, 99th percentile, against callers", "callers on one connection", "µs", true,
			cellCurves(named("unary-"), cfg.Concs, []int{1}, []string{""})},
		{"sweep-pingpong-throughput.svg", "Ping-pong round trips/s against streams", "bidi streams on one connection", "round trips/s", false,
			cellCurves(named("pingpong-"), cfg.Concs, []int{0}, []string{""})},
		{"sweep-pingpong-p99.svg", "Ping-pong round trip, 99th percentile, against streams", "bidi streams on one connection", "µs", true,
			cellCurves(named("pingpong-"), cfg.Concs, []int{1}, []string{""})},
		{"sweep-idle-conversations.svg", "Server memory per idle conversation", "idle conversations on one connection", "KiB per conversation", false,
			cellCurves(named("idle-conv-"), cfg.Convs, []int{0, 1}, []string{", heap+stacks", ", RSS"})},
		{"sweep-idle-connections.svg", "Server memory per idle connection", "idle connections", "KiB per connection", false,
			cellCurves(named("conns-"), cfg.Conns, []int{0, 1}, []string{", heap+stacks", ", RSS"})},
		{"sweep-chat-latency.svg", "Chat say-to-delivery latency against room size",
			fmt.Sprintf("members in the room (%d of them talking, %g lines/s each)", cfg.Talkers, cfg.Rate), "ms", true, chatCurves(cfg, res.Chat)},
	}
	for _, ch := range charts {
		if err := lineChart(filepath.Join(dir, ch.file), ch.title, ch.xlabel, ch.ylabel, ch.logY, ch.curves); err != nil {
			return fmt.Errorf("%s: %w", ch.file, err)
		}
	}
	return nil
}

// chatCurves are the room-size sweep's p99 (solid) and p50 (dashed) for
// each chat server.
func chatCurves(cfg SweepConfig, results []chatResult) []curve {
	impls := []struct {
		impl, label string
		color       color.Color
	}{
		{implChatParley, "parley chat", colorParley},
		{implChatGRPC, "grpc-go chat", colorGRPC},
	}
	var cs []curve
	for _, im := range impls {
		p99 := curve{label: im.label + ", p99", color: im.color}
		p50 := curve{label: im.label + ", p50", color: im.color, dashed: true}
		for _, n := range cfg.Rooms {
			pt := chatPointOf(results, im.impl, n)
			p99.xs, p99.ys = append(p99.xs, float64(n)), append(p99.ys, pt.p99)
			p50.xs, p50.ys = append(p50.xs, float64(n)), append(p50.ys, pt.p50)
		}
		cs = append(cs, p99, p50)
	}
	return cs
}

// logTicks marks a log axis at 1, 2 and 5 times each power of ten, with
// labels, and at the other multiples without.
type logTicks struct{}

// Ticks returns the ticks between lo and hi.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for p := math.Pow(10, math.Floor(math.Log10(lo))); p <= hi; p *= 10 {
		for m := 1; m <= 9; m++ {
			v := float64(m) * p
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || m == 2 || m == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
				if v >= 1000 {
					t.Label = format(v)
				}
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// groupedTicks are gonum's default ticks with thousands separated.
type groupedTicks struct{}

// Ticks returns the ticks between lo and hi.
func (groupedTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ts {
		if t.Label != "" && t.Value == math.Trunc(t.Value) {
			ts[i].Label = thousands(strconv.FormatFloat(t.Value, 'f', 0, 64))
		}
	}
	return ts
}
