package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Key prefixes: metadata sorts before every object, and hints (copies a
// node keeps for an unreachable owner) after them, so that scans of the
// node's own objects never meet a hint.
const (
	metaPrefix   byte = 0x00
	objectPrefix byte = 0x01
	hintPrefix   byte = 0x02
)

// MaxPartitions is the number of partitions (and of segments per partition)
// the key layout can address: both are stored as uint16.
const MaxPartitions = 1 << 16

// objectHeaderLen is the length of prefix, partition and segment.
const objectHeaderLen = 5

// ErrMalformedKey is wrapped by ParseObjectKey's errors.
var ErrMalformedKey = errors.New("storage: malformed object key")

// ObjectKey returns the storage key of key in bucket, stored in segment of
// partition. It panics if partition or segment is outside [0, MaxPartitions),
// which is a programming error.
func ObjectKey(partition, segment int, bucket, key []byte) []byte {
	n := objectHeaderLen + uvarintLen(uint64(len(bucket))) + len(bucket) + len(key)
	return AppendObjectKey(make([]byte, 0, n), partition, segment, bucket, key)
}

// AppendObjectKey appends the storage key of key in bucket to dst and
// returns the extended slice, as ObjectKey does without allocating when dst
// has room.
func AppendObjectKey(dst []byte, partition, segment int, bucket, key []byte) []byte {
	dst = appendHeader(dst, partition, segment)
	dst = binary.AppendUvarint(dst, uint64(len(bucket)))
	dst = append(dst, bucket...)
	return append(dst, key...)
}

// ParseObjectKey splits an object key made by ObjectKey. The returned bucket
// and key alias k. It returns an error wrapping ErrMalformedKey when k is not
// an object key.
func ParseObjectKey(k []byte) (partition, segment int, bucket, key []byte, err error) {
	if len(k) < objectHeaderLen || k[0] != objectPrefix {
		return 0, 0, nil, nil, fmt.Errorf("%w: missing object header", ErrMalformedKey)
	}
	partition = int(binary.BigEndian.Uint16(k[1:3]))
	segment = int(binary.BigEndian.Uint16(k[3:5]))
	rest := k[objectHeaderLen:]
	bucketLen, n := binary.Uvarint(rest)
	// Overlong encodings are rejected so that each object has one key.
	if n <= 0 || n != uvarintLen(bucketLen) {
		return 0, 0, nil, nil, fmt.Errorf("%w: bad bucket length", ErrMalformedKey)
	}
	rest = rest[n:]
	if bucketLen > uint64(len(rest)) {
		return 0, 0, nil, nil, fmt.Errorf("%w: bucket length %d exceeds key", ErrMalformedKey, bucketLen)
	}
	return partition, segment, rest[:bucketLen:bucketLen], rest[bucketLen:], nil
}

// PartitionBounds returns the range [lower, upper) holding every object key
// of partition. It panics if partition is out of range.
func PartitionBounds(partition int) (lower, upper []byte) {
	lower = appendHeader(nil, partition, 0)
	return lower, prefixEnd(lower[:3])
}

// SegmentBounds returns the range [lower, upper) holding every object key of
// segment in partition. It panics if either is out of range.
func SegmentBounds(partition, segment int) (lower, upper []byte) {
	lower = appendHeader(nil, partition, segment)
	return lower, prefixEnd(lower)
}

// HintKey returns the storage key of a hint: the copy of key in bucket, of
// segment in partition, that this node keeps for owner while owner cannot
// be reached. Hints for one owner are contiguous (HintBounds), ordered like
// its objects.
func HintKey(owner string, partition, segment int, bucket, key []byte) []byte {
	dst := make([]byte, 0, 1+uvarintLen(uint64(len(owner)))+len(owner)+objectHeaderLen+uvarintLen(uint64(len(bucket)))+len(bucket)+len(key))
	dst = appendHintOwner(dst, owner)
	return AppendObjectKey(dst, partition, segment, bucket, key)
}

func appendHintOwner(dst []byte, owner string) []byte {
	dst = append(dst, hintPrefix)
	dst = binary.AppendUvarint(dst, uint64(len(owner)))
	return append(dst, owner...)
}

// HintBounds returns the range [lower, upper) holding every hint for owner.
func HintBounds(owner string) (lower, upper []byte) {
	lower = appendHintOwner(nil, owner)
	// The owner's hints continue with an object key, whose first byte is
	// objectPrefix: every one sorts below lower+(objectPrefix+1).
	return lower, append(append([]byte(nil), lower...), objectPrefix+1)
}

// AllHintBounds returns the range [lower, upper) holding every hint.
func AllHintBounds() (lower, upper []byte) { return []byte{hintPrefix}, []byte{hintPrefix + 1} }

// ParseHintKey splits a hint key made by HintKey. The returned bucket and
// key alias k. It returns an error wrapping ErrMalformedKey when k is not a
// hint key.
func ParseHintKey(k []byte) (owner string, partition, segment int, bucket, key []byte, err error) {
	if len(k) < 2 || k[0] != hintPrefix {
		return "", 0, 0, nil, nil, fmt.Errorf("%w: missing hint header", ErrMalformedKey)
	}
	n, m := binary.Uvarint(k[1:])
	if m <= 0 || m != uvarintLen(n) || n > uint64(len(k)-1-m) {
		return "", 0, 0, nil, nil, fmt.Errorf("%w: bad owner length", ErrMalformedKey)
	}
	owner = string(k[1+m : 1+m+int(n)])
	partition, segment, bucket, key, err = ParseObjectKey(k[1+m+int(n):])
	return owner, partition, segment, bucket, key, err
}

// MetaKey returns the key of the node metadata record called name. Metadata
// keys sort before every object key.
func MetaKey(name string) []byte {
	return append([]byte{metaPrefix}, name...)
}

func appendHeader(dst []byte, partition, segment int) []byte {
	if partition < 0 || partition >= MaxPartitions {
		panic(fmt.Sprintf("storage: partition %d out of range", partition))
	}
	if segment < 0 || segment >= MaxPartitions {
		panic(fmt.Sprintf("storage: segment %d out of range", segment))
	}
	dst = append(dst, objectPrefix)
	dst = binary.BigEndian.AppendUint16(dst, uint16(partition))
	return binary.BigEndian.AppendUint16(dst, uint16(segment))
}

// prefixEnd returns the smallest key greater than every key starting with
// prefix. The prefix always starts with objectPrefix, so a successor exists.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("storage: prefix has no successor")
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
