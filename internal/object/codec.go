package object

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
)

// FormatVersion is the first byte of every encoded object.
//
// Layout of version 1 (uvarints are minimal; the form is canonical, so
// equal objects have equal encodings):
//
//	byte     format version (1)
//	vv       context: uvarint count, then per actor uvarint actor, uvarint counter
//	uvarint  number of entries
//	entries, sorted by dot, each:
//	  uvarint  index of the dot's actor in the context
//	  uvarint  dot counter
//	  byte     flags: bit 0 deleted, bit 1 has a write id, other bits zero
//	  varint   Modified.Wall (zig-zag)
//	  uvarint  Modified.Logical
//	  uvarint  content type length, then its bytes
//	  uvarint  value length, then its bytes (zero for tombstones)
//	  only with flag bit 1: uvarint write id length (1 to
//	  MaxWriteIDBytes), then its bytes
//
// The write id came after the first objects were stored; objects without
// one encode as before.
const FormatVersion = 1

// MaxDecodedEntries bounds the entries Decode accepts. It is well above
// MaxSiblings because Update enforces MaxSiblings on one coordinator's view
// and merging the views of several coordinators may add up past it.
const MaxDecodedEntries = 16 * MaxSiblings

// minEncodedEntry is the size of the shortest encoded entry: seven
// one-byte fields.
const minEncodedEntry = 7

const (
	flagDeleted = 1 << iota
	flagWriteID
	knownFlags = flagDeleted | flagWriteID
)

// ErrCorrupt is wrapped by Decode's errors.
var ErrCorrupt = errors.New("object: corrupt encoding")

// Encode returns the binary form of o (see FormatVersion).
func Encode(o *Object) []byte {
	return AppendEncode(nil, o)
}

// AppendEncode appends the binary form of o to dst. It panics if o breaks
// the dvv invariant, which no operation of this package produces.
func AppendEncode(dst []byte, o *Object) []byte {
	s := o.set()
	dst = slices.Grow(dst, sizeBound(s))
	dst = append(dst, FormatVersion)
	dst = dvv.AppendVV(dst, s.Context)
	dst = binary.AppendUvarint(dst, uint64(len(s.Entries)))
	actor := 0 // entries are sorted, so actor indexes only grow
	for _, e := range s.Entries {
		for actor < len(s.Context) && s.Context[actor].Actor != e.Dot.Actor {
			actor++
		}
		if actor == len(s.Context) {
			panic(fmt.Sprintf("object: entry %v is not in the context %v", e.Dot, s.Context))
		}
		c := e.Value
		var flags byte
		if c.Deleted {
			flags |= flagDeleted
		}
		if c.WriteID != "" {
			flags |= flagWriteID
		}
		dst = binary.AppendUvarint(dst, uint64(actor))
		dst = binary.AppendUvarint(dst, e.Dot.Counter)
		dst = append(dst, flags)
		dst = binary.AppendVarint(dst, c.Modified.Wall)
		dst = binary.AppendUvarint(dst, uint64(c.Modified.Logical))
		dst = binary.AppendUvarint(dst, uint64(len(c.ContentType)))
		dst = append(dst, c.ContentType...)
		dst = binary.AppendUvarint(dst, uint64(len(c.Value)))
		dst = append(dst, c.Value...)
		if c.WriteID != "" {
			dst = binary.AppendUvarint(dst, uint64(len(c.WriteID)))
			dst = append(dst, c.WriteID...)
		}
	}
	return dst
}

// sizeBound is an upper bound of the encoded size of s, so that encoding
// allocates once.
func sizeBound(s dvv.Set[Content]) int {
	const maxUvarint = binary.MaxVarintLen64
	n := 1 + maxUvarint + len(s.Context)*2*maxUvarint + maxUvarint
	for _, e := range s.Entries {
		n += 8*maxUvarint + len(e.Value.ContentType) + len(e.Value.Value) + len(e.Value.WriteID)
	}
	return n
}

// Decode parses an encoded object. It accepts only what Encode produces
// from a valid object: a known version, canonical fields, entries sorted by
// unique dots that the context covers, tombstones without values, and no
// trailing bytes. Counts and lengths are checked against the remaining input
// before anything is allocated. The result does not alias b.
func Decode(b []byte) (*Object, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != FormatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, b[0])
	}
	b = bytes.Clone(b[1:]) // values alias this copy, not the caller's buffer
	ctx, b, err := dvv.DecodeVV(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	d := decoder{b: b}
	n := d.uvarint("entry count")
	if d.err == nil && (n > MaxDecodedEntries || n > uint64(len(d.b)/minEncodedEntry)) {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrCorrupt, n, len(d.b))
	}
	var entries []Entry
	if n > 0 {
		entries = make([]Entry, n)
	}
	for i := range entries {
		e := &entries[i]
		actor := d.uvarint("actor index")
		e.Dot.Counter = d.uvarint("counter")
		flags := d.readByte("flags")
		e.Value.Modified = hlc.Timestamp{Wall: d.varint("wall"), Logical: d.uint32("logical")}
		e.Value.ContentType = string(d.lengthPrefixed("content type"))
		e.Value.Value = d.lengthPrefixed("value")
		e.Value.Deleted = flags&flagDeleted != 0
		if flags&flagWriteID != 0 {
			e.Value.WriteID = string(d.lengthPrefixed("write id"))
		}
		switch {
		case d.err != nil:
			return nil, d.err
		case actor >= uint64(len(ctx)):
			return nil, fmt.Errorf("%w: entry %d: actor index %d out of range", ErrCorrupt, i, actor)
		case flags&^knownFlags != 0:
			return nil, fmt.Errorf("%w: entry %d: unknown flags %#x", ErrCorrupt, i, flags)
		case flags&flagWriteID != 0 && (e.Value.WriteID == "" || len(e.Value.WriteID) > MaxWriteIDBytes):
			return nil, fmt.Errorf("%w: entry %d: write id of %d bytes", ErrCorrupt, i, len(e.Value.WriteID))
		case e.Value.Deleted && len(e.Value.Value) > 0:
			return nil, fmt.Errorf("%w: entry %d: tombstone with a value", ErrCorrupt, i)
		}
		e.Dot.Actor = ctx[actor].Actor
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) > 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	set := dvv.Set[Content]{Context: ctx, Entries: entries}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &Object{set}, nil
}

// Digest is a hash of o's canonical encoding: equal objects, and only
// those in practice, have equal digests. Anti-entropy compares them.
func Digest(o *Object) [16]byte {
	return DigestEncoded(Encode(o))
}

// DigestEncoded is Digest of the object whose encoding is b, computed
// without decoding it.
func DigestEncoded(b []byte) [16]byte {
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// decoder reads fields from b, remembering the first error so a sequence of
// reads can be checked once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s", ErrCorrupt, field, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

// uvarint reads a minimally encoded uvarint.
func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.fail(field, "truncated")
	case n < 0:
		d.fail(field, "overflows 64 bits")
	case n != max(1, (bits.Len64(v)+6)/7):
		d.fail(field, "not minimally encoded")
	default:
		d.b = d.b[n:]
		return v
	}
	return 0
}

// varint reads a zig-zag varint.
func (d *decoder) varint(field string) int64 {
	u := d.uvarint(field)
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) uint32(field string) uint32 {
	v := d.uvarint(field)
	if v > math.MaxUint32 {
		d.fail(field, "%d overflows 32 bits", v)
		return 0
	}
	return uint32(v)
}

func (d *decoder) readByte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(field, "truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// lengthPrefixed reads a length-prefixed byte string; an empty one is nil.
func (d *decoder) lengthPrefixed(field string) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(field, "length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
