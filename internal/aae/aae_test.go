package aae

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestDeltaIsAnOrderFreeUpdate(t *testing.T) {
	b, k := []byte("b"), []byte("k")
	v1, v2, v3 := []byte{1, 1}, []byte{1, 2}, []byte{1, 3}
	var inOrder, shuffled, none Tree
	// absent -> v1 -> v2 -> v3, applied in order and in another order.
	deltas := []uint64{Delta(b, k, nil, v1), Delta(b, k, v1, v2), Delta(b, k, v2, v3)}
	for _, d := range deltas {
		inOrder.Xor(5, d)
	}
	for _, i := range []int{2, 0, 1} {
		shuffled.Xor(5, deltas[i])
	}
	var direct Tree
	direct.Xor(5, ItemHash(b, k, DigestOf(v3)))
	if inOrder != direct || shuffled != direct {
		t.Fatalf("leaf after updates %x / %x, want the final item's hash %x", inOrder.Leaf(5), shuffled.Leaf(5), direct.Leaf(5))
	}
	// Back to absent: the empty tree again.
	inOrder.Xor(5, Delta(b, k, v3, nil))
	if inOrder != none {
		t.Fatal("removing the only item left a non-empty tree")
	}
	if Delta(b, k, v1, v1) != 0 {
		t.Fatal("an unchanged object changes its leaf")
	}
}

func TestItemHashSeparatesBucketFromKey(t *testing.T) {
	d := DigestOf([]byte{1})
	if ItemHash([]byte("ab"), []byte("c"), d) == ItemHash([]byte("a"), []byte("bc"), d) {
		t.Fatal(`("ab","c") and ("a","bc") hash alike`)
	}
	long := make([]byte, 300) // past the stack buffer: the streaming path
	if ItemHash(long, []byte("k"), d) == ItemHash(long[:299], []byte("k"), d) {
		t.Fatal("long buckets of different lengths hash alike")
	}
}

func TestRootAndBranchesAreXORsOfLeaves(t *testing.T) {
	var tr Tree
	for s := range Segments {
		tr.Xor(s, uint64(s)*0x9e3779b97f4a7c15)
	}
	var root uint64
	for b, h := range tr.AllBranches() {
		var want uint64
		for _, l := range tr.LeavesOf(b) {
			want ^= l
		}
		if h != want {
			t.Fatalf("branch %d = %x, want %x", b, h, want)
		}
		root ^= h
	}
	if tr.Root() != root {
		t.Fatalf("root %x, want %x", tr.Root(), root)
	}
}

func TestDiffItems(t *testing.T) {
	it := func(k string, d byte) Item { return Item{Bucket: []byte("b"), Key: []byte(k), Digest: Digest{d}} }
	local := []Item{it("same", 1), it("differs", 1), it("mine", 1)}
	remote := []Item{it("same", 1), it("differs", 2), it("theirs", 1)}
	var got []string
	for _, d := range DiffItems(local, remote) {
		got = append(got, fmt.Sprintf("%s:%d/%d", d.Item.Key, d.Local[0], d.Remote[0]))
	}
	if want := []string{"differs:1/2", "theirs:0/1", "mine:1/0"}; !slices.Equal(got, want) {
		t.Fatalf("diffs %v, want %v", got, want)
	}
}

// fakeLocal is a replica with a fixed tree and no objects.
type fakeLocal struct {
	tree  Tree
	ready bool
}

func (f *fakeLocal) Tree(int) (Tree, bool)                         { return f.tree, f.ready }
func (f *fakeLocal) Items(int, []int) ([]Item, error)              { return nil, nil }
func (f *fakeLocal) Read(int, int, []byte, []byte) ([]byte, error) { return nil, nil }
func (f *fakeLocal) Merge(int, Object) ([]byte, error)             { return nil, errors.New("unexpected merge") }

func TestServeRefusesBadRequests(t *testing.T) {
	l := &fakeLocal{ready: true}
	for name, req := range map[string]*Request{
		"segment out of range": {Kind: KindItems, Segments: []int{Segments}},
		"too many segments":    {Kind: KindItems, Segments: make([]int, MaxRequestSegments+1)},
		"branch out of range":  {Kind: KindLeaves, Branches: []int{Branches}},
		"push without object":  {Kind: KindPush, Objects: []Object{{Bucket: []byte("b"), Key: []byte("k")}}},
		"too many objects":     {Kind: KindFetch, Items: make([]Item, MaxRequestObjects+1)},
		"unknown kind":         {Kind: 99},
	} {
		if _, err := Serve(l, req); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
	if r, err := Serve(&fakeLocal{}, &Request{Kind: KindRoot}); err != nil || !r.NotReady {
		t.Errorf("root of an unbuilt tree: %+v, %v", r, err)
	}
}

func TestExchangeEndsOnMalformedOrUnreadyReplies(t *testing.T) {
	var tr Tree
	tr.Xor(3, 1)
	l := &fakeLocal{tree: tr, ready: true}
	if ex := NewExchange(0, &fakeLocal{}); ex.Next() != nil || ex.Outcome() != NotReady {
		t.Fatalf("exchange from an unbuilt tree: next %v outcome %v", ex.Next(), ex.Outcome())
	}
	ex := NewExchange(0, l)
	ex.Handle(&Reply{NotReady: true})
	if ex.Next() != nil || ex.Outcome() != NotReady {
		t.Fatalf("peer not ready: outcome %v", ex.Outcome())
	}
	ex = NewExchange(0, l)
	ex.Handle(&Reply{Hashes: []uint64{1, 2}})
	if ex.Next() != nil || ex.Outcome() != Failed || ex.Err() == nil {
		t.Fatalf("two hashes for a root: outcome %v err %v", ex.Outcome(), ex.Err())
	}
	// Equal roots end at once; a differing root leads to branches, then
	// to the leaves of the one differing branch.
	ex = NewExchange(0, l)
	ex.Handle(&Reply{Hashes: []uint64{tr.Root()}})
	if ex.Next() != nil || ex.Outcome() != Equal {
		t.Fatalf("equal roots: outcome %v", ex.Outcome())
	}
	ex = NewExchange(0, l)
	ex.Handle(&Reply{Hashes: []uint64{0}})
	if r := ex.Next(); r == nil || r.Kind != KindBranches {
		t.Fatalf("after a differing root: %+v", r)
	}
	ex.Handle(&Reply{Hashes: make([]uint64, Branches)})
	if r := ex.Next(); r == nil || r.Kind != KindLeaves || !slices.Equal(r.Branches, []int{0}) {
		t.Fatalf("after branches: %+v", r)
	}
	ex.Handle(&Reply{Hashes: make([]uint64, BranchWidth)})
	if r := ex.Next(); r == nil || r.Kind != KindItems || !slices.Equal(r.Segments, []int{3}) {
		t.Fatalf("after leaves: %+v", r)
	}
	ex.Handle(&Reply{})
	if ex.Next() != nil || ex.Outcome() != Equal || ex.Stats().Segments != 1 {
		t.Fatalf("after an empty listing on both sides: outcome %v stats %+v", ex.Outcome(), ex.Stats())
	}
}
