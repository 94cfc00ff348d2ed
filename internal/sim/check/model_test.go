package check

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"pgregory.net/rapid"
)

// run is a sequential history against one replica, produced by a model of
// the DVV register: each write is applied with dvv.Set.Update, a delete
// writes a tombstone (the empty string), and a read returns the live values
// and the context. Writes drawn as failed are never applied; writes drawn as
// lost take a dot but are never applied either, like a write whose
// coordinator crashed before syncing it, and are recorded as Info.
type modelRun struct {
	h      []Op
	final  map[string]Final
	issued []Issued
}

func drawRun(t *rapid.T) modelRun {
	keys := []string{"k0", "k1", "k2"}
	actors := []uint64{A, B, C}
	counters := map[uint64]uint64{}
	sets := map[string]dvv.Set[string]{}
	contexts := map[[2]any]dvv.VV{} // (client, key) -> context last read
	var r modelRun
	next := func(actor uint64) dvv.Dot {
		// One counter serves all keys, so a key sees it skip.
		counters[actor] += rapid.Uint64Range(1, 3).Draw(t, "skip")
		return dot(actor, counters[actor])
	}
	steps := rapid.IntRange(1, 60).Draw(t, "steps")
	for i := range steps {
		client := rapid.IntRange(0, 2).Draw(t, "client")
		key := rapid.SampledFrom(keys).Draw(t, "key")
		o := Op{Index: i, Client: client, Key: key, Start: int64(2 * i), End: int64(2*i + 1), Type: OK,
			Strict: rapid.Bool().Draw(t, "strict")}
		s := sets[key]
		if kind := rapid.IntRange(0, 2).Draw(t, "kind"); kind == 0 {
			o.Kind = Get
			o.ReadContext = s.Context
			o.Deleted = len(s.Entries) > 0
			for _, e := range s.Entries {
				if e.Value != "" {
					o.Siblings = append(o.Siblings, e.Value)
					o.Deleted = false
				}
			}
			contexts[[2]any{client, key}] = s.Context
		} else {
			o.Kind = Put
			if kind == 2 {
				o.Kind = Delete
			}
			if o.Kind == Put {
				o.Value = fmt.Sprintf("v%d", i)
			}
			if rapid.Bool().Draw(t, "withContext") {
				o.Context = contexts[[2]any{client, key}]
			}
			actor := rapid.SampledFrom(actors).Draw(t, "coordinator")
			switch rapid.IntRange(0, 9).Draw(t, "outcome") {
			case 0: // rejected before coordination
				o.Type = Fail
			case 1: // coordinated, then lost in a crash: no one knows
				o.Type, o.Dot = Info, next(actor)
			default:
				o.Dot = next(actor)
				next, err := s.Update(o.Context, o.Dot, o.Value)
				if err != nil {
					t.Fatalf("model: %v", err)
				}
				sets[key] = next
			}
			if o.Dot != (dvv.Dot{}) {
				r.issued = append(r.issued, Issued{Node: fmt.Sprint(actor), Dot: o.Dot, Op: i})
			}
		}
		r.h = append(r.h, o)
	}
	r.final = map[string]Final{}
	for key, s := range sets {
		f := Final{Context: s.Context, Live: map[string]dvv.Dot{}}
		for _, e := range s.Entries {
			if e.Value != "" {
				f.Live[e.Value] = e.Dot
			}
		}
		r.final[key] = f
	}
	return r
}

// withFinal returns a copy of final with key's object changed by edit.
func withFinal(final map[string]Final, key string, edit func(*Final)) map[string]Final {
	out := maps.Clone(final)
	f := out[key]
	f.Live = maps.Clone(f.Live)
	if f.Live == nil {
		f.Live = map[string]dvv.Dot{}
	}
	edit(&f)
	out[key] = f
	return out
}

func TestModelHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawRun(t)
		if rep := Check(Run{History: r.h, Final: r.final, Issued: r.issued}); !rep.OK() {
			t.Fatalf("a correct run was rejected:\n%s", rep)
		}
		// Every acknowledged write may as well have timed out.
		h := slices.Clone(r.h)
		for i := range h {
			if h[i].Kind != Get && h[i].Type == OK && rapid.Bool().Draw(t, "asInfo") {
				h[i].Type = Info
			}
		}
		if rep := Check(Run{History: h, Final: r.final, Issued: r.issued}); !rep.OK() {
			t.Fatalf("a correct run with timeouts was rejected:\n%s", rep)
		}
	})
}

func TestModelMutationsFail(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawRun(t)
		keys := slices.Sorted(maps.Keys(r.final))

		// Drop a live value. A lost delete whose dot a later write of its
		// actor covers may have replaced what its context covered, so only
		// values no lost delete covers are certain to be missed.
		type live struct{ key, value string }
		var droppable []live
		for _, k := range keys {
			for _, v := range sortedLive(r.final[k]) {
				if _, ok := coveringWrite(r.h, Op{Index: -1, Dot: r.final[k].Live[v]}, func(w Op) bool {
					return w.Key == k && w.Kind == Delete && w.Type == Info
				}); !ok {
					droppable = append(droppable, live{k, v})
				}
			}
		}
		if len(droppable) > 0 {
			d := rapid.SampledFrom(droppable).Draw(t, "drop")
			final := withFinal(r.final, d.key, func(f *Final) { delete(f.Live, d.value) })
			if Check(Run{History: r.h, Final: final, Issued: r.issued}).OK() {
				t.Fatalf("dropping %q from key %q went unnoticed", d.value, d.key)
			}
		}

		// Add an invented value.
		key := rapid.SampledFrom([]string{"k0", "k1", "k2"}).Draw(t, "addTo")
		final := withFinal(r.final, key, func(f *Final) {
			d := dot(0xf, 1)
			f.Live["invented"] = d
			f.Context = f.Context.Add(d)
		})
		if Check(Run{History: r.h, Final: final, Issued: r.issued}).OK() {
			t.Fatalf("adding a value to key %q went unnoticed", key)
		}

		// Bring back a value that an applied write replaced.
		var replaced []Op
		for _, o := range r.h {
			if o.Kind == Put && o.Type == OK {
				if _, live := r.final[o.Key].Live[o.Value]; !live {
					replaced = append(replaced, o)
				}
			}
		}
		if len(replaced) > 0 {
			p := rapid.SampledFrom(replaced).Draw(t, "resurrect")
			final := withFinal(r.final, p.Key, func(f *Final) { f.Live[p.Value] = p.Dot })
			if Check(Run{History: r.h, Final: final, Issued: r.issued}).OK() {
				t.Fatalf("resurrecting %q on key %q went unnoticed", p.Value, p.Key)
			}
		}
	})
}
