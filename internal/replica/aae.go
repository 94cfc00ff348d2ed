package replica

import (
	"bytes"
	"fmt"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/object"
)

// AAE is a Store as the local replica of anti-entropy exchanges
// (aae.Local): it lists, reads and merges objects, refusing any whose
// partition or segment is not where the ring puts its key.
type AAE struct {
	Store *Store
	// Trees returns a snapshot of a partition's tree and whether it is
	// built.
	Trees func(p int) (aae.Tree, bool)
	// Locate places a key: its partition and segment.
	Locate func(bucket, key []byte) (partition, segment int)
	// Policy is a bucket's conflict policy.
	Policy func(bucket []byte) (object.Policy, error)
}

// Tree implements aae.Local.
func (a AAE) Tree(p int) (aae.Tree, bool) { return a.Trees(p) }

// Items implements aae.Local.
func (a AAE) Items(p int, segments []int) ([]aae.Item, error) { return a.Store.Items(p, segments) }

func (a AAE) key(p, segment int, bucket, key []byte) (Key, error) {
	if gp, gs := a.Locate(bucket, key); gp != p || gs != segment {
		return Key{}, fmt.Errorf("%w: %q/%q is in partition %d segment %d, not %d/%d", aae.ErrBadRequest, bucket, key, gp, gs, p, segment)
	}
	return Key{Bucket: bucket, Key: key, Partition: p, Segment: segment}, nil
}

// Read implements aae.Local.
func (a AAE) Read(p, segment int, bucket, key []byte) ([]byte, error) {
	k, err := a.key(p, segment, bucket, key)
	if err != nil {
		return nil, err
	}
	_, raw, err := a.Store.Read(k)
	return raw, err
}

// Merge implements aae.Local. The merge is not fsynced: nobody waits on it,
// and a crash that loses it leaves the difference for the next exchange.
func (a AAE) Merge(p int, o aae.Object) ([]byte, error) {
	k, err := a.key(p, o.Segment, o.Bucket, o.Key)
	if err != nil {
		return nil, err
	}
	policy, err := a.Policy(o.Bucket)
	if err != nil {
		return nil, err
	}
	merged, _, err := a.Store.Merge(k, bytes.Clone(o.Encoded), policy, false)
	return merged, err
}
