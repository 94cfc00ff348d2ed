package bench

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// quorumW is the write quorum of the clusters bench starts: the default,
// a majority of N.
const quorumW = replicas/2 + 1

// targetText states the failover target the report checks.
const targetText = "N=3, W=2: no failed write, and no gap between successful writes longer than the steady-state (before) p99.9"

// FailoverReport is the write timeline of a failover run, as
// Result.Failover. Times ending in _s are seconds from the start of the
// run phase unless their name says otherwise. docs/bench.md documents the
// JSON.
type FailoverReport struct {
	Nodes int `json:"nodes"`
	N     int `json:"n"`
	W     int `json:"w"`
	// KilledNode is the id of the node killed; Killed says whether it was
	// (a run interrupted before the kill has only the before window).
	KilledNode string  `json:"killed_node"`
	Killed     bool    `json:"killed"`
	KillAtSec  float64 `json:"kill_at_s"`
	// DownSeenAfterSec is how long after the kill every live node first
	// saw the killed node down (absent if none did before the run ended
	// or the node was restarted).
	DownSeenAfterSec *float64 `json:"down_seen_after_s,omitempty"`
	EndSec           float64  `json:"end_s"`
	// Writes and FailedWrites count the whole run phase; FailureKinds
	// splits the failures by kind, and FirstFailures quotes the earliest
	// ones.
	Writes        int64            `json:"writes"`
	FailedWrites  int64            `json:"failed_writes"`
	FailureKinds  map[string]int64 `json:"failure_kinds"`
	FirstFailures []FailedWrite    `json:"first_failures,omitempty"`
	// LongestGap is the longest stretch of the run phase in which no
	// write completed anywhere in the cluster.
	LongestGap Gap      `json:"longest_gap"`
	Windows    []Window `json:"windows"`
	Target     Target   `json:"target"`
	// Recovery is present when the killed node was restarted.
	Recovery *Recovery `json:"recovery,omitempty"`
	// ClusterDir is where the node logs and data were kept (--keep).
	ClusterDir string `json:"cluster_dir,omitempty"`
}

// Gap is a stretch of the run phase with no successful write.
type Gap struct {
	Ms      float64 `json:"ms"`
	FromSec float64 `json:"from_s"`
	ToSec   float64 `json:"to_s"`
	// Window is the name of the window in which the gap began.
	Window string `json:"window"`
}

// Window is the writes of one stretch of the run phase: those that
// completed (or failed) in it.
type Window struct {
	Name         string           `json:"name"`
	FromSec      float64          `json:"from_s"`
	ToSec        float64          `json:"to_s"`
	Writes       int64            `json:"writes"`
	WritesPerSec float64          `json:"writes_per_sec"`
	FailedWrites int64            `json:"failed_writes"`
	FailureKinds map[string]int64 `json:"failure_kinds"`
	LongestGapMs float64          `json:"longest_gap_ms"`
	// Latency is that of the window's successful writes.
	Latency Latency `json:"latency_ms"`
}

// FailedWrite is one failed write.
type FailedWrite struct {
	AtSec   float64 `json:"at_s"`
	Kind    string  `json:"kind"`
	Message string  `json:"message"`
}

// Target is the failover target and whether the run met it.
type Target struct {
	Text string `json:"text"`
	// MaxGapMs is the longest gap allowed: the before window's p99.9.
	MaxGapMs float64 `json:"max_gap_ms"`
	Met      bool    `json:"met"`
	// Missed says how the run missed it.
	Missed []string `json:"missed,omitempty"`
}

// Recovery is the restart of the killed node and the hand-off of the
// hints the other nodes kept for it. Durations are from the restart.
type Recovery struct {
	RestartAtSec float64 `json:"restart_at_s"`
	// HintsAtRestart is the hints the live nodes held for the killed node
	// in the last poll before the restart (-1: no poll answered);
	// HintsPeak the most seen in any poll after the kill.
	HintsAtRestart int `json:"hints_at_restart"`
	HintsPeak      int `json:"hints_peak"`
	// SeenAliveAfterSec is when every live node first saw the node alive
	// again; DeliveredAfterSec when, from then on, no live node held any
	// hint for it (the first poll that said so). Absent when it did not
	// happen before the run ended.
	SeenAliveAfterSec *float64 `json:"seen_alive_after_s,omitempty"`
	Delivered         bool     `json:"delivered"`
	DeliveredAfterSec *float64 `json:"delivered_after_s,omitempty"`
	// ThroughputRatio and P99Ratio compare the handoff window (restart to
	// delivery) with the before window: writes/s and p99 latency. Absent
	// when the handoff window has no write.
	ThroughputRatio *float64 `json:"throughput_ratio,omitempty"`
	P99Ratio        *float64 `json:"p99_ratio,omitempty"`
	Note            string   `json:"note,omitempty"`
}

// newFailoverReport builds the report from the merged timeline and what
// the controller did.
func newFailoverReport(cfg Config, cl *cluster, t *timeline, ev faultEvents) *FailoverReport {
	fo := cfg.Failover
	r := &FailoverReport{
		Nodes: fo.nodes(), N: replicas, W: quorumW,
		KilledNode: cl.nodes[fo.victim()].id, Killed: ev.killed, KillAtSec: ev.killAt.Seconds(),
		EndSec: t.end.Seconds(), Writes: int64(len(t.ok)), FailedWrites: int64(len(t.failed)),
		FailureKinds: map[string]int64{},
	}
	if fo.Keep {
		r.ClusterDir = cl.dir
	}
	if ev.downSeen {
		r.DownSeenAfterSec = seconds(ev.downSeenAt - ev.killAt)
	}
	for _, f := range t.failed {
		r.FailureKinds[f.kind]++
		if f.msg != "" && len(r.FirstFailures) < maxFailureSamples {
			r.FirstFailures = append(r.FirstFailures, FailedWrite{AtSec: f.at.Seconds(), Kind: f.kind, Message: f.msg})
		}
	}

	// The windows, in order, each from the previous one's end.
	type bound struct {
		name string
		to   time.Duration
	}
	var bounds []bound
	switch {
	case !ev.killed:
		bounds = []bound{{"before", t.end}}
	case !ev.restarted:
		bounds = []bound{{"before", ev.killAt}, {"during", ev.killAt + failoverWindow}, {"after", t.end}}
	default:
		bounds = []bound{{"before", ev.killAt}, {"during", ev.killAt + failoverWindow}, {"after", ev.restartAt}}
		if ev.delivered {
			bounds = append(bounds, bound{"handoff", ev.deliveredAt}, bound{"recovered", t.end})
		} else {
			bounds = append(bounds, bound{"handoff", t.end})
		}
	}
	var from time.Duration
	stats := map[string]windowStats{}
	for _, b := range bounds {
		to := min(max(b.to, from), t.end)
		w := t.window(from, to)
		stats[b.name] = w
		r.Windows = append(r.Windows, Window{
			Name: b.name, FromSec: from.Seconds(), ToSec: to.Seconds(),
			Writes: w.writes, WritesPerSec: w.perSecond(), FailedWrites: w.failed, FailureKinds: w.failures,
			LongestGapMs: ms(w.gap.length()), Latency: latencyOf(&w.latencies),
		})
		from = to
	}

	g := t.longestGap(0, t.end)
	r.LongestGap = Gap{Ms: ms(g.length()), FromSec: g.from.Seconds(), ToSec: g.to.Seconds()}
	for _, w := range r.Windows {
		if g.from.Seconds() >= w.FromSec {
			r.LongestGap.Window = w.Name
		}
	}

	before := stats["before"]
	r.Target = Target{Text: targetText, MaxGapMs: ms(before.latencies.quantile(0.999))}
	if !ev.killed {
		r.Target.Missed = append(r.Target.Missed, "no node was killed")
	}
	if r.FailedWrites > 0 {
		r.Target.Missed = append(r.Target.Missed, fmt.Sprintf("%d failed writes", r.FailedWrites))
	}
	if r.LongestGap.Ms > r.Target.MaxGapMs {
		r.Target.Missed = append(r.Target.Missed, fmt.Sprintf("longest gap %.1f ms > %.1f ms", r.LongestGap.Ms, r.Target.MaxGapMs))
	}
	r.Target.Met = len(r.Target.Missed) == 0

	if ev.restarted {
		r.Recovery = newRecovery(fo, ev, before, stats["handoff"])
	}
	return r
}

func newRecovery(fo *Failover, ev faultEvents, before, handoff windowStats) *Recovery {
	rec := &Recovery{RestartAtSec: ev.restartAt.Seconds(), HintsAtRestart: ev.hintsAtRestart, HintsPeak: ev.hintsPeak, Delivered: ev.delivered}
	if ev.upSeen {
		rec.SeenAliveAfterSec = seconds(ev.upSeenAt - ev.restartAt)
	}
	if ev.delivered {
		rec.DeliveredAfterSec = seconds(ev.deliveredAt - ev.restartAt)
	}
	if handoff.writes > 0 && before.writes > 0 {
		tput := handoff.perSecond() / before.perSecond()
		p99 := float64(handoff.latencies.quantile(0.99)) / float64(before.latencies.quantile(0.99))
		rec.ThroughputRatio, rec.P99Ratio = &tput, &p99
	}
	if fo.nodes() <= replicas {
		rec.Note = fmt.Sprintf("with %d nodes and N=%d every node owns every partition, so no node can stand in for the killed one: "+
			"no hint is written, and the restarted node misses the writes of its downtime until read repair brings them; "+
			"use --nodes %d or more to measure the hand-off of hints", fo.nodes(), replicas, replicas+1)
	}
	return rec
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

// writeText writes the report for people, with times relative to the kill.
func (r *FailoverReport) writeText(b *strings.Builder) error {
	kill := r.KillAtSec
	rel := func(s float64) string {
		if !r.Killed {
			return fmt.Sprintf("at %.3f s", s)
		}
		return fmt.Sprintf("kill %+.3f s", s-kill)
	}
	fmt.Fprintf(b, "failover: %d nodes (N=%d, W=%d); ", r.Nodes, r.N, r.W)
	if r.Killed {
		fmt.Fprintf(b, "%s killed (SIGKILL) at %.3f s into the run", r.KilledNode, r.KillAtSec)
		if r.DownSeenAfterSec != nil {
			fmt.Fprintf(b, "; every live node saw it down %.3f s later", *r.DownSeenAfterSec)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(b, "the run ended before %s was killed\n", r.KilledNode)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "window\tfrom s\tto s\twrites\twrites/s\tfailed\tp50 ms\tp99 ms\tp99.9 ms\tmax ms\tlongest gap ms\t")
	for _, w := range r.Windows {
		l := w.Latency
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%d\t%.1f\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.1f\t\n",
			w.Name, w.FromSec, w.ToSec, w.Writes, w.WritesPerSec, w.FailedWrites, l.P50, l.P99, l.P999, l.Max, w.LongestGapMs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(b, "failed writes: %d", r.FailedWrites)
	for _, w := range r.Windows {
		if w.FailedWrites == 0 {
			continue
		}
		var kinds []string
		for _, k := range sortedKeys(w.FailureKinds) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, w.FailureKinds[k]))
		}
		fmt.Fprintf(b, "; %s: %s", w.Name, strings.Join(kinds, ", "))
	}
	b.WriteString("\n")
	for _, f := range r.FirstFailures {
		fmt.Fprintf(b, "  %s  %s: %s\n", rel(f.AtSec), f.Kind, f.Message)
	}
	g := r.LongestGap
	fmt.Fprintf(b, "longest gap between successful writes: %.1f ms, %s to %s (%s window)\n", g.Ms, rel(g.FromSec), rel(g.ToSec), g.Window)
	verdict := "MET"
	if !r.Target.Met {
		verdict = "NOT MET: " + strings.Join(r.Target.Missed, "; ")
	}
	fmt.Fprintf(b, "target (%s = %.1f ms): %s\n", r.Target.Text, r.Target.MaxGapMs, verdict)
	if rec := r.Recovery; rec != nil {
		fmt.Fprintf(b, "recovery: %s restarted %.3f s after the kill with %d hints pending for it (peak %d)\n",
			r.KilledNode, rec.RestartAtSec-kill, rec.HintsAtRestart, rec.HintsPeak)
		if rec.SeenAliveAfterSec != nil {
			fmt.Fprintf(b, "  every live node saw it alive %.3f s after the restart\n", *rec.SeenAliveAfterSec)
		}
		if rec.DeliveredAfterSec != nil {
			fmt.Fprintf(b, "  no hint left for it %.3f s after the restart\n", *rec.DeliveredAfterSec)
		} else {
			fmt.Fprintf(b, "  hints NOT all delivered when the run ended\n")
		}
		if rec.ThroughputRatio != nil {
			fmt.Fprintf(b, "  handoff window against before: %.2fx the writes/s, %.2fx the p99\n", *rec.ThroughputRatio, *rec.P99Ratio)
		}
		if rec.Note != "" {
			fmt.Fprintf(b, "  note: %s\n", rec.Note)
		}
	}
	if r.ClusterDir != "" {
		fmt.Fprintf(b, "node logs and data kept in %s\n", r.ClusterDir)
	}
	return nil
}
