package sim

import (
	"fmt"
	"time"

	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/sim/check"
)

// The scripted interface: tests drive a World step by step, one client
// operation or fault at a time, to replay known failure scenarios
// deterministically.

// Client is a scripted client of a World.
type Client struct{ c *client }

// Client adds a scripted client; strict marks it as held to the
// strict-quorum guarantee.
func (w *World) Client(strict bool) *Client { return &Client{w.addClient(strict)} }

// Do issues r and runs the world until it completes, returning the
// recorded operation (its Dot is filled in by Finish).
func (c *Client) Do(r Request) check.Op {
	var out check.Op
	finished := false
	c.c.invoke(r, func(o check.Op) { out, finished = o, true })
	c.c.w.runWhile(func() bool { return !finished })
	if !finished {
		panic(fmt.Sprintf("sim: operation %d never completed", c.c.op))
	}
	return out
}

// Settle runs the world for d of virtual time.
func (w *World) Settle(d time.Duration) { w.runUntil(w.now + int64(d)) }

// Crash power-cycles node off: it loses unsynced writes and stays down
// until Restart. With wipe, its data directory is lost too.
func (w *World) Crash(node string, wipe bool) { w.byID[node].crash(wipe) }

// Restart brings a crashed node back.
func (w *World) Restart(node string) error { return w.byID[node].restart() }

// Partition cuts the links between the nodes of a and b (from a to b
// only, when oneWay).
func (w *World) Partition(a, b []string, oneWay bool) {
	w.net.partition(a, b, oneWay)
	w.membershipChanged()
}

// HealLinks restores every link.
func (w *World) HealLinks() {
	w.net.heal()
	w.membershipChanged()
}

// Owners returns the replicas of bucket/key, primary first.
func (w *World) Owners(bucket, key string) []string {
	return w.ring.Owners(w.key(bucket, key).Partition)
}

// Stored returns node's stored copy of bucket/key (nil when it has none).
func (w *World) Stored(node, bucket, key string) (*object.Object, error) {
	obj, _, err := w.byID[node].store.Read(w.key(bucket, key).Key)
	return obj, err
}

// HandOff sends from's stored copy of bucket/key to node to as a replica
// write, as a hinted handoff or a read repair would, and runs the world
// until it was delivered.
func (w *World) HandOff(from, to, bucket, key string) error {
	k := w.key(bucket, key)
	_, raw, err := w.byID[from].store.Read(k.Key)
	if err != nil || raw == nil {
		return fmt.Errorf("sim: %s has no copy of %s: %v", from, k.name, err)
	}
	w.byID[from].send(to, w.requestID(), replicaWrite{key: k, encoded: raw, sync: true})
	w.Settle(w.opts.MaxDelay + time.Millisecond)
	return nil
}
