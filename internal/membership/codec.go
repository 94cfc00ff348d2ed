package membership

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Encoding versions: the first byte of every encoding.
const (
	stateVersion = 1
	metaVersion  = 1
)

// Smallest encodings of one record (id of one byte, four empty strings,
// status, incarnation) and one entry (key of one byte, flags, empty value,
// wall, logical, writer of one byte). Decoders bound counts by them before
// allocating.
const (
	minRecordBytes = 2 + 4 + 1 + 1
	minEntryBytes  = 2 + 1 + 1 + 1 + 1 + 2
)

const flagDeleted = 1

// ErrCorrupt reports bytes that are not a valid encoding.
var ErrCorrupt = errors.New("membership: corrupt encoding")

// Encode returns the binary form of s:
//
//	version 1 | uvarint count | records sorted by id
//	record: id, zone, gossip, gRPC, HTTP addresses (uvarint length + bytes each) | status byte | uvarint incarnation
func (s State) Encode() []byte {
	b := []byte{stateVersion}
	b = binary.AppendUvarint(b, uint64(len(s.records)))
	for _, r := range s.Records() {
		for _, f := range [...]string{r.ID, r.Zone, r.GossipAddr, r.GRPCAddr, r.HTTPAddr} {
			b = appendString(b, f)
		}
		b = append(b, byte(r.Status))
		b = binary.AppendUvarint(b, r.Incarnation)
	}
	return b
}

// DecodeState parses what State.Encode produced. It rejects unknown
// versions, invalid records, ids out of order and trailing bytes.
func DecodeState(b []byte) (State, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != stateVersion {
		return State{}, fmt.Errorf("%w: state version %d", ErrCorrupt, v)
	}
	n := d.count(minRecordBytes)
	var s State
	if n > 0 {
		s.records = make(map[string]Record, n)
	}
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		var r Record
		r.ID = d.string(MaxFieldBytes)
		r.Zone = d.string(MaxFieldBytes)
		r.GossipAddr = d.string(MaxFieldBytes)
		r.GRPCAddr = d.string(MaxFieldBytes)
		r.HTTPAddr = d.string(MaxFieldBytes)
		r.Status = Status(d.byte())
		r.Incarnation = d.uvarint()
		if d.err != nil {
			break
		}
		if err := r.Validate(); err != nil {
			return State{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if i > 0 && strings.Compare(prev, r.ID) >= 0 {
			return State{}, fmt.Errorf("%w: record ids not strictly increasing", ErrCorrupt)
		}
		prev = r.ID
		s.records[r.ID] = r
	}
	if err := d.finish(); err != nil {
		return State{}, err
	}
	return s, nil
}

// Encode returns the binary form of m:
//
//	version 1 | uvarint count | entries sorted by key
//	entry: key (uvarint length + bytes) | flags byte (1 = deleted) | value (uvarint length + bytes) |
//	       varint wall | uvarint logical | writer (uvarint length + bytes)
func (m Meta) Encode() []byte {
	b := []byte{metaVersion}
	b = binary.AppendUvarint(b, uint64(len(m.entries)))
	for k, e := range m.All() {
		b = appendString(b, k)
		var flags byte
		if e.Deleted {
			flags |= flagDeleted
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(e.Value)))
		b = append(b, e.Value...)
		b = binary.AppendVarint(b, e.Stamp.Wall)
		b = binary.AppendUvarint(b, uint64(e.Stamp.Logical))
		b = appendString(b, e.Writer)
	}
	return b
}

// DecodeMeta parses what Meta.Encode produced. It rejects unknown versions
// and flags, invalid entries, keys out of order and trailing bytes. Values
// are copied out of b.
func DecodeMeta(b []byte) (Meta, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != metaVersion {
		return Meta{}, fmt.Errorf("%w: metadata version %d", ErrCorrupt, v)
	}
	n := d.count(minEntryBytes)
	var m Meta
	if n > 0 {
		m.entries = make(map[string]Entry, n)
	}
	prev := ""
	for i := 0; i < n && d.err == nil; i++ {
		key := d.string(MaxMetaKeyBytes)
		flags := d.byte()
		value := d.bytes(MaxMetaValueBytes)
		var e Entry
		e.Stamp.Wall = d.varint()
		logical := d.uvarint()
		e.Writer = d.string(MaxFieldBytes)
		if d.err != nil {
			break
		}
		if flags&^flagDeleted != 0 {
			return Meta{}, fmt.Errorf("%w: metadata %q: unknown flags %#x", ErrCorrupt, key, flags)
		}
		if logical > math.MaxUint32 {
			return Meta{}, fmt.Errorf("%w: metadata %q: logical clock overflows", ErrCorrupt, key)
		}
		e.Stamp.Logical = uint32(logical)
		e.Deleted = flags&flagDeleted != 0
		if !e.Deleted {
			e.Value = append([]byte{}, value...)
		} else if len(value) > 0 {
			return Meta{}, fmt.Errorf("%w: metadata %q: deleted entry with a value", ErrCorrupt, key)
		}
		if err := e.validate(key); err != nil {
			return Meta{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if i > 0 && strings.Compare(prev, key) >= 0 {
			return Meta{}, fmt.Errorf("%w: metadata keys not strictly increasing", ErrCorrupt)
		}
		prev = key
		m.entries[key] = e
	}
	if err := d.finish(); err != nil {
		return Meta{}, err
	}
	return m, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads from b; the first failure sticks in err and later reads
// return zero values, so callers check err once per item.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an item count and checks that the rest of the input could
// hold that many items of at least minSize bytes each.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail("count %d exceeds the input", n)
		return 0
	}
	return int(n)
}

// bytes returns the next length-prefixed field; it aliases the input.
func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) {
		d.fail("field of %d bytes exceeds %d", n, max)
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(max int) string { return string(d.bytes(max)) }

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
