package harness

import (
	"math/bits"
	"time"
)

// latBits is the number of bits kept of each latency below its leading
// one: 32 buckets an octave, so a bucket's middle is within 1.6% of every
// latency in it.
const latBits = 5

// latBuckets covers latencies up to 2^40 ns (about 18 minutes); longer
// ones land in the last bucket.
const latBuckets = (40 - latBits + 1) << latBits

// latencies is a histogram of operation times, log-linear: exact below
// 32 ns, then 32 buckets per power of two. The zero value is empty. It is
// not safe for concurrent use: each worker keeps its own and the window
// merges them after the workers have stopped.
type latencies struct {
	counts [latBuckets]int64
	n      int64
}

// latBucket returns the bucket of d.
func latBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 1<<latBits {
		return int(v)
	}
	shift := bits.Len64(v) - latBits - 1 // v>>shift is in [32, 64)
	return min((shift+1)<<latBits+int(v>>shift)-1<<latBits, latBuckets-1)
}

// latMiddle returns the middle of bucket i.
func latMiddle(i int) time.Duration {
	if i < 1<<latBits {
		return time.Duration(i)
	}
	shift := i>>latBits - 1
	low := uint64(i&(1<<latBits-1)+1<<latBits) << shift
	return time.Duration(low + (uint64(1)<<shift)/2)
}

// add records one operation that took d.
func (h *latencies) add(d time.Duration) {
	h.counts[latBucket(d)]++
	h.n++
}

// merge adds o's operations to h.
func (h *latencies) merge(o *latencies) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the recorded
// operations fall (to within a bucket), or 0 when none was recorded.
func (h *latencies) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := min(int64(q*float64(h.n)), h.n-1) // 0-based rank of the operation wanted
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return latMiddle(i)
		}
	}
	return latMiddle(latBuckets - 1)
}
