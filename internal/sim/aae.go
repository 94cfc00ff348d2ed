package sim

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/ring"
	"github.com/tutti-kv/tutti/internal/sim/check"
	"github.com/tutti-kv/tutti/internal/storage"
)

// Anti-entropy (package aae) in the simulator, as internal/node runs it
// (aae.go there). Every node keeps a Merkle tree per partition (an
// aae.Forest as its replica.Store's Trees) in memory; a clean shutdown
// saves the built ones in storage and the next start takes them up. A start
// rebuilds the others (all of them after a crash or a data loss) from
// storage in the background, which the simulator models as a build a few
// hundred milliseconds after the start; until then exchanges touching the
// node's unbuilt trees end NotReady. Every aaeTick a node starts the exchanges that are
// due, least recently exchanged first, at most aaeParallel at a time: each
// partition it owns with each other owner it sees alive, once per
// AAEInterval after the last exchange of the pair completed (or the peer's
// exchange of it began, which serves this side too), aaeRetry after one
// failed. Each step of an exchange is a message to the peer, which answers
// with aae.Serve, so exchanges meet every network fault. A step not
// answered within the node's timeout, or refused by a down peer, fails the
// exchange; a node that stops drops its exchanges with its other requests.

const (
	// aaeTick is how often a node looks for exchanges that are due.
	aaeTick = 200 * time.Millisecond
	// aaeParallel bounds the exchanges one node runs at a time.
	aaeParallel = 2
	// aaeRetry is how long a pair whose exchange failed, or found a tree
	// not built yet, waits before the next attempt.
	aaeRetry = 5 * time.Second
	// aaeBuildMin and aaeBuildMax bound how long after a start a node's
	// trees are built.
	aaeBuildMin, aaeBuildMax = 100 * time.Millisecond, 500 * time.Millisecond
	// aaeConvergeLimit bounds how long AntiEntropy waits for every pair
	// of replicas to exchange.
	aaeConvergeLimit = 5 * time.Minute
	// CheckExchanges names the violations of AntiEntropy (an exchange that
	// never completed, a refused request, a broken reply).
	CheckExchanges = "Exchanges"
)

// aaePair is one partition and one of its other owners.
type aaePair struct {
	p    int
	peer string
}

// aaeState is one node life's anti-entropy: its trees, its replica as the
// local side of exchanges, and the schedule.
type aaeState struct {
	forest *aae.Forest
	local  aaeLocal
	// last is when the pair's last exchange completed, or the peer's
	// began; retry when a failed pair may run again; running the pairs
	// being exchanged.
	last, retry map[aaePair]int64
	running     map[aaePair]bool
	// completed is when this node's last exchange of the pair that
	// compared both trees to the end started (for AntiEntropy).
	completed map[aaePair]int64
}

// aaeLocal is the node's replica as the local side of exchanges and the
// answerer of its peers' requests: replica.AAE, with the planted bug that
// concerns merges.
type aaeLocal struct {
	replica.AAE
	bug Bug
}

// Merge implements aae.Local. With BugKeepLocal the node ignores an object
// it already holds, as it ignores every other version it is sent.
func (l aaeLocal) Merge(p int, o aae.Object) ([]byte, error) {
	if l.bug == BugKeepLocal {
		if raw, err := l.Read(p, o.Segment, o.Bucket, o.Key); err != nil || raw != nil {
			return raw, err
		}
	}
	return l.AAE.Merge(p, o)
}

// bucketPolicy is a bucket's conflict policy: "l" is last-write-wins, every
// other bucket keeps siblings.
func bucketPolicy(bucket []byte) object.Policy {
	if len(bucket) > 0 && bucket[0] == 'l' {
		return object.LWW
	}
	return object.Siblings
}

// locate places a key on the ring: its partition and segment.
func (w *World) locate(bucket, key []byte) (int, int) {
	h := ring.KeyHash(bucket, key)
	return w.ring.Partition(h), w.ring.Segment(h)
}

// openAAE gives a freshly opened node unbuilt trees that follow its store,
// and forgets the exchanges of its previous life.
func (n *Node) openAAE() {
	f := aae.NewForest(n.w.ring.Q())
	n.store.Trees = f
	n.aae = aaeState{
		forest: f,
		local: aaeLocal{AAE: replica.AAE{
			Store:  n.store,
			Trees:  f.Tree,
			Locate: n.w.locate,
			Policy: func(bucket []byte) (object.Policy, error) { return bucketPolicy(bucket), nil },
		}, bug: n.w.opts.Bug},
		last: map[aaePair]int64{}, retry: map[aaePair]int64{}, running: map[aaePair]bool{}, completed: map[aaePair]int64{},
	}
}

// saveTrees stores the built trees, synced, as a node stopping cleanly
// does: its storage holds no write they miss.
func (n *Node) saveTrees() error {
	b := &storage.Batch{}
	b.Set(storage.MetaKey(aae.SnapshotName), n.aae.forest.Snapshot())
	return n.engine.Apply(b, true)
}

// loadTrees takes up the trees the last clean stop saved, deleting them
// (synced) before the node writes anything, as the node's start does. The
// liveness checks then hold trees kept across restarts to storage, where a
// rebuild at every start would hide a write that missed its tree.
func (n *Node) loadTrees() error {
	raw, err := n.engine.Get(storage.MetaKey(aae.SnapshotName))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	b := &storage.Batch{}
	b.Del(storage.MetaKey(aae.SnapshotName))
	if err := n.engine.Apply(b, true); err != nil {
		return err
	}
	loaded, err := n.aae.forest.Restore(raw)
	if err != nil {
		return err
	}
	n.w.tracef("%s loaded %d saved trees", n.id, loaded)
	return nil
}

// startAAE schedules the build of the trees and, unless anti-entropy is
// off, the exchanges.
func (n *Node) startAAE() {
	n.timer(n.w.duration(aaeBuildMin, aaeBuildMax), n.buildTrees)
	if n.w.opts.AAEInterval > 0 {
		n.aaeTick()
	}
}

// buildTrees builds every partition's tree that was not saved, from
// storage, as the node's background build does after a start.
func (n *Node) buildTrees() {
	for p := range n.w.ring.Q() {
		if _, ok := n.aae.forest.Tree(p); ok {
			continue
		}
		err := n.aae.forest.Build(p, func(add func(int, uint64)) error { return n.store.HashPartition(p, func() {}, add) })
		if err != nil {
			n.w.violation("Simulator", "", -1, "%s building the tree of partition %d: %v", n.id, p, err)
		}
	}
	n.w.tracef("%s built its trees", n.id)
}

// aaeTick starts the exchanges that are due, every aaeTick.
func (n *Node) aaeTick() {
	n.timer(aaeTick, func() {
		for _, pr := range n.aaeDue() {
			n.aaeStart(pr)
		}
		n.aaeTick()
	})
}

// aaeDue lists the pairs to exchange now, least recently exchanged first,
// as many as may start: every partition the node owns with each other
// owner it sees alive, not running, not waiting to retry, and not
// exchanged within AAEInterval.
func (n *Node) aaeDue() []aaePair {
	free := aaeParallel - len(n.aae.running)
	if free <= 0 {
		return nil
	}
	a, now := &n.aae, n.w.now
	var pairs []aaePair
	for _, p := range n.w.ring.OwnedBy(n.id) {
		for _, peer := range n.w.ring.Owners(p) {
			pr := aaePair{p: p, peer: peer}
			if peer == n.id || !n.alive[peer] || a.running[pr] || now < a.retry[pr] {
				continue
			}
			if last, ok := a.last[pr]; ok && now-last < int64(n.w.opts.AAEInterval) {
				continue
			}
			pairs = append(pairs, pr)
		}
	}
	// Never-exchanged pairs first, in a random order so that the replicas
	// of a partition do not all start on the same one; then the least
	// recently exchanged.
	never := slices.DeleteFunc(slices.Clone(pairs), func(pr aaePair) bool { _, ok := a.last[pr]; return ok })
	n.w.rng.Shuffle(len(never), func(i, j int) { never[i], never[j] = never[j], never[i] })
	seen := slices.DeleteFunc(pairs, func(pr aaePair) bool { _, ok := a.last[pr]; return !ok })
	slices.SortStableFunc(seen, func(x, y aaePair) int { return cmp.Compare(a.last[x], a.last[y]) })
	pairs = append(never, seen...)
	return pairs[:min(len(pairs), free)]
}

// aaeStart runs one exchange of pr.
func (n *Node) aaeStart(pr aaePair) {
	x := &exchange{Exchange: aae.NewExchange(pr.p, n.aae.local), pair: pr, start: n.w.now}
	n.aae.running[pr] = true
	n.aaeStep(x)
}

// exchange is one exchange in flight.
type exchange struct {
	*aae.Exchange
	pair  aaePair
	start int64
}

// aaeStep sends the exchange's next request to the peer, or ends the
// exchange when it has none. The request fails the exchange when the peer
// refuses it (down) or does not answer in time (lost, cut or too slow).
func (n *Node) aaeStep(x *exchange) {
	req := x.Next()
	if req == nil {
		n.aaeEnded(x)
		return
	}
	id := n.w.requestID()
	answered := false
	answer := func(handle func()) {
		answered = true
		delete(n.pending, id)
		handle()
		n.aaeStep(x)
	}
	n.pending[id] = func(m message) {
		if answered || m.from != x.pair.peer {
			return
		}
		switch b := m.body.(type) {
		case aaeReply:
			answer(func() {
				if b.err != "" {
					x.Fail(fmt.Errorf("%s refused %s: %s", m.from, req.Kind, b.err))
					return
				}
				x.Handle(b.rep)
				if x.Outcome() == aae.Failed {
					n.w.violation(CheckExchanges, "", -1, "%s exchanging partition %d with %s: %s reply: %v", n.id, x.P, m.from, req.Kind, x.Err())
				}
			})
		case refused:
			answer(func() { x.Fail(fmt.Errorf("%s is down", m.from)) })
		}
	}
	send := func() {
		n.send(x.pair.peer, id, aaeRequest{req: cloneRequest(req)})
		n.timer(n.w.opts.Timeout+2*n.w.opts.MaxDelay, func() {
			if !answered {
				answer(func() { x.Fail(errors.New("timed out")) })
			}
		})
	}
	if req.Wait {
		n.timer(aae.ConfirmDelay, send)
	} else {
		send()
	}
}

// aaeEnded records how an exchange ended: a pair that compared both trees
// to the end is due again after AAEInterval, one that did not after
// aaeRetry.
func (n *Node) aaeEnded(x *exchange) {
	w, a := n.w, &n.aae
	delete(a.running, x.pair)
	st := x.Stats()
	w.stats.Exchanges++
	w.stats.AAEPulled += st.Pulled
	w.stats.AAEPushed += st.Pushed
	switch x.Outcome() {
	case aae.Equal, aae.Repaired:
		a.last[x.pair] = w.now
		if st.Unsettled == 0 {
			// Keys written during the exchange were left to their
			// writes: only an exchange without any compared everything.
			a.completed[x.pair] = x.start
		}
		delete(a.retry, x.pair)
	default:
		a.retry[x.pair] = w.now + int64(aaeRetry)
	}
	switch x.Outcome() {
	case aae.Equal:
		return
	case aae.Repaired:
		w.stats.ExchangesRepaired++
	case aae.NotReady:
		w.stats.ExchangesNotReady++
	case aae.Failed:
		w.stats.ExchangesFailed++
	}
	detail := ""
	if err := x.Err(); err != nil {
		detail = ": " + err.Error()
	}
	w.tracef("%s exchange of partition %d with %s %v (%d segments, %d pulled, %d pushed)%s",
		n.id, x.P, x.pair.peer, x.Outcome(), st.Segments, st.Pulled, st.Pushed, detail)
}

// serveAAE answers a peer's exchange request. A peer's exchange that
// compares roots stands for this side's exchange of the pair too.
func (n *Node) serveAAE(m message, req *aae.Request) {
	if req.Partition < 0 || req.Partition >= n.w.ring.Q() || !slices.Contains(n.w.ring.Owners(req.Partition), n.id) {
		n.w.violation(CheckExchanges, "", -1, "%s asked %s, which does not own it, for partition %d", m.from, n.id, req.Partition)
		n.send(m.from, m.id, aaeReply{err: fmt.Sprintf("%s does not own partition %d", n.id, req.Partition)})
		return
	}
	rep, err := aae.Serve(n.aae.local, req)
	if err != nil {
		n.w.violation(CheckExchanges, "", -1, "%s serving %s's %s request for partition %d: %v", n.id, m.from, req.Kind, req.Partition, err)
		n.send(m.from, m.id, aaeReply{err: err.Error()})
		return
	}
	if req.Kind == aae.KindRoot && !rep.NotReady {
		n.aae.last[aaePair{p: req.Partition, peer: m.from}] = n.w.now
	}
	n.send(m.from, m.id, aaeReply{rep: cloneReply(rep)})
}

// AntiEntropy runs the world until, for every partition, every two owners
// that are up have exchanged it in an exchange (by either) that started
// after the call and compared both trees to the end, so that each merged
// what the other held when the call was made. It gives up after
// aaeConvergeLimit of virtual time and reports each pair still missing.
// It does nothing when anti-entropy is off.
func (w *World) AntiEntropy() {
	if w.opts.AAEInterval <= 0 {
		return
	}
	mark := w.now
	deadline := mark + int64(aaeConvergeLimit)
	for w.now < deadline && len(w.unexchanged(mark)) > 0 {
		w.runUntil(w.now + int64(100*time.Millisecond))
	}
	for _, miss := range w.unexchanged(mark) {
		w.violation(CheckExchanges, "", -1, "neither %s nor %s completed an exchange of partition %d in the %v after %.6f",
			miss.a, miss.b, miss.p, aaeConvergeLimit, float64(mark)/1e9)
	}
	w.tracef("anti-entropy: every pair of replicas exchanged since %.6f", float64(mark)/1e9)
}

type missingExchange struct {
	a, b string
	p    int
}

// unexchanged lists the pairs of owners AntiEntropy still waits for.
func (w *World) unexchanged(since int64) []missingExchange {
	var out []missingExchange
	for p := range w.ring.Q() {
		owners := w.ring.Owners(p)
		for i, a := range owners {
			for _, b := range owners[i+1:] {
				na, nb := w.byID[a], w.byID[b]
				if !na.up || !nb.up {
					continue
				}
				ta, oka := na.aae.completed[aaePair{p: p, peer: b}]
				tb, okb := nb.aae.completed[aaePair{p: p, peer: a}]
				if !(oka && ta >= since) && !(okb && tb >= since) {
					out = append(out, missingExchange{a: a, b: b, p: p})
				}
			}
		}
	}
	return out
}

// trees collects, for the TreesMatch check, every running owner's tree of
// every partition beside one rebuilt from its storage.
func (w *World) trees() map[int][]check.Tree {
	out := map[int][]check.Tree{}
	for p := range w.ring.Q() {
		for _, id := range w.ring.Owners(p) {
			n := w.byID[id]
			if !n.up {
				continue
			}
			t, built := n.aae.forest.Tree(p)
			fresh := aae.NewForest(w.ring.Q())
			if err := fresh.Build(p, func(add func(int, uint64)) error { return n.store.HashPartition(p, func() {}, add) }); err != nil {
				w.violation("Simulator", "", -1, "rebuilding %s's tree of partition %d: %v", id, p, err)
				continue
			}
			rebuilt, _ := fresh.Tree(p)
			out[p] = append(out[p], check.Tree{Node: id, Built: built, Root: t.Root(), Rebuilt: rebuilt.Root(), MatchesStorage: t == rebuilt})
		}
	}
	return out
}

// overwrite is BugOverwrite's replica write: the incoming version replaces
// the node's copy without a merge. The tree still follows, so that only the
// planted bug is wrong.
func (n *Node) overwrite(k key, encoded []byte, sync bool) error {
	sk := storage.ObjectKey(k.Partition, k.Segment, k.Bucket, k.Key.Key)
	old, err := n.engine.Get(sk)
	if errors.Is(err, storage.ErrNotFound) {
		old = nil
	} else if err != nil {
		return err
	}
	return n.aae.forest.Write(k.Partition, k.Segment, aae.Delta(k.Bucket, k.Key.Key, old, encoded), func() error {
		var batch storage.Batch
		batch.Set(sk, encoded)
		return n.engine.Apply(&batch, sync)
	})
}

// Exchange messages: one step of an exchange and its answer, as the real
// node's transport carries them. They are cloned when sent, so that nodes
// never share memory.

type aaeRequest struct{ req *aae.Request }

type aaeReply struct {
	rep *aae.Reply
	err string
}

func (aaeReply) isReply() {}

func (aaeRequest) duplicable() {}
func (aaeReply) duplicable()   {}

func cloneRequest(r *aae.Request) *aae.Request {
	c := *r
	c.Branches = slices.Clone(r.Branches)
	c.Segments = slices.Clone(r.Segments)
	c.Items = cloneItems(r.Items)
	c.Objects = cloneObjects(r.Objects)
	return &c
}

func cloneReply(r *aae.Reply) *aae.Reply {
	c := *r
	c.Hashes = slices.Clone(r.Hashes)
	c.Items = cloneItems(r.Items)
	c.Objects = cloneObjects(r.Objects)
	return &c
}

func cloneItems(its []aae.Item) []aae.Item {
	if its == nil {
		return nil
	}
	out := make([]aae.Item, len(its))
	for i, it := range its {
		out[i] = aae.Item{Segment: it.Segment, Bucket: bytes.Clone(it.Bucket), Key: bytes.Clone(it.Key), Digest: it.Digest}
	}
	return out
}

func cloneObjects(objs []aae.Object) []aae.Object {
	if objs == nil {
		return nil
	}
	out := make([]aae.Object, len(objs))
	for i, o := range objs {
		out[i] = aae.Object{Segment: o.Segment, Bucket: bytes.Clone(o.Bucket), Key: bytes.Clone(o.Key), Encoded: bytes.Clone(o.Encoded)}
	}
	return out
}

func (m aaeRequest) String() string {
	r := m.req
	s := fmt.Sprintf("aae partition %d %s", r.Partition, r.Kind)
	switch r.Kind {
	case aae.KindLeaves:
		s += fmt.Sprintf(" branches=%v", r.Branches)
	case aae.KindItems:
		s += fmt.Sprintf(" segments=%v", r.Segments)
	case aae.KindFetch:
		names := make([]string, len(r.Items))
		for i, it := range r.Items {
			names[i] = string(it.Bucket) + "/" + string(it.Key)
		}
		s += " " + strings.Join(names, " ")
	case aae.KindPush:
		s += objectsString(r.Objects)
	}
	return s
}

func (m aaeReply) String() string {
	r := m.rep
	switch {
	case m.err != "":
		return "aae error: " + m.err
	case r.NotReady:
		return "aae not ready"
	case len(r.Hashes) == 1:
		return fmt.Sprintf("aae root %016x", r.Hashes[0])
	case r.Hashes != nil:
		return fmt.Sprintf("aae %d hashes", len(r.Hashes))
	case r.Items != nil:
		names := make([]string, len(r.Items))
		for i, it := range r.Items {
			names[i] = fmt.Sprintf("%s/%s:%x", it.Bucket, it.Key, it.Digest[:4])
		}
		return "aae items " + strings.Join(names, " ")
	case r.Objects != nil:
		return "aae objects" + objectsString(r.Objects)
	}
	return "aae ok"
}

func objectsString(objs []aae.Object) string {
	var b strings.Builder
	for _, o := range objs {
		obj, _ := object.Decode(o.Encoded)
		if o.Encoded == nil {
			obj = nil
		}
		fmt.Fprintf(&b, " %s/%s=%s", o.Bucket, o.Key, objectString(obj))
	}
	return b.String()
}
