package identity_test

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/tutti-kv/tutti/internal/identity"
	"github.com/tutti-kv/tutti/internal/storage"
	"github.com/tutti-kv/tutti/internal/storage/pebblestore"
)

// tb is what the helpers need from *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

func seeded(seed uint64) func() uint64 { return rand.New(rand.NewPCG(seed, seed)).Uint64 }

func mustOpen(t tb, e storage.Engine, rnd func() uint64, block uint64) *identity.Identity {
	t.Helper()
	id, err := identity.Open(e, rnd, block)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return id
}

func mustNext(t tb, id *identity.Identity) uint64 {
	t.Helper()
	c, err := id.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return c
}

func TestCleanCloseKeepsActor(t *testing.T) {
	m := storage.NewMemory()
	id := mustOpen(t, m, seeded(1), 0)
	if id.Actor() == 0 {
		t.Fatal("actor id is zero")
	}
	c := mustNext(t, id)
	if err := id.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := id.Next(); err == nil {
		t.Fatal("Next after Close succeeded")
	}
	m.Crash() // Close's record is synced: a crash after it changes nothing
	again := mustOpen(t, m, seeded(2), 0)
	if again.Actor() != id.Actor() {
		t.Fatalf("actor after a clean close = %x, want %x", again.Actor(), id.Actor())
	}
	if next := mustNext(t, again); next <= c {
		t.Fatalf("counter %d after %d", next, c)
	}
}

// TestCrashTakesNewActor: after a run that did not Close, unsynced writes
// of the old actor may be lost, so the node must not write as it again.
func TestCrashTakesNewActor(t *testing.T) {
	m := storage.NewMemory()
	id := mustOpen(t, m, seeded(1), 0)
	mustNext(t, id)
	m.Crash()
	again := mustOpen(t, m, seeded(2), 0)
	if again.Actor() == id.Actor() {
		t.Fatalf("kept actor %x after a crash", id.Actor())
	}
	// Opening marks the identity running before it returns: a crash right
	// after Open is a crash too.
	m.Crash()
	third := mustOpen(t, m, seeded(3), 0)
	if third.Actor() == again.Actor() {
		t.Fatalf("kept actor %x after a crash right after Open", again.Actor())
	}
}

func TestCountersStartAtOneAndIncrease(t *testing.T) {
	id := mustOpen(t, storage.NewMemory(), seeded(1), 3)
	for want := uint64(1); want <= 10; want++ {
		if got := mustNext(t, id); got != want {
			t.Fatalf("Next = %d, want %d", got, want)
		}
	}
}

func TestCountersIncreaseAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var last, actor uint64
	for round := range 3 {
		s, err := pebblestore.Open(dir, pebblestore.Options{Logger: quiet, CacheSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		id := mustOpen(t, s, seeded(uint64(round)), 4)
		if round > 0 && id.Actor() != actor {
			t.Fatalf("round %d: actor %x, want %x", round, id.Actor(), actor)
		}
		actor = id.Actor()
		for range 6 {
			c := mustNext(t, id)
			if c <= last {
				t.Fatalf("round %d: counter %d after %d", round, c, last)
			}
			last = c
		}
		if err := id.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWipeGivesNewActor(t *testing.T) {
	m := storage.NewMemory()
	rnd := seeded(7)
	first := mustOpen(t, m, rnd, 0)
	mustNext(t, first)
	m.Wipe()
	second := mustOpen(t, m, rnd, 0)
	if second.Actor() == first.Actor() {
		t.Fatalf("actor %x kept after the data was wiped", first.Actor())
	}
}

func TestZeroActorIsRedrawn(t *testing.T) {
	draws := []uint64{0, 0, 42}
	rnd := func() uint64 { v := draws[0]; draws = draws[1:]; return v }
	if id := mustOpen(t, storage.NewMemory(), rnd, 0); id.Actor() != 42 {
		t.Fatalf("actor = %d, want 42", id.Actor())
	}
	if _, err := identity.Open(storage.NewMemory(), func() uint64 { return 0 }, 0); err == nil {
		t.Fatal("Open with a random source stuck at zero succeeded")
	}
}

// countingEngine counts synced Applies and can be made to fail them.
type countingEngine struct {
	storage.Engine
	mu     sync.Mutex
	synced int
	fail   bool
}

var errInjected = errors.New("injected failure")

func (c *countingEngine) Apply(b *storage.Batch, sync bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errInjected
	}
	if sync {
		c.synced++
	}
	return c.Engine.Apply(b, sync)
}

func TestOneSyncedWritePerBlock(t *testing.T) {
	e := &countingEngine{Engine: storage.NewMemory()}
	id := mustOpen(t, e, seeded(1), 100)
	for range 250 {
		mustNext(t, id)
	}
	// One write creates the identity, then one per block started: 1-100,
	// 101-200, 201-300.
	if e.synced != 4 {
		t.Fatalf("%d synced writes for 250 counters in blocks of 100, want 4", e.synced)
	}
}

func TestFailedLeaseWriteHandsOutNothing(t *testing.T) {
	e := &countingEngine{Engine: storage.NewMemory(), fail: true}
	if _, err := identity.Open(e, seeded(1), 2); !errors.Is(err, errInjected) {
		t.Fatalf("Open on a failing engine: %v, want the injected error", err)
	}
	e.fail = false
	id := mustOpen(t, e, seeded(1), 2)
	mustNext(t, id)
	mustNext(t, id)
	e.fail = true
	if c, err := id.Next(); !errors.Is(err, errInjected) {
		t.Fatalf("Next needing a lease on a failing engine = %d, %v", c, err)
	}
	e.fail = false
	if c := mustNext(t, id); c != 3 {
		t.Fatalf("Next after the engine recovered = %d, want 3", c)
	}
}

func TestCorruptRecord(t *testing.T) {
	for name, record := range map[string][]byte{
		"short":       {1, 2, 3},
		"bad version": append([]byte{99}, make([]byte, 16)...),
		"zero actor":  append([]byte{1}, make([]byte, 16)...),
	} {
		m := storage.NewMemory()
		if err := m.Apply(&storage.Batch{Ops: []storage.Op{{Key: storage.MetaKey("identity"), Value: record}}}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.Open(m, seeded(1), 0); err == nil {
			t.Errorf("%s: Open accepted a corrupt record", name)
		}
	}
}

func TestCounterSpaceExhaustion(t *testing.T) {
	m := storage.NewMemory()
	id := mustOpen(t, m, seeded(1), 10)
	// Forge a lease just below the end of the counter space.
	record := append([]byte{2}, make([]byte, 17)...)
	binary.BigEndian.PutUint64(record[1:], id.Actor())
	binary.BigEndian.PutUint64(record[9:], math.MaxUint64-2)
	record[17] = 1 // cleanly closed
	if err := m.Apply(&storage.Batch{Ops: []storage.Op{{Key: storage.MetaKey("identity"), Value: record}}}, true); err != nil {
		t.Fatal(err)
	}
	id = mustOpen(t, m, seeded(1), 10)
	if got := []uint64{mustNext(t, id), mustNext(t, id)}; !slices.Equal(got, []uint64{math.MaxUint64 - 1, math.MaxUint64}) {
		t.Fatalf("last counters = %d", got)
	}
	if c, err := id.Next(); err == nil {
		t.Fatalf("Next past the end of the counter space = %d", c)
	}
	if _, err := identity.Open(m, seeded(1), 10); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentNextIsUnique(t *testing.T) {
	const goroutines, perGoroutine = 8, 500
	id := mustOpen(t, storage.NewMemory(), seeded(1), 7)
	results := make([][]uint64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				c, err := id.Next()
				if err != nil {
					t.Error(err)
					return
				}
				results[g] = append(results[g], c)
			}
		})
	}
	wg.Wait()
	all := slices.Concat(results...)
	slices.Sort(all)
	for i, c := range all {
		if c != uint64(i+1) {
			t.Fatalf("sorted counters[%d] = %d, want %d (duplicate or gap)", i, c, i+1)
		}
	}
}

// TestNoCounterReuseAcrossCrashes interleaves Next with crashes that lose
// unsynced writes (the node's other writes among them), clean restarts and
// wipes, and checks that an actor never issues a counter at or below one it
// issued before.
func TestNoCounterReuseAcrossCrashes(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := storage.NewMemory()
		rnd := seeded(rapid.Uint64().Draw(rt, "seed"))
		block := rapid.Uint64Range(1, 5).Draw(rt, "block")
		id := mustOpen(rt, m, rnd, block)
		highest := map[uint64]uint64{id.Actor(): 0} // actor -> highest counter issued
		reopen := func(rt *rapid.T) { id = mustOpen(rt, m, rnd, block) }
		rt.Repeat(map[string]func(*rapid.T){
			"next": func(rt *rapid.T) {
				for range rapid.IntRange(1, 7).Draw(rt, "count") {
					c := mustNext(rt, id)
					if c <= highest[id.Actor()] {
						rt.Fatalf("actor %x issued %d after %d", id.Actor(), c, highest[id.Actor()])
					}
					highest[id.Actor()] = c
				}
			},
			"unsynced write": func(rt *rapid.T) {
				b := &storage.Batch{}
				b.Set([]byte("other"), []byte("data"))
				if err := m.Apply(b, false); err != nil {
					rt.Fatal(err)
				}
			},
			"crash": func(rt *rapid.T) {
				m.CrashKeeping(rapid.IntRange(0, m.Unsynced()).Draw(rt, "keep"))
				reopen(rt)
			},
			"clean restart": func(rt *rapid.T) {
				if err := m.Close(); err != nil {
					rt.Fatal(err)
				}
				m.Reopen()
				reopen(rt)
			},
			"wipe": func(rt *rapid.T) {
				m.Wipe()
				reopen(rt)
				if _, seen := highest[id.Actor()]; seen {
					rt.Fatalf("wiped node reused actor %x", id.Actor())
				}
				highest[id.Actor()] = 0
			},
		})
	})
}
