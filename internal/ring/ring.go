// Package ring maps keys to partitions and partitions to the members that
// own them (Dynamo's partitioning strategy 3).
//
// Keys: the key space is split into Q fixed partitions (Q a power of two,
// chosen when the cluster is created) and each partition into Segments
// Merkle segments. A key's partition and segment are the top bits of
// KeyHash, which clients reimplement.
//
// Placement: New gives every partition min(N, members) distinct owners as a
// pure function of the member set (ids and zones), so every node that knows
// the same members computes the same Ring, in whatever order it learned
// them. The contract, with the rule and measured figures in docs/ring.md:
//
//   - The owners of a partition are spread over failure domains as evenly
//     as the domain sizes allow; a domain is a zone, or a member without a
//     zone. With N or more domains the owners are in N distinct ones.
//   - A member holds at most max(ceil(s), floor(1.1*s)) replicas, s its
//     fair share. With equal-sized zones (or none) s is Q*N/members, so
//     max/mean is at most 1.10 once the mean is ten replicas or more.
//     Unequal zones can make the limits unreachable; the excess then goes
//     to the members least over them.
//   - A join or leave moves few replicas beyond those that must move, the
//     fewer the more replicas each member holds.
//
// The package is pure: no I/O, clocks, randomness or goroutines. A Ring is
// immutable and safe for concurrent use; its methods return fresh copies.
package ring

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// MaxPartitions is the largest partition count New accepts.
const MaxPartitions = 1 << 16

// maxMembers bounds the member count so that placement arithmetic cannot
// overflow.
const maxMembers = 1 << 20

// Member is a cluster member as placement sees it.
type Member struct {
	// ID names the member: non-empty and unique in a member set.
	ID string
	// Zone is the member's failure domain (a rack or availability zone).
	// "" means no zone: the member is then a failure domain of its own.
	Zone string
}

// Ring is the placement of Q partitions on a member set.
type Ring struct {
	q, n    int  // partitions; replication factor as configured
	bits    uint // log2(q)
	members []Member
	index   map[string]int // member id -> position in members
	seeds   []uint64       // per member: XXH64 of its id
	domain  []int          // per member: failure domain
	owners  [][]int        // per partition: owners, strongest key first
	owned   [][]int        // per member: partitions it owns, ascending
}

// New places q partitions with n owners each on members. q must be a power
// of two in [1, MaxPartitions], n at least 1, and member ids non-empty and
// unique. The result depends on the set of members, not on their order.
// With no more members than n, every member owns every partition.
//
// New takes time and memory proportional to members * q.
func New(q, n int, members []Member) (*Ring, error) {
	if q < 1 || q > MaxPartitions || q&(q-1) != 0 {
		return nil, fmt.Errorf("ring: partition count %d is not a power of two in [1, %d]", q, MaxPartitions)
	}
	if n < 1 {
		return nil, fmt.Errorf("ring: replication factor %d is below 1", n)
	}
	if len(members) == 0 {
		return nil, errors.New("ring: no members")
	}
	if len(members) > maxMembers {
		return nil, fmt.Errorf("ring: %d members exceed the limit of %d", len(members), maxMembers)
	}
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	r := &Ring{
		q:       q,
		n:       n,
		bits:    uint(bits.TrailingZeros(uint(q))),
		members: ms,
		index:   make(map[string]int, len(ms)),
		seeds:   make([]uint64, len(ms)),
		domain:  make([]int, len(ms)),
	}
	zones := make(map[string]int)
	domains := 0
	for i, m := range ms {
		if m.ID == "" {
			return nil, errors.New("ring: member with an empty id")
		}
		if i > 0 && ms[i-1].ID == m.ID {
			return nil, fmt.Errorf("ring: duplicate member id %q", m.ID)
		}
		r.index[m.ID] = i
		r.seeds[i] = xxhash.Sum64String(m.ID)
		d, ok := zones[m.Zone]
		if m.Zone == "" || !ok {
			d = domains
			domains++
			if m.Zone != "" {
				zones[m.Zone] = d
			}
		}
		r.domain[i] = d
	}

	salts := make([]uint64, q)
	for p := range salts {
		salts[p] = partitionSalt(p)
	}
	owners := make([][]int, q)
	if n >= len(ms) {
		for p := range owners {
			owners[p] = make([]int, len(ms))
			for m := range ms {
				owners[p][m] = m
			}
		}
	} else {
		b := &builder{
			q:      q,
			n:      n,
			seeds:  r.seeds,
			salts:  salts,
			domain: r.domain,
			load:   make([]int, len(ms)),
			owners: owners,
		}
		backing := make([]int, q*n)
		for p := range owners {
			owners[p] = backing[p*n : p*n : (p+1)*n]
		}
		b.build()
	}
	r.owned = make([][]int, len(ms))
	for p, own := range owners {
		r.sortByKey(p, own)
		for _, m := range own {
			r.owned[m] = append(r.owned[m], p)
		}
	}
	r.owners = owners
	return r, nil
}

// sortByKey orders members by their placement key for partition p,
// strongest first, ties to the lower index.
func (r *Ring) sortByKey(p int, ms []int) {
	salt := partitionSalt(p)
	slices.SortFunc(ms, func(x, y int) int {
		kx, ky := placementKey(r.seeds[x], salt, p), placementKey(r.seeds[y], salt, p)
		if c := cmp.Compare(ky, kx); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
}

// Q returns the number of partitions.
func (r *Ring) Q() int { return r.q }

// N returns the replication factor the ring was built with. A partition has
// min(N, len(Members())) owners.
func (r *Ring) N() int { return r.n }

// Members returns the members sorted by ID.
func (r *Ring) Members() []Member { return slices.Clone(r.members) }

// Owners returns the owners of partition p, preferred first (the order of
// their placement keys for p). p must be in [0, Q).
func (r *Ring) Owners(p int) []string {
	return r.ids(r.owners[p])
}

// Preference returns every member ranked for partition p: the owners as
// Owners returns them, then the order in which a sloppy quorum tries
// substitutes. Substitutes whose failure domain holds no owner come first,
// since any one of them keeps the replicas in distinct domains whichever
// owner is missing; the others follow. Each group is in descending order of
// placement key for p. Targets applies the full zone rule to this order.
func (r *Ring) Preference(p int) []string {
	return append(r.ids(r.owners[p]), r.ids(r.substitutes(p))...)
}

// substitutes returns the members that do not own partition p in
// Preference order.
func (r *Ring) substitutes(p int) []int {
	ownerDomain := make(map[int]bool, len(r.owners[p]))
	for _, o := range r.owners[p] {
		ownerDomain[r.domain[o]] = true
	}
	var free, shared []int
	for m := range r.members {
		switch {
		case slices.Contains(r.owners[p], m):
		case ownerDomain[r.domain[m]]:
			shared = append(shared, m)
		default:
			free = append(free, m)
		}
	}
	r.sortByKey(p, free)
	r.sortByKey(p, shared)
	return append(free, shared...)
}

// OwnedBy returns the partitions, ascending, of which member id is an
// owner; nil for an unknown id.
func (r *Ring) OwnedBy(id string) []int {
	m, ok := r.index[id]
	if !ok {
		return nil
	}
	return slices.Clone(r.owned[m])
}

// Counts returns the number of partition replicas each member owns; every
// member appears, even with zero.
func (r *Ring) Counts() map[string]int {
	c := make(map[string]int, len(r.members))
	for m, own := range r.owned {
		c[r.members[m].ID] = len(own)
	}
	return c
}

func (r *Ring) ids(ms []int) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = r.members[m].ID
	}
	return out
}
