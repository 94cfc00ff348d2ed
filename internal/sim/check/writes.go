package check

import (
	"fmt"

	"github.com/tutti-kv/tutti/internal/dvv"
)

// LostWrites checks that no acknowledged write was lost, by Riak's
// must/may rule. An OK put must be live in the final object unless some
// write to its key that may have happened (OK or Info) sent a context
// covering the put's dot: then it may have been replaced and may be absent.
// A put that failed certainly did not happen, so its value must never be
// live. Call it with siblings-mode keys only: LWW drops concurrent
// acknowledged writes by design.
func LostWrites(h []Op, final map[string]Final) []Violation {
	vs, _ := lostWrites(h, final)
	return vs
}

func lostWrites(h []Op, final map[string]Final) ([]Violation, int) {
	var vs []Violation
	checked := 0
	groups, keys := byKey(h, final)
	for _, key := range keys {
		ops, f := groups[key], final[key]
		for _, p := range ops {
			if p.Kind != Put {
				continue
			}
			_, live := f.Live[p.Value]
			switch p.Type {
			case OK:
				checked++
				if live {
					continue
				}
				if _, ok := coveringWrite(ops, p, func(w Op) bool { return w.Type != Fail }); ok {
					continue
				}
				vs = append(vs, Violation{CheckLostWrites, key, p.Index, fmt.Sprintf(
					"acknowledged put %q (dot %v) is missing from the final object, and no write that may have happened replaced it", p.Value, p.Dot)})
			case Fail:
				checked++
				if live {
					vs = append(vs, Violation{CheckLostWrites, key, p.Index, fmt.Sprintf(
						"failed put %q is live in the final object", p.Value)})
				}
			}
		}
	}
	return sortViolations(vs), checked
}

// coveringWrite returns the first write among ops, other than p, for which
// keep is true and whose context covers one of p's dots: it replaced p.
func coveringWrite(ops []Op, p Op, keep func(Op) bool) (Op, bool) {
	for _, d := range p.dots() {
		if w, ok := replacingWrite(ops, p, d, keep); ok {
			return w, true
		}
	}
	return Op{}, false
}

// replacingWrite returns the first write among ops, other than p, for
// which keep is true and whose context covers dot, one of p's dots: it
// replaced p's version with that dot. A resent write's other version may
// outlive it, concurrent with the replacing write.
func replacingWrite(ops []Op, p Op, dot dvv.Dot, keep func(Op) bool) (Op, bool) {
	for _, w := range ops {
		if w.isWrite() && w.Index != p.Index && keep(w) && w.Context.Covers(dot) {
			return w, true
		}
	}
	return Op{}, false
}

// applied classifies a write by whether it took effect in the converged
// object.
type applied uint8

const (
	// notApplied: a failed write, one that was never coordinated (no dot),
	// or an Info write the final context does not cover.
	notApplied applied = iota
	// maybeApplied: an Info write whose dot the final context covers, but
	// not as its greatest counter for the actor. An actor's counters skip
	// (one counter serves all keys), so a later write of the same actor
	// makes the context cover a dot whose write was lost, e.g. with the
	// unsynced data of a crash. Such a write may or may not have happened.
	maybeApplied
	// certain: an OK write, or an Info write proven to be in the converged
	// object: its value is live, or the final context holds exactly its
	// counter for its actor (every entry of a context is a dot that was
	// applied).
	certain
)

func classify(w Op, f Final) applied {
	switch {
	case w.Type == OK:
		return certain
	case w.Type == Fail || w.Dot == (dvv.Dot{}):
		return notApplied
	}
	if d, live := f.Live[w.Value]; w.Kind == Put && live && w.hasDot(d) {
		return certain
	}
	best := notApplied
	for _, d := range w.dots() {
		switch c := f.Context.Get(d.Actor); {
		case c == d.Counter:
			return certain
		case c > d.Counter:
			best = maybeApplied
		}
	}
	return best
}

// classifyAll classifies the writes of one key's operations, by index. A
// maybe-applied Info put whose value is not live and whose dot no write that
// may have happened covers did not survive anywhere, so it did not happen
// and its context replaced nothing: it is demoted to notApplied, which may
// in turn uncover other puts, until nothing changes.
func classifyAll(ops []Op, f Final) map[int]applied {
	status := map[int]applied{}
	for _, o := range ops {
		if o.isWrite() {
			status[o.Index] = classify(o, f)
		}
	}
	mayHaveHappened := func(w Op) bool { return status[w.Index] != notApplied }
	for changed := true; changed; {
		changed = false
		for _, o := range ops {
			if o.Kind != Put || status[o.Index] != maybeApplied {
				continue
			}
			if _, ok := coveringWrite(ops, o, mayHaveHappened); !ok {
				status[o.Index] = notApplied
				changed = true
			}
		}
	}
	return status
}

// Siblings checks that each key's final siblings are exactly the writes
// nothing replaced. The applied writes are the OK writes and the Info
// writes proven to be in the converged object (see below); the expected
// siblings are the applied puts whose dot no applied write's context
// covers. It reports
//
//   - invented values: live but never put to this key, put by a write that
//     failed or was not applied, or live with a dot other than the put's;
//   - resurrected values: live although an applied write's context covers
//     them;
//   - dropped values: expected but not live;
//   - a final context that misses an applied write's dot or a live dot;
//   - reads that returned a value never put to the key or put by a failed
//     write.
//
// An Info write counts as applied when its value is live or the final
// context holds exactly its counter for its actor. When the final context
// covers its dot only through a greater counter, the write may have been
// lost (counters skip across keys, so a later write of the same actor
// covers it anyway): values only it replaced may then be absent or live.
// An Info put of that kind whose value is not live and that no write
// replaced did not survive, so it replaced nothing. Call Siblings with
// siblings-mode keys only.
func Siblings(h []Op, final map[string]Final) []Violation {
	vs, _ := siblings(h, final)
	return vs
}

func siblings(h []Op, final map[string]Final) ([]Violation, int) {
	var vs []Violation
	checked := 0
	report := func(key string, op int, format string, args ...any) {
		vs = append(vs, Violation{CheckSiblings, key, op, fmt.Sprintf(format, args...)})
	}
	groups, keys := byKey(h, final)
	for _, key := range keys {
		ops, f := groups[key], final[key]
		status := classifyAll(ops, f)
		puts := map[string]Op{}
		for _, o := range ops {
			if o.Kind == Put {
				puts[o.Value] = o
			}
		}
		isCertain := func(w Op) bool { return status[w.Index] == certain }
		mayHaveHappened := func(w Op) bool { return status[w.Index] != notApplied }

		for _, v := range sortedLive(f) {
			checked++
			d := f.Live[v]
			if !f.Context.Covers(d) {
				report(key, -1, "live value %q has dot %v, which the final context %v does not cover", v, d, f.Context)
			}
			p, ok := puts[v]
			switch {
			case !ok:
				report(key, -1, "invented value %q (dot %v) is live, but no put wrote it to this key", v, d)
				continue
			case p.Type == Fail:
				report(key, p.Index, "invented value %q is live, but its put failed", v)
				continue
			case p.Dot == (dvv.Dot{}):
				report(key, p.Index, "invented value %q is live, but its put was never coordinated (no dot)", v)
				continue
			case !p.hasDot(d):
				report(key, p.Index, "value %q is live with dot %v, but its put was issued dots %v", v, d, p.dots())
				continue
			}
			if w, ok := replacingWrite(ops, p, d, isCertain); ok {
				report(key, p.Index, "resurrected value %q (dot %v) is live, but %s replaced it", v, d, w.describe())
			}
		}

		for _, o := range ops {
			switch {
			case o.isWrite():
				checked++
				if isCertain(o) && !o.coveredBy(f.Context) {
					report(key, o.Index, "final context %v misses applied %s", f.Context, o.describe())
				}
				if o.Kind != Put || !isCertain(o) {
					continue
				}
				if _, live := f.Live[o.Value]; live {
					continue
				}
				if _, ok := coveringWrite(ops, o, mayHaveHappened); ok {
					continue
				}
				report(key, o.Index, "dropped %s: nothing replaced it, but it is not live", o.describe())
			case o.Type == OK:
				checked++
				for _, v := range o.Siblings {
					p, ok := puts[v]
					switch {
					case !ok:
						report(key, o.Index, "read value %q, which no put wrote to this key", v)
					case p.Type == Fail:
						report(key, o.Index, "read value %q of failed put op %d", v, p.Index)
					case p.Dot == (dvv.Dot{}):
						report(key, o.Index, "read value %q of put op %d, which was never coordinated", v, p.Index)
					}
				}
			}
		}
	}
	return sortViolations(vs), checked
}

// SiblingsLWW is the sibling check for last-write-wins keys. LWW keeps only
// the greatest version and drops concurrent writes by design, acknowledged
// or not, so neither "no acknowledged write lost" nor "exactly the writes
// nothing replaced" holds. What must hold: the final object has at most one
// live value, it was written to this key by a put that may have happened
// (OK, or Info with a dot), with the dot that put was issued, and no
// applied write replaced it (causality still rules under LWW: a write that
// saw a version replaces it, whatever the clocks say).
func SiblingsLWW(h []Op, final map[string]Final) []Violation {
	vs, _ := siblingsLWW(h, final)
	return vs
}

func siblingsLWW(h []Op, final map[string]Final) ([]Violation, int) {
	var vs []Violation
	checked := 0
	report := func(key string, op int, format string, args ...any) {
		vs = append(vs, Violation{CheckSiblingsLWW, key, op, fmt.Sprintf(format, args...)})
	}
	groups, keys := byKey(h, final)
	for _, key := range keys {
		ops, f := groups[key], final[key]
		status := classifyAll(ops, f)
		isCertain := func(w Op) bool { return status[w.Index] == certain }
		puts := map[string]Op{}
		for _, o := range ops {
			if o.Kind == Put {
				puts[o.Value] = o
			}
		}
		live := sortedLive(f)
		checked += len(live)
		if len(live) > 1 {
			report(key, -1, "LWW key has %d live values %q, at most one allowed", len(live), live)
		}
		for _, v := range live {
			d := f.Live[v]
			p, ok := puts[v]
			switch {
			case !ok:
				report(key, -1, "invented value %q (dot %v) is live, but no put wrote it to this key", v, d)
			case p.Type == Fail:
				report(key, p.Index, "invented value %q is live, but its put failed", v)
			case p.Dot == (dvv.Dot{}):
				report(key, p.Index, "invented value %q is live, but its put was never coordinated (no dot)", v)
			case !p.hasDot(d):
				report(key, p.Index, "value %q is live with dot %v, but its put was issued dots %v", v, d, p.dots())
			case !f.Context.Covers(d):
				report(key, -1, "live value %q has dot %v, which the final context %v does not cover", v, d, f.Context)
			default:
				if w, ok := replacingWrite(ops, p, d, isCertain); ok {
					report(key, p.Index, "resurrected value %q (dot %v) is live, but %s replaced it", v, d, w.describe())
				}
			}
		}
	}
	return sortViolations(vs), checked
}
