package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/coordinator"
	"github.com/tutti-kv/tutti/internal/sim/check"
)

// With an owner down, a sloppy write still gets W acknowledgements: a
// substitute keeps a hint, and hands it off once the owner is back. The
// write is coordinated by an owner, never by the substitute (seed 0x86: a
// substitute issuing dots from its hint lost an acknowledged write).
func TestSloppyWriteAndHandoff(t *testing.T) {
	w, err := New(Options{Seed: 4, Nodes: 4, N: 3, Q: 8, Sloppy: true})
	if err != nil {
		t.Fatal(err)
	}
	owners := w.Owners("s", "k")
	down := owners[2]
	var substitute string
	for _, n := range w.nodes {
		if !slices.Contains(owners, n.id) {
			substitute = n.id
		}
	}
	w.Crash(down, false)
	w.Settle(2 * time.Second)
	c := w.Client(false)
	// Through the substitute, which forwards to an owner; all three
	// acknowledgements are needed, so the hint must count.
	o := c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: "v", Node: substitute, Quorums: Quorums{R: 3, W: 3, DW: 1}})
	if o.Type != check.OK {
		t.Fatalf("sloppy w=3 write with an owner down: %v", o.Type)
	}
	last := w.issued[len(w.issued)-1]
	if !slices.Contains(owners, last.Node) {
		t.Fatalf("the write was coordinated by %s, not an owner of %v", last.Node, owners)
	}
	k := w.key("s", "k")
	hint, _, err := w.byID[substitute].store.Read(at(k, coordinator.Target{HintFor: down}).Key)
	if err != nil || hint == nil {
		t.Fatalf("%s holds no hint for %s: %v", substitute, down, err)
	}
	// Read through the substitute with r=1: its own reply is its hint.
	if g := c.Do(Request{Kind: check.Get, Bucket: "s", Key: "k", Node: substitute, Quorums: Quorums{R: 1, W: 1}}); g.Type != check.OK || !slices.Equal(g.Siblings, []string{"v"}) {
		t.Fatalf("r=1 read through the substitute: %v %v", g.Type, g.Siblings)
	}
	// The hint is fsynced whatever dw says: it survives the substitute's
	// own crash.
	w.Crash(substitute, false)
	if err := w.Restart(substitute); err != nil {
		t.Fatal(err)
	}
	w.Settle(2 * time.Second)
	if hint, _, _ := w.byID[substitute].store.Read(at(k, coordinator.Target{HintFor: down}).Key); hint == nil {
		t.Fatal("the hint was lost in the substitute's crash")
	}
	// A strict write cannot count the substitute.
	o = c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: "strict", Node: owners[0], Quorums: Quorums{R: 3, W: 3, DW: 1, PW: 3}})
	if o.Type == check.OK {
		t.Fatal("a pw=3 write succeeded with an owner down")
	}

	if err := w.Restart(down); err != nil {
		t.Fatal(err)
	}
	w.Settle(3 * time.Second)
	if got := live(t, w, down); !slices.Contains(got, "v") {
		t.Fatalf("after handoff %s holds %q, want v", down, got)
	}
	if hint, _, _ := w.byID[substitute].store.Read(at(k, coordinator.Target{HintFor: down}).Key); hint != nil {
		t.Fatal("the hint was kept after its delivery")
	}
	if w.stats.HintsDelivered == 0 {
		t.Fatal("no hint counted as delivered")
	}
	finishOK(t, w)
}
