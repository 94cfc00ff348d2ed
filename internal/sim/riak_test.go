package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/sim/check"
)

// Riak's regression cases, replayed deterministically on a simulated
// three-node cluster.

func scenarioWorld(t *testing.T, bug Bug) *World {
	t.Helper()
	w, err := New(Options{Seed: 679, Nodes: 3, N: 3, Q: 8, Bug: bug})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var all = Quorums{R: 3, W: 3, DW: 1}

func mustOK(t *testing.T, o check.Op) check.Op {
	t.Helper()
	if o.Type != check.OK {
		t.Fatalf("op %d (%v %s) = %v, want ok", o.Index, o.Kind, o.Key, o.Type)
	}
	return o
}

func live(t *testing.T, w *World, node string) []string {
	t.Helper()
	obj, err := w.Stored(node, "s", "k")
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	if obj != nil {
		for _, e := range obj.Live() {
			vs = append(vs, string(e.Value.Value))
		}
	}
	slices.Sort(vs)
	return vs
}

func finishOK(t *testing.T, w *World) Result {
	t.Helper()
	res := w.Finish()
	if !res.OK() {
		t.Fatalf("checkers failed:\n%s", res.Report)
	}
	return res
}

// riak_test's sibling explosion (verify_dvv_repeats): two clients
// interleave get-then-put, each writing with the context of its own last
// write and so missing the other's. Version vectors per client id (or per
// node, without DVV) would grow a sibling per write; dotted version
// vectors keep exactly two, whose union holds every write.
func TestSiblingExplosion(t *testing.T) {
	w := scenarioWorld(t, NoBug)
	a, b := w.Client(false), w.Client(false)
	owners := w.Owners("s", "k")
	var ctxA, ctxB string
	var lastA, lastB string
	for i := range 50 {
		// Each client reads first, as riak_test does, then writes with the
		// context of its own previous write: it missed the other's.
		mustOK(t, a.Do(Request{Kind: check.Get, Bucket: "s", Key: "k", Node: owners[0], Quorums: all}))
		lastA = fmt.Sprintf("a%d", i)
		ctxA = w.putContext(t, a, Request{Kind: check.Put, Bucket: "s", Key: "k", Value: lastA, Context: ctxA, Node: owners[0], Quorums: all})
		mustOK(t, b.Do(Request{Kind: check.Get, Bucket: "s", Key: "k", Node: owners[1], Quorums: all}))
		lastB = fmt.Sprintf("b%d", i)
		ctxB = w.putContext(t, b, Request{Kind: check.Put, Bucket: "s", Key: "k", Value: lastB, Context: ctxB, Node: owners[1], Quorums: all})
	}
	w.Settle(time.Second)
	want := []string{lastA, lastB}
	for _, n := range owners {
		if got := live(t, w, n); !slices.Equal(got, want) {
			t.Fatalf("%s holds siblings %q, want exactly %q", n, got, want)
		}
	}
	res := finishOK(t, w)
	if res.Report.Checked[check.CheckSiblings] < 200 {
		t.Fatalf("the sibling check saw too little: %v", res.Report.Checked)
	}
}

// putContext does a put and returns the context it answered.
func (w *World) putContext(t *testing.T, c *Client, r Request) string {
	t.Helper()
	mustOK(t, c.Do(r))
	return c.c.ctx[r.Bucket+"/"+r.Key]
}

// KV679, lost clock: a replica loses its data directory, then coordinates a
// write with an empty context. Had it kept its actor id, its counter would
// restart and issue a dot the other replicas already hold for the old
// value, and they would drop the new write as already seen. A wiped node
// takes a new actor, so the new write survives beside the old one.
func TestKV679LostClock(t *testing.T) {
	passesAndCanFail(t, kv679LostClock, BugKeepActorOnCrash)
}

// passesAndCanFail runs a scenario as the code is, where the checkers must
// find nothing, and with bug planted, where they must find something: the
// scenario can fail.
func passesAndCanFail(t *testing.T, scenario func(*testing.T, Bug) []check.Violation, bug Bug) {
	t.Helper()
	if vs := scenario(t, NoBug); len(vs) > 0 {
		t.Fatalf("violations: %v", vs)
	}
	if vs := scenario(t, bug); len(vs) == 0 {
		t.Fatalf("planting %v went unnoticed", bug)
	} else {
		t.Logf("with %v planted: %v", bug, vs)
	}
}

func kv679LostClock(t *testing.T, bug Bug) []check.Violation {
	w := scenarioWorld(t, bug)
	c := w.Client(false)
	owners := w.Owners("s", "k")
	x := owners[0]
	mustOK(t, c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: "old", Node: x, Quorums: all}))
	w.Crash(x, true)
	if err := w.Restart(x); err != nil {
		t.Fatal(err)
	}
	// At once, before anti-entropy can give x the old value back (its
	// trees are not even built yet).
	mustOK(t, c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: "new", Node: x, Quorums: all}))
	w.Settle(time.Second)
	for _, n := range owners[1:] {
		if got := live(t, w, n); bug == NoBug && !slices.Equal(got, []string{"new", "old"}) {
			t.Fatalf("%s holds %q, want the new write beside the old one", n, got)
		}
	}
	// x lacks the old value until anti-entropy brings it.
	w.AntiEntropy()
	res := w.Finish()
	return res.Report.Violations
}

// KV679, tombstone: a key is deleted everywhere, one replica keeps the
// tombstone while it is away, the two others lose their data and the key
// is written again with no context. When the old tombstone is handed back,
// it must not win over the new write: its context does not cover the new
// write's dot, which comes from a new actor.
func TestKV679Tombstone(t *testing.T) {
	passesAndCanFail(t, kv679Tombstone, BugKeepActorOnCrash)
}

func kv679Tombstone(t *testing.T, bug Bug) []check.Violation {
	w := scenarioWorld(t, bug)
	c := w.Client(false)
	owners := w.Owners("s", "k")
	a, b, away := owners[0], owners[1], owners[2]
	mustOK(t, c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: "v1", Node: a, Quorums: all}))
	mustOK(t, c.Do(Request{Kind: check.Delete, Bucket: "s", Key: "k", Context: c.c.ctx["s/k"], Node: a, Quorums: all}))
	w.Partition([]string{away}, []string{a, b}, false)
	for _, n := range []string{a, b} {
		w.Crash(n, true)
		if err := w.Restart(n); err != nil {
			t.Fatal(err)
		}
	}
	w.Settle(2 * time.Second)
	mustOK(t, c.Do(Request{Kind: check.Put, Bucket: "s", Key: "k", Value: "v2", Node: a, Quorums: Quorums{R: 2, W: 2, DW: 1}}))
	w.HealLinks()
	w.Settle(2 * time.Second)
	for _, n := range []string{a, b} {
		if err := w.HandOff(away, n, "s", "k"); err != nil {
			t.Fatal(err)
		}
	}
	if got := live(t, w, a); bug == NoBug && !slices.Equal(got, []string{"v2"}) {
		t.Fatalf("after the old tombstone came back, %s holds %q, want [v2]", a, got)
	}
	return w.Finish().Report.Violations
}
