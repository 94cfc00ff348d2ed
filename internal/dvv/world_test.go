package dvv

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// A world is a random history of one key on several replicas: writes
// coordinated by each replica's actor with client contexts read earlier from
// any replica, and one-way or two-way syncs. Every state and context it
// records is reachable, which is what the properties below quantify over.
type world struct {
	actors   []uint64
	counters []uint64 // the last counter each actor drew
	replicas []Set[int]
	writes   []write    // Value of an entry is its index here
	states   []Set[int] // every state any replica passed through
}

// write is one client write: its dot and the context the client sent.
type write struct {
	dot Dot
	ctx VV
}

func drawWorld(t *rapid.T) *world {
	n := rapid.IntRange(1, 4).Draw(t, "replicas")
	w := &world{
		actors:   rapid.SliceOfNDistinct(rapid.Uint64(), n, n, rapid.ID).Draw(t, "actors"),
		counters: make([]uint64, n),
		replicas: make([]Set[int], n),
		states:   []Set[int]{{}},
	}
	for i := range w.counters {
		w.counters[i] = rapid.Uint64Range(0, 1<<40).Draw(t, "firstCounter")
	}
	steps := rapid.IntRange(0, 40).Draw(t, "steps")
	for range steps {
		i := rapid.IntRange(0, n-1).Draw(t, "replica")
		switch rapid.IntRange(0, 3).Draw(t, "op") {
		case 0, 1:
			ctx := w.drawContext(t)
			dot := Dot{w.actors[i], w.nextCounter(t, i)}
			s, err := w.replicas[i].Update(ctx, dot, len(w.writes))
			if err != nil {
				t.Fatalf("Update(%v, %v): %v", ctx, dot, err)
			}
			w.writes = append(w.writes, write{dot, ctx})
			w.replicas[i] = s
		case 2:
			j := rapid.IntRange(0, n-1).Draw(t, "from")
			w.replicas[i] = Sync(w.replicas[i], w.replicas[j])
		case 3:
			j := rapid.IntRange(0, n-1).Draw(t, "with")
			s := Sync(w.replicas[i], w.replicas[j])
			w.replicas[i], w.replicas[j] = s, s
		}
		w.states = append(w.states, w.replicas...)
	}
	return w
}

// nextCounter draws a fresh counter for replica i's actor. Counters skip,
// as counters leased in blocks and shared by all keys do.
func (w *world) nextCounter(t *rapid.T, i int) uint64 {
	w.counters[i] += rapid.Uint64Range(1, 1000).Draw(t, "gap")
	return w.counters[i]
}

// drawState returns a state some replica passed through.
func (w *world) drawState(t *rapid.T, label string) Set[int] {
	return rapid.SampledFrom(w.states).Draw(t, label)
}

// drawContext returns a context a client could send: none (a blind write),
// one read's context, or the merge of two reads (a read from several
// replicas).
func (w *world) drawContext(t *rapid.T) VV {
	switch rapid.IntRange(0, 2).Draw(t, "contextKind") {
	case 0:
		return nil
	case 1:
		return w.drawState(t, "readState").Context
	}
	return w.drawState(t, "readState1").Context.Merge(w.drawState(t, "readState2").Context)
}

// unsuperseded returns the dots of the writes a state with context known has
// seen and that no write it has seen superseded, sorted: what its entries
// must be.
func (w *world) unsuperseded(known VV) []Dot {
	var dots []Dot
	for _, cand := range w.writes {
		if !known.Covers(cand.dot) {
			continue
		}
		superseded := false
		for _, other := range w.writes {
			if other.dot != cand.dot && known.Covers(other.dot) && other.ctx.Covers(cand.dot) {
				superseded = true
				break
			}
		}
		if !superseded {
			dots = append(dots, cand.dot)
		}
	}
	slices.SortFunc(dots, Dot.Compare)
	return dots
}

func equalSets(a, b Set[int]) bool {
	return a.Context.Equal(b.Context) && slices.Equal(a.Entries, b.Entries)
}

func mustValid(t *rapid.T, what string, s Set[int]) {
	if err := s.Validate(); err != nil {
		t.Fatalf("%s = %+v: %v", what, s, err)
	}
}

// checkValues checks that every entry holds the value of the write its dot
// names.
func (w *world) checkValues(t *rapid.T, s Set[int]) {
	for _, e := range s.Entries {
		if e.Value < 0 || e.Value >= len(w.writes) || w.writes[e.Value].dot != e.Dot {
			t.Fatalf("entry %v holds value %d of another write", e.Dot, e.Value)
		}
	}
}

func TestReachableStatesAreValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		for _, s := range w.states {
			mustValid(t, "state", s)
			w.checkValues(t, s)
		}
	})
}
