package membership

import (
	"bytes"
	"cmp"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"
)

// Limits of the metadata map.
const (
	// MaxMetaKeyBytes is the longest metadata key accepted.
	MaxMetaKeyBytes = 1024
	// MaxMetaValueBytes is the largest metadata value accepted. Metadata
	// is for small settings: the whole map travels in every full exchange.
	MaxMetaValueBytes = 64 << 10
)

// Stamp orders metadata writes: a wall time in nanoseconds, and a logical
// counter that orders writes whose wall times tie or run backwards.
type Stamp struct {
	Wall    int64
	Logical uint32
}

// Compare returns -1, 0 or 1 as s is earlier than, equal to or later than o.
func (s Stamp) Compare(o Stamp) int {
	return cmp.Or(cmp.Compare(s.Wall, o.Wall), cmp.Compare(s.Logical, o.Logical))
}

// Next returns a stamp later than s that is not earlier than wall: wall
// itself when the clock is ahead of s, otherwise s advanced by one logical
// tick. A clock that lags behind therefore never makes a new write lose
// against one it has seen.
func (s Stamp) Next(wall int64) Stamp {
	switch {
	case wall > s.Wall:
		return Stamp{Wall: wall}
	case s.Logical < math.MaxUint32:
		return Stamp{Wall: s.Wall, Logical: s.Logical + 1}
	default:
		return Stamp{Wall: s.Wall + 1}
	}
}

// Entry is one metadata value and the stamp and writer that order it.
// A deleted entry is a tombstone: it has no value and hides older writes.
// Value is shared between copies and must not be modified.
type Entry struct {
	Value   []byte
	Deleted bool
	Stamp   Stamp
	Writer  string
}

func (e Entry) validate(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w metadata: empty key", ErrInvalid)
	case len(key) > MaxMetaKeyBytes:
		return fmt.Errorf("%w metadata: key longer than %d bytes", ErrInvalid, MaxMetaKeyBytes)
	case len(e.Value) > MaxMetaValueBytes:
		return fmt.Errorf("%w metadata %q: value longer than %d bytes", ErrInvalid, key, MaxMetaValueBytes)
	case e.Deleted && len(e.Value) > 0:
		return fmt.Errorf("%w metadata %q: deleted entry with a value", ErrInvalid, key)
	case e.Writer == "" || len(e.Writer) > MaxFieldBytes:
		return fmt.Errorf("%w metadata %q: writer must be 1 to %d bytes", ErrInvalid, key, MaxFieldBytes)
	}
	return nil
}

// compareEntries is a total order on entries of one key: stamp, writer,
// then tombstone over value, then value bytes. The last two only matter if
// a writer reused a stamp, which Write never does; they keep Merge
// deterministic regardless.
func compareEntries(a, b Entry) int {
	if c := a.Stamp.Compare(b.Stamp); c != 0 {
		return c
	}
	if c := strings.Compare(a.Writer, b.Writer); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if b.Deleted {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.Value, b.Value)
}

// Meta is the cluster metadata CRDT: a last-writer-wins map from key to
// Entry, ordered by (Stamp, Writer). The zero value is an empty map ready
// to use. Like State, copies share entries; use Clone for an independent
// copy. Tombstones are kept forever, which is cheap for the few settings
// metadata holds.
type Meta struct {
	entries map[string]Entry
}

// Clone returns an independent copy of m (values are immutable and shared).
func (m Meta) Clone() Meta {
	if len(m.entries) == 0 {
		return Meta{}
	}
	return Meta{entries: maps.Clone(m.entries)}
}

// Len is the number of entries, tombstones included.
func (m Meta) Len() int { return len(m.entries) }

// Get returns the entry of key, which may be a tombstone.
func (m Meta) Get(key string) (Entry, bool) {
	e, ok := m.entries[key]
	return e, ok
}

// Value returns the live value of key; deleted or absent keys report false.
// The returned slice must not be modified.
func (m Meta) Value(key string) ([]byte, bool) {
	e, ok := m.entries[key]
	if !ok || e.Deleted {
		return nil, false
	}
	return e.Value, true
}

// Keys returns the keys with a live value, sorted.
func (m Meta) Keys() []string {
	out := make([]string, 0, len(m.entries))
	for k, e := range m.entries {
		if !e.Deleted {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// All yields every entry, tombstones included, in key order.
func (m Meta) All() iter.Seq2[string, Entry] {
	return func(yield func(string, Entry) bool) {
		for _, k := range slices.Sorted(maps.Keys(m.entries)) {
			if !yield(k, m.entries[k]) {
				return
			}
		}
	}
}

// Write stores value under key as a local write by writer at wall time
// (nanoseconds) and returns the stored entry. Its stamp is later than the
// key's current entry, so the write supersedes everything this replica has
// seen for key even if the local clock lags. value is copied.
func (m *Meta) Write(key string, value []byte, wall int64, writer string) (Entry, error) {
	return m.write(key, Entry{Value: bytes.Clone(value), Writer: writer}, wall)
}

// Delete writes a tombstone for key, as Write does for a value.
func (m *Meta) Delete(key string, wall int64, writer string) (Entry, error) {
	return m.write(key, Entry{Deleted: true, Writer: writer}, wall)
}

func (m *Meta) write(key string, e Entry, wall int64) (Entry, error) {
	e.Stamp = m.entries[key].Stamp.Next(wall)
	if err := e.validate(key); err != nil {
		return Entry{}, err
	}
	if e.Value == nil && !e.Deleted {
		e.Value = []byte{}
	}
	m.put(key, e)
	return e, nil
}

// MergeEntry merges one entry received from a peer and reports whether m
// changed. Invalid entries are ignored. e.Value is retained, not copied.
func (m *Meta) MergeEntry(key string, e Entry) (changed bool) {
	if e.validate(key) != nil {
		return false
	}
	return m.mergeValid(key, e)
}

// Merge merges o into m and reports whether m changed: per key, the entry
// with the later stamp wins, then the greater writer. o is only read; its
// values are shared, not copied.
func (m *Meta) Merge(o Meta) (changed bool) {
	for k, e := range o.entries {
		if m.mergeValid(k, e) {
			changed = true
		}
	}
	return changed
}

func (m *Meta) mergeValid(key string, e Entry) bool {
	if cur, ok := m.entries[key]; ok && compareEntries(cur, e) >= 0 {
		return false
	}
	m.put(key, e)
	return true
}

func (m *Meta) put(key string, e Entry) {
	if m.entries == nil {
		m.entries = make(map[string]Entry)
	}
	m.entries[key] = e
}

// Equal reports whether m and o hold the same entries.
func (m Meta) Equal(o Meta) bool {
	if len(m.entries) != len(o.entries) {
		return false
	}
	for k, e := range m.entries {
		oe, ok := o.entries[k]
		if !ok || oe.Stamp != e.Stamp || oe.Writer != e.Writer || oe.Deleted != e.Deleted || !bytes.Equal(oe.Value, e.Value) {
			return false
		}
	}
	return true
}
