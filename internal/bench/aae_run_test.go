package bench_test

import (
	"net"
	"net/url"
	"testing"
	"time"
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
	if r.Partitions != 16 || r.Loaded != 380 || r.Missing != 20 || r.StoppedNode != "n3" || !r.StopClean || r.HintsStored != 0 || r.IntervalSec != 1 {
		t.Errorf("report head: %d partitions, %d loaded, %d missing, stopped %s (clean %v), %d hints, interval %v s",
			r.Partitions, r.Loaded, r.Missing, r.StoppedNode, r.StopClean, r.HintsStored, r.IntervalSec)
	}
	if r.SampleChecked != 20 || r.SampleHeldAtRestart != 0 {
		t.Errorf("n3 held %d of %d missing keys at its restart", r.SampleHeldAtRestart, r.SampleChecked)
	}
	if r.Object.Sampled != 20 || r.Object.EncodedMean < 100 || r.Object.MissingBytes < 20*int64(r.Object.EncodedMean) {
		t.Errorf("object size %+v", r.Object)
	}
	if !r.Converged || r.ConvergedAfterSec == nil || !r.FinalAllEqual || r.TreeBuildSec == nil {
		t.Fatalf("converged %v after %v s, final all equal %v, build %v", r.Converged, r.ConvergedAfterSec, r.FinalAllEqual, r.TreeBuildSec)
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
	if res.Run == nil || res.Load == nil || r.Before == nil || r.MissingWrites == nil || r.MissingWrites.Errors != 0 {
		t.Errorf("phases: load %v, before %v, missing %+v, run %v", res.Load, r.Before, r.MissingWrites, res.Run)
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
