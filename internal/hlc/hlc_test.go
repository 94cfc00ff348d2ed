package hlc

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

// physicalTimes draws a physical clock that may jump forwards, stall or go
// backwards, as a stepped or skewed clock does.
func physicalTimes(t *rapid.T) []int64 {
	start := rapid.Int64Range(0, 1<<40).Draw(t, "start")
	steps := rapid.SliceOf(rapid.Int64Range(-1000, 1000)).Draw(t, "steps")
	now := make([]int64, len(steps))
	for i, s := range steps {
		start += s
		now[i] = start
	}
	return now
}

func TestNextIsMonotonicWhenPhysicalClockGoesBackwards(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var last Timestamp
		var maxPhysical int64
		for _, now := range physicalTimes(t) {
			next := Next(last, now)
			if !last.Less(next) {
				t.Fatalf("Next(%v, %d) = %v, not after last", last, now, next)
			}
			maxPhysical = max(maxPhysical, now)
			if next.Wall < maxPhysical {
				t.Fatalf("Next(%v, %d) = %v, behind physical time %d", last, now, next, maxPhysical)
			}
			last = next
		}
	})
}

func TestObserveDominatesBoth(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		gen := rapid.Custom(func(t *rapid.T) Timestamp {
			return Timestamp{
				Wall:    rapid.Int64Range(0, 1<<20).Draw(t, "wall"),
				Logical: rapid.Uint32().Draw(t, "logical"),
			}
		})
		last := gen.Draw(t, "last")
		remote := gen.Draw(t, "remote")
		now := rapid.Int64Range(0, 1<<20).Draw(t, "now")
		got := Observe(last, remote, now)
		if !last.Less(got) || !remote.Less(got) {
			t.Fatalf("Observe(%v, %v, %d) = %v, not after both", last, remote, now, got)
		}
		if got.Wall < now {
			t.Fatalf("Observe(%v, %v, %d) = %v, behind physical time", last, remote, now, got)
		}
	})
}

func TestClocksExchangingMessagesRespectCausality(t *testing.T) {
	// Two clocks with skewed physical time stamp a chain of messages: each
	// receive must be after its send, and each clock must stay monotonic.
	rapid.Check(t, func(t *rapid.T) {
		skew := rapid.Int64Range(-1e9, 1e9).Draw(t, "skew")
		var clocks [2]Timestamp
		var inFlight Timestamp
		for i, now := range physicalTimes(t) {
			node := i % 2
			phys := now
			if node == 1 {
				phys += skew
			}
			before := clocks[node]
			if rapid.Bool().Draw(t, "receive") && !inFlight.IsZero() {
				clocks[node] = Observe(clocks[node], inFlight, phys)
				if !inFlight.Less(clocks[node]) {
					t.Fatalf("receive %v not after send %v", clocks[node], inFlight)
				}
			} else {
				clocks[node] = Next(clocks[node], phys)
				inFlight = clocks[node]
			}
			if !before.Less(clocks[node]) {
				t.Fatalf("clock %d went from %v to %v", node, before, clocks[node])
			}
		}
	})
}

func TestLogicalOverflowBorrowsWallTime(t *testing.T) {
	last := Timestamp{Wall: 10, Logical: math.MaxUint32}
	got := Next(last, 5)
	if want := (Timestamp{Wall: 11}); got != want {
		t.Fatalf("Next(%v, 5) = %v, want %v", last, got, want)
	}
	got = Observe(Timestamp{Wall: 3}, last, 5)
	if want := (Timestamp{Wall: 11}); got != want {
		t.Fatalf("Observe = %v, want %v", got, want)
	}
}

func TestNextFollowsPhysicalTime(t *testing.T) {
	last := Timestamp{Wall: 100, Logical: 7}
	if got, want := Next(last, 200), (Timestamp{Wall: 200}); got != want {
		t.Fatalf("Next = %v, want %v", got, want)
	}
	if got, want := Next(last, 100), (Timestamp{Wall: 100, Logical: 8}); got != want {
		t.Fatalf("Next = %v, want %v", got, want)
	}
}

func TestCompareAndIsZero(t *testing.T) {
	a := Timestamp{Wall: 1, Logical: 2}
	b := Timestamp{Wall: 1, Logical: 3}
	c := Timestamp{Wall: 2}
	if !a.Less(b) || !b.Less(c) || c.Less(a) || a.Less(a) {
		t.Fatal("Less does not order by wall then logical")
	}
	if a.Compare(a) != 0 || c.Compare(a) != 1 {
		t.Fatal("Compare is inconsistent with Less")
	}
	if !(Timestamp{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero is wrong")
	}
	if got := c.Time().UnixNano(); got != 2 {
		t.Fatalf("Time().UnixNano() = %d, want 2", got)
	}
}

func BenchmarkNext(b *testing.B) {
	var last Timestamp
	for i := 0; b.Loop(); i++ {
		last = Next(last, int64(i/4))
	}
}

func BenchmarkObserve(b *testing.B) {
	var last Timestamp
	remote := Timestamp{Wall: 1000}
	for i := 0; b.Loop(); i++ {
		last = Observe(last, remote, int64(i/4))
	}
}
