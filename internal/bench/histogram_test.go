package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsCoverEveryValue(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1 << 20, 1<<40 + 12345, math.MaxInt64}
	for i := 0; i < 10000; i++ {
		values = append(values, r.Uint64()>>r.IntN(64))
	}
	for _, v := range values {
		low, width := bucketRange(bucketOf(v))
		if v < low || v-low >= width {
			t.Fatalf("%d lands in bucket [%d, %d+%d)", v, low, low, width)
		}
		if width > 1 && width > low/subBuckets {
			t.Fatalf("bucket of %d is %d wide from %d: coarser than 1/%d", v, width, low, subBuckets)
		}
	}
}

// oracle is the nearest-rank quantile of sorted values.
func oracle(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestQuantilesMatchASortedSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 10, 999, 100000} {
		var h histogram
		parts := make([]histogram, 3)
		values := make([]time.Duration, n)
		for i := range values {
			// Log-normal around 1 ms, plus a few tiny and huge values.
			v := time.Duration(math.Exp(13.8 + 1.5*r.NormFloat64()))
			switch r.IntN(100) {
			case 0:
				v = time.Duration(r.IntN(300))
			case 1:
				v = time.Duration(r.Int64N(int64(time.Minute)))
			}
			values[i] = v
			h.record(v)
			parts[i%3].record(v)
		}
		var merged histogram
		for i := range parts {
			merged.merge(&parts[i])
		}
		slices.Sort(values)
		for _, q := range []float64{0.0001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1} {
			want := oracle(values, q)
			tolerance := want/256 + 1
			for name, hist := range map[string]*histogram{"single": &h, "merged": &merged} {
				got := hist.quantile(q)
				if got < want-tolerance || got > want+tolerance {
					t.Errorf("n=%d %s q=%v: %v, want %v ± %v", n, name, q, got, want, tolerance)
				}
			}
		}
		if time.Duration(h.min) != values[0] || time.Duration(h.max) != values[n-1] || merged.total != uint64(n) {
			t.Errorf("n=%d: min %v max %v total %d, want %v %v %d", n, h.min, h.max, merged.total, values[0], values[n-1], n)
		}
		var sum float64
		for _, v := range values {
			sum += float64(v)
		}
		if got, want := float64(h.mean()), sum/float64(n); math.Abs(got-want) > 1+want*1e-9 {
			t.Errorf("n=%d: mean %v, want %v", n, got, want)
		}
	}
}

func TestEmptyHistogram(t *testing.T) {
	var h, other histogram
	h.merge(&other)
	if h.quantile(0.99) != 0 || h.mean() != 0 || h.total != 0 {
		t.Errorf("empty histogram: p99 %v mean %v total %d", h.quantile(0.99), h.mean(), h.total)
	}
}
