package ring

// Target is a destination for one replica of a partition.
type Target struct {
	// Node is the member that receives the replica.
	Node string
	// Owner is the owner whose replica it is: Node itself for a primary,
	// otherwise the unreachable owner that Node stands in for and keeps a
	// hint for.
	Owner string
}

// Primary reports whether the target is an owner of the partition.
func (t Target) Primary() bool { return t.Node == t.Owner }

// Targets returns where partition p's replicas go when only the members for
// which up returns true can be reached (a sloppy quorum). Each reachable
// owner is its own target. Each unreachable owner, in Owners order, gets the
// first reachable member of Preference(p) beyond the owners that is not yet
// a target, preferring, in this order:
//
//  1. a member in the unreachable owner's zone, so the replica stays in
//     the failure domain placement chose for it;
//  2. a member whose failure domain holds no other target, so the
//     replicas stay in distinct domains;
//  3. any member.
//
// An owner for which no member is left gets no target, so fewer than N
// targets come back when too few members are up. Targets are in Owners
// order. up is called at most once per member.
func (r *Ring) Targets(p int, up func(id string) bool) []Target {
	owners := r.owners[p]
	targets := make([]Target, 0, len(owners))
	used := make([]bool, len(r.members))
	usedDomain := make(map[int]bool, len(owners))
	var missing []int // positions in owners
	for i, o := range owners {
		used[o] = true
		if up(r.members[o].ID) {
			usedDomain[r.domain[o]] = true
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		for _, o := range owners {
			id := r.members[o].ID
			targets = append(targets, Target{Node: id, Owner: id})
		}
		return targets
	}
	var candidates []int // reachable non-owners in preference order
	for _, m := range r.substitutes(p) {
		if up(r.members[m].ID) {
			candidates = append(candidates, m)
		}
	}
	substitute := make(map[int]int, len(missing)) // owner position -> member
	for _, i := range missing {
		o := owners[i]
		pick := -1
		for _, prefer := range []func(m int) bool{
			func(m int) bool { return r.domain[m] == r.domain[o] },
			func(m int) bool { return !usedDomain[r.domain[m]] },
			func(int) bool { return true },
		} {
			for _, m := range candidates {
				if !used[m] && prefer(m) {
					pick = m
					break
				}
			}
			if pick >= 0 {
				break
			}
		}
		if pick >= 0 {
			used[pick] = true
			usedDomain[r.domain[pick]] = true
			substitute[i] = pick
		}
	}
	missingAt := 0
	for i, o := range owners {
		owner := r.members[o].ID
		if missingAt < len(missing) && missing[missingAt] == i {
			missingAt++
			if s, ok := substitute[i]; ok {
				targets = append(targets, Target{Node: r.members[s].ID, Owner: owner})
			}
			continue
		}
		targets = append(targets, Target{Node: owner, Owner: owner})
	}
	return targets
}
