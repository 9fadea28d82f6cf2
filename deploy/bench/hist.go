package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets: exact below 256 ns, then
// 128 buckets per power of two, so any quantile read back is within 1% of
// the true value. Memory stays fixed however long a soak runs, which a slice
// of every sample would not.
type histogram struct {
	counts   [bucketCount]uint64
	total    uint64
	min, max time.Duration
	// sum is the exact total of the values recorded, for the mean.
	sum time.Duration
}

const (
	subBits     = 7
	subCount    = 1 << subBits // buckets per power of two
	linearLimit = 2 * subCount // values below it have a bucket each
	bucketCount = linearLimit + (63-subBits)*subCount
)

func bucketOf(v time.Duration) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < linearLimit {
		return int(u)
	}
	shift := bits.Len64(u) - subBits - 1
	return linearLimit + (shift-1)*subCount + int(u>>shift) - subCount
}

// bucketValue is the middle of bucket i's range.
func bucketValue(i int) time.Duration {
	if i < linearLimit {
		return time.Duration(i)
	}
	shift := (i-linearLimit)/subCount + 1
	low := uint64((i-linearLimit)%subCount+subCount) << shift
	return time.Duration(low + (uint64(1)<<shift)/2)
}

func (h *histogram) record(v time.Duration) {
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// mean is the exact mean of the values recorded; 0 when empty.
func (h *histogram) mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return h.sum / time.Duration(h.total)
}

// quantile returns the latency below which a fraction q of the samples fall
// (nearest rank), clamped to the observed minimum and maximum; 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(max(bucketValue(i), h.min), h.max)
		}
	}
	return h.max
}
