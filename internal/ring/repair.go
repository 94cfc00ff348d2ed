package ring

import (
	"cmp"
	"slices"
)

// canSwap reports whether member k may replace owner m of the full
// partition p.
func (b *builder) canSwap(p, m, k int) bool {
	dm, dk := b.domain[m], b.domain[k]
	inK, inM := 0, 0
	for _, o := range b.owners[p] {
		if o == k {
			return false
		}
		if b.domain[o] == dk {
			inK++
		}
		if b.domain[o] == dm {
			inM++
		}
	}
	return dm == dk || (inK < b.hi[dk] && inM > b.lo[dm])
}

func (b *builder) swap(p, m, k int) {
	i := slices.Index(b.owners[p], m)
	b.owners[p][i] = k
	b.load[m]--
	b.load[k]++
}

// byKey returns every member ordered by its key for partition p, strongest
// first.
func (b *builder) byKey(p int) []int {
	order := make([]int, len(b.seeds))
	keys := make([]uint64, len(b.seeds))
	for m := range order {
		order[m] = m
		keys[m] = placementKey(b.seeds[m], b.salts[p], p)
	}
	slices.SortFunc(order, func(x, y int) int {
		if c := cmp.Compare(keys[y], keys[x]); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	return order
}

// augment adds an owner to partition p without exceeding any limit, moving
// other replicas along a chain if it must: a member at its limit that p
// could take hands one of its partitions to another member, and so on until
// a member under its limit is reached (breadth first, so the chain is
// shortest). It reports whether it succeeded.
func (b *builder) augment(p int) bool {
	for _, m := range b.byKey(p) {
		if b.load[m] < b.limit[m] && b.canAdd(p, m) {
			b.add(p, m)
			return true
		}
	}
	// A step is a member at its limit that will take partition `to` once
	// it hands one of its own partitions to the next member of the chain.
	type step struct {
		member int
		to     int // p for the first step, else a partition of member prev
		prev   int // index of the step whose member it replaces in to, or -1
	}
	var queue []step
	seen := make([]bool, len(b.seeds))
	for _, m := range b.byKey(p) {
		if b.canAdd(p, m) {
			queue = append(queue, step{member: m, to: p, prev: -1})
			seen[m] = true
		}
	}
	onChain := func(i, p2 int) bool {
		for j := i; j >= 0; j = queue[j].prev {
			if queue[j].to == p2 {
				return true
			}
		}
		return false
	}
	held := b.partitionsByMember()
	for i := 0; i < len(queue); i++ {
		m := queue[i].member
		for _, p2 := range held[m] {
			if onChain(i, p2) {
				continue // each partition changes once, so every swap stays valid
			}
			for _, k := range b.byKey(p2) {
				if seen[k] || !b.canSwap(p2, m, k) {
					continue
				}
				if b.load[k] < b.limit[k] {
					// Apply the chain from its end: k takes p2 from m, m
					// takes its target from the previous member, and so on.
					b.swap(p2, m, k)
					for j := i; ; j = queue[j].prev {
						s := queue[j]
						if s.prev < 0 {
							b.add(s.to, s.member)
							return true
						}
						b.swap(s.to, queue[s.prev].member, s.member)
					}
				}
				seen[k] = true
				queue = append(queue, step{member: k, to: p2, prev: i})
			}
		}
	}
	return false
}

// partitionsByMember lists, for each member, the partitions it owns.
func (b *builder) partitionsByMember() [][]int {
	held := make([][]int, len(b.seeds))
	for p, own := range b.owners {
		for _, m := range own {
			held[m] = append(held[m], p)
		}
	}
	return held
}

// overload adds an owner to partition p when no member under its limit can
// take it (zone sizes that make the limits unreachable): the member least
// over its limit, strongest key first among equals.
func (b *builder) overload(p int) {
	best := -1
	for _, m := range b.byKey(p) {
		if b.canAdd(p, m) && (best < 0 || b.load[m]-b.limit[m] < b.load[best]-b.limit[best]) {
			best = m
		}
	}
	if best < 0 {
		// The domain bounds admit n owners, so this only guards the loop.
		for _, m := range b.byKey(p) {
			if !slices.Contains(b.owners[p], m) {
				best = m
				break
			}
		}
	}
	b.add(p, best)
}
