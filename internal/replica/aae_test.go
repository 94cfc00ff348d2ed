package replica

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/ring"
	"github.com/tutti-kv/tutti/internal/storage"
)

const aaeQ = 4

// aaeReplica is a store whose trees follow its writes, as a node's do.
type aaeReplica struct {
	*Store
	forest *aae.Forest
	local  AAE
}

func newAAEReplica(t *testing.T, seed uint64) *aaeReplica {
	t.Helper()
	r, err := ring.New(aaeQ, 1, []ring.Member{{ID: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, storage.NewMemory(), seed)
	f := aae.NewForest(aaeQ)
	s.Trees = f
	for p := range aaeQ {
		if err := f.Build(p, func(add func(int, uint64)) error { return s.HashPartition(p, func() {}, add) }); err != nil {
			t.Fatal(err)
		}
	}
	return &aaeReplica{Store: s, forest: f, local: AAE{
		Store: s, Trees: f.Tree,
		Locate: func(b, k []byte) (int, int) { h := ring.KeyHash(b, k); return r.Partition(h), r.Segment(h) },
		Policy: func([]byte) (object.Policy, error) { return object.Siblings, nil },
	}}
}

func (r *aaeReplica) key(name string) Key {
	p, s := r.local.Locate([]byte("b"), []byte(name))
	return Key{Bucket: []byte("b"), Key: []byte(name), Partition: p, Segment: s}
}

func (r *aaeReplica) put(t *testing.T, name, value string) []byte {
	t.Helper()
	k := r.key(name)
	local, _, err := r.Read(k)
	if err != nil {
		t.Fatal(err)
	}
	_, enc, _, err := r.Coordinate(k, object.CausalOf(local), object.Content{Value: []byte(value)}, object.Siblings, false)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// exchange runs one exchange of every partition from a to b, with b
// answering through aae.Serve, and returns the summed stats.
func exchange(t *testing.T, a, b *aaeReplica) aae.Stats {
	t.Helper()
	var sum aae.Stats
	for p := range aaeQ {
		ex := aae.NewExchange(p, a.local)
		for req := ex.Next(); req != nil; req = ex.Next() {
			rep, err := aae.Serve(b.local, req)
			if err != nil {
				t.Fatalf("partition %d: serving %s: %v", p, req.Kind, err)
			}
			ex.Handle(rep)
		}
		if ex.Outcome() == aae.Failed || ex.Outcome() == aae.NotReady {
			t.Fatalf("partition %d: exchange %v: %v", p, ex.Outcome(), ex.Err())
		}
		st := ex.Stats()
		sum.Segments += st.Segments
		sum.Pulled += st.Pulled
		sum.Pushed += st.Pushed
	}
	return sum
}

// TestExchangeRepairsBothSidesAndKeepsEveryVersion: keys only on one side,
// concurrent versions on both, and equal keys; one exchange leaves both
// replicas with identical copies, each the DVV merge of the two, and equal
// trees that match a rebuild from storage.
func TestExchangeRepairsBothSidesAndKeepsEveryVersion(t *testing.T) {
	a, b := newAAEReplica(t, 1), newAAEReplica(t, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]*object.Object{}
	onlyA, onlyB, both := 0, 0, 0
	for i := range 400 {
		name := fmt.Sprintf("key-%d", i)
		k := a.key(name)
		switch rng.IntN(4) {
		case 0: // only a
			a.put(t, name, "a")
			onlyA++
		case 1: // only b
			b.put(t, name, "b")
			onlyB++
		case 2: // concurrent writes: siblings after the merge
			a.put(t, name, "a")
			b.put(t, name, "b")
			both++
		case 3: // replicated: equal on both
			enc := a.put(t, name, "same")
			if _, err := b.Apply(k, enc, object.Siblings, false); err != nil {
				t.Fatal(err)
			}
		}
		oa, _, _ := a.Read(k)
		ob, _, _ := b.Read(k)
		switch {
		case oa == nil:
			want[name] = ob
		case ob == nil:
			want[name] = oa
		default:
			want[name], _ = object.Merge(oa, ob, object.Siblings)
		}
	}
	st := exchange(t, a, b)
	if st.Pulled != onlyB+both || st.Pushed != onlyA+both {
		t.Errorf("pulled %d, pushed %d; want %d and %d", st.Pulled, st.Pushed, onlyB+both, onlyA+both)
	}
	for name, w := range want {
		k := a.key(name)
		_, ra, _ := a.Read(k)
		_, rb, _ := b.Read(k)
		if !bytes.Equal(ra, rb) || !bytes.Equal(ra, object.Encode(w)) {
			t.Fatalf("%s: a holds %x, b %x, want the merge %x", name, ra, rb, object.Encode(w))
		}
	}
	for p := range aaeQ {
		ta, _ := a.forest.Tree(p)
		tb, _ := b.forest.Tree(p)
		rebuilt := aae.NewForest(aaeQ)
		if err := rebuilt.Build(p, func(add func(int, uint64)) error { return a.HashPartition(p, func() {}, add) }); err != nil {
			t.Fatal(err)
		}
		tr, _ := rebuilt.Tree(p)
		if ta != tb || ta != tr {
			t.Errorf("partition %d: roots a %x, b %x, rebuilt %x", p, ta.Root(), tb.Root(), tr.Root())
		}
	}
	if again := exchange(t, a, b); again != (aae.Stats{}) {
		t.Errorf("a second exchange did %+v, want nothing", again)
	}
}

// TestExchangeMovesOnlyWhatDiffers: with one key missing on the peer, an
// exchange lists one segment and pushes one object.
func TestExchangeMovesOnlyWhatDiffers(t *testing.T) {
	a, b := newAAEReplica(t, 1), newAAEReplica(t, 1000)
	for i := range 300 {
		name := fmt.Sprintf("key-%d", i)
		enc := a.put(t, name, "v")
		if i != 17 {
			if _, err := b.Apply(a.key(name), enc, object.Siblings, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := exchange(t, a, b); st != (aae.Stats{Segments: 1, Pushed: 1}) {
		t.Errorf("exchange did %+v, want one segment and one push", st)
	}
}

// TestServeRefusesMisplacedObjects: a push naming the wrong segment for its
// key is refused and stores nothing.
func TestServeRefusesMisplacedObjects(t *testing.T) {
	a, b := newAAEReplica(t, 1), newAAEReplica(t, 1000)
	enc := a.put(t, "k", "v")
	k := a.key("k")
	req := &aae.Request{Partition: k.Partition, Kind: aae.KindPush, Objects: []aae.Object{{Segment: (k.Segment + 1) % aae.Segments, Bucket: k.Bucket, Key: k.Key, Encoded: enc}}}
	if _, err := aae.Serve(b.local, req); err == nil {
		t.Fatal("misplaced push accepted")
	}
	if items, _ := b.Items(k.Partition, []int{(k.Segment + 1) % aae.Segments, k.Segment}); len(items) != 0 {
		t.Fatalf("b stored %v", items)
	}
}

// TestKeysWrittenDuringAnExchangeAreLeftToTheirWrites: a key both sides
// hold differently is copied only if it still differs the same way when
// the exchange confirms it; one written meanwhile (a write in flight
// between the replicas) is counted unsettled and not copied, while a key
// one side lacks is copied at once.
func TestKeysWrittenDuringAnExchangeAreLeftToTheirWrites(t *testing.T) {
	a, b := newAAEReplica(t, 1), newAAEReplica(t, 1000)
	// Three keys in one partition: one only on b, two on both but
	// different, of which "hot" is written again before the confirmation.
	var names []string
	for i := 0; len(names) < 3; i++ {
		name := fmt.Sprintf("key-%d", i)
		if a.key(name).Partition == 0 {
			names = append(names, name)
		}
	}
	missing, cold, hot := names[0], names[1], names[2]
	b.put(t, missing, "b")
	for _, n := range []string{cold, hot} {
		a.put(t, n, "a")
		b.put(t, n, "b")
	}
	ex := aae.NewExchange(0, a.local)
	confirmed := false
	for req := ex.Next(); req != nil; req = ex.Next() {
		if req.Kind == aae.KindDigests {
			if !req.Wait || len(req.Items) != 2 {
				t.Fatalf("confirmation %+v, want a delayed one of the two keys held differently", req)
			}
			b.put(t, hot, "b2")
			confirmed = true
		}
		rep, err := aae.Serve(b.local, req)
		if err != nil {
			t.Fatal(err)
		}
		ex.Handle(rep)
	}
	if st := ex.Stats(); !confirmed || st.Unsettled != 1 || st.Pulled != 2 || st.Pushed != 1 {
		t.Fatalf("exchange %v did %+v (confirmed: %v), want the missing and the cold key pulled, cold pushed back, hot unsettled", ex.Outcome(), st, confirmed)
	}
	if o, _, _ := a.Read(a.key(hot)); len(o.Live()) != 1 {
		t.Fatalf("the hot key was copied: a holds %d versions", len(o.Live()))
	}
}
