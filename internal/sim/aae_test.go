package sim

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/sim/check"
)

// A replica that missed writes, behind a partition or by losing its data
// directory, gets them back from anti-entropy alone: no read touches the
// keys (so no read repair) and no substitute holds a hint (sloppy quorums
// off). Afterwards every owner holds identical copies and identical trees,
// equal to a rebuild from storage. With exchanges off the same scenario
// fails the convergence and tree checks, so the test can fail.
func TestAntiEntropyRepairsAMissedReplica(t *testing.T) {
	for _, fault := range []string{"partitioned", "wiped"} {
		t.Run(fault, func(t *testing.T) {
			if vs := missedReplica(t, fault, 0); len(vs) > 0 {
				t.Fatalf("violations with anti-entropy on:\n%s", check.Report{Violations: vs})
			}
			vs := missedReplica(t, fault, -1)
			var converged, trees bool
			for _, v := range vs {
				converged = converged || v.Checker == check.CheckConverged
				trees = trees || v.Checker == check.CheckTreesMatch
			}
			if !converged || !trees {
				t.Fatalf("with exchanges off, want Converged and TreesMatch violations, got:\n%s", check.Report{Violations: vs})
			}
		})
	}
}

// missedReplica runs the scenario with the given AAEInterval (negative:
// exchanges off) and returns the checkers' violations.
func missedReplica(t *testing.T, fault string, interval time.Duration) []check.Violation {
	t.Helper()
	w, err := New(Options{Seed: 5, Nodes: 3, N: 3, Q: 8, AAEInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	const z = "n3"
	var keys []string
	for i := range 12 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	buckets := []string{"s", "l"}
	c := w.Client(false)
	put := func(value string) {
		for _, b := range buckets {
			for _, k := range keys {
				mustOK(t, c.Do(Request{Kind: check.Put, Bucket: b, Key: k, Value: fmt.Sprintf("%s-%s-%s", value, b, k), Node: "n1", Quorums: Quorums{R: 2, W: 2, DW: 1}}))
			}
		}
	}
	put("before") // every replica holds these
	w.Settle(time.Second)
	switch fault {
	case "partitioned":
		w.Partition([]string{z}, []string{"n1", "n2"}, false)
		w.Settle(2 * time.Second)
		put("during") // z misses them
		for _, k := range keys {
			if obj, _ := w.Stored(z, "s", k); obj == nil || len(obj.Live()) != 1 || string(obj.Live()[0].Value.Value) != "before-s-"+k {
				t.Fatalf("%s behind the partition holds %s of s/%s, want only the value before it", z, objectString(obj), k)
			}
		}
		w.HealLinks()
	case "wiped":
		w.Crash(z, true)
		if err := w.Restart(z); err != nil {
			t.Fatal(err)
		}
		for _, b := range buckets {
			for _, k := range keys {
				if obj, _ := w.Stored(z, b, k); obj != nil {
					t.Fatalf("%s holds %s/%s after losing its data", z, b, k)
				}
			}
		}
	}
	w.Settle(20 * time.Second)
	w.AntiEntropy()
	if interval >= 0 {
		// Every copy is the same, and the lost values are back on z.
		for _, b := range buckets {
			for _, k := range keys {
				ref, want, _ := w.byID["n1"].store.Read(w.key(b, k).Key)
				// Writes without a context: siblings, or the latest
				// under LWW.
				wantLive := []string{"before-" + b + "-" + k}
				if fault == "partitioned" && b == "s" {
					wantLive = append(wantLive, "during-"+b+"-"+k)
				} else if fault == "partitioned" {
					wantLive = []string{"during-" + b + "-" + k}
				}
				var gotLive []string
				if ref != nil {
					for _, e := range ref.Live() {
						gotLive = append(gotLive, string(e.Value.Value))
					}
				}
				slices.Sort(gotLive)
				if !slices.Equal(gotLive, wantLive) {
					t.Errorf("%s/%s: n1 holds %s, want live %q", b, k, objectString(ref), wantLive)
				}
				for _, n := range []string{"n2", z} {
					if obj, got, _ := w.byID[n].store.Read(w.key(b, k).Key); !bytes.Equal(got, want) {
						t.Errorf("%s/%s: %s holds %s, n1 %s", b, k, n, objectString(obj), objectString(ref))
					}
				}
			}
		}
		for p := range w.ring.Q() {
			t1, ok1 := w.byID["n1"].aae.forest.Tree(p)
			t3, ok3 := w.byID[z].aae.forest.Tree(p)
			if !ok1 || !ok3 || t1 != t3 {
				t.Errorf("partition %d: n1's tree (built %v, root %x) and %s's (built %v, root %x) differ", p, ok1, t1.Root(), z, ok3, t3.Root())
			}
		}
		if w.stats.AAEPulled+w.stats.AAEPushed == 0 {
			t.Error("no exchange moved an object")
		}
	}
	if w.stats.ReadRepairs != 0 || w.stats.HintsDelivered != 0 {
		t.Fatalf("%d read repairs and %d hints: the repair was not anti-entropy's alone", w.stats.ReadRepairs, w.stats.HintsDelivered)
	}
	for _, o := range w.history {
		if o.Kind == check.Get {
			t.Fatalf("op %d read %s", o.Index, o.Key)
		}
	}
	res := w.Finish()
	if interval >= 0 && res.Report.Checked[check.CheckTreesMatch] != 3*w.ring.Q() {
		t.Errorf("TreesMatch checked %d trees, want %d", res.Report.Checked[check.CheckTreesMatch], 3*w.ring.Q())
	}
	return res.Report.Violations
}

// Exchanges of a partition holding thousands of differing keys both ways
// run in batches (aae.ItemsBatch segments per listing, aae.ObjectBatch
// objects per fetch or push) and still leave identical copies.
func TestAntiEntropyInBatches(t *testing.T) {
	w, err := New(Options{Seed: 6, Nodes: 3, N: 3, Q: 1})
	if err != nil {
		t.Fatal(err)
	}
	const keys = 3000
	c := w.Client(false)
	w.Partition([]string{"n3"}, []string{"n1", "n2"}, false)
	w.Settle(2 * time.Second)
	for i := range keys {
		mustOK(t, c.Do(Request{Kind: check.Put, Bucket: "s", Key: fmt.Sprintf("a%d", i), Node: "n1", Quorums: Quorums{R: 1, W: 2}}))
		mustOK(t, c.Do(Request{Kind: check.Put, Bucket: "s", Key: fmt.Sprintf("b%d", i), Node: "n3", Quorums: Quorums{R: 1, W: 1}}))
	}
	w.HealLinks()
	w.Settle(5 * time.Second)
	w.AntiEntropy()
	if w.stats.AAEPulled < keys || w.stats.AAEPushed < keys {
		t.Errorf("exchanges pulled %d and pushed %d objects, want at least %d each", w.stats.AAEPulled, w.stats.AAEPushed, keys)
	}
	finishOK(t, w)
}
