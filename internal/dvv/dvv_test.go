package dvv

import (
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

func TestSyncIsCommutativeAssociativeIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		a, b, c := w.drawState(t, "a"), w.drawState(t, "b"), w.drawState(t, "c")
		ab := Sync(a, b)
		mustValid(t, "Sync(a, b)", ab)
		if ba := Sync(b, a); !equalSets(ab, ba) {
			t.Fatalf("not commutative:\nSync(a, b) = %+v\nSync(b, a) = %+v", ab, ba)
		}
		left, right := Sync(ab, c), Sync(a, Sync(b, c))
		if !equalSets(left, right) {
			t.Fatalf("not associative:\n(ab)c = %+v\na(bc) = %+v", left, right)
		}
		if aa := Sync(a, a); !equalSets(aa, a) {
			t.Fatalf("not idempotent: Sync(a, a) = %+v, a = %+v", aa, a)
		}
		if again := Sync(ab, b); !equalSets(again, ab) {
			t.Fatalf("syncing with a side already merged changed the state: %+v -> %+v", ab, again)
		}
	})
}

func TestSyncKeepsEntriesTheOtherSideHasNotSeen(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		a, b := w.drawState(t, "a"), w.drawState(t, "b")
		got := Sync(a, b)
		if want := a.Context.Merge(b.Context); !got.Context.Equal(want) {
			t.Fatalf("context %v, want %v", got.Context, want)
		}
		for _, side := range []struct{ self, other Set[int] }{{a, b}, {b, a}} {
			for _, e := range side.self.Entries {
				kept := slices.Contains(got.Entries, e)
				if !side.other.Context.Covers(e.Dot) && !kept {
					t.Fatalf("dropped %v, which the other side has not seen", e.Dot)
				}
				if slices.Contains(side.other.Entries, e) && !kept {
					t.Fatalf("dropped %v, which both sides hold", e.Dot)
				}
			}
		}
		for _, e := range got.Entries {
			if !slices.Contains(a.Entries, e) && !slices.Contains(b.Entries, e) {
				t.Fatalf("entry %v comes from neither side", e.Dot)
			}
		}
	})
}

func TestUpdateSupersedesExactlyWhatTheContextCovers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		s := w.drawState(t, "state")
		ctx := w.drawContext(t)
		i := rapid.IntRange(0, len(w.actors)-1).Draw(t, "coordinator")
		dot := Dot{w.actors[i], w.nextCounter(t, i)}
		got, err := s.Update(ctx, dot, -1)
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		mustValid(t, "Update", got)
		var want []Entry[int]
		for _, e := range s.Entries {
			if !ctx.Covers(e.Dot) {
				want = append(want, e)
			}
		}
		want = append(want, Entry[int]{dot, -1})
		slices.SortFunc(want, func(a, b Entry[int]) int { return a.Dot.Compare(b.Dot) })
		if !slices.Equal(got.Entries, want) {
			t.Fatalf("Update(%v, %v) on %+v:\nentries %v\nwant    %v", ctx, dot, s, got.Entries, want)
		}
		if wantCtx := s.Context.Merge(ctx).Add(dot); !got.Context.Equal(wantCtx) {
			t.Fatalf("context %v, want %v", got.Context, wantCtx)
		}
	})
}

func TestUpdateRejectsStaleDots(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		s := w.drawState(t, "state")
		ctx := w.drawContext(t)
		seen := s.Context.Merge(ctx)
		if len(seen) == 0 {
			t.Skip("nothing seen yet")
		}
		d := rapid.SampledFrom(seen).Draw(t, "seen")
		stale := Dot{d.Actor, rapid.Uint64Range(0, d.Counter).Draw(t, "counter")}
		if _, err := s.Update(ctx, stale, -1); !errors.Is(err, ErrStaleDot) {
			t.Fatalf("Update with covered dot %v: err = %v, want ErrStaleDot", stale, err)
		}
	})
}

func TestEntriesAreExactlyTheUnsupersededWrites(t *testing.T) {
	// Brute-force oracle: a write is superseded once some other write's
	// client context covered it. Every reachable state, and the sync of all
	// replicas, must hold exactly the writes it has seen that no write it has
	// seen superseded.
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		var all Set[int]
		for _, r := range w.replicas {
			all = Sync(all, r)
		}
		for _, s := range append(w.states, all) {
			if got, want := s.Dots(), w.unsuperseded(s.Context); !slices.Equal(got, want) {
				t.Fatalf("state with context %v holds %v, want %v", s.Context, got, want)
			}
		}
		if len(w.writes) > 0 && len(all.Entries) == 0 {
			t.Fatal("writes happened but the merged state is empty")
		}
	})
}

func TestVVMergeIsALattice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		a, b, c := w.drawContext(t), w.drawContext(t), w.drawContext(t)
		ab := a.Merge(b)
		if err := ab.Validate(); err != nil {
			t.Fatalf("Merge: %v", err)
		}
		if !ab.Equal(b.Merge(a)) || !ab.Merge(c).Equal(a.Merge(b.Merge(c))) || !a.Merge(a).Equal(a) {
			t.Fatal("Merge is not commutative, associative and idempotent")
		}
		if !ab.Descends(a) || !ab.Descends(b) {
			t.Fatalf("%v does not descend from its inputs %v and %v", ab, a, b)
		}
		for _, d := range ab {
			if d.Counter != max(a.Get(d.Actor), b.Get(d.Actor)) {
				t.Fatalf("Merge(%v, %v) = %v is not the pointwise max", a, b, ab)
			}
		}
		if a.Descends(b) && b.Descends(a) && !a.Equal(b) {
			t.Fatalf("%v and %v descend from each other but differ", a, b)
		}
	})
}

func TestVVBasics(t *testing.T) {
	v := VV{}.Add(Dot{7, 3}).Add(Dot{2, 9}).Add(Dot{7, 1})
	if want := (VV{{2, 9}, {7, 3}}); !v.Equal(want) {
		t.Fatalf("Add built %v, want %v", v, want)
	}
	if v.Get(7) != 3 || v.Get(5) != 0 {
		t.Fatal("Get is wrong")
	}
	if !v.Covers(Dot{2, 9}) || v.Covers(Dot{2, 10}) || v.Covers(Dot{5, 1}) {
		t.Fatal("Covers is wrong")
	}
	if !v.Descends(VV{{7, 2}}) || v.Descends(VV{{7, 4}}) || (VV{}).Descends(v) {
		t.Fatal("Descends is wrong")
	}
	before := slices.Clone(v)
	_ = v.Add(Dot{2, 100})
	_ = v.Merge(VV{{1, 1}, {7, 50}})
	if !v.Equal(before) {
		t.Fatal("a method modified its receiver")
	}
	for _, bad := range []VV{{{1, 0}}, {{2, 1}, {1, 1}}, {{1, 1}, {1, 2}}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestUpdateDoesNotModifyItsInput(t *testing.T) {
	s, _ := Set[int]{}.Update(nil, Dot{1, 5}, 1)
	s, _ = s.Update(nil, Dot{2, 5}, 2)
	before := Set[int]{Context: slices.Clone(s.Context), Entries: slices.Clone(s.Entries)}
	if _, err := s.Update(VV{{1, 5}}, Dot{1, 6}, 3); err != nil {
		t.Fatal(err)
	}
	_ = Sync(s, Set[int]{Context: VV{{2, 9}}})
	if !equalSets(s, before) {
		t.Fatalf("input changed from %+v to %+v", before, s)
	}
}

func TestUpdateRefusesTooManyActors(t *testing.T) {
	var ctx VV
	for a := range uint64(MaxActors) {
		ctx = append(ctx, Dot{a, 1})
	}
	if _, err := (Set[int]{}).Update(ctx, Dot{MaxActors, 1}, 0); !errors.Is(err, ErrTooManyActors) {
		t.Fatalf("err = %v, want ErrTooManyActors", err)
	}
	if _, err := (Set[int]{}).Update(ctx, Dot{0, 2}, 0); err != nil {
		t.Fatalf("a write by a known actor failed: %v", err)
	}
}

func TestValidateRejectsBrokenInvariants(t *testing.T) {
	for name, s := range map[string]Set[int]{
		"uncovered":  {Context: VV{{1, 1}}, Entries: []Entry[int]{{Dot: Dot{1, 2}}}},
		"unsorted":   {Context: VV{{1, 5}}, Entries: []Entry[int]{{Dot: Dot{1, 3}}, {Dot: Dot{1, 2}}}},
		"duplicate":  {Context: VV{{1, 5}}, Entries: []Entry[int]{{Dot: Dot{1, 3}}, {Dot: Dot{1, 3}}}},
		"zero dot":   {Context: VV{{1, 5}}, Entries: []Entry[int]{{Dot: Dot{1, 0}}}},
		"bad vector": {Context: VV{{2, 5}, {1, 5}}},
	} {
		if err := s.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}
