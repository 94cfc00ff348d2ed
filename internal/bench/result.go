package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is a benchmark's report. Its JSON form is documented in
// docs/bench.md.
type Result struct {
	Workload         string   `json:"workload"`
	ReadProportion   float64  `json:"read_proportion"`
	UpdateProportion float64  `json:"update_proportion"`
	Protocol         string   `json:"protocol"`
	Endpoints        []string `json:"endpoints"`
	Bucket           string   `json:"bucket"`
	// BucketSetToLWW says the bucket's conflict policy was set to
	// last-write-wins before loading.
	BucketSetToLWW bool    `json:"bucket_set_to_lww"`
	Records        int     `json:"records"`
	Concurrency    int     `json:"concurrency"`
	ValueSize      int     `json:"value_size"`
	DurationSec    float64 `json:"duration_s"`
	Seed           uint64  `json:"seed"`
	// Load is absent when the load phase was skipped; Run is absent when
	// the benchmark was interrupted while loading.
	Load *Phase `json:"load,omitempty"`
	Run  *Phase `json:"run,omitempty"`
	// Failover is the write timeline around the kill of a failover run
	// (Config.Failover); absent otherwise.
	Failover *FailoverReport `json:"failover,omitempty"`
	// AAE is what an anti-entropy run (Config.AAE) measured; absent
	// otherwise. Its Load is then the records loaded with every node up,
	// and Run the workload that ran from the resume of anti-entropy while
	// the replicas converged, and after.
	AAE *AAEReport `json:"aae,omitempty"`
}

// Phase is the report of the load or the run phase.
type Phase struct {
	// DurationSec is the phase's wall-clock length in seconds.
	DurationSec float64 `json:"duration_s"`
	// Ops counts successful operations of every kind, Errors failed ones.
	Ops    int64 `json:"ops"`
	Errors int64 `json:"errors"`
	// OpsPerSec is Ops per second of the phase: the total throughput.
	OpsPerSec float64 `json:"ops_per_sec"`
	// Operations reports each kind of operation the phase issued:
	// "insert" in the load phase, "read" and "update" in the run phase.
	Operations map[string]*Operation `json:"operations"`
}

// Operation is the report of one kind of operation in one phase.
type Operation struct {
	// Count is the number of successful operations.
	Count int64 `json:"count"`
	// Errors is the number of failed ones, ErrorKinds their split by kind
	// and ErrorSamples the first message of each kind.
	Errors       int64             `json:"errors"`
	ErrorKinds   map[string]int64  `json:"error_kinds"`
	ErrorSamples map[string]string `json:"error_samples"`
	// NotFound counts successful reads that found no value.
	NotFound  int64   `json:"not_found"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latency summarizes successful operations, in milliseconds.
	Latency Latency `json:"latency_ms"`
}

// Latency is a latency distribution in milliseconds; percentiles are by
// nearest rank, within 0.4%.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func newResult(cfg Config, proto protocol) *Result {
	return &Result{
		Workload:         cfg.Workload.Name,
		ReadProportion:   cfg.Workload.ReadProportion,
		UpdateProportion: cfg.Workload.UpdateProportion,
		Protocol:         string(proto),
		Endpoints:        cfg.Endpoints,
		Bucket:           cfg.Bucket,
		Records:          cfg.Records,
		Concurrency:      cfg.Concurrency,
		ValueSize:        cfg.ValueSize,
		DurationSec:      cfg.Duration.Seconds(),
		Seed:             cfg.Seed,
	}
}

// summarize merges the workers' statistics into a Phase.
func summarize(workers []*worker, elapsed time.Duration) *Phase {
	secs := elapsed.Seconds()
	p := &Phase{DurationSec: secs, Operations: map[string]*Operation{}}
	for kind := opKind(0); kind < numOpKinds; kind++ {
		var h histogram
		op := &Operation{ErrorKinds: map[string]int64{}, ErrorSamples: map[string]string{}}
		for _, w := range workers {
			s := &w.stats[kind]
			h.merge(&s.latencies)
			op.NotFound += s.notFound
			for k, n := range s.errors {
				op.ErrorKinds[k] += n
				op.Errors += n
				if _, ok := op.ErrorSamples[k]; !ok {
					op.ErrorSamples[k] = s.samples[k]
				}
			}
		}
		op.Count = int64(h.total)
		if op.Count == 0 && op.Errors == 0 {
			continue
		}
		if secs > 0 {
			op.OpsPerSec = float64(op.Count) / secs
		}
		op.Latency = latencyOf(&h)
		p.Operations[kind.String()] = op
		p.Ops += op.Count
		p.Errors += op.Errors
	}
	if secs > 0 {
		p.OpsPerSec = float64(p.Ops) / secs
	}
	return p
}

// latencyOf summarizes a histogram in milliseconds.
func latencyOf(h *histogram) Latency {
	return Latency{
		Min: ms(time.Duration(h.min)), Mean: ms(h.mean()),
		P50: ms(h.quantile(0.50)), P95: ms(h.quantile(0.95)), P99: ms(h.quantile(0.99)), P999: ms(h.quantile(0.999)),
		Max: ms(time.Duration(h.max)),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteJSON writes r as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as a table for people.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "workload %s: %.0f%% read, %.0f%% update; %d records of %d bytes; %d workers; seed %d\n",
		r.Workload, 100*r.ReadProportion, 100*r.UpdateProportion, r.Records, r.ValueSize, r.Concurrency, r.Seed)
	fmt.Fprintf(&b, "endpoints (%s): %s\n", r.Protocol, strings.Join(r.Endpoints, ", "))
	if r.BucketSetToLWW {
		fmt.Fprintf(&b, "bucket %q: conflict policy set to lww, so that blind updates replace values instead of adding siblings\n", r.Bucket)
	} else {
		fmt.Fprintf(&b, "bucket %q: conflict policy left as it was; blind updates add siblings if it keeps them\n", r.Bucket)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\top\tcount\terrors\tnot found\tops/s\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	var errorLines []string
	type namedPhase struct {
		name  string
		phase *Phase
	}
	phases := []namedPhase{{"load", r.Load}, {"run", r.Run}}
	if a := r.AAE; a != nil {
		phases = []namedPhase{{"load", r.Load}, {"before", a.Before}, {"missing", a.MissingWrites}, {"paused", a.Paused}, {"run", r.Run}, {"paused-again", a.PausedAgain}}
	}
	for _, ph := range phases {
		if ph.phase == nil {
			continue
		}
		for _, name := range sortedKeys(ph.phase.Operations) {
			op := ph.phase.Operations[name]
			l := op.Latency
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
				ph.name, name, op.Count, op.Errors, op.NotFound, op.OpsPerSec, l.P50, l.P95, l.P99, l.P999, l.Max)
			for _, kind := range sortedKeys(op.ErrorKinds) {
				errorLines = append(errorLines, fmt.Sprintf("  %s %s %s: %d (first: %s)",
					ph.name, name, kind, op.ErrorKinds[kind], op.ErrorSamples[kind]))
			}
		}
		fmt.Fprintf(tw, "%s\ttotal\t%d\t%d\t\t%.1f\t\t\t\t\t\t\n", ph.name, ph.phase.Ops, ph.phase.Errors, ph.phase.OpsPerSec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errorLines) > 0 {
		b.WriteString("\nerrors by kind:\n" + strings.Join(errorLines, "\n") + "\n")
	}
	if r.Failover != nil {
		b.WriteString("\n")
		if err := r.Failover.writeText(&b); err != nil {
			return err
		}
	}
	if r.AAE != nil {
		b.WriteString("\n")
		if err := r.AAE.writeText(&b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
