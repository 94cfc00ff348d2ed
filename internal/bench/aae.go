package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// AAERun describes an anti-entropy run: Run starts three `tutti server`
// processes on loopback (N=3), loads Records x (1 - Missing) records with
// every node up, pauses anti-entropy on nodes 1 and 2 and stops node 3
// (SIGTERM, or SIGKILL with Kill), writes the other Records x Missing
// records with sloppy quorum off for the bucket (so no node keeps a hint
// for it), restarts node 3 with anti-entropy paused, runs the workload
// with anti-entropy paused on every node, resumes it, and measures what
// the servers' own scheduled anti-entropy exchanges take to make the
// three replicas equal again: time, bytes by step, keys repaired, and the
// cost to the concurrent workload against the baseline. The baseline
// brackets the exchanges: once they are over the run pauses anti-entropy
// on every node again and runs the workload once more, and the two paused
// windows pooled are the baseline, so that the machine's drift over the
// run does not pass for the exchanges' cost.
type AAERun struct {
	// Binary is the tutti executable, as in Failover.Binary.
	Binary string
	// Missing is the fraction of Records written while node 3 was down,
	// in (0, 1).
	Missing float64
	// Interval is the servers' --aae-interval; zero leaves their default.
	Interval time.Duration
	// Partitions is the servers' --partitions (Q); zero leaves their
	// default.
	Partitions int
	// Share is the servers' --aae-share, the most of the time each
	// anti-entropy worker may work while the node serves requests, in
	// (0, 1]; zero leaves their default.
	Share float64
	// Kill stops node 3 with SIGKILL rather than SIGTERM: a node killed
	// does not save its trees, so it must rebuild them at the resume, and
	// the convergence time includes that build.
	Kill bool
	// Keep keeps the cluster's directory (data and node logs).
	Keep bool
}

// Settings of an anti-entropy run.
const (
	// aaeNodes is the size of the cluster: every node owns every partition.
	aaeNodes = 3
	// aaeStopped is the index of the node stopped and restarted (n3).
	aaeStopped = aaeNodes - 1
	// aaeLoadWorkers is the number of workers that load the records and
	// write the missing ones: more than a run's usual concurrency, to load
	// a million records in minutes.
	aaeLoadWorkers = 128
	// aaePollInterval is the pause between two polls of the nodes'
	// GET /v1/debug/aae while waiting for the roots to be equal.
	aaePollInterval = 500 * time.Millisecond
	// aaeMinTimeout is the least time the run waits for the replicas to
	// be equal (before the stop, and after the restart); it waits at
	// least aaeTimeoutIntervals anti-entropy intervals too.
	aaeMinTimeout       = 10 * time.Minute
	aaeTimeoutIntervals = 5
	// aaeStopWait bounds the clean stop of node 3 (SIGTERM to exit)
	// before it is killed, and the waits for gossip to see it down and
	// for the bucket's props to reach every node.
	aaeStopWait = time.Minute
	// aaeSampleKeys is how many missing keys the run reads back to
	// measure their stored size, and looks for on node 3 at its restart.
	aaeSampleKeys = 64
	// aaeFinalWait bounds the wait, once the workload is over, for one
	// poll that finds every partition equal on every node.
	aaeFinalWait = time.Minute
	// aaePollFailures is how many polls in a row may fail (a node slow to
	// answer) before the run gives up.
	aaePollFailures = 20
	// aaeHTTPTimeout bounds one request to a node's HTTP API.
	aaeHTTPTimeout = 10 * time.Second
	// defaultServerInterval is the servers' default --aae-interval.
	defaultServerInterval = time.Minute
)

// missingCount is the number of records written while node 3 is down.
func (a *AAERun) missingCount(records int) int {
	return int(math.Round(float64(records) * a.Missing))
}

// interval is the anti-entropy interval the servers run with.
func (a *AAERun) interval() time.Duration {
	if a.Interval == 0 {
		return defaultServerInterval
	}
	return a.Interval
}

// timeout bounds each wait for the replicas to be equal.
func (a *AAERun) timeout() time.Duration {
	return max(aaeMinTimeout, aaeTimeoutIntervals*a.interval())
}

// serverArgs are the arguments the run adds to each `tutti server`.
func (a *AAERun) serverArgs() []string {
	var args []string
	if a.Interval != 0 {
		args = append(args, "--aae-interval", a.Interval.String())
	}
	if a.Partitions != 0 {
		args = append(args, "--partitions", strconv.Itoa(a.Partitions))
	}
	if a.Share != 0 {
		args = append(args, "--aae-share", strconv.FormatFloat(a.Share, 'g', -1, 64))
	}
	return args
}

// stopSignal names how node 3 is stopped.
func (a *AAERun) stopSignal() string {
	if a.Kill {
		return "SIGKILL"
	}
	return "SIGTERM"
}

// validateAAE checks an anti-entropy run's settings (the common ones are
// checked by validate).
func (cfg Config) validateAAE() (protocol, []string, error) {
	a := cfg.AAE
	m := a.missingCount(cfg.Records)
	switch {
	case cfg.Failover != nil:
		return "", nil, fmt.Errorf("an anti-entropy run cannot also be a failover run (--aae-missing and --kill-after exclude each other)")
	case len(cfg.Endpoints) > 0:
		return "", nil, fmt.Errorf("an anti-entropy run starts a cluster of its own, so it takes no endpoints (--aae-missing cannot be used with --endpoints)")
	case cfg.SkipLoad:
		return "", nil, fmt.Errorf("an anti-entropy run loads its own records, so it cannot skip the load")
	case !(a.Missing > 0 && a.Missing < 1):
		return "", nil, fmt.Errorf("aae-missing must be a fraction of the records strictly between 0 and 1, not %v", a.Missing)
	case m < 1:
		return "", nil, fmt.Errorf("aae-missing %v of %d records is %d keys: node 3 would miss nothing; raise --records or --aae-missing", a.Missing, cfg.Records, m)
	case m >= cfg.Records:
		return "", nil, fmt.Errorf("aae-missing %v of %d records leaves no record loaded with every node up", a.Missing, cfg.Records)
	case cfg.Duration < 0:
		return "", nil, fmt.Errorf("duration must not be negative (0: no concurrent workload)")
	case a.Interval < 0:
		return "", nil, fmt.Errorf("aae-interval must be positive: the run measures the servers' scheduled exchanges, and a negative interval schedules none")
	case a.Partitions != 0 && (a.Partitions < 1 || a.Partitions > 1<<16 || a.Partitions&(a.Partitions-1) != 0):
		return "", nil, fmt.Errorf("partitions must be a power of two from 1 to 65536, not %d", a.Partitions)
	case a.Share != 0 && !(a.Share > 0 && a.Share <= 1):
		return "", nil, fmt.Errorf("aae-share must be a share of the time greater than 0 and at most 1, not %v (0: the servers' default)", a.Share)
	}
	return protocolGRPC, nil, nil
}

// aaeEvents is what the run saw of the restarted node and the replicas,
// as offsets from the restart.
type aaeEvents struct {
	seenAlive time.Duration
	// resumed is when the run resumed anti-entropy on every node: the
	// exchanges, and the converging window, start then.
	resumed      time.Duration
	treesBuilt   time.Duration // first poll with every tree of n3 built
	treesSeen    bool
	buildSeconds float64 // n3's tutti_aae_tree_build_seconds, 0 if not seen
	conv         *convergence
	// convCounters are every node's counters read right after the poll
	// that found the replicas converged.
	convCounters []aaeCounters
	timedOut     bool
	err          error
}

// runAAE is Run for an anti-entropy run.
func runAAE(ctx context.Context, cfg Config) (res *Result, err error) {
	a := cfg.AAE
	missing := a.missingCount(cfg.Records)
	loaded := cfg.Records - missing
	keys, err := NewScrambledZipfian(uint64(loaded), ZipfianConstant, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	progress(cfg, "cluster: starting %d tutti server processes (N=%d) on 127.0.0.1", aaeNodes, replicas)
	started := time.Now()
	cl, err := startCluster(ctx, a.Binary, aaeNodes, a.Keep, a.serverArgs()...)
	if err != nil {
		return nil, fmt.Errorf("bench: starting the cluster: %w", err)
	}
	defer func() {
		if cerr := cl.close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench: stopping the cluster: %w", cerr)
		}
		if a.Keep {
			progress(cfg, "cluster: stopped; data and logs kept in %s", cl.dir)
		}
	}()
	progress(cfg, "cluster: every node sees every member alive after %v; node logs in %s", time.Since(started).Round(time.Millisecond), cl.dir)
	cfg.Endpoints = cl.endpoints(protocolGRPC)
	all := cl.grpcAddrs(0, 1, 2)
	tgt, err := newGRPCTarget(ctx, all, cfg.Bucket, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: connecting: %w", err)
	}
	defer func() { _ = tgt.close() }()

	res = newResult(cfg, protocolGRPC)
	r := &AAEReport{
		Nodes: aaeNodes, N: replicas, Records: cfg.Records, MissingFraction: a.Missing,
		StoppedNode: cl.nodes[aaeStopped].id, Exchanges: "scheduled", ValueSize: cfg.ValueSize, AAEShare: a.Share,
	}
	res.AAE = r
	if a.Keep {
		r.ClusterDir = cl.dir
	}
	if cfg.SetLWW {
		if err := tgt.setConflictLWW(ctx); err != nil {
			return nil, fmt.Errorf("bench: setting bucket %q to conflict lww: %w", cfg.Bucket, err)
		}
		res.BucketSetToLWW = true
	}

	// Load with every node up.
	loadCfg := cfg
	loadCfg.Concurrency = max(cfg.Concurrency, aaeLoadWorkers)
	progress(cfg, "load: inserting %d records (user0 to user%d) with %d workers, every node up", loaded, loaded-1, loadCfg.Concurrency)
	res.Load = runLoadRange(ctx, loadCfg, tgt, 1, 0, uint64(loaded))
	r.Loaded = res.Load.Ops
	if err := interrupted(ctx); err != nil {
		return res, fmt.Errorf("bench: interrupted while loading: %w", err)
	}

	// The workload with every node up and nothing missing.
	if cfg.Duration > 0 {
		progress(cfg, "before: workload %s for %v with %d workers, every node up", cfg.Workload.Name, cfg.Duration, cfg.Concurrency)
		before, err := cl.counters(ctx, 0, 1, 2)
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		phase, w := runWindowedWorkload(ctx, cfg, tgt, keys, 4, "before")
		after, err := cl.counters(ctx, 0, 1, 2)
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		r.Before = phase
		steady := sumDeltas(after, before)
		r.Workload = &AAEWorkload{Before: w, BeforeAAEBytes: intMap(steady.Bytes), BeforeReadRepairs: int64(steady.ReadRepairs)}
		if err := interrupted(ctx); err != nil {
			return res, fmt.Errorf("bench: interrupted during the workload before the stop: %w", err)
		}
	}

	// Every replica equal before the stop, so that what node 3 misses is
	// exactly what is written while it is down.
	progress(cfg, "settle: waiting until every partition's root is equal on every node")
	settleStart := time.Now()
	st, err := cl.waitAllEqual(ctx, a.timeout())
	if err != nil {
		return res, fmt.Errorf("bench: before stopping %s: %w", r.StoppedNode, err)
	}
	r.SettleSec = time.Since(settleStart).Seconds()
	r.Partitions = len(st[0].Partitions)
	r.IntervalSec = st[0].IntervalSeconds

	if err := stopNode3(ctx, cfg, cl, r); err != nil {
		return res, err
	}
	sample, err := writeMissing(ctx, loadCfg, cl, r, loaded)
	if err != nil {
		return res, err
	}

	// Restart node 3, anti-entropy still paused everywhere.
	before, err := cl.counters(ctx, 0, 1)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	before = append(before, aaeCounters{}) // n3 starts again from zero
	restartAt := time.Now()
	ev, err := restartNode3(ctx, cfg, cl, r, sample, restartAt)
	if err != nil {
		return res, err
	}

	// The baseline: the workload on the same data and the same restarted
	// node, with no anti-entropy anywhere.
	var wtgt target
	if cfg.Duration > 0 {
		if wtgt, err = newGRPCTarget(ctx, all, cfg.Bucket, cfg.Seed+1); err != nil {
			return res, fmt.Errorf("bench: connecting: %w", err)
		}
		defer func() { _ = wtgt.close() }()
		if err := runPausedWindow(ctx, cfg, cl, wtgt, keys, r); err != nil {
			return res, err
		}
	}

	// Resume, and watch the replicas converge.
	atResume, err := cl.counters(ctx, 0, 1, 2)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	ev.resumed = time.Since(restartAt)
	if err := cl.setAAEPaused(ctx, false, 0, 1, 2); err != nil {
		return res, fmt.Errorf("bench: resuming anti-entropy: %w", err)
	}
	r.ResumedAfterSec = ev.resumed.Seconds()
	progress(cfg, "resume: anti-entropy resumed on every node %.3f s after the restart", r.ResumedAfterSec)
	ev, conv, t, wl := convergeWatched(ctx, cfg, cl, wtgt, keys, restartAt, ev)
	res.Run = conv
	if ev.err != nil {
		return res, fmt.Errorf("bench: %w", ev.err)
	}
	if err := interrupted(ctx); err != nil {
		return res, fmt.Errorf("bench: interrupted while converging: %w", err)
	}
	r.setConvergence(ev)
	r.Spread = spreadOf(cfg.Bucket, uint64(loaded), uint64(cfg.Records), r.Partitions)
	if ev.convCounters != nil {
		ids := make([]string, len(cl.nodes))
		for i, nd := range cl.nodes {
			ids[i] = nd.id
		}
		r.setBytes(sumDeltas(ev.convCounters, before), ev.convCounters, before, ids, cfg.Bucket, uint64(loaded), uint64(cfg.Records))
		// The paused window has its own read repairs: these are the
		// converging window's alone.
		r.Bytes.ReadRepairs = int64(math.Round(sumDeltas(ev.convCounters, atResume).ReadRepairs))
	}
	if t != nil {
		r.Workload.setConverging(t, wl, ev)
	}

	// Once the workload is over, one poll must find every partition equal.
	finalStart := time.Now()
	if _, err := cl.waitAllEqual(ctx, aaeFinalWait); err == nil {
		r.FinalAllEqual = true
		r.FinalAllEqualAfterSec = seconds(time.Since(finalStart))
	}
	if endCounters, err := cl.counters(ctx, 0, 1, 2); err == nil {
		total := sumDeltas(endCounters, before)
		r.Bytes.TotalToEnd = int64(sumValues(total.Bytes))
		if r.Workload != nil && ev.convCounters != nil {
			after := sumDeltas(endCounters, ev.convCounters)
			r.Workload.AfterAAEBytes, r.Workload.AfterReadRepairs = intMap(after.Bytes), int64(after.ReadRepairs)
		}
	}

	// The other side of the bracket: the baseline again, at the end.
	if cfg.Duration > 0 && r.Workload != nil {
		if err := runPausedAgainWindow(ctx, cfg, cl, wtgt, keys, r, restartAt); err != nil {
			return res, err
		}
	}
	return res, nil
}

// stopNode3 pauses anti-entropy on nodes 1 and 2, so that they start no
// exchange until the resume (the baseline after the restart must have
// none, and node 3 restarted paused still answers its peers' exchanges),
// then stops node 3 (SIGTERM, or SIGKILL with --aae-kill so that it has
// no saved trees) and waits until the others see it down.
func stopNode3(ctx context.Context, cfg Config, cl *cluster, r *AAEReport) error {
	if err := cl.setAAEPaused(ctx, true, 0, 1); err != nil {
		return fmt.Errorf("bench: pausing anti-entropy on n1 and n2 before stopping %s: %w", r.StoppedNode, err)
	}
	progress(cfg, "pause: anti-entropy paused on n1 and n2")
	r.StopSignal = cfg.AAE.stopSignal()
	start := time.Now()
	if cfg.AAE.Kill {
		if err := cl.kill(aaeStopped); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	} else {
		clean, err := cl.stop(aaeStopped, aaeStopWait)
		if err != nil {
			return fmt.Errorf("bench: stopping %s: %w", r.StoppedNode, err)
		}
		r.StopClean = clean
	}
	r.StopSec = time.Since(start).Seconds()
	progress(cfg, "stop: %s stopped (%s, clean: %v) in %.3f s", r.StoppedNode, r.StopSignal, r.StopClean, r.StopSec)
	if err := cl.waitDown(ctx, aaeStopped, aaeStopWait); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// writeMissing turns sloppy quorum off for the bucket, writes the records
// from loaded on through nodes 1 and 2 while node 3 is down, counts the
// hints stored meanwhile, and measures the stored size of a sample of the
// missing objects; it returns the sample, which restartNode3 looks for on
// node 3.
func writeMissing(ctx context.Context, cfg Config, cl *cluster, r *AAEReport, loaded int) ([]uint64, error) {
	if err := cl.setSloppy(ctx, cfg.Bucket, false, []int{0, 1}, aaeStopWait); err != nil {
		return nil, fmt.Errorf("bench: turning sloppy quorum off for bucket %q: %w", cfg.Bucket, err)
	}
	preMissing, err := cl.counters(ctx, 0, 1)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	live, err := newGRPCTarget(ctx, cl.grpcAddrs(0, 1), cfg.Bucket, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: connecting: %w", err)
	}
	progress(cfg, "missing: writing %d records (user%d to user%d) while %s is down, bucket %q with sloppy quorum off", cfg.Records-loaded, loaded, cfg.Records-1, r.StoppedNode, cfg.Bucket)
	r.MissingWrites = runLoadRange(ctx, cfg, live, 3, uint64(loaded), uint64(cfg.Records))
	_ = live.close()
	r.Missing = r.MissingWrites.Ops
	if err := interrupted(ctx); err != nil {
		return nil, fmt.Errorf("bench: interrupted while writing the missing records: %w", err)
	}
	postMissing, err := cl.counters(ctx, 0, 1)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r.HintsStored = int64(sumDeltas(postMissing, preMissing).HintsStored)
	sample := sampleKeys(uint64(loaded), uint64(cfg.Records), aaeSampleKeys)
	sizes, err := cl.storedSizes(ctx, 0, cfg.Bucket, sample)
	if err != nil {
		return nil, fmt.Errorf("bench: measuring the stored size of the missing objects: %w", err)
	}
	r.Object = newObjectSize(sizes, cfg.Bucket, uint64(loaded), uint64(cfg.Records))
	return sample, nil
}

// restartNode3 starts node 3 again with anti-entropy paused (for this
// life only: a later restart would not be), looks for the sampled missing
// keys on it as soon as it answers, waits until it is back in the cluster
// and the others can replicate to it, and checks that every node says its
// anti-entropy is paused. Times are from restartAt.
func restartNode3(ctx context.Context, cfg Config, cl *cluster, r *AAEReport, sample []uint64, restartAt time.Time) (aaeEvents, error) {
	if err := cl.restart(aaeStopped, aaePausedArg); err != nil {
		return aaeEvents{}, fmt.Errorf("bench: %w", err)
	}
	progress(cfg, "restart: %s started again with anti-entropy paused (%s)", r.StoppedNode, aaePausedArg)
	// Look for the sampled missing keys on node 3 as soon as it answers,
	// before any exchange can have repaired them.
	if err := cl.waitHTTP(ctx, aaeStopped, readyTimeout); err != nil {
		return aaeEvents{}, fmt.Errorf("bench: restarting %s: %w", r.StoppedNode, err)
	}
	held, err := cl.storedSizes(ctx, aaeStopped, cfg.Bucket, sample)
	if err != nil {
		return aaeEvents{}, fmt.Errorf("bench: looking for missing keys on %s: %w", r.StoppedNode, err)
	}
	r.SampleCheckedAfterSec = time.Since(restartAt).Seconds()
	r.SampleChecked = len(sample)
	for _, s := range held {
		if s > 0 {
			r.SampleHeldAtRestart++
		}
	}
	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	err = cl.waitReady(readyCtx)
	cancel()
	if err != nil {
		return aaeEvents{}, fmt.Errorf("bench: restarting %s: %w", r.StoppedNode, err)
	}
	ev := aaeEvents{seenAlive: time.Since(restartAt)}
	r.SeenAliveAfterSec = ev.seenAlive.Seconds()
	// Gossip sees node 3 alive before the others' transport reaches it
	// again (it fails fast for a while after failing to reach a down
	// peer): a write made then would not reach node 3, which would miss
	// it too. The workload starts once both can replicate to it.
	if err := cl.waitReplicates(ctx, cfg.Bucket, []int{0, 1}, readyTimeout); err != nil {
		return ev, fmt.Errorf("bench: after restarting %s: %w", r.StoppedNode, err)
	}
	r.ReplicatesAfterSec = time.Since(restartAt).Seconds()
	sts, err := cl.checkPaused(ctx)
	if err != nil {
		return ev, fmt.Errorf("bench: after restarting %s: %w", r.StoppedNode, err)
	}
	r.TreesBuiltAtStart = sts[aaeStopped].TreesBuilt
	progress(cfg, "restart: %s held %d of %d sampled missing keys %.3f s after the restart; every node sees every member alive %.3f s after it; the others replicate to it %.3f s after it; it has %d of %d trees built, anti-entropy paused on every node",
		r.StoppedNode, r.SampleHeldAtRestart, r.SampleChecked, r.SampleCheckedAfterSec, ev.seenAlive.Seconds(), r.ReplicatesAfterSec, r.TreesBuiltAtStart, len(sts[aaeStopped].Partitions))
	return ev, nil
}

// runPausedWindow runs the first half of the baseline: the workload for
// cfg.Duration right after the restart with anti-entropy paused on every
// node, so that the converging window is compared with the same data and
// the same restarted node without anti-entropy. It reads every node's
// counters around it: with every node paused no anti-entropy byte may
// move, and the report says whether any did.
func runPausedWindow(ctx context.Context, cfg Config, cl *cluster, tgt target, keys *ScrambledZipfian, r *AAEReport) error {
	progress(cfg, "paused: workload %s for %v with %d workers, anti-entropy paused on every node (the baseline's first half)", cfg.Workload.Name, cfg.Duration, cfg.Concurrency)
	before, err := cl.counters(ctx, 0, 1, 2)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	phase, w, delta, err := runCountedWindow(ctx, cfg, cl, tgt, keys, 6, "paused", before)
	if err != nil {
		return err
	}
	r.Paused = phase
	r.Workload.setPaused(w, delta)
	if !r.Workload.PausedQuiet {
		progress(cfg, "paused: WARNING: anti-entropy sent %d bytes while paused on every node", sumInts(r.Workload.PausedAAEBytes))
	}
	if err := interrupted(ctx); err != nil {
		return fmt.Errorf("bench: interrupted during the workload with anti-entropy paused: %w", err)
	}
	return nil
}

// runPausedAgainWindow runs the second half of the baseline, once the
// after window and the final check are over: it pauses anti-entropy on
// every node again, checks that each says so, waits until no exchange in
// flight at the pause sends anything more, runs the workload for
// cfg.Duration (the paused-again window) reading every node's counters
// around it as runPausedWindow does, and resumes anti-entropy on every
// node. The two paused windows bracket the converging and after windows,
// so that drift over the run shows up between them rather than as the
// exchanges' cost. Times are from restartAt.
func runPausedAgainWindow(ctx context.Context, cfg Config, cl *cluster, tgt target, keys *ScrambledZipfian, r *AAEReport, restartAt time.Time) error {
	if err := cl.setAAEPaused(ctx, true, 0, 1, 2); err != nil {
		return fmt.Errorf("bench: pausing anti-entropy again: %w", err)
	}
	r.RepausedAfterSec = seconds(time.Since(restartAt))
	if _, err := cl.checkPaused(ctx); err != nil {
		return fmt.Errorf("bench: after pausing anti-entropy again: %w", err)
	}
	before, quiet, err := cl.waitAAEQuiet(ctx, aaeStopWait)
	if err != nil {
		return fmt.Errorf("bench: after pausing anti-entropy again: %w", err)
	}
	r.PausedAgainStartAfterSec = seconds(time.Since(restartAt))
	if !quiet {
		progress(cfg, "paused again: WARNING: anti-entropy still sending bytes %v after the pause; starting the window anyway", aaeStopWait)
	}
	progress(cfg, "paused again: anti-entropy paused on every node again %.3f s after the restart; workload %s for %v with %d workers (the baseline's second half)",
		*r.RepausedAfterSec, cfg.Workload.Name, cfg.Duration, cfg.Concurrency)
	phase, w, delta, err := runCountedWindow(ctx, cfg, cl, tgt, keys, 7, "paused-again", before)
	if err != nil {
		return err
	}
	r.PausedAgain = phase
	r.Workload.setPausedAgain(w, delta)
	if !*r.Workload.PausedAgainQuiet {
		progress(cfg, "paused again: WARNING: anti-entropy sent %d bytes while paused on every node", sumInts(r.Workload.PausedAgainAAEBytes))
	}
	if err := interrupted(ctx); err != nil {
		return fmt.Errorf("bench: interrupted during the workload with anti-entropy paused again: %w", err)
	}
	// Leave the cluster as it was, anti-entropy on.
	if err := cl.setAAEPaused(ctx, false, 0, 1, 2); err != nil {
		return fmt.Errorf("bench: resuming anti-entropy after the paused-again window: %w", err)
	}
	return nil
}

// runCountedWindow runs the workload for cfg.Duration as phase, its
// window named name, and returns them with the deltas of every node's
// counters over it: from before, read by the caller right before it, to
// a read right after it.
func runCountedWindow(ctx context.Context, cfg Config, cl *cluster, tgt target, keys *ScrambledZipfian, phase uint64, name string, before []aaeCounters) (*Phase, *WorkloadWindow, aaeCounters, error) {
	p, w := runWindowedWorkload(ctx, cfg, tgt, keys, phase, name)
	after, err := cl.counters(ctx, 0, 1, 2)
	if err != nil {
		return nil, nil, aaeCounters{}, fmt.Errorf("bench: %w", err)
	}
	return p, w, sumDeltas(after, before), nil
}

// convergeWatched runs the workload on tgt (none if cfg.Duration is 0)
// from the resume while watching the replicas converge, until they have
// and the workload has run cfg.Duration past that (and cfg.Duration in
// all). It returns what the watch saw, the workload's phase and timeline,
// and the workload's start as an offset from restartAt.
func convergeWatched(ctx context.Context, cfg Config, cl *cluster, tgt target, keys *ScrambledZipfian, restartAt time.Time, ev aaeEvents) (aaeEvents, *Phase, *timeline, time.Duration) {
	if cfg.Duration == 0 {
		progress(cfg, "converge: waiting until the replicas are equal, no workload")
		return watchConvergence(ctx, cfg, cl, restartAt, ev, func(_, _ time.Duration) bool { return true }, func() {}), nil, nil, 0
	}
	progress(cfg, "converge: workload %s with %d workers until the replicas are equal, then for %v more (at least %v in all)", cfg.Workload.Name, cfg.Concurrency, cfg.Duration, cfg.Duration)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wl := time.Since(restartAt)
	done := make(chan aaeEvents, 1)
	go func() {
		// The workload goes on for --duration after convergence, the
		// after window, and lasts --duration at least.
		done <- watchConvergence(wctx, cfg, cl, restartAt, ev, func(now, conv time.Duration) bool {
			return now-wl >= cfg.Duration && now-conv >= cfg.Duration
		}, stop)
	}()
	conv, workers := runPhase(wctx, cfg, 5, restartAt.Add(wl), logEverything, workloadLoop(cfg, tgt, keys))
	end := time.Since(restartAt) - wl
	stop()
	ev = <-done
	return ev, conv, mergeLogs(logsOf(workers), end), wl
}

// logsOf returns the workers' logs.
func logsOf(workers []*worker) []*writeLog {
	logs := make([]*writeLog, len(workers))
	for i, w := range workers {
		logs[i] = w.log
	}
	return logs
}

// runWindowedWorkload runs the workload for cfg.Duration as phase, every
// operation logged, and returns the phase and its window, named name.
func runWindowedWorkload(ctx context.Context, cfg Config, tgt target, keys *ScrambledZipfian, phase uint64, name string) (*Phase, *WorkloadWindow) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	p, workers := runPhase(ctx, cfg, phase, start, logEverything, workloadLoop(cfg, tgt, keys))
	t := mergeLogs(logsOf(workers), time.Since(start))
	return p, windowOf(name, t, 0, t.end)
}

// watchConvergence polls the nodes every aaePollInterval until every
// partition has been seen equal on every node and done(now, converged at)
// says the workload may end, or the run's timeout passes (counted from
// the resume, ev.resumed); it then calls stop. Times are offsets from
// restartAt.
func watchConvergence(ctx context.Context, cfg Config, cl *cluster, restartAt time.Time, ev aaeEvents, done func(now, conv time.Duration) bool, stop func()) aaeEvents {
	defer stop()
	ev.conv = newConvergence()
	deadline := ev.resumed + cfg.AAE.timeout()
	failures := 0
	for {
		if !sleep(ctx, aaePollInterval) {
			return ev
		}
		now := time.Since(restartAt)
		if !ev.conv.converged() {
			sts, err := cl.aaeStatuses(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ev
				}
				// A node slow to answer under load skips a poll; one that
				// stops answering ends the run.
				if failures++; failures >= aaePollFailures {
					ev.err = fmt.Errorf("%d polls in a row failed, the last: %w", failures, err)
					return ev
				}
				continue
			}
			failures = 0
			now = time.Since(restartAt)
			if st := sts[aaeStopped]; !ev.treesSeen && len(st.Partitions) > 0 && st.TreesBuilt == len(st.Partitions) {
				ev.treesSeen, ev.treesBuilt = true, now
			}
			if ev.buildSeconds == 0 {
				if c, err := cl.counters(ctx, aaeStopped); err == nil {
					ev.buildSeconds = c[0].BuildSeconds
				}
			}
			ev.conv.observe(now, sts)
			if ev.conv.converged() {
				c, err := cl.counters(ctx, 0, 1, 2)
				for try := 1; err != nil && try < aaePollFailures && sleep(ctx, 100*time.Millisecond); try++ {
					c, err = cl.counters(ctx, 0, 1, 2)
				}
				if err != nil {
					ev.err = err
					return ev
				}
				ev.convCounters = c
				progress(cfg, "converge: every partition seen equal on every node %.3f s after the restart, %.3f s after the resume", ev.conv.at.Seconds(), (ev.conv.at - ev.resumed).Seconds())
				if ev.buildSeconds == 0 {
					if c, err := cl.counters(ctx, aaeStopped); err == nil {
						ev.buildSeconds = c[0].BuildSeconds
					}
				}
			}
		}
		if ev.conv.converged() && done(now, ev.conv.at) {
			return ev
		}
		if now >= deadline {
			ev.timedOut = true
			progress(cfg, "converge: replicas not equal %v after the resume; giving up", cfg.AAE.timeout())
			return ev
		}
	}
}

// aaeStatus is a node's GET /v1/debug/aae answer, as far as the run reads
// it.
type aaeStatus struct {
	Node            string  `json:"node"`
	IntervalSeconds float64 `json:"interval_seconds"`
	// Paused: the node's anti-entropy is paused (--aae-paused, or POST
	// /v1/debug/aae/pause); absent, as false, from servers that cannot
	// pause it.
	Paused     bool `json:"paused"`
	TreesBuilt int  `json:"trees_built"`
	Partitions []struct {
		Partition int    `json:"partition"`
		Root      string `json:"root"`
	} `json:"partitions"`
}

// grpcAddrs are the gRPC addresses of the nodes of the given indexes.
func (c *cluster) grpcAddrs(nodes ...int) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = c.nodes[n].grpcAddr
	}
	return out
}

// request sends one request to node i's HTTP API and returns the body of
// a 2xx answer.
func (c *cluster) request(ctx context.Context, i int, method, path string, body []byte) ([]byte, error) {
	a, err := c.send(ctx, i, method, path, body)
	if err != nil {
		return nil, err
	}
	if a.code/100 != 2 {
		return nil, a.err()
	}
	return a.body, nil
}

// answer is a node's answer to one request.
type answer struct {
	node, method, path string
	code               int
	status             string // e.g. "404 Not Found"
	body               []byte
}

// err describes an answer that is not the one wanted.
func (a answer) err() error {
	return fmt.Errorf("%s %s on %s: %s: %s", a.method, a.path, a.node, a.status, bytes.TrimSpace(a.body))
}

// send sends one request to node i's HTTP API and returns its answer,
// whatever its status; an error is a request that got no answer.
func (c *cluster) send(ctx context.Context, i int, method, path string, body []byte) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, aaeHTTPTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.nodes[i].httpAddr+path, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s on %s: %w", method, path, c.nodes[i].id, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s on %s: %w", method, path, c.nodes[i].id, err)
	}
	return answer{node: c.nodes[i].id, method: method, path: path, code: resp.StatusCode, status: resp.Status, body: raw}, nil
}

// aaePausedArg starts a node with anti-entropy paused: no scheduled
// exchange and no tree build until POST /v1/debug/aae/resume (it still
// answers its peers' exchanges).
const aaePausedArg = "--aae-paused"

// setAAEPaused pauses or resumes anti-entropy on each of nodes in turn
// (POST /v1/debug/aae/pause or .../resume) and checks that each answers
// 200 with {"paused": paused}: a server that cannot pause would make the
// baseline a window with anti-entropy, so anything else ends the run.
func (c *cluster) setAAEPaused(ctx context.Context, paused bool, nodes ...int) error {
	path := "/v1/debug/aae/resume"
	if paused {
		path = "/v1/debug/aae/pause"
	}
	for _, i := range nodes {
		a, err := c.send(ctx, i, http.MethodPost, path, nil)
		if err != nil {
			return err
		}
		if err := checkPauseAnswer(a, paused); err != nil {
			return err
		}
	}
	return nil
}

// checkPauseAnswer checks a node's answer to POST /v1/debug/aae/pause or
// .../resume: 200 and {"paused": want}.
func checkPauseAnswer(a answer, want bool) error {
	if a.code != http.StatusOK {
		return fmt.Errorf("%w (want 200: does this tutti server support pausing anti-entropy?)", a.err())
	}
	var st struct {
		Paused *bool `json:"paused"`
	}
	if err := json.Unmarshal(a.body, &st); err != nil || st.Paused == nil || *st.Paused != want {
		return fmt.Errorf("%s %s on %s answered %s, want {\"paused\": %v}", a.method, a.path, a.node, bytes.TrimSpace(a.body), want)
	}
	return nil
}

// checkPaused asks every node for its anti-entropy state and checks that
// each says it is paused, so that the window run next is a baseline with
// no anti-entropy; it returns the answers.
func (c *cluster) checkPaused(ctx context.Context) ([]aaeStatus, error) {
	sts, err := c.aaeStatuses(ctx)
	if err != nil {
		return nil, err
	}
	for i, st := range sts {
		if !st.Paused {
			return nil, fmt.Errorf("%s does not say its anti-entropy is paused (GET /v1/debug/aae: \"paused\" false or absent)", c.nodes[i].id)
		}
	}
	return sts, nil
}

func (c *cluster) getJSON(ctx context.Context, i int, path string, v any) error {
	raw, err := c.request(ctx, i, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("GET %s on %s: %w", path, c.nodes[i].id, err)
	}
	return nil
}

// counters reads the anti-entropy counters of the given nodes, in order.
func (c *cluster) counters(ctx context.Context, nodes ...int) ([]aaeCounters, error) {
	out := make([]aaeCounters, len(nodes))
	for j, i := range nodes {
		raw, err := c.request(ctx, i, http.MethodGet, "/metrics", nil)
		if err != nil {
			return nil, err
		}
		samples, err := parseMetrics(string(raw))
		if err != nil {
			return nil, fmt.Errorf("%s's metrics: %w", c.nodes[i].id, err)
		}
		out[j] = countersOf(samples)
	}
	return out, nil
}

// aaeStatuses asks every node for its anti-entropy state at once, so that
// the answers are as close in time as can be.
func (c *cluster) aaeStatuses(ctx context.Context) ([]aaeStatus, error) {
	sts := make([]aaeStatus, len(c.nodes))
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.getJSON(ctx, i, "/v1/debug/aae", &sts[i])
		}()
	}
	wg.Wait()
	return sts, errors.Join(errs...)
}

// waitAAEQuiet reads every node's counters every aaePollInterval until
// two reads in a row show no anti-entropy byte sent between them (pausing
// stops the schedule, but an exchange in flight then runs to its end), or
// until timeout has passed; it returns the last read and whether it was
// quiet.
func (c *cluster) waitAAEQuiet(ctx context.Context, timeout time.Duration) ([]aaeCounters, bool, error) {
	deadline := time.Now().Add(timeout)
	prev, err := c.counters(ctx, 0, 1, 2)
	if err != nil {
		return nil, false, err
	}
	for {
		if !sleep(ctx, aaePollInterval) {
			return nil, false, ctx.Err()
		}
		cur, err := c.counters(ctx, 0, 1, 2)
		if err != nil {
			return nil, false, err
		}
		if sumValues(sumDeltas(cur, prev).Bytes) == 0 {
			return cur, true, nil
		}
		if time.Now().After(deadline) {
			return cur, false, nil
		}
		prev = cur
	}
}

// waitAllEqual polls until one poll finds every partition's root equal on
// every node, and returns that poll.
func (c *cluster) waitAllEqual(ctx context.Context, timeout time.Duration) ([]aaeStatus, error) {
	deadline := time.Now().Add(timeout)
	last := "no poll answered"
	for {
		sts, err := c.aaeStatuses(ctx)
		if err == nil {
			cmp := compareRoots(sts)
			if cmp.allEqual() {
				return sts, nil
			}
			last = fmt.Sprintf("%d partitions differ, %d not built", len(cmp.differ), len(cmp.unbuilt))
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("replicas not equal after %v (%s)", timeout, last)
		}
		if !sleep(ctx, aaePollInterval) {
			return nil, ctx.Err()
		}
	}
}

// waitReplicates waits until each of the nodes vias, coordinating a write
// with w=all (a probe key of the bucket's, aae-probe-<id>, outside the
// records), gets every replica's acknowledgement: until each can replicate
// to every node. With N=3 on three nodes every node owns every key, so
// each coordinates its own probe.
func (c *cluster) waitReplicates(ctx context.Context, bucket string, vias []int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, i := range vias {
		path := "/v1/buckets/" + url.PathEscape(bucket) + "/keys/aae-probe-" + c.nodes[i].id + "?w=all&timeout=1s"
		for {
			_, err := c.request(ctx, i, http.MethodPut, path, []byte("probe"))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s cannot replicate to every node %v after the restart: %w", c.nodes[i].id, timeout, err)
			}
			if !sleep(ctx, 20*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// waitHTTP waits until node i's HTTP API answers GET /healthz; a node
// whose process exited fails the wait at once.
func (c *cluster) waitHTTP(ctx context.Context, i int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c.nodes[i].proc.Exited() {
			return fmt.Errorf("%s exited; end of %s:\n%s", c.nodes[i].id, c.nodes[i].logPath, c.logTail(i))
		}
		if _, err := c.request(ctx, i, http.MethodGet, "/healthz", nil); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s's HTTP API not answering %v after its start", c.nodes[i].id, timeout)
		}
		if !sleep(ctx, 10*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// stop sends SIGTERM to node i and waits up to wait for it to exit; past
// that it kills it. clean says whether it exited on its own.
func (c *cluster) stop(i int, wait time.Duration) (clean bool, err error) {
	p := c.nodes[i].proc
	if p == nil || p.Exited() {
		return false, fmt.Errorf("%s is not running", c.nodes[i].id)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return false, err
	}
	deadline := time.Now().Add(wait)
	for !p.Exited() {
		if time.Now().After(deadline) {
			return false, c.kill(i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true, nil
}

// waitDown waits until every other node sees node i down, and checks that
// it still owns every partition it owned (a stopped node is down, not
// gone).
func (c *cluster) waitDown(ctx context.Context, i int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	id := c.nodes[i].id
	for {
		down, owns := true, -1
		for j := range c.nodes {
			if j == i {
				continue
			}
			var ms []struct {
				ID         string `json:"id"`
				Alive      bool   `json:"alive"`
				Partitions int    `json:"partitions"`
			}
			if err := c.getJSON(ctx, j, "/v1/cluster/members", &ms); err != nil {
				return err
			}
			for _, m := range ms {
				if m.ID == id {
					down = down && !m.Alive
					owns = m.Partitions
				}
			}
		}
		if down {
			if owns <= 0 {
				return fmt.Errorf("%s owns no partition once down: the figures would not be about a replica that missed writes", id)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the other nodes do not see %s down %v after it stopped", id, timeout)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// setSloppy sets the bucket's sloppy property through the first of nodes
// and waits until every one of them has it.
func (c *cluster) setSloppy(ctx context.Context, bucket string, sloppy bool, nodes []int, timeout time.Duration) error {
	path := "/v1/buckets/" + url.PathEscape(bucket) + "/props"
	body, _ := json.Marshal(map[string]bool{"sloppy": sloppy})
	if _, err := c.request(ctx, nodes[0], http.MethodPut, path, body); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, i := range nodes {
			var props struct {
				Sloppy bool `json:"sloppy"`
			}
			if err := c.getJSON(ctx, i, path, &props); err != nil {
				return err
			}
			ok = ok && props.Sloppy == sloppy
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every node has sloppy=%v %v after setting it", sloppy, timeout)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// storedSizes reads node i's own copy of each record (GET
// /v1/debug/local) and returns the size of its stored encoding, 0 when
// the node holds none.
func (c *cluster) storedSizes(ctx context.Context, i int, bucket string, records []uint64) ([]int, error) {
	sizes := make([]int, len(records))
	for j, rec := range records {
		var lc localCopy
		if err := c.getJSON(ctx, i, "/v1/debug/local/"+url.PathEscape(bucket)+"/"+url.PathEscape(keyName(rec)), &lc); err != nil {
			return nil, err
		}
		if lc.Copy == nil {
			continue
		}
		n, err := encodedSize(lc.Copy)
		if err != nil {
			return nil, fmt.Errorf("%s's copy of %s: %w", c.nodes[i].id, keyName(rec), err)
		}
		sizes[j] = n
	}
	return sizes, nil
}

// sampleKeys returns up to n record numbers spread evenly over [from, to).
func sampleKeys(from, to uint64, n int) []uint64 {
	count := to - from
	if count <= uint64(n) {
		out := make([]uint64, 0, count)
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	out := make([]uint64, n)
	for j := range out {
		out[j] = from + uint64(j)*count/uint64(n)
	}
	return out
}

// sumDeltas adds up, over nodes, each node's after minus its before.
func sumDeltas(after, before []aaeCounters) aaeCounters {
	var total aaeCounters
	for i := range after {
		var b aaeCounters
		if i < len(before) {
			b = before[i]
		}
		total = total.add(after[i].sub(b))
	}
	return total
}

func sumValues(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

func intMap(m map[string]float64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(math.Round(v))
	}
	return out
}
