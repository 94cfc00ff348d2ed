// Package kv defines the client-facing contract of a Tutti node: the
// requests, results, bucket properties, limits and errors that the HTTP and
// gRPC APIs translate to and from, and the Service interface a node
// implements. It holds types and validation only; no I/O.
package kv

import (
	"context"
	"time"

	"github.com/tutti-kv/tutti/internal/object"
)

// Service is what one node offers its clients. Implementations are safe for
// concurrent use. Errors are *Error values (test with AsError) or context
// errors.
type Service interface {
	Get(ctx context.Context, req *GetRequest) (*GetResult, error)
	Put(ctx context.Context, req *PutRequest) (*PutResult, error)
	Delete(ctx context.Context, req *DeleteRequest) (*PutResult, error)
	GetProps(ctx context.Context, bucket []byte) (Props, error)
	// SetProps replaces a bucket's properties cluster-wide (gossiped).
	SetProps(ctx context.Context, bucket []byte, p Props) error
	// Cluster describes the members, their liveness and the ring.
	Cluster() ClusterInfo
	// Limits are the sizes this node enforces.
	Limits() Limits
	// Local returns this node's own stored copy of a key and the hints it
	// keeps for it, without coordination, for checkers and operators.
	Local(ctx context.Context, bucket, key []byte) (*LocalCopy, error)
}

// LocalCopy is what one node itself stores for a key (GET
// /v1/debug/local/{bucket}/{key}).
type LocalCopy struct {
	Node string `json:"node"`
	// Copy is the node's own replica; nil when it holds none.
	Copy *LocalObject `json:"copy"`
	// Hints are the copies it keeps, as a substitute, for unreachable
	// owners, by owner id.
	Hints map[string]*LocalObject `json:"hints,omitempty"`
}

// LocalObject is one stored object: every version, tombstones included,
// and its causal context (signed, usable as a write context).
type LocalObject struct {
	Context  string         `json:"context"`
	Versions []LocalVersion `json:"versions"`
}

// LocalVersion is one version of a stored object.
type LocalVersion struct {
	// Dot names the write that made the version: "actor:counter", the
	// actor in hex.
	Dot          string    `json:"dot"`
	Value        []byte    `json:"value,omitempty"`
	ContentType  string    `json:"content_type,omitempty"`
	LastModified time.Time `json:"last_modified"`
	Deleted      bool      `json:"deleted,omitempty"`
	// WriteID is the idempotency key the write came with, if any.
	WriteID string `json:"write_id,omitempty"`
}

// Options are the per-request knobs. Zero values mean "the bucket's
// default" (Timeout zero means the node's default timeout).
type Options struct {
	R, W, DW, PR, PW Quorum
	Timeout          time.Duration
}

// GetRequest reads one key.
type GetRequest struct {
	Bucket, Key []byte
	Options
	// RepairSync waits, within the timeout, for every replica to answer
	// and for the stale ones to be repaired before answering; by default
	// read repair runs after the answer, off the client's latency.
	RepairSync bool
}

// Sibling is one concurrent version of a value.
type Sibling struct {
	Value        []byte
	ContentType  string
	LastModified time.Time
}

// GetResult is a read's answer. Context is the opaque causal context to send
// with the next write; it is set for deleted keys too.
type GetResult struct {
	Found    bool
	Deleted  bool
	Siblings []Sibling
	Context  string
}

// PutRequest writes one value. Context is the opaque context of the versions
// this write replaces, or empty for a write concurrent with what exists.
type PutRequest struct {
	Bucket, Key []byte
	Value       []byte
	ContentType string
	Context     string
	// WriteID is the client's idempotency key (at most
	// object.MaxWriteIDBytes), empty for none: a write resent with the same
	// WriteID and value is stored once.
	WriteID string
	Options
}

// PutResult carries the context of the version just written.
type PutResult struct {
	Context string
}

// DeleteRequest deletes one key by writing a tombstone that replaces the
// versions Context covers. Without a context, the node reads the key first
// and deletes what that read returned.
type DeleteRequest struct {
	Bucket, Key []byte
	Context     string
	// WriteID is as in PutRequest.
	WriteID string
	Options
}

// Limits are the sizes a node accepts.
type Limits struct {
	MaxBucketBytes int
	MaxKeyBytes    int
	MaxValueBytes  int
}

// DefaultLimits are the limits of a node that configures none.
func DefaultLimits() Limits {
	return Limits{MaxBucketBytes: 255, MaxKeyBytes: 1024, MaxValueBytes: 8 << 20}
}

// ClusterInfo describes the cluster as one node sees it.
type ClusterInfo struct {
	Self       string
	Partitions int
	N          int
	// Version changes whenever the member set changes.
	Version uint64
	Members []Member
	// Owners lists, for each partition, the ids of its N owners, preferred
	// first.
	Owners [][]string
}

// Member is one node of the cluster.
type Member struct {
	ID         string
	Zone       string
	HTTPAddr   string
	GRPCAddr   string
	GossipAddr string
	Alive      bool
	// Partitions is the number of partition replicas the node owns.
	Partitions int
	// HintsPending and HintBytes are the hints the answering node keeps for
	// this member, waiting to be handed off.
	HintsPending int
	HintBytes    int64
}

// CheckWriteID refuses an idempotency key over object.MaxWriteIDBytes.
func CheckWriteID(id string) error {
	if len(id) > object.MaxWriteIDBytes {
		return Errorf(BadRequest, "idempotency key is %d bytes, the limit is %d", len(id), object.MaxWriteIDBytes)
	}
	return nil
}
