package ring

import (
	"cmp"
	"slices"
)

// builder computes one placement. Members are referred to by their index in
// the ID-sorted member list, domains by their index in order of first
// appearance in that list. A domain is a zone, or a single member that has
// no zone. docs/ring.md states the rule this code implements.
type builder struct {
	q, n     int      // partitions; owners per partition (at most N)
	seeds    []uint64 // per member: XXH64 of its id
	salts    []uint64 // per partition: partitionSalt
	domain   []int    // per member: its domain
	lo, hi   []int    // per domain: bounds on the owners of one partition in it
	required []int    // the domains whose lower bound is above zero
	limit    []int    // per member: the most replicas it may hold
	load     []int    // per member: replicas held so far
	owners   [][]int  // per partition: member indices, in the order added
}

// build fills b.owners. It assumes b.n is less than the member count; the
// caller handles the case where every member owns every partition.
func (b *builder) build() {
	b.plan()
	// Domains whose every partition holds a fixed number of their members
	// claim first and among themselves, so that how the other domains
	// compete for the remaining slots does not disturb them.
	fixed := make([]bool, len(b.seeds))
	for m, d := range b.domain {
		fixed[m] = b.lo[d] == b.hi[d]
	}
	b.claim(fixed)
	for m := range fixed {
		fixed[m] = !fixed[m]
	}
	b.claim(fixed)
	unfilled := b.q * b.n
	for _, own := range b.owners {
		unfilled -= len(own)
	}
	for p := 0; unfilled > 0 && p < b.q; p++ {
		for len(b.owners[p]) < b.n {
			if !b.augment(p) {
				b.overload(p)
			}
			unfilled--
		}
	}
}

// plan sets the per-domain bounds and the per-member limits.
//
// Replicas of a partition are spread over domains as evenly as their sizes
// allow: with t the smallest level such that sum(min(size, t)) >= n, a
// domain holds between min(size, t-1) and min(size, t) owners of each
// partition. Domain shares of the Q*n replicas are then proportional to size
// within those bounds (water filling), all in exact integer arithmetic so
// that every platform computes the same limits. A domain whose share sits on
// a bound holds exactly that many owners of every partition. A member's
// limit is max(ceil(s), floor(1.1*s)) for its share s, so that with equal
// zones the fullest member holds at most 1.1 times the mean.
func (b *builder) plan() {
	size := make([]int, 0, len(b.domain))
	for _, d := range b.domain {
		if d == len(size) {
			size = append(size, 0)
		}
		size[d]++
	}
	t := 1
	for {
		sum := 0
		for _, s := range size {
			sum += min(s, t)
		}
		if sum >= b.n {
			break
		}
		t++
	}
	b.lo = make([]int, len(size))
	b.hi = make([]int, len(size))
	q := int64(b.q)
	// target is what the domains with more than t-1 members share, after
	// the smaller domains, whose members own every partition.
	target := q * int64(b.n)
	var large []int
	for d, s := range size {
		b.lo[d], b.hi[d] = min(s, t-1), min(s, t)
		if s < t {
			target -= q * int64(s)
		} else {
			large = append(large, d)
		}
	}
	// Largest first: they reach the upper bound first as the level rises.
	slices.SortStableFunc(large, func(x, y int) int { return cmp.Compare(size[y], size[x]) })
	up, low, num, den := waterLevel(large, size, target, q*int64(t), q*int64(t-1))
	// share[d] is a domain member's share as the fraction shareNum/shareDen.
	shareNum := make([]int64, len(size))
	shareDen := make([]int64, len(size))
	for d, s := range size {
		shareNum[d], shareDen[d] = q, 1
		if s >= t {
			shareNum[d], shareDen[d] = num, den
		}
	}
	for i, d := range large {
		s := int64(size[d])
		switch {
		case i < up || num*s == q*int64(t)*den && den > 0:
			shareNum[d], shareDen[d] = q*int64(t), s
			b.lo[d] = b.hi[d]
		case i >= len(large)-low || num*s == q*int64(t-1)*den && den > 0:
			shareNum[d], shareDen[d] = q*int64(t-1), s
			b.hi[d] = b.lo[d]
		}
	}
	for d, lo := range b.lo {
		if lo > 0 {
			b.required = append(b.required, d)
		}
	}
	b.limit = make([]int, len(b.domain))
	for m, d := range b.domain {
		num, den := shareNum[d], shareDen[d]
		limit := max((num+den-1)/den, 11*num/(10*den))
		b.limit[m] = int(min(limit, q))
	}
}

// waterLevel finds how many of the large domains (sorted by size,
// descending) sit on the upper bound (the first up) and on the lower bound
// (the last low) when the domains share target replicas in proportion to
// their sizes, each holding between lower and upper replicas per partition
// times Q (the bounds arrive already multiplied by Q). It returns the
// per-member share of the domains in between as num/den (den is 0 when there
// are none).
func waterLevel(large, size []int, target, upper, lower int64) (up, low int, num, den int64) {
	k := len(large)
	// prefix[i] is the total size of large[:i].
	prefix := make([]int64, k+1)
	for i, d := range large {
		prefix[i+1] = prefix[i] + int64(size[d])
	}
	for up = 0; up <= k; up++ {
		for low = 0; up+low <= k; low++ {
			num = target - int64(up)*upper - int64(low)*lower
			den = prefix[k-low] - prefix[up]
			if den == 0 {
				if num == 0 {
					return up, low, 0, 0
				}
				continue
			}
			if num < 0 {
				continue
			}
			ok := true
			// A domain of size s is above the upper bound when num*s > upper*den.
			if up > 0 && num*int64(size[large[up-1]]) < upper*den {
				ok = false // the smallest capped domain would not reach the bound
			}
			if low > 0 && num*int64(size[large[k-low]]) > lower*den {
				ok = false // the largest floored domain would exceed its bound
			}
			if num*int64(size[large[up]]) > upper*den || num*int64(size[large[k-low-1]]) < lower*den {
				ok = false // a free domain would leave its bounds
			}
			if ok {
				return up, low, num, den
			}
		}
	}
	// Unreachable: the bounds admit target by construction of t.
	return 0, 0, target, prefix[k]
}
