package sim

import (
	"strings"
	"testing"

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
		{BugNoReplication, check.CheckConverged},
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
