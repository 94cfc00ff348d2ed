package ring

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestPlacementProperties checks spread, balance and order independence
// over random member sets, partition counts and replication factors.
func TestPlacementProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		q := 1 << rapid.IntRange(0, 10).Draw(t, "log2(Q)")
		n := rapid.IntRange(1, 5).Draw(t, "N")
		ids := rapid.SliceOfNDistinct(rapid.StringMatching(`[a-z0-9.:-]{1,12}`), 1, 40, rapid.ID[string]).Draw(t, "ids")
		mode := rapid.SampledFrom([]string{"none", "equal", "any"}).Draw(t, "zones")
		ms := make([]Member, len(ids))
		var divisors []int
		for z := 1; z <= len(ids); z++ {
			if len(ids)%z == 0 {
				divisors = append(divisors, z)
			}
		}
		zones := rapid.SampledFrom(divisors).Draw(t, "equal zones")
		for i, id := range ids {
			ms[i].ID = id
			switch mode {
			case "equal":
				ms[i].Zone = fmt.Sprintf("z%d", i%zones)
			case "any":
				ms[i].Zone = rapid.SampledFrom([]string{"", "a", "b", "c", "d"}).Draw(t, "zone")
			}
		}
		r := mustNew(t, q, n, ms)

		// Spread: distinct owners, spread over zones.
		checkOwners(t, r, ms)

		// Balance: with no zones or equal ones, the 10% cap holds once
		// a member's share is ten replicas or more (below, rounding the
		// share up already exceeds it).
		mean := float64(q*min(n, len(ms))) / float64(len(ms))
		if mode != "any" && mean >= 10 {
			if got := imbalance(r); got > maxImbalance {
				t.Fatalf("max/mean %.3f > %.2f (mean %.1f)", got, maxImbalance, mean)
			}
		}

		// Order independence: the ring depends on the member set only.
		again := mustNew(t, q, n, rapid.Permutation(ms).Draw(t, "order"))
		for p := range q {
			if a, b := r.Owners(p), again.Owners(p); !slices.Equal(a, b) {
				t.Fatalf("partition %d: owners %v, and %v with the members reordered", p, a, b)
			}
			if a, b := r.Preference(p), again.Preference(p); !slices.Equal(a, b) {
				t.Fatalf("partition %d: preference %v, and %v with the members reordered", p, a, b)
			}
		}
	})
}
