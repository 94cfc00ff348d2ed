package sim

import (
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/tutti-kv/tutti/internal/coordinator"
	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/ring"
	"github.com/tutti-kv/tutti/internal/sim/check"
)

type phase uint8

const (
	phaseIdle phase = iota
	phaseSafety
	phaseLiveness
)

// key returns the simulated key bucket/name, remembering it for the final
// checks.
func (w *World) key(bucket, name string) key {
	full := bucket + "/" + name
	if k, ok := w.keyIndex[full]; ok {
		return k
	}
	h := ring.KeyHash([]byte(bucket), []byte(name))
	k := key{Key: replica.Key{Bucket: []byte(bucket), Key: []byte(name), Partition: w.ring.Partition(h), Segment: w.ring.Segment(h)}, name: full}
	w.keyIndex[full] = k
	w.keys = append(w.keys, k)
	return k
}

// disturb notes that a key's replicas may not converge without repair.
func (w *World) disturb(name, why string) {
	if !w.disturbed[name] {
		w.disturbed[name] = true
		w.tracef("key %s disturbed: %s", name, why)
	}
}

// membershipChanged has every running node's failure detector catch up
// with the cluster after a detection delay, as gossip would: a node is
// seen alive when it runs and the link works both ways.
func (w *World) membershipChanged() {
	for _, obs := range w.nodes {
		if !obs.up {
			continue
		}
		obs.timer(w.duration(100*time.Millisecond, 1500*time.Millisecond), func() {
			for _, x := range w.nodes {
				if x == obs {
					continue
				}
				alive := x.up && w.net.linked(obs.id, x.id)
				if obs.alive[x.id] != alive {
					obs.alive[x.id] = alive
					w.tracef("view %s sees %s alive=%v", obs.id, x.id, alive)
				}
			}
		})
	}
}

// exp draws an exponential interval of the given mean.
func (w *World) exp(mean time.Duration) time.Duration {
	return time.Duration(-math.Log(1-w.rng.Float64()) * float64(mean))
}

// injectFaults schedules crashes, data losses and partitions, each as a
// Poisson process, for the safety phase.
func (w *World) injectFaults() {
	o := w.opts
	schedule := func(mean time.Duration, fault func()) {
		if mean <= 0 {
			return
		}
		var next func()
		next = func() {
			if w.phase != phaseSafety {
				return
			}
			fault()
			w.after(w.exp(mean), next)
		}
		w.after(w.exp(mean), next)
	}
	down := func() time.Duration { return w.duration(o.Downtime/10, o.Downtime) }
	crash := func(wipe bool) func() {
		return func() {
			n := w.nodes[w.rng.IntN(len(w.nodes))]
			if !n.up {
				return
			}
			n.crash(wipe)
			inc := n.incarnation
			w.after(down(), func() {
				if n.incarnation == inc && w.phase == phaseSafety {
					w.mustRestart(n)
				}
			})
		}
	}
	schedule(o.CrashEvery, crash(false))
	schedule(o.WipeEvery, crash(true))
	schedule(o.RestartEvery, func() {
		n := w.nodes[w.rng.IntN(len(w.nodes))]
		if !n.up {
			return
		}
		n.shutdown()
		inc := n.incarnation
		w.after(down(), func() {
			if n.incarnation == inc && w.phase == phaseSafety {
				w.mustRestart(n)
			}
		})
	})
	schedule(o.PartitionEvery, func() {
		ids := make([]string, len(w.nodes))
		for i, n := range w.nodes {
			ids[i] = n.id
		}
		w.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		cut := 1 + w.rng.IntN(len(ids)-1)
		w.net.partition(ids[:cut], ids[cut:], w.chance(0.3))
		w.membershipChanged()
		w.after(down(), func() {
			if w.phase == phaseSafety {
				w.net.heal()
				w.membershipChanged()
			}
		})
	})
}

func (w *World) mustRestart(n *Node) {
	if err := n.restart(); err != nil {
		w.violation("Simulator", "", -1, "restarting %s: %v", n.id, err)
	}
}

// Result is the outcome of one run.
type Result struct {
	Seed    uint64
	Options Options
	Report  check.Report
	// TraceHash identifies the run: equal for equal seeds and options.
	TraceHash string
	Ops       int
	Events    int
	Faults    int
	// Converged counts the keys held to the convergence check, of Keys.
	Converged, Keys int
	Stats           Stats
}

// OK reports whether every check passed.
func (r Result) OK() bool { return r.Report.OK() }

// Run draws nothing: it runs opts as given. Safety phase: clients and
// faults; liveness phase: faults stop, the network heals, every node
// restarts, work in flight settles and hints are handed off, then
// anti-entropy runs until every pair of replicas has exchanged every
// partition they share; then the checks, which hold every key to
// convergence.
func Run(opts Options) (Result, error) {
	w, err := New(opts)
	if err != nil {
		return Result{}, err
	}
	strict := w.opts.StrictClients
	for i := range w.opts.Clients {
		c := w.addClient(i < strict)
		w.after(w.duration(0, w.opts.Think), c.work)
	}
	w.phase, w.faulty = phaseSafety, true
	w.injectFaults()
	w.runUntil(int64(w.opts.Safety))
	w.Heal()
	w.Settle(w.opts.Liveness / 2)
	w.AntiEntropy()
	return w.Finish(), nil
}

// Heal ends the faults: the network heals and stops dropping and
// duplicating, and every crashed node restarts.
func (w *World) Heal() {
	w.phase, w.faulty = phaseLiveness, false
	w.tracef("liveness phase: heal everything")
	w.net.heal()
	for _, n := range w.nodes {
		if !n.up {
			w.mustRestart(n)
		}
	}
	w.membershipChanged()
}

// Finish attributes dots to operations, collects every key's converged
// object and every running owner's trees, and runs the checkers: every key
// is held to convergence, every partition to matching trees.
func (w *World) Finish() Result {
	for _, is := range w.issued {
		if is.Op < 0 {
			continue
		}
		o := &w.history[is.Op]
		switch {
		case o.Type == check.Fail:
			w.violation("Simulator", o.Key, o.Index, "failed write was coordinated anyway (dot %v by %s)", is.Dot, is.Node)
		case o.Dot != (is.Dot) && o.Dot.Counter != 0 && w.resent[o.Index]:
			// Resent under its idempotency key to a coordinator that did
			// not hold the first attempt.
			o.MoreDots = append(o.MoreDots, is.Dot)
			w.stats.StoredTwice++
		case o.Dot != (is.Dot) && o.Dot.Counter != 0:
			w.violation("Simulator", o.Key, o.Index, "write coordinated twice: dots %v and %v", o.Dot, is.Dot)
		default:
			o.Dot = is.Dot
		}
	}
	for i := range w.history {
		if o := &w.history[i]; o.Type == 0 {
			// Still in flight when the run ended.
			o.Type, o.End = check.Info, w.now
		}
	}
	for _, o := range w.history {
		w.stats.Ops++
		switch o.Type {
		case check.OK:
			w.stats.OK++
		case check.Fail:
			w.stats.Fail++
		default:
			w.stats.Info++
		}
	}
	final := map[string]check.Final{}
	copies := map[string][]check.Copy{}
	lww := map[string]bool{}
	converged := 0
	for _, k := range w.keys {
		if policy(k) == object.LWW {
			lww[k.name] = true
		}
		var merged *object.Object
		var cs []check.Copy
		var objs []*object.Object
		for _, id := range w.ring.Owners(k.Partition) {
			obj, _, err := w.byID[id].store.Read(k.Key)
			if err != nil {
				w.violation("Simulator", k.name, -1, "reading %s's copy: %v", id, err)
				continue
			}
			c := check.Copy{Node: id}
			if obj != nil {
				d := object.Digest(obj)
				c.Digest = hex.EncodeToString(d[:])
			}
			cs = append(cs, c)
			if obj != nil {
				objs = append(objs, obj)
			}
			switch {
			case obj == nil:
			case merged == nil:
				merged = obj
			default:
				merged, _ = object.Merge(merged, obj, policy(k))
			}
		}
		// Hints still held somewhere count too: a sloppy read would see
		// them, and handoff would deliver them.
		for _, n := range w.nodes {
			for _, owner := range w.ring.Owners(k.Partition) {
				obj, _, err := n.store.Read(at(k, coordinator.Target{HintFor: owner}).Key)
				if err != nil || obj == nil {
					continue
				}
				w.stats.HintsLeft++
				if merged == nil {
					merged = obj
				} else {
					merged, _ = object.Merge(merged, obj, policy(k))
				}
			}
		}
		w.checkMergeOrder(k, objs, func(a, b *object.Object) *object.Object {
			m, _ := object.Merge(a, b, policy(k))
			return m
		})
		copies[k.name] = cs
		converged++
		f := check.Final{Live: map[string]dvv.Dot{}}
		if merged != nil {
			f.Context = merged.Context
			for _, e := range merged.Live() {
				v := string(e.Value.Value)
				if d, dup := f.Live[v]; dup {
					w.violation(check.CheckSiblings, k.name, -1, "value %q is live twice, with dots %v and %v", v, d, e.Dot)
				}
				f.Live[v] = e.Dot
			}
		}
		final[k.name] = f
	}
	rep := check.Check(check.Run{History: w.history, Final: final, Issued: w.issued, LWW: lww, Faults: w.faults})
	rep.Violations = append(rep.Violations, check.Converged(copies)...)
	trees := w.trees()
	rep.Violations = append(rep.Violations, check.TreesMatch(trees)...)
	rep.Violations = append(rep.Violations, w.violations...)
	rep.Checked[check.CheckConverged] = converged
	for _, ts := range trees {
		rep.Checked[check.CheckTreesMatch] += len(ts)
	}
	w.tracef("end: %d ops, %d events, %d faults, %d/%d keys held to convergence: %s", len(w.history), w.steps, len(w.faults), converged, len(w.keys), firstLine(rep.String()))
	return Result{
		Seed: w.opts.Seed, Options: w.opts, Report: rep, TraceHash: hex.EncodeToString(w.traceHash.Sum(nil)),
		Ops: len(w.history), Events: w.steps, Faults: len(w.faults), Converged: converged, Keys: len(w.keys), Stats: w.stats,
	}
}

// checkMergeOrder checks, on the copies a run produced, that merging them
// in reverse order, and merging the result with itself, gives the same
// object: replicas that exchange versions in any order must converge.
func (w *World) checkMergeOrder(k key, objs []*object.Object, merge func(a, b *object.Object) *object.Object) {
	if len(objs) < 2 {
		return
	}
	merged, reverse := objs[0], objs[len(objs)-1]
	for i := 1; i < len(objs); i++ {
		merged = merge(merged, objs[i])
		reverse = merge(reverse, objs[len(objs)-1-i])
	}
	again := merge(merged, merged)
	want := object.Digest(merged)
	if object.Digest(reverse) != want || object.Digest(again) != want {
		var copies []string
		for _, o := range objs {
			copies = append(copies, objectString(o))
		}
		w.violation("MergeOrder", k.name, -1, "merging the replicas' copies %v in order gives %s, in reverse order %s, with itself %s",
			copies, objectString(merged), objectString(reverse), objectString(again))
	}
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// String is a one-line summary of the run's shape.
func (r Result) String() string {
	o := r.Options
	return fmt.Sprintf("seed %#x: nodes=%d N=%d Q=%d keys=%d clients=%d: %d ops, %d events, %d crashes/wipes, %d/%d keys converged-checked",
		r.Seed, o.Nodes, o.N, o.Q, o.Keys, o.Clients, r.Ops, r.Events, r.Faults, r.Converged, r.Keys)
}
