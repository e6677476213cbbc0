package harness

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestLatencies checks the histogram's quantiles against the exact ones of
// the same latencies, spread over six orders of magnitude.
func TestLatencies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h, other latencies
	var all []time.Duration
	for i := range 20000 {
		d := time.Duration(r.ExpFloat64() * float64(time.Duration(1)<<(i%20)))
		all = append(all, d)
		if i%3 == 0 {
			other.add(d)
		} else {
			h.add(d)
		}
	}
	h.merge(&other)
	slices.Sort(all)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))]
		got := h.quantile(q)
		if diff := float64(got-exact) / float64(exact); exact >= 32 && (diff > 0.02 || diff < -0.02) {
			t.Errorf("quantile %v: %v, want %v (within 2%%)", q, got, exact)
		}
	}
	for _, d := range []time.Duration{0, 31, 32, 33, 63, 64, 1000, time.Millisecond, time.Second, time.Hour} {
		i := latBucket(d)
		if i < latBucket(d-1) || (d >= 32 && d < time.Hour && latBucket(d+d/16) == i) {
			t.Errorf("bucket of %v (%d) out of order", d, i)
		}
		if m := latMiddle(i); d < time.Hour && (m < d-d/32 || m > d+d/32) {
			t.Errorf("bucket %d of %v has its middle at %v", i, d, m)
		}
	}
	var empty latencies
	if empty.quantile(0.99) != 0 {
		t.Error("an empty histogram has a quantile")
	}
}
