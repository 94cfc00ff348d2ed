// Package dvv implements dotted version vector sets with explicit dots, the
// causality tracking of Tutti's replicated objects (Almeida et al., "Scalable
// and Accurate Causality Tracking for Eventually Consistent Stores", 2014).
//
// A Dot names one write: the actor (a node identity) that coordinated it and
// a counter that actor drew for it. A VV is a version vector, the causal
// context: for each actor, the greatest counter whose writes it accounts
// for. A Set holds the concurrent versions (siblings) of one key, each entry
// tagged with the dot of the write that made it, plus the context of every
// write the set has seen, superseded or not.
//
// Why explicit dots. The compact DVVSet form stores, per actor, a counter
// and a list of values and infers each value's dot from its position, which
// requires an actor's counters for one key to be consecutive. Tutti's actors
// draw counters from a per-actor counter leased durably in blocks and shared
// by all keys, so for one key an actor's counters increase but skip. Each
// entry therefore carries its own dot, and the context is a plain version
// vector. The context still summarizes correctly: an actor coordinates its
// writes to a key one at a time on top of its own replica, so a state whose
// context holds (actor, c) has seen every write of that actor to that key
// with a counter up to c.
//
// Contract. Update is the coordinator's write: the client's context
// supersedes exactly the entries it covers, and the new dot must be fresh
// (never covered before), which is why counters are never reused and a node
// that loses its data takes a new actor id. Sync merges two replicas' copies
// and is commutative, associative and idempotent; it drops an entry only when
// the other side's context covers it and the other side no longer holds it.
// All functions are pure and have value semantics: they never modify their
// arguments and return fresh slices (entry values themselves are copied, not
// deep-copied, so callers treat them as immutable).
package dvv

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// MaxActors is the largest number of actors a version vector may hold. It
// bounds decoding; Update refuses writes that would exceed it. Every actor in
// a key's context is a node identity that coordinated a write to that key,
// so real contexts stay far below it.
const MaxActors = 1024

// ErrStaleDot is returned by Update when the new dot is already covered by
// the set's context or by the client's context, which would make the write
// invisible or let it erase another write.
var ErrStaleDot = errors.New("dvv: dot is not fresh")

// ErrTooManyActors is returned by Update when the resulting context would
// exceed MaxActors.
var ErrTooManyActors = errors.New("dvv: too many actors in context")

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("dvv: invalid")

// Dot identifies one write: the actor that coordinated it and the counter it
// drew. Valid dots have a non-zero Counter.
type Dot struct {
	Actor, Counter uint64
}

// Compare orders dots by actor, then counter.
func (d Dot) Compare(o Dot) int {
	if c := cmp.Compare(d.Actor, o.Actor); c != 0 {
		return c
	}
	return cmp.Compare(d.Counter, o.Counter)
}

// String formats d as hexadecimal actor and decimal counter.
func (d Dot) String() string {
	return fmt.Sprintf("%x:%d", d.Actor, d.Counter)
}

// VV is a version vector: entries sorted by Actor, one per actor, each with
// a non-zero Counter. A nil VV is empty. Methods never modify the receiver.
type VV []Dot

func (v VV) find(actor uint64) (int, bool) {
	return slices.BinarySearchFunc(v, actor, func(d Dot, a uint64) int {
		return cmp.Compare(d.Actor, a)
	})
}

// Get returns actor's counter in v, zero if v has none.
func (v VV) Get(actor uint64) uint64 {
	if i, ok := v.find(actor); ok {
		return v[i].Counter
	}
	return 0
}

// Covers reports whether v accounts for the write d.
func (v VV) Covers(d Dot) bool {
	return d.Counter <= v.Get(d.Actor)
}

// Merge returns the pointwise maximum of v and o.
func (v VV) Merge(o VV) VV {
	out := make(VV, 0, max(len(v), len(o)))
	i, j := 0, 0
	for i < len(v) && j < len(o) {
		switch a, b := v[i], o[j]; {
		case a.Actor < b.Actor:
			out = append(out, a)
			i++
		case a.Actor > b.Actor:
			out = append(out, b)
			j++
		default:
			out = append(out, Dot{a.Actor, max(a.Counter, b.Counter)})
			i++
			j++
		}
	}
	out = append(out, v[i:]...)
	out = append(out, o[j:]...)
	if len(out) == 0 {
		return nil
	}
	return out
}

// Descends reports whether v is pointwise at least o, that is whether v
// accounts for every write o does.
func (v VV) Descends(o VV) bool {
	for _, d := range o {
		if !v.Covers(d) {
			return false
		}
	}
	return true
}

// Add returns v with actor d.Actor raised to at least d.Counter. A dot with
// a zero counter adds nothing.
func (v VV) Add(d Dot) VV {
	return slices.Grow(slices.Clone(v), 1).raise(d)
}

// raise sets actor d.Actor to at least d.Counter in place; v must be owned
// by the caller.
func (v VV) raise(d Dot) VV {
	if d.Counter == 0 {
		return v
	}
	i, found := v.find(d.Actor)
	if found {
		v[i].Counter = max(v[i].Counter, d.Counter)
		return v
	}
	return slices.Insert(v, i, d)
}

// Equal reports whether v and o hold the same entries.
func (v VV) Equal(o VV) bool {
	return slices.Equal(v, o)
}

// Validate checks that v is sorted by actor without duplicates, has non-zero
// counters and at most MaxActors entries.
func (v VV) Validate() error {
	if len(v) > MaxActors {
		return fmt.Errorf("%w: %d actors, more than %d", ErrInvalid, len(v), MaxActors)
	}
	for i, d := range v {
		if d.Counter == 0 {
			return fmt.Errorf("%w: zero counter for actor %x", ErrInvalid, d.Actor)
		}
		if i > 0 && v[i-1].Actor >= d.Actor {
			return fmt.Errorf("%w: actors not strictly increasing at %x", ErrInvalid, d.Actor)
		}
	}
	return nil
}

// Entry is one version in a Set: a value and the dot of the write that made
// it.
type Entry[V any] struct {
	Dot   Dot
	Value V
}

// Set is a dotted version vector set: the concurrent versions of one key and
// the causal context of everything it has seen.
//
// Invariant: Context covers every entry's dot; entries are sorted by dot and
// dots are unique. The zero Set is empty. Entries with equal dots in two Sets
// are the same write and so hold equal values.
type Set[V any] struct {
	Context VV
	Entries []Entry[V]
}

// Update applies a write coordinated with dot, carrying value v and the
// client's context ctx (nil for a write concurrent with everything). The
// result drops exactly the entries ctx covers, adds (dot, v), and has the
// context s.Context ∪ ctx ∪ {dot}. It returns ErrStaleDot if dot is not
// fresh (covered by s.Context or ctx, or a zero counter) and
// ErrTooManyActors if the context would grow past MaxActors; s and ctx must
// be valid.
func (s Set[V]) Update(ctx VV, dot Dot, v V) (Set[V], error) {
	if s.Context.Covers(dot) || ctx.Covers(dot) {
		return Set[V]{}, fmt.Errorf("%w: %v", ErrStaleDot, dot)
	}
	context := s.Context.Merge(ctx).raise(dot)
	if len(context) > MaxActors {
		return Set[V]{}, fmt.Errorf("%w: %d", ErrTooManyActors, len(context))
	}
	entries := make([]Entry[V], 0, len(s.Entries)+1)
	for _, e := range s.Entries {
		if !ctx.Covers(e.Dot) {
			entries = append(entries, e)
		}
	}
	// The dot is fresh, so it sorts after every entry of its actor.
	i, _ := slices.BinarySearchFunc(entries, dot, func(e Entry[V], d Dot) int {
		return e.Dot.Compare(d)
	})
	entries = slices.Insert(entries, i, Entry[V]{Dot: dot, Value: v})
	return Set[V]{Context: context, Entries: entries}, nil
}

// Sync merges two replicas' copies of one key. An entry of either side
// survives when the other side holds the same dot or its context does not
// cover it; the context is the merge of both. For equal dots a's value is
// kept (they are the same write).
func Sync[V any](a, b Set[V]) Set[V] {
	entries := make([]Entry[V], 0, len(a.Entries)+len(b.Entries))
	i, j := 0, 0
	for i < len(a.Entries) || j < len(b.Entries) {
		var c int
		switch {
		case i == len(a.Entries):
			c = 1
		case j == len(b.Entries):
			c = -1
		default:
			c = a.Entries[i].Dot.Compare(b.Entries[j].Dot)
		}
		switch {
		case c == 0:
			entries = append(entries, a.Entries[i])
			i++
			j++
		case c < 0:
			if e := a.Entries[i]; !b.Context.Covers(e.Dot) {
				entries = append(entries, e)
			}
			i++
		default:
			if e := b.Entries[j]; !a.Context.Covers(e.Dot) {
				entries = append(entries, e)
			}
			j++
		}
	}
	if len(entries) == 0 {
		entries = nil
	}
	return Set[V]{Context: a.Context.Merge(b.Context), Entries: entries}
}

// Dots returns the dots of s's entries, in order.
func (s Set[V]) Dots() []Dot {
	if len(s.Entries) == 0 {
		return nil
	}
	dots := make([]Dot, len(s.Entries))
	for i, e := range s.Entries {
		dots[i] = e.Dot
	}
	return dots
}

// Validate checks s's invariant: a valid context that covers every entry,
// entries sorted by dot with unique, non-zero dots.
func (s Set[V]) Validate() error {
	if err := s.Context.Validate(); err != nil {
		return err
	}
	for i, e := range s.Entries {
		if e.Dot.Counter == 0 {
			return fmt.Errorf("%w: entry with zero counter", ErrInvalid)
		}
		if !s.Context.Covers(e.Dot) {
			return fmt.Errorf("%w: entry %v not covered by context", ErrInvalid, e.Dot)
		}
		if i > 0 && s.Entries[i-1].Dot.Compare(e.Dot) >= 0 {
			return fmt.Errorf("%w: entries not strictly increasing at %v", ErrInvalid, e.Dot)
		}
	}
	return nil
}
