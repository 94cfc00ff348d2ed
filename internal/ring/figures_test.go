package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The figures tests measure placement over every member count from 3 to 50
// with N = 3, without zones and with 3, 4 and 5 equal-sized zones, for two
// families of member ids. Each prints its table with t.Log (run with -v);
// docs/ring.md quotes them.

const (
	figN          = 3
	figMinMembers = 3
	figMaxMembers = 50
	// maxImbalance bounds max/mean replicas per member: the balance promise.
	maxImbalance = 1.10
	// maxMovement bounds replicas moved by a join or leave over the ideal
	// in rings that are not tight (see movementBound).
	maxMovement = 1.30
	// minReplicasForMovement is the mean replicas per member below which a
	// ring is tight: the 10% limit leaves a replica or so of slack and a
	// join or leave cascades through members at their limit (docs/ring.md).
	minReplicasForMovement = 40
	// zoneShiftAllowance is added to maxMovement with more zones than N.
	zoneShiftAllowance = 0.10
	// maxTightMovement bounds movement in tight rings.
	maxTightMovement = 3.2
)

// zoneCounts are the zone configurations measured; 0 means no zones.
func zoneCounts() []int { return []int{0, 3, 4, 5} }

// idFamily names member i of a test cluster.
type idFamily struct {
	name string
	id   func(i int) string
}

func idFamilies() []idFamily {
	// Random ids are drawn once, from a fixed seed, so the figures repeat.
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]string, figMaxMembers+1)
	for i := range random {
		random[i] = fmt.Sprintf("%016x", rng.Uint64())
	}
	return []idFamily{
		{"node-NN", func(i int) string { return fmt.Sprintf("node-%02d", i) }},
		{"random", func(i int) string { return random[i] }},
	}
}

// cluster returns members 0..n-1 of a family, member i in zone i mod zones
// (no zone when zones is 0): equal-sized zones when zones divides n.
func cluster(f idFamily, n, zones int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		ms[i].ID = f.id(i)
		if zones > 0 {
			ms[i].Zone = fmt.Sprintf("zone-%d", i%zones)
		}
	}
	return ms
}

// fataler is what the helpers need of *testing.T and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func mustNew(t fataler, q, n int, ms []Member) *Ring {
	t.Helper()
	r, err := New(q, n, ms)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return r
}

// imbalance is max/mean partition replicas per member.
func imbalance(r *Ring) float64 {
	most := 0
	for _, c := range r.Counts() {
		most = max(most, c)
	}
	mean := float64(r.Q()*min(r.N(), len(r.members))) / float64(len(r.members))
	return float64(most) / mean
}

// moved counts the (partition, owner) assignments of b that a lacks: the
// replicas that must be copied to a member that did not hold them.
func moved(a, b *Ring) int {
	n := 0
	for p := range a.Q() {
		old := a.Owners(p)
		for _, id := range b.Owners(p) {
			if !slices.Contains(old, id) {
				n++
			}
		}
	}
	return n
}

// joinRatio is the replicas moved when member n joins members 0..n-1,
// over the ideal Q*N/(n+1): the joiner's fair share.
func joinRatio(t fataler, q int, f idFamily, n, zones int) float64 {
	before := mustNew(t, q, figN, cluster(f, n, zones))
	after := mustNew(t, q, figN, cluster(f, n+1, zones))
	return float64(moved(before, after)) / (float64(q*figN) / float64(n+1))
}

// leaveRatio is the largest, over every member, of the replicas moved when
// that member leaves members 0..n-1, over the ideal: the leaver's count.
func leaveRatio(t fataler, q int, f idFamily, n, zones int) float64 {
	ms := cluster(f, n, zones)
	before := mustNew(t, q, figN, ms)
	counts := before.Counts()
	worst := 0.0
	for i, m := range ms {
		after := mustNew(t, q, figN, slices.Delete(slices.Clone(ms), i, i+1))
		worst = max(worst, float64(moved(before, after))/float64(counts[m.ID]))
	}
	return worst
}

// figures are the measurements for one member count and zone count, the
// worst over the id families.
type figures struct {
	imbalance, join, leave float64
	measured               bool
}

// measure fills the figures of every equal-zoned configuration of q
// partitions. Joins and leaves start from an equal-zoned cluster and stay
// within figMinMembers..figMaxMembers.
func measure(t *testing.T, q int) map[[2]int]figures {
	t.Helper()
	out := make(map[[2]int]figures)
	for _, f := range idFamilies() {
		for _, zones := range zoneCounts() {
			for n := figMinMembers; n <= figMaxMembers; n++ {
				if zones > 0 && n%zones != 0 {
					continue
				}
				fig := out[[2]int{n, zones}]
				fig.measured = true
				fig.imbalance = max(fig.imbalance, imbalance(mustNew(t, q, figN, cluster(f, n, zones))))
				if n < figMaxMembers {
					fig.join = max(fig.join, joinRatio(t, q, f, n, zones))
				}
				if n > figMinMembers {
					fig.leave = max(fig.leave, leaveRatio(t, q, f, n, zones))
				}
				out[[2]int{n, zones}] = fig
			}
		}
	}
	return out
}

// table renders figures as the Markdown table docs/ring.md quotes.
func table(q int, figs map[[2]int]figures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Q=%d, N=%d. Each cell: max/mean replicas per member / worst join movement over ideal / worst leave movement over ideal.\n\n", q, figN)
	b.WriteString("| members | mean replicas |")
	for _, z := range zoneCounts() {
		if z == 0 {
			b.WriteString(" no zones |")
		} else {
			fmt.Fprintf(&b, " %d zones |", z)
		}
	}
	b.WriteString("\n|---:|---:|")
	for range zoneCounts() {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for n := figMinMembers; n <= figMaxMembers; n++ {
		fmt.Fprintf(&b, "| %d | %.1f |", n, float64(q*figN)/float64(n))
		for _, z := range zoneCounts() {
			fig := figs[[2]int{n, z}]
			if !fig.measured {
				b.WriteString(" |")
				continue
			}
			join, leave := "-", "-"
			if n < figMaxMembers {
				join = fmt.Sprintf("%.2f", fig.join)
			}
			if n > figMinMembers {
				leave = fmt.Sprintf("%.2f", fig.leave)
			}
			fmt.Fprintf(&b, " %.3f / %s / %s |", fig.imbalance, join, leave)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// movementBound is the largest ratio a join or leave of a cluster of n
// members may show. With m the member count of the larger of the two rings,
// the ring is tight when members hold fewer than minReplicasForMovement
// replicas on average or m*m > Q*N: a change of the limit then costs about
// one move per member at its limit, m moves against an ideal of Q*N/m.
// Tight rings get maxTightMovement; others maxMovement, plus
// zoneShiftAllowance with more zones than N (a join or leave then changes
// how many replicas each zone holds, so some replicas change zones).
func movementBound(q, n, zones int, leave bool) float64 {
	larger := n + 1
	if leave {
		larger = n
	}
	if q*figN < minReplicasForMovement*larger || larger*larger > q*figN {
		return maxTightMovement
	}
	if zones > figN {
		return maxMovement + zoneShiftAllowance
	}
	return maxMovement
}

// TestFigures checks the balance and movement promises and prints
// the figures for Q=256 and Q=1024.
func TestFigures(t *testing.T) {
	for _, q := range []int{256, 1024} {
		figs := measure(t, q)
		t.Log("\n" + table(q, figs))
		for key, fig := range figs {
			n, zones := key[0], key[1]
			if fig.imbalance > maxImbalance {
				t.Errorf("Q=%d, %d members, %d zones: max/mean %.3f > %.2f", q, n, zones, fig.imbalance, maxImbalance)
			}
			if bound := movementBound(q, n, zones, false); n < figMaxMembers && fig.join > bound {
				t.Errorf("Q=%d, %d members, %d zones: join moved %.2f x ideal > %.2f", q, n, zones, fig.join, bound)
			}
			if bound := movementBound(q, n, zones, true); n > figMinMembers && fig.leave > bound {
				t.Errorf("Q=%d, %d members, %d zones: leave moved %.2f x ideal > %.2f", q, n, zones, fig.leave, bound)
			}
		}
	}
}

// TestFiguresLargerClusters spot-checks balance and movement beyond 50
// members, where docs/ring.md extrapolates its rule for choosing Q. Leaves
// sample every fifth member.
func TestFiguresLargerClusters(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	f := idFamilies()[0]
	for _, c := range []struct{ q, n, zones int }{
		{2048, 75, 0}, {2048, 75, 5}, {4096, 100, 0}, {4096, 100, 4}, {4096, 100, 5},
	} {
		ms := cluster(f, c.n, c.zones)
		before := mustNew(t, c.q, figN, ms)
		counts := before.Counts()
		leave := 0.0
		for i := 0; i < len(ms); i += 5 {
			after := mustNew(t, c.q, figN, slices.Delete(slices.Clone(ms), i, i+1))
			leave = max(leave, float64(moved(before, after))/float64(counts[ms[i].ID]))
		}
		join, balance := joinRatio(t, c.q, f, c.n, c.zones), imbalance(before)
		t.Logf("Q=%d, %d members, %d zones: max/mean %.3f, join %.2f, leave %.2f", c.q, c.n, c.zones, balance, join, leave)
		if balance > maxImbalance || join > movementBound(c.q, c.n, c.zones, false) || leave > movementBound(c.q, c.n, c.zones, true) {
			t.Errorf("Q=%d, %d members, %d zones: figures over their bounds", c.q, c.n, c.zones)
		}
	}
}

// TestOwnersDistinct checks the spread promise over every member count and
// zone count, equal-sized or not, and with members that have no zone mixed
// in: N distinct owners, in N distinct zones when N zones exist.
func TestOwnersDistinct(t *testing.T) {
	for _, f := range idFamilies() {
		for _, zones := range []int{0, 1, 2, 3, 4, 5, 7} {
			for n := 1; n <= figMaxMembers; n++ {
				ms := cluster(f, n, zones)
				if zones == 7 {
					ms[0].Zone = "" // a zoneless member is a domain of its own
				}
				checkOwners(t, mustNew(t, 256, figN, ms), ms)
			}
		}
	}
}

// checkOwners fails t unless every partition of r has min(N, members)
// distinct owners spread over the zones as evenly as their sizes allow.
func checkOwners(t fataler, r *Ring, ms []Member) {
	t.Helper()
	zoneOf := make(map[string]string)
	domains := make(map[string]int)
	for _, m := range ms {
		d := "zone:" + m.Zone
		if m.Zone == "" {
			d = "member:" + m.ID
		}
		zoneOf[m.ID] = d
		domains[d]++
	}
	want := min(r.N(), len(ms))
	for p := range r.Q() {
		own := r.Owners(p)
		if len(own) != want {
			t.Fatalf("%d members: partition %d has %d owners, want %d", len(ms), p, len(own), want)
		}
		perDomain := make(map[string]int)
		for i, id := range own {
			if _, ok := zoneOf[id]; !ok || slices.Contains(own[:i], id) {
				t.Fatalf("%d members: partition %d owners %v are not distinct members", len(ms), p, own)
			}
			perDomain[zoneOf[id]]++
		}
		// As even as possible: no domain holds two more than another
		// unless the other has no member left to give.
		for d, c := range perDomain {
			for e, size := range domains {
				if c > perDomain[e]+1 && perDomain[e] < size {
					t.Fatalf("%d members: partition %d has %d owners in %s but %d in %s", len(ms), p, c, d, perDomain[e], e)
				}
			}
		}
		if len(domains) >= want && len(perDomain) != want {
			t.Fatalf("%d members, %d domains: partition %d owners %v share a domain", len(ms), len(domains), p, own)
		}
	}
}
