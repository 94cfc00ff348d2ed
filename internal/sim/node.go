package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tutti-kv/tutti/internal/coordinator"
	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/identity"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/ring"
	"github.com/tutti-kv/tutti/internal/sim/check"
	"github.com/tutti-kv/tutti/internal/storage"
)

// epoch is the virtual wall time at the start of a run, in Unix
// nanoseconds; node clocks are skewed from it.
const epoch = int64(1_800_000_000) * int64(time.Second)

// leaseBlock is the nodes' counter lease: small, so runs renew leases often.
const leaseBlock = 50

// Node is one simulated node. It drives the real replica, coordinator and
// identity code the way internal/node does, with messages instead of RPCs
// and virtual timers instead of contexts.
type Node struct {
	w    *World
	id   string
	zone string

	engine *storage.Memory
	ident  *identity.Identity
	store  *replica.Store
	clock  *hlc.Clock
	skew   int64
	drift  float64

	up bool
	// incarnation counts restarts; timers of an earlier incarnation are
	// void.
	incarnation int
	// alive is this node's failure detector's view of the others.
	alive map[string]bool
	// pending holds the reply handlers of requests in flight, by id.
	pending map[uint64]func(message)
	// aae is the node's anti-entropy (aae.go), new in every life.
	aae aaeState

	// buggy state for BugKeepActorOnCrash: the first actor and a counter
	// that restarts from zero on every start.
	bugActor, bugCounter uint64
}

func newNode(w *World, idx int, m ring.Member) (*Node, error) {
	n := &Node{w: w, id: m.ID, zone: m.Zone, engine: storage.NewMemory()}
	if w.opts.Skew > 0 {
		n.skew = w.rng.Int64N(2*int64(w.opts.Skew)+1) - int64(w.opts.Skew)
	}
	if w.opts.Drift > 0 {
		n.drift = (w.rng.Float64()*2 - 1) * w.opts.Drift
	}
	if err := n.open(); err != nil {
		return nil, err
	}
	w.tracef("node %s zone=%q skew=%v drift=%.6f actor=%x", n.id, n.zone, time.Duration(n.skew), n.drift, n.ident.Actor())
	return n, nil
}

// physical is the node's wall clock: the virtual time, skewed and drifting.
func (n *Node) physical() int64 {
	return epoch + n.skew + n.w.now + int64(float64(n.w.now)*n.drift)
}

// open (re)opens the node's identity and replica over its engine, as
// internal/node's Start does.
func (n *Node) open() error {
	ident, err := identity.Open(n.engine, n.w.rng.Uint64, leaseBlock)
	if err != nil {
		return fmt.Errorf("sim: %s: identity: %w", n.id, err)
	}
	n.ident = ident
	n.clock = hlc.NewClock(n.physical)
	n.store = &replica.Store{Engine: n.engine, Counter: (*counter)(n), Clock: n.clock}
	n.openAAE()
	if err := n.loadTrees(); err != nil {
		return fmt.Errorf("sim: %s: saved trees: %w", n.id, err)
	}
	n.alive = map[string]bool{}
	for _, m := range n.w.ring.Members() {
		n.alive[m.ID] = true
	}
	n.pending = map[uint64]func(message){}
	if n.bugActor == 0 {
		n.bugActor = ident.Actor()
	}
	n.bugCounter = 0
	return nil
}

func (n *Node) start() {
	n.up = true
	n.handoff()
	n.startAAE()
}

// handoffEvery is how often a node tries to deliver its hints.
const handoffEvery = 500 * time.Millisecond

// handoffBatch bounds the hints one round sends per owner.
const handoffBatch = 16

// handoff delivers, every handoffEvery, the hints this node keeps for each
// owner it sees alive again: each goes to its owner as a replica write and
// is deleted once the owner acknowledged it, if unchanged meanwhile.
func (n *Node) handoff() {
	n.timer(handoffEvery, func() {
		for _, m := range n.w.ring.Members() {
			if m.ID == n.id || !n.alive[m.ID] {
				continue
			}
			sent := 0
			err := n.store.Hints(m.ID, func(h replica.Hint) bool {
				if h.Err != nil {
					n.w.violation("Simulator", "", -1, "%s holds a corrupt hint: %v", n.id, h.Err)
					return false
				}
				n.deliverHint(m.ID, h.Key, h.Encoded)
				sent++
				return sent < handoffBatch
			})
			if err != nil {
				n.w.violation("Simulator", "", -1, "%s listing hints for %s: %v", n.id, m.ID, err)
			}
		}
		n.handoff()
	})
}

func (n *Node) deliverHint(owner string, hk replica.Key, encoded []byte) {
	k := n.w.key(string(hk.Bucket), string(hk.Key))
	id := n.w.requestID()
	n.pending[id] = func(m message) {
		delete(n.pending, id)
		if r, ok := m.body.(replicaWriteResp); ok && r.err == "" {
			if deleted, err := n.store.DeleteHint(hk, encoded); err != nil {
				n.w.violation("Simulator", k.name, -1, "%s deleting a delivered hint: %v", n.id, err)
			} else if deleted {
				n.w.stats.HintsDelivered++
				n.w.tracef("%s handed off %s to %s", n.id, k.name, owner)
			}
		}
	}
	n.send(owner, id, replicaWrite{key: k, encoded: encoded, sync: true})
}

// holdsHint reports whether the node keeps a hint for k.
func (n *Node) holdsHint(k key) bool {
	for _, owner := range n.owners(k) {
		if obj, _, _ := n.store.Read(at(k, coordinator.Target{HintFor: owner}).Key); obj != nil {
			return true
		}
	}
	return false
}

// counter is the node's replica.Counter: its identity, recording every dot
// it issues for the DotReuse check.
type counter Node

func (c *counter) Actor() uint64 {
	if c.w.opts.Bug == BugKeepActorOnCrash {
		return c.bugActor
	}
	return c.ident.Actor()
}

func (c *counter) Next() (uint64, error) {
	var next uint64
	if c.w.opts.Bug == BugKeepActorOnCrash {
		c.bugCounter++
		next = c.bugCounter
	} else {
		var err error
		if next, err = c.ident.Next(); err != nil {
			return 0, err
		}
	}
	c.w.recordIssued(c.id, dvv.Dot{Actor: c.Actor(), Counter: next})
	return next, nil
}

// timer runs fn after d unless the node restarted meanwhile.
func (n *Node) timer(d time.Duration, fn func()) {
	inc := n.incarnation
	n.w.after(d, func() {
		if n.up && n.incarnation == inc {
			fn()
		}
	})
}

func (n *Node) send(to string, id uint64, body any) {
	n.w.net.send(message{from: n.id, to: to, id: id, body: body})
}

func (n *Node) isAlive(id string) bool { return n.alive[id] }

func (n *Node) owners(k key) []string { return n.w.ring.Owners(k.Partition) }

func (n *Node) owns(k key) bool { return slices.Contains(n.owners(k), n.id) }

// targets are the replicas a request for k goes to: the owners, or with a
// sloppy quorum the reachable owners and substitutes for the others.
func (n *Node) targets(k key) []coordinator.Target {
	if n.w.opts.Sloppy {
		return coordinator.Sloppy(n.w.ring.Targets(k.Partition, n.isAlive))
	}
	return coordinator.Primaries(n.owners(k))
}

// at returns k as stored on target t: the node's own copy, or the hint it
// keeps for the owner it stands in for.
func at(k key, t coordinator.Target) key {
	k.HintFor = t.HintFor
	return k
}

func (n *Node) receive(m message) {
	switch b := m.body.(type) {
	case clientGet:
		n.get(b.key, b.q, func(obj *object.Object, err *kv.Error) {
			res := clientResult{obj: obj, err: err}
			if obj != nil {
				res.context = object.EncodeContext(object.CausalOf(obj), n.w.contextKey)
			}
			n.send(m.from, m.id, res)
		})
	case clientWrite:
		done := func(written object.Causal, err *kv.Error) {
			n.send(m.from, m.id, clientResult{context: object.EncodeContext(written, n.w.contextKey), err: err})
		}
		ctx, err := object.DecodeContext(b.context, n.w.contextKey)
		switch {
		case err != nil:
			done(object.Causal{}, kv.Errorf(kv.BadRequest, "malformed or forged context: %v", err))
		case n.owns(b.key):
			n.coordinate(b.key, b.content, ctx, b.q, b.op, done)
		default:
			n.forward(b.key, b.content, ctx, b.q, b.op, done)
		}
	case coordinateReq:
		// Only an owner coordinates, even under a sloppy quorum: see
		// coordinate.
		if !n.owns(b.key) {
			n.send(m.from, m.id, coordinateResp{notReplica: true})
			return
		}
		n.coordinate(b.key, b.content, b.ctx, b.q, b.op, func(written object.Causal, err *kv.Error) {
			n.send(m.from, m.id, coordinateResp{ctx: written, err: err})
		})
	case replicaWrite:
		durable, err := n.apply(b)
		resp := replicaWriteResp{durable: durable}
		if err != nil {
			resp.err = err.Error()
			n.w.disturb(b.key.name, "a replica write failed")
		}
		n.send(m.from, m.id, resp)
	case replicaRead:
		_, raw, err := n.store.Read(b.key.Key)
		resp := replicaReadResp{encoded: raw}
		if err != nil {
			resp.err = err.Error()
		}
		n.send(m.from, m.id, resp)
	case aaeRequest:
		n.serveAAE(m, b.req)
	default:
		if h, ok := n.pending[m.id]; ok {
			h(m)
		}
	}
}

func policy(k key) object.Policy { return bucketPolicy(k.Bucket) }

// get is a quorum read, as internal/node's quorumRead: ask every replica,
// answer once R replied, with the merge.
func (n *Node) get(k key, q Quorums, done func(*object.Object, *kv.Error)) {
	read := coordinator.NewRead(n.targets(k), q.R, q.PR, policy(k))
	id := n.w.requestID()
	// The client is answered at the quorum; the read stays open for the
	// remaining replies, then repairs the replicas it found stale.
	answered, closed := false, false
	answer := func(obj *object.Object, err error) {
		if !answered {
			answered = true
			done(obj, kvErr(err))
		}
	}
	closeRead := func() {
		if !closed {
			closed = true
			delete(n.pending, id)
			n.repair(k, read)
		}
	}
	progress := func() {
		if read.Done() {
			answer(read.Result())
		}
		if read.Complete() {
			closeRead()
		}
	}
	n.pending[id] = func(m message) {
		switch b := m.body.(type) {
		case replicaReadResp:
			obj, err := decodeCopy(b)
			if err != nil {
				read.Fail(m.from)
			} else {
				read.Reply(m.from, obj)
			}
		case refused:
			read.Fail(m.from)
		}
		progress()
	}
	ask, local := read.Start(n.id, n.isAlive)
	for _, t := range ask {
		n.send(t.Node, id, replicaRead{key: at(k, t)})
	}
	if local {
		// A substitute's "copy" is its hint.
		self, _ := coordinator.Find(read.Targets(), n.id)
		if obj, _, err := n.store.Read(at(k, self).Key); err != nil {
			read.Fail(n.id)
		} else {
			read.Reply(n.id, obj)
		}
	}
	progress()
	n.timer(n.w.timeout(q), func() {
		if !answered {
			answer(nil, read.Expire())
		}
		closeRead()
	})
}

// timeout is a request's deadline: its own, or the nodes' default.
func (w *World) timeout(q Quorums) time.Duration {
	if q.Timeout > 0 {
		return q.Timeout
	}
	return w.opts.Timeout
}

// repair sends the merge of a read's copies to every primary whose copy
// was missing or behind, as internal/node's read repair does.
func (n *Node) repair(k key, read *coordinator.Read) {
	stale, merged := read.Stale()
	if len(stale) == 0 {
		return
	}
	encoded := object.Encode(merged)
	for _, t := range stale {
		n.w.stats.ReadRepairs++
		n.w.tracef("%s read-repairs %s on %s", n.id, k.name, t.Node)
		n.send(t.Node, n.w.requestID(), replicaWrite{key: k, encoded: encoded})
	}
}

func decodeCopy(b replicaReadResp) (*object.Object, error) {
	if b.err != "" {
		return nil, errors.New(b.err)
	}
	if len(b.encoded) == 0 {
		return nil, nil
	}
	return object.Decode(b.encoded)
}

// coordinate runs a write on this replica, as internal/node's coordinate:
// the local read-modify-write with a fresh dot, then the new object to
// every other replica, acknowledged once the write quorum is met.
//
// Only an owner coordinates, from its own copy; a substitute only merges
// what it is sent into its hint. A version vector entry (actor, c) claims
// every dot of that actor up to c, so an actor must issue each of a key's
// dots from a copy holding all its earlier ones. A substitute coordinating
// from a hint would not: its other copies (its own, other hints, hints
// already delivered and deleted) hold dots of the same actor, and the new
// version's context would silently replace them on merge. The simulator
// found this (seed 0x86, an acknowledged write lost).
func (n *Node) coordinate(k key, content object.Content, ctx object.Causal, q Quorums, op int, done func(object.Causal, *kv.Error)) {
	durable := q.DW >= 1
	if n.w.opts.Bug == BugIgnoreContext {
		ctx = object.Causal{}
	}
	n.w.coordinating = op
	obj, encoded, _, err := n.store.Coordinate(k.Key, ctx, content, policy(k), durable)
	n.w.coordinating = -1
	if err != nil {
		done(object.Causal{}, kv.Errorf(kv.Internal, "%v", err))
		return
	}
	n.w.tracef("%s stores op %d locally durable=%v: %s", n.id, op, durable, objectString(obj))
	write := coordinator.NewWrite(n.targets(k), q.W, q.DW, q.PW)
	send := write.Start(n.id, durable, n.isAlive)
	if len(send) < n.w.opts.N-1 {
		n.w.disturb(k.name, "a replica was skipped as down")
	}
	id := n.w.requestID()
	finished := false
	finish := func(err error) {
		finished = true
		if err != nil {
			done(object.Causal{}, kvErr(err))
			return
		}
		done(object.CausalOf(obj), nil)
	}
	// The handler outlives the request: later acks still count for the
	// trace, as the real node's sends outlive the client's request.
	n.pending[id] = func(m message) {
		switch b := m.body.(type) {
		case replicaWriteResp:
			if b.err != "" {
				write.Fail(m.from)
			} else {
				write.Ack(m.from, b.durable)
			}
		case refused:
			write.Fail(m.from)
		}
		if !finished && write.Done() {
			finish(write.Result())
		}
	}
	if n.w.opts.Bug == BugEarlyAck {
		finish(nil)
	}
	for _, t := range send {
		if !t.Primary {
			n.w.disturb(k.name, "a substitute holds a hint")
		}
		n.send(t.Node, id, replicaWrite{key: at(k, t), encoded: encoded, sync: q.DW > 1})
	}
	if !finished && write.Done() {
		finish(write.Result())
	}
	n.timer(n.w.timeout(q), func() {
		delete(n.pending, id)
		if !finished {
			finish(write.Expire())
		}
	})
}

// forward hands a write to a replica, as internal/node's forward: owners in
// preference order, moving on only when the request certainly was not
// delivered.
func (n *Node) forward(k key, content object.Content, ctx object.Causal, q Quorums, op int, done func(object.Causal, *kv.Error)) {
	owners := n.owners(k)
	id := n.w.requestID()
	finished := false
	finish := func(written object.Causal, err *kv.Error) {
		finished = true
		delete(n.pending, id)
		done(written, err)
	}
	fwd := coordinator.NewForward(owners)
	try := func() {
		owner, ok := fwd.Next(n.isAlive)
		if !ok {
			finish(object.Causal{}, kvErr(fwd.Exhausted()))
			return
		}
		n.send(owner, id, coordinateReq{key: k, content: content, ctx: ctx, q: q, op: op})
	}
	n.pending[id] = func(m message) {
		if m.from != fwd.Current() {
			return
		}
		switch r := m.body.(type) {
		case refused:
			try()
		case coordinateResp:
			if r.notReplica {
				try()
				return
			}
			finish(r.ctx, r.err)
		}
	}
	try()
	n.timer(n.w.timeout(q), func() {
		if !finished {
			finish(object.Causal{}, kv.Errorf(kv.Unavailable, "forwarding the write timed out (it may or may not have been applied)"))
		}
	})
}

// apply merges a replica write, as internal/node's applyReplica.
func (n *Node) apply(b replicaWrite) (bool, error) {
	if n.w.opts.Bug == BugKeepLocal {
		if local, _, err := n.store.Read(b.key.Key); err == nil && local != nil {
			return b.sync, nil
		}
	}
	if n.w.opts.Bug == BugOverwrite {
		return b.sync, n.overwrite(b.key, b.encoded, b.sync)
	}
	// A hint is always fsynced, as internal/node does.
	sync := b.sync || b.key.HintFor != ""
	_, err := n.store.Apply(b.key.Key, b.encoded, policy(b.key), sync)
	return sync, err
}

// crash stops the node as a power loss: unsynced writes are lost (all, or
// a torn tail's prefix survives), requests in flight are forgotten, and
// with wipe the data directory is lost too.
func (n *Node) crash(wipe bool) {
	w := n.w
	if !n.stop() {
		return
	}
	// The keys whose copies or hints this node holds may lose data.
	for _, k := range w.keys {
		if n.owns(k) || n.holdsHint(k) {
			w.disturb(k.name, n.id+" lost data")
		}
	}
	kept, lost := 0, n.engine.Unsynced()
	if w.opts.TornTail && lost > 0 {
		kept = w.rng.IntN(lost + 1)
	}
	n.engine.CrashKeeping(kept)
	kind := check.Crash
	w.stats.Crashes++
	if wipe {
		n.engine.Wipe()
		kind = check.Wipe
		w.stats.Crashes--
		w.stats.Wipes++
	}
	w.faults = append(w.faults, check.Fault{Time: w.now, Node: n.id, Kind: kind})
	w.tracef("fault %s %s (unsynced batches: %d lost, %d kept)", kind, n.id, lost-kept, kept)
	w.membershipChanged()
}

// stop takes the node down: its requests in flight and timers are
// forgotten. It reports false when the node was already down.
func (n *Node) stop() bool {
	if !n.up {
		return false
	}
	n.up = false
	n.incarnation++
	n.pending = nil
	for _, c := range n.w.clients {
		c.nodeStopped(n.id)
	}
	return true
}

// shutdown stops the node cleanly, as an operator's restart does: its
// identity is marked clean and its storage flushed, so nothing is lost and
// it keeps its actor id.
func (n *Node) shutdown() {
	w := n.w
	if !n.stop() {
		return
	}
	if err := n.saveTrees(); err != nil {
		w.violation("Simulator", "", -1, "%s saving its trees: %v", n.id, err)
	}
	if err := n.ident.Close(); err != nil {
		w.violation("Simulator", "", -1, "%s closing its identity: %v", n.id, err)
	}
	if err := n.engine.Close(); err != nil {
		w.violation("Simulator", "", -1, "%s closing its storage: %v", n.id, err)
	}
	w.stats.Shutdowns++
	w.tracef("fault clean shutdown %s", n.id)
	w.membershipChanged()
}

// restart brings a stopped node back on its (possibly wiped) storage.
func (n *Node) restart() error {
	if n.up {
		return nil
	}
	n.engine.Reopen()
	if err := n.open(); err != nil {
		return err
	}
	n.start()
	n.w.tracef("restart %s actor=%x", n.id, n.ident.Actor())
	n.w.membershipChanged()
	return nil
}
