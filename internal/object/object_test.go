package object

import (
	"errors"
	"slices"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"pgregory.net/rapid"
)

var policies = []Policy{Siblings, LWW}

func TestSiblingsMergeIsDVVSync(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t, Siblings)
		a, b := w.drawState(t, "a"), w.drawState(t, "b")
		got, dropped := Merge(a, b, Siblings)
		want := dvv.Sync(a.set(), b.set())
		if dropped != 0 || !got.Context.Equal(want.Context) || !sameEntries(got.Entries, want.Entries) {
			t.Fatalf("Merge = %+v (dropped %d), want %+v", got, dropped, want)
		}
		if w.dropped != 0 {
			t.Fatalf("siblings mode reported %d dropped versions", w.dropped)
		}
	})
}

func TestLWWKeepsTheGreatestVersion(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t, LWW)
		a, b := w.drawState(t, "a"), w.drawState(t, "b")
		got, dropped := Merge(a, b, LWW)
		mustValid(t, got)
		if len(got.Entries) > 1 {
			t.Fatalf("LWW merge kept %d versions", len(got.Entries))
		}
		if !a.Empty() || !b.Empty() {
			if got.Empty() {
				t.Fatalf("LWW merge of %+v and %+v is empty", a, b)
			}
		}
		synced := dvv.Sync(a.set(), b.set()).Entries
		if len(synced) > 0 {
			if dropped != len(synced)-1 {
				t.Fatalf("dropped = %d, want %d", dropped, len(synced)-1)
			}
			for _, e := range synced {
				if lwwLess(got.Entries[0], e) {
					t.Fatalf("kept %v although %v is greater", got.Entries[0].Dot, e.Dot)
				}
			}
		}
		if again, _ := Merge(b, a, LWW); !equalObjects(got, again) {
			t.Fatal("LWW merge is not commutative")
		}
		if again, d := Merge(got, got, LWW); !equalObjects(got, again) || d != 0 {
			t.Fatal("LWW merge is not idempotent")
		}
	})
}

func TestReplicasConvergeAfterExchange(t *testing.T) {
	// Once writes stop, exchanging copies until nothing changes must leave
	// every replica with the same object, under either policy, and an LWW
	// object written to is never empty.
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.SampledFrom(policies).Draw(t, "policy")
		w := drawWorld(t, p)
		n := len(w.replicas)
		for round := 0; ; round++ {
			if round > 2*n+2 {
				t.Fatalf("no fixpoint after %d rounds", round)
			}
			changed := false
			for i := range n {
				for j := range n {
					before := w.replicas[i]
					w.merge(i, j)
					changed = changed || !equalObjects(before, w.replicas[i])
				}
			}
			if !changed {
				break
			}
		}
		for i := range n {
			mustValid(t, w.replicas[i])
			if !equalObjects(w.replicas[i], w.replicas[0]) {
				t.Fatalf("replica %d = %+v, replica 0 = %+v", i, w.replicas[i], w.replicas[0])
			}
		}
		if w.writes > 0 && w.replicas[0].Empty() {
			t.Fatalf("%d writes, converged object empty", w.writes)
		}
	})
}

func TestLWWUpdate(t *testing.T) {
	old := Content{Value: []byte("old"), Modified: hlc.Timestamp{Wall: 100}}
	o, _, err := (*Object)(nil).Update(nil, dvv.Dot{Actor: 1, Counter: 1}, old, LWW)
	if err != nil {
		t.Fatal(err)
	}
	// A blind write concurrent with the stored version: the newer one wins
	// and the loss is reported.
	newer := Content{Value: []byte("newer"), Modified: hlc.Timestamp{Wall: 200}}
	got, dropped, err := o.Update(nil, dvv.Dot{Actor: 2, Counter: 1}, newer, LWW)
	if err != nil || dropped != 1 || len(got.Entries) != 1 || string(got.Entries[0].Value.Value) != "newer" {
		t.Fatalf("newer blind write: %+v, dropped %d, %v", got, dropped, err)
	}
	// An older concurrent write loses at once.
	older := Content{Value: []byte("older"), Modified: hlc.Timestamp{Wall: 50}}
	got, dropped, err = o.Update(nil, dvv.Dot{Actor: 2, Counter: 1}, older, LWW)
	if err != nil || dropped != 1 || string(got.Entries[0].Value.Value) != "old" {
		t.Fatalf("older blind write: %+v, dropped %d, %v", got, dropped, err)
	}
	if !got.Context.Covers(dvv.Dot{Actor: 2, Counter: 1}) {
		t.Fatal("the losing write's dot is not in the context")
	}
	// A write whose context covers the stored version replaces it without
	// loss, whatever the timestamps.
	got, dropped, err = o.Update(o.Context, dvv.Dot{Actor: 2, Counter: 1}, older, LWW)
	if err != nil || dropped != 0 || string(got.Entries[0].Value.Value) != "older" {
		t.Fatalf("write with context: %+v, dropped %d, %v", got, dropped, err)
	}
	// Equal timestamps: the greater dot wins on every replica.
	tie := Content{Value: []byte("tie"), Modified: hlc.Timestamp{Wall: 100}}
	got, _, _ = o.Update(nil, dvv.Dot{Actor: 0, Counter: 9}, tie, LWW)
	if string(got.Entries[0].Value.Value) != "old" {
		t.Fatalf("tie broken towards the smaller actor: %+v", got)
	}
}

// TestLWWMergeOrderIndependent is the regression test for the first bug the
// simulator found (seed 0x259a): under LWW, merging three replicas' copies
// gave a different winner depending on the order. One copy held x; two held
// y, older than x, and one of those also covered x through a delete that
// had replaced x and then lost to y. A sync-then-pick merge resurrected x or
// not depending on which copies met first. The merge is now a maximum over
// both sides' versions, and a write is stamped after what it replaces.
func TestLWWMergeOrderIndependent(t *testing.T) {
	ts := func(wall int64) hlc.Timestamp { return hlc.Timestamp{Wall: wall} }
	x := dvv.Dot{Actor: 0x9096, Counter: 126}
	y := dvv.Dot{Actor: 0x6382, Counter: 151}
	copyOf := func(ctx dvv.VV, d dvv.Dot, v string, at hlc.Timestamp) *Object {
		return &Object{dvv.Set[Content]{Context: ctx, Entries: []Entry{{Dot: d, Value: Content{Value: []byte(v), Modified: at}}}}}
	}
	copies := []*Object{
		copyOf(dvv.VV{{Actor: 0x6382, Counter: 135}, {Actor: 0x9096, Counter: 126}, {Actor: 0xbeba, Counter: 81}}, x, "c5-88", ts(12324)),
		copyOf(dvv.VV{{Actor: 0x6382, Counter: 151}, {Actor: 0x9096, Counter: 97}, {Actor: 0xbeba, Counter: 81}}, y, "c6-105", ts(11788)),
		copyOf(dvv.VV{{Actor: 0x6382, Counter: 151}, {Actor: 0x9096, Counter: 126}, {Actor: 0xbeba, Counter: 94}}, y, "c6-105", ts(11788)),
	}
	var first *Object
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		got := copies[order[0]]
		for _, i := range order[1:] {
			got, _ = Merge(got, copies[i], LWW)
		}
		if first == nil {
			first = got
		}
		if !equalObjects(got, first) {
			t.Fatalf("order %v gives %v, another order %v", order, got.Dots(), first.Dots())
		}
	}
	if !slices.Equal(first.Dots(), []dvv.Dot{x}) {
		t.Fatalf("merged copies hold %v, want the greatest version x", first.Dots())
	}
}

// Under LWW merging is associative: replicas converge whatever order they
// exchange copies in.
func TestLWWMergeAssociative(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t, LWW)
		a, b, c := w.drawState(t, "a"), w.drawState(t, "b"), w.drawState(t, "c")
		ab, _ := Merge(a, b, LWW)
		bc, _ := Merge(b, c, LWW)
		left, _ := Merge(ab, c, LWW)
		right, _ := Merge(a, bc, LWW)
		if !equalObjects(left, right) {
			t.Fatalf("(a b) c = %v, a (b c) = %v", left.Dots(), right.Dots())
		}
	})
}

func TestTombstones(t *testing.T) {
	a := dvv.Dot{Actor: 1, Counter: 1}
	o, _, err := (*Object)(nil).Update(nil, a, Content{Value: []byte("v")}, Siblings)
	if err != nil {
		t.Fatal(err)
	}
	tomb := Content{Deleted: true, Modified: hlc.Timestamp{Wall: 5}}
	if _, _, err := o.Update(o.Context, dvv.Dot{Actor: 1, Counter: 2}, Content{Deleted: true, Value: []byte("x")}, Siblings); !errors.Is(err, ErrTombstoneValue) {
		t.Fatalf("tombstone with value: err = %v", err)
	}
	deleted, _, err := o.Update(o.Context, dvv.Dot{Actor: 1, Counter: 2}, tomb, Siblings)
	if err != nil {
		t.Fatal(err)
	}
	if !deleted.IsDeleted() || len(deleted.Live()) != 0 || deleted.Empty() {
		t.Fatalf("delete with context: %+v", deleted)
	}
	// A delete concurrent with a write leaves the write visible.
	concurrent, _, err := o.Update(nil, dvv.Dot{Actor: 2, Counter: 1}, tomb, Siblings)
	if err != nil {
		t.Fatal(err)
	}
	if concurrent.IsDeleted() || len(concurrent.Live()) != 1 || len(concurrent.Entries) != 2 {
		t.Fatalf("concurrent delete: %+v", concurrent)
	}
	var none *Object
	if !none.Empty() || none.IsDeleted() || none.Live() != nil || !(&Object{}).Empty() {
		t.Fatal("the empty object is misreported")
	}
}

func TestUpdateLimitsSiblings(t *testing.T) {
	var o *Object
	for i := range MaxSiblings {
		var err error
		o, _, err = o.Update(nil, dvv.Dot{Actor: 1, Counter: uint64(i + 1)}, Content{Value: []byte("v")}, Siblings)
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	_, _, err := o.Update(nil, dvv.Dot{Actor: 1, Counter: MaxSiblings + 1}, Content{Value: []byte("v")}, Siblings)
	if !errors.Is(err, ErrTooManySiblings) {
		t.Fatalf("write past the limit: err = %v", err)
	}
	// A write with a context collapses them again.
	if _, _, err := o.Update(o.Context, dvv.Dot{Actor: 1, Counter: MaxSiblings + 1}, Content{}, Siblings); err != nil {
		t.Fatalf("collapsing write: %v", err)
	}
	if _, err := Decode(Encode(o)); err != nil {
		t.Fatalf("an object at the limit does not decode: %v", err)
	}
}

func TestUpdateRejectsStaleDot(t *testing.T) {
	o, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 1, Counter: 5}, Content{}, Siblings)
	if _, _, err := o.Update(nil, dvv.Dot{Actor: 1, Counter: 3}, Content{}, Siblings); !errors.Is(err, dvv.ErrStaleDot) {
		t.Fatalf("err = %v, want dvv.ErrStaleDot", err)
	}
}

func TestPolicyString(t *testing.T) {
	if Siblings.String() != "siblings" || LWW.String() != "lww" || Policy(9).String() != "Policy(9)" {
		t.Fatal("Policy.String is wrong")
	}
}

func TestRetriedWriteShowsOnce(t *testing.T) {
	// A client's write stored by two coordinators under two dots, as when
	// the first died before answering and the client resent it elsewhere.
	write := Content{Value: []byte("v"), ContentType: "text/plain", WriteID: "k1"}
	first, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 1, Counter: 1}, write, Siblings)
	retry, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 2, Counter: 1}, write, Siblings)
	other, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 3, Counter: 1}, Content{Value: []byte("w")}, Siblings)
	merged := mergeSiblings(mergeSiblings(first, retry), other)
	if len(merged.Entries) != 3 {
		t.Fatalf("object holds %d versions, want all 3 (a merge keeps both dots)", len(merged.Entries))
	}
	live := merged.Live()
	if len(live) != 2 || live[0].Dot != (dvv.Dot{Actor: 1, Counter: 1}) || string(live[1].Value.Value) != "w" {
		t.Fatalf("Live = %+v, want the retried write once (least dot) and the other write", live)
	}
	if !merged.Holds(write) || !first.Holds(write) || other.Holds(write) {
		t.Fatal("Holds does not find the write by its id and content")
	}
	// A write covering the key replaces both dots of the retried write.
	next, _, _ := merged.Update(merged.Context, dvv.Dot{Actor: 1, Counter: 2}, Content{Value: []byte("x")}, Siblings)
	if got := next.Live(); len(got) != 1 || string(got[0].Value.Value) != "x" {
		t.Fatalf("after a covering write Live = %+v", got)
	}
}

func TestReusedWriteIDHidesNothing(t *testing.T) {
	// The same key with another value, or none, is another write.
	a, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 1, Counter: 1}, Content{Value: []byte("a"), WriteID: "k"}, Siblings)
	b, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 2, Counter: 1}, Content{Value: []byte("b"), WriteID: "k"}, Siblings)
	c, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 3, Counter: 1}, Content{Value: []byte("a")}, Siblings)
	d, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 4, Counter: 1}, Content{Value: []byte("a"), ContentType: "text/plain", WriteID: "k"}, Siblings)
	merged := mergeSiblings(mergeSiblings(a, b), mergeSiblings(c, d))
	if got := merged.Live(); len(got) != 4 {
		t.Fatalf("Live = %+v, want all 4 versions", got)
	}
	if a.Holds(Content{Value: []byte("b"), WriteID: "k"}) || c.Holds(Content{Value: []byte("a")}) {
		t.Fatal("Holds matched a different write")
	}
}

// Merge2 merges under Siblings.
func mergeSiblings(a, b *Object) *Object {
	m, _ := Merge(a, b, Siblings)
	return m
}
