package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
)

// restart starts node i again on its data directory.
func (c *testCluster) restart(i int) *Node {
	c.t.Helper()
	cfg := c.cfgs[i]
	for _, nd := range c.nodes {
		if nd != nil {
			cfg.Join = []string{nd.GossipAddr()}
			break
		}
	}
	nd, err := Start(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[i] = nd
	return nd
}

func index(c *testCluster, id string) int {
	for i, cfg := range c.cfgs {
		if cfg.ID == id {
			return i
		}
	}
	return -1
}

// With an owner down, a write needing all three replicas succeeds on a
// sloppy quorum: the fourth node keeps a hint, and hands it off once the
// owner is back. A strict write (pw=3) fails instead.
func TestSloppyQuorumAndHintedHandoff(t *testing.T) {
	c := startCluster(t, 4, 3)
	ctx := context.Background()
	bucket, key := []byte("b"), []byte("k")
	pl := c.nodes[0].ring.Load().place(bucket, key)
	owners := c.nodes[0].ring.Load().ring.Owners(pl.Partition)
	down := index(c, owners[2])
	var sub int
	for i, cfg := range c.cfgs {
		if !slices.Contains(owners, cfg.ID) {
			sub = i
		}
	}
	if err := c.nodes[down].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[down] = nil
	c.waitAlive(3)

	coord := c.nodes[index(c, owners[0])]
	if _, err := coord.Put(ctx, &kv.PutRequest{Bucket: bucket, Key: key, Value: []byte("v"), Options: kv.Options{W: kv.All}}); err != nil {
		t.Fatalf("w=all put with an owner down: %v", err)
	}
	hint := pl
	hint.HintFor = owners[2]
	if obj, _, err := c.nodes[sub].readLocal(hint); err != nil || obj == nil {
		t.Fatalf("%s keeps no hint for %s: %v", c.cfgs[sub].ID, owners[2], err)
	}
	// The debug view shows the hint and no own copy on the substitute.
	loc, err := c.nodes[sub].Local(ctx, bucket, key)
	if err != nil || loc.Copy != nil || loc.Hints[owners[2]] == nil || string(loc.Hints[owners[2]].Versions[0].Value) != "v" {
		t.Fatalf("Local on the substitute = %+v, %v", loc, err)
	}
	if m := member(coord.Cluster(), owners[2]); m.HintsPending != 0 {
		t.Fatalf("the coordinator reports %d hints for %s; it keeps none", m.HintsPending, owners[2])
	}
	if m := member(c.nodes[sub].Cluster(), owners[2]); m.HintsPending != 1 || m.HintBytes <= 0 {
		t.Fatalf("the substitute reports %d hints (%d bytes) for %s, want 1", m.HintsPending, m.HintBytes, owners[2])
	}
	// At its bound, the substitute refuses a further hint for the owner
	// and counts it dropped: a w=all write then fails.
	c.nodes[sub].cfg.MaxHints = 1
	var other []byte
	for i := 0; other == nil; i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		if slices.Equal(coord.ring.Load().ring.Owners(coord.ring.Load().place(bucket, k).Partition), owners) && string(k) != string(key) {
			other = k
		}
	}
	if _, err := coord.Put(ctx, &kv.PutRequest{Bucket: bucket, Key: other, Value: []byte("x"),
		Options: kv.Options{W: kv.All, Timeout: time.Second}}); err == nil {
		t.Fatal("a w=all write succeeded past the substitute's hint bound")
	}
	if got := counter(t, c.nodes[sub], "tutti_hints_dropped_total", "reason", "bound"); got != 1 {
		t.Fatalf("tutti_hints_dropped_total = %v, want 1", got)
	}
	// Reads consult the substitute's hint, also when the substitute itself
	// answers the client with r=1 (it reads its hint, not its empty own
	// copy, first).
	got, err := coord.Get(ctx, &kv.GetRequest{Bucket: bucket, Key: key, Options: kv.Options{R: kv.All}})
	if err != nil || !slices.Equal(values(got), []string{"v"}) {
		t.Fatalf("r=all read with an owner down: %+v, %v", got, err)
	}
	for range 20 {
		got, err = c.nodes[sub].Get(ctx, &kv.GetRequest{Bucket: bucket, Key: key, Options: kv.Options{R: kv.One}})
		if err != nil || !slices.Equal(values(got), []string{"v"}) {
			t.Fatalf("r=1 read through the substitute: %+v, %v", got, err)
		}
	}
	_, err = coord.Put(ctx, &kv.PutRequest{Bucket: bucket, Key: key, Value: []byte("strict"),
		Options: kv.Options{W: kv.All, PW: kv.All, Timeout: 500 * time.Millisecond}})
	if e := kv.AsError(err); err == nil || e.Kind != kv.Unavailable {
		t.Fatalf("pw=all put with an owner down: %v, want unavailable", err)
	}

	back := c.restart(down)
	c.waitAlive(4)
	deadline := time.Now().Add(10 * time.Second)
	for {
		own, _, err := back.readLocal(pl)
		h, _, _ := c.nodes[sub].readLocal(hint)
		if err == nil && own != nil && slices.Contains(liveValues(own.Live()), "v") && h == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hint not handed off: owner holds %v, hint %v", own, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := member(c.nodes[sub].Cluster(), owners[2]); m.HintsPending != 0 || m.HintBytes != 0 {
		t.Fatalf("after handoff the substitute reports %+v", m)
	}
	if got := counter(t, c.nodes[sub], "tutti_hints_delivered_total"); got != 1 {
		t.Fatalf("tutti_hints_delivered_total = %v, want 1", got)
	}
}

func member(info kv.ClusterInfo, id string) kv.Member {
	for _, m := range info.Members {
		if m.ID == id {
			return m
		}
	}
	return kv.Member{}
}

// A read repairs a replica that missed a write, off the client's latency.
func TestReadRepair(t *testing.T) {
	// No scheduled anti-entropy: it would repair the restarted node before
	// the read this test is about.
	c := startCluster(t, 3, 3, func(cfg *Config) { cfg.AAEInterval = -1 })
	ctx := context.Background()
	bucket, key := []byte("b"), []byte("k")
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	c.waitAlive(2)
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: bucket, Key: key, Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	back := c.restart(2)
	c.waitAlive(3)
	pl := back.ring.Load().place(bucket, key)
	if obj, _, _ := back.readLocal(pl); obj != nil {
		t.Fatalf("the restarted node already holds %v", obj)
	}
	if _, err := c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: bucket, Key: key, Options: kv.Options{R: kv.One}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if obj, _, _ := back.readLocal(pl); obj != nil && slices.Equal(liveValues(obj.Live()), []string{"v"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stale replica was not repaired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := counter(t, c.nodes[0], "tutti_read_repairs_total"); got < 1 {
		t.Fatalf("tutti_read_repairs_total = %v", got)
	}

	// With repair=sync the replica is repaired when the read answers.
	if err := back.Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	c.waitAlive(2)
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: bucket, Key: key, Value: []byte("w"), Context: ""}); err != nil {
		t.Fatal(err)
	}
	back = c.restart(2)
	c.waitAlive(3)
	if _, err := c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: bucket, Key: key, Options: kv.Options{R: kv.One}, RepairSync: true}); err != nil {
		t.Fatal(err)
	}
	if obj, _, _ := back.readLocal(pl); obj == nil || !slices.Equal(liveValues(obj.Live()), []string{"v", "w"}) {
		t.Fatalf("after a repair=sync read the replica holds %v", obj)
	}
}

// counter sums the series of a counter whose labels include the given
// name, value pairs.
func counter(t *testing.T, nd *Node, name string, labels ...string) float64 {
	t.Helper()
	families, err := nd.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum, found := 0.0, false
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				has := false
				for _, l := range m.GetLabel() {
					has = has || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !has {
					continue series
				}
			}
			sum, found = sum+m.GetCounter().GetValue(), true
		}
	}
	if !found {
		t.Fatalf("no metric %s %v", name, labels)
	}
	return sum
}

func liveValues(entries []object.Entry) []string {
	var vs []string
	for _, e := range entries {
		vs = append(vs, string(e.Value.Value))
	}
	slices.Sort(vs)
	return vs
}
