package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's resolution: each power of two is cut
// into 2^7 = 128 buckets, so a bucket is at most 1/128 of its values wide
// and its midpoint is within 1/256 (0.4%) of any value in it.
const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits
)

// histogram counts durations in log-linear buckets of nanoseconds: exact
// below 256 ns, then 128 buckets per power of two. Its bucket slice grows to
// the largest value seen, a few thousand entries for any real latency.
type histogram struct {
	counts []uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

func bucketOf(v uint64) int {
	shift := bits.Len64(v) - subBucketBits - 1
	if shift < 0 {
		shift = 0
	}
	return shift*subBuckets + int(v>>uint(shift))
}

// bucketRange returns the lowest value of bucket i and the bucket's width.
func bucketRange(i int) (low, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	return uint64(i-shift*subBuckets) << uint(shift), 1 << uint(shift)
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	i := bucketOf(uint64(v))
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.total == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
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

// quantile returns the q-quantile (0 < q <= 1) by nearest rank: the value
// at position ceil(q*total) of the sorted values, as the midpoint of its
// bucket, kept within the observed minimum and maximum. It returns 0 for
// an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			v := int64(low + (width-1)/2)
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}
