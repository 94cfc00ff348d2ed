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
func Run(ctx context.Context, cfg Config) (*Result, error) {
	proto, addrs, err := cfg.validate()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	keys, err := NewScrambledZipfian(uint64(cfg.Records), ZipfianConstant, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
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

	res := newResult(cfg, proto)
	if cfg.SetLWW {
		if err := tgt.setConflictLWW(ctx); err != nil {
			return nil, fmt.Errorf("bench: setting bucket %q to conflict lww: %w", cfg.Bucket, err)
		}
		res.BucketSetToLWW = true
	}
	if !cfg.SkipLoad {
		progress(cfg, "load: inserting %d records with %d workers", cfg.Records, cfg.Concurrency)
		res.Load = runLoad(ctx, cfg, tgt)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("bench: interrupted while loading: %w", err)
		}
	}
	progress(cfg, "run: workload %s for %v with %d workers", cfg.Workload.Name, cfg.Duration, cfg.Concurrency)
	res.Run = runWorkload(ctx, cfg, tgt, keys)
	if err := ctx.Err(); err != nil {
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

// fillValue draws fresh random bytes, so that no two writes compress alike.
func (w *worker) fillValue() {
	var word [8]byte
	for i := 0; i < len(w.value); i += 8 {
		binary.LittleEndian.PutUint64(word[:], w.rng.Uint64())
		copy(w.value[i:], word[:])
	}
}

// runPhase runs cfg.Concurrency workers until they return and merges
// their statistics.
func runPhase(ctx context.Context, cfg Config, phase uint64, work func(ctx context.Context, w *worker)) *Phase {
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		workers[i] = newWorker(cfg, phase, uint64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(ctx, workers[i])
		}()
	}
	wg.Wait()
	return summarize(workers, time.Since(start))
}

// runLoad inserts every record once, the workers taking the next record
// number in turn.
func runLoad(ctx context.Context, cfg Config, tgt target) *Phase {
	var next atomic.Uint64
	return runPhase(ctx, cfg, 1, func(ctx context.Context, w *worker) {
		for !ended(ctx) {
			i := next.Add(1) - 1
			if i >= uint64(cfg.Records) {
				return
			}
			w.do(ctx, cfg, tgt, opInsert, keyName(i))
		}
	})
}

// runWorkload issues the workload's operations until cfg.Duration passes.
func runWorkload(ctx context.Context, cfg Config, tgt target, keys *ScrambledZipfian) *Phase {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	return runPhase(ctx, cfg, 2, func(ctx context.Context, w *worker) {
		for !ended(ctx) {
			kind := cfg.Workload.next(w.rng)
			w.do(ctx, cfg, tgt, kind, keyName(keys.Next(w.rng)))
		}
	})
}
