package storage_test

import (
	"bytes"
	"cmp"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/tutti-kv/tutti/internal/storage"
)

type objectID struct {
	partition, segment int
	bucket, key        []byte
}

func drawObjectID(t *rapid.T, label string) objectID {
	// Small ranges make equal partitions and segments common, and the
	// extremes test the ends of the uint16 range.
	index := rapid.OneOf(
		rapid.IntRange(0, 3),
		rapid.IntRange(storage.MaxPartitions-3, storage.MaxPartitions-1),
		rapid.IntRange(0, storage.MaxPartitions-1),
	)
	return objectID{
		partition: index.Draw(t, label+".partition"),
		segment:   index.Draw(t, label+".segment"),
		// Buckets up to 200 bytes need a two-byte uvarint length.
		bucket: rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, label+".bucket"),
		key:    rapid.SliceOfN(rapid.Byte(), 0, 20).Draw(t, label+".key"),
	}
}

func TestParseObjectKeyInvertsObjectKey(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id := drawObjectID(t, "id")
		k := storage.ObjectKey(id.partition, id.segment, id.bucket, id.key)
		p, s, bucket, key, err := storage.ParseObjectKey(k)
		if err != nil {
			t.Fatalf("ParseObjectKey(%x): %v", k, err)
		}
		if p != id.partition || s != id.segment || !bytes.Equal(bucket, id.bucket) || !bytes.Equal(key, id.key) {
			t.Fatalf("ParseObjectKey(ObjectKey(%d, %d, %q, %q)) = %d, %d, %q, %q",
				id.partition, id.segment, id.bucket, id.key, p, s, bucket, key)
		}
		prefix := []byte("prefix")
		appended := storage.AppendObjectKey(prefix, id.partition, id.segment, id.bucket, id.key)
		if !bytes.Equal(appended, append([]byte("prefix"), k...)) {
			t.Fatalf("AppendObjectKey = %x, want prefix then %x", appended, k)
		}
	})
}

func TestObjectKeyOrderAndBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := drawObjectID(t, "a"), drawObjectID(t, "b")
		ka := storage.ObjectKey(a.partition, a.segment, a.bucket, a.key)
		kb := storage.ObjectKey(b.partition, b.segment, b.bucket, b.key)
		order := cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.segment, b.segment))
		if order != 0 && bytes.Compare(ka, kb) != order {
			t.Fatalf("keys of (%d, %d) and (%d, %d) compare as %d, want %d",
				a.partition, a.segment, b.partition, b.segment, bytes.Compare(ka, kb), order)
		}
		lower, upper := storage.PartitionBounds(b.partition)
		if in := inRange(ka, lower, upper); in != (a.partition == b.partition) {
			t.Fatalf("key of partition %d in PartitionBounds(%d) = %v", a.partition, b.partition, in)
		}
		lower, upper = storage.SegmentBounds(b.partition, b.segment)
		same := a.partition == b.partition && a.segment == b.segment
		if in := inRange(ka, lower, upper); in != same {
			t.Fatalf("key of (%d, %d) in SegmentBounds(%d, %d) = %v", a.partition, a.segment, b.partition, b.segment, in)
		}
		meta := storage.MetaKey(string(a.key))
		if bytes.Compare(meta, ka) >= 0 {
			t.Fatalf("MetaKey(%q) sorts after object key %x", a.key, ka)
		}
		if _, _, _, _, err := storage.ParseObjectKey(meta); !errors.Is(err, storage.ErrMalformedKey) {
			t.Fatalf("ParseObjectKey(MetaKey) = %v, want ErrMalformedKey", err)
		}
	})
}

func inRange(k, lower, upper []byte) bool {
	return bytes.Compare(k, lower) >= 0 && bytes.Compare(k, upper) < 0
}

func TestBoundsAtTheEnds(t *testing.T) {
	last := storage.MaxPartitions - 1
	bounds := func(lower, upper []byte) [2][]byte { return [2][]byte{lower, upper} }
	tests := []struct {
		name      string
		got, want [2][]byte
	}{
		{"first partition", bounds(storage.PartitionBounds(0)), bounds([]byte{1, 0, 0, 0, 0}, []byte{1, 0, 1})},
		{"last partition", bounds(storage.PartitionBounds(last)), bounds([]byte{1, 0xff, 0xff, 0, 0}, []byte{2})},
		{"last segment", bounds(storage.SegmentBounds(7, last)), bounds([]byte{1, 0, 7, 0xff, 0xff}, []byte{1, 0, 8})},
		{"very last segment", bounds(storage.SegmentBounds(last, last)), bounds([]byte{1, 0xff, 0xff, 0xff, 0xff}, []byte{2})},
	}
	for _, tc := range tests {
		if !bytes.Equal(tc.got[0], tc.want[0]) || !bytes.Equal(tc.got[1], tc.want[1]) {
			t.Errorf("%s: bounds [%x, %x), want [%x, %x)", tc.name, tc.got[0], tc.got[1], tc.want[0], tc.want[1])
		}
	}
	if got, want := storage.MetaKey("actor"), []byte("\x00actor"); !bytes.Equal(got, want) {
		t.Errorf("MetaKey(actor) = %q, want %q", got, want)
	}
}

func TestObjectKeyPanicsOutOfRange(t *testing.T) {
	for _, ps := range [][2]int{{-1, 0}, {0, -1}, {storage.MaxPartitions, 0}, {0, storage.MaxPartitions}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ObjectKey(%d, %d) did not panic", ps[0], ps[1])
				}
			}()
			storage.ObjectKey(ps[0], ps[1], nil, nil)
		}()
	}
}

func TestParseObjectKeyRejects(t *testing.T) {
	for _, k := range [][]byte{
		nil,
		{1, 0, 0, 0},             // short header
		{0, 0, 0, 0, 0, 0},       // metadata prefix
		{2, 0, 0, 0, 0, 0},       // unknown prefix
		{1, 0, 0, 0, 0},          // no bucket length
		{1, 0, 0, 0, 0, 3, 'a'},  // bucket longer than the key
		{1, 0, 0, 0, 0, 0x80},    // truncated uvarint
		{1, 0, 0, 0, 0, 0x80, 0}, // overlong uvarint for 0
	} {
		if _, _, _, _, err := storage.ParseObjectKey(k); !errors.Is(err, storage.ErrMalformedKey) {
			t.Errorf("ParseObjectKey(%x) = %v, want ErrMalformedKey", k, err)
		}
	}
}

func FuzzParseObjectKey(f *testing.F) {
	f.Add(storage.ObjectKey(3, 9, []byte("bucket"), []byte("key")))
	f.Add(storage.ObjectKey(65535, 0, bytes.Repeat([]byte("b"), 300), nil))
	f.Add([]byte{1, 0, 0, 0, 0, 0x80, 0})
	f.Add(storage.MetaKey("identity"))
	f.Fuzz(func(t *testing.T, k []byte) {
		p, s, bucket, key, err := storage.ParseObjectKey(k)
		if err != nil {
			return
		}
		// Every accepted key is the one ObjectKey makes for its parts.
		if again := storage.ObjectKey(p, s, bucket, key); !bytes.Equal(again, k) {
			t.Fatalf("ParseObjectKey(%x) = %d, %d, %q, %q, which encodes as %x", k, p, s, bucket, key, again)
		}
	})
}

func TestHintKeys(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id := drawObjectID(t, "id")
		owner := rapid.StringN(0, 40, 300).Draw(t, "owner")
		other := rapid.StringN(0, 40, 300).Draw(t, "other")
		k := storage.HintKey(owner, id.partition, id.segment, id.bucket, id.key)
		o, p, s, bucket, key, err := storage.ParseHintKey(k)
		if err != nil || o != owner || p != id.partition || s != id.segment || !bytes.Equal(bucket, id.bucket) || !bytes.Equal(key, id.key) {
			t.Fatalf("ParseHintKey(HintKey(%q, %d, %d, %q, %q)) = %q, %d, %d, %q, %q, %v",
				owner, id.partition, id.segment, id.bucket, id.key, o, p, s, bucket, key, err)
		}
		lower, upper := storage.HintBounds(owner)
		if bytes.Compare(k, lower) < 0 || bytes.Compare(k, upper) >= 0 {
			t.Fatalf("hint key %x outside its owner's bounds [%x, %x)", k, lower, upper)
		}
		if other != owner {
			ko := storage.HintKey(other, id.partition, id.segment, id.bucket, id.key)
			if bytes.Compare(ko, lower) >= 0 && bytes.Compare(ko, upper) < 0 {
				t.Fatalf("hint for %q inside %q's bounds", other, owner)
			}
		}
		// Hints never fall inside any partition's object range.
		pl, pu := storage.PartitionBounds(id.partition)
		if bytes.Compare(k, pl) >= 0 && bytes.Compare(k, pu) < 0 {
			t.Fatal("hint key inside an object range")
		}
		if _, _, _, _, _, err := storage.ParseHintKey(storage.ObjectKey(id.partition, id.segment, id.bucket, id.key)); !errors.Is(err, storage.ErrMalformedKey) {
			t.Fatalf("ParseHintKey accepted an object key: %v", err)
		}
	})
	for _, bad := range [][]byte{nil, {0x02}, {0x02, 0x80}, {0x02, 5, 'a'}, {0x02, 0x81, 0x00, 'a'}} {
		if _, _, _, _, _, err := storage.ParseHintKey(bad); !errors.Is(err, storage.ErrMalformedKey) {
			t.Errorf("ParseHintKey(%x) = %v, want ErrMalformedKey", bad, err)
		}
	}
}
