// Package aae is Tutti's active anti-entropy: the Merkle trees that
// summarise what a replica holds of each partition, and the exchange that
// compares two replicas' trees and copies only the objects that differ.
//
// A partition's tree has one leaf per Merkle segment (ring.Segments of
// them; a key's segment is part of its storage key, so one segment is one
// range scan). A leaf is the XOR of ItemHash(bucket, key, digest) over the
// segment's objects, where the digest hashes the object's canonical
// encoding (every version, tombstones included). XOR makes an update O(1):
// replacing a version XORs the old and the new item hash into one leaf
// (Delta), in any order, so concurrent writers and a rebuild that scans
// storage meanwhile combine without coordination. Branches XOR BranchWidth
// leaves and the root XORs them all; both are computed from the leaves on
// demand, which costs a few hundred nanoseconds.
//
// An Exchange is one comparison of a partition between the local replica
// (Local) and a peer that answers with Serve: roots, then the differing
// branches' leaves, then the (key, digest) lists of the differing segments,
// then the objects whose digests differ, each merged with DVV sync on the
// side that lacks something so that no version is lost in either direction.
// The package is pure: the node drives an Exchange over the transport, the
// simulator over its event queue.
package aae

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/ring"
)

// Segments is the number of leaves of a partition's tree.
const Segments = ring.Segments

// BranchWidth is the number of leaves under one branch.
const BranchWidth = 32

// Branches is the number of branches of a partition's tree.
const Branches = Segments / BranchWidth

// Digest identifies an object's content: equal objects, and only those in
// practice, have equal digests.
type Digest [16]byte

// DigestOf returns the digest of an object's encoding (object.Digest of
// the decoded object, computed without decoding: the encoding is
// canonical).
func DigestOf(encoded []byte) Digest {
	return Digest(object.DigestEncoded(encoded))
}

// ItemHash is the contribution of one stored object to its leaf: XXH64
// over uvarint(len(bucket)) || bucket || key || digest.
func ItemHash(bucket, key []byte, d Digest) uint64 {
	var buf [192]byte
	n := binary.PutUvarint(buf[:], uint64(len(bucket)))
	if n+len(bucket)+len(key)+len(d) <= len(buf) {
		n += copy(buf[n:], bucket)
		n += copy(buf[n:], key)
		n += copy(buf[n:], d[:])
		return xxhash.Sum64(buf[:n])
	}
	h := xxhash.New()
	_, _ = h.Write(buf[:n])
	_, _ = h.Write(bucket)
	_, _ = h.Write(key)
	_, _ = h.Write(d[:])
	return h.Sum64()
}

// Delta is what replacing the stored encoding old of a key by new changes
// in its leaf; a nil encoding means the key was (or becomes) absent.
func Delta(bucket, key, old, new []byte) uint64 {
	var delta uint64
	if old != nil {
		delta ^= ItemHash(bucket, key, DigestOf(old))
	}
	if new != nil {
		delta ^= ItemHash(bucket, key, DigestOf(new))
	}
	return delta
}

// Tree is the Merkle tree of one partition's replica. The zero value is the
// tree of an empty partition. It is a plain value: callers that share one
// between goroutines lock it (internal/node), and a copy is a snapshot.
type Tree struct {
	leaves [Segments]uint64
}

// Xor adds delta to a segment's leaf.
func (t *Tree) Xor(segment int, delta uint64) { t.leaves[segment] ^= delta }

// Leaf returns a segment's leaf.
func (t *Tree) Leaf(segment int) uint64 { return t.leaves[segment] }

// Branch returns the XOR of the leaves under branch b.
func (t *Tree) Branch(b int) uint64 {
	var h uint64
	for _, l := range t.leaves[b*BranchWidth : (b+1)*BranchWidth] {
		h ^= l
	}
	return h
}

// Root returns the XOR of every leaf.
func (t *Tree) Root() uint64 {
	var h uint64
	for _, l := range t.leaves {
		h ^= l
	}
	return h
}

// AllBranches returns every branch, in order.
func (t *Tree) AllBranches() []uint64 {
	hs := make([]uint64, Branches)
	for b := range hs {
		hs[b] = t.Branch(b)
	}
	return hs
}

// LeavesOf returns the leaves under branch b, in order.
func (t *Tree) LeavesOf(b int) []uint64 {
	return append([]uint64(nil), t.leaves[b*BranchWidth:(b+1)*BranchWidth]...)
}
