// Package storagetest is the conformance suite for storage.Engine
// implementations: every engine Tutti runs on must pass Run, including under
// the race detector. It checks the contract documented on storage.Engine
// (reads, batches, scans, buffer ownership, concurrency, Close) but not
// durability, which each engine tests with its own crash facility.
package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/tutti-kv/tutti/internal/storage"
)

// Run runs the conformance suite. open must return a new, empty, open
// engine each time it is called; Run closes every engine it opens.
func Run(t *testing.T, open func(t *testing.T) storage.Engine) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e storage.Engine)
	}{
		{"GetMissing", testGetMissing},
		{"SetGetDelete", testSetGetDelete},
		{"EmptyValue", testEmptyValue},
		{"LaterOpWins", testLaterOpWins},
		{"SyncedApply", testSyncedApply},
		{"EmptyBatch", testEmptyBatch},
		{"GetReturnsCopy", testGetReturnsCopy},
		{"ApplyCopiesBatch", testApplyCopiesBatch},
		{"ScanOrderAndBounds", testScanOrderAndBounds},
		{"ScanEarlyStop", testScanEarlyStop},
		{"ScanCallbackMayWrite", testScanCallbackMayWrite},
		{"BatchAtomicUnderScan", testBatchAtomicUnderScan},
		{"ConcurrentWriters", testConcurrentWriters},
		{"LargeBatch", testLargeBatch},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t)
			defer closeEngine(t, e)
			tc.fn(t, e)
		})
	}
	t.Run("MatchesModel", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			e := open(t)
			defer closeEngine(t, e)
			checkAgainstModel(rt, e)
		})
	})
}

func closeEngine(t *testing.T, e storage.Engine) {
	t.Helper()
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// tb is what the helpers need from *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func apply(t tb, e storage.Engine, sync bool, ops ...storage.Op) {
	t.Helper()
	if err := e.Apply(&storage.Batch{Ops: ops}, sync); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func set(key, value string) storage.Op {
	return storage.Op{Key: []byte(key), Value: []byte(value)}
}

func del(key string) storage.Op { return storage.Op{Key: []byte(key), Delete: true} }

func wantValue(t tb, e storage.Engine, key, want string) {
	t.Helper()
	got, err := e.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", key, err, want)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantMissing(t tb, e storage.Engine, key string) {
	t.Helper()
	got, err := e.Get([]byte(key))
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, got, err)
	}
}

// kv is one scanned pair, copied out of the callback.
type kv struct{ key, value string }

func scanAll(t tb, e storage.Engine, lower, upper []byte) []kv {
	t.Helper()
	var out []kv
	err := e.Scan(lower, upper, func(k, v []byte) bool {
		out = append(out, kv{string(k), string(v)})
		return true
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func testGetMissing(t *testing.T, e storage.Engine) {
	wantMissing(t, e, "absent")
	wantMissing(t, e, "")
}

func testSetGetDelete(t *testing.T, e storage.Engine) {
	apply(t, e, false, set("a", "1"), set("b", "2"))
	wantValue(t, e, "a", "1")
	wantValue(t, e, "b", "2")
	apply(t, e, false, set("a", "3"))
	wantValue(t, e, "a", "3")
	apply(t, e, false, del("a"), del("never-set"))
	wantMissing(t, e, "a")
	wantMissing(t, e, "never-set")
	wantValue(t, e, "b", "2")
}

func testEmptyValue(t *testing.T, e storage.Engine) {
	apply(t, e, false, storage.Op{Key: []byte("nil")}, set("empty", ""))
	for _, key := range []string{"nil", "empty"} {
		got, err := e.Get([]byte(key))
		if err != nil || len(got) != 0 {
			t.Fatalf("Get(%q) = %q, %v; want an empty value", key, got, err)
		}
	}
}

func testLaterOpWins(t *testing.T, e storage.Engine) {
	apply(t, e, false, set("k", "1"), set("k", "2"))
	wantValue(t, e, "k", "2")
	apply(t, e, false, set("k", "3"), del("k"))
	wantMissing(t, e, "k")
	apply(t, e, false, del("k"), set("k", "4"))
	wantValue(t, e, "k", "4")
}

func testSyncedApply(t *testing.T, e storage.Engine) {
	apply(t, e, true, set("a", "1"))
	apply(t, e, true, del("a"), set("b", "2"))
	wantMissing(t, e, "a")
	wantValue(t, e, "b", "2")
}

func testEmptyBatch(t *testing.T, e storage.Engine) {
	apply(t, e, false)
	apply(t, e, true)
	if err := e.Apply(&storage.Batch{}, true); err != nil {
		t.Fatalf("Apply(empty, sync): %v", err)
	}
	if got := scanAll(t, e, nil, nil); len(got) != 0 {
		t.Fatalf("empty batches wrote %v", got)
	}
}

func testGetReturnsCopy(t *testing.T, e storage.Engine) {
	apply(t, e, false, set("k", "value"))
	got, err := e.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = 'X'
	}
	wantValue(t, e, "k", "value")
	// A second Get must not share the first one's buffer either.
	again, err := e.Get([]byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	again[0] = 'Y'
	if string(got) != "XXXXX" {
		t.Fatalf("two Gets share a buffer: %q", got)
	}
}

func testApplyCopiesBatch(t *testing.T, e storage.Engine) {
	key := []byte("key1")
	value := []byte("value1")
	b := &storage.Batch{}
	b.Set(key, value)
	if err := e.Apply(b, false); err != nil {
		t.Fatal(err)
	}
	// Reuse the caller's buffers for another key, as a caller may.
	copy(key, "key2")
	copy(value, "XXXXXX")
	wantValue(t, e, "key1", "value1")
	wantMissing(t, e, "key2")
}

func testScanOrderAndBounds(t *testing.T, e storage.Engine) {
	keys := []string{"", "\x00", "a", "a\x00", "ab", "b", "ba", "c", "\xff", "\xff\xff"}
	b := &storage.Batch{}
	for i := len(keys) - 1; i >= 0; i-- {
		b.Set([]byte(keys[i]), []byte("v"+keys[i]))
	}
	if err := e.Apply(b, false); err != nil {
		t.Fatal(err)
	}
	ranges := []struct{ lower, upper []byte }{
		{nil, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("a\x00"), []byte("ba")},
		{[]byte("aa"), nil},
		{nil, []byte("a")},
		{[]byte("b"), []byte("b")},
		{[]byte("c"), []byte("a")},
		{[]byte("zz"), nil},
		{nil, []byte{}},
		{[]byte{}, []byte("\x00")},
	}
	for _, r := range ranges {
		var want []kv
		for _, k := range keys {
			if bytes.Compare([]byte(k), r.lower) >= 0 && (r.upper == nil || bytes.Compare([]byte(k), r.upper) < 0) {
				want = append(want, kv{k, "v" + k})
			}
		}
		if got := scanAll(t, e, r.lower, r.upper); !slices.Equal(got, want) {
			t.Errorf("Scan(%q, %q) = %q, want %q", r.lower, r.upper, got, want)
		}
	}
}

func testScanEarlyStop(t *testing.T, e storage.Engine) {
	b := &storage.Batch{}
	for i := range 10 {
		b.Set(fmt.Appendf(nil, "k%02d", i), []byte("v"))
	}
	if err := e.Apply(b, false); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err := e.Scan(nil, nil, func(k, _ []byte) bool {
		seen = append(seen, string(k))
		return len(seen) < 3
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k00", "k01", "k02"}; !slices.Equal(seen, want) {
		t.Fatalf("Scan stopping after 3 saw %q, want %q", seen, want)
	}
}

func testScanCallbackMayWrite(t *testing.T, e storage.Engine) {
	apply(t, e, false, set("a", "1"), set("b", "2"))
	err := e.Scan(nil, nil, func(k, v []byte) bool {
		value, err := e.Get(k)
		if err != nil || !bytes.Equal(value, v) {
			t.Errorf("Get(%q) during Scan = %q, %v", k, value, err)
		}
		if err := e.Apply(&storage.Batch{Ops: []storage.Op{set("z"+string(k), "new")}}, false); err != nil {
			t.Errorf("Apply during Scan: %v", err)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	wantValue(t, e, "za", "new")
	wantValue(t, e, "zb", "new")
}

// testBatchAtomicUnderScan writes batches that set every key of a group to
// the same generation while scans check they never see two generations.
func testBatchAtomicUnderScan(t *testing.T, e storage.Engine) {
	const keys, generations = 20, 200
	batchFor := func(gen int) *storage.Batch {
		b := &storage.Batch{}
		for k := range keys {
			b.Set(fmt.Appendf(nil, "g%02d", k), fmt.Appendf(nil, "%d", gen))
		}
		return b
	}
	if err := e.Apply(batchFor(0), false); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for gen := 1; gen <= generations; gen++ {
			if err := e.Apply(batchFor(gen), false); err != nil {
				t.Errorf("Apply: %v", err)
				return
			}
		}
	})
	wg.Go(func() {
		for scans := 0; ; scans++ {
			select {
			case <-done:
				if scans > 0 {
					return
				}
			default:
			}
			var first string
			n := 0
			err := e.Scan([]byte("g"), []byte("h"), func(_, v []byte) bool {
				if n == 0 {
					first = string(v)
				} else if string(v) != first {
					t.Errorf("scan saw generations %s and %s together", first, v)
					return false
				}
				n++
				return true
			})
			if err != nil {
				t.Errorf("Scan: %v", err)
				return
			}
			if n != keys {
				t.Errorf("scan saw %d keys, want %d", n, keys)
				return
			}
		}
	})
	wg.Wait()
}

// testConcurrentWriters has goroutines write disjoint keys, synced and not,
// while others read, then checks every write is there.
func testConcurrentWriters(t *testing.T, e storage.Engine) {
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				b := &storage.Batch{}
				b.Set(fmt.Appendf(nil, "w%d/%03d", w, i), fmt.Appendf(nil, "%d", i))
				if err := e.Apply(b, i%5 == 0); err != nil {
					t.Errorf("Apply: %v", err)
					return
				}
			}
		})
		wg.Go(func() {
			for i := range perWriter {
				v, err := e.Get(fmt.Appendf(nil, "w%d/%03d", w, i))
				if err == nil && string(v) != fmt.Sprint(i) {
					t.Errorf("Get during writes = %q, want %d", v, i)
				} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("Get: %v", err)
				}
			}
		})
	}
	wg.Wait()
	got := scanAll(t, e, nil, nil)
	if len(got) != writers*perWriter {
		t.Fatalf("scan after concurrent writes saw %d keys, want %d", len(got), writers*perWriter)
	}
	for w := range writers {
		for i := range perWriter {
			wantValue(t, e, fmt.Sprintf("w%d/%03d", w, i), fmt.Sprint(i))
		}
	}
}

func testLargeBatch(t *testing.T, e storage.Engine) {
	const n = 20000
	value := bytes.Repeat([]byte("v"), 100)
	b := &storage.Batch{}
	for i := range n {
		b.Set(fmt.Appendf(nil, "large/%06d", i), value)
	}
	if err := e.Apply(b, true); err != nil {
		t.Fatal(err)
	}
	count := 0
	err := e.Scan([]byte("large/"), []byte("large0"), func(k, v []byte) bool {
		if want := fmt.Sprintf("large/%06d", count); string(k) != want || !bytes.Equal(v, value) {
			t.Errorf("entry %d = %q, want %q", count, k, want)
			return false
		}
		count++
		return true
	})
	if err != nil || count != n {
		t.Fatalf("Scan saw %d entries, %v; want %d", count, err, n)
	}
}

func testClose(t *testing.T, e storage.Engine) {
	apply(t, e, false, set("k", "v"))
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := e.Get([]byte("k")); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if err := e.Apply(&storage.Batch{Ops: []storage.Op{set("k", "v")}}, false); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if err := e.Scan(nil, nil, func(_, _ []byte) bool { return true }); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
	// Run closes the engine again: Close must be idempotent.
}

// checkAgainstModel applies random batches and compares every read with a
// map.
func checkAgainstModel(t *rapid.T, e storage.Engine) {
	model := map[string]string{}
	// A small alphabet makes overwrites, deletes of present keys and
	// prefix relations common; 0x00 and 0xff probe byte order.
	keyGen := rapid.Custom(func(t *rapid.T) string {
		return string(rapid.SliceOfN(rapid.SampledFrom([]byte{'a', 'b', 0x00, 0xff}), 0, 4).Draw(t, "bytes"))
	})
	t.Repeat(map[string]func(*rapid.T){
		"apply": func(t *rapid.T) {
			b := &storage.Batch{}
			pending := map[string]*string{}
			for range rapid.IntRange(0, 5).Draw(t, "ops") {
				k := keyGen.Draw(t, "key")
				if rapid.Bool().Draw(t, "delete") {
					b.Del([]byte(k))
					pending[k] = nil
				} else {
					v := rapid.String().Draw(t, "value")
					b.Set([]byte(k), []byte(v))
					pending[k] = &v
				}
			}
			if err := e.Apply(b, rapid.Bool().Draw(t, "sync")); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for k, v := range pending {
				if v == nil {
					delete(model, k)
				} else {
					model[k] = *v
				}
			}
		},
		"get": func(t *rapid.T) {
			k := keyGen.Draw(t, "key")
			if v, ok := model[k]; ok {
				wantValue(t, e, k, v)
			} else {
				wantMissing(t, e, k)
			}
		},
		"scan": func(t *rapid.T) {
			lower := []byte(keyGen.Draw(t, "lower"))
			upper := []byte(keyGen.Draw(t, "upper"))
			if rapid.Bool().Draw(t, "unbounded") {
				upper = nil
			}
			var want []kv
			for k, v := range model {
				if k >= string(lower) && (upper == nil || k < string(upper)) {
					want = append(want, kv{k, v})
				}
			}
			slices.SortFunc(want, func(a, b kv) int { return bytes.Compare([]byte(a.key), []byte(b.key)) })
			if got := scanAll(t, e, lower, upper); !slices.Equal(got, want) {
				t.Fatalf("Scan(%q, %q) = %q, want %q", lower, upper, got, want)
			}
		},
	})
}
