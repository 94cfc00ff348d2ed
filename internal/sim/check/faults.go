package check

import (
	"fmt"
	"slices"
)

// FaultKind is a fault that can destroy stored data.
type FaultKind uint8

// The faults the checkers account for.
const (
	// Crash is a power loss: a node loses every write it had not fsynced.
	Crash FaultKind = iota + 1
	// Wipe is the loss of a node's data directory: it loses everything.
	Wipe
)

func (k FaultKind) String() string {
	switch k {
	case Crash:
		return "crash"
	case Wipe:
		return "wipe"
	}
	return fmt.Sprintf("fault(%d)", uint8(k))
}

// Fault is one data-destroying fault of a run, at a virtual time.
type Fault struct {
	Time int64
	Node string
	Kind FaultKind
}

// Losable reports whether an acknowledged write o may have been destroyed
// by faults without any bug: the guarantee (DESIGN section 2) is that a
// write survives power loss of every replica but one that fsynced it. So
// a write with DW = 0 is losable once any node crashed or lost its data
// after the write began, and a write with DW >= 1 once DW distinct nodes
// lost their data directories after it began (its fsynced copies may have
// been exactly there). Only faults of the key's replicas count. The checkers treat a losable acknowledged write as
// one whose outcome is unknown.
func Losable(o Op, faults []Fault) bool {
	if !o.isWrite() {
		return false
	}
	wiped := map[string]bool{}
	for _, f := range faults {
		if f.Time < o.Start || !o.holds(f.Node) {
			continue
		}
		if o.DW == 0 {
			return true
		}
		if f.Kind == Wipe {
			wiped[f.Node] = true
		}
	}
	return o.DW > 0 && len(wiped) >= o.DW
}

// holds reports whether node may hold o's key.
func (o Op) holds(node string) bool {
	return o.Replicas == nil || slices.Contains(o.Replicas, node)
}

// unsettled reports whether faults between write w's start and read r's
// start may have taken w from the replicas r asked: a data loss, or a crash
// when not every acknowledging replica had fsynced w (DW < W).
func unsettled(w, r Op, faults []Fault) bool {
	for _, f := range faults {
		if f.Time < w.Start || f.Time > r.Start || !w.holds(f.Node) {
			continue
		}
		if f.Kind == Wipe || w.DW < w.W {
			return true
		}
	}
	return false
}

// demoteLosable returns h with every losable acknowledged write turned into
// an Info one: it may or may not have survived.
func demoteLosable(h []Op, faults []Fault) ([]Op, int) {
	out := make([]Op, len(h))
	n := 0
	for i, o := range h {
		if o.Type == OK && Losable(o, faults) {
			o.Type = Info
			n++
		}
		out[i] = o
	}
	return out, n
}
