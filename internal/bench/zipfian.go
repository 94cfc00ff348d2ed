package bench

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// ZipfianConstant is YCSB's skew: the popularity of the item of rank i is
// proportional to 1/(i+1)^0.99.
const ZipfianConstant = 0.99

// Zipfian draws ranks 0..items-1, rank 0 the most popular, with
// P(i) proportional to 1/(i+1)^theta. It follows Gray et al., "Quickly
// generating billion-record synthetic databases" (SIGMOD 1994): one draw
// costs constant time after an O(items) setup that sums the zeta constant.
// Ranks 0 and 1 get their exact probabilities; the tail is approximated.
// A Zipfian is immutable: share it between workers, each with its own
// random source.
type Zipfian struct {
	items float64
	count uint64
	alpha float64
	zetan float64
	eta   float64
	// second is 1 + 0.5^theta, the zeta sum up to rank 1.
	second float64
}

// NewZipfian prepares a generator over items ranks with skew theta in (0, 1).
func NewZipfian(items uint64, theta float64) (*Zipfian, error) {
	if items == 0 {
		return nil, fmt.Errorf("zipfian over no items")
	}
	if !(theta > 0 && theta < 1) {
		return nil, fmt.Errorf("zipfian constant %v not in (0, 1)", theta)
	}
	var zetan float64
	for i := uint64(1); i <= items; i++ {
		zetan += math.Pow(float64(i), -theta)
	}
	z := &Zipfian{
		items:  float64(items),
		count:  items,
		alpha:  1 / (1 - theta),
		zetan:  zetan,
		second: 1 + math.Pow(0.5, theta),
	}
	if items > 2 {
		z.eta = (1 - math.Pow(2/z.items, 1-theta)) / (1 - z.second/zetan)
	}
	return z, nil
}

// Next draws a rank.
func (z *Zipfian) Next(r *rand.Rand) uint64 {
	u := r.Float64()
	uz := u * z.zetan
	switch {
	case uz < 1:
		return 0
	case uz < z.second || z.count <= 2:
		return 1
	}
	rank := uint64(z.items * math.Pow(z.eta*u-z.eta+1, z.alpha))
	if rank >= z.count {
		rank = z.count - 1
	}
	return rank
}

// ScrambledZipfian draws items 0..items-1 with zipfian popularity, but with
// the popular items spread over the range instead of packed at its start.
// Unlike hashing ranks modulo the item count, it maps ranks to items by a
// permutation, so every item keeps exactly its rank's probability and none
// is unreachable.
type ScrambledZipfian struct {
	ranks *Zipfian
	perm  permutation
}

// NewScrambledZipfian prepares a generator over items items with skew
// theta; seed chooses which items are the popular ones.
func NewScrambledZipfian(items uint64, theta float64, seed uint64) (*ScrambledZipfian, error) {
	z, err := NewZipfian(items, theta)
	if err != nil {
		return nil, err
	}
	return &ScrambledZipfian{ranks: z, perm: newPermutation(items, seed)}, nil
}

// Next draws an item.
func (s *ScrambledZipfian) Next(r *rand.Rand) uint64 {
	return s.perm.apply(s.ranks.Next(r))
}

// permutation is a seeded bijection of [0, items): a four-round Feistel
// network over the smallest even number of bits that holds items, applied
// again while the result falls outside the range (cycle walking). The
// network's domain is less than four times the range, so few rounds of
// walking are needed.
type permutation struct {
	items    uint64
	halfBits uint
	halfMask uint64
	keys     [4]uint64
}

func newPermutation(items, seed uint64) permutation {
	width := uint(bits.Len64(items - 1))
	width += width % 2
	if width < 2 {
		width = 2
	}
	p := permutation{items: items, halfBits: width / 2, halfMask: 1<<(width/2) - 1}
	for i := range p.keys {
		seed += 0x9e3779b97f4a7c15
		p.keys[i] = mix64(seed)
	}
	return p
}

func (p permutation) apply(x uint64) uint64 {
	for {
		left, right := x>>p.halfBits, x&p.halfMask
		for _, k := range p.keys {
			left, right = right, left^(mix64(right^k)&p.halfMask)
		}
		x = left<<p.halfBits | right
		if x < p.items {
			return x
		}
	}
}

// mix64 is the SplitMix64 finalizer: a cheap bijective scrambling of bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
