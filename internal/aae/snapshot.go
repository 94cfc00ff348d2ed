package aae

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// snapshotVersion is the first byte of an encoded snapshot. It also names
// the hashing (ItemHash over DigestOf): a change to either must bump it, so
// that trees saved by an older build are rebuilt rather than trusted.
const snapshotVersion = 1

// SnapshotName names the metadata key under which a node that stopped
// cleanly keeps its snapshot (storage.MetaKey(SnapshotName)).
const SnapshotName = "aae-trees"

// snapshotEntryLen is one saved tree: its partition and its leaves.
const snapshotEntryLen = 2 + Segments*8

// snapshotHeaderLen is version, Q and the number of trees.
const snapshotHeaderLen = 1 + 4 + 4

// ErrSnapshot is wrapped by DecodeSnapshot's errors.
var ErrSnapshot = errors.New("aae: unusable tree snapshot")

// EncodeSnapshot encodes the trees of some of a ring's q partitions
// (partition → tree), as a node saves them when it stops cleanly so that
// the next start need not rebuild them from storage. Trees of partitions
// outside [0, q) are left out. The encoding ends with a checksum of
// everything before it.
func EncodeSnapshot(q int, trees map[int]*Tree) []byte {
	count := 0
	for p := range trees {
		if p >= 0 && p < q {
			count++
		}
	}
	b := make([]byte, 0, snapshotHeaderLen+count*snapshotEntryLen+8)
	b = append(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(q))
	b = binary.BigEndian.AppendUint32(b, uint32(count))
	for p := range q {
		t, ok := trees[p]
		if !ok {
			continue
		}
		b = binary.BigEndian.AppendUint16(b, uint16(p))
		for _, l := range t.leaves {
			b = binary.BigEndian.AppendUint64(b, l)
		}
	}
	return binary.BigEndian.AppendUint64(b, xxhash.Sum64(b))
}

// DecodeSnapshot decodes what EncodeSnapshot made for a ring of q
// partitions. It refuses, with an error wrapping ErrSnapshot, a snapshot of
// another version or another Q, a damaged one, and one that names a
// partition twice or out of range.
func DecodeSnapshot(b []byte, q int) (map[int]*Tree, error) {
	if len(b) < snapshotHeaderLen+8 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrSnapshot, len(b))
	}
	body, sum := b[:len(b)-8], binary.BigEndian.Uint64(b[len(b)-8:])
	if xxhash.Sum64(body) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrSnapshot)
	}
	if body[0] != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrSnapshot, body[0], snapshotVersion)
	}
	if got := binary.BigEndian.Uint32(body[1:5]); int64(got) != int64(q) {
		return nil, fmt.Errorf("%w: saved for %d partitions, the ring has %d", ErrSnapshot, got, q)
	}
	count := int(binary.BigEndian.Uint32(body[5:9]))
	rest := body[snapshotHeaderLen:]
	if count > q || len(rest) != count*snapshotEntryLen {
		return nil, fmt.Errorf("%w: %d trees in %d bytes", ErrSnapshot, count, len(rest))
	}
	trees := make(map[int]*Tree, count)
	for range count {
		p := int(binary.BigEndian.Uint16(rest))
		if p >= q {
			return nil, fmt.Errorf("%w: partition %d out of range", ErrSnapshot, p)
		}
		if _, dup := trees[p]; dup {
			return nil, fmt.Errorf("%w: partition %d twice", ErrSnapshot, p)
		}
		t := new(Tree)
		for i := range t.leaves {
			t.leaves[i] = binary.BigEndian.Uint64(rest[2+8*i:])
		}
		trees[p] = t
		rest = rest[snapshotEntryLen:]
	}
	return trees, nil
}
