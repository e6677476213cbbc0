package harness

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

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
	byName := map[string]cell{}
	for _, c := range cs {
		byName[c.name] = c
	}
	pairs := []struct {
		p     pair
		label string
		color color.Color
	}{
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
