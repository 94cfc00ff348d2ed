package aae

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestSnapshotRoundTrip(t *testing.T) {
	const q = 8
	saved := map[int]*Tree{0: new(Tree), 3: new(Tree), 7: new(Tree)}
	saved[3].Xor(0, 0xdead)
	saved[3].Xor(Segments-1, 0xbeef)
	saved[7].Xor(500, 1)
	got, err := DecodeSnapshot(EncodeSnapshot(q, saved), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(saved) {
		t.Fatalf("decoded %d trees, saved %d", len(got), len(saved))
	}
	for p, want := range saved {
		if got[p] == nil || *got[p] != *want {
			t.Fatalf("partition %d decoded differently", p)
		}
	}
	none, err := DecodeSnapshot(EncodeSnapshot(q, nil), q)
	if err != nil || len(none) != 0 {
		t.Fatalf("empty snapshot: %v, %d trees", err, len(none))
	}
}

// reseal replaces a snapshot's checksum, so that the tests reach the
// checks behind it.
func reseal(b []byte) []byte {
	body := b[:len(b)-8]
	return binary.BigEndian.AppendUint64(append([]byte(nil), body...), xxhash.Sum64(body))
}

func TestSnapshotRefusesWhatItCannotTrust(t *testing.T) {
	const q = 4
	one := map[int]*Tree{1: new(Tree)}
	one[1].Xor(2, 42)
	good := EncodeSnapshot(q, one)

	flipped := append([]byte(nil), good...)
	flipped[20] ^= 1
	oldVersion := append([]byte(nil), good...)
	oldVersion[0] = 0
	outOfRange := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(outOfRange[snapshotHeaderLen:], q)
	twice := EncodeSnapshot(q, map[int]*Tree{1: one[1], 2: one[1]})
	binary.BigEndian.PutUint16(twice[snapshotHeaderLen+snapshotEntryLen:], 1)
	miscounted := append([]byte(nil), good...)
	binary.BigEndian.PutUint32(miscounted[5:], 2)

	for name, tc := range map[string]struct {
		b []byte
		q int
	}{
		"short":             {good[:10], q},
		"damaged":           {flipped, q},
		"another version":   {reseal(oldVersion), q},
		"another Q":         {good, 2 * q},
		"partition too big": {reseal(outOfRange), q},
		"partition twice":   {reseal(twice), q},
		"wrong count":       {reseal(miscounted), q},
	} {
		if _, err := DecodeSnapshot(tc.b, tc.q); !errors.Is(err, ErrSnapshot) {
			t.Errorf("%s: err %v, want ErrSnapshot", name, err)
		}
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(EncodeSnapshot(4, map[int]*Tree{1: new(Tree)}), 4)
	f.Add([]byte{1, 0, 0, 0, 4}, 4)
	f.Fuzz(func(t *testing.T, b []byte, q int) {
		if q < 1 || q > 1<<16 {
			return
		}
		trees, err := DecodeSnapshot(b, q)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if again := EncodeSnapshot(q, trees); string(again) != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestForestSnapshotRestoresTheBuiltTrees(t *testing.T) {
	const q = 4
	f := NewForest(q)
	for _, p := range []int{0, 2} {
		if err := f.Build(p, func(add func(int, uint64)) error { add(p, uint64(p)+7); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Write(2, 9, 0xf00, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	again := NewForest(q)
	n, err := again.Restore(f.Snapshot())
	if err != nil || n != 2 {
		t.Fatalf("restored %d trees, %v; want the 2 built", n, err)
	}
	for p := range q {
		want, wantOK := f.Tree(p)
		got, ok := again.Tree(p)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("partition %d: restored %x (built %v), saved %x (built %v)", p, got.Root(), ok, want.Root(), wantOK)
		}
	}
	if _, err := NewForest(2 * q).Restore(f.Snapshot()); !errors.Is(err, ErrSnapshot) {
		t.Fatalf("a snapshot of another Q: %v", err)
	}
}
