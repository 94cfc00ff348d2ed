package faultlab_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/faultlab"
	"github.com/tutti-kv/tutti/internal/kv"
)

// The anti-entropy scenarios: a replica misses writes that nothing else
// will bring it (no hint, no read: the workload only writes), and the
// Merkle exchanges alone must make every owner's tree of every partition
// identical, with every acknowledged write on every owner.

// aaeInterval is the servers' --aae-interval in the scheduled scenarios:
// short, so that the cluster converges within seconds.
const aaeInterval = "1s"

// convergeWithin bounds the wait for identical roots once the faults
// healed; a healthy run needs a few seconds.
const convergeWithin = 90 * time.Second

// TestAntiEntropyHintsDoNotCover stops a node of four (N=3) with kill -9
// for about 10 s while two buckets are written: one with "sloppy": false,
// so no write for the down node is kept anywhere, and one with sloppy
// quorums whose substitutes may keep only 5 hints for it (--max-hints 5),
// so most are dropped. After the restart, anti-entropy must converge every
// partition's owners, and only they may hold a copy of a key.
func TestAntiEntropyHintsDoNotCover(t *testing.T) {
	bin := labBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), scenarioBudget)
	defer cancel()
	begin := time.Now()
	dir := runDir(t)
	lab := faultlab.Start(t, faultlab.Config{Binary: bin, Dir: dir, Nodes: 4,
		ServerArgs: []string{"--aae-interval", aaeInterval, "--max-hints", "5"}})
	t.Logf("cluster of %d ready after %v", lab.Nodes(), time.Since(begin).Round(time.Millisecond))
	sc := scenario{t: t, ctx: ctx, lab: lab, begin: begin}
	sc.step(`bucket "strict": {"sloppy": false}`, func() error { return lab.SetBucketProps(ctx, "strict", `{"sloppy": false}`) })

	buckets := []writes{{bucket: "strict"}, {bucket: "capped"}}
	for i := range buckets {
		buckets[i].start(t, dir, lab, 3)
	}
	const down = 3
	sc.run(2 * time.Second)
	sc.step("kill -9 n4", func() error { return lab.Kill(down) })
	killed := time.Now()
	sc.run(4 * time.Second)
	// Substitutes keep hints only once gossip declared n4 dead, which
	// takes a few seconds: write until some were dropped at the bound,
	// then a while longer.
	sc.step("write until hints for n4 are dropped", func() error {
		for deadline := time.Now().Add(30 * time.Second); ; {
			stored, dropped, err := hintCounts(ctx, lab, down)
			if err != nil || dropped > 0 {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no hint dropped in 30 s (%.0f stored): hints cover the downtime", stored)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	sc.run(3 * time.Second)
	stored, dropped, err := hintCounts(ctx, lab, down)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hints for n4: %.0f stored, %.0f dropped at the bound", stored, dropped)
	if stored == 0 {
		t.Errorf("no hint was stored: the capped bucket's sloppy quorum was not used")
	}
	// The writes go on through the restart: a restarting node must not
	// take writes before it has joined (alone, its ring would make it the
	// owner of every key).
	sc.step("restart n4", func() error { return lab.Restart(down) })
	restarted := time.Now()
	sc.step("wait until every node sees every member alive", func() error {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return lab.WaitReady(ctx, 0)
	})
	sc.run(2 * time.Second)
	for i := range buckets {
		sc.step("stop workload on "+buckets[i].bucket, buckets[i].stop)
	}

	awaitRoots(ctx, t, lab, 3, restarted)
	for _, b := range buckets {
		history := b.check(ctx, t, lab, 3)
		requireDowntimeWrites(t, history, killed, restarted)
		// A w=3 put on one of n4's partitions can succeed while n4 is
		// down only on a substitute's hint: never with "sloppy": false.
		onHints := 0
		invoked := make(map[int]time.Time)
		for _, op := range history {
			if op.Type == faultlab.Invoke {
				invoked[op.Process] = op.Time
			} else if op.F == faultlab.Put && op.Type == faultlab.OK && op.W == 3 && slices.Contains(b.owners[op.Key], down) &&
				invoked[op.Process].After(killed) && op.Time.Before(restarted) {
				onHints++
			}
		}
		t.Logf("bucket %s: %d puts with w=3 on n4's partitions acknowledged while n4 was down", b.bucket, onHints)
		if b.bucket == "strict" && onHints > 0 {
			t.Errorf("bucket strict has \"sloppy\": false, yet %d puts with w=3 on n4's partitions succeeded without n4", onHints)
		}
	}
	t.Logf("scenario took %v", time.Since(begin).Round(time.Millisecond))
}

// hintCounts sums, over every node but down, the writes stored as hints
// and the hints dropped at the bound.
func hintCounts(ctx context.Context, lab *faultlab.Lab, down int) (stored, dropped float64, err error) {
	for i := range lab.Nodes() {
		if i == down {
			continue
		}
		s, err := lab.Metric(ctx, i, "tutti_hints_stored_total")
		if err != nil {
			return 0, 0, err
		}
		d, err := lab.Metric(ctx, i, "tutti_hints_dropped_total")
		if err != nil {
			return 0, 0, err
		}
		stored, dropped = stored+s, dropped+d
	}
	return stored, dropped, nil
}

// TestAntiEntropyWipedNode kills a node of three, removes its data
// directory and restarts it: it comes back empty under a new actor id,
// and scheduled anti-entropy must give it back every write.
func TestAntiEntropyWipedNode(t *testing.T) {
	lab, sc, w, killed, restarted := wipedScenario(t, aaeInterval)
	awaitRoots(sc.ctx, t, lab, 3, restarted)
	history := w.check(sc.ctx, t, lab, 3)
	requireDowntimeWrites(t, history, killed, restarted)
	requireNewActor(t, lab, 2, w.copies)
	t.Logf("scenario took %v", time.Since(sc.begin).Round(time.Millisecond))
}

// TestAntiEntropyRepairOnDemand is TestAntiEntropyWipedNode without
// scheduled exchanges (--aae-interval -1): the wiped node's partitions
// must still differ a while after the cluster healed, since nothing but
// anti-entropy repairs them, until POST /v1/debug/aae/repair on the wiped
// node exchanges every partition.
func TestAntiEntropyRepairOnDemand(t *testing.T) {
	lab, sc, w, killed, restarted := wipedScenario(t, "-1s")
	const wiped = 2

	time.Sleep(3 * time.Second) // longer than a handoff interval and a tree build
	bad, err := lab.RootStatus(sc.ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	differ := 0
	for _, b := range bad {
		if strings.Contains(b, "roots differ") {
			differ++
		}
	}
	t.Logf("without exchanges, %d partitions differ 3 s after the heal", differ)
	if differ == 0 {
		t.Fatalf("the wiped node's partitions converged without anti-entropy: %v", bad)
	}

	ring, err := lab.Ring(sc.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	todo := make([]int, len(ring.Owners))
	for p := range todo {
		todo[p] = p
	}
	// A pass repairs every partition that differs, on the wiped node:
	// it leaves the wiped node and each peer with the union of the two,
	// so a second pass brings a peer what only the other peer held; no
	// third may be needed.
	var total kv.RepairExchange
	for pass := 1; len(todo) > 0; pass++ {
		if pass > 2 {
			t.Fatalf("partitions %v still differ after %d repair passes", todo, pass-1)
		}
		start := time.Now()
		for _, p := range todo {
			res, err := lab.Repair(sc.ctx, wiped, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Exchanges) != 2 {
				t.Fatalf("repair of partition %d: %d exchanges, want 2: %+v", p, len(res.Exchanges), res)
			}
			for _, ex := range res.Exchanges {
				if ex.Outcome != "equal" && ex.Outcome != "repaired" {
					t.Fatalf("repair of partition %d: exchange with %s: %s %s", p, ex.Peer, ex.Outcome, ex.Error)
				}
				total.Segments += ex.Segments
				total.Pulled += ex.Pulled
				total.Pushed += ex.Pushed
			}
		}
		bad, err := lab.RootStatus(sc.ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("repair pass %d over %d partitions took %v; %d problems left", pass, len(todo), time.Since(start).Round(time.Millisecond), len(bad))
		todo = todo[:0]
		for _, b := range bad {
			var p int
			if _, err := fmt.Sscanf(b, "partition %d:", &p); err != nil {
				t.Fatalf("after repair pass %d: %s", pass, b) // not a partition's roots: a tree unbuilt
			}
			todo = append(todo, p)
		}
	}
	t.Logf("repairs: %d segments differed, %d objects pulled, %d pushed", total.Segments, total.Pulled, total.Pushed)
	if total.Pulled == 0 {
		t.Errorf("the wiped node pulled nothing")
	}
	awaitRoots(sc.ctx, t, lab, 3, restarted)
	history := w.check(sc.ctx, t, lab, 3)
	requireDowntimeWrites(t, history, killed, restarted)
	requireNewActor(t, lab, wiped, w.copies)
	t.Logf("scenario took %v", time.Since(sc.begin).Round(time.Millisecond))
}

// wipedScenario runs three nodes with --aae-interval interval under a
// write-only workload, kills n3, removes its data directory, lets the
// others take writes for 4 s, restarts n3 and lets it take writes under
// its new actor for 3 s, then stops the workload and waits until every
// node sees every member alive.
func wipedScenario(t *testing.T, interval string) (lab *faultlab.Lab, sc scenario, w *writes, killed, restarted time.Time) {
	t.Helper()
	bin := labBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), scenarioBudget)
	t.Cleanup(cancel)
	begin := time.Now()
	dir := runDir(t)
	lab = faultlab.Start(t, faultlab.Config{Binary: bin, Dir: dir, Nodes: 3, ServerArgs: []string{"--aae-interval", interval}})
	t.Logf("cluster of %d ready after %v (--aae-interval %s)", lab.Nodes(), time.Since(begin).Round(time.Millisecond), interval)
	sc = scenario{t: t, ctx: ctx, lab: lab, begin: begin}
	w = &writes{bucket: "wiped"}
	w.start(t, dir, lab, 6)
	const wiped = 2
	sc.run(2 * time.Second)
	sc.step("kill -9 n3", func() error { return lab.Kill(wiped) })
	killed = time.Now()
	sc.step("remove n3's data directory", func() error { return lab.Wipe(wiped) })
	sc.run(4 * time.Second)
	sc.step("restart n3", func() error { return lab.Restart(wiped) })
	restarted = time.Now()
	w.wiped, w.restarted = new(wiped), restarted
	sc.run(3 * time.Second)
	sc.step("stop workload", w.stop)
	sc.step("wait until every node sees every member alive", func() error {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return lab.WaitReady(ctx, 0)
	})
	return lab, sc, w, killed, restarted
}

// writes is one bucket's write-only workload and what the checks found.
type writes struct {
	bucket, historyPath string
	stop                func() error
	// wiped, when set, is the node whose data directory was removed
	// and restarted is when it started again (see wipedLosable).
	wiped     *int
	restarted time.Time
	// copies are every node's copies of every key written, and owners
	// every key's owners, once check read them.
	copies map[string][]faultlab.Copy
	owners map[string][]int
}

// start runs a write-only workload of clients on the bucket: no get, so
// no read repair.
func (w *writes) start(t *testing.T, dir string, lab *faultlab.Lab, clients int) {
	t.Helper()
	w.historyPath = filepath.Join(dir, w.bucket+".history.jsonl")
	w.stop = startWorkload(t, w.historyPath, faultlab.Workload{Targets: lab.URLs(), Bucket: w.bucket, Clients: clients, ReadFraction: -1})
}

// check reads every owner's own copy of every key the workload wrote
// (GET /v1/debug/local: no coordination, no read repair) and requires
// that the owners' copies are identical and hold every acknowledged write,
// that no other node holds a copy and that no hint is left; then it runs
// the history checker against each owner's copies in turn. n is the
// replication factor.
func (w *writes) check(ctx context.Context, t *testing.T, lab *faultlab.Lab, n int) []faultlab.Op {
	t.Helper()
	f, err := os.Open(w.historyPath)
	if err != nil {
		t.Fatal(err)
	}
	history, err := faultlab.ReadHistory(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if w.wiped != nil {
		var n int
		history, n = wipedLosable(history, *w.wiped, w.restarted)
		t.Logf("bucket %s: %d acknowledged puts only the wiped node may have fsynced are indeterminate", w.bucket, n)
	}
	keys := faultlab.Keys(history)
	ring, err := lab.Ring(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	owners := ring.KeyOwners(w.bucket, keys)
	copies, err := faultlab.ReadCopies(ctx, lab.URLs(), w.bucket, keys)
	if err != nil {
		t.Fatal(err)
	}
	w.copies, w.owners = copies, owners
	if bad := faultlab.CheckOwnedCopies(history, copies, owners); len(bad) > 0 {
		t.Errorf("bucket %s: %d problems in the replicas' copies, first:\n  %s", w.bucket, len(bad), strings.Join(bad[:min(len(bad), 10)], "\n  "))
	}
	for replica := range n {
		final := make(map[string][]string, len(keys))
		for _, key := range keys {
			if own := owners[key]; replica < len(own) {
				final[key] = copies[key][own[replica]].Values
			}
		}
		res := faultlab.Check(history, final)
		if replica == 0 {
			t.Logf("bucket %s, %d keys: %s", w.bucket, len(keys), res)
		}
		if !res.OK() {
			t.Errorf("bucket %s: history check against each key's owner #%d failed:\n%s", w.bucket, replica+1, res)
		}
		if replica == 0 && res.Puts.OK < 200 {
			t.Errorf("bucket %s: only %d puts acknowledged; the run proves little", w.bucket, res.Puts.OK)
		}
	}
	return history
}

// wipedLosable returns history with every acknowledged put that the wiped
// node alone may have stored durably turned indeterminate (Info), and
// their number. Such a put has w=1, so dw=1: only its coordinator
// acknowledged it and fsynced it, and its replica writes to the others may
// not have left before the kill. The node a put was sent to coordinated it
// (each node owns every key), and an answer from the wiped node before
// its restart came from its life before the wipe. The guarantee, a write
// survives the loss of every replica but one that fsynced it, does not
// cover these: they may or may not be there.
func wipedLosable(history []faultlab.Op, wiped int, restarted time.Time) ([]faultlab.Op, int) {
	out := slices.Clone(history)
	n := 0
	for i, op := range out {
		if op.F == faultlab.Put && op.Type == faultlab.OK && op.Node == wiped && op.W == 1 && op.Time.Before(restarted) {
			out[i].Type = faultlab.Info
			out[i].Error = "acknowledged by the wiped node alone"
			n++
		}
	}
	return out, n
}

// awaitRoots waits until every node's trees are built and every
// partition has the same root on each of its n owners, and requires that
// anti-entropy copied objects and that no read repaired any. restarted is
// when the node that missed writes started again.
func awaitRoots(ctx context.Context, t *testing.T, lab *faultlab.Lab, n int, restarted time.Time) {
	t.Helper()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, convergeWithin)
	defer cancel()
	if err := lab.WaitRoots(wctx, n); err != nil {
		t.Fatalf("anti-entropy: %v", err)
	}
	var repaired, readRepairs float64
	for i := range lab.Nodes() {
		r, err := lab.Metric(ctx, i, "tutti_aae_keys_repaired_total")
		if err != nil {
			t.Fatal(err)
		}
		rr, err := lab.Metric(ctx, i, "tutti_read_repairs_total")
		if err != nil {
			t.Fatal(err)
		}
		repaired, readRepairs = repaired+r, readRepairs+rr
	}
	t.Logf("every partition has one root on its %d owners after %v of waiting, %v after the restart; anti-entropy copied %.0f objects, reads repaired %.0f",
		n, time.Since(start).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond), repaired, readRepairs)
	if repaired == 0 {
		t.Errorf("anti-entropy copied nothing: the replicas converged by other means")
	}
	if readRepairs != 0 {
		t.Errorf("%.0f read repairs in a write-only run", readRepairs)
	}
}

// requireDowntimeWrites requires that many puts were invoked after the
// node went down and acknowledged before it came back: the writes it
// missed.
func requireDowntimeWrites(t *testing.T, history []faultlab.Op, from, to time.Time) {
	t.Helper()
	invoked := make(map[int]time.Time)
	missed := 0
	for _, op := range history {
		switch {
		case op.Type == faultlab.Invoke:
			invoked[op.Process] = op.Time
		case op.F == faultlab.Put && op.Type == faultlab.OK && invoked[op.Process].After(from) && op.Time.Before(to):
			missed++
		}
	}
	t.Logf("%d puts acknowledged while the node was down", missed)
	if missed < 100 {
		t.Errorf("only %d puts acknowledged while the node was down; the run proves little", missed)
	}
}

// requireNewActor requires that node i's current life has an actor id none
// of its earlier lives had, and that every copy of the keys it coordinated
// since holds versions under that actor (dots are "actor:counter", the
// actor in hex).
func requireNewActor(t *testing.T, lab *faultlab.Lab, i int, copies map[string][]faultlab.Copy) {
	t.Helper()
	actors, err := lab.Actors(i)
	if err != nil {
		t.Fatal(err)
	}
	if len(actors) < 2 {
		t.Fatalf("node %d logged %d lives, want at least 2: %v", i, len(actors), actors)
	}
	current, earlier := actors[len(actors)-1], actors[:len(actors)-1]
	if slices.Contains(earlier, current) {
		t.Fatalf("node %d restarted wiped under an old actor id %s (lives: %v)", i, current, actors)
	}
	want, err := strconv.ParseUint(current, 16, 64)
	if err != nil {
		t.Fatalf("actor %q: %v", current, err)
	}
	versions := 0
	for _, cs := range copies {
		for _, c := range cs {
			for _, v := range c.Versions {
				actor, _, _ := strings.Cut(v, ":")
				if a, err := strconv.ParseUint(actor, 16, 64); err == nil && a == want {
					versions++
				}
			}
		}
	}
	t.Logf("node %d: actor ids %v; %d stored versions carry the new one", i, actors, versions)
	if versions == 0 {
		t.Errorf("no copy holds a version under node %d's new actor %s", i, current)
	}
}

func TestCheckRoots(t *testing.T) {
	part := func(p int, root string) kv.AAEPartition { return kv.AAEPartition{Partition: p, Root: root} }
	status := func(node string, parts ...kv.AAEPartition) kv.AAEStatus {
		built := 0
		for _, p := range parts {
			if p.Root != "" {
				built++
			}
		}
		return kv.AAEStatus{Node: node, TreesBuilt: built, Partitions: parts}
	}
	good := []kv.AAEStatus{
		status("n1", part(0, "aa"), part(1, "bb")),
		status("n2", part(0, "aa"), part(2, "cc")),
		status("n3", part(1, "bb"), part(2, "cc")),
	}
	if bad := faultlab.CheckRoots(good, 2); len(bad) != 0 {
		t.Fatalf("converged replicas: %v", bad)
	}
	for name, tc := range map[string]struct {
		statuses []kv.AAEStatus
		want     string
	}{
		"roots differ":     {[]kv.AAEStatus{good[0], status("n2", part(0, "ab"), part(2, "cc")), good[2]}, "partition 0: roots differ: aa on [n1], ab on [n2]"},
		"a tree unbuilt":   {[]kv.AAEStatus{good[0], status("n2", part(0, ""), part(2, "cc")), good[2]}, "n2: 1 of 2 trees built"},
		"an owner missing": {[]kv.AAEStatus{good[0], status("n2", part(2, "cc")), good[2]}, "partition 0: built on 1 nodes, want 2"},
	} {
		bad := faultlab.CheckRoots(tc.statuses, 2)
		if !slices.ContainsFunc(bad, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("%s: want %q, got %q", name, tc.want, bad)
		}
	}
}
