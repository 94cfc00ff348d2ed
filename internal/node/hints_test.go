package node

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/storage"
)

func TestHintLedgerBounds(t *testing.T) {
	l := newHintLedger()
	for range 2 {
		if !l.admit("n3", 0, 100, 2, 250) {
			t.Fatal("a hint within the bounds refused")
		}
	}
	if l.admit("n3", 0, 10, 2, 250) {
		t.Fatal("a third hint admitted past MaxHints=2")
	}
	if l.admit("n3", 100, 200, 2, 250) {
		t.Fatal("a hint grown past MaxHintBytes admitted")
	}
	if !l.admit("n3", 100, 150, 2, 250) {
		t.Fatal("a hint grown within the bounds refused")
	}
	l.resize("n3", 150, 120)
	if got := l.snapshot()["n3"]; got != (hintCount{Hints: 2, Bytes: 220}) {
		t.Fatalf("ledger = %+v, want 2 hints of 220 bytes", got)
	}
	if !l.admit("n4", 0, 240, 2, 250) {
		t.Fatal("another owner's bound was shared")
	}
	l.remove("n3", 100)
	l.remove("n3", 120)
	if _, ok := l.snapshot()["n3"]; ok {
		t.Fatal("an owner without hints is still listed")
	}
	l.add("n3", 7)
	if got := l.snapshot()["n3"]; got != (hintCount{Hints: 1, Bytes: 7}) {
		t.Fatalf("after add: %+v", got)
	}
}

// TestCorruptHintsDoNotStopTheNode: hints whose stored key or object is
// corrupt neither keep the node from starting nor block the owner's other
// hints; they are dropped, logged and counted.
func TestCorruptHintsDoNotStopTheNode(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	owner := c.cfgs[2].ID
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nil
	c.waitAlive(2)

	// Node 0 keeps, for the down node 2, a good hint and two corrupt ones.
	nd := c.nodes[0]
	bucket, key := []byte("b"), []byte("k")
	pl := nd.ring.Load().place(bucket, key)
	obj, _, err := (*object.Object)(nil).Update(nil, dvv.Dot{Actor: 77, Counter: 1}, object.Content{Value: []byte("kept")}, object.Siblings)
	if err != nil {
		t.Fatal(err)
	}
	var b storage.Batch
	b.Set(storage.HintKey(owner, pl.Partition, pl.Segment, bucket, key), object.Encode(obj))
	b.Set(storage.HintKey(owner, 0, 0, []byte("b"), []byte("bad-value")), []byte("garbage"))
	b.Set(storage.HintKey(owner, 0, 0, []byte("b"), []byte("x"))[:3], []byte("bad key"))
	if err := nd.store.Apply(&b, true); err != nil {
		t.Fatal(err)
	}
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = nil
	nd = c.restart(0)
	c.waitAlive(2)
	if got := counter(t, nd, "tutti_hints_dropped_total", "reason", "corrupt"); got != 2 {
		t.Fatalf("corrupt hints counted: %v, want 2", got)
	}
	// (The restarted node may not list the down owner as a member yet, so
	// read its ledger, not /v1/cluster/members.)
	if got := nd.hints.snapshot()[owner].Hints; got != 1 {
		t.Fatalf("hints pending for %s: %d, want the good one", owner, got)
	}
	if _, err := nd.Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("other"), Value: []byte("v")}); err != nil {
		t.Fatalf("the node does not serve: %v", err)
	}

	// The owner returns and gets the good hint.
	c.restart(2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		local, err := c.nodes[2].Local(ctx, bucket, key)
		if err == nil && local.Copy != nil && slices.Contains(liveStrings(local.Copy), "kept") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the good hint never reached its owner: %+v, %v", local, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func liveStrings(o *kv.LocalObject) []string {
	var vs []string
	for _, v := range o.Versions {
		if !v.Deleted {
			vs = append(vs, string(v.Value))
		}
	}
	return vs
}
