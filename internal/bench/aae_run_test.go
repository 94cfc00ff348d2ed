package bench_test

import (
	"math"
	"net"
	"net/url"
	"testing"
	"time"

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
	if res.Run == nil || res.Load == nil || r.Before == nil || r.MissingWrites == nil || r.MissingWrites.Errors != 0 || r.Paused == nil || r.Paused.Ops == 0 {
		t.Errorf("phases: load %v, before %v, missing %+v, paused %v, run %v", res.Load, r.Before, r.MissingWrites, r.Paused, res.Run)
	}
	// Every node was killed when the command returned.
	for _, e := range res.Endpoints {
		u, err := url.Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after the run", e)
		}
	}
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
	if r.Workload != nil || r.Paused != nil || res.Run != nil || r.ResumedAfterSec < r.ReplicatesAfterSec || r.ResumedAfterSec > r.ReplicatesAfterSec+1 {
		t.Errorf("workload %+v, paused %v, run %v; resumed %.3f s after the restart, replicating %.3f s after it", r.Workload, r.Paused, res.Run, r.ResumedAfterSec, r.ReplicatesAfterSec)
	}
	if b := r.Bytes; b.KeysRepaired["pulled"]+b.KeysRepaired["pushed"] < 20 || b.Objects <= 0 {
		t.Errorf("bytes %+v", b)
	}
}
