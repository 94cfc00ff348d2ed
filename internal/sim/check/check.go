// Package check holds the history checkers of the deterministic simulator.
// They judge what clients observed and what the cluster converged to, and
// never look inside a node: a node with a planted bug must be caught from
// its history alone.
//
// Contract. A run produces three things: the history of client operations
// (a []Op, recorded Jepsen style: OK means the operation happened, Fail
// means it certainly did not, Info means the outcome is unknown, as after a
// timeout), the converged object of every key after the liveness phase
// (Final), and every dot any replica issued during the run (Issued). The
// checkers are pure functions of these:
//
//   - LostWrites: no acknowledged write is lost. An acknowledged put stays
//     visible unless a write that may have happened replaced it (Jepsen's
//     set-full, Riak's must/may rule); a failed put never appears.
//   - Siblings: the final siblings are exactly the writes that nothing
//     replaced, none invented, none dropped, none resurrected. SiblingsLWW is
//     the weaker check for last-write-wins keys, which drop concurrent writes
//     by design.
//   - DotReuse: no actor issues the same dot twice, across crashes and data
//     loss.
//   - StrictReads: a successful strict-quorum read sees every strict write
//     acknowledged before the read began.
//   - Converged: after the liveness phase every replica of a key holds the
//     same object.
//   - TreesMatch: after the liveness phase every replica of a partition has
//     built its anti-entropy tree, the tree is what its storage holds, and
//     all replicas' roots are equal.
//
// Faults (crashes and data loss) may destroy writes that were not durable
// enough; Losable says which, and Check treats them as indeterminate.
//
// Check runs them all after Validate. Each checker returns its violations
// sorted by key, then operation index, so that a seed's report is the same
// bit for bit on every run. The package is pure: no I/O, clock, randomness
// or goroutines.
package check

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tutti-kv/tutti/internal/dvv"
)

// Kind is what an operation did.
type Kind uint8

// The kinds of client operations.
const (
	Get Kind = iota + 1
	Put
	Delete
)

func (k Kind) String() string {
	switch k {
	case Get:
		return "get"
	case Put:
		return "put"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Type is how an operation ended, in Jepsen's terms.
type Type uint8

// The outcomes of an operation.
const (
	// OK: the operation happened (a write was acknowledged, a read returned).
	OK Type = iota + 1
	// Fail: the operation certainly did not happen. A write that reached its
	// coordinator but missed its quorum may have been applied somewhere, so
	// it is Info, not Fail.
	Fail
	// Info: the outcome is unknown, e.g. the client timed out.
	Info
)

func (t Type) String() string {
	switch t {
	case OK:
		return "ok"
	case Fail:
		return "fail"
	case Info:
		return "info"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Op is one client operation of a history.
type Op struct {
	Index      int // position in the history
	Client     int
	Kind       Kind
	Key        string
	Start, End int64 // virtual time of invocation and completion
	Type       Type
	// Strict: the operation ran as a strict quorum, with pr and pw such that
	// PR+PW > N, so a read must see every write acknowledged before it began.
	Strict bool

	// Put and Delete.

	// Value is the value a Put wrote, unique across the whole history.
	Value string
	// Context is the causal context the client sent, nil for none.
	Context dvv.VV
	// Dot is the dot the coordinator issued for this write, zero when none
	// was issued (the write was rejected before coordination). A write that
	// timed out after coordination must still carry its dot.
	Dot dvv.Dot
	// MoreDots are further dots of the same write: a client resent it
	// under its idempotency key after a node died, and another coordinator
	// stored it again. The write is in an object under any of its dots.
	MoreDots []dvv.Dot
	// W and DW are the write's quorum: replicas that acknowledged it, and
	// how many of them fsynced it. They decide which faults may destroy it
	// (Losable).
	W, DW int
	// Replicas are the nodes that hold the key, as the ring places it
	// (public: clients route by it). Only their faults can destroy a write
	// to the key; nil means any node's might.
	Replicas []string

	// Get, when OK.

	Siblings    []string // live values read
	Deleted     bool     // the key held only tombstones
	ReadContext dvv.VV   // the context the read returned
}

func (o Op) isWrite() bool { return o.Kind == Put || o.Kind == Delete }

// dots are the write's dots: Dot, then MoreDots.
func (o Op) dots() []dvv.Dot {
	if o.Dot == (dvv.Dot{}) {
		return nil
	}
	return append([]dvv.Dot{o.Dot}, o.MoreDots...)
}

// hasDot reports whether d is one of the write's dots.
func (o Op) hasDot(d dvv.Dot) bool { return slices.Contains(o.dots(), d) }

// coveredBy reports whether vv covers one of the write's dots: whoever
// holds vv saw the write.
func (o Op) coveredBy(vv dvv.VV) bool {
	for _, d := range o.dots() {
		if vv.Covers(d) {
			return true
		}
	}
	return false
}

// describe names a write for a violation's detail.
func (o Op) describe() string {
	if o.Kind == Put {
		return fmt.Sprintf("%s put %q (op %d, dot %v)", o.Type, o.Value, o.Index, o.Dot)
	}
	return fmt.Sprintf("%s delete (op %d, dot %v)", o.Type, o.Index, o.Dot)
}

// Final is a key's converged object after the liveness phase.
type Final struct {
	Live    map[string]dvv.Dot // live (non-tombstone) value -> its dot
	Context dvv.VV
}

// Issued records one dot a replica issued while coordinating a write.
type Issued struct {
	Node string
	Dot  dvv.Dot
	Op   int // the history operation it was issued for, -1 if unknown
}

// Checker names, the keys of Report.Checked.
const (
	CheckHistory     = "History"
	CheckLostWrites  = "LostWrites"
	CheckSiblings    = "Siblings"
	CheckSiblingsLWW = "SiblingsLWW"
	CheckDotReuse    = "DotReuse"
	CheckStrictReads = "StrictReads"
	CheckConverged   = "Converged"
)

// Violation is one broken rule.
type Violation struct {
	Checker string
	Key     string // empty when the rule is not about one key
	Op      int    // the operation at fault, -1 when none is
	Detail  string
}

func (v Violation) String() string {
	var b strings.Builder
	b.WriteString(v.Checker)
	if v.Key != "" {
		fmt.Fprintf(&b, " key %q", v.Key)
	}
	if v.Op >= 0 {
		fmt.Fprintf(&b, " op %d", v.Op)
	}
	b.WriteString(": ")
	b.WriteString(v.Detail)
	return b.String()
}

func sortViolations(vs []Violation) []Violation {
	slices.SortStableFunc(vs, func(a, b Violation) int {
		return cmp.Or(
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.Op, b.Op),
			cmp.Compare(a.Checker, b.Checker),
			cmp.Compare(a.Detail, b.Detail),
		)
	})
	return vs
}

// Report is the outcome of Check.
type Report struct {
	Violations []Violation
	// Checked counts, per checker, the operations, values or dots it
	// examined, so that a run that checked nothing is visible.
	Checked map[string]int
}

// OK reports whether no checker found a violation.
func (r Report) OK() bool { return len(r.Violations) == 0 }

func (r Report) String() string {
	var b strings.Builder
	if r.OK() {
		b.WriteString("ok")
	} else {
		fmt.Fprintf(&b, "%d violation(s)", len(r.Violations))
	}
	names := make([]string, 0, len(r.Checked))
	for name := range r.Checked {
		names = append(names, name)
	}
	slices.Sort(names)
	b.WriteString("; checked")
	for _, name := range names {
		fmt.Fprintf(&b, " %s=%d", name, r.Checked[name])
	}
	for _, v := range r.Violations {
		b.WriteString("\n  ")
		b.WriteString(v.String())
	}
	return b.String()
}

// Run is what one simulated run produced, for Check.
type Run struct {
	History []Op
	Final   map[string]Final
	Issued  []Issued
	// LWW holds the keys of last-write-wins buckets.
	LWW map[string]bool
	// Faults are the crashes and data losses of the run, which may destroy
	// acknowledged writes that were not durable enough (Losable).
	Faults []Fault
}

// Check validates the history and runs every checker. Keys of LWW buckets
// get SiblingsLWW instead of Siblings and are left out of LostWrites,
// since LWW drops concurrent acknowledged writes by design. Acknowledged
// writes that the run's faults may have destroyed count as Info. A
// malformed history yields a single History violation and no other checks.
func Check(run Run) Report {
	r := Report{Checked: map[string]int{}}
	if err := Validate(run.History); err != nil {
		r.Violations = []Violation{{Checker: CheckHistory, Op: -1, Detail: err.Error()}}
		return r
	}
	h, demoted := demoteLosable(run.History, run.Faults)
	final, issued, lww := run.Final, run.Issued, run.LWW
	var siblingsOps, lwwOps []Op
	siblingsFinal, lwwFinal := map[string]Final{}, map[string]Final{}
	for _, o := range h {
		if lww[o.Key] {
			lwwOps = append(lwwOps, o)
		} else {
			siblingsOps = append(siblingsOps, o)
		}
	}
	for k, f := range final {
		if lww[k] {
			lwwFinal[k] = f
		} else {
			siblingsFinal[k] = f
		}
	}
	var vs []Violation
	add := func(name string, found []Violation, checked int) {
		vs = append(vs, found...)
		r.Checked[name] += checked
	}
	found, n := lostWrites(siblingsOps, siblingsFinal)
	add(CheckLostWrites, found, n)
	found, n = siblings(siblingsOps, siblingsFinal)
	add(CheckSiblings, found, n)
	found, n = siblingsLWW(lwwOps, lwwFinal)
	add(CheckSiblingsLWW, found, n)
	add(CheckDotReuse, DotReuse(issued), len(issued))
	found, n = strictReads(run.History, run.Faults)
	add(CheckStrictReads, found, n)
	if demoted > 0 {
		r.Checked["Losable"] = demoted
	}
	r.Violations = sortViolations(vs)
	return r
}

// ErrMalformed is wrapped by Validate's errors.
var ErrMalformed = errors.New("check: malformed history")

// Validate rejects histories the checkers cannot judge: indices out of
// place, unknown kinds or types, completion before invocation, puts without
// a value or with a value used before, deletes with a value, invalid
// contexts, acknowledged writes without a dot, gets carrying write fields,
// and reads whose result is inconsistent (siblings without a context,
// siblings of a deleted key, duplicate siblings, results on a get that did
// not succeed).
func Validate(h []Op) error {
	bad := func(o Op, format string, args ...any) error {
		return fmt.Errorf("%w: op %d: %s", ErrMalformed, o.Index, fmt.Sprintf(format, args...))
	}
	values := map[string]int{}
	for i, o := range h {
		if o.Index != i {
			return fmt.Errorf("%w: op at position %d has index %d", ErrMalformed, i, o.Index)
		}
		if o.Kind < Get || o.Kind > Delete {
			return bad(o, "unknown kind %v", o.Kind)
		}
		if o.Type < OK || o.Type > Info {
			return bad(o, "unknown type %v", o.Type)
		}
		if o.End < o.Start {
			return bad(o, "ends at %d before it starts at %d", o.End, o.Start)
		}
		if o.isWrite() {
			if o.W < 0 || o.DW < 0 || o.DW > max(o.W, 1) {
				return bad(o, "bad quorum w=%d dw=%d", o.W, o.DW)
			}
			if len(o.Siblings) > 0 || o.Deleted || o.ReadContext != nil {
				return bad(o, "%v carries read results", o.Kind)
			}
			if err := o.Context.Validate(); err != nil {
				return bad(o, "context: %v", err)
			}
			if o.Dot.Counter == 0 && o.Dot.Actor != 0 {
				return bad(o, "dot %v has a zero counter", o.Dot)
			}
			if o.Type == OK && o.Dot == (dvv.Dot{}) {
				return bad(o, "acknowledged %v without a dot", o.Kind)
			}
			for _, d := range o.MoreDots {
				if d.Counter == 0 || o.Dot == (dvv.Dot{}) {
					return bad(o, "further dot %v without a first one, or with a zero counter", d)
				}
			}
		}
		switch o.Kind {
		case Put:
			if o.Value == "" {
				return bad(o, "put without a value")
			}
			if j, dup := values[o.Value]; dup {
				return bad(o, "put value %q already written by op %d", o.Value, j)
			}
			values[o.Value] = i
		case Delete:
			if o.Value != "" {
				return bad(o, "delete with a value")
			}
		case Get:
			if o.Value != "" || o.Context != nil || o.Dot != (dvv.Dot{}) || o.MoreDots != nil {
				return bad(o, "get carries write fields")
			}
			if o.Type != OK {
				if len(o.Siblings) > 0 || o.Deleted || o.ReadContext != nil {
					return bad(o, "%v get carries read results", o.Type)
				}
				continue
			}
			if err := o.ReadContext.Validate(); err != nil {
				return bad(o, "read context: %v", err)
			}
			if len(o.Siblings) > 0 && len(o.ReadContext) == 0 {
				return bad(o, "get read siblings without a context")
			}
			if o.Deleted && len(o.Siblings) > 0 {
				return bad(o, "get read siblings of a deleted key")
			}
			if o.Deleted && len(o.ReadContext) == 0 {
				return bad(o, "get read a tombstone without a context")
			}
			seen := map[string]bool{}
			for _, s := range o.Siblings {
				if seen[s] {
					return bad(o, "get read sibling %q twice", s)
				}
				seen[s] = true
			}
		}
	}
	return nil
}

// byKey groups h by key, each group in history order, and returns the keys
// of h and of final, sorted.
func byKey(h []Op, final map[string]Final) (map[string][]Op, []string) {
	groups := map[string][]Op{}
	for _, o := range h {
		groups[o.Key] = append(groups[o.Key], o)
	}
	keys := make([]string, 0, len(groups)+len(final))
	for k := range groups {
		keys = append(keys, k)
	}
	for k := range final {
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return groups, keys
}

// sortedLive returns f's live values, sorted.
func sortedLive(f Final) []string {
	vs := make([]string, 0, len(f.Live))
	for v := range f.Live {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}
