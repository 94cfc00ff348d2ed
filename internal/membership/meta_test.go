package membership

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

var (
	testKeys    = []string{"b/x", "b/y"}
	testWriters = []string{"n1", "n2"}
	testValues  = [][]byte{nil, []byte("1")}
)

func entryGen() *rapid.Generator[Entry] {
	return rapid.Custom(func(t *rapid.T) Entry {
		e := Entry{
			Deleted: rapid.Bool().Draw(t, "deleted"),
			Stamp: Stamp{
				Wall:    rapid.Int64Range(-1, 0).Draw(t, "wall"),
				Logical: rapid.Uint32Range(0, 1).Draw(t, "logical"),
			},
			Writer: rapid.SampledFrom(testWriters).Draw(t, "writer"),
		}
		if !e.Deleted {
			e.Value = rapid.SampledFrom(testValues).Draw(t, "value")
		}
		return e
	})
}

func metaGen() *rapid.Generator[Meta] {
	return rapid.Custom(func(t *rapid.T) Meta {
		var m Meta
		n := rapid.IntRange(0, 6).Draw(t, "n")
		for range n {
			m.MergeEntry(rapid.SampledFrom(testKeys).Draw(t, "key"), entryGen().Draw(t, "entry"))
		}
		return m
	})
}

func mergedMeta(ms ...Meta) Meta {
	var out Meta
	for _, m := range ms {
		out.Merge(m)
	}
	return out
}

func TestMetaMergeCommutative(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := metaGen().Draw(t, "a"), metaGen().Draw(t, "b")
		if !mergedMeta(a, b).Equal(mergedMeta(b, a)) {
			t.Fatal("a+b differs from b+a")
		}
	})
}

func TestMetaMergeAssociative(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := metaGen().Draw(t, "a"), metaGen().Draw(t, "b"), metaGen().Draw(t, "c")
		if !mergedMeta(mergedMeta(a, b), c).Equal(mergedMeta(a, mergedMeta(b, c))) {
			t.Fatal("(a+b)+c differs from a+(b+c)")
		}
	})
}

func TestMetaMergeIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := metaGen().Draw(t, "a"), metaGen().Draw(t, "b")
		m := mergedMeta(a, b)
		before := m.Clone()
		if m.Merge(a) || m.Merge(m.Clone()) {
			t.Fatal("merging an included map reported a change")
		}
		if !m.Equal(before) {
			t.Fatal("merging again changed the map")
		}
	})
}

func TestMetaMergeReportsChange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := metaGen().Draw(t, "a"), metaGen().Draw(t, "b")
		before := a.Clone()
		if changed := a.Merge(b); changed == a.Equal(before) {
			t.Fatalf("Merge reported changed=%v", changed)
		}
	})
}

// A local write supersedes whatever the replica has seen for the key, even
// when the local clock is behind the stamps it has seen.
func TestMetaWriteSupersedes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := metaGen().Draw(t, "m")
		key := rapid.SampledFrom(testKeys).Draw(t, "key")
		wall := rapid.Int64Range(-3, 3).Draw(t, "wall")
		writer := rapid.SampledFrom(testWriters).Draw(t, "writer")
		prev, hadPrev := m.Get(key)
		before := m.Clone()
		var e Entry
		var err error
		if rapid.Bool().Draw(t, "delete") {
			e, err = m.Delete(key, wall, writer)
		} else {
			e, err = m.Write(key, []byte("new"), wall, writer)
		}
		if err != nil {
			t.Fatal(err)
		}
		if hadPrev && e.Stamp.Compare(prev.Stamp) <= 0 {
			t.Fatalf("new stamp %+v not after %+v", e.Stamp, prev.Stamp)
		}
		if e.Stamp.Wall < wall {
			t.Fatalf("new stamp %+v earlier than the clock %d", e.Stamp, wall)
		}
		// The write survives merging the replica's earlier content back.
		if m.Merge(before) {
			t.Fatal("earlier content overwrote the new write")
		}
		if got, _ := m.Get(key); compareEntries(got, e) != 0 {
			t.Fatalf("stored %+v, returned %+v", got, e)
		}
	})
}

func TestMetaValueAndDelete(t *testing.T) {
	var m Meta
	if _, err := m.Write("k", []byte("v1"), 10, "n1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Value("k"); !ok || string(v) != "v1" {
		t.Fatalf("got %q %v", v, ok)
	}
	// A clock that went backwards still supersedes.
	if _, err := m.Delete("k", 5, "n2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Value("k"); ok {
		t.Fatal("deleted key still has a value")
	}
	if keys := m.Keys(); len(keys) != 0 {
		t.Fatalf("keys %v, want none", keys)
	}
	in := []byte("abc")
	if _, err := m.Write("k", in, 20, "n1"); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	if v, _ := m.Value("k"); !bytes.Equal(v, []byte("abc")) {
		t.Fatalf("Write kept the caller's slice: %q", v)
	}
	if _, err := m.Write("", nil, 1, "n1"); err == nil {
		t.Fatal("empty key accepted")
	}
	if _, err := m.Write("k", make([]byte, MaxMetaValueBytes+1), 1, "n1"); err == nil {
		t.Fatal("oversized value accepted")
	}
	if _, err := m.Write("k", nil, 1, ""); err == nil {
		t.Fatal("empty writer accepted")
	}
}

func TestStampNext(t *testing.T) {
	cases := []struct {
		s    Stamp
		wall int64
		want Stamp
	}{
		{Stamp{}, 5, Stamp{Wall: 5}},
		{Stamp{Wall: 5}, 5, Stamp{Wall: 5, Logical: 1}},
		{Stamp{Wall: 5, Logical: 3}, 2, Stamp{Wall: 5, Logical: 4}},
		{Stamp{Wall: 5, Logical: ^uint32(0)}, 2, Stamp{Wall: 6}},
	}
	for _, c := range cases {
		if got := c.s.Next(c.wall); got != c.want {
			t.Errorf("%+v.Next(%d) = %+v, want %+v", c.s, c.wall, got, c.want)
		}
	}
}
