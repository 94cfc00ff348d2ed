// Package swim runs a node's membership over hashicorp/memberlist: SWIM
// failure detection for liveness, and gossip of the membership records and
// cluster metadata of package membership.
//
// Liveness and ownership are separate. View.Alive follows memberlist's
// failure detector; View.Records lists the Active records, which only a
// node's own Start and Leave, or an operator's Remove, change. A node that
// crashes stays a member and keeps its partitions.
//
// Changes spread two ways: each one is broadcast by gossip at once (and
// re-broadcast by every node it changes), and memberlist's periodic
// push-pull exchanges full state, repairing whatever gossip lost. Nodes
// refuse peers and messages whose ClusterID differs from theirs.
//
// A Swim is safe for concurrent use. Subscribers run one at a time on a
// goroutine of their own, never while a lock of this package is held.
package swim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/tutti-kv/tutti/internal/membership"
)

// maxBroadcastBytes is the largest change sent by UDP gossip; larger ones
// (long addresses, large metadata values) go to each peer over TCP instead,
// since a gossip packet holds about 1400 bytes.
const maxBroadcastBytes = 1024

// ErrClosed is returned by operations on a Swim that has left or closed.
var ErrClosed = errors.New("swim: closed")

// Swim is one node's running membership.
type Swim struct {
	id        string
	clusterID string
	timing    Timing
	log       *slog.Logger
	clock     func() time.Time

	// list is set once memberlist is created; delegates may run before.
	list  atomic.Pointer[memberlist.Memberlist]
	queue *memberlist.TransmitLimitedQueue

	// lifecycle serializes Leave and Close.
	lifecycle sync.Mutex

	mu      sync.Mutex
	state   membership.State
	meta    membership.Meta
	self    membership.Record // as this node last published it
	members []membership.Record
	version uint64
	alive   map[string]bool
	subs    []func()
	// departed is set once this node left or learned it was removed: it
	// then stops defending its record.
	departed bool
	closed   bool

	changed chan struct{} // wakes the subscriber goroutine
	stop    chan struct{}
	wg      sync.WaitGroup
}

// Start creates the node's memberlist, publishes its Active record and
// starts joining cfg.Join in the background; it returns once the node
// listens.
//
// The record's incarnation is the wall clock in nanoseconds (or one more
// than any incarnation of this node seen so far, if larger), so a restarted
// node's record supersedes those it published before as long as the clock
// did not run backwards; if it did, the node still wins by refuting the
// older record as soon as gossip shows it.
func Start(cfg Config) (*Swim, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", cfg.NodeID)
	s := &Swim{
		id:        cfg.NodeID,
		clusterID: cfg.ClusterID,
		timing:    cfg.Timing.withDefaults(),
		log:       logger,
		clock:     cfg.Clock,
		alive:     make(map[string]bool),
		changed:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	mc := cfg.memberlistConfig(&hooks{s: s}, logger)
	s.queue = &memberlist.TransmitLimitedQueue{NumNodes: s.numNodes, RetransmitMult: mc.RetransmitMult}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("swim: start memberlist: %w", err)
	}
	s.list.Store(ml)

	// Ask memberlist before taking mu: its callbacks take mu while holding
	// its own lock.
	gossipAddr := ml.LocalNode().Address()
	s.mu.Lock()
	self := membership.Record{
		ID:         cfg.NodeID,
		Zone:       cfg.Zone,
		GossipAddr: gossipAddr,
		GRPCAddr:   cfg.GRPCAddr,
		HTTPAddr:   cfg.HTTPAddr,
		Status:     membership.Active,
	}
	self.Incarnation = s.nextIncarnationLocked()
	err = s.state.Set(self)
	if err == nil {
		s.self = self
		s.refreshMembersLocked()
	}
	s.mu.Unlock()
	if err != nil {
		_ = ml.Shutdown()
		return nil, fmt.Errorf("swim: publish own record: %w", err)
	}
	s.broadcastRecord(self)
	s.signal()
	s.log.Info("swim: started", "gossip", self.GossipAddr, "incarnation", self.Incarnation, "cluster", cfg.ClusterID)

	s.wg.Add(2)
	go s.notifySubscribers()
	go s.joinSeeds(slices.Clone(cfg.Join))
	return s, nil
}

// View is a snapshot of the membership as this node sees it.
type View struct {
	// Self is this node's id.
	Self string
	// Records are the Active records sorted by ID: the members that own
	// partitions, alive or not.
	Records []membership.Record
	// Version changes whenever the active members (ids, zones, addresses)
	// change, and is equal on every node that sees the same members.
	Version uint64
	alive   map[string]bool
}

// Alive reports whether the failure detector considers node id alive
// (suspected nodes count as alive until declared dead).
func (v View) Alive(id string) bool { return v.alive[id] }

// View returns the current membership.
func (s *Swim) View() View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return View{Self: s.id, Records: slices.Clone(s.members), Version: s.version, alive: maps.Clone(s.alive)}
}

// Subscribe registers fn to be called after any change to the records, the
// metadata or liveness. Calls are coalesced (one call may cover several
// changes), never concurrent, and made with no lock of this package held,
// so fn may call View and Meta. fn must return promptly and must not call
// Leave or Close.
func (s *Swim) Subscribe(fn func()) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

// Meta returns a copy of the live value of a metadata key.
func (s *Swim) Meta(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.meta.Value(key)
	return slices.Clone(v), ok
}

// MetaKeys returns the metadata keys that have a live value, sorted.
func (s *Swim) MetaKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta.Keys()
}

// SetMeta writes a metadata value cluster-wide. The write is stamped with
// the clock, or just after the key's current stamp if the clock lags it,
// so it supersedes every value this node has seen for key; concurrent
// writes on other nodes resolve by stamp, last writer wins.
func (s *Swim) SetMeta(key string, value []byte) error {
	return s.writeMeta(key, func(wall int64) (membership.Entry, error) {
		return s.meta.Write(key, value, wall, s.id)
	})
}

// DeleteMeta deletes a metadata key cluster-wide, as SetMeta writes one.
func (s *Swim) DeleteMeta(key string) error {
	return s.writeMeta(key, func(wall int64) (membership.Entry, error) {
		return s.meta.Delete(key, wall, s.id)
	})
}

func (s *Swim) writeMeta(key string, write func(wall int64) (membership.Entry, error)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	e, err := write(s.clock().UnixNano())
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("swim: write metadata: %w", err)
	}
	s.broadcastEntry(key, e)
	s.signal()
	return nil
}

// Join contacts seeds now and returns how many of them answered and
// accepted this node. Start already joins its configured seeds; Join is
// for adding seeds later.
func (s *Swim) Join(seeds ...string) (int, error) {
	n, err := s.list.Load().Join(seeds)
	if err != nil {
		return n, fmt.Errorf("swim: join %v: %w", seeds, err)
	}
	return n, nil
}

// Remove takes a dead node out of the membership on an operator's
// request: it writes the node's record as Removed with the next
// incarnation, and its partitions move to other members. It refuses this
// node (use Leave) and nodes the failure detector sees alive. A removed
// node that is started again rejoins, since its start incarnation is newer.
func (s *Swim) Remove(id string) error {
	if id == s.id {
		return fmt.Errorf("swim: remove %q: a node cannot remove itself; use leave", id)
	}
	s.mu.Lock()
	r, ok := s.state.Get(id)
	var err error
	switch {
	case s.closed:
		err = ErrClosed
	case !ok:
		err = fmt.Errorf("swim: remove %q: no such member", id)
	case s.alive[id]:
		err = fmt.Errorf("swim: remove %q: the node is alive; stop it first or let it leave", id)
	case r.Status != membership.Active:
		s.mu.Unlock()
		return nil
	default:
		r.Status = membership.Removed
		r.Incarnation++
		if err = s.state.Set(r); err == nil {
			s.refreshMembersLocked()
		}
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.log.Info("swim: removed member", "member", id, "incarnation", r.Incarnation)
	s.broadcastRecord(r)
	s.signal()
	return nil
}

// Leave departs gracefully: it marks this node's record Left with a new
// incarnation, delivers that to every live peer, leaves memberlist and
// shuts down. Its partitions move to the remaining members. timeout bounds
// the whole departure; a non-positive timeout means DefaultLeaveTimeout.
// Leave returns an error if no peer acknowledged the Left record, in which
// case the others still see this node as a member that is down.
func (s *Swim) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultLeaveTimeout
	}
	deadline := time.Now().Add(timeout)
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	left := s.self
	left.Status = membership.Left
	left.Incarnation = s.nextIncarnationLocked()
	err := s.state.Set(left)
	if err == nil {
		s.self = left
		s.departed = true
		s.refreshMembersLocked()
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("swim: leave: %w", err)
	}
	s.signal()
	s.log.Info("swim: leaving", "incarnation", left.Incarnation)

	var errs []error
	ml := s.list.Load()
	if peers, acked := s.sendToPeers(s.recordMessage(left), deadline); peers > 0 && acked == 0 {
		errs = append(errs, fmt.Errorf("swim: leave: none of %d peers acknowledged the departure", peers))
	}
	if err := ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		errs = append(errs, fmt.Errorf("swim: leave: %w", err))
	}
	if err := s.shutdownLocked(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close stops the node without leaving: to the others it looks like a
// crash, and the node remains a member that is down.
func (s *Swim) Close() error {
	s.lifecycle.Lock()
	defer s.lifecycle.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return s.shutdownLocked()
}

// shutdownLocked stops memberlist and this package's goroutines; the
// caller holds lifecycle.
func (s *Swim) shutdownLocked() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	err := s.list.Load().Shutdown()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("swim: shutdown: %w", err)
	}
	return nil
}

// sendToPeers sends msg over TCP to every other live member in parallel
// and waits until all answered or the deadline passed. Sends still under
// way at the deadline finish on their own within the TCP timeout.
func (s *Swim) sendToPeers(msg []byte, deadline time.Time) (peers, acked int) {
	ml := s.list.Load()
	members := ml.Members()
	results := make(chan error, len(members))
	for _, n := range members {
		if n.Name == s.id {
			continue
		}
		peers++
		go func() { results <- ml.SendReliable(n, msg) }()
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for range peers {
		select {
		case err := <-results:
			if err == nil {
				acked++
			} else {
				s.log.Debug("swim: direct send failed", "err", err)
			}
		case <-timer.C:
			return peers, acked
		}
	}
	return peers, acked
}

// joinSeeds tries the seeds until this node is no longer alone.
func (s *Swim) joinSeeds(seeds []string) {
	defer s.wg.Done()
	if len(seeds) == 0 {
		return
	}
	retry := time.NewTimer(0)
	defer retry.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-s.stop:
			return
		case <-retry.C:
		}
		ml := s.list.Load()
		n, err := ml.Join(seeds)
		// Joining only ourselves (our address may be among the seeds)
		// does not count.
		if ml.NumMembers() > 1 {
			s.log.Info("swim: joined cluster", "seeds_answered", n, "members", ml.NumMembers())
			return
		}
		// Being alone at first is normal for the first node up; failures
		// are worth a warning now and then.
		level := slog.LevelDebug
		switch {
		case err != nil && (attempt == 1 || attempt%30 == 0):
			level = slog.LevelWarn
		case attempt == 1:
			level = slog.LevelInfo
		}
		s.log.Log(context.Background(), level, "swim: no other node reached yet; retrying",
			"attempt", attempt, "seeds", seeds, "err", err)
		retry.Reset(s.timing.JoinRetry)
	}
}

// notifySubscribers calls the subscribers after changes, one at a time.
func (s *Swim) notifySubscribers() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.changed:
		}
		s.mu.Lock()
		subs := slices.Clone(s.subs)
		s.mu.Unlock()
		for _, fn := range subs {
			fn()
		}
	}
}

// signal wakes the subscriber goroutine without blocking.
func (s *Swim) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Swim) numNodes() int {
	if ml := s.list.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// nextIncarnationLocked returns an incarnation for this node's next record:
// the wall clock in nanoseconds, raised if needed above every incarnation
// of this node published or seen.
func (s *Swim) nextIncarnationLocked() uint64 {
	next := uint64(max(s.clock().UnixNano(), 0))
	next = max(next, s.self.Incarnation+1)
	if cur, ok := s.state.Get(s.id); ok {
		next = max(next, cur.Incarnation+1)
	}
	return next
}

func (s *Swim) refreshMembersLocked() {
	s.members = s.state.Members()
	s.version = membership.MembersDigest(s.members)
}

// merge applies a decoded state and metadata from a peer, re-broadcasts
// what changed here so that it spreads epidemically, and defends this
// node's record if a peer holds a newer one.
func (s *Swim) merge(st membership.State, mt membership.Meta) {
	var records []membership.Record
	type keyed struct {
		key string
		e   membership.Entry
	}
	var entries []keyed

	s.mu.Lock()
	for _, r := range st.Records() {
		if s.state.MergeRecord(r) {
			records = append(records, r)
		}
	}
	for key, e := range mt.All() {
		if s.meta.MergeEntry(key, e) {
			entries = append(entries, keyed{key, e})
		}
	}
	if refuted, ok := s.defendSelfLocked(); ok {
		records = append(records, refuted)
	}
	if len(records) > 0 {
		s.refreshMembersLocked()
	}
	s.mu.Unlock()

	for _, r := range records {
		s.broadcastRecord(r)
	}
	for _, k := range entries {
		s.broadcastEntry(k.key, k.e)
	}
	if len(records) > 0 || len(entries) > 0 {
		s.signal()
	}
}

// defendSelfLocked handles a record of this node that differs from what
// it published, which can only be newer: a record of an earlier life whose
// clock ran ahead is refuted with a higher incarnation; an operator's
// removal is obeyed.
func (s *Swim) defendSelfLocked() (membership.Record, bool) {
	cur, _ := s.state.Get(s.id)
	if s.departed || s.self.ID == "" || cur == s.self {
		return membership.Record{}, false
	}
	if cur.Status == membership.Removed {
		s.departed = true
		s.log.Error("swim: an operator removed this node; it owns no partitions until it is restarted",
			"incarnation", cur.Incarnation)
		return membership.Record{}, false
	}
	refuted := s.self
	refuted.Incarnation = s.nextIncarnationLocked()
	if err := s.state.Set(refuted); err != nil {
		s.log.Error("swim: cannot refute a newer record of this node", "err", err)
		return membership.Record{}, false
	}
	s.log.Warn("swim: refuting a newer record of this node",
		"seen_status", cur.Status, "seen_incarnation", cur.Incarnation, "incarnation", refuted.Incarnation)
	s.self = refuted
	return refuted, true
}

func (s *Swim) recordMessage(r membership.Record) []byte {
	var st membership.State
	st.MergeRecord(r)
	return encodeEnvelope(s.clusterID, st, membership.Meta{})
}

func (s *Swim) broadcastRecord(r membership.Record) {
	s.broadcast("r/"+r.ID, s.recordMessage(r))
}

func (s *Swim) broadcastEntry(key string, e membership.Entry) {
	var mt membership.Meta
	mt.MergeEntry(key, e)
	s.broadcast("m/"+key, encodeEnvelope(s.clusterID, membership.State{}, mt))
}

// broadcast queues msg for gossip, replacing any queued message of the
// same name, which it supersedes; messages too large for a gossip packet
// go to every peer over TCP.
func (s *Swim) broadcast(name string, msg []byte) {
	if len(msg) <= maxBroadcastBytes {
		s.queue.QueueBroadcast(&broadcast{name: name, msg: msg})
		return
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if closed {
		return
	}
	go func() {
		defer s.wg.Done()
		s.sendToPeers(msg, time.Now().Add(s.timing.TCPTimeout))
	}()
}

// broadcast is one queued gossip message; a newer one of the same name
// (the same record or metadata key) invalidates it.
type broadcast struct {
	name string
	msg  []byte
}

func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(memberlist.NamedBroadcast)
	return ok && o.Name() == b.name
}

func (b *broadcast) Name() string    { return b.name }
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}
