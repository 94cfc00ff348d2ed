package bench_test

import (
	"math"
	"testing"

	"github.com/tutti-kv/tutti/internal/bench"
)

func TestAAERun(t *testing.T) {
	if testing.Short() {
		t.Skip("anti-entropy run with real processes skipped in -short mode")
	}
	// Sixteen partitions and a one-second interval, so that the servers'
	// scheduled exchanges go round every pair within seconds.
	res, out := runBench(t, "--aae-missing", "0.05", "--records", "400", "--partitions", "16", "--aae-interval", "1s",
		"--duration", "2s", "--concurrency", "4", "--json", "--keep")
	r := res.AAE
	if r == nil {
		t.Fatalf("no anti-entropy report: %s", out)
	}
	if r.Partitions != 16 || r.Loaded != 380 || r.Missing != 20 || r.StoppedNode != "n3" || r.StopSignal != "SIGTERM" || !r.StopClean || r.HintsStored != 0 || r.IntervalSec != 1 {
		t.Errorf("report head: %d partitions, %d loaded, %d missing, stopped %s (%s, clean %v), %d hints, interval %v s",
			r.Partitions, r.Loaded, r.Missing, r.StoppedNode, r.StopSignal, r.StopClean, r.HintsStored, r.IntervalSec)
	}
	// Stopped cleanly, n3 saved its trees and loaded them at its restart.
	if r.TreesBuiltAtStart != 16 {
		t.Errorf("n3 had %d of 16 trees built at its restart", r.TreesBuiltAtStart)
	}
	if r.SampleChecked != 20 || r.SampleHeldAtRestart != 0 {
		t.Errorf("n3 held %d of %d missing keys at its restart", r.SampleHeldAtRestart, r.SampleChecked)
	}
	if r.Object.Sampled != 20 || r.Object.EncodedMean < 100 || r.Object.MissingBytes < 20*int64(r.Object.EncodedMean) {
		t.Errorf("object size %+v", r.Object)
	}
	if !r.Converged || r.ConvergedAfterSec == nil || !r.FinalAllEqual {
		t.Fatalf("converged %v after %v s, final all equal %v", r.Converged, r.ConvergedAfterSec, r.FinalAllEqual)
	}
	checkResume(t, r)
	// The paused window ran --duration between the restart's waits and
	// the resume.
	if r.ResumedAfterSec < r.ReplicatesAfterSec+1.9 {
		t.Errorf("resumed %.3f s after the restart, replicating %.3f s after it: no paused window between", r.ResumedAfterSec, r.ReplicatesAfterSec)
	}
	b := r.Bytes
	if b.KeysRepaired["pulled"]+b.KeysRepaired["pushed"] < 20 || b.Objects <= 0 || b.TreeOverhead <= 0 || b.Total != b.Objects+b.TreeOverhead || b.TotalToEnd < b.Total {
		t.Errorf("bytes %+v", b)
	}
	if r.FullScan.StreamBytes <= r.FullScan.KeyListBytes || r.FullScan.KeyListBytes <= 0 {
		t.Errorf("full scan %+v", r.FullScan)
	}
	w := r.Workload
	if w == nil || w.Before == nil || w.Converging == nil || w.After == nil || w.Before.Ops == 0 || w.After.Ops == 0 || w.ThroughputRatio == nil {
		t.Fatalf("workload %+v", w)
	}
	// The workload after convergence lasted --duration.
	if w.After.ToSec-w.After.FromSec < 1.9 {
		t.Errorf("after window %+v", w.After)
	}
	checkPausedWindow(t, w)
	checkPausedAgainWindow(t, r)
	if res.Run == nil || res.Load == nil || r.Before == nil || r.MissingWrites == nil || r.MissingWrites.Errors != 0 || r.Paused == nil || r.Paused.Ops == 0 || r.PausedAgain == nil || r.PausedAgain.Ops == 0 {
		t.Errorf("phases: load %v, before %v, missing %+v, paused %v, run %v, paused again %v", res.Load, r.Before, r.MissingWrites, r.Paused, res.Run, r.PausedAgain)
	}
	checkAllStopped(t, res)
}

// checkPausedWindow checks the baseline: the workload ran with
// anti-entropy paused on every node, no anti-entropy byte moved, and the
// converging window is compared with it, overall and per operation.
func checkPausedWindow(t *testing.T, w *bench.AAEWorkload) {
	t.Helper()
	p := w.Paused
	if p == nil || p.Ops == 0 || p.ToSec-p.FromSec < 1.9 || p.Operations["read"] == nil || p.Operations["update"] == nil {
		t.Fatalf("paused window %+v", p)
	}
	var moved int64
	for _, n := range w.PausedAAEBytes {
		moved += n
	}
	if !w.PausedQuiet || moved != 0 {
		t.Errorf("anti-entropy bytes while paused on every node: %v (quiet %v)", w.PausedAAEBytes, w.PausedQuiet)
	}
	if w.P99RatioPaused == nil || w.ThroughputRatioPaused == nil || w.P99BoundMet == nil || len(w.OpRatiosPaused) != 2 {
		t.Errorf("converging against paused: p99 %v, ops/s %v, bound met %v, per op %v", w.P99RatioPaused, w.ThroughputRatioPaused, w.P99BoundMet, w.OpRatiosPaused)
	}
}

// checkPausedAgainWindow checks the other side of the bracket: once the
// after window and the final check were over, the workload ran again
// with anti-entropy paused on every node, no anti-entropy byte moved, and
// the baseline pools both paused windows.
func checkPausedAgainWindow(t *testing.T, r *bench.AAEReport) {
	t.Helper()
	w := r.Workload
	p := w.PausedAgain
	if p == nil || p.Name != "paused-again" || p.Ops == 0 || p.ToSec-p.FromSec < 1.9 || p.Operations["read"] == nil || p.Operations["update"] == nil {
		t.Fatalf("paused-again window %+v", p)
	}
	var moved int64
	for _, n := range w.PausedAgainAAEBytes {
		moved += n
	}
	if w.PausedAgainQuiet == nil || !*w.PausedAgainQuiet || moved != 0 || w.PausedAgainReadRepairs == nil {
		t.Errorf("anti-entropy bytes while paused again on every node: %v (quiet %v, read repairs %v)", w.PausedAgainAAEBytes, w.PausedAgainQuiet, w.PausedAgainReadRepairs)
	}
	// Paused again after the final check, which came after the after
	// window.
	if r.RepausedAfterSec == nil || r.PausedAgainStartAfterSec == nil || r.ConvergedAfterSec == nil ||
		*r.RepausedAfterSec < *r.ConvergedAfterSec+1.9 || *r.PausedAgainStartAfterSec < *r.RepausedAfterSec {
		t.Errorf("paused again %v s after the restart, window from %v s; converged %v s after it", r.RepausedAfterSec, r.PausedAgainStartAfterSec, r.ConvergedAfterSec)
	}
	b := w.Baseline
	if b == nil || len(w.BaselineWindows) != 2 || w.BaselineWindows[0] != "paused" || w.BaselineWindows[1] != "paused-again" {
		t.Fatalf("baseline %+v of %v", b, w.BaselineWindows)
	}
	if b.Ops != w.Paused.Ops+p.Ops || b.Errors != w.Paused.Errors+p.Errors {
		t.Errorf("baseline: %d ops, %d errors; paused %d and %d, paused again %d and %d", b.Ops, b.Errors, w.Paused.Ops, w.Paused.Errors, p.Ops, p.Errors)
	}
	secs := (w.Paused.ToSec - w.Paused.FromSec) + (p.ToSec - p.FromSec)
	if math.Abs(b.ToSec-secs) > 1e-9 || math.Abs(b.OpsPerSec-float64(b.Ops)/secs) > 1e-6 {
		t.Errorf("baseline over %v s at %v ops/s, want %v s", b.ToSec, b.OpsPerSec, secs)
	}
	for _, name := range []string{"read", "update"} {
		if op := b.Operations[name]; op == nil || op.Ops != w.Paused.Operations[name].Ops+p.Operations[name].Ops {
			t.Errorf("baseline %s %+v", name, op)
		}
	}
	if w.P99RatioBaseline == nil || w.ThroughputRatioBaseline == nil || len(w.OpRatiosBaseline) != 2 || w.P99BoundMet == nil || *w.P99BoundMet != (*w.P99RatioBaseline <= 1.2) {
		t.Errorf("converging / baseline: p99 %v, ops/s %v, per op %v, bound met %v", w.P99RatioBaseline, w.ThroughputRatioBaseline, w.OpRatiosBaseline, w.P99BoundMet)
	}
	if w.P99RatioPausedAgain == nil || w.AfterP99RatioBaseline == nil || w.DriftP99Ratio == nil || w.DriftThroughputRatio == nil || len(w.DriftOpRatios) != 2 {
		t.Errorf("converging / paused again %v, after / baseline %v, drift p99 %v, ops/s %v, per op %v", w.P99RatioPausedAgain, w.AfterP99RatioBaseline, w.DriftP99Ratio, w.DriftThroughputRatio, w.DriftOpRatios)
	}
}

// checkResume checks the times from the resume against those from the
// restart.
func checkResume(t *testing.T, r *bench.AAEReport) {
	t.Helper()
	if r.ConvergedAfterResumeSec == nil || *r.ConvergedAfterResumeSec <= 0 || math.Abs(*r.ConvergedAfterSec-r.ResumedAfterSec-*r.ConvergedAfterResumeSec) > 0.01 {
		t.Errorf("converged %v s after the restart, %v s after the resume (%.3f s after the restart)", *r.ConvergedAfterSec, r.ConvergedAfterResumeSec, r.ResumedAfterSec)
	}
}

// TestAAERunKilled kills node 3 (SIGKILL: no trees saved), with no
// workload: anti-entropy is resumed as soon as node 3 is back, and node 3
// builds its trees then.
func TestAAERunKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("anti-entropy run with real processes skipped in -short mode")
	}
	res, out := runBench(t, "--aae-missing", "0.05", "--records", "400", "--partitions", "16", "--aae-interval", "1s",
		"--duration", "0", "--aae-kill", "--aae-share", "0.5", "--json", "--keep")
	r := res.AAE
	if r == nil {
		t.Fatalf("no anti-entropy report: %s", out)
	}
	if r.StopSignal != "SIGKILL" || r.StopClean || r.TreesBuiltAtStart != 0 || r.AAEShare != 0.5 {
		t.Errorf("stopped with %s (clean %v), %d trees built at the restart, share %v", r.StopSignal, r.StopClean, r.TreesBuiltAtStart, r.AAEShare)
	}
	if r.SampleChecked != 20 || r.SampleHeldAtRestart != 0 {
		t.Errorf("n3 held %d of %d missing keys at its restart", r.SampleHeldAtRestart, r.SampleChecked)
	}
	if !r.Converged || r.ConvergedAfterSec == nil || !r.FinalAllEqual || r.TreeBuildSec == nil || r.TreesBuiltAfterResumeSec == nil {
		t.Fatalf("converged %v after %v s, final all equal %v, build %v, built %v s after the resume", r.Converged, r.ConvergedAfterSec, r.FinalAllEqual, r.TreeBuildSec, r.TreesBuiltAfterResumeSec)
	}
	checkResume(t, r)
	// No workload: no paused window, resumed once n3 was back.
	if r.Workload != nil || r.Paused != nil || r.PausedAgain != nil || r.RepausedAfterSec != nil || res.Run != nil || r.ResumedAfterSec < r.ReplicatesAfterSec || r.ResumedAfterSec > r.ReplicatesAfterSec+1 {
		t.Errorf("workload %+v, paused %v, paused again %v (at %v), run %v; resumed %.3f s after the restart, replicating %.3f s after it", r.Workload, r.Paused, r.PausedAgain, r.RepausedAfterSec, res.Run, r.ResumedAfterSec, r.ReplicatesAfterSec)
	}
	if b := r.Bytes; b.KeysRepaired["pulled"]+b.KeysRepaired["pushed"] < 20 || b.Objects <= 0 {
		t.Errorf("bytes %+v", b)
	}
}
