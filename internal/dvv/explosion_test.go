package dvv

import (
	"slices"
	"testing"
)

// TestSiblingExplosion ports riak_test's sibling explosion check: two
// clients write one key by get-then-put, interleaved so that each put's
// context misses the other client's latest write. Each client's value is a
// set of integers: the union of the siblings it read plus one new integer.
// Version vectors without dots let siblings pile up without bound; with
// dotted version vectors each put supersedes what its client read, so there
// are never more than two siblings, and no integer is lost.
func TestSiblingExplosion(t *testing.T) {
	type node struct {
		actor, counter uint64
		state          Set[[]int]
	}
	nodes := []*node{{actor: 0xa11ce, counter: 100}, {actor: 0xb0b, counter: 5000}}
	// put coordinates a write on n and replicates it to the other node.
	put := func(n *node, ctx VV, value []int) {
		n.counter += 7 // leased counters skip
		s, err := n.state.Update(ctx, Dot{n.actor, n.counter}, value)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nodes {
			m.state = Sync(m.state, s)
		}
	}
	// get returns the context and the union of the siblings on n.
	get := func(n *node) (VV, []int) {
		var union []int
		for _, e := range n.state.Entries {
			union = append(union, e.Value...)
		}
		slices.Sort(union)
		return slices.Clone(n.state.Context), slices.Compact(union)
	}

	const rounds = 100
	written := 0
	ctxA, readA := get(nodes[0])
	ctxB, readB := get(nodes[1])
	for range rounds {
		written++
		put(nodes[0], ctxA, append(slices.Clone(readA), written))
		ctxA, readA = get(nodes[0])
		// B's context predates A's put.
		written++
		put(nodes[1], ctxB, append(slices.Clone(readB), written))
		ctxB, readB = get(nodes[1])
		if n := len(nodes[0].state.Entries); n > 2 {
			t.Fatalf("after %d writes: %d siblings", written, n)
		}
	}
	state := nodes[0].state
	if n := len(state.Entries); n != 2 {
		t.Fatalf("%d siblings after %d rounds, want 2", n, rounds)
	}
	_, union := get(nodes[0])
	for i := 1; i <= written; i++ {
		if _, found := slices.BinarySearch(union, i); !found {
			t.Fatalf("integer %d lost; siblings hold %v", i, union)
		}
	}
}
