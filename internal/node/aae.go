package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/ring"
)

// aaeRetry is how long a pair whose exchange failed, or found a tree still
// being built, waits before the next attempt.
const aaeRetry = 5 * time.Second

// aaeTick is how often the scheduler looks for pairs that are due.
const aaeTick = 200 * time.Millisecond

// repairWindow is how long after an exchange's last step past the roots
// it counts as in progress; steps follow each other within milliseconds,
// or aae.ConfirmDelay.
const repairWindow = 2 * time.Second

// busyRetry is how long a pair waits after its peer answered busy.
const busyRetry = time.Second

type repairPeer struct {
	peer  string
	until time.Time
}

// busyLocked reports whether this node is comparing partition p past the
// roots with a replica other than peer. Such an exchange is repairing, and
// one repair of a partition at a time keeps two replicas from copying the
// same objects to a third; equal roots take one step and block nothing.
// a.mu is held.
func (a *antiEntropy) busyLocked(p int, peer string, now time.Time) bool {
	r, ok := a.repairing[p]
	return ok && r.peer != peer && now.Before(r.until)
}

// noteRepairing records that partition p is being compared with peer past
// the roots.
func (a *antiEntropy) noteRepairing(p int, peer string) {
	a.mu.Lock()
	a.repairing[p] = repairPeer{peer, time.Now().Add(repairWindow)}
	a.mu.Unlock()
}

// aaePair is one partition and one of its other owners.
type aaePair struct {
	p    int
	peer string
}

// antiEntropy runs the node's exchanges: every partition it owns with
// each other owner at least once per Config.AAEInterval, at most
// Config.AAEConcurrency at once, paced to Config.AAERate bytes a second.
type antiEntropy struct {
	n       *Node
	trees   *trees
	local   aae.Local
	limiter *rate.Limiter
	started time.Time
	// paused stops scheduled exchanges and tree builds (SetPaused).
	paused atomic.Bool

	mu      sync.Mutex
	last    map[aaePair]time.Time // last exchange completed or served
	retry   map[aaePair]time.Time // not before, after a failed attempt
	running map[aaePair]bool
	// repairing holds, per partition, the peer this node is comparing it
	// with past the roots (as either side), until when that counts as in
	// progress without another step.
	repairing map[int]repairPeer
}

func newAntiEntropy(n *Node, t *trees) *antiEntropy {
	a := &antiEntropy{
		n: n, trees: t, started: time.Now(),
		last: map[aaePair]time.Time{}, retry: map[aaePair]time.Time{}, running: map[aaePair]bool{}, repairing: map[int]repairPeer{},
	}
	a.paused.Store(n.cfg.AAEPaused)
	burst := max(int(n.cfg.AAERate), 4<<20)
	a.limiter = rate.NewLimiter(rate.Limit(n.cfg.AAERate), burst)
	a.local = nodeLocal{AAE: replica.AAE{
		Store: n.replica,
		Trees: t.Tree,
		Locate: func(bucket, key []byte) (int, int) {
			st := n.ring.Load()
			h := ring.KeyHash(bucket, key)
			return st.ring.Partition(h), st.ring.Segment(h)
		},
		Policy: func(bucket []byte) (object.Policy, error) { return policyOf(n.bucketProps(bucket)), nil },
	}, n: n}
	return a
}

// nodeLocal is the replica.AAE adapter under the node's rules: names within
// limits, and merges under the key's lock like every other write.
type nodeLocal struct {
	replica.AAE
	n *Node
}

func (l nodeLocal) Read(p, segment int, bucket, key []byte) ([]byte, error) {
	if err := l.n.checkNames(bucket, key); err != nil {
		return nil, err
	}
	return l.AAE.Read(p, segment, bucket, key)
}

func (l nodeLocal) Merge(p int, o aae.Object) ([]byte, error) {
	if err := l.n.checkNames(o.Bucket, o.Key); err != nil {
		return nil, err
	}
	mu := l.n.lockFor(ring.KeyHash(o.Bucket, o.Key))
	mu.Lock()
	defer mu.Unlock()
	return l.AAE.Merge(p, o)
}

// buildTrees builds, from storage and one after the other, the trees of
// the partitions not loaded from the last clean stop, while the node
// serves. A partition is one slice of work for the pacer.
func (a *antiEntropy) buildTrees(ctx context.Context) {
	var start time.Time // of the first partition built, after any pause
	built := 0
	for p := range a.trees.parts {
		if _, ok := a.trees.root(p); ok {
			continue
		}
		if !a.awaitResumed(ctx) {
			return
		}
		began := time.Now()
		if built == 0 {
			start = began
		}
		if err := a.trees.rebuild(p, a.n.replica); err != nil {
			a.n.log.Error("building a partition's merkle tree", "partition", p, "err", err)
			return
		}
		built++
		if !a.pace(ctx, began) {
			return
		}
	}
	if built == 0 {
		return
	}
	took := time.Since(start)
	a.n.extra.aaeBuildSeconds.Set(took.Seconds())
	a.n.log.Info("merkle trees built", "partitions", built, "took", took)
}

// pace rests after a slice of background work that began at began, as
// the pacer says; it reports false when ctx ended.
func (a *antiEntropy) pace(ctx context.Context, began time.Time) bool {
	now := time.Now()
	return sleep(ctx, a.n.pacer.rest(now.Sub(began), now))
}

// awaitResumed waits while anti-entropy is paused; it reports false when
// ctx ended.
func (a *antiEntropy) awaitResumed(ctx context.Context) bool {
	for a.paused.Load() {
		if !sleep(ctx, aaeTick) {
			return false
		}
	}
	return ctx.Err() == nil
}

// loop builds the trees, then keeps up to AAEConcurrency exchanges
// running: as one ends the next due pair starts; when none is due it looks
// again every aaeTick. It returns when ctx ends.
func (a *antiEntropy) loop(ctx context.Context) {
	a.buildTrees(ctx)
	if a.n.cfg.AAEInterval < 0 {
		return
	}
	sem := make(chan struct{}, a.n.cfg.AAEConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(aaeTick)
	defer tick.Stop()
	for {
		if !a.awaitResumed(ctx) {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		pair, ok := a.next(time.Now())
		if !ok {
			<-sem
			select {
			case <-tick.C:
				continue
			case <-ctx.Done():
				return
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a.run(ctx, pair)
		}()
	}
}

// next picks the pair to exchange now, if any is due: the least recently
// exchanged (pairs never exchanged first, in random order, so that the
// replicas of a partition do not all start on the same one). It marks the
// pair running.
func (a *antiEntropy) next(now time.Time) (aaePair, bool) {
	st := a.n.ring.Load()
	if st == nil {
		return aaePair{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var best aaePair
	var bestLast time.Time
	found, ties := false, 0
	for _, p := range st.ring.OwnedBy(a.n.cfg.ID) {
		for _, peer := range st.ring.Owners(p) {
			pair := aaePair{p, peer}
			if peer == a.n.cfg.ID || !st.alive[peer] || a.running[pair] || now.Before(a.retry[pair]) || a.busyLocked(p, peer, now) {
				continue
			}
			last, ok := a.last[pair]
			// Due at three quarters of the interval: the slack absorbs
			// the wait for a free slot, so that no pair goes a whole
			// interval without an exchange.
			if ok && now.Sub(last) < a.n.cfg.AAEInterval*3/4 {
				continue
			}
			switch {
			case !found || last.Before(bestLast):
				best, bestLast, found, ties = pair, last, true, 1
			case last.Equal(bestLast):
				// Reservoir choice among equally old pairs.
				ties++
				if rand.IntN(ties) == 0 {
					best = pair
				}
			}
		}
	}
	if found {
		a.running[best] = true
	}
	return best, found
}

// run exchanges one pair and records the outcome.
func (a *antiEntropy) run(ctx context.Context, pair aaePair) kv.RepairExchange {
	ex := a.exchange(ctx, pair)
	now := time.Now()
	a.mu.Lock()
	delete(a.running, pair)
	switch ex.Outcome() {
	case aae.Equal, aae.Repaired:
		a.last[pair] = now
		delete(a.retry, pair)
	case aae.Busy:
		a.retry[pair] = now.Add(busyRetry)
	default:
		a.retry[pair] = now.Add(aaeRetry)
	}
	if r, ok := a.repairing[pair.p]; ok && r.peer == pair.peer {
		delete(a.repairing, pair.p)
	}
	a.mu.Unlock()
	st := ex.Stats()
	a.n.extra.aaeExchanges.WithLabelValues(ex.Outcome().String()).Inc()
	a.n.extra.aaeRepaired.WithLabelValues("pulled").Add(float64(st.Pulled))
	a.n.extra.aaeRepaired.WithLabelValues("pushed").Add(float64(st.Pushed))
	r := kv.RepairExchange{Partition: pair.p, Peer: pair.peer, Outcome: ex.Outcome().String(), Segments: st.Segments, Pulled: st.Pulled, Pushed: st.Pushed}
	if err := ex.Err(); err != nil {
		r.Error = err.Error()
		a.n.log.Warn("anti-entropy exchange failed", "partition", pair.p, "peer", pair.peer, "err", err)
	} else if st.Pulled+st.Pushed > 0 {
		a.n.log.Info("anti-entropy repaired", "partition", pair.p, "peer", pair.peer, "segments", st.Segments, "pulled", st.Pulled, "pushed", st.Pushed)
	}
	return r
}

// exchangeTimeout bounds one step of an exchange.
const exchangeTimeout = 10 * time.Second

// exchange drives one exchange of pair over the transport, paced by the
// limiter.
func (a *antiEntropy) exchange(ctx context.Context, pair aaePair) *aae.Exchange {
	ex := aae.NewExchange(pair.p, a.local)
	for req := ex.Next(); req != nil; req = ex.Next() {
		st := a.n.ring.Load()
		msg := &tuttipb.PeerRequest{From: a.n.cfg.ID, Body: &tuttipb.PeerRequest_Aae{Aae: requestToProto(req)}}
		size := proto.Size(msg)
		a.n.extra.aaeBytes.WithLabelValues(req.Kind.String()).Add(float64(size))
		if req.Kind != aae.KindRoot {
			a.noteRepairing(pair.p, pair.peer)
		}
		if req.Wait && !sleep(ctx, aae.ConfirmDelay) {
			ex.Fail(ctx.Err())
			break
		}
		began := time.Now()
		stepCtx, cancel := context.WithTimeout(ctx, exchangeTimeout)
		resp, err := a.n.peers.Call(stepCtx, st.addr(pair.peer), msg)
		cancel()
		if err == nil && resp.Error != "" {
			err = fmt.Errorf("%s: %s", pair.peer, resp.Error)
		}
		var reply *tuttipb.AAEReply
		if err == nil {
			if reply = resp.GetAae(); reply == nil {
				err = fmt.Errorf("%s answered an anti-entropy %s with %T", pair.peer, req.Kind, resp.Body)
			}
		}
		if err != nil {
			ex.Fail(err)
			break
		}
		ex.Handle(replyFromProto(reply))
		// A step past the roots, both sides' work and the wire between
		// them, is one slice of work for the pacer; the limiter then
		// paces bytes. Comparing roots costs what a ping does and is not
		// paced, so that every pair is compared once per interval however
		// loaded the node.
		if req.Kind != aae.KindRoot && !a.pace(ctx, began) {
			ex.Fail(ctx.Err())
			break
		}
		if err := a.limiter.WaitN(ctx, min(size+proto.Size(resp), a.limiter.Burst())); err != nil {
			ex.Fail(err)
			break
		}
	}
	return ex
}

// serve answers a peer's exchange step.
func (a *antiEntropy) serve(st *ringState, from string, req *tuttipb.AAERequest) *tuttipb.PeerResponse {
	p := int(req.Partition)
	if p >= st.ring.Q() {
		return errorResponse(kv.Errorf(kv.BadRequest, "partition %d out of range", p))
	}
	if !st.owns(p, a.n.cfg.ID) {
		return &tuttipb.PeerResponse{Code: tuttipb.ErrorCode_ERROR_CODE_NOT_REPLICA, Error: fmt.Sprintf("%s does not own partition %d", a.n.cfg.ID, p)}
	}
	r, err := requestFromProto(req)
	if err != nil {
		return errorResponse(err)
	}
	now := time.Now()
	a.mu.Lock()
	busy := r.Kind == aae.KindRoot && a.busyLocked(p, from, now)
	if r.Kind != aae.KindRoot {
		a.repairing[p] = repairPeer{from, now.Add(repairWindow)}
	}
	a.mu.Unlock()
	if busy {
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Aae{Aae: &tuttipb.AAEReply{Busy: true}}}
	}
	reply, err := aae.Serve(a.local, r)
	if err != nil {
		if errors.Is(err, aae.ErrBadRequest) {
			err = kv.Errorf(kv.BadRequest, "%v", err)
		}
		return errorResponse(err)
	}
	if r.Kind == aae.KindRoot && !reply.NotReady {
		// The peer compares now: its exchange stands for this side's too.
		a.mu.Lock()
		a.last[aaePair{p, from}] = time.Now()
		a.mu.Unlock()
	}
	resp := &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Aae{Aae: replyToProto(reply)}}
	a.n.extra.aaeBytes.WithLabelValues(r.Kind.String()).Add(float64(proto.Size(resp)))
	return resp
}

// status describes the trees and exchanges of the partitions the node owns.
func (a *antiEntropy) status() kv.AAEStatus {
	s := kv.AAEStatus{Node: a.n.cfg.ID, IntervalSeconds: a.n.cfg.AAEInterval.Seconds(), Paused: a.paused.Load()}
	st := a.n.ring.Load()
	if st == nil {
		return s
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range st.ring.OwnedBy(a.n.cfg.ID) {
		part := kv.AAEPartition{Partition: p, Peers: []kv.AAEPeer{}}
		if root, ok := a.trees.root(p); ok {
			part.Root = fmt.Sprintf("%016x", root)
			s.TreesBuilt++
		}
		for _, peer := range st.ring.Owners(p) {
			if peer == a.n.cfg.ID {
				continue
			}
			ap := kv.AAEPeer{Node: peer}
			last, ok := a.last[aaePair{p, peer}]
			if ok {
				ap.LastExchange = &last
			} else {
				last = a.started
			}
			s.OldestUnexchangedSeconds = max(s.OldestUnexchangedSeconds, now.Sub(last).Seconds())
			part.Peers = append(part.Peers, ap)
		}
		s.Partitions = append(s.Partitions, part)
	}
	return s
}

// oldestAge is status's OldestUnexchangedSeconds without the rest.
func (a *antiEntropy) oldestAge() float64 { return a.status().OldestUnexchangedSeconds }

// repair exchanges partition p now with each of its other live owners.
func (a *antiEntropy) repair(ctx context.Context, p int) (*kv.RepairResult, error) {
	st := a.n.ring.Load()
	if p < 0 || p >= st.ring.Q() {
		return nil, kv.Errorf(kv.BadRequest, "partition %d out of range [0, %d)", p, st.ring.Q())
	}
	if !st.owns(p, a.n.cfg.ID) {
		return nil, kv.Errorf(kv.BadRequest, "%s does not own partition %d (its owners are %v)", a.n.cfg.ID, p, st.ring.Owners(p))
	}
	res := &kv.RepairResult{Exchanges: []kv.RepairExchange{}}
	for _, peer := range st.ring.Owners(p) {
		if peer == a.n.cfg.ID {
			continue
		}
		pair := aaePair{p, peer}
		if !st.alive[peer] {
			res.Exchanges = append(res.Exchanges, kv.RepairExchange{Partition: p, Peer: peer, Outcome: aae.Failed.String(), Error: peer + " is down"})
			continue
		}
		for attempt := 1; ; attempt++ {
			// If the scheduler is exchanging this pair, wait for it, then
			// run one that starts now.
			if err := a.waitIdle(ctx, pair); err != nil {
				return nil, err
			}
			r := a.run(ctx, pair)
			if r.Outcome != aae.Busy.String() || attempt == repairAttempts {
				res.Exchanges = append(res.Exchanges, r)
				break
			}
			// The peer is exchanging the partition with another replica,
			// which takes moments: then compare what it left.
			if !sleep(ctx, 250*time.Millisecond) {
				return nil, ctx.Err()
			}
		}
	}
	return res, nil
}

// repairAttempts bounds how often Repair retries an exchange the peer
// answered busy.
const repairAttempts = 20

// waitIdle waits until pair is not running, then marks it running.
func (a *antiEntropy) waitIdle(ctx context.Context, pair aaePair) error {
	for {
		a.mu.Lock()
		if !a.running[pair] {
			a.running[pair] = true
			a.mu.Unlock()
			return nil
		}
		a.mu.Unlock()
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// AAEStatus implements kv.AntiEntropy.
func (n *Node) AAEStatus() kv.AAEStatus { return n.aae.status() }

// SetPaused implements kv.AntiEntropy.
func (n *Node) SetPaused(paused bool) {
	if n.aae.paused.Swap(paused) != paused {
		n.log.Info("anti-entropy schedule", "paused", paused)
	}
}

var _ kv.AntiEntropy = (*Node)(nil)

// Repair implements kv.AntiEntropy.
func (n *Node) Repair(ctx context.Context, partition int) (*kv.RepairResult, error) {
	return n.aae.repair(ctx, partition)
}

func requestToProto(r *aae.Request) *tuttipb.AAERequest {
	m := &tuttipb.AAERequest{Partition: uint32(r.Partition), Kind: tuttipb.AAEKind(r.Kind)}
	for _, b := range r.Branches {
		m.Branches = append(m.Branches, uint32(b))
	}
	for _, s := range r.Segments {
		m.Segments = append(m.Segments, uint32(s))
	}
	for _, it := range r.Items {
		// A fetch names objects; their digests stay home.
		m.Items = append(m.Items, &tuttipb.AAEItem{Segment: uint32(it.Segment), Bucket: it.Bucket, Key: it.Key})
	}
	m.Objects = objectsToProto(r.Objects)
	return m
}

func requestFromProto(m *tuttipb.AAERequest) (*aae.Request, error) {
	if m.Kind < tuttipb.AAEKind_AAE_KIND_ROOT || m.Kind > tuttipb.AAEKind_AAE_KIND_DIGESTS {
		return nil, kv.Errorf(kv.BadRequest, "unknown anti-entropy step %d", m.Kind)
	}
	if len(m.Branches) > aae.Branches || len(m.Segments) > aae.MaxRequestSegments || len(m.Items) > aae.MaxRequestObjects || len(m.Objects) > aae.MaxRequestObjects {
		return nil, kv.Errorf(kv.BadRequest, "anti-entropy request over its limits")
	}
	r := &aae.Request{Partition: int(m.Partition), Kind: aae.Kind(m.Kind)}
	for _, b := range m.Branches {
		r.Branches = append(r.Branches, int(b))
	}
	for _, s := range m.Segments {
		r.Segments = append(r.Segments, int(min(s, aae.Segments)))
	}
	for _, it := range m.Items {
		r.Items = append(r.Items, aae.Item{Segment: int(min(it.Segment, aae.Segments)), Bucket: it.Bucket, Key: it.Key})
	}
	r.Objects = objectsFromProto(m.Objects)
	return r, nil
}

func objectsToProto(objs []aae.Object) []*tuttipb.AAEObject {
	var m []*tuttipb.AAEObject
	for _, o := range objs {
		m = append(m, &tuttipb.AAEObject{Segment: uint32(o.Segment), Bucket: o.Bucket, Key: o.Key, Object: o.Encoded})
	}
	return m
}

func objectsFromProto(m []*tuttipb.AAEObject) []aae.Object {
	var objs []aae.Object
	for _, o := range m {
		ao := aae.Object{Segment: int(min(o.Segment, aae.Segments)), Bucket: o.Bucket, Key: o.Key}
		if len(o.Object) > 0 {
			ao.Encoded = o.Object
		}
		objs = append(objs, ao)
	}
	return objs
}

func replyToProto(r *aae.Reply) *tuttipb.AAEReply {
	m := &tuttipb.AAEReply{NotReady: r.NotReady, Busy: r.Busy, Hashes: r.Hashes, Objects: objectsToProto(r.Objects)}
	for _, it := range r.Items {
		pi := &tuttipb.AAEItem{Segment: uint32(it.Segment), Bucket: it.Bucket, Key: it.Key}
		if it.Digest != (aae.Digest{}) { // zero: the key is absent
			pi.Digest = it.Digest[:]
		}
		m.Items = append(m.Items, pi)
	}
	return m
}

func replyFromProto(m *tuttipb.AAEReply) *aae.Reply {
	r := &aae.Reply{NotReady: m.NotReady, Busy: m.Busy, Hashes: m.Hashes}
	for _, it := range m.Items {
		var d aae.Digest
		copy(d[:], it.Digest) // empty: absent; a short digest differs from every real one
		r.Items = append(r.Items, aae.Item{Segment: int(it.Segment), Bucket: it.Bucket, Key: it.Key, Digest: d})
	}
	r.Objects = objectsFromProto(m.Objects)
	return r
}

// sleep waits d, or less if ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
