package node

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/tutti-kv/tutti/internal/coordinator"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/membership"
	"github.com/tutti-kv/tutti/internal/ring"
)

// ringState is an immutable snapshot of the membership and the ring derived
// from it; requests load one and use it throughout.
type ringState struct {
	ring    *ring.Ring
	version uint64
	members map[string]membership.Record
	alive   map[string]bool
	// joined is false while a node started with seeds to join sees only
	// itself: its ring would make it the owner of every key, so it serves
	// no reads or writes yet.
	joined bool
}

// membershipChanged rebuilds the ring snapshot after gossip changed the
// member records or their liveness, and drops cached bucket properties.
//
// Calls are serialized, and each reads the view inside the lock: Start's
// own call and the gossip subscriber's can otherwise race, and a stale view
// stored last would stay until the next membership change.
func (n *Node) membershipChanged() {
	n.ringMu.Lock()
	defer n.ringMu.Unlock()
	view := n.swim.View()
	old := n.ring.Load()
	st := &ringState{
		version: view.Version,
		members: make(map[string]membership.Record, len(view.Records)),
		alive:   make(map[string]bool, len(view.Records)),
	}
	st.joined = len(n.cfg.Join) == 0 || len(view.Records) > 1 || (old != nil && old.joined)
	members := make([]ring.Member, 0, len(view.Records))
	for _, rec := range view.Records {
		st.members[rec.ID] = rec
		st.alive[rec.ID] = view.Alive(rec.ID) || rec.ID == n.cfg.ID
		members = append(members, ring.Member{ID: rec.ID, Zone: rec.Zone})
	}
	if old != nil && old.version == view.Version {
		st.ring = old.ring
	} else {
		r, err := ring.New(n.cfg.Partitions, n.cfg.N, members)
		if err != nil {
			n.log.Error("cannot build ring", "err", err)
			if old != nil {
				st.ring = old.ring
			}
		} else {
			st.ring = r
			n.log.Info("ring updated", "members", len(members), "version", view.Version)
		}
	}
	if st.ring == nil {
		return
	}
	n.ring.Store(st)
	n.props.Store(new(sync.Map))
	if old != nil && n.peers != nil {
		for id, alive := range st.alive {
			if alive && !old.alive[id] && id != n.cfg.ID {
				// Back from the dead: replicate to it now, not after
				// the transport's backoff from its failed calls.
				n.peers.Revive(st.addr(id))
			}
		}
	}
}

// serving returns the ring requests use, or Unavailable while the node
// has not joined its cluster yet. Every client request calls it, so it
// also tells the pacer that the node is serving.
func (n *Node) serving() (*ringState, error) {
	n.pacer.foreground(time.Now())
	st := n.ring.Load()
	if !st.joined {
		return nil, kv.Errorf(kv.Unavailable, "%s has not joined its cluster yet (seeds %v)", n.cfg.ID, n.cfg.Join)
	}
	return st, nil
}

// targets are the replicas of partition p as coordinator targets: its
// owners, or with a sloppy quorum the reachable owners and substitutes for
// the unreachable ones.
func (st *ringState) targets(p int, sloppy bool) []coordinator.Target {
	if sloppy {
		return coordinator.Sloppy(st.ring.Targets(p, st.isAlive))
	}
	return coordinator.Primaries(st.ring.Owners(p))
}

// owns reports whether node id is one of partition p's owners.
func (st *ringState) owns(p int, id string) bool {
	return slices.Contains(st.ring.Owners(p), id)
}

// isAlive reports whether gossip sees node id alive.
func (st *ringState) isAlive(id string) bool { return st.alive[id] }

// addr is the gRPC address of node id.
func (st *ringState) addr(id string) string { return st.members[id].GRPCAddr }

func propsKey(bucket []byte) string { return "props/" + string(bucket) }

// bucketProps returns the gossiped properties of bucket, or the defaults.
func (n *Node) bucketProps(bucket []byte) kv.Props {
	cache := n.props.Load()
	if p, ok := cache.Load(string(bucket)); ok {
		return p.(kv.Props)
	}
	p := kv.DefaultProps()
	if raw, ok := n.swim.Meta(propsKey(bucket)); ok {
		// Fields a stored record lacks (written before they existed) keep
		// their defaults.
		stored := kv.DefaultProps()
		if err := json.Unmarshal(raw, &stored); err == nil {
			p = stored
		} else {
			n.log.Error("bad bucket props in cluster metadata", "bucket", string(bucket), "err", err)
		}
	}
	cache.Store(string(bucket), p)
	return p
}
