package h2

import (
	"math/bits"
	"sync"
)

// Buffers for DATA payloads come from size-classed pools: powers of two
// from 1 KiB to 4 MiB. A buffer is owned by exactly one party at a time:
// the goroutine that filled it, then the writer goroutine that sends it
// (the writer returns it), or a stream's receive buffer (returned when the
// stream's body is drained or closed).
const (
	minClassBits = 10 // 1 KiB
	maxClassBits = 22 // 4 MiB
)

var bufPools [maxClassBits - minClassBits + 1]sync.Pool

func classOf(n int) int {
	if n <= 1<<minClassBits {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassBits
}

// getBuf returns a buffer with len n and a capacity of at least n. Buffers
// larger than the largest class are allocated and never pooled.
func getBuf(n int) *[]byte {
	c := classOf(n)
	if c >= len(bufPools) {
		b := make([]byte, n)
		return &b
	}
	if v := bufPools[c].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(c+minClassBits))
	return &b
}

// putBuf returns b to its pool. b must not be used afterwards.
func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	c := cap(*b)
	if c < 1<<minClassBits || c&(c-1) != 0 || c > 1<<maxClassBits {
		return
	}
	*b = (*b)[:0]
	bufPools[classOf(c)].Put(b)
}
