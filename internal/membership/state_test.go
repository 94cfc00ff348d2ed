package membership

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// Small alphabets so that generated states collide on ids, incarnations and
// fields, which is where merge order matters.
var (
	testIDs   = []string{"a", "b", "c"}
	testZones = []string{"", "z1"}
	testAddrs = []string{"", "10.0.0.1:1"}
)

func recordGen() *rapid.Generator[Record] {
	return rapid.Custom(func(t *rapid.T) Record {
		return Record{
			ID:          rapid.SampledFrom(testIDs).Draw(t, "id"),
			Zone:        rapid.SampledFrom(testZones).Draw(t, "zone"),
			GossipAddr:  rapid.SampledFrom(testAddrs).Draw(t, "gossip"),
			GRPCAddr:    rapid.SampledFrom(testAddrs).Draw(t, "grpc"),
			HTTPAddr:    rapid.SampledFrom(testAddrs).Draw(t, "http"),
			Status:      Status(rapid.IntRange(int(Active), int(Removed)).Draw(t, "status")),
			Incarnation: rapid.Uint64Range(0, 2).Draw(t, "incarnation"),
		}
	})
}

// stateGen builds states through MergeRecord, the way gossip builds them.
func stateGen() *rapid.Generator[State] {
	return rapid.Custom(func(t *rapid.T) State {
		var s State
		for _, r := range rapid.SliceOfN(recordGen(), 0, 6).Draw(t, "records") {
			s.MergeRecord(r)
		}
		return s
	})
}

func merged(states ...State) State {
	var out State
	for _, s := range states {
		out.Merge(s)
	}
	return out
}

func TestStateMergeCommutative(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := stateGen().Draw(t, "a"), stateGen().Draw(t, "b")
		if ab, ba := merged(a, b), merged(b, a); !ab.Equal(ba) {
			t.Fatalf("a+b = %v, b+a = %v", ab.Records(), ba.Records())
		}
	})
}

func TestStateMergeAssociative(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := stateGen().Draw(t, "a"), stateGen().Draw(t, "b"), stateGen().Draw(t, "c")
		left := merged(merged(a, b), c)
		right := merged(a, merged(b, c))
		if !left.Equal(right) {
			t.Fatalf("(a+b)+c = %v, a+(b+c) = %v", left.Records(), right.Records())
		}
	})
}

func TestStateMergeIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := stateGen().Draw(t, "a"), stateGen().Draw(t, "b")
		s := merged(a, b)
		before := s.Clone()
		if s.Merge(b) || s.Merge(s.Clone()) {
			t.Fatal("merging a state already included reported a change")
		}
		if !s.Equal(before) {
			t.Fatalf("merging again changed %v into %v", before.Records(), s.Records())
		}
	})
}

func TestStateMergeReportsChange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := stateGen().Draw(t, "a"), stateGen().Draw(t, "b")
		before := a.Clone()
		changed := a.Merge(b)
		if changed == a.Equal(before) {
			t.Fatalf("Merge reported changed=%v; before %v, after %v", changed, before.Records(), a.Records())
		}
	})
}

// A node's own record never loses against an older incarnation, whatever
// it merges, and only a newer incarnation or a tiebreak at its own
// incarnation can replace it.
func TestStateOwnRecordNeverOverwrittenByOlder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		own := recordGen().Draw(t, "own")
		var s State
		if err := s.Set(own); err != nil {
			t.Fatal(err)
		}
		others := stateGen().Draw(t, "others")
		s.Merge(others)
		got, _ := s.Get(own.ID)
		if got.Incarnation < own.Incarnation {
			t.Fatalf("own record %+v replaced by older %+v", own, got)
		}
		if theirs, ok := others.Get(own.ID); !ok || theirs.Incarnation < own.Incarnation {
			if got != own {
				t.Fatalf("own record %+v replaced by %+v though nothing newer was merged", own, got)
			}
		}
	})
}

func TestStateSetRejectsStaleAndInvalid(t *testing.T) {
	var s State
	r := Record{ID: "n1", Status: Active, Incarnation: 5}
	if err := s.Set(r); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(r); err != nil {
		t.Fatalf("rewriting the same record: %v", err)
	}
	older := r
	older.Incarnation = 4
	older.Status = Removed
	if err := s.Set(older); !errors.Is(err, ErrStale) {
		t.Fatalf("older incarnation: got %v, want ErrStale", err)
	}
	if err := s.Set(Record{ID: "n2", Status: 0}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("status 0: got %v, want ErrInvalid", err)
	}
	long := make([]byte, MaxFieldBytes+1)
	if err := s.Set(Record{ID: string(long), Status: Active}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long id: got %v, want ErrInvalid", err)
	}
	if s.MergeRecord(Record{ID: "", Status: Active, Incarnation: 9}) {
		t.Fatal("MergeRecord accepted an invalid record")
	}
	if got, _ := s.Get("n1"); got != r {
		t.Fatalf("got %+v, want %+v", got, r)
	}
}

func TestStateTiebreakOnEqualIncarnation(t *testing.T) {
	active := Record{ID: "n", Status: Active, Incarnation: 7}
	left := Record{ID: "n", Status: Left, Incarnation: 7}
	removed := Record{ID: "n", Status: Removed, Incarnation: 7}
	for _, order := range [][]Record{{active, left, removed}, {removed, left, active}, {left, removed, active}} {
		var s State
		for _, r := range order {
			s.MergeRecord(r)
		}
		if got, _ := s.Get("n"); got.Status != Removed {
			t.Fatalf("order %v: got %s, want removed", order, got.Status)
		}
	}
}

func TestStateMembersAreActiveSortedByID(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := stateGen().Draw(t, "s")
		members := s.Members()
		if !slices.IsSortedFunc(members, func(a, b Record) int {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}) {
			t.Fatalf("members not strictly sorted: %v", members)
		}
		want := 0
		for _, r := range s.Records() {
			if r.Status == Active {
				want++
			}
		}
		if len(members) != want {
			t.Fatalf("%d members, want %d active records", len(members), want)
		}
		for _, m := range members {
			if m.Status != Active {
				t.Fatalf("member %+v is not active", m)
			}
		}
	})
}

func TestMembersDigest(t *testing.T) {
	a := []Record{{ID: "a", Status: Active, Incarnation: 1}, {ID: "b", Status: Active, Incarnation: 1}}
	bumped := slices.Clone(a)
	bumped[1].Incarnation = 2
	if MembersDigest(a) != MembersDigest(bumped) {
		t.Fatal("digest depends on incarnations")
	}
	moved := slices.Clone(a)
	moved[1].Zone = "z"
	if MembersDigest(a) == MembersDigest(moved) {
		t.Fatal("digest ignores zones")
	}
	// Field boundaries count: "ab"+"" differs from "a"+"b".
	x := []Record{{ID: "ab", Status: Active}}
	y := []Record{{ID: "a", Zone: "b", Status: Active}}
	if MembersDigest(x) == MembersDigest(y) {
		t.Fatal("digest ignores field boundaries")
	}
	if MembersDigest(a) == MembersDigest(a[:1]) {
		t.Fatal("digest ignores a missing member")
	}
}

func TestStateCloneIsIndependent(t *testing.T) {
	var s State
	_ = s.Set(Record{ID: "a", Status: Active, Incarnation: 1})
	c := s.Clone()
	_ = c.Set(Record{ID: "a", Status: Left, Incarnation: 2})
	if got, _ := s.Get("a"); got.Status != Active {
		t.Fatalf("writing the clone changed the original: %+v", got)
	}
}
