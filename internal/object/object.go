// Package object defines Tutti's replicated object: the versions of one key
// with their causal context, the conflict policies applied to them, and the
// binary codecs for objects and for the causal context handed to clients.
//
// An Object is a dvv.Set of Content: every entry is a version (a value or a
// tombstone) tagged with the dot of the write that made it. A coordinator
// applies a client's write with Update; replicas combine copies with Merge.
// Under the Siblings policy every concurrent version is kept until a write
// whose context covers it replaces it. Under LWW only the greatest version
// in the order (Modified, Dot.Actor, Dot.Counter) is kept; the others are
// dropped even though no client saw them, and Update and Merge report how
// many so a metric can count the loss.
//
// A delete is an Update whose Content is a tombstone (Deleted, no value), so
// it supersedes what its context covers and stays concurrent with what it
// does not. Objects are immutable values: operations return new objects and
// share, never modify, the byte slices of their inputs. Update, Merge,
// Live, IsDeleted, Empty, Encode and Digest treat a nil *Object as the empty
// object. The package is pure: no I/O, clock or randomness.
package object

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
)

// MaxSiblings is the most versions an Update may leave in an object; a
// write that would exceed it is refused, as unbounded siblings make every
// read and merge of the key slower.
const MaxSiblings = 1000

// ErrTooManySiblings is returned by Update when the write would leave more
// than MaxSiblings versions.
var ErrTooManySiblings = errors.New("object: too many siblings")

// ErrTombstoneValue is returned by Update for a tombstone that carries a
// value.
var ErrTombstoneValue = errors.New("object: tombstone with a value")

// Content is one version of a key's value.
type Content struct {
	Value       []byte
	ContentType string
	// Modified is the coordinator's hybrid logical clock time of the write;
	// it orders versions under LWW.
	Modified hlc.Timestamp
	// Deleted marks a tombstone, which has no value.
	Deleted bool
	// WriteID is the client's idempotency key for the write that made this
	// version, empty when it gave none. A write resent with the same key
	// and content is the same write: Update's callers skip it when the copy
	// already holds it (Holds), and Live shows it once when two
	// coordinators each stored it. At most MaxWriteIDBytes long.
	WriteID string
}

// MaxWriteIDBytes is the longest WriteID accepted.
const MaxWriteIDBytes = 64

// sameWrite reports whether a and b are one client write stored twice: the
// same idempotency key and the same content. Matching content as well as
// the key means a key reused for a different write hides nothing.
func sameWrite(a, b Content) bool {
	return a.WriteID != "" && a.WriteID == b.WriteID && a.Deleted == b.Deleted &&
		a.ContentType == b.ContentType && bytes.Equal(a.Value, b.Value)
}

// Entry is one version with the dot of the write that made it.
type Entry = dvv.Entry[Content]

// Object is the replicated state of one key. Its embedded Set keeps the
// dvv invariant: the context covers every entry, entries are sorted by dot.
type Object struct {
	dvv.Set[Content]
}

// Policy is a bucket's conflict policy.
type Policy int

// Conflict policies.
const (
	// Siblings keeps every concurrent version for the application to merge.
	Siblings Policy = iota
	// LWW keeps only the greatest version by (Modified, Dot.Actor,
	// Dot.Counter) and drops concurrent ones: a data-loss mode by design.
	LWW
)

// String returns the policy's name as bucket properties spell it.
func (p Policy) String() string {
	switch p {
	case Siblings:
		return "siblings"
	case LWW:
		return "lww"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// set returns o's versions; the nil object has none.
func (o *Object) set() dvv.Set[Content] {
	if o == nil {
		return dvv.Set[Content]{}
	}
	return o.Set
}

// Update applies a client's write at its coordinator: the write's context
// ctx supersedes the versions it covers, (dot, c) is added, then policy p
// applies. It returns the new object and, under LWW, how many concurrent
// versions were dropped (possibly the new one, if a concurrent version is
// newer). It fails, leaving o as it was, when dot is not fresh
// (dvv.ErrStaleDot), when c is a tombstone with a value, or when the write
// would leave more than MaxSiblings versions.
func (o *Object) Update(ctx dvv.VV, dot dvv.Dot, c Content, p Policy) (*Object, int, error) {
	if c.Deleted && len(c.Value) > 0 {
		return nil, 0, ErrTombstoneValue
	}
	s, err := o.set().Update(ctx, dot, c)
	if err != nil {
		return nil, 0, err
	}
	dropped := 0
	if p == LWW {
		s, dropped = keepGreatest(s, s.Entries)
	}
	if len(s.Entries) > MaxSiblings {
		return nil, 0, fmt.Errorf("%w: %d", ErrTooManySiblings, len(s.Entries))
	}
	return &Object{s}, dropped, nil
}

// Merge combines two replicas' copies of one key (dvv.Sync), then applies
// policy p. Under LWW it returns how many concurrent versions it dropped.
//
// Under LWW the merge keeps the greatest version either side holds, in the
// LWW order, and the union of the contexts: a maximum, so replicas converge
// whatever order they exchange copies in. It does not first drop the
// versions the other side's context covers, as a sync does: a context
// covers a version that LWW dropped as well as one a write replaced, and
// which copies meet first would decide what survives. Causality is kept by
// the stamps instead: a write is stamped later than every version its
// context covers (Causal.Latest), so a replaced version never wins.
func Merge(a, b *Object, p Policy) (merged *Object, lwwDropped int) {
	s := dvv.Sync(a.set(), b.set())
	if p != LWW {
		return &Object{s}, 0
	}
	candidates := slices.Concat(a.set().Entries, b.set().Entries)
	if len(candidates) == 0 {
		return &Object{s}, 0
	}
	best, _ := keepGreatest(s, candidates)
	// Versions the sync kept beside the winner are the concurrent ones LWW
	// overwrote.
	for _, e := range s.Entries {
		if e.Dot != best.Entries[0].Dot {
			lwwDropped++
		}
	}
	return &Object{best}, lwwDropped
}

// keepGreatest returns s holding only the greatest of candidates in the LWW
// order, and how many candidates with other dots it dropped.
func keepGreatest(s dvv.Set[Content], candidates []Entry) (dvv.Set[Content], int) {
	if len(candidates) == 0 {
		return s, 0
	}
	best := candidates[0]
	for _, e := range candidates[1:] {
		if lwwLess(best, e) {
			best = e
		}
	}
	dropped := 0
	for _, e := range candidates {
		if e.Dot != best.Dot {
			dropped++
		}
	}
	return dvv.Set[Content]{Context: s.Context, Entries: []Entry{best}}, dropped
}

// lwwLess orders versions for LWW: by Modified, then by dot, a total order
// on distinct writes so that every replica picks the same winner.
func lwwLess(a, b Entry) bool {
	if c := a.Value.Modified.Compare(b.Value.Modified); c != 0 {
		return c < 0
	}
	return a.Dot.Compare(b.Dot) < 0
}

// Live returns the versions that are not tombstones, as clients see them:
// versions that are one write stored under two dots (a write retried on a
// second coordinator, see Content.WriteID) appear once, as the one with the
// least dot. They stay apart in the object itself, where merging them away
// could not be made order-independent; the next write whose context covers
// the key replaces both.
func (o *Object) Live() []Entry {
	var live []Entry
next:
	for _, e := range o.set().Entries {
		if e.Value.Deleted {
			continue
		}
		for _, kept := range live {
			if sameWrite(kept.Value, e.Value) {
				continue next
			}
		}
		live = append(live, e)
	}
	return live
}

// Holds reports whether o already holds a version made by the write c (same
// WriteID, same content). A coordinator receiving such a write again, a
// client's retry, stores no second version.
func (o *Object) Holds(c Content) bool {
	for _, e := range o.set().Entries {
		if sameWrite(e.Value, c) {
			return true
		}
	}
	return false
}

// IsDeleted reports whether o has versions and all are tombstones.
func (o *Object) IsDeleted() bool {
	entries := o.set().Entries
	for _, e := range entries {
		if !e.Value.Deleted {
			return false
		}
	}
	return len(entries) > 0
}

// Empty reports whether o has no versions at all (a key never written, or
// nothing yet received).
func (o *Object) Empty() bool {
	return len(o.set().Entries) == 0
}
