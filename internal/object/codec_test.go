package object

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"pgregory.net/rapid"
)

func TestCodecRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t, rapid.SampledFrom(policies).Draw(t, "policy"))
		o := w.drawState(t, "object")
		enc := Encode(o)
		got, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", o, err)
		}
		if !got.Context.Equal(o.set().Context) || !sameEntries(got.Entries, o.set().Entries) {
			t.Fatalf("round trip of %+v gave %+v", o, got)
		}
		if !bytes.Equal(Encode(got), enc) {
			t.Fatal("re-encoding differs")
		}
		prefix := []byte("prefix")
		if !bytes.Equal(AppendEncode(prefix, o), append(prefix, enc...)) {
			t.Fatal("AppendEncode differs from Encode")
		}
		if Digest(got) != Digest(o) {
			t.Fatal("equal objects have different digests")
		}
	})
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	o, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 1, Counter: 1}, Content{Value: []byte("value")}, Siblings)
	enc := Encode(o)
	got, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 0
	}
	if string(got.Entries[0].Value.Value) != "value" {
		t.Fatalf("decoded value changed with the input buffer: %q", got.Entries[0].Value.Value)
	}
}

func TestDigestDistinguishesObjects(t *testing.T) {
	var empty *Object
	if Digest(empty) != Digest(&Object{}) {
		t.Fatal("nil and empty objects differ")
	}
	a, _, _ := empty.Update(nil, dvv.Dot{Actor: 1, Counter: 1}, Content{Value: []byte("a")}, Siblings)
	b, _, _ := empty.Update(nil, dvv.Dot{Actor: 1, Counter: 1}, Content{Value: []byte("b")}, Siblings)
	c, _, _ := empty.Update(nil, dvv.Dot{Actor: 1, Counter: 2}, Content{Value: []byte("a")}, Siblings)
	if Digest(a) == Digest(b) || Digest(a) == Digest(c) || Digest(a) == Digest(empty) {
		t.Fatal("different objects share a digest")
	}
}

// raw builds an encoding field by field: bytes are appended as they are,
// ints as uvarints.
func raw(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch f := f.(type) {
		case int:
			b = binary.AppendUvarint(b, uint64(f))
		case uint64:
			b = binary.AppendUvarint(b, f)
		case []byte:
			b = append(b, f...)
		case string:
			b = append(b, f...)
		default:
			panic(f)
		}
	}
	return b
}

// entry encodes one entry: actor index, counter, flags, wall 0, logical 0,
// empty content type, then the value.
func entry(actorIndex, counter int, flags byte, value string) []byte {
	return raw(actorIndex, counter, []byte{flags}, 0, 0, 0, len(value), value)
}

func TestDecodeRejectsMalformedInput(t *testing.T) {
	v1 := []byte{FormatVersion}
	ctx := raw(2, 10, 5, 20, 5) // actors 10 and 20, counters 5
	valid := raw(v1, ctx, 2, entry(0, 3, 0, "a"), entry(1, 5, 1, ""))
	if _, err := Decode(valid); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	for name, b := range map[string][]byte{
		"empty":                 nil,
		"version 0":             raw([]byte{0}, ctx, 0),
		"version 2":             raw([]byte{2}, ctx, 0),
		"trailing byte":         raw(valid, []byte{0}),
		"truncated":             valid[:len(valid)-1],
		"no entry count":        raw(v1, ctx),
		"bad context":           raw(v1, 2, 20, 5, 10, 5, 0),
		"unsorted dots":         raw(v1, ctx, 2, entry(1, 5, 0, "a"), entry(0, 3, 0, "b")),
		"unsorted counters":     raw(v1, ctx, 2, entry(0, 4, 0, "a"), entry(0, 3, 0, "b")),
		"duplicate dots":        raw(v1, ctx, 2, entry(0, 3, 0, "a"), entry(0, 3, 0, "a")),
		"uncovered entry":       raw(v1, ctx, 1, entry(0, 6, 0, "a")),
		"zero counter":          raw(v1, ctx, 1, entry(0, 0, 0, "a")),
		"actor index too large": raw(v1, ctx, 1, entry(2, 1, 0, "a")),
		"tombstone with value":  raw(v1, ctx, 1, entry(0, 1, 1, "a")),
		"unknown flag":          raw(v1, ctx, 1, entry(0, 1, 4, "a")),
		"write id flag, no id":  raw(v1, ctx, 1, entry(0, 1, 2, "a")),
		"empty write id":        raw(v1, ctx, 1, entry(0, 1, 2, "a"), 0),
		"write id too long":     raw(v1, ctx, 1, entry(0, 1, 2, "a"), MaxWriteIDBytes+1, bytes.Repeat([]byte{'i'}, MaxWriteIDBytes+1)),
		"count beyond input":    raw(v1, ctx, 3, entry(0, 1, 0, "a")),
		"huge count":            raw(v1, ctx, uint64(1)<<62),
		"value beyond input":    raw(v1, ctx, 1, 0, 1, []byte{0}, 0, 0, 0, 100, "abc"),
		"overlong uvarint":      raw(v1, ctx, 1, []byte{0x80, 0x00}, 1, []byte{0}, 0, 0, 0, 0),
		"logical overflow":      raw(v1, ctx, 1, 0, 1, []byte{0}, 0, uint64(1)<<32, 0, 0),
		"overflowing uvarint":   raw(v1, ctx, 1, 0, 1, []byte{0}, bytes.Repeat([]byte{0xff}, 11), 0, 0, 0),
	} {
		if o, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode(%x) = %+v, %v; want ErrCorrupt", name, b, o, err)
		}
	}
}

func TestEncodingLayout(t *testing.T) {
	// Pin the format: a change here breaks every stored object.
	o, _, _ := (*Object)(nil).Update(nil, dvv.Dot{Actor: 300, Counter: 2},
		Content{Value: []byte("hi"), ContentType: "t", Modified: hlc.Timestamp{Wall: -1, Logical: 3}}, Siblings)
	want := []byte{
		1,             // format version
		1, 0xac, 2, 2, // context: one actor, 300, counter 2
		1,       // one entry
		0, 2, 0, // actor index 0, counter 2, flags
		1, 3, // wall -1 (zig-zag), logical 3
		1, 't', 2, 'h', 'i',
	}
	if got := Encode(o); !bytes.Equal(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
	// A write id sets flag bit 1 and follows the value.
	o, _, _ = (*Object)(nil).Update(nil, dvv.Dot{Actor: 300, Counter: 2},
		Content{Value: []byte("hi"), ContentType: "t", Modified: hlc.Timestamp{Wall: -1, Logical: 3}, WriteID: "k1"}, Siblings)
	want = []byte{
		1,
		1, 0xac, 2, 2,
		1,
		0, 2, 2, // flags: has a write id
		1, 3,
		1, 't', 2, 'h', 'i',
		2, 'k', '1',
	}
	if got := Encode(o); !bytes.Equal(got, want) {
		t.Fatalf("Encode with a write id = %v, want %v", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	var o *Object
	f.Add(Encode(o))
	o, _, _ = o.Update(nil, dvv.Dot{Actor: 1 << 60, Counter: 7}, Content{Value: make([]byte, 100), ContentType: "text/plain", Modified: hlc.Timestamp{Wall: 1_700_000_000_000_000_000}}, Siblings)
	f.Add(Encode(o))
	o, _, _ = o.Update(nil, dvv.Dot{Actor: 3, Counter: 9}, Content{Deleted: true}, Siblings)
	f.Add(Encode(o))
	o, _, _ = o.Update(o.Context, dvv.Dot{Actor: 3, Counter: 20}, Content{Value: []byte("x"), Modified: hlc.Timestamp{Wall: -5, Logical: 1}}, LWW)
	f.Add(Encode(o))
	o, _, _ = o.Update(nil, dvv.Dot{Actor: 4, Counter: 1}, Content{Value: []byte("y"), WriteID: "0123456789abcdef"}, Siblings)
	f.Add(Encode(o))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		mustValid(t, o)
		if re := Encode(o); !bytes.Equal(re, b) {
			t.Fatalf("Decode(%x) re-encodes to %x", b, re)
		}
	})
}
