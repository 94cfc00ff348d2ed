package bench

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// maxFailureSamples is how many failed writes a worker keeps the message
// of: its first ones. The earliest failures of the whole run are among
// them, and they are what the report quotes.
const maxFailureSamples = 10

// writeLog is one worker's record of its writes in a failover run (and of
// its reads too in an anti-entropy run, with reads set). A
// worker appends to its own log with no lock; the logs are merged into a
// timeline after the run. A successful write costs 16 bytes: a few MB for a
// run of minutes.
type writeLog struct {
	// origin is the start of the run phase; times are offsets from it.
	origin time.Time
	// reads: log reads as well as writes.
	reads  bool
	ok     []writeSample
	failed []failedWrite
}

// writeSample is a successful write (or read): when it completed, as an
// offset from the start of the run phase, how long it took, and which
// operation it was, so that an anti-entropy run can report each
// operation's latency in a window.
type writeSample struct {
	end     time.Duration
	latency time.Duration
	op      opKind
}

// failedWrite is a failed write (or read): when it failed, its kind, its
// operation, and for a worker's first maxFailureSamples failures the
// message.
type failedWrite struct {
	at   time.Duration
	kind string
	msg  string
	op   opKind
}

// add records one operation op that started at start and took elapsed.
func (l *writeLog) add(op opKind, start time.Time, elapsed time.Duration, err error) {
	end := start.Sub(l.origin) + elapsed
	if err == nil {
		l.ok = append(l.ok, writeSample{end: end, latency: elapsed, op: op})
		return
	}
	f := failedWrite{at: end, kind: kindOf(err), op: op}
	if len(l.failed) < maxFailureSamples {
		f.msg = err.Error()
	}
	l.failed = append(l.failed, f)
}

// timeline is every write of a run phase, successful ones sorted by
// completion and failed ones by failure time.
type timeline struct {
	ok     []writeSample
	failed []failedWrite
	// end is the length of the run phase.
	end time.Duration
}

// mergeLogs merges the workers' logs of a run phase that lasted end.
func mergeLogs(logs []*writeLog, end time.Duration) *timeline {
	t := &timeline{end: end}
	for _, l := range logs {
		t.ok = append(t.ok, l.ok...)
		t.failed = append(t.failed, l.failed...)
	}
	slices.SortFunc(t.ok, func(a, b writeSample) int { return cmp.Compare(a.end, b.end) })
	slices.SortStableFunc(t.failed, func(a, b failedWrite) int { return cmp.Compare(a.at, b.at) })
	return t
}

// gap is a stretch of a run phase in which no write completed.
type gap struct {
	from, to time.Duration
}

func (g gap) length() time.Duration { return g.to - g.from }

// okIn returns the successful writes that completed in [from, to).
func (t *timeline) okIn(from, to time.Duration) []writeSample {
	lo := sort.Search(len(t.ok), func(i int) bool { return t.ok[i].end >= from })
	hi := sort.Search(len(t.ok), func(i int) bool { return t.ok[i].end >= to })
	return t.ok[lo:max(lo, hi)]
}

// failedIn returns the failed writes that failed in [from, to).
func (t *timeline) failedIn(from, to time.Duration) []failedWrite {
	lo := sort.Search(len(t.failed), func(i int) bool { return t.failed[i].at >= from })
	hi := sort.Search(len(t.failed), func(i int) bool { return t.failed[i].at >= to })
	return t.failed[lo:max(lo, hi)]
}

// longestGap returns the longest stretch of [from, to) in which no write
// completed: between two successive completions, or between from and the
// first completion, or between the last one and to (a cluster that stops
// taking writes altogether shows as a gap that runs to the end). The
// earliest of equally long gaps wins. Stalls anywhere in the cluster show,
// whichever worker was waiting: completions are merged over all workers.
func (t *timeline) longestGap(from, to time.Duration) gap {
	best := gap{from: from, to: from}
	prev := from
	for _, s := range t.okIn(from, to) {
		if s.end-prev > best.length() {
			best = gap{from: prev, to: s.end}
		}
		prev = s.end
	}
	if to-prev > best.length() {
		best = gap{from: prev, to: to}
	}
	return best
}

// windowStats are the writes of one window of a run phase.
type windowStats struct {
	from, to  time.Duration
	writes    int64
	latencies histogram
	failures  map[string]int64 // by kind
	failed    int64
	gap       gap
}

// window gathers the writes that completed, and the ones that failed, in
// [from, to). A write belongs to the window in which it ended, so one that
// stalled across a kill counts where the stall showed.
func (t *timeline) window(from, to time.Duration) windowStats {
	w := windowStats{from: from, to: to, failures: map[string]int64{}, gap: t.longestGap(from, to)}
	for _, s := range t.okIn(from, to) {
		w.latencies.record(s.latency)
	}
	w.writes = int64(w.latencies.total)
	for _, f := range t.failedIn(from, to) {
		w.failures[f.kind]++
		w.failed++
	}
	return w
}

// perSecond is the window's throughput of successful writes.
func (w windowStats) perSecond() float64 {
	if secs := (w.to - w.from).Seconds(); secs > 0 {
		return float64(w.writes) / secs
	}
	return 0
}
