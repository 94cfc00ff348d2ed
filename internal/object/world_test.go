package object

import (
	"bytes"
	"slices"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"pgregory.net/rapid"
)

// A world is a random history of one key under one policy: writes and
// deletes coordinated by each replica's actor with contexts read earlier,
// and merges between replicas. Its states are reachable objects.
type world struct {
	policy   Policy
	actors   []uint64
	counters []uint64
	clocks   []hlc.Timestamp
	replicas []*Object
	states   []*Object
	writes   int
	dropped  int // versions LWW dropped, as reported
}

func drawWorld(t *rapid.T, policy Policy) *world {
	n := rapid.IntRange(1, 4).Draw(t, "replicas")
	w := &world{
		policy:   policy,
		actors:   rapid.SliceOfNDistinct(rapid.Uint64(), n, n, rapid.ID).Draw(t, "actors"),
		counters: make([]uint64, n),
		clocks:   make([]hlc.Timestamp, n),
		replicas: make([]*Object, n),
		states:   []*Object{nil},
	}
	steps := rapid.IntRange(0, 30).Draw(t, "steps")
	for range steps {
		i := rapid.IntRange(0, n-1).Draw(t, "replica")
		switch rapid.IntRange(0, 3).Draw(t, "op") {
		case 0, 1:
			w.counters[i] += rapid.Uint64Range(1, 100).Draw(t, "gap")
			dot := dvv.Dot{Actor: w.actors[i], Counter: w.counters[i]}
			// Skewed physical clocks: a node's writes need not be newest,
			// but as replica.Coordinate does, a write is stamped later than
			// the local versions and every version its context covers.
			now := rapid.Int64Range(0, 1000).Draw(t, "now")
			ctx := w.drawContext(t)
			after := CausalOf(w.replicas[i]).Latest
			if after.Less(ctx.Latest) {
				after = ctx.Latest
			}
			if w.clocks[i].Less(after) {
				w.clocks[i] = hlc.Observe(w.clocks[i], after, now)
			} else {
				w.clocks[i] = hlc.Next(w.clocks[i], now)
			}
			c := drawContent(t, w.clocks[i])
			o, dropped, err := w.replicas[i].Update(ctx.VV, dot, c, policy)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			w.replicas[i] = o
			w.writes++
			w.dropped += dropped
		case 2, 3:
			j := rapid.IntRange(0, n-1).Draw(t, "from")
			w.merge(i, j)
		}
		w.states = append(w.states, w.replicas...)
	}
	return w
}

// merge stores the merge of replicas i and j on i.
func (w *world) merge(i, j int) {
	o, dropped := Merge(w.replicas[i], w.replicas[j], w.policy)
	w.replicas[i] = o
	w.dropped += dropped
}

func drawContent(t *rapid.T, modified hlc.Timestamp) Content {
	// Few write ids, so that some versions share one.
	id := rapid.SampledFrom([]string{"", "", "id-1", "id-2"}).Draw(t, "writeID")
	if rapid.IntRange(0, 4).Draw(t, "kind") == 0 {
		return Content{Modified: modified, Deleted: true, WriteID: id}
	}
	return Content{
		Value:       rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(t, "value"),
		ContentType: rapid.SampledFrom([]string{"", "text/plain", "application/json"}).Draw(t, "type"),
		Modified:    modified,
		WriteID:     id,
	}
}

func (w *world) drawState(t *rapid.T, label string) *Object {
	return rapid.SampledFrom(w.states).Draw(t, label)
}

// drawContext returns none, one read's context or two reads' merged.
func (w *world) drawContext(t *rapid.T) Causal {
	switch rapid.IntRange(0, 2).Draw(t, "contextKind") {
	case 0:
		return Causal{}
	case 1:
		return CausalOf(w.drawState(t, "read"))
	}
	a, b := CausalOf(w.drawState(t, "read1")), CausalOf(w.drawState(t, "read2"))
	c := Causal{VV: a.VV.Merge(b.VV), Latest: a.Latest}
	if c.Latest.Less(b.Latest) {
		c.Latest = b.Latest
	}
	return c
}

func equalObjects(a, b *Object) bool {
	return bytes.Equal(Encode(a), Encode(b))
}

func equalContent(a, b Content) bool {
	return bytes.Equal(a.Value, b.Value) && a.ContentType == b.ContentType &&
		a.Modified == b.Modified && a.Deleted == b.Deleted && a.WriteID == b.WriteID
}

// sameEntries compares entries field by field, not through the codec.
func sameEntries(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool {
		return x.Dot == y.Dot && equalContent(x.Value, y.Value)
	})
}

func mustValid(t interface{ Fatalf(string, ...any) }, o *Object) {
	if err := o.set().Validate(); err != nil {
		t.Fatalf("invalid object %+v: %v", o, err)
	}
}
