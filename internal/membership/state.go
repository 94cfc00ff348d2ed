package membership

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
)

// State is the member-record CRDT: node id -> Record. The zero value is an
// empty state ready to use.
//
// A State refers to its records: a plain copy shares them, so writing
// through one copy shows in the other. Use Clone for an independent copy.
// Records themselves are values and never alias.
type State struct {
	records map[string]Record
}

// Clone returns an independent copy of s.
func (s State) Clone() State {
	if len(s.records) == 0 {
		return State{}
	}
	return State{records: maps.Clone(s.records)}
}

// Len is the number of records, whatever their status.
func (s State) Len() int { return len(s.records) }

// Get returns the record of id.
func (s State) Get(id string) (Record, bool) {
	r, ok := s.records[id]
	return r, ok
}

// Set stores r as a local write. It fails with ErrInvalid for an invalid
// record and with ErrStale when the current record of r.ID would win the
// merge (the caller must bump the incarnation past it); storing exactly the
// current record again succeeds and changes nothing.
func (s *State) Set(r Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if cur, ok := s.records[r.ID]; ok && compareRecords(cur, r) > 0 {
		return fmt.Errorf("%w: record %q incarnation %d does not supersede incarnation %d",
			ErrStale, r.ID, r.Incarnation, cur.Incarnation)
	}
	s.put(r)
	return nil
}

// MergeRecord merges a single record received from a peer and reports
// whether s changed. Invalid records are ignored.
func (s *State) MergeRecord(r Record) (changed bool) {
	if r.Validate() != nil {
		return false
	}
	return s.mergeValid(r)
}

// Merge merges o into s and reports whether s changed. For each id the
// winning record is the one with the higher incarnation; on equal
// incarnations the later status (Removed > Left > Active) wins, then the
// byte-wise greater zone and addresses. o is only read.
func (s *State) Merge(o State) (changed bool) {
	for _, r := range o.records {
		if s.mergeValid(r) {
			changed = true
		}
	}
	return changed
}

func (s *State) mergeValid(r Record) bool {
	if cur, ok := s.records[r.ID]; ok && compareRecords(cur, r) >= 0 {
		return false
	}
	s.put(r)
	return true
}

func (s *State) put(r Record) {
	if s.records == nil {
		s.records = make(map[string]Record)
	}
	s.records[r.ID] = r
}

// Records returns every record, whatever its status, sorted by ID.
func (s State) Records() []Record {
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Members returns the Active records sorted by ID: the input of placement.
func (s State) Members() []Record {
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		if r.Status == Active {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Equal reports whether s and o hold the same records.
func (s State) Equal(o State) bool {
	if len(s.records) != len(o.records) {
		return false
	}
	for id, r := range s.records {
		if or, ok := o.records[id]; !ok || or != r {
			return false
		}
	}
	return true
}

// MembersDigest is a 64-bit hash of what Members returns, leaving out
// incarnations: ids, zones and addresses. Nodes that see the same active set
// compute the same digest, and a change to the set changes it (up to hash
// collisions), so it serves as a version of the member set that nodes can
// compare.
func MembersDigest(members []Record) uint64 {
	h := fnv.New64a()
	var buf []byte
	for _, r := range members {
		buf = buf[:0]
		for _, f := range [...]string{r.ID, r.Zone, r.GossipAddr, r.GRPCAddr, r.HTTPAddr} {
			buf = binary.AppendUvarint(buf, uint64(len(f)))
			buf = append(buf, f...)
		}
		h.Write(buf)
	}
	return h.Sum64()
}
