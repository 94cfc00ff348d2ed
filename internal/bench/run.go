package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// opKind is a kind of operation.
type opKind int

const (
	opInsert opKind = iota
	opRead
	opUpdate
	numOpKinds
)

func (k opKind) String() string {
	return [...]string{"insert", "read", "update"}[k]
}

// keyName is the key of record i, as YCSB names them.
func keyName(i uint64) string { return "user" + strconv.FormatUint(i, 10) }

// Run loads cfg.Records records, then runs the workload for cfg.Duration,
// and reports both phases. When ctx ends early it returns what was measured
// so far along with the context's error.
//
// With cfg.Failover it first starts a cluster of its own, kills one of its
// nodes during the run phase (and maybe restarts it), and reports the
// writes' timeline around the kill too. The cluster's processes are killed
// before Run returns, however it returns.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	proto, addrs, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.AAE != nil {
		return runAAE(ctx, cfg)
	}
	keys, err := NewScrambledZipfian(uint64(cfg.Records), ZipfianConstant, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	var cl *cluster
	if fo := cfg.Failover; fo != nil {
		progress(cfg, "cluster: starting %d tutti server processes (N=%d) on 127.0.0.1", fo.nodes(), replicas)
		started := time.Now()
		if cl, err = startCluster(ctx, fo.Binary, fo.nodes(), fo.Keep); err != nil {
			return nil, fmt.Errorf("bench: starting the cluster: %w", err)
		}
		defer func() {
			if cerr := cl.close(); cerr != nil && err == nil {
				err = fmt.Errorf("bench: stopping the cluster: %w", cerr)
			}
			if fo.Keep {
				progress(cfg, "cluster: stopped; data and logs kept in %s", cl.dir)
			}
		}()
		progress(cfg, "cluster: every node sees every member alive after %v; node logs in %s", time.Since(started).Round(time.Millisecond), cl.dir)
		cfg.Endpoints = cl.endpoints(proto)
		if proto, addrs, err = parseEndpoints(cfg.Endpoints); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	var tgt target
	switch proto {
	case protocolGRPC:
		if tgt, err = newGRPCTarget(ctx, addrs, cfg.Bucket, cfg.Seed); err != nil {
			return nil, fmt.Errorf("bench: connecting: %w", err)
		}
	default:
		tgt = newHTTPTarget(addrs, cfg.Bucket, cfg.Concurrency)
	}
	defer func() { _ = tgt.close() }()

	res = newResult(cfg, proto)
	if cfg.SetLWW {
		if err := tgt.setConflictLWW(ctx); err != nil {
			return nil, fmt.Errorf("bench: setting bucket %q to conflict lww: %w", cfg.Bucket, err)
		}
		res.BucketSetToLWW = true
	}
	if !cfg.SkipLoad {
		progress(cfg, "load: inserting %d records with %d workers", cfg.Records, cfg.Concurrency)
		res.Load = runLoad(ctx, cfg, tgt)
		if err := interrupted(ctx); err != nil {
			return res, fmt.Errorf("bench: interrupted while loading: %w", err)
		}
	}
	progress(cfg, "run: workload %s for %v with %d workers", cfg.Workload.Name, cfg.Duration, cfg.Concurrency)
	if cl != nil {
		var faultErr error
		res.Run, res.Failover, faultErr = runFailover(ctx, cfg, tgt, keys, cl)
		if faultErr != nil {
			return res, fmt.Errorf("bench: failover: %w", faultErr)
		}
	} else {
		res.Run = runWorkload(ctx, cfg, tgt, keys)
	}
	if err := interrupted(ctx); err != nil {
		return res, fmt.Errorf("bench: interrupted: %w", err)
	}
	return res, nil
}

func progress(cfg Config, format string, args ...any) {
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, format+"\n", args...)
	}
}

// worker is one closed-loop client: one request at a time, with its own
// random source and statistics, so that workers share nothing while running.
type worker struct {
	rng   *rand.Rand
	value []byte
	stats [numOpKinds]opStats
	// log, in a failover run phase, records every write for the timeline.
	log *writeLog
}

type opStats struct {
	latencies histogram
	notFound  int64
	errors    map[string]int64
	// samples keeps the first error message of each kind.
	samples map[string]string
}

func newWorker(cfg Config, phase, index uint64) *worker {
	return &worker{
		// The stream depends on seed, phase and worker, not on timing.
		rng:   rand.New(rand.NewPCG(cfg.Seed, phase<<32|index)),
		value: make([]byte, cfg.ValueSize),
	}
}

// do performs one operation and records it. An operation cut short because
// its phase ended counts neither as a success nor as an error.
func (w *worker) do(phase context.Context, cfg Config, tgt target, kind opKind, key string) {
	ctx := phase
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(phase, cfg.Timeout)
		defer cancel()
	}
	found := true
	var err error
	var start time.Time
	if kind == opRead {
		start = time.Now()
		found, err = tgt.read(ctx, key)
	} else {
		w.fillValue()
		start = time.Now()
		err = tgt.write(ctx, key, w.value)
	}
	elapsed := time.Since(start)
	if ended(phase) {
		return
	}
	if w.log != nil && (kind != opRead || w.log.reads) {
		w.log.add(kind, start, elapsed, err)
	}
	s := &w.stats[kind]
	if err != nil {
		if s.errors == nil {
			s.errors, s.samples = map[string]int64{}, map[string]string{}
		}
		k := kindOf(err)
		if s.errors[k] == 0 {
			s.samples[k] = err.Error()
		}
		s.errors[k]++
		return
	}
	s.latencies.record(elapsed)
	if !found {
		s.notFound++
	}
}

// ended reports whether a phase is over. It checks the deadline itself:
// the context's timer may not have fired yet when the deadline passes, and
// a request made in between fails at once with a deadline error.
func ended(phase context.Context) bool {
	if phase.Err() != nil {
		return true
	}
	deadline, ok := phase.Deadline()
	return ok && !time.Now().Before(deadline)
}

// interrupted returns ctx's error, or context.DeadlineExceeded once its
// deadline has passed even if its timer has not fired yet (ended stops a
// phase at the deadline itself, so the phase may be over before the timer
// fires).
func interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ended(ctx) {
		return context.DeadlineExceeded
	}
	return nil
}

// fillValue draws fresh random bytes, so that no two writes compress alike.
func (w *worker) fillValue() {
	var word [8]byte
	for i := 0; i < len(w.value); i += 8 {
		binary.LittleEndian.PutUint64(word[:], w.rng.Uint64())
		copy(w.value[i:], word[:])
	}
}

// logMode is what a phase's workers log for a timeline.
type logMode int

const (
	// logNothing: no timeline.
	logNothing logMode = iota
	// logWrites: the writes, for the failover timeline.
	logWrites
	// logEverything: reads too, for an anti-entropy run's windows.
	logEverything
)

// runPhase runs cfg.Concurrency workers from start until they return and
// merges their statistics. Unless mode is logNothing each worker also logs
// its operations (writes only, or all), as offsets from start, for a
// timeline.
func runPhase(ctx context.Context, cfg Config, phase uint64, start time.Time, mode logMode, work func(ctx context.Context, w *worker)) (*Phase, []*worker) {
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = newWorker(cfg, phase, uint64(i))
		if mode != logNothing {
			workers[i].log = &writeLog{origin: start, reads: mode == logEverything}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(ctx, workers[i])
		}()
	}
	wg.Wait()
	return summarize(workers, time.Since(start)), workers
}

// runLoad inserts every record once, the workers taking the next record
// number in turn.
func runLoad(ctx context.Context, cfg Config, tgt target) *Phase {
	return runLoadRange(ctx, cfg, tgt, 1, 0, uint64(cfg.Records))
}

// runLoadRange inserts records from to to-1 once each, as phase.
func runLoadRange(ctx context.Context, cfg Config, tgt target, phase, from, to uint64) *Phase {
	next := atomic.Uint64{}
	next.Store(from)
	p, _ := runPhase(ctx, cfg, phase, time.Now(), logNothing, func(ctx context.Context, w *worker) {
		for !ended(ctx) {
			i := next.Add(1) - 1
			if i >= to {
				return
			}
			w.do(ctx, cfg, tgt, opInsert, keyName(i))
		}
	})
	return p
}

// runWorkload issues the workload's operations until cfg.Duration passes.
func runWorkload(ctx context.Context, cfg Config, tgt target, keys *ScrambledZipfian) *Phase {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	p, _ := runPhase(ctx, cfg, 2, time.Now(), logNothing, workloadLoop(cfg, tgt, keys))
	return p
}

// workloadLoop is a run-phase worker's loop: draw an operation and a key,
// send it, until the phase ends.
func workloadLoop(cfg Config, tgt target, keys *ScrambledZipfian) func(ctx context.Context, w *worker) {
	return func(ctx context.Context, w *worker) {
		for !ended(ctx) {
			kind := cfg.Workload.next(w.rng)
			w.do(ctx, cfg, tgt, kind, keyName(keys.Next(w.rng)))
		}
	}
}
