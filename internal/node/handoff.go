package node

import (
	"context"
	"fmt"
	"time"

	"github.com/tutti-kv/tutti/internal/replica"
)

// handoffBatch bounds the hints one round sends to one owner, so that a
// long backlog is delivered in steady steps rather than one burst.
const handoffBatch = 64

// handoffLoop delivers, every HandoffInterval, the hints this node keeps
// for owners that gossip says are alive again (Dynamo section 4.6).
func (n *Node) handoffLoop(done <-chan struct{}) {
	defer n.wg.Done()
	// Deliveries in flight end with the node.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-done
		cancel()
	}()
	tick := time.NewTicker(n.cfg.HandoffInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			n.handoffRound(ctx)
		}
	}
}

// handoffRound sends each live owner up to handoffBatch of its hints. A
// hint is deleted only after its owner acknowledged it durably, and only if
// no write reached the hint meanwhile; otherwise the next round sends it
// again (a merge is idempotent).
func (n *Node) handoffRound(ctx context.Context) {
	st := n.ring.Load()
	if st == nil {
		return
	}
	for _, m := range st.ring.Members() {
		if m.ID == n.cfg.ID || !st.alive[m.ID] {
			continue
		}
		var batch []replica.Hint
		err := n.replica.Hints(m.ID, func(h replica.Hint) bool {
			if h.Err != nil {
				n.dropCorruptHint(h)
				return true
			}
			batch = append(batch, h)
			return len(batch) < handoffBatch
		})
		if err != nil {
			n.log.Error("listing hints", "owner", m.ID, "err", err)
			continue
		}
		for _, h := range batch {
			if ctx.Err() != nil {
				return
			}
			if !n.deliverHint(ctx, st, m.ID, h.Key, h.Encoded) {
				break // the owner is not answering: try again next round
			}
		}
	}
}

// dropCorruptHint deletes a stored hint that cannot be read, so that it
// blocks neither the node's start nor the owner's other hints, and counts
// it: anti-entropy repairs what it held.
func (n *Node) dropCorruptHint(h replica.Hint) {
	n.extra.hintsDropped.WithLabelValues("corrupt").Inc()
	n.log.Error("dropping a corrupt hint (anti-entropy will repair its owner)", "key", fmt.Sprintf("%x", h.Raw), "err", h.Err)
	if err := n.replica.DropCorruptHint(h.Raw); err != nil {
		n.log.Error("deleting a corrupt hint", "key", fmt.Sprintf("%x", h.Raw), "err", err)
	}
}

// deliverHint sends one hint to its owner and deletes it once acknowledged.
// It reports whether the owner answered.
func (n *Node) deliverHint(ctx context.Context, st *ringState, owner string, k replica.Key, encoded []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	pl := st.place(k.Bucket, k.Key)
	if _, err := n.remoteWrite(ctx, st.addr(owner), pl, encoded, true); err != nil {
		n.log.Debug("hint delivery failed", "owner", owner, "err", err)
		return false
	}
	mu := n.lockFor(pl.hash)
	mu.Lock()
	deleted, err := n.replica.DeleteHint(k, encoded)
	mu.Unlock()
	if err != nil {
		n.log.Error("deleting a delivered hint", "owner", owner, "err", err)
	}
	if deleted {
		n.hints.remove(owner, len(encoded))
		n.extra.hintsDelivered.Inc()
	}
	return true
}
