package check

import (
	"fmt"
	"slices"
)

// CheckTreesMatch names the Merkle-tree check (Report.Checked counts the
// trees it examined).
const CheckTreesMatch = "TreesMatch"

// Tree is one replica's anti-entropy tree of a partition after the liveness
// phase (package aae): whether it is built, its root, and whether it equals
// the tree rebuilt afresh from the replica's storage (whose root is
// Rebuilt).
type Tree struct {
	Node    string
	Built   bool
	Root    uint64
	Rebuilt uint64
	// MatchesStorage: every leaf equals the rebuilt tree's.
	MatchesStorage bool
}

// TreesMatch checks, for every partition, that each replica's tree is built
// and is what its storage holds, and that all replicas' roots are equal:
// trees maps a partition to the trees of all its replicas. Replicas holding
// identical copies have equal trees, so a difference is either a tree that
// does not follow its storage or copies that did not converge.
func TreesMatch(trees map[int][]Tree) []Violation {
	var vs []Violation
	parts := make([]int, 0, len(trees))
	for p := range trees {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		ts := trees[p]
		var first *Tree
		for i := range ts {
			t := &ts[i]
			switch {
			case !t.Built:
				vs = append(vs, Violation{CheckTreesMatch, "", -1, fmt.Sprintf("partition %d: %s's tree is not built", p, t.Node)})
				continue
			case !t.MatchesStorage:
				vs = append(vs, Violation{CheckTreesMatch, "", -1, fmt.Sprintf(
					"partition %d: %s's tree (root %016x) differs from a rebuild from its storage (root %016x)", p, t.Node, t.Root, t.Rebuilt)})
			}
			if first == nil {
				first = t
			} else if t.Root != first.Root {
				vs = append(vs, Violation{CheckTreesMatch, "", -1, fmt.Sprintf(
					"partition %d: roots differ: %s has %016x, %s has %016x", p, first.Node, first.Root, t.Node, t.Root)})
			}
		}
	}
	return vs
}
