package node

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
)

// waitTrees waits until every running node has built all its trees.
func (c *testCluster) waitTrees() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range c.nodes {
		for {
			st := nd.AAEStatus()
			if st.TreesBuilt == len(st.Partitions) && len(st.Partitions) > 0 {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s built %d of %d trees", nd.ID(), st.TreesBuilt, len(st.Partitions))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// rootsDiffer lists the partitions whose roots are not the same on every
// owner.
func (c *testCluster) rootsDiffer() []string {
	roots := map[int]map[string]string{}
	for _, nd := range c.nodes {
		for _, p := range nd.AAEStatus().Partitions {
			if roots[p.Partition] == nil {
				roots[p.Partition] = map[string]string{}
			}
			roots[p.Partition][nd.ID()] = p.Root
		}
	}
	var differ []string
	for p, byNode := range roots {
		seen := ""
		for _, r := range byNode {
			if seen == "" {
				seen = r
			}
			if r == "" || r != seen {
				differ = append(differ, fmt.Sprintf("%d: %v", p, byNode))
				break
			}
		}
	}
	return differ
}

// sameCopies fails unless every node holds the same copy of every key.
func (c *testCluster) sameCopies(bucket []byte, keys []string) {
	c.t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		var want string
		for i, nd := range c.nodes {
			loc, err := nd.Local(ctx, bucket, []byte(k))
			if err != nil {
				c.t.Fatal(err)
			}
			got := fmt.Sprintf("%+v", loc.Copy)
			if loc.Copy != nil {
				got = fmt.Sprintf("%v %+v", loc.Copy.Versions, loc.Copy.Context)
			}
			if i == 0 {
				want = got
			} else if got != want {
				c.t.Fatalf("%s: %s holds %s, %s holds %s", k, nd.ID(), got, c.nodes[0].ID(), want)
			}
		}
	}
}

// A node that was down while writes (and a delete) went to the other two,
// with no hints to bring them, gets every one of them from anti-entropy
// exchanges alone, and all three replicas end with equal roots.
func TestRepairBringsBackWhatANodeMissed(t *testing.T) {
	c := startCluster(t, 3, 3, func(cfg *Config) { cfg.AAEInterval = -1 })
	ctx := context.Background()
	bucket := []byte("b")
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: bucket, Key: []byte("gone"), Value: []byte("x"), Options: kv.Options{W: kv.All}}); err != nil {
		t.Fatal(err)
	}
	c.waitTrees()
	if d := c.rootsDiffer(); len(d) > 0 {
		t.Fatalf("roots differ before any fault: %v", d)
	}
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	keys := []string{"gone"}
	for i := range 200 {
		k := fmt.Sprintf("k%03d", i)
		keys = append(keys, k)
		if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: bucket, Key: []byte(k), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.nodes[1].Get(ctx, &kv.GetRequest{Bucket: bucket, Key: []byte("gone")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[1].Delete(ctx, &kv.DeleteRequest{Bucket: bucket, Key: []byte("gone"), Context: got.Context}); err != nil {
		t.Fatal(err)
	}
	back := c.restart(2)
	c.waitAlive(3)
	c.waitTrees()
	if len(c.rootsDiffer()) == 0 {
		t.Fatal("roots match although the restarted node missed 201 writes")
	}
	pulled := 0
	for _, p := range back.AAEStatus().Partitions {
		res, err := back.Repair(ctx, p.Partition)
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range res.Exchanges {
			if ex.Outcome == "failed" || ex.Outcome == "not_ready" {
				t.Fatalf("exchange %+v", ex)
			}
			pulled += ex.Pulled
			if ex.Pushed != 0 {
				t.Errorf("exchange pushed %d objects to a peer that missed nothing: %+v", ex.Pushed, ex)
			}
		}
	}
	// The restarted node owns every partition (N=3 of 3), and pulls each
	// missed object from the first peer it exchanges with.
	if pulled != 201 {
		t.Errorf("pulled %d objects, want the 201 missed", pulled)
	}
	if m := counter(t, back, "tutti_aae_keys_repaired_total", "direction", "pulled"); m != float64(pulled) {
		t.Errorf("tutti_aae_keys_repaired_total{pulled} = %v, want %d", m, pulled)
	}
	if d := c.rootsDiffer(); len(d) > 0 {
		t.Fatalf("roots still differ after repair: %v", d)
	}
	c.sameCopies(bucket, keys)
	loc, err := back.Local(ctx, bucket, []byte("gone"))
	if err != nil || loc.Copy == nil || !loc.Copy.Versions[0].Deleted {
		t.Fatalf("the restarted node's copy of the deleted key: %+v, %v", loc, err)
	}
	if _, err := back.Repair(ctx, 1<<20); kv.AsError(err) == nil || kv.AsError(err).Kind != kv.BadRequest {
		t.Errorf("repair of a partition out of range: %v", err)
	}
}

// A node whose data directory was wiped starts with a new actor and empty
// trees; scheduled exchanges alone refill it.
func TestScheduledExchangesRefillAWipedNode(t *testing.T) {
	c := startCluster(t, 3, 3, func(cfg *Config) { cfg.AAEInterval = 300 * time.Millisecond })
	ctx := context.Background()
	bucket := []byte("b")
	var keys []string
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i)
		keys = append(keys, k)
		if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: bucket, Key: []byte(k), Value: []byte("v"), Options: kv.Options{W: kv.All}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	if err := os.RemoveAll(c.cfgs[2].DataDir); err != nil {
		t.Fatal(err)
	}
	back := c.restart(2)
	c.waitAlive(3)
	deadline := time.Now().Add(30 * time.Second)
	for len(c.rootsDiffer()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("roots still differ: %v", c.rootsDiffer())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.sameCopies(bucket, keys)
	if n := counter(t, back, "tutti_aae_keys_repaired_total", "direction", "pulled") +
		counter(t, c.nodes[0], "tutti_aae_keys_repaired_total", "direction", "pushed") +
		counter(t, c.nodes[1], "tutti_aae_keys_repaired_total", "direction", "pushed"); n < 100 {
		t.Errorf("anti-entropy copied %v objects to the wiped node, want at least 100", n)
	}
}

// A node that stopped cleanly takes its trees up again at start, with
// nothing to build even while paused, and they match its storage: the
// roots equal its peers'. A paused node with trees to build builds none
// until resumed.
func TestTreesOutliveACleanRestartAndPauseHoldsTheBuild(t *testing.T) {
	c := startCluster(t, 3, 3, func(cfg *Config) { cfg.AAEInterval = -1 })
	ctx := context.Background()
	for i := range 100 {
		if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte(fmt.Sprint(i)), Value: []byte("v"), Options: kv.Options{W: kv.All}}); err != nil {
			t.Fatal(err)
		}
	}
	c.waitTrees()
	if d := c.rootsDiffer(); len(d) > 0 {
		t.Fatalf("roots differ before the restart: %v", d)
	}
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	c.cfgs[2].AAEPaused = true
	back := c.restart(2)
	st := back.AAEStatus()
	if !st.Paused || st.TreesBuilt != len(st.Partitions) || len(st.Partitions) == 0 {
		t.Fatalf("right after a clean restart, paused: paused %v, %d of %d trees built; want all, loaded", st.Paused, st.TreesBuilt, len(st.Partitions))
	}
	if d := c.rootsDiffer(); len(d) > 0 {
		t.Fatalf("loaded roots differ from the peers': %v", d)
	}

	// A wiped node has no saved trees: paused, it builds none.
	if err := back.Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	if err := os.RemoveAll(c.cfgs[2].DataDir); err != nil {
		t.Fatal(err)
	}
	wiped := c.restart(2)
	time.Sleep(300 * time.Millisecond)
	if st := wiped.AAEStatus(); st.TreesBuilt != 0 {
		t.Fatalf("a paused node built %d trees", st.TreesBuilt)
	}
	wiped.SetPaused(false)
	c.waitTrees()
	if st := wiped.AAEStatus(); st.Paused {
		t.Fatal("status says paused after SetPaused(false)")
	}
}
