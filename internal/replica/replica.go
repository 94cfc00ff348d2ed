// Package replica is one node's local copy of the data and the operations a
// replica performs on it: read a key, coordinate a write (read-modify-write
// with a fresh dot and the client's causal context), and merge a version
// sent by a coordinator (DVV sync). It works synchronously on a
// storage.Engine and holds no goroutines, locks or clocks of its own, so the
// real node and the deterministic simulator run the same code.
//
// Callers serialize operations on one key (the node holds a striped key
// lock; the simulator is single-threaded). Operations on different keys may
// run concurrently if the Engine, Counter and Clock allow it.
package replica

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/storage"
)

// Counter hands out this replica's dots: its actor id and counters that are
// never reused, even across crashes (internal/identity).
type Counter interface {
	Actor() uint64
	Next() (uint64, error)
}

// Clock is the node's hybrid logical clock.
type Clock interface {
	// Stamp returns a new time later than after and than any time the
	// clock handed out or observed before.
	Stamp(after hlc.Timestamp) hlc.Timestamp
	// Observe moves the clock past a time seen on another node's version.
	Observe(t hlc.Timestamp)
}

// Key locates one key: its names and where the ring puts it. With HintFor
// set it names the hint this node keeps for that owner instead of the
// node's own copy (a sloppy quorum's substitute); every operation works on
// hints the same way.
type Key struct {
	Bucket, Key []byte
	Partition   int
	Segment     int
	HintFor     string
}

func (k Key) storageKey() []byte {
	if k.HintFor != "" {
		return storage.HintKey(k.HintFor, k.Partition, k.Segment, k.Bucket, k.Key)
	}
	return storage.ObjectKey(k.Partition, k.Segment, k.Bucket, k.Key)
}

// Hint is one stored hint as a scan finds it. A hint whose stored key or
// object cannot be parsed (a corrupted entry) has Err set and only Raw, its
// storage key, to go by: scans report it rather than stop at it, so that
// one bad entry blocks neither the node's start nor the other hints.
type Hint struct {
	Key     Key
	Encoded []byte
	Raw     []byte
	Err     error
}

// Hints calls fn with every hint this node keeps for owner, in key order,
// until fn returns false.
func (s *Store) Hints(owner string, fn func(Hint) bool) error {
	lower, upper := storage.HintBounds(owner)
	return s.scanHints(lower, upper, fn)
}

// AllHints calls fn with every hint this node keeps, for any owner, until
// fn returns false.
func (s *Store) AllHints(fn func(Hint) bool) error {
	lower, upper := storage.AllHintBounds()
	return s.scanHints(lower, upper, fn)
}

func (s *Store) scanHints(lower, upper []byte, fn func(Hint) bool) error {
	return s.Engine.Scan(lower, upper, func(raw, value []byte) bool {
		h := Hint{Raw: bytes.Clone(raw)}
		owner, p, seg, bucket, key, err := storage.ParseHintKey(raw)
		if err != nil {
			h.Err = err
			return fn(h)
		}
		if _, err := object.Decode(value); err != nil {
			h.Err = fmt.Errorf("%w: hint of %q/%q for %s: %w", ErrBadObject, bucket, key, owner, err)
			return fn(h)
		}
		h.Key = Key{Bucket: bytes.Clone(bucket), Key: bytes.Clone(key), Partition: p, Segment: seg, HintFor: owner}
		h.Encoded = bytes.Clone(value)
		return fn(h)
	})
}

// DropCorruptHint deletes the hint stored under raw, a storage key a scan
// reported with Err. Only hint keys are accepted.
func (s *Store) DropCorruptHint(raw []byte) error {
	lower, upper := storage.AllHintBounds()
	if bytes.Compare(raw, lower) < 0 || bytes.Compare(raw, upper) >= 0 {
		return fmt.Errorf("replica: %x is not a hint key", raw)
	}
	var b storage.Batch
	b.Del(raw)
	return s.Engine.Apply(&b, false)
}

// DeleteHint removes the hint k once its owner acknowledged delivered, the
// encoding that was sent, and only if the hint is still exactly that: a
// write that reached the hint meanwhile must be delivered too. It reports
// whether the hint was removed.
func (s *Store) DeleteHint(k Key, delivered []byte) (bool, error) {
	if k.HintFor == "" {
		return false, fmt.Errorf("replica: DeleteHint of %q/%q, which is not a hint", k.Bucket, k.Key)
	}
	raw, err := s.Engine.Get(k.storageKey())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil || !bytes.Equal(raw, delivered) {
		return false, err
	}
	var b storage.Batch
	b.Del(k.storageKey())
	return true, s.Engine.Apply(&b, false)
}

// Store is a replica over one storage engine.
type Store struct {
	Engine  storage.Engine
	Counter Counter
	Clock   Clock
	// Trees, when set, follows every write of an object (hints are not in
	// the trees).
	Trees Trees
}

// Read returns the stored copy of k (nil when absent) and its encoding.
func (s *Store) Read(k Key) (*object.Object, []byte, error) {
	raw, err := s.Engine.Get(k.storageKey())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	obj, err := object.Decode(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("replica: stored object of %q/%q: %w", k.Bucket, k.Key, err)
	}
	return obj, raw, nil
}

// write stores encoded as k's copy in place of old (nil when absent),
// through Trees for an object so that its tree follows.
func (s *Store) write(k Key, old, encoded []byte, sync bool) error {
	store := func() error {
		var b storage.Batch
		b.Set(k.storageKey(), encoded)
		return s.Engine.Apply(&b, sync)
	}
	if s.Trees == nil || k.HintFor != "" {
		return store()
	}
	return s.Trees.Write(k.Partition, k.Segment, aae.Delta(k.Bucket, k.Key, old, encoded), store)
}

// Trees keeps the Merkle trees of a replica's partitions (package aae) in
// step with its objects.
type Trees interface {
	// Write runs store, which replaces an object of segment in partition,
	// and once it succeeded XORs delta into the segment's leaf. The node's
	// implementation also orders it against tree rebuilds.
	Write(partition, segment int, delta uint64, store func() error) error
}

// Items lists the objects stored in the given segments of partition p, with
// their digests, segment by segment in storage order (aae.Local).
func (s *Store) Items(p int, segments []int) ([]aae.Item, error) {
	var items []aae.Item
	var bad error
	for _, seg := range segments {
		lower, upper := storage.SegmentBounds(p, seg)
		err := s.Engine.Scan(lower, upper, func(raw, value []byte) bool {
			_, _, bucket, key, err := storage.ParseObjectKey(raw)
			if err != nil {
				bad = err
				return false
			}
			items = append(items, aae.Item{Segment: seg, Bucket: bytes.Clone(bucket), Key: bytes.Clone(key), Digest: aae.DigestOf(value)})
			return true
		})
		if err == nil {
			err = bad
		}
		if err != nil {
			return nil, fmt.Errorf("replica: listing segment %d of partition %d: %w", seg, p, err)
		}
	}
	return items, nil
}

// HashPartition calls add with the segment and aae.ItemHash of every object
// stored in partition p, from one snapshot of storage; started is called
// once that snapshot is taken, before the first add. The XOR of the hashes
// per segment is the partition's tree.
func (s *Store) HashPartition(p int, started func(), add func(segment int, hash uint64)) error {
	lower, upper := storage.PartitionBounds(p)
	first, bad := true, error(nil)
	err := s.Engine.Scan(lower, upper, func(raw, value []byte) bool {
		if first {
			first = false
			started()
		}
		_, seg, bucket, key, err := storage.ParseObjectKey(raw)
		if err != nil {
			bad = err
			return false
		}
		add(seg, aae.ItemHash(bucket, key, aae.DigestOf(value)))
		return true
	})
	if first {
		started()
	}
	if err == nil {
		err = bad
	}
	if err != nil {
		return fmt.Errorf("replica: hashing partition %d: %w", p, err)
	}
	return nil
}

// Latest is the newest modification time among obj's versions.
func Latest(obj *object.Object) hlc.Timestamp { return object.CausalOf(obj).Latest }

// Coordinate performs a coordinator's write of content with client context
// ctx: it reads the local copy, takes a fresh dot, stamps the version later
// than every version it replaces or sits beside, local or seen by the
// client (so that LWW order never contradicts causality), applies the
// update under policy p and stores the result (durably when sync is set).
// It returns the new object, its encoding and how many concurrent versions
// LWW dropped. Nothing is stored when it fails.
//
// A write the local copy already holds (same WriteID and content: a
// client's retry) takes no dot: the copy is stored again as it is, durably
// when sync is set, and returned for the caller to replicate, so that the
// retry is acknowledged only once W replicas hold the first attempt.
func (s *Store) Coordinate(k Key, ctx object.Causal, content object.Content, p object.Policy, sync bool) (*object.Object, []byte, int, error) {
	local, stored, err := s.Read(k)
	if err != nil {
		return nil, nil, 0, err
	}
	if content.WriteID != "" && local.Holds(content) {
		if err := s.write(k, stored, stored, sync); err != nil {
			return nil, nil, 0, fmt.Errorf("replica: storing %q/%q: %w", k.Bucket, k.Key, err)
		}
		return local, stored, 0, nil
	}
	counter, err := s.Counter.Next()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("replica: leasing a dot counter: %w", err)
	}
	after := Latest(local)
	if after.Less(ctx.Latest) {
		after = ctx.Latest
	}
	content.Modified = s.Clock.Stamp(after)
	if local == nil {
		local = &object.Object{}
	}
	obj, dropped, err := local.Update(ctx.VV, dvv.Dot{Actor: s.Counter.Actor(), Counter: counter}, content, p)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("replica: updating %q/%q: %w", k.Bucket, k.Key, err)
	}
	encoded := object.Encode(obj)
	if err := s.write(k, stored, encoded, sync); err != nil {
		return nil, nil, 0, fmt.Errorf("replica: storing %q/%q: %w", k.Bucket, k.Key, err)
	}
	return obj, encoded, dropped, nil
}

// ErrBadObject wraps a version that cannot be decoded.
var ErrBadObject = errors.New("replica: bad object")

// Apply merges a version sent by a coordinator into the local copy (DVV
// sync: nothing either side holds that the other has not seen is lost) and
// stores the result, durably when sync is set. It returns how many
// concurrent versions LWW dropped.
func (s *Store) Apply(k Key, encoded []byte, p object.Policy, sync bool) (int, error) {
	_, dropped, err := s.Merge(k, encoded, p, sync)
	return dropped, err
}

// Merge is Apply that also returns the merged encoding now stored. A copy
// the merge leaves unchanged is not written again unless sync asks for
// durability.
func (s *Store) Merge(k Key, encoded []byte, p object.Policy, sync bool) ([]byte, int, error) {
	incoming, err := object.Decode(encoded)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadObject, err)
	}
	s.Clock.Observe(Latest(incoming))
	local, stored, err := s.Read(k)
	if err != nil {
		return nil, 0, err
	}
	dropped := 0
	if local != nil {
		var merged *object.Object
		merged, dropped = object.Merge(local, incoming, p)
		encoded = object.Encode(merged)
		if !sync && bytes.Equal(encoded, stored) {
			return stored, dropped, nil
		}
	}
	if err := s.write(k, stored, encoded, sync); err != nil {
		return nil, 0, fmt.Errorf("replica: storing %q/%q: %w", k.Bucket, k.Key, err)
	}
	return encoded, dropped, nil
}
