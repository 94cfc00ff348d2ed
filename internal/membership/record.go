// Package membership holds the two pieces of cluster state that Tutti
// gossips besides liveness: the member records (which nodes own data and how
// to reach them) and the cluster metadata map (bucket properties and other
// cluster-wide settings).
//
// Both are state-based CRDTs. State maps a node id to its Record; for each
// id the record with the higher Incarnation wins, and equal incarnations are
// ordered by a deterministic tiebreak. Meta maps a key to an Entry; the entry
// with the later (Stamp, Writer) wins. In both, Merge is commutative,
// associative and idempotent, so replicas that received the same updates in
// any order, any number of times, hold equal values. Each node writes only
// its own record, except that an operator's removal of a dead node writes a
// higher incarnation on its behalf.
//
// The package does no I/O and reads no clock: callers pass wall times in.
// Values are not safe for concurrent use; callers serialize access.
// Encode and the Decode functions give a compact, versioned binary form;
// decoding checks every length and limit and never panics.
package membership

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// Status is a member's ownership status.
type Status int

// Statuses, in tiebreak order: on equal incarnations a later status wins.
const (
	// Active members own partitions; placement uses exactly these.
	Active Status = 1
	// Left members departed on their own and own nothing.
	Left Status = 2
	// Removed members were taken out by an operator and own nothing.
	Removed Status = 3
)

// String names the status.
func (s Status) String() string {
	switch s {
	case Active:
		return "active"
	case Left:
		return "left"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

func (s Status) valid() bool { return s >= Active && s <= Removed }

// MaxFieldBytes is the longest id, zone, address or writer name accepted.
const MaxFieldBytes = 255

// ErrInvalid reports a record or entry that breaks a limit or rule.
var ErrInvalid = errors.New("membership: invalid")

// ErrStale reports a local write that would lose against the current value:
// the caller must write a higher incarnation.
var ErrStale = errors.New("membership: stale write")

// Record is one node's membership record. Only the node itself writes its
// record, each time with a higher Incarnation than any it wrote before; the
// one exception is an operator's removal of a dead node.
type Record struct {
	ID          string
	Zone        string
	GossipAddr  string
	GRPCAddr    string
	HTTPAddr    string
	Status      Status
	Incarnation uint64
}

// Validate checks r's status and field lengths.
func (r Record) Validate() error {
	if r.ID == "" {
		return fmt.Errorf("%w record: empty id", ErrInvalid)
	}
	if !r.Status.valid() {
		return fmt.Errorf("%w record %q: %s", ErrInvalid, r.ID, r.Status)
	}
	for _, f := range [...]struct{ name, value string }{
		{"id", r.ID}, {"zone", r.Zone}, {"gossip address", r.GossipAddr},
		{"gRPC address", r.GRPCAddr}, {"HTTP address", r.HTTPAddr},
	} {
		if len(f.value) > MaxFieldBytes {
			return fmt.Errorf("%w record %q: %s longer than %d bytes", ErrInvalid, r.ID, f.name, MaxFieldBytes)
		}
	}
	return nil
}

// compareRecords orders two records of the same id: by incarnation, then
// status, then the remaining fields byte-wise. Being a total order, taking
// the maximum is commutative, associative and idempotent.
func compareRecords(a, b Record) int {
	return cmp.Or(
		cmp.Compare(a.Incarnation, b.Incarnation),
		cmp.Compare(a.Status, b.Status),
		strings.Compare(a.Zone, b.Zone),
		strings.Compare(a.GossipAddr, b.GossipAddr),
		strings.Compare(a.GRPCAddr, b.GRPCAddr),
		strings.Compare(a.HTTPAddr, b.HTTPAddr),
	)
}
