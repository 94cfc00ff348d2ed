package sim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/sim/check"
)

func run(t *testing.T, o Options) Result {
	t.Helper()
	res, err := Run(o)
	if err != nil {
		t.Fatalf("seed %#x: %v", o.Seed, err)
	}
	return res
}

// The same seed gives the same run, bit for bit: equal trace hashes and
// histories.
func TestSameSeedSameTrace(t *testing.T) {
	for _, seed := range []uint64{1, 2, 0x5eed} {
		var a, b strings.Builder
		oa, ob := Draw(seed), Draw(seed)
		oa.Trace, ob.Trace = &a, &b
		ra, rb := run(t, oa), run(t, ob)
		if ra.TraceHash != rb.TraceHash || a.String() != b.String() {
			t.Fatalf("seed %#x: two runs differ: %s vs %s", seed, ra.TraceHash, rb.TraceHash)
		}
		if ra.Ops == 0 || ra.Events == 0 {
			t.Fatalf("seed %#x did nothing: %s", seed, ra)
		}
		if other := run(t, Draw(seed+1000)); other.TraceHash == ra.TraceHash {
			t.Fatalf("seeds %#x and %#x have the same trace", seed, seed+1000)
		}
	}
}

// Every planted bug is caught by the checker meant for it, within a few
// seeds of the swarm.
func TestPlantedBugsAreCaught(t *testing.T) {
	tests := []struct {
		bug     Bug
		checker string
	}{
		{BugKeepLocal, check.CheckConverged},
		{BugIgnoreContext, check.CheckSiblings},
		{BugKeepActorOnCrash, check.CheckDotReuse},
		{BugOverwrite, check.CheckLostWrites},
		{BugEarlyAck, check.CheckStrictReads},
	}
	for _, tt := range tests {
		t.Run(tt.bug.String(), func(t *testing.T) {
			for seed := uint64(1); seed <= 60; seed++ {
				o := Draw(seed)
				o.Bug = tt.bug
				res := run(t, o)
				for _, v := range res.Report.Violations {
					if v.Checker == tt.checker {
						t.Logf("seed %#x: %v", seed, v)
						return
					}
				}
			}
			t.Fatalf("no seed's %s check caught %v", tt.checker, tt.bug)
		})
	}
}

// A short swarm in every test run; the long one is tutti-sim --seeds.
func TestSwarm(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 8
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		res := run(t, Draw(seed))
		if !res.OK() {
			t.Fatalf("%s\n%s\nreplay: go run ./cmd/tutti-sim --seed %#x --trace", res, res.Report, seed)
		}
	}
}

// Draw varies every dimension and always yields valid options.
func TestDrawCoversTheSwarm(t *testing.T) {
	seen := map[string]bool{}
	for seed := uint64(1); seed <= 500; seed++ {
		o := Draw(seed).withDefaults()
		if err := o.validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		seen[fmt.Sprintf("nodes%d", o.Nodes)] = true
		seen[fmt.Sprintf("N%d", o.N)] = true
		for name, on := range map[string]bool{
			"crash": o.CrashEvery > 0, "wipe": o.WipeEvery > 0, "partition": o.PartitionEvery > 0,
			"drop": o.Drop > 0, "dup": o.Dup > 0, "skew": o.Skew > 0, "drift": o.Drift > 0,
			"lww": o.LWWShare > 0, "strict": o.StrictClients > 0, "zones": o.Zones > 0, "torn": o.TornTail,
		} {
			seen[name+fmt.Sprint(on)] = true
		}
	}
	for _, want := range []string{"nodes3", "nodes7", "N2", "N5", "crashtrue", "crashfalse", "wipetrue", "wipefalse",
		"partitiontrue", "partitionfalse", "droptrue", "dropfalse", "duptrue", "skewtrue", "drifttrue", "lwwtrue",
		"stricttrue", "zonestrue", "torntrue", "tornfalse"} {
		if !seen[want] {
			t.Errorf("500 seeds never drew %s", want)
		}
	}
}

// The merge-order check catches a merge whose result depends on order.
func TestMergeOrderCheckCanFail(t *testing.T) {
	w, err := New(Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := w.Client(false)
	for _, v := range []string{"x", "y"} {
		c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: v, Node: "n1", Quorums: Quorums{R: 1, W: 1}})
	}
	a, _ := w.Stored("n1", "s", "k")
	b := &object.Object{}
	keepFirst := func(x, _ *object.Object) *object.Object { return x }
	w.checkMergeOrder(w.key("s", "k"), []*object.Object{a, b}, keepFirst)
	if len(w.violations) != 1 || w.violations[0].Checker != "MergeOrder" {
		t.Fatalf("an order-dependent merge went unnoticed: %v", w.violations)
	}
}

// Seeds that once found a bug, named after it. The histories drift as the
// code changes, so each bug also has a focused test where it lives (named
// in the comment); the seeds stay as extra swarm coverage.
func TestRegressionSeeds(t *testing.T) {
	for name, seed := range map[string]uint64{
		// object.TestLWWMergeOrderIndependent, replica.TestStampFollowsTheClientsContext
		"LWWMergeOrderDependent": 0x259a,
		// TestSloppyWriteAndHandoff: only owners coordinate.
		"SubstituteCoordinated": 0x86,
	} {
		t.Run(name, func(t *testing.T) {
			o := Draw(seed)
			o.Retry = false // as when the seed failed
			if res := run(t, o); !res.OK() {
				t.Fatalf("%s\n%s\nreplay: go run ./cmd/tutti-sim --seed %#x --trace", res, res.Report, seed)
			}
		})
	}
}
