package client

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/cespare/xxhash/v2"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// ringView is an immutable snapshot of a Ring answer, checked once so that
// routing needs no further validation.
type ringView struct {
	version    uint64
	partitions int
	// shift is 64 - log2(partitions): the partition is the hash's top bits.
	shift   uint
	members []ringMember
	// owners[p] are indexes into members, preferred first.
	owners [][]int
}

type ringMember struct {
	id    string
	addr  string
	alive bool
}

func newRingView(resp *tuttipb.RingResponse) (*ringView, error) {
	p := int(resp.GetPartitions())
	if p < 1 || p&(p-1) != 0 {
		return nil, fmt.Errorf("ring has %d partitions, not a power of two", p)
	}
	if len(resp.GetOwners()) != p {
		return nil, fmt.Errorf("ring lists owners of %d partitions, not %d", len(resp.GetOwners()), p)
	}
	r := &ringView{
		version:    resp.GetVersion(),
		partitions: p,
		shift:      uint(64 - bits.TrailingZeros(uint(p))),
		owners:     make([][]int, p),
	}
	for _, m := range resp.GetMembers() {
		r.members = append(r.members, ringMember{id: m.GetId(), addr: m.GetGrpcAddr(), alive: m.GetAlive()})
	}
	for i, part := range resp.GetOwners() {
		for _, o := range part.GetOwners() {
			if o < 0 || int(o) >= len(r.members) {
				return nil, fmt.Errorf("partition %d names member %d of %d", i, o, len(r.members))
			}
			r.owners[i] = append(r.owners[i], int(o))
		}
	}
	return r, nil
}

// partitionOf places a key exactly as the nodes do. The length prefix keeps
// ("ab", "c") and ("a", "bc") apart.
func partitionOf(bucket, key string, shift uint) int {
	var prefix [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(prefix[:], uint64(len(bucket)))
	d := xxhash.New()
	_, _ = d.Write(prefix[:n])
	_, _ = d.WriteString(bucket)
	_, _ = d.WriteString(key)
	// A shift of 64 (one partition) yields 0, as Go defines it.
	return int(d.Sum64() >> shift)
}

// route lists the addresses to try for a key, best first: the partition's
// live owners in random order, then the other live members in random order
// (any node forwards), then the members the ring reports down, in case it is
// stale. Random order spreads coordination over the replicas.
func (r *ringView) route(bucket, key string, rng func(n int) int) []string {
	owners := r.owners[partitionOf(bucket, key, r.shift)]
	isOwner := make([]bool, len(r.members))
	for _, o := range owners {
		isOwner[o] = true
	}
	var liveOwners, liveOthers, down []int
	for _, o := range owners {
		if r.members[o].alive {
			liveOwners = append(liveOwners, o)
		} else {
			down = append(down, o)
		}
	}
	for i, m := range r.members {
		switch {
		case isOwner[i]:
		case m.alive:
			liveOthers = append(liveOthers, i)
		default:
			down = append(down, i)
		}
	}
	shuffle(liveOwners, rng)
	shuffle(liveOthers, rng)
	addrs := make([]string, 0, len(r.members))
	for _, group := range [][]int{liveOwners, liveOthers, down} {
		for _, i := range group {
			if a := r.members[i].addr; a != "" {
				addrs = append(addrs, a)
			}
		}
	}
	return addrs
}

// anyNode lists every member's address, live ones first, each group in
// random order: the route of requests not tied to a key.
func (r *ringView) anyNode(rng func(n int) int) []string {
	var live, down []int
	for i, m := range r.members {
		if m.alive {
			live = append(live, i)
		} else {
			down = append(down, i)
		}
	}
	shuffle(live, rng)
	shuffle(down, rng)
	addrs := make([]string, 0, len(r.members))
	for _, i := range append(live, down...) {
		if a := r.members[i].addr; a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

func shuffle(s []int, rng func(n int) int) {
	for i := len(s) - 1; i > 0; i-- {
		j := rng(i + 1)
		s[i], s[j] = s[j], s[i]
	}
}
