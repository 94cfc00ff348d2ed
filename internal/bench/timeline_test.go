package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

const msec = time.Millisecond

// steadyWrites returns a write completing every `every` in [from, to),
// each with the given latency.
func steadyWrites(from, to, every, latency time.Duration) []writeSample {
	var out []writeSample
	for t := from; t < to; t += every {
		out = append(out, writeSample{end: t, latency: latency})
	}
	return out
}

func TestWriteLogAndMerge(t *testing.T) {
	origin := time.Now()
	a, b := &writeLog{origin: origin}, &writeLog{origin: origin}
	a.add(opUpdate, origin.Add(10*msec), 5*msec, nil)                                                    // ends at 15 ms
	b.add(opUpdate, origin.Add(2*msec), 3*msec, nil)                                                     // ends at 5 ms
	a.add(opUpdate, origin.Add(30*msec), 7*msec, &opError{kind: "unavailable", err: errors.New("boom")}) // fails at 37 ms
	b.add(opUpdate, origin.Add(20*msec), 1*msec, &opError{kind: "timeout", err: errors.New("late")})     // fails at 21 ms
	tl := mergeLogs([]*writeLog{a, b}, 100*msec)
	if len(tl.ok) != 2 || tl.ok[0].end != 5*msec || tl.ok[1].end != 15*msec || tl.ok[1].latency != 5*msec {
		t.Errorf("ok = %+v, want sorted by end: 5 ms then 15 ms", tl.ok)
	}
	if len(tl.failed) != 2 || tl.failed[0].at != 21*msec || tl.failed[0].kind != "timeout" || tl.failed[1].msg != "boom" {
		t.Errorf("failed = %+v, want the timeout at 21 ms, then the unavailable at 37 ms", tl.failed)
	}
	// Only a worker's first failures keep their message.
	for range maxFailureSamples {
		a.add(opUpdate, origin, 0, &opError{kind: "timeout", err: errors.New("again")})
	}
	if last := a.failed[len(a.failed)-1]; last.msg != "" {
		t.Errorf("failure %d kept its message %q", len(a.failed), last.msg)
	}
}

func TestLongestGap(t *testing.T) {
	// Writes every 2 ms from 0 to 1 s, none from 400 ms to 530 ms, then
	// one last write at 900 ms and nothing until the end at 1 s.
	ok := steadyWrites(0, 400*msec, 2*msec, msec)
	ok = append(ok, steadyWrites(530*msec, 800*msec, 2*msec, msec)...)
	ok = append(ok, writeSample{end: 900 * msec, latency: msec})
	tl := &timeline{ok: ok, end: time.Second}

	if g := tl.longestGap(0, 850*msec); g.from != 398*msec || g.to != 530*msec {
		t.Errorf("gap in [0, 850ms) = %v..%v, want 398ms..530ms", g.from, g.to)
	}
	// The stretch from the last write to the end counts: here 100 ms after
	// 900 ms, shorter than the 132 ms one.
	if g := tl.longestGap(0, time.Second); g.length() != 132*msec {
		t.Errorf("longest gap = %v, want 132ms", g.length())
	}
	// Within a window, the gap may start at the window's start.
	if g := tl.longestGap(450*msec, 600*msec); g.from != 450*msec || g.to != 530*msec {
		t.Errorf("gap in [450ms, 600ms) = %v..%v, want 450ms..530ms", g.from, g.to)
	}
	// And run to its end: nothing completed in (900 ms, 1 s).
	if g := tl.longestGap(850*msec, time.Second); g.from != 900*msec || g.to != time.Second {
		t.Errorf("gap in [850ms, 1s) = %v..%v, want 900ms..1s", g.from, g.to)
	}
	// A window with no write at all is one gap.
	if g := tl.longestGap(410*msec, 520*msec); g.from != 410*msec || g.to != 520*msec {
		t.Errorf("gap in an empty window = %v..%v", g.from, g.to)
	}
	// Equally long gaps: the earliest wins.
	even := &timeline{ok: steadyWrites(10*msec, 100*msec, 10*msec, msec), end: 100 * msec}
	if g := even.longestGap(0, 100*msec); g.from != 0 || g.to != 10*msec {
		t.Errorf("first of equal gaps = %v..%v, want 0..10ms", g.from, g.to)
	}
}

func TestWindowStats(t *testing.T) {
	// 1000 writes of 1 ms in [0, 1 s), then 100 writes in [1 s, 2 s):
	// 89 of 2 ms, 10 of 50 ms and one of 400 ms, ending in that order.
	ok := steadyWrites(0, time.Second, msec, msec)
	ok = append(ok, steadyWrites(time.Second, time.Second+890*msec, 10*msec, 2*msec)...)
	ok = append(ok, steadyWrites(time.Second+890*msec, time.Second+990*msec, 10*msec, 50*msec)...)
	ok = append(ok, writeSample{end: time.Second + 995*msec, latency: 400 * msec})
	failed := []failedWrite{
		{at: 500 * msec, kind: "timeout"},
		{at: time.Second, kind: "unavailable"}, // at the boundary: the later window
		{at: 1500 * msec, kind: "unavailable"},
	}
	tl := &timeline{ok: ok, failed: failed, end: 2 * time.Second}

	before := tl.window(0, time.Second)
	if before.writes != 1000 || before.perSecond() != 1000 {
		t.Errorf("before: %d writes, %v/s; want 1000, 1000/s", before.writes, before.perSecond())
	}
	if before.failed != 1 || before.failures["timeout"] != 1 {
		t.Errorf("before failures = %v", before.failures)
	}
	if q := before.latencies.quantile(0.999); !nearDuration(q, msec) {
		t.Errorf("before p99.9 = %v, want 1ms", q)
	}

	after := tl.window(time.Second, 2*time.Second)
	if after.writes != 100 || after.perSecond() != 100 {
		t.Errorf("after: %d writes, %v/s; want 100, 100/s", after.writes, after.perSecond())
	}
	if after.failed != 2 || after.failures["unavailable"] != 2 {
		t.Errorf("after failures = %v, want the one at the boundary too", after.failures)
	}
	// Nearest rank over 100 writes: p50 is the 50th (2 ms), p90 the 90th
	// (the first 50 ms one), p99 the 99th (50 ms), p99.9 and max the
	// 100th (400 ms).
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 2 * msec}, {0.89, 2 * msec}, {0.9, 50 * msec}, {0.99, 50 * msec}, {0.999, 400 * msec}, {1, 400 * msec}} {
		if got := after.latencies.quantile(c.q); !nearDuration(got, c.want) {
			t.Errorf("after q%v = %v, want %v", c.q, got, c.want)
		}
	}
	// Writes every 10 ms, then 15 ms from the last 50 ms one (1.98 s) to
	// the 400 ms one (1.995 s), then 5 ms to the end.
	if after.gap.from != 1980*msec || after.gap.to != 1995*msec {
		t.Errorf("after's longest gap = %v..%v, want 1.98s..1.995s", after.gap.from, after.gap.to)
	}
	if empty := tl.window(time.Second, time.Second); empty.writes != 0 || empty.perSecond() != 0 {
		t.Errorf("an empty window has %d writes at %v/s", empty.writes, empty.perSecond())
	}
}

// nearDuration reports whether a histogram's answer is within its 0.4% of want.
func nearDuration(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= 0.004*float64(want)
}

// testCluster stands for a started cluster in report tests.
func testCluster(n int) *cluster {
	c := &cluster{dir: "/tmp/x"}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{id: "n" + string(rune('1'+i))})
	}
	return c
}

func failoverTestConfig(fo Failover) Config {
	cfg := testConfig(nil, "w", 10*time.Second)
	cfg.Failover = &fo
	return cfg
}

func TestFailoverReport(t *testing.T) {
	// Writes of 1 ms every ms for 10 s, except a 300 ms stall after the
	// kill at 4 s, with two failures in it; one slow write of 80 ms before
	// the kill makes the steady-state p99.9 1 ms (1 write in 4000).
	var ok []writeSample
	ok = append(ok, steadyWrites(0, 4*time.Second, msec, msec)...)
	ok[1000].latency = 80 * msec
	ok = append(ok, steadyWrites(4300*msec, 10*time.Second, msec, msec)...)
	tl := &timeline{ok: ok, end: 10 * time.Second, failed: []failedWrite{
		{at: 4001 * msec, kind: "unavailable", msg: "reset"}, {at: 4002 * msec, kind: "unavailable", msg: "refused"},
	}}
	ev := faultEvents{killed: true, killAt: 4 * time.Second, downSeen: true, downSeenAt: 7 * time.Second, end: 10 * time.Second, hintsAtRestart: -1}
	r := newFailoverReport(failoverTestConfig(Failover{KillAfter: 4 * time.Second}), testCluster(3), tl, ev)

	if r.KilledNode != "n3" || !r.Killed || r.KillAtSec != 4 || r.DownSeenAfterSec == nil || *r.DownSeenAfterSec != 3 {
		t.Errorf("report head = %+v", r)
	}
	names := []string{}
	for _, w := range r.Windows {
		names = append(names, w.Name)
	}
	if strings.Join(names, ",") != "before,during,after" {
		t.Fatalf("windows %v", names)
	}
	before, during, after := r.Windows[0], r.Windows[1], r.Windows[2]
	if before.FromSec != 0 || before.ToSec != 4 || during.ToSec != 6 || after.ToSec != 10 {
		t.Errorf("window bounds %v..%v, ..%v, ..%v", before.FromSec, before.ToSec, during.ToSec, after.ToSec)
	}
	if before.Writes != 4000 || during.Writes != 1700 || after.Writes != 4000 {
		t.Errorf("writes per window %d, %d, %d; want 4000, 1700, 4000", before.Writes, during.Writes, after.Writes)
	}
	if during.WritesPerSec != 850 || during.FailedWrites != 2 || during.FailureKinds["unavailable"] != 2 || before.FailedWrites != 0 {
		t.Errorf("during = %+v", during)
	}
	if math.Abs(before.Latency.Max-80) > 0.5 || math.Abs(before.Latency.P999-1) > 0.01 {
		t.Errorf("before latency = %+v, want max 80 ms and p99.9 1 ms", before.Latency)
	}
	if g := r.LongestGap; math.Abs(g.Ms-301) > 1e-6 || g.Window != "before" || math.Abs(g.FromSec-3.999) > 1e-9 || math.Abs(g.ToSec-4.3) > 1e-9 {
		t.Errorf("longest gap = %+v, want 301 ms from 3.999 s to 4.3 s, begun in the before window", g)
	}
	if r.Writes != 9700 || r.FailedWrites != 2 || len(r.FirstFailures) != 2 || r.FirstFailures[0].Message != "reset" {
		t.Errorf("writes %d, failed %d, first %+v", r.Writes, r.FailedWrites, r.FirstFailures)
	}
	if r.Target.Met || len(r.Target.Missed) != 2 || math.Abs(r.Target.MaxGapMs-1) > 0.01 {
		t.Errorf("target = %+v, want missed twice against 1 ms", r.Target)
	}
	if r.Recovery != nil {
		t.Error("recovery reported without a restart")
	}
	var b strings.Builder
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"n3 killed (SIGKILL) at 4.000 s", "failed writes: 2; during: unavailable 2", "kill +0.001 s  unavailable: reset",
		"longest gap between successful writes: 301.0 ms, kill -0.001 s to kill +0.300 s (before window)", "NOT MET: 2 failed writes"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}

	// The same run without the stall's failures and with its gap under the
	// p99.9 meets the target.
	calm := &timeline{ok: steadyWrites(0, 10*time.Second, msec, msec), end: 10 * time.Second}
	calm.ok[2000].latency = 5 * msec
	if r := newFailoverReport(failoverTestConfig(Failover{KillAfter: 4 * time.Second}), testCluster(3), calm, ev); !r.Target.Met || r.LongestGap.Ms != 1 {
		t.Errorf("calm run: target %+v, gap %+v", r.Target, r.LongestGap)
	}
}

func TestFailoverReportGapWindow(t *testing.T) {
	// The longest gap begins 200 ms after the kill at 1 s.
	ok := append(steadyWrites(0, 1200*msec, msec, msec), steadyWrites(1700*msec, 5*time.Second, msec, msec)...)
	tl := &timeline{ok: ok, end: 5 * time.Second}
	ev := faultEvents{killed: true, killAt: time.Second, end: 5 * time.Second}
	r := newFailoverReport(failoverTestConfig(Failover{KillAfter: time.Second}), testCluster(3), tl, ev)
	if g := r.LongestGap; g.Window != "during" || math.Abs(g.Ms-501) > 1e-6 {
		t.Errorf("gap = %+v, want 501 ms in the during window", g)
	}
	// A run interrupted before the kill has one window and misses the
	// target.
	r = newFailoverReport(failoverTestConfig(Failover{KillAfter: 8 * time.Second}), testCluster(3), tl, faultEvents{end: 5 * time.Second})
	if len(r.Windows) != 1 || r.Windows[0].Name != "before" || r.Target.Met || r.Killed {
		t.Errorf("unkilled run: %+v", r)
	}
}

func TestRecoveryReport(t *testing.T) {
	// Kill at 2 s, restart at 10 s, every node sees it alive at 11 s, no
	// hint left at 12 s, end at 22 s. Writes at 1000/s of 1 ms, except 500/s
	// of 3 ms during the hand-off.
	ok := steadyWrites(0, 10*time.Second, msec, msec)
	ok = append(ok, steadyWrites(10*time.Second, 12*time.Second, 2*msec, 3*msec)...)
	ok = append(ok, steadyWrites(12*time.Second, 22*time.Second, msec, msec)...)
	tl := &timeline{ok: ok, end: 22 * time.Second}
	ev := faultEvents{
		killed: true, killAt: 2 * time.Second,
		restarted: true, restartAt: 10 * time.Second, hintsAtRestart: 1234, hintsPeak: 1300,
		upSeen: true, upSeenAt: 11 * time.Second, delivered: true, deliveredAt: 12 * time.Second,
		end: 22 * time.Second,
	}
	fo := Failover{Nodes: 4, KillAfter: 2 * time.Second, RestartAfter: 8 * time.Second}
	r := newFailoverReport(failoverTestConfig(fo), testCluster(4), tl, ev)
	var names []string
	for _, w := range r.Windows {
		names = append(names, w.Name)
	}
	if strings.Join(names, ",") != "before,during,after,handoff,recovered" {
		t.Fatalf("windows %v", names)
	}
	if r.Windows[2].ToSec != 10 || r.Windows[3].FromSec != 10 || r.Windows[3].ToSec != 12 || r.Windows[4].ToSec != 22 {
		t.Errorf("windows = %+v", r.Windows)
	}
	rec := r.Recovery
	if rec == nil || r.KilledNode != "n4" {
		t.Fatalf("recovery %+v, killed %s", rec, r.KilledNode)
	}
	if rec.HintsAtRestart != 1234 || rec.HintsPeak != 1300 || !rec.Delivered || *rec.SeenAliveAfterSec != 1 || *rec.DeliveredAfterSec != 2 || rec.Note != "" {
		t.Errorf("recovery = %+v", rec)
	}
	if math.Abs(*rec.ThroughputRatio-0.5) > 1e-9 || math.Abs(*rec.P99Ratio-3) > 0.02 {
		t.Errorf("ratios: throughput %v, p99 %v; want 0.5 and 3", *rec.ThroughputRatio, *rec.P99Ratio)
	}

	// Not delivered: the handoff window runs to the end. On 3 nodes the
	// report says why there are no hints.
	ev.delivered = false
	r = newFailoverReport(failoverTestConfig(Failover{KillAfter: 2 * time.Second, RestartAfter: 8 * time.Second}), testCluster(3), tl, ev)
	if last := r.Windows[len(r.Windows)-1]; last.Name != "handoff" || last.ToSec != 22 || r.Recovery.DeliveredAfterSec != nil {
		t.Errorf("undelivered: last window %+v, recovery %+v", last, r.Recovery)
	}
	if !strings.Contains(r.Recovery.Note, "no hint is written") {
		t.Errorf("3-node note = %q", r.Recovery.Note)
	}
}
