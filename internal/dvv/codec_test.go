package dvv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

func TestVVRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWorld(t)
		v := w.drawContext(t)
		tail := rapid.SliceOf(rapid.Byte()).Draw(t, "tail")
		b := AppendVV([]byte("prefix"), v)
		got, rest, err := DecodeVV(append(b[len("prefix"):], tail...))
		if err != nil {
			t.Fatalf("DecodeVV(AppendVV(%v)): %v", v, err)
		}
		if !got.Equal(v) || !bytes.Equal(rest, tail) {
			t.Fatalf("round trip of %v gave %v with rest %x, want rest %x", v, got, rest, tail)
		}
	})
}

func uvarints(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func TestDecodeVVRejectsMalformedInput(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":          nil,
		"truncated":      uvarints(2, 1, 1, 2),
		"zero counter":   uvarints(1, 5, 0),
		"unsorted":       uvarints(2, 5, 1, 4, 1),
		"duplicate":      uvarints(2, 5, 1, 5, 2),
		"too many":       uvarints(MaxActors + 1),
		"count > bytes":  uvarints(100, 1, 1),
		"overlong count": {0x81, 0x00, 1, 1},
		"overlong actor": {0x01, 0x80, 0x00, 1},
		"overflow":       {0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1},
	} {
		if v, _, err := DecodeVV(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeVV(%x) = %v, %v; want ErrCorrupt", name, b, v, err)
		}
	}
}

func TestDecodeVVAcceptsMaxActors(t *testing.T) {
	var v VV
	for a := range uint64(MaxActors) {
		v = append(v, Dot{a << 50, a + 1})
	}
	got, rest, err := DecodeVV(AppendVV(nil, v))
	if err != nil || !got.Equal(v) || len(rest) != 0 {
		t.Fatalf("DecodeVV of %d actors: %v", MaxActors, err)
	}
}

func FuzzDecodeVV(f *testing.F) {
	f.Add(AppendVV(nil, nil))
	f.Add(AppendVV(nil, VV{{1, 1}, {1 << 63, 1 << 40}}))
	f.Add(uvarints(2, 5, 1, 4, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, rest, err := DecodeVV(b)
		if err != nil {
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("decoded an invalid VV: %v", err)
		}
		if re := AppendVV(nil, v); !bytes.Equal(append(re, rest...), b) {
			t.Fatalf("DecodeVV(%x) re-encodes to %x", b, re)
		}
	})
}
