package kv

import (
	"context"
	"time"
)

// AntiEntropy is what a node that runs anti-entropy offers operators (GET
// /v1/debug/aae, POST /v1/debug/aae/repair, /pause and /resume).
// Implementations are safe for concurrent use.
type AntiEntropy interface {
	// AAEStatus describes the node's trees and exchanges.
	AAEStatus() AAEStatus
	// Repair exchanges partition now with each of its other owners that
	// is alive, and returns once every exchange ended. The node must own
	// the partition (else an *Error of kind BadRequest).
	Repair(ctx context.Context, partition int) (*RepairResult, error)
	// SetPaused pauses (true) or resumes (false) the node's scheduled
	// exchanges and tree builds. A paused node still answers its peers'
	// exchanges and Repair.
	SetPaused(paused bool)
}

// AAEStatus is one node's anti-entropy state.
type AAEStatus struct {
	Node string `json:"node"`
	// IntervalSeconds is how often each partition is exchanged with each
	// of its peer replicas.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Paused is true while scheduled exchanges and tree builds are
	// paused (POST /v1/debug/aae/pause, tutti server --aae-paused).
	Paused bool `json:"paused"`
	// OldestUnexchangedSeconds is the age of the oldest exchange among
	// the partitions this node owns and their peer replicas: how long
	// since the least recently compared pair was compared (counted from
	// the node's start for a pair never compared).
	OldestUnexchangedSeconds float64 `json:"oldest_unexchanged_seconds"`
	// TreesBuilt counts the partitions whose tree is built, of
	// Partitions' length.
	TreesBuilt int `json:"trees_built"`
	// Partitions are those this node owns, in order.
	Partitions []AAEPartition `json:"partitions"`
}

// AAEPartition is the state of one partition on one node.
type AAEPartition struct {
	Partition int `json:"partition"`
	// Root is the tree's root in hex; empty while the tree is built.
	Root string `json:"root,omitempty"`
	// Peers are the partition's other owners with the time of their last
	// completed exchange with this node (absent when none since start).
	Peers []AAEPeer `json:"peers"`
}

// AAEPeer is one peer replica of a partition.
type AAEPeer struct {
	Node         string     `json:"node"`
	LastExchange *time.Time `json:"last_exchange,omitempty"`
}

// RepairResult reports the exchanges a Repair ran.
type RepairResult struct {
	Exchanges []RepairExchange `json:"exchanges"`
}

// RepairExchange is one exchange of a partition with a peer.
type RepairExchange struct {
	Partition int    `json:"partition"`
	Peer      string `json:"peer"`
	// Outcome is equal, repaired, not_ready (a tree is still being
	// built), busy (the peer kept exchanging the partition with another
	// replica) or failed (Error says why).
	Outcome string `json:"outcome"`
	// Segments is how many segments differed; Pulled and Pushed count the
	// objects copied from and to the peer.
	Segments int    `json:"segments"`
	Pulled   int    `json:"pulled"`
	Pushed   int    `json:"pushed"`
	Error    string `json:"error,omitempty"`
}
