package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/identity"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/ring"
	"github.com/tutti-kv/tutti/internal/storage"
	"github.com/tutti-kv/tutti/internal/storage/pebblestore"
)

func openTreeStore(tb testing.TB, q int) (*replica.Store, *trees, *ring.Ring) {
	tb.Helper()
	db, err := pebblestore.Open(tb.TempDir(), pebblestore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	id, err := identity.Open(db, rand.Uint64, counterBlock)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := ring.New(q, 1, []ring.Member{{ID: "x"}})
	if err != nil {
		tb.Fatal(err)
	}
	t := newTrees(q)
	c := &clock{c: hlc.NewClock(func() int64 { return time.Now().UnixNano() })}
	return &replica.Store{Engine: db, Counter: id, Clock: c, Trees: t}, t, r
}

func treeKey(r *ring.Ring, i int) replica.Key {
	b, k := []byte("b"), []byte(fmt.Sprintf("key-%07d", i))
	h := ring.KeyHash(b, k)
	return replica.Key{Bucket: b, Key: k, Partition: r.Partition(h), Segment: r.Segment(h)}
}

// Rebuilds that run while writers write end with the tree a rebuild of
// the final storage gives: no write is missed or counted twice, whichever
// side of the rebuild's snapshot it lands on.
func TestRebuildDuringWritesMatchesStorage(t *testing.T) {
	const q, writers, keys = 4, 4, 200
	s, tr, r := openTreeStore(t, q)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := treeKey(r, w*keys+rng.IntN(keys)) // each writer its own keys: no key lock needed
				local, _, err := s.Read(k)
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, _, err := s.Coordinate(k, object.CausalOf(local), object.Content{Value: []byte(fmt.Sprint(i))}, object.Siblings, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for round := range 30 {
		for p := range q {
			if err := tr.rebuild(p, s); err != nil {
				t.Fatal(err)
			}
		}
		if round == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	for p := range q {
		live, ok := tr.Tree(p)
		if !ok {
			t.Fatalf("partition %d: tree not built", p)
		}
		if want := storageTree(t, s, q, p); live != want {
			t.Fatalf("partition %d: live root %x, storage gives %x", p, live.Root(), want.Root())
		}
	}
}

// storageTree is partition p's tree as a fresh scan of s gives it.
func storageTree(t *testing.T, s *replica.Store, q, p int) aae.Tree {
	t.Helper()
	fresh := aae.NewForest(q)
	if err := fresh.Build(p, func(add func(int, uint64)) error { return s.HashPartition(p, func() {}, add) }); err != nil {
		t.Fatal(err)
	}
	tree, _ := fresh.Tree(p)
	return tree
}

// Trees saved at a clean stop are the storage's, seal it against further
// object writes, and are taken up once: loading deletes them.
func TestSavedTreesAreStoragesAndLoadOnce(t *testing.T) {
	const q = 4
	s, tr, r := openTreeStore(t, q)
	for p := range q - 1 { // the last partition's tree stays unbuilt
		if err := tr.rebuild(p, s); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		if _, _, _, err := s.Coordinate(treeKey(r, i), object.Causal{}, object.Content{Value: []byte("v")}, object.Siblings, false); err != nil {
			t.Fatal(err)
		}
	}
	saved, err := tr.save(s.Engine)
	if err != nil || saved != q-1 {
		t.Fatalf("save: %d trees, %v; want %d", saved, err, q-1)
	}
	late := treeKey(r, 1000)
	if _, _, _, err := s.Coordinate(late, object.Causal{}, object.Content{Value: []byte("v")}, object.Siblings, false); !errors.Is(err, errSealed) {
		t.Fatalf("a write after save: %v, want errSealed", err)
	}
	if got, _, err := s.Read(late); err != nil || got != nil {
		t.Fatalf("the refused write reached storage: %v, %v", got, err)
	}

	again := newTrees(q)
	loaded, err := again.load(s.Engine)
	if err != nil || loaded != q-1 {
		t.Fatalf("load: %d trees, %v; want %d", loaded, err, q-1)
	}
	for p := range q {
		tree, ok := again.Tree(p)
		if p == q-1 {
			if ok {
				t.Fatal("the partition saved unbuilt loads as built")
			}
			continue
		}
		if want := storageTree(t, s, q, p); !ok || tree != want {
			t.Fatalf("partition %d: loaded root %x (built %v), storage gives %x", p, tree.Root(), ok, want.Root())
		}
	}
	if n, err := newTrees(q).load(s.Engine); n != 0 || err != nil {
		t.Fatalf("a second load took %d trees (%v): saved trees must be taken once", n, err)
	}
}

// Saved trees that cannot be trusted are dropped, and deleted all the
// same.
func TestUntrustedSavedTreesAreDropped(t *testing.T) {
	const q = 4
	s, tr, _ := openTreeStore(t, q)
	for p := range q {
		if err := tr.rebuild(p, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.save(s.Engine); err != nil {
		t.Fatal(err)
	}
	if n, err := newTrees(2 * q).load(s.Engine); n != 0 || !errors.Is(err, aae.ErrSnapshot) {
		t.Fatalf("trees saved for another Q: %d loaded, %v", n, err)
	}
	if _, err := s.Engine.Get(storage.MetaKey(aae.SnapshotName)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("dropped trees left in storage: %v", err)
	}
	b := &storage.Batch{}
	b.Set(storage.MetaKey(aae.SnapshotName), []byte("not trees"))
	if err := s.Engine.Apply(b, true); err != nil {
		t.Fatal(err)
	}
	if n, err := newTrees(q).load(s.Engine); n != 0 || !errors.Is(err, aae.ErrSnapshot) {
		t.Fatalf("garbage saved trees: %d loaded, %v", n, err)
	}
}

// BenchmarkTreeBuild builds every partition's tree (Q=256) from a Pebble
// store holding 1,000,000 objects of 100-byte values, as a node does at
// start; it reports the build time per million keys.
func BenchmarkTreeBuild(b *testing.B) {
	const q, keys = 256, 1_000_000
	s, tr, r := openTreeStore(b, q)
	value := make([]byte, 100)
	var batch storage.Batch
	for i := range keys {
		k := treeKey(r, i)
		var obj object.Object
		o, _, err := obj.Update(nil, dvv.Dot{Actor: 1, Counter: uint64(i + 1)}, object.Content{Value: value}, object.Siblings)
		if err != nil {
			b.Fatal(err)
		}
		batch.Set(storage.ObjectKey(k.Partition, k.Segment, k.Bucket, k.Key), object.Encode(o))
		if len(batch.Ops) == 1000 {
			if err := s.Engine.Apply(&batch, false); err != nil {
				b.Fatal(err)
			}
			batch = storage.Batch{}
		}
	}
	b.ResetTimer()
	for range b.N {
		for p := range q {
			if err := tr.rebuild(p, s); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/1M-keys")
}

// BenchmarkTreeUpdate is what keeping the tree costs one write of a
// 100-byte value: the digests of the old and new encodings and the leaf
// XOR (aae.Delta plus trees.Write around a no-op store).
func BenchmarkTreeUpdate(b *testing.B) {
	tr := newTrees(256)
	var obj object.Object
	o1, _, _ := obj.Update(nil, dvv.Dot{Actor: 1, Counter: 1}, object.Content{Value: make([]byte, 100)}, object.Siblings)
	o2, _, _ := o1.Update(o1.Context, dvv.Dot{Actor: 1, Counter: 2}, object.Content{Value: make([]byte, 100)}, object.Siblings)
	old, new := object.Encode(o1), object.Encode(o2)
	bucket, key := []byte("usertable"), []byte("user1234567890")
	noop := func() error { return nil }
	b.ReportAllocs()
	for i := range b.N {
		if err := tr.Write(i&255, i&1023, aae.Delta(bucket, key, old, new), noop); err != nil {
			b.Fatal(err)
		}
	}
}
