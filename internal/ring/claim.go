package ring

import (
	"cmp"
	"math/bits"
	"slices"
)

// claim runs the claiming rounds for the members in the set: in round r
// every one still under its limit claims its r-th preferred partition,
// strongest key first, and takes it if the partition can accept it.
func (b *builder) claim(set []bool) {
	members := len(b.seeds)
	// prefs[m] holds member m's keys for all partitions, in descending
	// order: its order of preference.
	prefs := make([][]uint64, members)
	backing := make([]uint64, 0, b.q*members)
	keys := make([]uint64, b.q)
	buckets := make([]int, b.q+1)
	for m := range members {
		if !set[m] {
			continue
		}
		for p, salt := range b.salts {
			keys[p] = placementKey(b.seeds[m], salt, p)
		}
		prefs[m] = backing[len(backing) : len(backing)+b.q]
		backing = backing[:len(backing)+b.q]
		sortDescending(prefs[m], keys, buckets)
	}
	type claimT struct {
		key    uint64
		member int
	}
	// open counts the slots these members can still fill, so that the
	// rounds stop as soon as the partitions are full.
	inSet := make([]bool, len(b.hi))
	for m, d := range b.domain {
		inSet[d] = inSet[d] || set[m]
	}
	open, openInSet := b.q*b.n, 0
	for d, hi := range b.hi {
		if inSet[d] {
			openInSet += b.q * hi
		}
	}
	for _, own := range b.owners {
		open -= len(own)
		for _, m := range own {
			if inSet[b.domain[m]] {
				openInSet--
			}
		}
	}
	open = min(open, openInSet)
	claims := make([]claimT, 0, members)
	var contested []claimT
	// Claims on different partitions do not interact, so only claims that
	// meet on one partition in the same round need ordering. claimedIn[p]
	// is 1 + the last round in which p was claimed, contestedIn[p] likewise
	// for being claimed twice.
	claimedIn := make([]int, b.q)
	contestedIn := make([]int, b.q)
	for r := 0; r < b.q && open > 0; r++ {
		claims = claims[:0]
		for m := range members {
			if set[m] && b.load[m] < b.limit[m] {
				key := prefs[m][r]
				claims = append(claims, claimT{key, m})
				p := keyPartition(key)
				if claimedIn[p] == r+1 {
					contestedIn[p] = r + 1
				}
				claimedIn[p] = r + 1
			}
		}
		if len(claims) == 0 {
			break
		}
		contested = contested[:0]
		for _, c := range claims {
			p := keyPartition(c.key)
			if contestedIn[p] == r+1 {
				contested = append(contested, c)
			} else if b.canAdd(p, c.member) {
				b.add(p, c.member)
				open--
			}
		}
		slices.SortFunc(contested, func(x, y claimT) int {
			if c := cmp.Compare(y.key, x.key); c != 0 {
				return c
			}
			return cmp.Compare(x.member, y.member)
		})
		for _, c := range contested {
			if p := keyPartition(c.key); b.canAdd(p, c.member) {
				b.add(p, c.member)
				open--
			}
		}
	}
}

// canAdd reports whether member m may become an owner of partition p as far
// as the partition is concerned (limits are the caller's business).
func (b *builder) canAdd(p, m int) bool {
	own := b.owners[p]
	if len(own) >= b.n {
		return false
	}
	d := b.domain[m]
	inDomain := 0
	for _, o := range own {
		if o == m {
			return false
		}
		if b.domain[o] == d {
			inDomain++
		}
	}
	if inDomain >= b.hi[d] {
		return false
	}
	// Beyond its lower bound, a domain may not take a slot that another
	// domain still needs to reach its own.
	return inDomain < b.lo[d] || b.n-len(own)-1 >= b.deficit(p)
}

// deficit is how many more owners partition p needs to bring every domain
// up to its lower bound.
func (b *builder) deficit(p int) int {
	missing := 0
	for _, d := range b.required {
		lo := b.lo[d]
		in := 0
		for _, o := range b.owners[p] {
			if b.domain[o] == d {
				in++
			}
		}
		missing += max(0, lo-in)
	}
	return missing
}

func (b *builder) add(p, m int) {
	b.owners[p] = append(b.owners[p], m)
	b.load[m]++
}

// sortDescending writes keys to dst in descending order. The keys are
// uniformly distributed hashes and len(keys) is a power of two, so one
// counting pass on the top bits leaves about one key per bucket, and an
// insertion sort within buckets finishes in linear expected time. buckets
// is scratch space of len(keys)+1.
func sortDescending(dst, keys []uint64, buckets []int) {
	shift := 64 - uint(bits.TrailingZeros(uint(len(keys))))
	last := len(keys) - 1
	clear(buckets)
	for _, k := range keys {
		// Bucket 0 holds the largest keys.
		buckets[last-int(k>>shift)+1]++
	}
	for i := 1; i < len(buckets); i++ {
		buckets[i] += buckets[i-1]
	}
	for _, k := range keys {
		b := last - int(k>>shift)
		dst[buckets[b]] = k
		buckets[b]++
	}
	// buckets[b] now ends bucket b, so adjacent buckets are already in order.
	for i := 1; i < len(dst); i++ {
		k := dst[i]
		j := i
		for ; j > 0 && dst[j-1] < k; j-- {
			dst[j] = dst[j-1]
		}
		dst[j] = k
	}
}
