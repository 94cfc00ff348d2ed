// Package sim is Tutti's deterministic simulator: whole clusters of nodes
// running the real protocol code (ring, coordinator, quorum, replica,
// object, dvv, aae, identity, hlc) in one goroutine on a seeded event queue,
// with a virtual clock per node, a network that drops, delays, duplicates
// and reorders messages and partitions any subsets, crashes that lose what
// was not fsynced, and lost data directories. Clients record a Jepsen-style
// history that the checkers of internal/sim/check judge.
//
// Contract: a World is driven by one goroutine. Everything it does follows
// from its Options and seed: the same options give the same history and
// the same trace, bit for bit (Result.TraceHash). Nothing in the package
// reads the wall clock or global randomness.
package sim

import (
	"container/heap"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"time"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/ring"
	"github.com/tutti-kv/tutti/internal/sim/check"
)

// event is one thing that happens at a virtual time. seq breaks ties in
// scheduling order, so the queue's order never depends on the heap.
type event struct {
	at  int64
	seq uint64
	fn  func()
}

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// World is one simulated cluster with its network and clients.
type World struct {
	opts  Options
	rng   *rand.Rand
	now   int64 // virtual nanoseconds since the start of the run
	seq   uint64
	queue queue
	steps int

	phase    phase
	keys     []key
	keyIndex map[string]key

	ring    *ring.Ring
	nodes   []*Node
	byID    map[string]*Node
	net     *network
	clients []*client
	nextID  uint64

	history []check.Op
	issued  []check.Issued
	faults  []check.Fault
	// resent holds the operations a client sent more than once.
	resent map[int]bool
	// disturbed holds the keys whose replication a fault may have left
	// incomplete: a write message lost, a replica skipped, a replica that
	// crashed. Every key is held to the convergence check; the trace names
	// these to explain which ones needed repair (handoff, read repair,
	// anti-entropy).
	disturbed map[string]bool
	// faulty is set while the safety phase injects faults.
	faulty bool
	// coordinating is the history operation whose write a node is
	// coordinating, to attribute the dot it issues; -1 when none.
	coordinating int
	violations   []check.Violation
	stats        Stats
	// contextKey signs the causal contexts handed to clients.
	contextKey []byte

	trace     io.Writer
	traceHash hash.Hash
}

// New builds a world from opts: nodes up and the network healthy, no
// client running yet.
func New(opts Options) (*World, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	w := &World{
		opts:         opts,
		rng:          rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x7475747469)),
		byID:         map[string]*Node{},
		resent:       map[int]bool{},
		disturbed:    map[string]bool{},
		keyIndex:     map[string]key{},
		contextKey:   []byte("tutti-sim context key"),
		coordinating: -1,
		trace:        opts.Trace,
		traceHash:    sha256.New(),
	}
	w.net = newNetwork(w)
	members := make([]ring.Member, opts.Nodes)
	for i := range opts.Nodes {
		id := fmt.Sprintf("n%d", i+1)
		zone := ""
		if opts.Zones > 0 {
			zone = fmt.Sprintf("z%d", i%opts.Zones+1)
		}
		members[i] = ring.Member{ID: id, Zone: zone}
	}
	r, err := ring.New(opts.Q, opts.N, members)
	if err != nil {
		return nil, fmt.Errorf("sim: ring: %w", err)
	}
	w.ring = r
	w.tracef("world seed=%#x nodes=%d zones=%d N=%d Q=%d keys=%d clients=%d %s",
		opts.Seed, opts.Nodes, opts.Zones, opts.N, opts.Q, opts.Keys, opts.Clients, opts.describeFaults())
	for i, m := range members {
		n, err := newNode(w, i, m)
		if err != nil {
			return nil, err
		}
		w.nodes = append(w.nodes, n)
		w.byID[n.id] = n
	}
	for _, n := range w.nodes {
		n.start()
	}
	return w, nil
}

// Stats count what a run did, for the fault mix of a swarm.
type Stats struct {
	Messages, Dropped, Duplicated, Cut, Refused   int
	Crashes, Wipes, Shutdowns, Partitions, OneWay int
	Ops, OK, Fail, Info                           int
	HintsDelivered, HintsLeft, ReadRepairs        int
	// Resends counts requests clients sent again after a refusal or a lost
	// connection; StoredTwice the resent writes two coordinators stored.
	Resends, StoredTwice int
	// Exchanges counts ended anti-entropy exchanges: those that repaired
	// something, failed (a step lost, refused or timed out) or found a tree
	// not built yet. AAEPulled and AAEPushed count the objects they merged
	// locally and sent to the peer.
	Exchanges, ExchangesRepaired, ExchangesFailed, ExchangesNotReady int
	AAEPulled, AAEPushed                                             int
}

// Add sums two Stats.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Messages: s.Messages + o.Messages, Dropped: s.Dropped + o.Dropped, Duplicated: s.Duplicated + o.Duplicated,
		Cut: s.Cut + o.Cut, Refused: s.Refused + o.Refused,
		Crashes: s.Crashes + o.Crashes, Wipes: s.Wipes + o.Wipes, Shutdowns: s.Shutdowns + o.Shutdowns, Partitions: s.Partitions + o.Partitions, OneWay: s.OneWay + o.OneWay,
		Ops: s.Ops + o.Ops, OK: s.OK + o.OK, Fail: s.Fail + o.Fail, Info: s.Info + o.Info,
		HintsDelivered: s.HintsDelivered + o.HintsDelivered, HintsLeft: s.HintsLeft + o.HintsLeft, ReadRepairs: s.ReadRepairs + o.ReadRepairs,
		Resends: s.Resends + o.Resends, StoredTwice: s.StoredTwice + o.StoredTwice,
		Exchanges: s.Exchanges + o.Exchanges, ExchangesRepaired: s.ExchangesRepaired + o.ExchangesRepaired,
		ExchangesFailed: s.ExchangesFailed + o.ExchangesFailed, ExchangesNotReady: s.ExchangesNotReady + o.ExchangesNotReady,
		AAEPulled: s.AAEPulled + o.AAEPulled, AAEPushed: s.AAEPushed + o.AAEPushed,
	}
}

func (s Stats) String() string {
	return fmt.Sprintf("%d ops (%d ok, %d fail, %d info); %d messages: %d dropped, %d duplicated, %d cut by partitions, %d refused by down nodes; %d crashes, %d data-directory losses, %d clean restarts, %d partitions (%d one-way); %d hints handed off, %d left at the end, %d read repairs; %d anti-entropy exchanges (%d repaired, %d failed, %d not ready), %d keys repaired by them (%d pulled, %d pushed); %d requests resent by clients, %d resent writes stored by two coordinators",
		s.Ops, s.OK, s.Fail, s.Info, s.Messages, s.Dropped, s.Duplicated, s.Cut, s.Refused, s.Crashes, s.Wipes, s.Shutdowns, s.Partitions, s.OneWay, s.HintsDelivered, s.HintsLeft, s.ReadRepairs,
		s.Exchanges, s.ExchangesRepaired, s.ExchangesFailed, s.ExchangesNotReady, s.AAEPulled+s.AAEPushed, s.AAEPulled, s.AAEPushed, s.Resends, s.StoredTwice)
}

// Now is the virtual time since the start of the run.
func (w *World) Now() time.Duration { return time.Duration(w.now) }

// after schedules fn to run d from now.
func (w *World) after(d time.Duration, fn func()) {
	w.seq++
	heap.Push(&w.queue, &event{at: w.now + int64(d), seq: w.seq, fn: fn})
}

// step runs the next event; false when none is left.
func (w *World) step() bool {
	if len(w.queue) == 0 {
		return false
	}
	e := heap.Pop(&w.queue).(*event)
	w.now = e.at
	w.steps++
	e.fn()
	return true
}

// runUntil runs events until the virtual time reaches t or nothing is
// left to do.
func (w *World) runUntil(t int64) {
	for len(w.queue) > 0 && w.queue[0].at <= t {
		w.step()
	}
	if w.now < t {
		w.now = t
	}
}

// runWhile runs events while cond holds and events remain.
func (w *World) runWhile(cond func() bool) {
	for cond() && w.step() {
	}
}

// tracef records one line of the trace: every message, fault and state
// change. The hash of all lines identifies a run.
func (w *World) tracef(format string, args ...any) {
	line := fmt.Sprintf("%10.6f ", float64(w.now)/1e9) + fmt.Sprintf(format, args...) + "\n"
	w.traceHash.Write([]byte(line))
	if w.trace != nil {
		io.WriteString(w.trace, line)
	}
}

// duration draws a uniform duration in [lo, hi].
func (w *World) duration(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)+1))
}

// chance reports true with probability p.
func (w *World) chance(p float64) bool { return p > 0 && w.rng.Float64() < p }

// requestID returns a fresh id for a message exchange.
func (w *World) requestID() uint64 {
	w.nextID++
	return w.nextID
}

// recordIssued notes a dot a node issued while coordinating a write.
func (w *World) recordIssued(node string, d dvv.Dot) {
	w.issued = append(w.issued, check.Issued{Node: node, Dot: d, Op: w.coordinating})
	w.tracef("%s issues dot %x:%d for op %d", node, d.Actor, d.Counter, w.coordinating)
}

func (w *World) violation(checker, key string, op int, format string, args ...any) {
	w.violations = append(w.violations, check.Violation{Checker: checker, Key: key, Op: op, Detail: fmt.Sprintf(format, args...)})
}
