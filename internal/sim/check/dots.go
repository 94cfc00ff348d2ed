package check

import (
	"cmp"
	"fmt"
	"slices"
)

// DotReuse checks that no dot was issued twice: across every node, crash,
// restart and data loss of a run, each (actor, counter) names one write.
// issued must hold one entry per coordination, in the order they happened;
// a retried request is a new coordination with a new dot. A reuse is
// reported at the later issuance, naming the first. A zero counter is never
// a valid dot and is reported too.
func DotReuse(issued []Issued) []Violation {
	var vs []Violation
	first := map[[2]uint64]Issued{}
	for _, is := range issued {
		if is.Dot.Counter == 0 {
			vs = append(vs, Violation{CheckDotReuse, "", is.Op, fmt.Sprintf(
				"node %s issued dot %v with a zero counter", is.Node, is.Dot)})
			continue
		}
		k := [2]uint64{is.Dot.Actor, is.Dot.Counter}
		if was, dup := first[k]; dup {
			vs = append(vs, Violation{CheckDotReuse, "", is.Op, fmt.Sprintf(
				"node %s issued dot %v for op %d, already issued by node %s for op %d", is.Node, is.Dot, is.Op, was.Node, was.Op)})
			continue
		}
		first[k] = is
	}
	return sortViolations(vs)
}

// StrictReads checks the strict-quorum guarantee: a successful strict get
// (PR+PW > N) sees every strict write to its key acknowledged before the get
// began, that is, its read context covers the dot of every Put or Delete
// with Type OK and Strict whose End is before the get's Start. Writes that
// overlap the get in time may or may not be seen. Sloppy operations are not
// held to this: with sloppy quorums it can fail during partitions. Nor is
// a write that faults between its start and the read's may have destroyed
// on the replicas asked (a data loss, or a crash when DW < W).
func StrictReads(h []Op, faults []Fault) []Violation {
	vs, _ := strictReads(h, faults)
	return vs
}

func strictReads(h []Op, faults []Fault) ([]Violation, int) {
	var vs []Violation
	checked := 0
	groups, keys := byKey(h, nil)
	for _, key := range keys {
		var writes, reads []Op
		for _, o := range groups[key] {
			switch {
			case !o.Strict || o.Type != OK:
			case o.isWrite():
				writes = append(writes, o)
			case o.Kind == Get:
				reads = append(reads, o)
			}
		}
		slices.SortStableFunc(writes, func(a, b Op) int { return cmp.Compare(a.End, b.End) })
		for _, r := range reads {
			checked++
			for _, w := range writes {
				if w.End >= r.Start {
					break
				}
				if !w.coveredBy(r.ReadContext) && !unsettled(w, r, faults) {
					vs = append(vs, Violation{CheckStrictReads, key, r.Index, fmt.Sprintf(
						"strict read (start %d, context %v) missed %s acknowledged at %d", r.Start, r.ReadContext, w.describe(), w.End)})
				}
			}
		}
	}
	return sortViolations(vs), checked
}
