package sim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Options describe one run. Draw picks them from a seed (swarm testing:
// each seed explores a different mix of cluster shape, quorums, workload
// and faults); tests set them directly.
type Options struct {
	Seed uint64

	// Cluster shape.
	Nodes, Zones, N, Q int

	// Workload.
	Keys    int // keys per bucket; bucket "s" keeps siblings, bucket "l" is LWW
	Clients int
	// LWWShare is the share of operations that go to the LWW bucket.
	LWWShare float64
	// ContextShare is the share of puts that send the client's last
	// context for the key (the rest send none and so are concurrent with
	// what exists).
	ContextShare float64
	// DeleteShare and GetShare are the shares of deletes and gets; the rest
	// are puts.
	DeleteShare, GetShare float64
	// Think is the most a client waits between operations.
	Think time.Duration
	// Quorums are the request quorums clients draw from, per request.
	Quorums []Quorums
	// StrictClients run with pr = pw = a majority of N and are held to
	// the strict-quorum guarantee.
	StrictClients int
	// Timeout is the nodes' request timeout; clients give up a little
	// after it.
	Timeout time.Duration
	// Sloppy makes both buckets use sloppy quorums: an unreachable owner is
	// replaced by a substitute that keeps a hint and hands it off later.
	Sloppy bool
	// Retry makes clients behave as package client does: every write
	// carries an idempotency key, and a request whose node refused it or
	// stopped before answering is resent, under the same key, to another
	// node until the client's patience runs out.
	Retry bool

	// AAEInterval is how often each node exchanges every partition it owns
	// with each other owner (anti-entropy, package aae): a pair is due
	// again that long after its last exchange completed. Zero means the
	// default of 3 s; negative turns exchanges off (the trees are still
	// kept).
	AAEInterval time.Duration

	// Phases: faults and client load for Safety, then Liveness to heal and
	// settle: half of it for work in flight and hinted handoff, then until
	// anti-entropy has exchanged every pair of replicas (World.AntiEntropy).
	Safety, Liveness time.Duration

	// Network.
	Drop, Dup          float64
	MinDelay, MaxDelay time.Duration

	// Faults, as mean intervals between injections during the safety phase
	// (zero: never).
	CrashEvery, WipeEvery, PartitionEvery time.Duration
	// RestartEvery is the mean interval between clean restarts (an
	// operator's rolling restart: nothing is lost, the actor id is kept).
	RestartEvery time.Duration
	// Downtime bounds how long a crashed node or a partition lasts.
	Downtime time.Duration
	// TornTail: a crash keeps a random prefix of the unsynced writes (a
	// torn log tail) instead of none.
	TornTail bool

	// Clocks: each node's clock is off by up to Skew and runs fast or slow
	// by up to Drift (a fraction).
	Skew  time.Duration
	Drift float64

	// Bug plants a known bug in every node, for the checkers' own tests.
	Bug Bug

	// Trace receives the readable trace when set.
	Trace io.Writer
}

// Quorums are one request's counts, and its timeout (zero: the nodes'
// default, Options.Timeout).
type Quorums struct {
	R, W, DW, PR, PW int
	Timeout          time.Duration
}

// Bug is a bug planted in the nodes to prove that the checkers catch it.
type Bug uint8

// The plantable bugs.
const (
	NoBug Bug = iota
	// BugKeepLocal: a replica that holds the key ignores versions sent to
	// it (replication, read repair, handoff), so replicas never converge.
	BugKeepLocal
	// BugIgnoreContext: a coordinator drops the client's context, so a
	// write never replaces what the client read.
	BugIgnoreContext
	// BugKeepActorOnCrash: a node keeps its actor id after a crash (the
	// KV679 lost-clock family: a dot may be issued twice).
	BugKeepActorOnCrash
	// BugOverwrite: a replica overwrites its copy with an incoming version
	// instead of merging.
	BugOverwrite
	// BugEarlyAck: a coordinator acknowledges a write as soon as it stored
	// it locally, whatever W says.
	BugEarlyAck

	// LastBug is the last plantable bug.
	LastBug = BugEarlyAck
)

func (b Bug) String() string {
	return [...]string{"none", "keep-local", "ignore-context", "keep-actor-on-crash", "overwrite", "early-ack"}[b]
}

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.N == 0 {
		o.N = min(3, o.Nodes)
	}
	if o.Q == 0 {
		o.Q = 16
	}
	if o.Keys == 0 {
		o.Keys = 3
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	if o.MaxDelay == 0 {
		o.MinDelay, o.MaxDelay = 100*time.Microsecond, 2*time.Millisecond
	}
	if o.Think == 0 {
		o.Think = 20 * time.Millisecond
	}
	if o.Downtime == 0 {
		o.Downtime = 3 * time.Second
	}
	if len(o.Quorums) == 0 {
		q := o.N/2 + 1
		o.Quorums = []Quorums{{R: q, W: q, DW: 1}}
	}
	if o.Liveness == 0 {
		o.Liveness = 30 * time.Second
	}
	if o.AAEInterval == 0 {
		o.AAEInterval = 3 * time.Second
	}
	return o
}

func (o Options) validate() error {
	switch {
	case o.Nodes < 1 || o.Nodes > 64:
		return fmt.Errorf("sim: %d nodes, want 1 to 64", o.Nodes)
	case o.N < 1 || o.N > o.Nodes:
		return fmt.Errorf("sim: N=%d with %d nodes", o.N, o.Nodes)
	case o.Drop < 0 || o.Drop >= 1 || o.Dup < 0 || o.Dup >= 1:
		return fmt.Errorf("sim: drop and dup rates must be in [0, 1)")
	case o.MinDelay < 0 || o.MaxDelay < o.MinDelay:
		return fmt.Errorf("sim: bad delay range %v..%v", o.MinDelay, o.MaxDelay)
	}
	for _, q := range o.Quorums {
		if q.R < 1 || q.W < 1 || q.R > o.N || q.W > o.N || q.DW < 0 || q.DW > q.W || q.PR < 0 || q.PR > q.R || q.PW < 0 || q.PW > q.W {
			return fmt.Errorf("sim: bad quorums %+v for N=%d", q, o.N)
		}
	}
	return nil
}

func (o Options) describeFaults() string {
	return fmt.Sprintf("sloppy=%v aae=%v drop=%.3f dup=%.3f delay=%v..%v crash/%v wipe/%v restart/%v partition/%v down<=%v torn=%v skew<=%v drift<=%.4f bug=%v",
		o.Sloppy, o.AAEInterval, o.Drop, o.Dup, o.MinDelay, o.MaxDelay, o.CrashEvery, o.WipeEvery, o.RestartEvery, o.PartitionEvery, o.Downtime, o.TornTail, o.Skew, o.Drift, o.Bug)
}

// Draw picks a run's options from seed: the swarm. Every dimension varies
// from seed to seed, including whether a fault happens at all, so that
// some seeds hammer one mechanism while others combine them.
func Draw(seed uint64) Options {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	pick := func(xs ...int) int { return xs[r.IntN(len(xs))] }
	maybe := func(p float64, d time.Duration) time.Duration {
		if r.Float64() < p {
			return d
		}
		return 0
	}
	o := Options{Seed: seed}
	o.Nodes = 3 + r.IntN(5)
	o.N = min(o.Nodes, pick(2, 3, 3, 3, 3, 4, 5))
	o.Q = pick(8, 16, 32, 64)
	if r.IntN(3) == 0 {
		o.Zones = pick(2, 3)
	}
	o.Keys = 1 + r.IntN(6)
	o.Clients = 2 + r.IntN(5)
	o.LWWShare = []float64{0, 0.2, 0.5}[r.IntN(3)]
	o.ContextShare = 0.3 + 0.7*r.Float64()
	o.GetShare = 0.2 + 0.4*r.Float64()
	o.DeleteShare = 0.15 * r.Float64()
	o.Think = time.Duration(1+r.IntN(50)) * time.Millisecond
	o.Timeout = time.Duration(pick(200, 500, 1000)) * time.Millisecond
	o.Sloppy = r.IntN(10) < 7

	// Quorums: the defaults, or a random menu drawn per request.
	q := o.N/2 + 1
	if r.IntN(3) == 0 {
		o.Quorums = []Quorums{{R: q, W: q, DW: 1}}
	} else {
		for range 1 + r.IntN(4) {
			var c Quorums
			c.R, c.W = 1+r.IntN(o.N), 1+r.IntN(o.N)
			c.DW = r.IntN(c.W + 1)
			if r.IntN(3) == 0 {
				c.PR, c.PW = r.IntN(c.R+1), r.IntN(c.W+1)
			}
			o.Quorums = append(o.Quorums, c)
		}
	}
	if r.IntN(2) == 0 {
		o.StrictClients = 1 + r.IntN(o.Clients)
	}

	o.Safety = time.Duration(5+r.IntN(16)) * time.Second
	o.Liveness = 30 * time.Second

	o.Drop = []float64{0, 0, 0.01, 0.05, 0.2}[r.IntN(5)]
	o.Dup = []float64{0, 0, 0.02, 0.1}[r.IntN(4)]
	o.MinDelay = time.Duration(50+r.IntN(500)) * time.Microsecond
	o.MaxDelay = o.MinDelay + []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, 400 * time.Millisecond}[r.IntN(4)]
	o.CrashEvery = maybe(0.6, time.Duration(1+r.IntN(8))*time.Second)
	o.WipeEvery = maybe(0.25, time.Duration(3+r.IntN(15))*time.Second)
	o.PartitionEvery = maybe(0.6, time.Duration(1+r.IntN(8))*time.Second)
	o.RestartEvery = maybe(0.4, time.Duration(2+r.IntN(8))*time.Second)
	o.Downtime = time.Duration(200+r.IntN(5000)) * time.Millisecond
	o.TornTail = r.IntN(2) == 0
	o.Skew = maybe(0.7, time.Duration(r.IntN(5000))*time.Millisecond)
	o.Drift = []float64{0, 1e-5, 1e-3, 5e-2}[r.IntN(4)]
	// Drawn last, so that the draws above stay those of earlier versions.
	o.Retry = r.IntN(10) < 7
	o.AAEInterval = time.Duration(pick(1, 3, 3, 5)) * time.Second
	return o
}
