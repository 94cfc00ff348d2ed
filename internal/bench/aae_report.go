package bench

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/ring"
)

// aaeSteps returns the steps of an anti-entropy exchange, in order, as
// tutti_aae_bytes_sent_total labels them (digests: the confirmation of
// keys both sides hold differently, in servers that have it).
func aaeSteps() []string {
	return []string{"root", "branches", "leaves", "items", "digests", "fetch", "push"}
}

// objectStep reports whether a step moves objects (fetch, push); the
// others compare trees, key lists and digests: the tree overhead.
func objectStep(step string) bool { return step == "fetch" || step == "push" }

// objectBound is the bound on the objects' bytes: at most this
// many times the size of the missing objects (the tree overhead comes on
// top).
const objectBound = 3

// p99Bound is the bound on the foreground cost of the exchanges:
// the workload's p99 while the replicas converge at most this many times
// its p99 with anti-entropy paused (within 20%).
const p99Bound = 1.2

// AAEReport is what an anti-entropy run measured, as Result.AAE. Times
// ending in _s are seconds; those ending in _after_s are from the restart
// of the stopped node unless their name says otherwise. docs/bench.md
// documents the JSON.
type AAEReport struct {
	Nodes      int `json:"nodes"`
	N          int `json:"n"`
	Partitions int `json:"partitions"`
	// Records is the number of keys in all; MissingFraction the share of
	// them written while StoppedNode was down. Loaded and Missing count
	// the successful writes of each part.
	Records         int     `json:"records"`
	ValueSize       int     `json:"value_size"`
	MissingFraction float64 `json:"missing_fraction"`
	Loaded          int64   `json:"loaded"`
	Missing         int64   `json:"missing"`
	StoppedNode     string  `json:"stopped_node"`
	// IntervalSec is the nodes' anti-entropy interval as they report it;
	// Exchanges says how the exchanges were started: "scheduled" by the
	// servers themselves.
	IntervalSec float64 `json:"aae_interval_s"`
	Exchanges   string  `json:"exchanges"`
	// AAEShare is the servers' --aae-share as the run passed it; 0: their
	// default.
	AAEShare float64 `json:"aae_share,omitempty"`
	// SettleSec is how long the run waited, before the stop, for one poll
	// that found every partition equal on every node.
	SettleSec float64 `json:"settle_s"`
	// StopSignal is how StoppedNode was stopped, once anti-entropy was
	// paused on the other nodes: "SIGTERM" (it saves its trees and loads
	// them at its restart) or "SIGKILL" (--aae-kill: it must rebuild them,
	// at the resume). StopSec is the signal to exit; StopClean says the
	// node exited on its own after SIGTERM (false: it had to be killed,
	// and always false after SIGKILL).
	StopSignal string  `json:"stop_signal"`
	StopSec    float64 `json:"stop_s"`
	StopClean  bool    `json:"stop_clean"`
	// HintsStored is tutti_hints_stored_total over the live nodes during
	// the missing writes: 0 with sloppy quorum off.
	HintsStored int64 `json:"hints_stored"`
	// Before, MissingWrites and Paused are the workload before the stop,
	// the writes of the missing records, and the workload after the
	// restart with anti-entropy paused on every node; PausedAgain the
	// workload with anti-entropy paused on every node again once the
	// after window and the final check were over.
	Before        *Phase     `json:"before,omitempty"`
	MissingWrites *Phase     `json:"missing_writes,omitempty"`
	Paused        *Phase     `json:"paused,omitempty"`
	PausedAgain   *Phase     `json:"paused_again,omitempty"`
	Object        ObjectSize `json:"object"`
	// Spread is where the missing keys are: partitions, branches and
	// segments (tree leaves) holding at least one.
	Spread Spread `json:"spread"`
	// SampleChecked missing keys were looked for on the restarted node as
	// soon as it answered, SampleCheckedAfterSec after the restart (its
	// exchanges may have repaired some by then); it held
	// SampleHeldAtRestart of them.
	SampleChecked         int     `json:"sample_checked"`
	SampleHeldAtRestart   int     `json:"sample_held_at_restart"`
	SampleCheckedAfterSec float64 `json:"sample_checked_after_s"`

	SeenAliveAfterSec float64 `json:"seen_alive_after_s"`
	// ReplicatesAfterSec is when a write with w=all coordinated by each of
	// the other nodes first succeeded: when they could replicate to the
	// restarted node again. The paused window starts then.
	ReplicatesAfterSec float64 `json:"replicates_after_s"`
	// TreesBuiltAtStart is how many trees the restarted node had built in
	// a poll made then, anti-entropy still paused: it builds none while
	// paused, so these are the trees it loaded from disk (all of them
	// after SIGTERM, none after SIGKILL).
	TreesBuiltAtStart int `json:"trees_built_at_start"`
	// ResumedAfterSec is when the run resumed anti-entropy on every node,
	// after the paused window (at once without a workload): the
	// exchanges, the converging window and the ..._after_resume_s times
	// start then.
	ResumedAfterSec float64 `json:"resumed_after_s"`
	// TreeBuildSec is the restarted node's tutti_aae_tree_build_seconds;
	// TreesBuiltAfterSec the first poll after the resume that found all
	// its trees built.
	TreeBuildSec             *float64 `json:"tree_build_s,omitempty"`
	TreesBuiltAfterSec       *float64 `json:"trees_built_after_s,omitempty"`
	TreesBuiltAfterResumeSec *float64 `json:"trees_built_after_resume_s,omitempty"`
	// Converged: every partition was seen with equal roots on every node
	// (each in some poll) ConvergedAfterSec after the restart,
	// ConvergedAfterResumeSec after the resume; the first poll in which
	// all were equal at once came AllEqualAfterSec after the restart,
	// AllEqualAfterResumeSec after the resume.
	Converged               bool     `json:"converged"`
	ConvergedAfterSec       *float64 `json:"converged_after_s,omitempty"`
	ConvergedAfterResumeSec *float64 `json:"converged_after_resume_s,omitempty"`
	AllEqualAfterSec        *float64 `json:"all_equal_after_s,omitempty"`
	AllEqualAfterResumeSec  *float64 `json:"all_equal_after_resume_s,omitempty"`
	// FinalAllEqual: once the workload was over, a poll found every
	// partition equal on every node, FinalAllEqualAfterSec after its end.
	FinalAllEqual         bool     `json:"final_all_equal"`
	FinalAllEqualAfterSec *float64 `json:"final_all_equal_after_s,omitempty"`
	// RepausedAfterSec is when the run paused anti-entropy on every node
	// again, from the restart: after the final check, for the
	// paused-again window (absent without one). PausedAgainStartAfterSec
	// is when that window started, once two reads of every node's
	// counters aaePollInterval apart showed no anti-entropy byte sent
	// between them (an exchange in flight at the pause runs to its end),
	// or a minute after the pause.
	RepausedAfterSec         *float64 `json:"repaused_after_s,omitempty"`
	PausedAgainStartAfterSec *float64 `json:"paused_again_start_after_s,omitempty"`

	Bytes    AAEBytes     `json:"bytes"`
	FullScan FullScan     `json:"full_scan"`
	Workload *AAEWorkload `json:"workload,omitempty"`
	// ClusterDir is where the node logs and data were kept (--keep).
	ClusterDir string `json:"cluster_dir,omitempty"`
}

// ObjectSize is the stored size of the missing objects, measured on a
// sample of them.
type ObjectSize struct {
	// Sampled objects were read back from a live node (GET
	// /v1/debug/local) and encoded again with package object; Encoded*
	// are their encodings' sizes in bytes.
	Sampled     int     `json:"sampled"`
	EncodedMean float64 `json:"encoded_mean"`
	EncodedMin  int     `json:"encoded_min"`
	EncodedMax  int     `json:"encoded_max"`
	// BucketBytes is the bucket name's length; KeyBytesMean the missing
	// keys' mean length.
	BucketBytes  int     `json:"bucket_bytes"`
	KeyBytesMean float64 `json:"key_bytes_mean"`
	// MissingBytes is the size of the missing objects: over every
	// missing key, the encoded object plus its key and bucket.
	MissingBytes int64 `json:"missing_bytes"`
}

// Spread is where the missing keys are in the trees.
type Spread struct {
	Partitions int `json:"partitions"`
	Branches   int `json:"branches"`
	Segments   int `json:"segments"`
}

// AAEBytes is the anti-entropy traffic from the restart to convergence,
// over every node: tutti_aae_bytes_sent_total (requests of a node's own
// exchanges and its replies to its peers', protobuf message sizes) read
// right before the restart and right after the poll that found the
// replicas converged.
type AAEBytes struct {
	ByStep map[string]int64 `json:"by_step"`
	ByNode map[string]int64 `json:"by_node"`
	// TreeOverhead is root, branches, leaves, items (and digests); Objects
	// fetch and push; Total both.
	TreeOverhead int64 `json:"tree_overhead"`
	Objects      int64 `json:"objects"`
	Total        int64 `json:"total"`
	// TotalToEnd is Total counted on to the final poll, after the
	// workload's after window (the paused-again window, if any, comes
	// after it and should send nothing), absent if the metrics could not
	// be read then.
	TotalToEnd int64 `json:"total_to_end,omitempty"`
	// Ratios to Object.MissingBytes.
	TotalRatio   float64 `json:"total_ratio"`
	ObjectsRatio float64 `json:"objects_ratio"`
	// PerMissingKey divides by the missing keys.
	TotalPerMissingKey    float64 `json:"total_per_missing_key"`
	OverheadPerMissingKey float64 `json:"overhead_per_missing_key"`
	// BoundMet: Objects <= 3 x MissingBytes, that is Total <= 3 x
	// MissingBytes + TreeOverhead.
	BoundMet bool `json:"bound_met"`
	// KeysRepaired is tutti_aae_keys_repaired_total by direction, and
	// ExchangesByOutcome tutti_aae_exchanges_total by outcome, over the
	// same span; ReadRepairs tutti_read_repairs_total from the resume to
	// convergence (the converging window: the paused one has its own).
	KeysRepaired       map[string]int64 `json:"keys_repaired"`
	ExchangesByOutcome map[string]int64 `json:"exchanges_by_outcome"`
	ReadRepairs        int64            `json:"read_repairs"`
}

// FullScan is what repairing the stopped node would send without trees,
// computed from the records and the measured object size with the
// exchange's own message types (items and objects as the protocol frames
// them; the envelopes of the messages that carry them are left out).
type FullScan struct {
	// KeyListBytes: one replica lists (bucket, key, digest) of every key
	// of every partition to the other, the key-list exchange without
	// trees; the differing objects come on top.
	KeyListBytes int64 `json:"key_list_bytes"`
	// StreamBytes: one replica streams every object of every partition
	// to the other, what a range repair that streams whole ranges sends.
	StreamBytes int64 `json:"stream_bytes"`
	// Ratios of each to this run's AAEBytes.Total.
	KeyListRatio float64 `json:"key_list_ratio"`
	StreamRatio  float64 `json:"stream_ratio"`
}

// AAEWorkload is the concurrent workload's throughput and latency, in
// five windows of one run: with every node up before the stop (before);
// after the restart with anti-entropy paused on every node (paused: same
// data, same restarted node, no anti-entropy); from the resume until the
// replicas were seen converged (converging); from then on for at least
// the workload's duration (after); and, once that and the final check
// were over, with anti-entropy paused on every node again (paused
// again). The two paused windows bracket the converging and after ones,
// and pooled they are the baseline (Baseline), so that the machine's
// drift over the run does not pass for the cost of anti-entropy.
type AAEWorkload struct {
	Before      *WorkloadWindow `json:"before"`
	Paused      *WorkloadWindow `json:"paused,omitempty"`
	Converging  *WorkloadWindow `json:"converging,omitempty"`
	After       *WorkloadWindow `json:"after,omitempty"`
	PausedAgain *WorkloadWindow `json:"paused_again,omitempty"`
	// Baseline is the paused windows pooled (BaselineWindows names them:
	// both, or only the first if the run ended before the second): every
	// operation of each, its p99 from their merged latencies and its
	// ops/s their operations over their seconds together; from_s is 0
	// and to_s those seconds.
	Baseline        *WorkloadWindow `json:"baseline,omitempty"`
	BaselineWindows []string        `json:"baseline_windows,omitempty"`
	// ThroughputRatioBaseline and P99RatioBaseline are the converging
	// window's ops/s and p99 divided by the baseline's: the foreground
	// cost of the exchanges. P99BoundMet says the converging p99 was
	// within 20% of the baseline's (ratio <= 1.2). OpRatiosBaseline are
	// the same ratios operation by operation.
	ThroughputRatioBaseline *float64           `json:"throughput_ratio_baseline,omitempty"`
	P99RatioBaseline        *float64           `json:"p99_ratio_baseline,omitempty"`
	P99BoundMet             *bool              `json:"p99_bound_met,omitempty"`
	OpRatiosBaseline        map[string]OpRatio `json:"op_ratios_baseline,omitempty"`
	// ThroughputRatioPaused, P99RatioPaused and OpRatiosPaused are the
	// converging window against the paused window alone;
	// ...PausedAgain against the paused-again window alone.
	ThroughputRatioPaused      *float64           `json:"throughput_ratio_paused,omitempty"`
	P99RatioPaused             *float64           `json:"p99_ratio_paused,omitempty"`
	OpRatiosPaused             map[string]OpRatio `json:"op_ratios_paused,omitempty"`
	ThroughputRatioPausedAgain *float64           `json:"throughput_ratio_paused_again,omitempty"`
	P99RatioPausedAgain        *float64           `json:"p99_ratio_paused_again,omitempty"`
	OpRatiosPausedAgain        map[string]OpRatio `json:"op_ratios_paused_again,omitempty"`
	// AfterThroughputRatioBaseline, AfterP99RatioBaseline and
	// AfterOpRatiosBaseline are the after window against the baseline:
	// the cost of anti-entropy running with nothing to repair.
	AfterThroughputRatioBaseline *float64           `json:"after_throughput_ratio_baseline,omitempty"`
	AfterP99RatioBaseline        *float64           `json:"after_p99_ratio_baseline,omitempty"`
	AfterOpRatiosBaseline        map[string]OpRatio `json:"after_op_ratios_baseline,omitempty"`
	// DriftThroughputRatio, DriftP99Ratio and DriftOpRatios are the
	// paused-again window against the paused one: the same conditions,
	// no anti-entropy, at the end of the run and at its start; a ratio
	// far from 1 is the machine's drift.
	DriftThroughputRatio *float64           `json:"drift_throughput_ratio,omitempty"`
	DriftP99Ratio        *float64           `json:"drift_p99_ratio,omitempty"`
	DriftOpRatios        map[string]OpRatio `json:"drift_op_ratios,omitempty"`
	// ThroughputRatio and P99Ratio are the converging window's ops/s and
	// p99 divided by the before window's; ...After by the after window's;
	// OpRatios and OpRatiosAfter the same operation by operation.
	ThroughputRatio      *float64           `json:"throughput_ratio,omitempty"`
	P99Ratio             *float64           `json:"p99_ratio,omitempty"`
	ThroughputRatioAfter *float64           `json:"throughput_ratio_after,omitempty"`
	P99RatioAfter        *float64           `json:"p99_ratio_after,omitempty"`
	OpRatios             map[string]OpRatio `json:"op_ratios,omitempty"`
	OpRatiosAfter        map[string]OpRatio `json:"op_ratios_after,omitempty"`
	// BeforeAAEBytes and AfterAAEBytes are the anti-entropy traffic by
	// step during the before window and from convergence to the final
	// poll: the scheduled exchanges of replicas that miss nothing,
	// under the workload's writes. BeforeReadRepairs and AfterReadRepairs
	// are tutti_read_repairs_total over the same spans (the converging
	// window's are in AAEBytes.ReadRepairs).
	BeforeAAEBytes    map[string]int64 `json:"before_aae_bytes"`
	AfterAAEBytes     map[string]int64 `json:"after_aae_bytes,omitempty"`
	BeforeReadRepairs int64            `json:"before_read_repairs"`
	AfterReadRepairs  int64            `json:"after_read_repairs"`
	// PausedAAEBytes and PausedReadRepairs are the same over the paused
	// window, every node's counters read right before and after it;
	// PausedQuiet says no anti-entropy byte moved, as none should with
	// every node paused (false: the baseline is not one without
	// anti-entropy).
	PausedAAEBytes    map[string]int64 `json:"paused_aae_bytes,omitempty"`
	PausedReadRepairs int64            `json:"paused_read_repairs"`
	PausedQuiet       bool             `json:"paused_quiet"`
	// PausedAgainAAEBytes, PausedAgainReadRepairs and PausedAgainQuiet are
	// the same over the paused-again window (absent without one).
	PausedAgainAAEBytes    map[string]int64 `json:"paused_again_aae_bytes,omitempty"`
	PausedAgainReadRepairs *int64           `json:"paused_again_read_repairs,omitempty"`
	PausedAgainQuiet       *bool            `json:"paused_again_quiet,omitempty"`
}

// OpRatio is one operation's ops/s and p99 in one window divided by its
// ops/s and p99 in another.
type OpRatio struct {
	ThroughputRatio float64 `json:"throughput_ratio"`
	P99Ratio        float64 `json:"p99_ratio"`
}

// WorkloadWindow is every operation (reads and updates together) that
// completed in a stretch of a workload, and each operation's share.
// Times are seconds from the start of the workload.
type WorkloadWindow struct {
	Name       string               `json:"name"`
	FromSec    float64              `json:"from_s"`
	ToSec      float64              `json:"to_s"`
	Ops        int64                `json:"ops"`
	OpsPerSec  float64              `json:"ops_per_sec"`
	Errors     int64                `json:"errors"`
	Latency    Latency              `json:"latency_ms"`
	Operations map[string]*WindowOp `json:"operations,omitempty"`
	// lat holds the latencies Latency summarizes, so that windows can be
	// pooled (poolWindows); only windowOf and poolWindows fill it.
	lat histogram
}

// WindowOp is one operation's share of a workload window: "read" or
// "update".
type WindowOp struct {
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Errors    int64   `json:"errors"`
	Latency   Latency `json:"latency_ms"`
	// lat is as WorkloadWindow's.
	lat histogram
}

// windowOf summarizes the operations of t that ended in [from, to), all
// together and operation by operation.
func windowOf(name string, t *timeline, from, to time.Duration) *WorkloadWindow {
	w := t.window(from, to)
	return &WorkloadWindow{
		Name: name, FromSec: from.Seconds(), ToSec: to.Seconds(),
		Ops: w.writes, OpsPerSec: w.perSecond(), Errors: w.failed, Latency: latencyOf(&w.latencies),
		Operations: opsOf(t, from, to), lat: w.latencies,
	}
}

// poolWindows pools windows into one, named name: every operation of
// each, as if they had run back to back. Its ops/s is their operations
// over their seconds together (not the mean of their rates), its
// latencies come from their latencies merged (not from their percentiles
// averaged), its errors are their sum, and so operation by operation;
// from_s is 0 and to_s their seconds together. It returns nil if there
// is no window, or if one is nil or lacks its latencies (a window not
// made by windowOf or poolWindows).
func poolWindows(name string, windows ...*WorkloadWindow) *WorkloadWindow {
	if len(windows) == 0 {
		return nil
	}
	p := &WorkloadWindow{Name: name, Operations: map[string]*WindowOp{}}
	var secs float64
	for _, w := range windows {
		if w == nil || uint64(w.Ops) != w.lat.total {
			return nil
		}
		secs += w.ToSec - w.FromSec
		p.Ops += w.Ops
		p.Errors += w.Errors
		p.lat.merge(&w.lat)
		for opName, op := range w.Operations {
			if uint64(op.Ops) != op.lat.total {
				return nil
			}
			po := p.Operations[opName]
			if po == nil {
				po = &WindowOp{}
				p.Operations[opName] = po
			}
			po.Ops += op.Ops
			po.Errors += op.Errors
			po.lat.merge(&op.lat)
		}
	}
	p.ToSec = secs
	p.Latency = latencyOf(&p.lat)
	if secs > 0 {
		p.OpsPerSec = float64(p.Ops) / secs
	}
	for _, po := range p.Operations {
		po.Latency = latencyOf(&po.lat)
		if secs > 0 {
			po.OpsPerSec = float64(po.Ops) / secs
		}
	}
	return p
}

// opsOf splits the operations of t that ended in [from, to) by
// operation; an operation with neither success nor failure there is
// absent.
func opsOf(t *timeline, from, to time.Duration) map[string]*WindowOp {
	var lat [numOpKinds]histogram
	var failed [numOpKinds]int64
	for _, s := range t.okIn(from, to) {
		lat[s.op].record(s.latency)
	}
	for _, f := range t.failedIn(from, to) {
		failed[f.op]++
	}
	ops := map[string]*WindowOp{}
	for k := range numOpKinds {
		n := int64(lat[k].total)
		if n == 0 && failed[k] == 0 {
			continue
		}
		op := &WindowOp{Ops: n, Errors: failed[k], Latency: latencyOf(&lat[k]), lat: lat[k]}
		if secs := (to - from).Seconds(); secs > 0 {
			op.OpsPerSec = float64(n) / secs
		}
		ops[k.String()] = op
	}
	return ops
}

// setPaused records the paused window and every node's counters' deltas
// over it.
func (w *AAEWorkload) setPaused(win *WorkloadWindow, delta aaeCounters) {
	w.Paused = win
	w.PausedAAEBytes = intMap(delta.Bytes)
	w.PausedReadRepairs = int64(math.Round(delta.ReadRepairs))
	w.PausedQuiet = sumInts(w.PausedAAEBytes) == 0
	w.compare()
}

// setPausedAgain records the paused-again window and every node's
// counters' deltas over it, and compares the windows again with the
// baseline now both paused windows.
func (w *AAEWorkload) setPausedAgain(win *WorkloadWindow, delta aaeCounters) {
	w.PausedAgain = win
	w.PausedAgainAAEBytes = intMap(delta.Bytes)
	rr := int64(math.Round(delta.ReadRepairs))
	quiet := sumInts(w.PausedAgainAAEBytes) == 0
	w.PausedAgainReadRepairs, w.PausedAgainQuiet = &rr, &quiet
	w.compare()
}

// setConverging cuts the workload that ran from wl after the restart (the
// resume) into the converging and after windows, and compares them with
// the others.
func (w *AAEWorkload) setConverging(t *timeline, wl time.Duration, ev aaeEvents) {
	cut := t.end
	if ev.conv != nil && ev.conv.converged() {
		cut = min(max(ev.conv.at-wl, 0), t.end)
	}
	w.Converging = windowOf("converging", t, 0, cut)
	w.After = nil
	if cut < t.end {
		w.After = windowOf("after", t, cut, t.end)
	}
	w.compare()
}

// compare pools the paused windows there are into the baseline and
// computes every ratio from the windows there are (a ratio whose windows
// are missing, or have no operation, is nil): the converging window
// against the baseline (and the bound on its p99), each paused window,
// the before window and the after window; the after window against the
// baseline; and the paused-again window against the paused one.
func (w *AAEWorkload) compare() {
	w.Baseline, w.BaselineWindows = nil, nil
	var pooled []*WorkloadWindow
	var names []string
	for _, p := range []*WorkloadWindow{w.Paused, w.PausedAgain} {
		if p != nil {
			pooled, names = append(pooled, p), append(names, p.Name)
		}
	}
	if w.Baseline = poolWindows("baseline", pooled...); w.Baseline != nil {
		w.BaselineWindows = names
	}
	w.ThroughputRatioBaseline, w.P99RatioBaseline = compareWindows(w.Converging, w.Baseline)
	w.OpRatiosBaseline = compareOps(w.Converging, w.Baseline)
	w.P99BoundMet = nil
	if w.P99RatioBaseline != nil {
		met := *w.P99RatioBaseline <= p99Bound
		w.P99BoundMet = &met
	}
	w.ThroughputRatioPaused, w.P99RatioPaused = compareWindows(w.Converging, w.Paused)
	w.OpRatiosPaused = compareOps(w.Converging, w.Paused)
	w.ThroughputRatioPausedAgain, w.P99RatioPausedAgain = compareWindows(w.Converging, w.PausedAgain)
	w.OpRatiosPausedAgain = compareOps(w.Converging, w.PausedAgain)
	w.ThroughputRatio, w.P99Ratio = compareWindows(w.Converging, w.Before)
	w.OpRatios = compareOps(w.Converging, w.Before)
	w.ThroughputRatioAfter, w.P99RatioAfter = compareWindows(w.Converging, w.After)
	w.OpRatiosAfter = compareOps(w.Converging, w.After)
	w.AfterThroughputRatioBaseline, w.AfterP99RatioBaseline = compareWindows(w.After, w.Baseline)
	w.AfterOpRatiosBaseline = compareOps(w.After, w.Baseline)
	w.DriftThroughputRatio, w.DriftP99Ratio = compareWindows(w.PausedAgain, w.Paused)
	w.DriftOpRatios = compareOps(w.PausedAgain, w.Paused)
}

// compareWindows returns w's ops/s and p99 divided by base's, or nils if
// either has no operation (or base no throughput or latency to divide
// by: JSON has no infinity).
func compareWindows(w, base *WorkloadWindow) (tput, p99 *float64) {
	if w == nil || base == nil || w.Ops == 0 || base.Ops == 0 || base.OpsPerSec <= 0 || base.Latency.P99 <= 0 {
		return nil, nil
	}
	t, p := w.OpsPerSec/base.OpsPerSec, w.Latency.P99/base.Latency.P99
	return &t, &p
}

// compareOps compares w with base operation by operation, for each
// operation both completed at least once; nil if there is none.
func compareOps(w, base *WorkloadWindow) map[string]OpRatio {
	if w == nil || base == nil {
		return nil
	}
	out := map[string]OpRatio{}
	for name, op := range w.Operations {
		b := base.Operations[name]
		if b == nil || op.Ops == 0 || b.Ops == 0 || b.OpsPerSec <= 0 || b.Latency.P99 <= 0 {
			continue
		}
		out[name] = OpRatio{ThroughputRatio: op.OpsPerSec / b.OpsPerSec, P99Ratio: op.Latency.P99 / b.Latency.P99}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// setConvergence records what the watch saw, from the restart and from
// the resume.
func (r *AAEReport) setConvergence(ev aaeEvents) {
	if ev.treesSeen {
		r.TreesBuiltAfterSec = seconds(ev.treesBuilt)
		r.TreesBuiltAfterResumeSec = seconds(ev.treesBuilt - ev.resumed)
	}
	if ev.buildSeconds > 0 {
		b := ev.buildSeconds
		r.TreeBuildSec = &b
	}
	if c := ev.conv; c != nil {
		if c.converged() {
			r.Converged = true
			r.ConvergedAfterSec = seconds(c.at)
			r.ConvergedAfterResumeSec = seconds(c.at - ev.resumed)
		}
		if c.allEqualSeen {
			r.AllEqualAfterSec = seconds(c.allEqualAt)
			r.AllEqualAfterResumeSec = seconds(c.allEqualAt - ev.resumed)
		}
	}
}

// setBytes computes the traffic figures from the counters' deltas summed
// over the nodes (delta), each node's own counters at convergence and
// before the restart, and the missing records [from, to).
func (r *AAEReport) setBytes(delta aaeCounters, after, before []aaeCounters, ids []string, bucket string, from, to uint64) {
	r.Bytes = aaeBytesOf(delta, r.Object.MissingBytes, to-from)
	r.Bytes.ByNode = map[string]int64{}
	for i := range after {
		var b aaeCounters
		if i < len(before) {
			b = before[i]
		}
		r.Bytes.ByNode[ids[i]] = int64(math.Round(sumValues(after[i].sub(b).Bytes)))
	}
	r.FullScan = fullScanOf(bucket, uint64(r.Records), r.Partitions, int(math.Round(r.Object.EncodedMean)), r.Bytes.Total)
}

// aaeBytesOf computes the traffic figures from the counters' deltas, the
// size of the missing objects and their number.
func aaeBytesOf(delta aaeCounters, missingBytes int64, missingKeys uint64) AAEBytes {
	b := AAEBytes{ByStep: map[string]int64{}, KeysRepaired: intMap(delta.Repaired), ExchangesByOutcome: intMap(delta.Exchanges), ReadRepairs: int64(math.Round(delta.ReadRepairs))}
	for _, step := range aaeSteps() {
		b.ByStep[step] = 0
	}
	for step, v := range delta.Bytes {
		n := int64(math.Round(v))
		b.ByStep[step] = n
		if objectStep(step) {
			b.Objects += n
		} else {
			b.TreeOverhead += n
		}
	}
	b.Total = b.TreeOverhead + b.Objects
	if missingBytes > 0 {
		b.TotalRatio = float64(b.Total) / float64(missingBytes)
		b.ObjectsRatio = float64(b.Objects) / float64(missingBytes)
	}
	if missingKeys > 0 {
		b.TotalPerMissingKey = float64(b.Total) / float64(missingKeys)
		b.OverheadPerMissingKey = float64(b.TreeOverhead) / float64(missingKeys)
	}
	b.BoundMet = b.Objects <= objectBound*missingBytes
	return b
}

// placeKey returns the partition and segment of a key on a ring of q
// partitions (package ring's placement: the hash's top log2(q) bits, then
// the segment's).
func placeKey(bucket, key string, q int) (partition, segment int) {
	h := ring.KeyHash([]byte(bucket), []byte(key))
	b := bits.Len(uint(q)) - 1
	if b > 0 {
		partition = int(h >> (64 - b))
	}
	segment = int(h>>(64-b-10)) & (ring.Segments - 1)
	return partition, segment
}

// branchWidth is the number of leaves under one branch of a tree (package
// aae's BranchWidth).
const branchWidth = 32

// spreadOf counts the partitions, branches and segments that hold at
// least one of the records [from, to).
func spreadOf(bucket string, from, to uint64, q int) Spread {
	type seg struct{ p, s int }
	parts, branches, segs := map[int]bool{}, map[seg]bool{}, map[seg]bool{}
	for i := from; i < to; i++ {
		p, s := placeKey(bucket, keyName(i), q)
		parts[p] = true
		branches[seg{p, s / branchWidth}] = true
		segs[seg{p, s}] = true
	}
	return Spread{Partitions: len(parts), Branches: len(branches), Segments: len(segs)}
}

// itemWireSize is what one (bucket, key, digest) item adds to an items
// reply; objectWireSize what one object of encoded bytes adds to a fetch
// reply or a push.
func itemWireSize(bucket, key string, segment int) int {
	return proto.Size(&tuttipb.AAEReply{Items: []*tuttipb.AAEItem{{
		Segment: uint32(segment), Bucket: []byte(bucket), Key: []byte(key), Digest: make([]byte, 16),
	}}})
}

func objectWireSize(bucket, key string, segment, encoded int) int {
	return proto.Size(&tuttipb.AAEReply{Objects: []*tuttipb.AAEObject{{
		Segment: uint32(segment), Bucket: []byte(bucket), Key: []byte(key), Object: make([]byte, encoded),
	}}})
}

// fullScanOf computes what a repair without trees would send for records
// user0 to user<records-1> of encoded bytes each on q partitions, and
// compares it with total.
func fullScanOf(bucket string, records uint64, q, encoded int, total int64) FullScan {
	var f FullScan
	for i := range records {
		key := keyName(i)
		_, s := placeKey(bucket, key, q)
		f.KeyListBytes += int64(itemWireSize(bucket, key, s))
		f.StreamBytes += int64(objectWireSize(bucket, key, s, encoded))
	}
	if total > 0 {
		f.KeyListRatio = float64(f.KeyListBytes) / float64(total)
		f.StreamRatio = float64(f.StreamBytes) / float64(total)
	}
	return f
}

// newObjectSize summarizes the sampled encodings (0 for a key the node did
// not hold, left out) and sizes the missing records [from, to) with their
// mean.
func newObjectSize(sizes []int, bucket string, from, to uint64) ObjectSize {
	o := ObjectSize{BucketBytes: len(bucket)}
	sum := 0
	for _, s := range sizes {
		if s <= 0 {
			continue
		}
		if o.Sampled == 0 || s < o.EncodedMin {
			o.EncodedMin = s
		}
		o.EncodedMax = max(o.EncodedMax, s)
		o.Sampled++
		sum += s
	}
	if o.Sampled > 0 {
		o.EncodedMean = float64(sum) / float64(o.Sampled)
	}
	var keyBytes int64
	for i := from; i < to; i++ {
		keyBytes += int64(len(keyName(i)))
	}
	if n := to - from; n > 0 {
		o.KeyBytesMean = float64(keyBytes) / float64(n)
		o.MissingBytes = int64(math.Round(o.EncodedMean*float64(n))) + int64(n)*int64(len(bucket)) + keyBytes
	}
	return o
}

// localCopy is a node's GET /v1/debug/local answer.
type localCopy struct {
	Node string       `json:"node"`
	Copy *localObject `json:"copy"`
}

type localObject struct {
	Context  string         `json:"context"`
	Versions []localVersion `json:"versions"`
}

type localVersion struct {
	Dot          string    `json:"dot"`
	Value        []byte    `json:"value"`
	ContentType  string    `json:"content_type"`
	LastModified time.Time `json:"last_modified"`
	Deleted      bool      `json:"deleted"`
	WriteID      string    `json:"write_id"`
}

// encodedSize returns the size of the stored encoding of the object that
// GET /v1/debug/local shows, encoded again with package object. The
// answer lacks two things of the stored object: its version vector,
// taken as the versions' dots (exact for a key written once, which the
// missing keys are), and each version's logical clock, taken as 0 (one
// byte, as any logical clock below 128 takes).
func encodedSize(o *localObject) (int, error) {
	var set dvv.Set[object.Content]
	for _, v := range o.Versions {
		d, err := parseDot(v.Dot)
		if err != nil {
			return 0, err
		}
		set.Entries = append(set.Entries, object.Entry{Dot: d, Value: object.Content{
			Value: v.Value, ContentType: v.ContentType, Deleted: v.Deleted, WriteID: v.WriteID,
			Modified: hlc.Timestamp{Wall: v.LastModified.UnixNano()},
		}})
		set.Context = set.Context.Add(d)
	}
	slices.SortFunc(set.Entries, func(a, b object.Entry) int { return a.Dot.Compare(b.Dot) })
	if len(set.Entries) == 0 {
		return 0, fmt.Errorf("no version")
	}
	return len(object.Encode(&object.Object{Set: set})), nil
}

// parseDot parses "actor:counter", the actor in hexadecimal.
func parseDot(s string) (dvv.Dot, error) {
	actor, counter, ok := strings.Cut(s, ":")
	if !ok {
		return dvv.Dot{}, fmt.Errorf("dot %q: want actor:counter", s)
	}
	a, err := strconv.ParseUint(actor, 16, 64)
	if err != nil {
		return dvv.Dot{}, fmt.Errorf("dot %q: actor is not 1 to 16 hex digits", s)
	}
	c, err := strconv.ParseUint(counter, 10, 64)
	if err != nil || c == 0 {
		return dvv.Dot{}, fmt.Errorf("dot %q: counter is not a positive integer", s)
	}
	return dvv.Dot{Actor: a, Counter: c}, nil
}

// rootComparison is one poll of every node's roots.
type rootComparison struct {
	// equal: every node has the partition's tree built, with one root;
	// differ: built everywhere, roots differ; unbuilt: some node has no
	// root for it yet (or does not list it).
	equal, differ, unbuilt []int
}

func (c rootComparison) allEqual() bool {
	return len(c.equal) > 0 && len(c.differ) == 0 && len(c.unbuilt) == 0
}

// compareRoots compares the nodes' roots partition by partition.
func compareRoots(sts []aaeStatus) rootComparison {
	roots := map[int][]string{}
	for i, st := range sts {
		for _, p := range st.Partitions {
			if roots[p.Partition] == nil {
				roots[p.Partition] = make([]string, len(sts))
			}
			roots[p.Partition][i] = p.Root
		}
	}
	var c rootComparison
	for _, p := range slices.Sorted(mapKeys(roots)) {
		rs := roots[p]
		switch {
		case slices.Contains(rs, ""):
			c.unbuilt = append(c.unbuilt, p)
		case slices.ContainsFunc(rs, func(r string) bool { return r != rs[0] }):
			c.differ = append(c.differ, p)
		default:
			c.equal = append(c.equal, p)
		}
	}
	return c
}

func mapKeys[V any](m map[int]V) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// convergence follows the polls after the restart: when each partition
// was first seen equal on every node, and when all had been.
type convergence struct {
	firstEqual map[int]time.Duration
	partitions int
	done       bool
	at         time.Duration
	// allEqualAt is the first poll in which every partition was equal at
	// once.
	allEqualSeen bool
	allEqualAt   time.Duration
}

func newConvergence() *convergence { return &convergence{firstEqual: map[int]time.Duration{}} }

func (c *convergence) converged() bool { return c.done }

// observe takes one poll made at now. A partition seen equal once counts
// as repaired: the workload writes only keys every node holds, so its
// writes in flight can make equal roots differ for a moment but never
// make a replica that misses a key look equal.
func (c *convergence) observe(now time.Duration, sts []aaeStatus) {
	cmp := compareRoots(sts)
	c.partitions = max(c.partitions, len(cmp.equal)+len(cmp.differ)+len(cmp.unbuilt))
	for _, p := range cmp.equal {
		if _, ok := c.firstEqual[p]; !ok {
			c.firstEqual[p] = now
		}
	}
	if cmp.allEqual() && !c.allEqualSeen {
		c.allEqualSeen, c.allEqualAt = true, now
	}
	if !c.done && c.partitions > 0 && len(c.firstEqual) == c.partitions {
		c.done, c.at = true, now
	}
}

// writeText writes the report for people.
func (r *AAEReport) writeText(b *strings.Builder) error {
	r.writeHead(b)
	r.writeTimes(b)
	if err := r.writeBytes(b); err != nil {
		return err
	}
	if w := r.Workload; w != nil {
		if err := w.writeText(b, r.Bytes.ReadRepairs); err != nil {
			return err
		}
	}
	if r.ClusterDir != "" {
		fmt.Fprintf(b, "node logs and data kept in %s\n", r.ClusterDir)
	}
	return nil
}

// writeHead writes the settings, the stop and the missing objects.
func (r *AAEReport) writeHead(b *strings.Builder) {
	interval := "their default"
	if r.IntervalSec > 0 {
		interval = (time.Duration(r.IntervalSec * float64(time.Second))).String()
	}
	share := "their default"
	if r.AAEShare > 0 {
		share = strconv.FormatFloat(r.AAEShare, 'g', -1, 64)
	}
	fmt.Fprintf(b, "anti-entropy: %d nodes (N=%d, Q=%d); %d records of %d bytes; anti-entropy paused on the others, then %s stopped (%s) and %d records (%.4g%%) written while it was down, sloppy quorum off (%d hints stored)\n",
		r.Nodes, r.N, r.Partitions, r.Records, r.ValueSize, r.StoppedNode, r.stopText(), r.Missing, 100*r.MissingFraction, r.HintsStored)
	fmt.Fprintf(b, "  missing keys in %d partitions, %d branches, %d segments; exchanges %s by the servers (anti-entropy interval %s, share %s)\n",
		r.Spread.Partitions, r.Spread.Branches, r.Spread.Segments, r.Exchanges, interval, share)
	o := r.Object
	fmt.Fprintf(b, "  missing objects: %d bytes = %d keys x (encoded object %.1f B, mean of %d sampled, %d-%d; + bucket %d B + key %.2f B)\n",
		o.MissingBytes, r.Missing, o.EncodedMean, o.Sampled, o.EncodedMin, o.EncodedMax, o.BucketBytes, o.KeyBytesMean)
}

// stopText says how the node was stopped.
func (r *AAEReport) stopText() string {
	if r.StopSignal == "SIGKILL" {
		return fmt.Sprintf("SIGKILL, %.3f s: no trees saved", r.StopSec)
	}
	return fmt.Sprintf("%s, clean: %v, %.3f s", cmp.Or(r.StopSignal, "SIGTERM"), r.StopClean, r.StopSec)
}

// writeTimes writes the restart, the resume, the trees and the
// convergence, saying for each time whether it is from the restart or
// from the resume.
func (r *AAEReport) writeTimes(b *strings.Builder) {
	fmt.Fprintf(b, "  restart: %s restarted with anti-entropy paused; it held %d of %d sampled missing keys %.3f s after it; every node saw it alive %.3f s after it, and could replicate to it %.3f s after it; trees it loaded at its start: %d of %d\n",
		r.StoppedNode, r.SampleHeldAtRestart, r.SampleChecked, r.SampleCheckedAfterSec, r.SeenAliveAfterSec, r.ReplicatesAfterSec, r.TreesBuiltAtStart, r.Partitions)
	fmt.Fprintf(b, "  resume: anti-entropy resumed on every node %.3f s after the restart", r.ResumedAfterSec)
	if r.Workload != nil && r.Workload.Paused != nil {
		b.WriteString(", after the paused window")
	}
	b.WriteString("; times below are from the restart, and from the resume\n")
	r.writeTrees(b)
	if r.Converged && r.ConvergedAfterSec != nil {
		fmt.Fprintf(b, "  converged: every partition seen with equal roots on every node %s", afterBoth(r.ConvergedAfterSec, r.ConvergedAfterResumeSec))
		if r.AllEqualAfterSec != nil {
			fmt.Fprintf(b, " (all in one poll: %s)", afterBoth(r.AllEqualAfterSec, r.AllEqualAfterResumeSec))
		}
		b.WriteString("\n")
	} else {
		b.WriteString("  NOT converged when the run gave up\n")
	}
	if r.FinalAllEqual {
		fmt.Fprintf(b, "  after the workload: every partition equal on every node in one poll, %.3f s after its end\n", *r.FinalAllEqualAfterSec)
	} else {
		b.WriteString("  after the workload: NOT every partition equal in one poll\n")
	}
	if r.RepausedAfterSec != nil {
		fmt.Fprintf(b, "  paused again: anti-entropy paused on every node again %.3f s after the restart", *r.RepausedAfterSec)
		if r.PausedAgainStartAfterSec != nil {
			fmt.Fprintf(b, "; the paused-again window started %.3f s after the restart, once no anti-entropy byte moved", *r.PausedAgainStartAfterSec)
		}
		b.WriteString("\n")
	}
}

// writeTrees writes how the restarted node got its trees: loaded at its
// start (then the first poll after the resume finds them built, which
// says nothing of a build), or built.
func (r *AAEReport) writeTrees(b *strings.Builder) {
	b.WriteString("  trees: ")
	if r.Partitions > 0 && r.TreesBuiltAtStart == r.Partitions && r.TreeBuildSec == nil {
		fmt.Fprintf(b, "all %d loaded at its start, none built\n", r.Partitions)
		return
	}
	if r.TreeBuildSec != nil {
		fmt.Fprintf(b, "built in %.3f s (tutti_aae_tree_build_seconds)", *r.TreeBuildSec)
	} else {
		b.WriteString("build time not seen")
	}
	if r.TreesBuiltAfterSec != nil {
		fmt.Fprintf(b, ", seen built %s", afterBoth(r.TreesBuiltAfterSec, r.TreesBuiltAfterResumeSec))
	}
	b.WriteString("\n")
}

// writeBytes writes the anti-entropy traffic against the missing objects
// and against a repair without trees.
func (r *AAEReport) writeBytes(b *strings.Builder) error {
	by := r.Bytes
	b.WriteString("  anti-entropy bytes sent, every node, restart to convergence:\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "    step\tbytes\tper missing key\t")
	perKey := func(n int64) string {
		if r.Missing == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", float64(n)/float64(r.Missing))
	}
	for _, step := range aaeSteps() {
		fmt.Fprintf(tw, "    %s\t%d\t%s\t\n", step, by.ByStep[step], perKey(by.ByStep[step]))
	}
	fmt.Fprintf(tw, "    tree overhead\t%d\t%s\t\n", by.TreeOverhead, perKey(by.TreeOverhead))
	fmt.Fprintf(tw, "    objects\t%d\t%s\t\n", by.Objects, perKey(by.Objects))
	fmt.Fprintf(tw, "    total\t%d\t%s\t\n", by.Total, perKey(by.Total))
	if err := tw.Flush(); err != nil {
		return err
	}
	var nodes []string
	for _, id := range sortedKeys(by.ByNode) {
		nodes = append(nodes, fmt.Sprintf("%s %d", id, by.ByNode[id]))
	}
	fmt.Fprintf(b, "  by node: %s; on to the final check: %d\n", strings.Join(nodes, ", "), by.TotalToEnd)
	fmt.Fprintf(b, "  against the missing objects: total %.2fx, objects %.2fx; bound (objects <= %dx the missing objects, tree overhead on top): %s\n",
		by.TotalRatio, by.ObjectsRatio, objectBound, verdict(by.BoundMet))
	fmt.Fprintf(b, "  keys repaired: %s; exchanges: %s; read repairs: %d\n", joinCounts(by.KeysRepaired), joinCounts(by.ExchangesByOutcome), by.ReadRepairs)
	f := r.FullScan
	fmt.Fprintf(b, "  without trees: key list of every key %d bytes (%.1fx this run), streaming every object %d bytes (%.1fx)\n",
		f.KeyListBytes, f.KeyListRatio, f.StreamBytes, f.StreamRatio)
	return nil
}

// afterBoth says a time from the restart and, if known, from the resume.
func afterBoth(restart, resume *float64) string {
	s := fmt.Sprintf("%.3f s after the restart", *restart)
	if resume != nil {
		s += fmt.Sprintf(", %.3f s after the resume", *resume)
	}
	return s
}

func verdict(met bool) string {
	if met {
		return "MET"
	}
	return "NOT MET"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeText writes the workload's windows, then the summary of the
// foreground cost (converging against paused), then the other
// comparisons; convReadRepairs are the read repairs of the converging
// window.
func (w *AAEWorkload) writeText(b *strings.Builder, convReadRepairs int64) error {
	runs := "before the stop, paused, and from the resume"
	if w.PausedAgain != nil {
		runs = "before the stop, paused, from the resume, and paused again"
	}
	fmt.Fprintf(b, "  workload (times from the start of each workload run: %s; baseline: the paused windows pooled):\n", runs)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "    window\top\tfrom s\tto s\tops\tops/s\terrors\tp50 ms\tp99 ms\tp99.9 ms\t")
	for _, win := range []*WorkloadWindow{w.Before, w.Paused, w.Converging, w.After, w.PausedAgain, w.Baseline} {
		if win == nil {
			continue
		}
		l := win.Latency
		from, to := fmt.Sprintf("%.3f", win.FromSec), fmt.Sprintf("%.3f", win.ToSec)
		if win == w.Baseline {
			// Pooled: no one stretch of time.
			from, to = "-", "-"
		}
		fmt.Fprintf(tw, "    %s\tall\t%s\t%s\t%d\t%.1f\t%d\t%.3f\t%.3f\t%.3f\t\n", win.Name, from, to, win.Ops, win.OpsPerSec, win.Errors, l.P50, l.P99, l.P999)
		for _, name := range sortedKeys(win.Operations) {
			op := win.Operations[name]
			l := op.Latency
			fmt.Fprintf(tw, "    %s\t%s\t\t\t%d\t%.1f\t%d\t%.3f\t%.3f\t%.3f\t\n", win.Name, name, op.Ops, op.OpsPerSec, op.Errors, l.P50, l.P99, l.P999)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	w.writeCost(b)
	paused, pausedAgain, pausedAgainRR := "", "", ""
	if w.Paused != nil {
		paused = fmt.Sprintf(", %d while paused (quiet: %s)", sumInts(w.PausedAAEBytes), yesNo(w.PausedQuiet))
	}
	if w.PausedAgainQuiet != nil {
		pausedAgain = fmt.Sprintf(", %d while paused again (quiet: %s)", sumInts(w.PausedAgainAAEBytes), yesNo(*w.PausedAgainQuiet))
	}
	if w.PausedAgainReadRepairs != nil {
		pausedAgainRR = fmt.Sprintf(", %d paused again", *w.PausedAgainReadRepairs)
	}
	fmt.Fprintf(b, "  with nothing missing: anti-entropy bytes %d before, %d after%s%s; read repairs %d before, %d paused, %d converging, %d after%s\n",
		sumInts(w.BeforeAAEBytes), sumInts(w.AfterAAEBytes), paused, pausedAgain, w.BeforeReadRepairs, w.PausedReadRepairs, convReadRepairs, w.AfterReadRepairs, pausedAgainRR)
	return nil
}

// writeCost writes the converging window against the baseline (the
// issue's bound), against each paused window, and against the before and
// after windows; the after window against the baseline; and the drift,
// the paused-again window against the paused one.
func (w *AAEWorkload) writeCost(b *strings.Builder) {
	if w.P99RatioBaseline != nil {
		fmt.Fprintf(b, "  foreground p99 while converging: %.2fx its level with anti-entropy paused (%s; within %.0f%%: %s); ops/s %.2fx%s\n",
			*w.P99RatioBaseline, w.baselineText(), 100*(p99Bound-1), yesNo(*w.P99RatioBaseline <= p99Bound), *w.ThroughputRatioBaseline, opRatiosText(w.OpRatiosBaseline))
	} else if w.Converging != nil {
		b.WriteString("  foreground p99 while converging: no paused window with operations to compare it with\n")
	}
	if w.Paused != nil && !w.PausedQuiet {
		fmt.Fprintf(b, "  WARNING: anti-entropy sent %d bytes during the paused window: the baseline is not one without anti-entropy\n", sumInts(w.PausedAAEBytes))
	}
	if w.PausedAgainQuiet != nil && !*w.PausedAgainQuiet {
		fmt.Fprintf(b, "  WARNING: anti-entropy sent %d bytes during the paused-again window: the baseline is not one without anti-entropy\n", sumInts(w.PausedAgainAAEBytes))
	}
	ratioLine(b, "converging / paused", w.P99RatioPaused, w.ThroughputRatioPaused, w.OpRatiosPaused)
	ratioLine(b, "converging / paused again", w.P99RatioPausedAgain, w.ThroughputRatioPausedAgain, w.OpRatiosPausedAgain)
	ratioLine(b, "after convergence (anti-entropy on, replicas equal) / baseline", w.AfterP99RatioBaseline, w.AfterThroughputRatioBaseline, w.AfterOpRatiosBaseline)
	ratioLine(b, "drift: paused again / paused", w.DriftP99Ratio, w.DriftThroughputRatio, w.DriftOpRatios)
	if w.ThroughputRatio != nil {
		fmt.Fprintf(b, "  converging against before the stop: %.2fx the ops/s, %.2fx the p99%s", *w.ThroughputRatio, *w.P99Ratio, opRatiosText(w.OpRatios))
		if w.ThroughputRatioAfter != nil {
			fmt.Fprintf(b, "; against after convergence: %.2fx the ops/s, %.2fx the p99%s", *w.ThroughputRatioAfter, *w.P99RatioAfter, opRatiosText(w.OpRatiosAfter))
		}
		b.WriteString("\n")
	}
}

// baselineText says which paused windows the baseline pools.
func (w *AAEWorkload) baselineText() string {
	switch len(w.BaselineWindows) {
	case 2:
		return "both paused windows"
	case 1:
		return "the " + w.BaselineWindows[0] + " window only"
	}
	return strings.Join(w.BaselineWindows, ", ")
}

// ratioLine writes "  name: p99 <r>x, ops/s <r>x; read: ..." if the
// ratios are known.
func ratioLine(b *strings.Builder, name string, p99, tput *float64, ops map[string]OpRatio) {
	if p99 == nil || tput == nil {
		return
	}
	fmt.Fprintf(b, "  %s: p99 %.2fx, ops/s %.2fx%s\n", name, *p99, *tput, opRatiosText(ops))
}

// opRatiosText lists the per-operation ratios as "; read: p99 1.10x,
// ops/s 0.95x; update: ...", or nothing.
func opRatiosText(m map[string]OpRatio) string {
	var s strings.Builder
	for _, name := range sortedKeys(m) {
		fmt.Fprintf(&s, "; %s: p99 %.2fx, ops/s %.2fx", name, m[name].P99Ratio, m[name].ThroughputRatio)
	}
	return s.String()
}

func sumInts(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

func joinCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
