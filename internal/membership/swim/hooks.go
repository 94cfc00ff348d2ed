package swim

import (
	"errors"

	"github.com/hashicorp/memberlist"
)

// hooks implements memberlist's delegates for a Swim. memberlist calls
// them from its own goroutines, some while holding its node lock, so they
// take only the Swim's mutex, briefly, and never call back into
// memberlist.
type hooks struct {
	s *Swim
}

var (
	_ memberlist.Delegate      = (*hooks)(nil)
	_ memberlist.EventDelegate = (*hooks)(nil)
	_ memberlist.AliveDelegate = (*hooks)(nil)
	_ memberlist.MergeDelegate = (*hooks)(nil)
)

// NodeMeta carries only the ClusterID, so that peers can refuse this node
// before exchanging any state with it.
func (h *hooks) NodeMeta(limit int) []byte {
	meta := encodeNodeMeta(h.s.clusterID)
	if len(meta) > limit {
		// Config validation keeps ClusterIDs far below memberlist's limit.
		return nil
	}
	return meta
}

// NotifyMsg merges a broadcast or directly sent change. memberlist may
// reuse msg after the call; decoding copies what it keeps.
func (h *hooks) NotifyMsg(msg []byte) {
	st, mt, err := decodeEnvelope(msg, h.s.clusterID)
	if err != nil {
		h.logRefused("swim: dropped a gossip message", err)
		return
	}
	h.s.merge(st, mt)
}

// GetBroadcasts hands queued changes to memberlist's gossip.
func (h *hooks) GetBroadcasts(overhead, limit int) [][]byte {
	return h.s.queue.GetBroadcasts(overhead, limit)
}

// LocalState is this node's full state for a push-pull exchange.
func (h *hooks) LocalState(join bool) []byte {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return encodeEnvelope(s.clusterID, s.state, s.meta)
}

// MergeRemoteState merges a peer's full state from a push-pull exchange.
func (h *hooks) MergeRemoteState(buf []byte, join bool) {
	st, mt, err := decodeEnvelope(buf, h.s.clusterID)
	if err != nil {
		h.logRefused("swim: dropped a peer's state", err)
		return
	}
	h.s.merge(st, mt)
}

// NotifyJoin records that a node is alive.
func (h *hooks) NotifyJoin(n *memberlist.Node) { h.s.setAlive(n.Name, true) }

// NotifyLeave records that a node is dead or left memberlist.
func (h *hooks) NotifyLeave(n *memberlist.Node) { h.s.setAlive(n.Name, false) }

// NotifyUpdate ignores node metadata updates: NodeMeta never changes.
func (h *hooks) NotifyUpdate(*memberlist.Node) {}

// NotifyAlive refuses gossip about nodes of another cluster, so they never
// enter this node's memberlist.
func (h *hooks) NotifyAlive(peer *memberlist.Node) error {
	return checkNodeMeta(peer.Name, peer.Meta, h.s.clusterID)
}

// NotifyMerge refuses a join to or from a node of another cluster before
// any state is merged; the joining side's Join then fails with the reason.
func (h *hooks) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := checkNodeMeta(p.Name, p.Meta, h.s.clusterID); err != nil {
			h.s.log.Warn("swim: refused to merge with another cluster", "err", err)
			return err
		}
	}
	return nil
}

func (h *hooks) logRefused(msg string, err error) {
	if errors.Is(err, errOtherCluster) {
		h.s.log.Warn(msg, "err", err)
		return
	}
	h.s.log.Error(msg, "err", err)
}

// setAlive records a liveness change reported by memberlist.
func (s *Swim) setAlive(id string, alive bool) {
	s.mu.Lock()
	changed := s.alive[id] != alive
	if alive {
		s.alive[id] = true
	} else {
		delete(s.alive, id)
	}
	s.mu.Unlock()
	if changed {
		s.log.Debug("swim: liveness changed", "member", id, "alive", alive)
		s.signal()
	}
}
