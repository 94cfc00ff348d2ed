package ring

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// Segments is the number of Merkle segments per partition.
const Segments = 1024

// segmentBits is log2(Segments).
const segmentBits = 10

// KeyHash returns the hash that places a key. It is XXH64 with seed 0 over
// uvarint(len(bucket)) || bucket || key, where uvarint is the unsigned
// LEB128 varint of encoding/binary. The length prefix keeps ("ab", "c") and
// ("a", "bc") apart. Clients reimplement this function; docs/ring.md gives
// test vectors.
func KeyHash(bucket, key []byte) uint64 {
	// Short keys are hashed from a stack buffer, which is faster than the
	// streaming digest and does not allocate.
	var buf [128]byte
	n := binary.PutUvarint(buf[:], uint64(len(bucket)))
	if n+len(bucket)+len(key) <= len(buf) {
		n += copy(buf[n:], bucket)
		n += copy(buf[n:], key)
		return xxhash.Sum64(buf[:n])
	}
	d := xxhash.New()
	_, _ = d.Write(buf[:n])
	_, _ = d.Write(bucket)
	_, _ = d.Write(key)
	return d.Sum64()
}

// Partition returns the partition of a key hash: its top log2(Q) bits.
func (r *Ring) Partition(hash uint64) int {
	// A shift by 64 (Q = 1) yields 0 in Go, which is the only partition.
	return int(hash >> (64 - r.bits))
}

// Segment returns the Merkle segment of a key hash within its partition:
// the segmentBits bits that follow the partition bits.
func (r *Ring) Segment(hash uint64) int {
	return int(hash>>(64-r.bits-segmentBits)) & (Segments - 1)
}

// golden is 2^64 divided by the golden ratio, the increment of SplitMix64.
const golden = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finalizer: a bijection of uint64 whose output
// bits each depend on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// partitionSalt is the per-partition input of placement keys.
func partitionSalt(p int) uint64 { return mix64(uint64(p) + golden) }

// placementKey is how much member seed wants partition p (higher is
// stronger). The low 16 bits hold 0xFFFF-p, so a member's keys are distinct
// and equal high bits favour the lower partition.
func placementKey(seed, salt uint64, p int) uint64 {
	return mix64(seed^salt)&^0xFFFF | uint64(0xFFFF-p)
}

// keyPartition recovers the partition from a placement key.
func keyPartition(k uint64) int { return 0xFFFF - int(k&0xFFFF) }
