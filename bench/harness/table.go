package harness

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// stat is the median and spread of one figure over the rounds.
type stat struct {
	median, min, max float64
	n                int
}

func summarize(xs []float64) stat {
	if len(xs) == 0 {
		return stat{median: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{median: m, min: s[0], max: s[len(s)-1], n: len(s)}
}

// writeTable writes the results as one Markdown table: for each metric,
// one line per pair with the median over the rounds, the spread, the
// ratio to grpc-go on both sides, and the allocations per operation that
// each process counted.
func writeTable(w io.Writer, cfg Config, results []cellResult) error {
	cs, err := cfg.selected()
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("| measure | server | client | median | min–max | ×grpc-go | client allocs/op | client B/op | server allocs/op | server B/op |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	var failures []string
	for _, c := range cs {
		for _, m := range c.metrics {
			refMedian := math.NaN()
			for _, r := range results {
				if r.Cell == c.name && r.Pair == ref && r.Err == "" {
					refMedian = summarize(figures(results, c, ref, m.value)).median
					break
				}
			}
			for i, p := range cfg.pairsOf(c) {
				var ca, cb, sa, sb []float64
				for _, r := range results {
					if r.Cell != c.name || r.Pair != p {
						continue
					}
					if r.Err != "" {
						failures = append(failures, fmt.Sprintf("%s %s round %d: %s", c.name, p, r.Round, r.Err))
						continue
					}
					ops := float64(max(r.Client.Ops, 1))
					ca = append(ca, float64(r.Client.Mallocs)/ops)
					cb = append(cb, float64(r.Client.AllocBytes)/ops)
					a, by := r.serverAllocs()
					sa = append(sa, a)
					sb = append(sb, by)
				}
				v := summarize(figures(results, c, p, m.value))
				title := ""
				if i == 0 {
					title = m.title + " (" + m.unit
					if m.lowerBetter {
						title += ", lower is better"
					}
					title += ")"
				}
				ratio := "—"
				if !c.raw && !math.IsNaN(refMedian) && refMedian != 0 && v.n > 0 {
					ratio = strconv.FormatFloat(v.median/refMedian, 'f', 2, 64)
				}
				spread := "—"
				if v.n > 0 {
					spread = format(v.min) + "–" + format(v.max)
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
					title, implLabel(p.Server), implLabel(p.Client), format(v.median), spread, ratio,
					format(summarize(ca).median), format(summarize(cb).median),
					format(summarize(sa).median), format(summarize(sb).median))
			}
		}
	}
	if len(failures) > 0 {
		b.WriteString("\nFailed runs (left out of the medians):\n\n")
		for _, f := range slices.Compact(failures) {
			b.WriteString("- " + f + "\n")
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// figures returns the metric's value in of every successful run of c for p.
func figures(results []cellResult, c cell, p pair, value func(cellResult) float64) []float64 {
	var out []float64
	for _, r := range results {
		if r.Cell == c.name && r.Pair == p && r.Err == "" {
			out = append(out, value(r))
		}
	}
	return out
}

func implLabel(impl string) string {
	switch impl {
	case implGRPC:
		return "grpc-go"
	case implRaw:
		return "TCP"
	case implProtocol:
		return "parley+protocol"
	}
	return impl
}

// format prints a figure with a precision that suits its size, and
// thousands separators.
func format(x float64) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case math.Abs(x) >= 1000:
		return thousands(strconv.FormatFloat(x, 'f', 0, 64))
	case math.Abs(x) >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
