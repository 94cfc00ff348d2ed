package bench

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/ring"
)

const metricsText = `# HELP tutti_aae_bytes_sent_total Bytes of anti-entropy messages.
# TYPE tutti_aae_bytes_sent_total counter
tutti_aae_bytes_sent_total{step="root"} 120
tutti_aae_bytes_sent_total{step="branches"} 2.5e3
tutti_aae_bytes_sent_total{step="fetch"} 1000 1732608000000
tutti_aae_keys_repaired_total{direction="pulled"} 7
tutti_aae_keys_repaired_total{direction="pushed"} 3
tutti_aae_exchanges_total{outcome="equal"} 40
tutti_aae_exchanges_total{outcome="repaired"} 2
tutti_aae_tree_build_seconds 4.25
tutti_hints_stored_total 0
tutti_read_repairs_total 5
tutti_request_duration_seconds_bucket{op="get",outcome="ok",le="+Inf"} 10
odd_label{a="x\"y\\z\n",b = "2" } 1
`

func TestParseMetrics(t *testing.T) {
	samples, err := parseMetrics(metricsText)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 12 {
		t.Fatalf("%d samples, want 12", len(samples))
	}
	last := samples[11]
	if last.name != "odd_label" || last.labels["a"] != "x\"y\\z\n" || last.labels["b"] != "2" || last.value != 1 {
		t.Errorf("escaped labels: %+v", last)
	}
	if s := samples[2]; s.value != 1000 || s.labels["step"] != "fetch" {
		t.Errorf("sample with a timestamp: %+v", s)
	}
	if s := samples[10]; s.labels["le"] != "+Inf" || s.value != 10 {
		t.Errorf("histogram bucket: %+v", s)
	}
	for _, bad := range []string{
		"no_value",
		`unterminated{a="x} 1`,
		`unquoted{a=x} 1`,
		`no_comma{a="x" b="y"} 1`,
		"bad_value{} one",
		"too_many 1 2 3",
	} {
		if _, err := parseMetrics("# ok\n" + bad + "\n"); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: error %v, want one naming line 2", bad, err)
		}
	}
	if v, err := parseValue("NaN"); err != nil || !math.IsNaN(v) {
		t.Errorf("NaN parsed as %v, %v", v, err)
	}
}

func TestCountersOf(t *testing.T) {
	samples, err := parseMetrics(metricsText)
	if err != nil {
		t.Fatal(err)
	}
	c := countersOf(samples)
	if c.Bytes["root"] != 120 || c.Bytes["branches"] != 2500 || c.Bytes["fetch"] != 1000 || len(c.Bytes) != 3 {
		t.Errorf("bytes %v", c.Bytes)
	}
	if c.Repaired["pulled"] != 7 || c.Repaired["pushed"] != 3 || c.Exchanges["equal"] != 40 || c.Exchanges["repaired"] != 2 {
		t.Errorf("repaired %v, exchanges %v", c.Repaired, c.Exchanges)
	}
	if c.BuildSeconds != 4.25 || c.HintsStored != 0 || c.ReadRepairs != 5 {
		t.Errorf("counters %+v", c)
	}

	// Deltas per node, summed: a node that restarted counts from zero.
	before := []aaeCounters{
		{Bytes: map[string]float64{"root": 100}, Repaired: map[string]float64{"pulled": 1}, HintsStored: 2},
		{Bytes: map[string]float64{"root": 50, "items": 10}},
		{},
	}
	after := []aaeCounters{
		{Bytes: map[string]float64{"root": 160, "push": 500}, Repaired: map[string]float64{"pulled": 1, "pushed": 4}, HintsStored: 2},
		{Bytes: map[string]float64{"root": 70, "items": 10}},
		{Bytes: map[string]float64{"root": 5, "fetch": 300}, Repaired: map[string]float64{"pulled": 4}, BuildSeconds: 3},
	}
	d := sumDeltas(after, before)
	want := map[string]float64{"root": 85, "push": 500, "items": 0, "fetch": 300}
	for k, v := range want {
		if d.Bytes[k] != v {
			t.Errorf("delta bytes[%s] = %v, want %v (all: %v)", k, d.Bytes[k], v, d.Bytes)
		}
	}
	if d.Repaired["pulled"] != 4 || d.Repaired["pushed"] != 4 || d.HintsStored != 0 || d.BuildSeconds != 0 {
		t.Errorf("delta %+v", d)
	}
}

func TestAAEBytesOf(t *testing.T) {
	delta := aaeCounters{
		Bytes:     map[string]float64{"root": 1000, "branches": 2000, "leaves": 3000, "items": 3000, "digests": 1000, "fetch": 25000, "push": 5000},
		Repaired:  map[string]float64{"pulled": 90, "pushed": 10},
		Exchanges: map[string]float64{"equal": 5, "repaired": 3},
	}
	b := aaeBytesOf(delta, 20000, 100)
	if b.TreeOverhead != 10000 || b.Objects != 30000 || b.Total != 40000 {
		t.Errorf("overhead %d, objects %d, total %d", b.TreeOverhead, b.Objects, b.Total)
	}
	if b.TotalRatio != 2 || b.ObjectsRatio != 1.5 || b.TotalPerMissingKey != 400 || b.OverheadPerMissingKey != 100 || !b.BoundMet {
		t.Errorf("figures %+v", b)
	}
	if b.KeysRepaired["pulled"] != 90 || b.ExchangesByOutcome["repaired"] != 3 {
		t.Errorf("repaired %v, exchanges %v", b.KeysRepaired, b.ExchangesByOutcome)
	}
	// Every step is listed, even one with no traffic.
	b = aaeBytesOf(aaeCounters{Bytes: map[string]float64{"root": 10, "fetch": 61}}, 20, 1)
	if len(b.ByStep) != 7 || b.ByStep["leaves"] != 0 || b.BoundMet || b.ObjectsRatio != 3.05 {
		t.Errorf("by step %v, bound met %v, objects ratio %v", b.ByStep, b.BoundMet, b.ObjectsRatio)
	}
	if b := aaeBytesOf(aaeCounters{Bytes: map[string]float64{"push": 60}}, 20, 1); !b.BoundMet {
		t.Error("objects of exactly 3x the missing bytes missed the bound")
	}
}

func TestPlaceKeyMatchesRing(t *testing.T) {
	for _, q := range []int{1, 16, 256} {
		r, err := ring.New(q, 3, []ring.Member{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range uint64(2000) {
			key := keyName(i)
			h := ring.KeyHash([]byte("bench"), []byte(key))
			p, s := placeKey("bench", key, q)
			if p != r.Partition(h) || s != r.Segment(h) {
				t.Fatalf("q=%d %s: placeKey = %d/%d, ring = %d/%d", q, key, p, s, r.Partition(h), r.Segment(h))
			}
		}
	}
}

func TestSpreadOf(t *testing.T) {
	s := spreadOf("bench", 0, 1, 256)
	if s != (Spread{1, 1, 1}) {
		t.Errorf("one key: %+v", s)
	}
	// 1000 keys on one partition: 32 branches of 32 segments; the keys
	// fill most segments and every branch.
	s = spreadOf("bench", 0, 1000, 1)
	if s.Partitions != 1 || s.Branches != 32 || s.Segments < 500 || s.Segments > 1000 {
		t.Errorf("1000 keys, Q=1: %+v", s)
	}
}

func TestWireSizes(t *testing.T) {
	// Item: segment (tag + 2-byte varint for 200), bucket, key and a
	// 16-byte digest each with a tag and a length, inside a tag and a
	// length.
	inner := 3 + (2 + 5) + (2 + 5) + (2 + 16)
	if got := itemWireSize("bench", "user1", 200); got != 2+inner {
		t.Errorf("item = %d bytes, want %d", got, 2+inner)
	}
	// A zero segment is not sent at all.
	if got := itemWireSize("bench", "user1", 0); got != 2+inner-3 {
		t.Errorf("item of segment 0 = %d bytes, want %d", got, 2+inner-3)
	}
	inner = 3 + (2 + 5) + (2 + 5) + (3 + 190)
	if got := objectWireSize("bench", "user1", 200, 190); got != 3+inner {
		t.Errorf("object = %d bytes, want %d", got, 3+inner)
	}

	f := fullScanOf("bench", 100, 16, 190, 1000)
	var items, objects int64
	for i := range uint64(100) {
		_, s := placeKey("bench", keyName(i), 16)
		items += int64(itemWireSize("bench", keyName(i), s))
		objects += int64(objectWireSize("bench", keyName(i), s, 190))
	}
	if f.KeyListBytes != items || f.StreamBytes != objects || f.KeyListRatio != float64(items)/1000 || f.StreamRatio != float64(objects)/1000 {
		t.Errorf("full scan %+v, want %d and %d bytes", f, items, objects)
	}
}

func TestEncodedSize(t *testing.T) {
	// An object written once, as the missing keys are, and one with two
	// siblings from two actors.
	wall := time.Date(2026, 11, 26, 7, 36, 11, 221659675, time.UTC).UnixNano()
	one, _, err := (&object.Object{}).Update(nil, dvv.Dot{Actor: 0xabaebec0b3e3c697, Counter: 70001},
		object.Content{Value: make([]byte, 100), ContentType: "application/octet-stream", Modified: hlc.Timestamp{Wall: wall}, WriteID: "Zm9vYmFyYmF6cXV4cXV1eA"}, object.Siblings)
	if err != nil {
		t.Fatal(err)
	}
	two, _, err := one.Update(nil, dvv.Dot{Actor: 0x12, Counter: 3},
		object.Content{Value: []byte("x"), ContentType: "text/plain", Modified: hlc.Timestamp{Wall: wall + 1}}, object.Siblings)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]*object.Object{"one version": one, "two siblings": two} {
		var lo localObject
		for _, e := range o.Entries {
			lo.Versions = append(lo.Versions, localVersion{
				Dot: e.Dot.String(), Value: e.Value.Value, ContentType: e.Value.ContentType,
				LastModified: time.Unix(0, e.Value.Modified.Wall).UTC(), Deleted: e.Value.Deleted, WriteID: e.Value.WriteID,
			})
		}
		// Through JSON, as a node answers it.
		raw, err := json.Marshal(lo)
		if err != nil {
			t.Fatal(err)
		}
		var back localObject
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		got, err := encodedSize(&back)
		if want := len(object.Encode(o)); err != nil || got != want {
			t.Errorf("%s: encodedSize = %d, %v; want %d", name, got, err, want)
		}
	}
	for _, bad := range []string{"", "ab", "xyz:1", "ab:0", "ab:-1", "11112222333344445:1"} {
		if _, err := encodedSize(&localObject{Versions: []localVersion{{Dot: bad}}}); err == nil {
			t.Errorf("dot %q accepted", bad)
		}
	}
	if _, err := encodedSize(&localObject{}); err == nil {
		t.Error("an object without versions has a size")
	}
}

func TestNewObjectSize(t *testing.T) {
	// Records 98 to 101: keys user98, user99 (6 bytes), user100, user101
	// (7 bytes); one sample missing (0) is left out.
	o := newObjectSize([]int{190, 0, 200, 195}, "bench", 98, 102)
	if o.Sampled != 3 || o.EncodedMean != 195 || o.EncodedMin != 190 || o.EncodedMax != 200 || o.BucketBytes != 5 || o.KeyBytesMean != 6.5 {
		t.Errorf("object size %+v", o)
	}
	if want := int64(4*195 + 4*5 + 26); o.MissingBytes != want {
		t.Errorf("missing bytes %d, want %d", o.MissingBytes, want)
	}
}

func TestSampleKeys(t *testing.T) {
	if got := sampleKeys(10, 13, 64); len(got) != 3 || got[0] != 10 || got[2] != 12 {
		t.Errorf("few keys: %v", got)
	}
	got := sampleKeys(1000, 2000, 4)
	if len(got) != 4 || got[0] != 1000 || got[1] != 1250 || got[3] != 1750 {
		t.Errorf("spread: %v", got)
	}
}

// status builds a node's answer from roots by partition ("" unbuilt).
func status(roots ...string) aaeStatus {
	var st aaeStatus
	for p, r := range roots {
		st.Partitions = append(st.Partitions, struct {
			Partition int    `json:"partition"`
			Root      string `json:"root"`
		}{p, r})
		if r != "" {
			st.TreesBuilt++
		}
	}
	return st
}

func TestCompareRoots(t *testing.T) {
	c := compareRoots([]aaeStatus{status("a", "b", "c", "d"), status("a", "x", "", "d"), status("a", "b", "c")})
	if strings.Join(intsToStrings(c.equal), ",") != "0" || strings.Join(intsToStrings(c.differ), ",") != "1" || strings.Join(intsToStrings(c.unbuilt), ",") != "2,3" {
		t.Errorf("equal %v, differ %v, unbuilt %v", c.equal, c.differ, c.unbuilt)
	}
	if c.allEqual() {
		t.Error("all equal")
	}
	if c := compareRoots([]aaeStatus{status("a", "b"), status("a", "b")}); !c.allEqual() {
		t.Errorf("%+v not all equal", c)
	}
	if c := compareRoots([]aaeStatus{{}, {}}); c.allEqual() {
		t.Error("no partition counts as all equal")
	}
}

func intsToStrings(xs []int) []string {
	var out []string
	for _, x := range xs {
		out = append(out, strconv.Itoa(x))
	}
	return out
}

func TestConvergence(t *testing.T) {
	c := newConvergence()
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	// n3's trees not built yet.
	c.observe(sec(1), []aaeStatus{status("a", "b", "c"), status("a", "b", "c"), status("", "", "")})
	// Partition 0 repaired; 2 differs (missing keys), 1 differs too.
	c.observe(sec(2), []aaeStatus{status("a", "b", "c"), status("a", "b", "c"), status("a", "x", "y")})
	// Partition 1 repaired, but a write in flight makes 0 differ now.
	c.observe(sec(3), []aaeStatus{status("a2", "b", "c"), status("a", "b", "c"), status("a", "b", "y")})
	if c.converged() || c.allEqualSeen {
		t.Fatalf("converged with partition 2 never equal: %+v", c)
	}
	c.observe(sec(4), []aaeStatus{status("a3", "b", "c"), status("a3", "b", "c"), status("a2", "b", "c")})
	if !c.converged() || c.at != sec(4) || c.allEqualSeen {
		t.Fatalf("after every partition was seen equal: converged %v at %v, all equal seen %v", c.converged(), c.at, c.allEqualSeen)
	}
	if c.firstEqual[0] != sec(2) || c.firstEqual[1] != sec(3) || c.firstEqual[2] != sec(4) {
		t.Errorf("first equal %v", c.firstEqual)
	}
	c.observe(sec(5), []aaeStatus{status("a3", "b", "c"), status("a3", "b", "c"), status("a3", "b", "c")})
	if !c.allEqualSeen || c.allEqualAt != sec(5) || c.at != sec(4) {
		t.Errorf("all equal seen %v at %v; converged at %v", c.allEqualSeen, c.allEqualAt, c.at)
	}
}

func TestAAEWorkloadWindows(t *testing.T) {
	// 10 ops a second for 10 s, 2 ms each, then 5 a second for 10 s at
	// 4 ms: the replicas converge 10 s after the workload started.
	var l writeLog
	origin := time.Unix(1000, 0)
	l.origin = origin
	for i := range 100 {
		l.add(opUpdate, origin.Add(time.Duration(i)*100*time.Millisecond), 2*time.Millisecond, nil)
	}
	for i := range 50 {
		l.add(opUpdate, origin.Add(10*time.Second+time.Duration(i)*200*time.Millisecond), 4*time.Millisecond, nil)
	}
	tl := mergeLogs([]*writeLog{&l}, 20*time.Second)
	w := &AAEWorkload{Before: windowOf("before", tl, 0, 10*time.Second)}
	conv := newConvergence()
	conv.observe(12*time.Second, []aaeStatus{status("a"), status("a"), status("a")})
	// The workload began 2 s after the restart.
	w.setConverging(tl, 2*time.Second, aaeEvents{conv: conv})
	if w.Converging == nil || w.Converging.ToSec != 10 || w.Converging.Ops != 100 || w.After == nil || w.After.Ops != 50 || w.After.ToSec != 20 {
		t.Fatalf("windows %+v %+v", w.Converging, w.After)
	}
	if *w.ThroughputRatio != 1 || *w.P99Ratio != 1 || *w.ThroughputRatioAfter != 2 || math.Abs(*w.P99RatioAfter-0.5) > 0.01 {
		t.Errorf("ratios %v %v %v %v", *w.ThroughputRatio, *w.P99Ratio, *w.ThroughputRatioAfter, *w.P99RatioAfter)
	}
	// No paused window: no paused ratio, no verdict on the bound.
	if w.ThroughputRatioPaused != nil || w.P99RatioPaused != nil || w.P99BoundMet != nil || w.OpRatiosPaused != nil {
		t.Errorf("paused ratios without a paused window: %v %v %v %v", w.ThroughputRatioPaused, w.P99RatioPaused, w.P99BoundMet, w.OpRatiosPaused)
	}
	// Not converged: the whole workload is the converging window.
	w2 := &AAEWorkload{Before: w.After}
	w2.setConverging(tl, 0, aaeEvents{conv: newConvergence()})
	if w2.Converging.ToSec != 20 || w2.After != nil || math.Abs(*w2.ThroughputRatio-1.5) > 1e-9 || w2.ThroughputRatioAfter != nil {
		t.Errorf("unconverged: %+v, ratio %v", w2.Converging, *w2.ThroughputRatio)
	}
}

// mixedLog is a workload of reads and updates: every 100 ms a read of
// read and an update of update, for secs seconds; and one failed update.
func mixedLog(secs int, read, update time.Duration) *timeline {
	var l writeLog
	origin := time.Unix(1000, 0)
	l.origin = origin
	for i := range 10 * secs {
		at := origin.Add(time.Duration(i) * 100 * time.Millisecond)
		l.add(opRead, at, read, nil)
		l.add(opUpdate, at, update, nil)
	}
	l.add(opUpdate, origin.Add(time.Second), time.Millisecond, &opError{kind: "unavailable", err: errors.New("boom")})
	return mergeLogs([]*writeLog{&l}, time.Duration(secs)*time.Second)
}

func TestWindowOperations(t *testing.T) {
	win := windowOf("paused", mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, 10*time.Second)
	if win.Ops != 200 || win.Errors != 1 || win.OpsPerSec != 20 || len(win.Operations) != 2 {
		t.Fatalf("window %+v", win)
	}
	rd, up := win.Operations["read"], win.Operations["update"]
	if rd == nil || up == nil {
		t.Fatalf("operations %v", win.Operations)
	}
	if rd.Ops != 100 || rd.Errors != 0 || rd.OpsPerSec != 10 || math.Abs(rd.Latency.P99-1) > 0.01 || math.Abs(rd.Latency.P50-1) > 0.01 {
		t.Errorf("read %+v", rd)
	}
	if up.Ops != 100 || up.Errors != 1 || up.OpsPerSec != 10 || math.Abs(up.Latency.P99-3) > 0.02 {
		t.Errorf("update %+v", up)
	}
	// The overall p99 is the updates' (half the operations take 3 ms).
	if math.Abs(win.Latency.P99-3) > 0.02 || math.Abs(win.Latency.P50-1) > 0.01 {
		t.Errorf("overall latency %+v", win.Latency)
	}
	// A window with no operation lists none.
	if empty := windowOf("after", mixedLog(1, time.Millisecond, time.Millisecond), 5*time.Second, 6*time.Second); empty.Ops != 0 || len(empty.Operations) != 0 {
		t.Errorf("empty window %+v", empty)
	}
}

// convergeAt10s gives w a workload that began at the resume, 3 s after the
// restart, and converged 10 s into it: reads every 100 ms and updates
// every 200 ms while converging, both every 100 ms for the 10 s after,
// with the given latencies.
func convergeAt10s(w *AAEWorkload, read, update, readAfter, updateAfter time.Duration) {
	var l writeLog
	origin := time.Unix(1000, 0)
	l.origin = origin
	for i := range 200 {
		at := origin.Add(time.Duration(i) * 100 * time.Millisecond)
		r, u := read, update
		if i >= 100 {
			r, u = readAfter, updateAfter
		}
		l.add(opRead, at, r, nil)
		if i%2 == 0 || i >= 100 { // half the updates while converging
			l.add(opUpdate, at, u, nil)
		}
	}
	tl := mergeLogs([]*writeLog{&l}, 20*time.Second)
	conv := newConvergence()
	conv.observe(13*time.Second, []aaeStatus{status("a"), status("a"), status("a")})
	w.setConverging(tl, 3*time.Second, aaeEvents{conv: conv, resumed: 3 * time.Second})
}

func TestPausedComparison(t *testing.T) {
	// Paused: reads 1 ms, updates 3 ms. Converging: reads 1.1 ms, updates
	// 3.3 ms (the overall p99 1.1x: within 20%); after convergence as
	// paused.
	w := &AAEWorkload{Before: windowOf("before", mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, 10*time.Second)}
	w.setPaused(windowOf("paused", mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, 10*time.Second),
		aaeCounters{Bytes: map[string]float64{"root": 0}, ReadRepairs: 2})
	if !w.PausedQuiet || w.PausedReadRepairs != 2 || w.PausedAAEBytes["root"] != 0 {
		t.Errorf("paused counters: quiet %v, read repairs %d, bytes %v", w.PausedQuiet, w.PausedReadRepairs, w.PausedAAEBytes)
	}
	// The workload began at the resume, 3 s after the restart.
	convergeAt10s(w, 1100*time.Microsecond, 3300*time.Microsecond, time.Millisecond, 3*time.Millisecond)
	if w.Converging.Ops != 150 || w.After.Ops != 200 {
		t.Fatalf("converging %+v, after %+v", w.Converging, w.After)
	}
	if w.P99RatioPaused == nil || math.Abs(*w.P99RatioPaused-1.1) > 0.01 || math.Abs(*w.ThroughputRatioPaused-0.75) > 1e-9 {
		t.Fatalf("paused ratios %v %v", w.P99RatioPaused, w.ThroughputRatioPaused)
	}
	if w.P99BoundMet == nil || !*w.P99BoundMet {
		t.Errorf("p99 1.1x the paused one: bound met %v", w.P99BoundMet)
	}
	rd, up := w.OpRatiosPaused["read"], w.OpRatiosPaused["update"]
	if len(w.OpRatiosPaused) != 2 || math.Abs(rd.P99Ratio-1.1) > 0.01 || rd.ThroughputRatio != 1 || math.Abs(up.P99Ratio-1.1) > 0.01 || up.ThroughputRatio != 0.5 {
		t.Errorf("per-op ratios against paused %+v", w.OpRatiosPaused)
	}
	// The comparisons with before and after, per operation too.
	if w.OpRatios["update"].ThroughputRatio != 0.5 || math.Abs(w.OpRatiosAfter["read"].P99Ratio-1.1) > 0.01 || w.P99Ratio == nil || w.P99RatioAfter == nil {
		t.Errorf("per-op ratios against before %+v, after %+v", w.OpRatios, w.OpRatiosAfter)
	}

	// Converging 1.3x slower than paused: the bound is missed.
	w.setPaused(windowOf("paused", mixedLog(10, 846*time.Microsecond, 2538*time.Microsecond), 0, 10*time.Second),
		aaeCounters{Bytes: map[string]float64{"root": 40, "fetch": 2}})
	convergeAt10s(w, 1100*time.Microsecond, 3300*time.Microsecond, time.Millisecond, 3*time.Millisecond)
	if w.P99BoundMet == nil || *w.P99BoundMet || math.Abs(*w.P99RatioPaused-1.3) > 0.02 {
		t.Errorf("p99 ratio %v: bound met %v", *w.P99RatioPaused, w.P99BoundMet)
	}
	if w.PausedQuiet || sumInts(w.PausedAAEBytes) != 42 {
		t.Errorf("anti-entropy bytes while paused %v: quiet %v", w.PausedAAEBytes, w.PausedQuiet)
	}
}

// opLat is one successful operation of a test log, or a failed one with
// failed set.
type opLat struct {
	op     opKind
	lat    time.Duration
	failed bool
}

// ops returns n operations op of latency lat.
func ops(n int, op opKind, lat time.Duration) []opLat {
	out := make([]opLat, n)
	for i := range out {
		out[i] = opLat{op: op, lat: lat}
	}
	return out
}

// spreadLog is a workload phase of offset+secs seconds whose operations,
// in the order given, start evenly spread over its last secs seconds.
func spreadLog(offset, secs int, list ...[]opLat) *timeline {
	var all []opLat
	for _, l := range list {
		all = append(all, l...)
	}
	var l writeLog
	origin := time.Unix(1000, 0)
	l.origin = origin
	step := time.Duration(secs) * time.Second / time.Duration(len(all))
	for i, o := range all {
		var err error
		if o.failed {
			err = &opError{kind: "unavailable", err: errors.New("boom")}
		}
		l.add(o.op, origin.Add(time.Duration(offset)*time.Second+time.Duration(i)*step), o.lat, err)
	}
	return mergeLogs([]*writeLog{&l}, time.Duration(offset+secs)*time.Second)
}

// interleave alternates the operations of a and b, a first.
func interleave(a, b []opLat) []opLat {
	var out []opLat
	for i := range max(len(a), len(b)) {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

func TestPoolWindows(t *testing.T) {
	ms := time.Millisecond
	// a: 10 s, 50 reads and 50 updates of 1 ms, one failed update: p99
	// 1 ms, 10 ops/s.
	a := windowOf("paused", spreadLog(0, 10, interleave(ops(50, opRead, ms), ops(50, opUpdate, ms)), []opLat{{op: opUpdate, lat: ms, failed: true}}), 0, 10*time.Second)
	// b: 2 s (from 2 s to 4 s of its run), reads and updates each 49 of
	// 2 ms and one of 10 ms, one failed read: p99 10 ms, 50 ops/s.
	slow := func(op opKind) []opLat { return append(ops(49, op, 2*ms), opLat{op: op, lat: 10 * ms}) }
	b := windowOf("paused-again", spreadLog(2, 2, interleave(slow(opRead), slow(opUpdate)), []opLat{{op: opRead, lat: ms, failed: true}}), 2*time.Second, 4*time.Second)
	if a.Ops != 100 || a.OpsPerSec != 10 || math.Abs(a.Latency.P99-1) > 0.01 || b.Ops != 100 || b.OpsPerSec != 50 || math.Abs(b.Latency.P99-10) > 0.05 {
		t.Fatalf("windows a %+v, b %+v", a, b)
	}
	p := poolWindows("baseline", a, b)
	if p == nil {
		t.Fatal("no pooled window")
	}
	// 200 operations in 12 s (not the mean of 10 and 50 ops/s); sorted,
	// 100 of 1 ms, 98 of 2 ms, 2 of 10 ms: the 198th, the p99, is 2 ms
	// (not either window's p99, nor their mean).
	if p.Name != "baseline" || p.Ops != 200 || p.Errors != 2 || p.FromSec != 0 || p.ToSec != 12 || math.Abs(p.OpsPerSec-200.0/12) > 1e-9 {
		t.Errorf("pooled %+v", p)
	}
	if math.Abs(p.Latency.P99-2) > 0.01 || math.Abs(p.Latency.P50-1) > 0.01 || math.Abs(p.Latency.Max-10) > 0.05 || math.Abs(p.Latency.Min-1) > 0.01 {
		t.Errorf("pooled latency %+v", p.Latency)
	}
	// Per operation: 100 each in 12 s; sorted, 50 of 1 ms, 49 of 2 ms,
	// one of 10 ms: the 99th is 2 ms. Each has one error.
	for _, name := range []string{"read", "update"} {
		op := p.Operations[name]
		if op == nil || op.Ops != 100 || op.Errors != 1 || math.Abs(op.OpsPerSec-100.0/12) > 1e-9 || math.Abs(op.Latency.P99-2) > 0.01 || math.Abs(op.Latency.Max-10) > 0.05 {
			t.Errorf("pooled %s %+v", name, op)
		}
	}
	if len(p.Operations) != 2 {
		t.Errorf("pooled operations %v", p.Operations)
	}
	// The order does not matter, and the windows are left as they were.
	if q := poolWindows("baseline", b, a); q == nil || q.Ops != p.Ops || q.Latency != p.Latency || q.OpsPerSec != p.OpsPerSec {
		t.Errorf("pooled the other way round %+v", q)
	}
	if a.Ops != 100 || math.Abs(a.Latency.P99-1) > 0.01 || a.lat.total != 100 || b.Operations["read"].lat.total != 50 {
		t.Errorf("pooling changed its windows: %+v %+v", a, b)
	}
	// One window pooled is that window, over its own seconds.
	if one := poolWindows("baseline", b); one == nil || one.Ops != 100 || one.ToSec != 2 || one.OpsPerSec != 50 || one.Latency != b.Latency || one.Operations["read"].Latency != b.Operations["read"].Latency {
		t.Errorf("one window pooled %+v", one)
	}
	// A pooled window can be pooled again.
	if again := poolWindows("x", p, a); again == nil || again.Ops != 300 || again.ToSec != 22 {
		t.Errorf("pooled again %+v", again)
	}
	// Nothing to pool, or a window without its latencies: no window.
	literal := &WorkloadWindow{Name: "literal", Ops: 10, OpsPerSec: 1, Latency: Latency{P99: 1}}
	for name, ws := range map[string][]*WorkloadWindow{"none": nil, "nil": {a, nil}, "literal": {a, literal}} {
		if got := poolWindows("baseline", ws...); got != nil {
			t.Errorf("%s: pooled %+v", name, got)
		}
	}
}

// TestBaselineBracket checks the A-B-A bracket: the baseline is both
// paused windows pooled, the bound is judged on it, and the converging,
// after and paused-again windows are compared with the others.
func TestBaselineBracket(t *testing.T) {
	ms := time.Millisecond
	us := time.Microsecond
	w := &AAEWorkload{Before: windowOf("before", mixedLog(10, ms, 3*ms), 0, 10*time.Second)}
	// Paused: 10 s, reads of 1 ms and updates of 3 ms, 20 ops/s.
	w.setPaused(windowOf("paused", mixedLog(10, ms, 3*ms), 0, 10*time.Second), aaeCounters{})
	// Converging (10 s): reads of 1.3 ms every 100 ms, updates of 3.9 ms
	// every 200 ms, 15 ops/s; after (10 s): reads of 1.8 ms and updates
	// of 3.6 ms every 100 ms, 20 ops/s.
	convergeAt10s(w, 1300*us, 3900*us, 1800*us, 3600*us)
	if w.Converging.Ops != 150 || w.After.Ops != 200 {
		t.Fatalf("converging %+v, after %+v", w.Converging, w.After)
	}
	near := func(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 0.01 }

	// Before the paused-again window the baseline is the paused window:
	// converging p99 3.9 / 3 ms, over the bound.
	if w.Baseline == nil || w.Baseline.Ops != 200 || !slices.Equal(w.BaselineWindows, []string{"paused"}) || !near(w.P99RatioBaseline, 1.3) || w.P99BoundMet == nil || *w.P99BoundMet {
		t.Fatalf("baseline of the paused window alone %+v %v: p99 ratio %v, bound met %v", w.Baseline, w.BaselineWindows, w.P99RatioBaseline, w.P99BoundMet)
	}
	if w.PausedAgainQuiet != nil || w.PausedAgainReadRepairs != nil || w.DriftP99Ratio != nil || w.P99RatioPausedAgain != nil {
		t.Errorf("paused-again figures without the window: quiet %v, read repairs %v, drift %v, converging / paused again %v", w.PausedAgainQuiet, w.PausedAgainReadRepairs, w.DriftP99Ratio, w.P99RatioPausedAgain)
	}

	// Paused again: 5 s, reads of 2 ms and updates of 4 ms, 10 ops/s.
	again := windowOf("paused-again", spreadLog(0, 5, interleave(ops(25, opRead, 2*ms), ops(25, opUpdate, 4*ms))), 0, 5*time.Second)
	w.setPausedAgain(again, aaeCounters{Bytes: map[string]float64{"root": 0}, ReadRepairs: 4})
	if w.PausedAgain != again || w.PausedAgainQuiet == nil || !*w.PausedAgainQuiet || w.PausedAgainReadRepairs == nil || *w.PausedAgainReadRepairs != 4 {
		t.Errorf("paused-again counters: quiet %v, read repairs %v", w.PausedAgainQuiet, w.PausedAgainReadRepairs)
	}
	// The baseline: 250 operations in 15 s, 16.7 ops/s; sorted, 100 of
	// 1 ms, 25 of 2, 100 of 3 and 25 of 4: the p99 is 4 ms. Reads: 125,
	// 100 of 1 ms and 25 of 2, p99 2 ms; updates: 100 of 3 ms and 25 of
	// 4, p99 4 ms; 8.3 ops/s each.
	bl := w.Baseline
	if bl == nil || bl.Ops != 250 || bl.Ops != w.Paused.Ops+w.PausedAgain.Ops || bl.Errors != 1 || bl.ToSec != 15 || math.Abs(bl.OpsPerSec-250.0/15) > 1e-9 || math.Abs(bl.Latency.P99-4) > 0.02 {
		t.Fatalf("baseline %+v", bl)
	}
	if !slices.Equal(w.BaselineWindows, []string{"paused", "paused-again"}) {
		t.Errorf("baseline windows %v", w.BaselineWindows)
	}
	if rd, up := bl.Operations["read"], bl.Operations["update"]; rd == nil || up == nil || rd.Ops != 125 || up.Ops != 125 || math.Abs(rd.Latency.P99-2) > 0.01 || math.Abs(up.Latency.P99-4) > 0.02 {
		t.Errorf("baseline per op %+v %+v", rd, up)
	}
	// The headline: converging / baseline, p99 3.9 / 4 ms, within the
	// bound now; ops/s 15 / 16.7.
	if !near(w.P99RatioBaseline, 0.975) || !near(w.ThroughputRatioBaseline, 0.9) || w.P99BoundMet == nil || !*w.P99BoundMet {
		t.Errorf("converging / baseline: p99 %v, ops/s %v, bound met %v", w.P99RatioBaseline, w.ThroughputRatioBaseline, w.P99BoundMet)
	}
	checkOpRatios(t, "converging / baseline", w.OpRatiosBaseline, map[string]OpRatio{
		"read": {P99Ratio: 1.3 / 2, ThroughputRatio: 10 / (125.0 / 15)}, "update": {P99Ratio: 3.9 / 4, ThroughputRatio: 5 / (125.0 / 15)},
	})
	// Converging against each paused window alone.
	if !near(w.P99RatioPaused, 1.3) || !near(w.ThroughputRatioPaused, 0.75) || !near(w.P99RatioPausedAgain, 0.975) || !near(w.ThroughputRatioPausedAgain, 1.5) {
		t.Errorf("converging / paused: p99 %v, ops/s %v; / paused again: p99 %v, ops/s %v", w.P99RatioPaused, w.ThroughputRatioPaused, w.P99RatioPausedAgain, w.ThroughputRatioPausedAgain)
	}
	checkOpRatios(t, "converging / paused again", w.OpRatiosPausedAgain, map[string]OpRatio{
		"read": {P99Ratio: 1.3 / 2, ThroughputRatio: 2}, "update": {P99Ratio: 3.9 / 4, ThroughputRatio: 1},
	})
	// After / baseline: p99 3.6 / 4 ms, ops/s 20 / 16.7.
	if !near(w.AfterP99RatioBaseline, 0.9) || !near(w.AfterThroughputRatioBaseline, 1.2) {
		t.Errorf("after / baseline: p99 %v, ops/s %v", w.AfterP99RatioBaseline, w.AfterThroughputRatioBaseline)
	}
	checkOpRatios(t, "after / baseline", w.AfterOpRatiosBaseline, map[string]OpRatio{
		"read": {P99Ratio: 0.9, ThroughputRatio: 1.2}, "update": {P99Ratio: 0.9, ThroughputRatio: 1.2},
	})
	// Drift: paused again / paused, p99 4 / 3 ms, ops/s 10 / 20.
	if !near(w.DriftP99Ratio, 4.0/3) || !near(w.DriftThroughputRatio, 0.5) {
		t.Errorf("drift: p99 %v, ops/s %v", w.DriftP99Ratio, w.DriftThroughputRatio)
	}
	checkOpRatios(t, "drift", w.DriftOpRatios, map[string]OpRatio{
		"read": {P99Ratio: 2, ThroughputRatio: 0.5}, "update": {P99Ratio: 4.0 / 3, ThroughputRatio: 0.5},
	})
	// The converging window against before and after are as they were.
	if !near(w.P99RatioAfter, 3.9/3.6) || !near(w.ThroughputRatioAfter, 0.75) || !near(w.P99Ratio, 1.3) {
		t.Errorf("converging / after: p99 %v, ops/s %v; / before: p99 %v", w.P99RatioAfter, w.ThroughputRatioAfter, w.P99Ratio)
	}

	// Anti-entropy bytes during the paused-again window.
	w.setPausedAgain(again, aaeCounters{Bytes: map[string]float64{"root": 30, "leaves": 12}})
	if w.PausedAgainQuiet == nil || *w.PausedAgainQuiet || sumInts(w.PausedAgainAAEBytes) != 42 {
		t.Errorf("anti-entropy bytes while paused again %v: quiet %v", w.PausedAgainAAEBytes, w.PausedAgainQuiet)
	}

	// The text says what the baseline is, and the drift.
	var b strings.Builder
	w.writeCost(&b)
	for _, want := range []string{
		"foreground p99 while converging: 0.97x its level with anti-entropy paused (both paused windows; within 20%: yes); ops/s 0.90x; read: p99 0.65x, ops/s 1.20x; update: p99 0.97x, ops/s 0.60x\n",
		"  drift: paused again / paused: p99 1.33x, ops/s 0.50x; read: p99 2.00x, ops/s 0.50x; update: p99 1.33x, ops/s 0.50x\n",
		"  after convergence (anti-entropy on, replicas equal) / baseline: p99 0.90x, ops/s 1.20x",
		"  converging / paused again: p99 0.97x, ops/s 1.50x",
		"WARNING: anti-entropy sent 42 bytes during the paused-again window",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("cost lacks %q:\n%s", want, b.String())
		}
	}
}

// checkOpRatios checks per-operation ratios against want, within 0.01.
func checkOpRatios(t *testing.T, name string, got, want map[string]OpRatio) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %+v, want %+v", name, got, want)
		return
	}
	for op, w := range want {
		g, ok := got[op]
		if !ok || math.Abs(g.P99Ratio-w.P99Ratio) > 0.01 || math.Abs(g.ThroughputRatio-w.ThroughputRatio) > 0.01 {
			t.Errorf("%s %s: %+v, want %+v", name, op, g, w)
		}
	}
}

func TestAAEWorkloadJSON(t *testing.T) {
	w := &AAEWorkload{Before: windowOf("before", mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, 10*time.Second)}
	w.setPaused(windowOf("paused", mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, 10*time.Second), aaeCounters{})
	conv := newConvergence()
	conv.observe(5*time.Second, []aaeStatus{status("a"), status("a"), status("a")})
	w.setConverging(mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, aaeEvents{conv: conv})
	w.setPausedAgain(windowOf("paused-again", mixedLog(10, time.Millisecond, 3*time.Millisecond), 0, 10*time.Second), aaeCounters{})
	raw, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"paused", "throughput_ratio_paused", "p99_ratio_paused", "p99_bound_met", "op_ratios_paused", "op_ratios", "op_ratios_after", "paused_quiet", "paused_read_repairs",
		"paused_again", "baseline", "baseline_windows", "throughput_ratio_baseline", "p99_ratio_baseline", "op_ratios_baseline",
		"throughput_ratio_paused_again", "p99_ratio_paused_again", "op_ratios_paused_again",
		"after_throughput_ratio_baseline", "after_p99_ratio_baseline", "after_op_ratios_baseline",
		"drift_throughput_ratio", "drift_p99_ratio", "drift_op_ratios", "paused_again_quiet", "paused_again_read_repairs",
	} {
		if _, ok := m[key]; !ok {
			t.Errorf("no %q in %s", key, raw)
		}
	}
	paused, _ := m["paused"].(map[string]any)
	ops, _ := paused["operations"].(map[string]any)
	read, _ := ops["read"].(map[string]any)
	lat, _ := read["latency_ms"].(map[string]any)
	if lat["p50"] == nil || lat["p99"] == nil || read["ops_per_sec"] != 10.0 {
		t.Errorf("paused window's read: %v", read)
	}
	if m["p99_bound_met"] != true || m["op_ratios_paused"].(map[string]any)["update"] == nil {
		t.Errorf("bound met %v, per op %v", m["p99_bound_met"], m["op_ratios_paused"])
	}
	baseline, _ := m["baseline"].(map[string]any)
	if baseline["name"] != "baseline" || baseline["ops"] != 400.0 || baseline["from_s"] != 0.0 || baseline["to_s"] != 20.0 || baseline["operations"] == nil {
		t.Errorf("baseline %v", baseline)
	}
	if m["paused_again_quiet"] != true || m["drift_p99_ratio"] != 1.0 {
		t.Errorf("paused again quiet %v, drift %v", m["paused_again_quiet"], m["drift_p99_ratio"])
	}
}

func TestCompareWindows(t *testing.T) {
	base := &WorkloadWindow{Ops: 10, OpsPerSec: 5, Latency: Latency{P99: 2}, Operations: map[string]*WindowOp{
		"read":   {Ops: 10, OpsPerSec: 5, Latency: Latency{P99: 2}},
		"update": {Ops: 0, Errors: 3},
	}}
	w := &WorkloadWindow{Ops: 12, OpsPerSec: 6, Latency: Latency{P99: 3}, Operations: map[string]*WindowOp{
		"read":   {Ops: 6, OpsPerSec: 3, Latency: Latency{P99: 1}},
		"update": {Ops: 6, OpsPerSec: 3, Latency: Latency{P99: 5}},
	}}
	if tput, p99 := compareWindows(w, base); tput == nil || *tput != 1.2 || *p99 != 1.5 {
		t.Errorf("compareWindows = %v, %v", tput, p99)
	}
	// Only operations both windows completed are compared.
	if ops := compareOps(w, base); len(ops) != 1 || ops["read"] != (OpRatio{ThroughputRatio: 0.6, P99Ratio: 0.5}) {
		t.Errorf("compareOps = %+v", ops)
	}
	// Nothing to divide by: no ratio (JSON has no infinity).
	for name, b := range map[string]*WorkloadWindow{
		"nil": nil, "no ops": {}, "no p99": {Ops: 1, OpsPerSec: 1}, "no throughput": {Ops: 1, Latency: Latency{P99: 1}},
	} {
		if tput, p99 := compareWindows(w, b); tput != nil || p99 != nil {
			t.Errorf("%s: compareWindows = %v, %v", name, *tput, *p99)
		}
		if ops := compareOps(w, b); ops != nil {
			t.Errorf("%s: compareOps = %v", name, ops)
		}
	}
}

func TestSetConvergenceFromResume(t *testing.T) {
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	conv := newConvergence()
	conv.observe(sec(12), []aaeStatus{status("a", "b"), status("a", "b"), status("a", "x")})
	conv.observe(sec(14), []aaeStatus{status("a2", "b"), status("a", "b"), status("a", "b")})
	conv.observe(sec(15), []aaeStatus{status("a", "b"), status("a", "b"), status("a", "b")})
	var r AAEReport
	r.setConvergence(aaeEvents{conv: conv, resumed: sec(10), treesSeen: true, treesBuilt: sec(11.5), buildSeconds: 1.25})
	if !r.Converged || *r.ConvergedAfterSec != 14 || *r.ConvergedAfterResumeSec != 4 || *r.AllEqualAfterSec != 15 || *r.AllEqualAfterResumeSec != 5 {
		t.Errorf("converged %v after %v s (%v s after the resume); all equal after %v s (%v)", r.Converged, *r.ConvergedAfterSec, *r.ConvergedAfterResumeSec, *r.AllEqualAfterSec, *r.AllEqualAfterResumeSec)
	}
	if *r.TreesBuiltAfterSec != 11.5 || *r.TreesBuiltAfterResumeSec != 1.5 || *r.TreeBuildSec != 1.25 {
		t.Errorf("trees built after %v s (%v after the resume), build %v s", *r.TreesBuiltAfterSec, *r.TreesBuiltAfterResumeSec, *r.TreeBuildSec)
	}
	var none AAEReport
	none.setConvergence(aaeEvents{conv: newConvergence(), resumed: sec(10)})
	if none.Converged || none.ConvergedAfterResumeSec != nil || none.AllEqualAfterResumeSec != nil || none.TreesBuiltAfterResumeSec != nil {
		t.Errorf("not converged: %+v", none)
	}
}

func TestCheckPauseAnswer(t *testing.T) {
	ans := func(code int, body string) answer {
		return answer{node: "n1", method: "POST", path: "/v1/debug/aae/pause", code: code, status: strconv.Itoa(code) + " X", body: []byte(body)}
	}
	if err := checkPauseAnswer(ans(200, `{"paused": true}`), true); err != nil {
		t.Errorf("pause answered: %v", err)
	}
	if err := checkPauseAnswer(ans(200, `{"paused":false}`+"\n"), false); err != nil {
		t.Errorf("resume answered: %v", err)
	}
	for _, c := range []struct {
		a    answer
		want string
	}{
		{ans(404, "404 page not found"), "404 X: 404 page not found (want 200"},
		{ans(204, ""), "204 X"},
		{ans(200, `{"paused": false}`), `answered {"paused": false}, want {"paused": true}`},
		{ans(200, `{}`), `want {"paused": true}`},
		{ans(200, `not json`), `answered not json`},
	} {
		if err := checkPauseAnswer(c.a, true); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "n1") {
			t.Errorf("%d %q: error %v, want one saying %q and naming n1", c.a.code, c.a.body, err, c.want)
		}
	}
}

func TestAAEValidation(t *testing.T) {
	a, _ := ParseWorkload("a")
	good := Config{
		Workload: a, Records: 1000, Duration: 10 * time.Second, Concurrency: 32, Bucket: "b",
		AAE: &AAERun{Missing: 0.01},
	}
	if proto, targets, err := good.validate(); err != nil || proto != protocolGRPC || targets != nil {
		t.Fatalf("validate = %v %v %v", proto, targets, err)
	}
	noWorkload := good
	noWorkload.Duration = 0
	if _, _, err := noWorkload.validate(); err != nil {
		t.Errorf("no workload: %v", err)
	}
	refused(t, func() Config {
		cfg := good
		run := *good.AAE
		cfg.AAE = &run
		return cfg
	}, map[string]invalid{
		"endpoints":         {func(c *Config) { c.Endpoints = []string{"grpc://a:1"} }, "cannot be used with --endpoints"},
		"failover too":      {func(c *Config) { c.Failover = &Failover{KillAfter: time.Second} }, "cannot also be a failover run"},
		"skip load":         {func(c *Config) { c.SkipLoad = true }, "cannot skip the load"},
		"zero missing":      {func(c *Config) { c.AAE.Missing = 0 }, "strictly between 0 and 1"},
		"all missing":       {func(c *Config) { c.AAE.Missing = 1 }, "strictly between 0 and 1"},
		"too few records":   {func(c *Config) { c.AAE.Missing = 0.0001 }, "is 0 keys"},
		"nothing loaded":    {func(c *Config) { c.AAE.Missing = 0.9999 }, "leaves no record loaded"},
		"negative duration": {func(c *Config) { c.Duration = -time.Second }, "duration must not be negative"},
		"negative interval": {func(c *Config) { c.AAE.Interval = -time.Second }, "aae-interval must be positive"},
		"partitions":        {func(c *Config) { c.AAE.Partitions = 100 }, "power of two"},
		"share above 1":     {func(c *Config) { c.AAE.Share = 1.5 }, "aae-share must be a share of the time greater than 0 and at most 1, not 1.5"},
		"negative share":    {func(c *Config) { c.AAE.Share = -0.1 }, "aae-share must be"},
		"share NaN":         {func(c *Config) { c.AAE.Share = math.NaN() }, "aae-share must be"},
		"common checks too": {func(c *Config) { c.Concurrency = 0 }, "concurrency must be at least 1"},
	})
	if r := (&AAERun{Missing: 0.0001}); r.missingCount(1000000) != 100 || r.interval() != time.Minute || r.timeout() != 10*time.Minute {
		t.Errorf("missing %d, interval %v, timeout %v", r.missingCount(1000000), r.interval(), r.timeout())
	}
	r := &AAERun{Interval: 5 * time.Minute, Partitions: 64}
	if r.timeout() != 25*time.Minute || strings.Join(r.serverArgs(), " ") != "--aae-interval 5m0s --partitions 64" || r.stopSignal() != "SIGTERM" {
		t.Errorf("timeout %v, server args %v, stop signal %s", r.timeout(), r.serverArgs(), r.stopSignal())
	}
	// Every share in (0, 1] is valid, 1 included, and passed on as given.
	for _, share := range []float64{0.05, 1} {
		cfg := good
		cfg.AAE = &AAERun{Missing: 0.01, Share: share, Kill: true}
		if _, _, err := cfg.validate(); err != nil {
			t.Errorf("share %v: %v", share, err)
		}
	}
	r = &AAERun{Share: 0.05, Kill: true}
	if strings.Join(r.serverArgs(), " ") != "--aae-share 0.05" || r.stopSignal() != "SIGKILL" {
		t.Errorf("server args %v, stop signal %s", r.serverArgs(), r.stopSignal())
	}
}

func TestAAEFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--aae-missing", "0.01", "--kill-after", "2s"}, "two different runs"},
		{[]string{"--aae-missing", "0.01", "--endpoints", "grpc://127.0.0.1:9701"}, "cannot be used with --endpoints"},
		{[]string{"--aae-missing", "0.01", "--skip-load"}, "--skip-load does not apply"},
		{[]string{"--aae-missing", "0.01", "--nodes", "4"}, "--nodes belongs to a failover run"},
		{[]string{"--aae-missing", "0.01", "--protocol", "http"}, "--protocol belongs to a failover run"},
		{[]string{"--aae-interval", "10s", "--endpoints", "grpc://127.0.0.1:9701"}, "--aae-interval needs --aae-missing"},
		{[]string{"--partitions", "64"}, "--partitions needs --aae-missing"},
		{[]string{"--aae-share", "0.05", "--endpoints", "grpc://127.0.0.1:9701"}, "--aae-share needs --aae-missing"},
		{[]string{"--aae-kill", "--endpoints", "grpc://127.0.0.1:9701"}, "--aae-kill needs --aae-missing"},
		{[]string{"--aae-missing", "0.01", "--aae-share", "0"}, "--aae-share must be greater than 0 and at most 1, not 0; leave it out"},
		{[]string{"--aae-missing", "0.01", "--aae-share", "1.01"}, "--aae-share must be greater than 0 and at most 1"},
		{[]string{"--aae-missing", "0.01", "--aae-share", "-1"}, "--aae-share must be greater than 0 and at most 1"},
		{[]string{"--aae-missing", "0.01", "--aae-kill", "--kill-after", "2s"}, "two different runs"},
		{[]string{"--keep", "--endpoints", "grpc://127.0.0.1:9701"}, "--keep needs --kill-after or --aae-missing"},
		{[]string{"--aae-missing", "2"}, "strictly between 0 and 1"},
		{[]string{"--aae-missing", "0.01", "--records", "40"}, "0.01 of 40 records is 0 keys"},
		{[]string{"--aae-missing", "0.01", "--duration", "-1s"}, "duration must not be negative"},
		{[]string{"--aae-missing", "0.01", "--partitions", "3"}, "power of two"},
		{nil, "--aae-missing for an anti-entropy run"},
	} {
		cmd := NewCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(c.args)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}

// TestAAEModeFlags checks that valid anti-entropy flags reach the run's
// settings (without starting one: modeFlags alone, on the command's own
// flags).
func TestAAEModeFlags(t *testing.T) {
	for _, c := range []struct {
		args  []string
		share float64
		kill  bool
	}{
		{[]string{"--aae-missing", "0.01"}, 0, false},
		{[]string{"--aae-missing", "0.01", "--aae-share", "0.25", "--aae-kill"}, 0.25, true},
		{[]string{"--aae-missing", "0.01", "--aae-share", "1", "--aae-kill=false"}, 1, false},
	} {
		cmd := NewCommand()
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		var cfg Config
		var fo Failover
		var aae AAERun
		fs := cmd.Flags()
		aae.Missing, _ = fs.GetFloat64("aae-missing")
		aae.Share, _ = fs.GetFloat64("aae-share")
		aae.Kill, _ = fs.GetBool("aae-kill")
		if err := modeFlags(cmd, &cfg, &fo, &aae); err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if cfg.AAE == nil || cfg.AAE.Share != c.share || cfg.AAE.Kill != c.kill {
			t.Errorf("%v: run %+v", c.args, cfg.AAE)
		}
	}
}

func TestAAEReportText(t *testing.T) {
	build, conv, convResume, allEq, allEqResume := 4.5, 30.25, 20.125, 31.0, 20.875
	ratio, p99Base, tputBase := 0.9, 1.12, 0.95
	p99Paused, tputPaused, p99Again, tputAgain := 1.2, 0.93, 1.04, 0.97
	afterP99, afterTput, driftP99, driftTput := 1.03, 0.99, 1.07, 0.96
	repaused, againStart := 50.5, 51.25
	var readRepairsAgain int64 = 3
	quietAgain := true
	met := true
	r := &AAEReport{
		Nodes: 3, N: 3, Partitions: 256, Records: 1000, ValueSize: 100, MissingFraction: 0.01, Loaded: 990, Missing: 10,
		StoppedNode: "n3", Exchanges: "scheduled", IntervalSec: 60, StopSignal: "SIGTERM", StopClean: true, AAEShare: 0.05,
		Object:            ObjectSize{Sampled: 10, EncodedMean: 190, EncodedMin: 189, EncodedMax: 191, BucketBytes: 5, KeyBytesMean: 7, MissingBytes: 2020},
		TreesBuiltAtStart: 256, ResumedAfterSec: 10.125, RepausedAfterSec: &repaused, PausedAgainStartAfterSec: &againStart,
		ConvergedAfterSec: &conv, ConvergedAfterResumeSec: &convResume, Converged: true,
		AllEqualAfterSec: &allEq, AllEqualAfterResumeSec: &allEqResume,
		Bytes: aaeBytesOf(aaeCounters{Bytes: map[string]float64{"root": 100, "fetch": 7000}}, 2020, 10),
		Workload: &AAEWorkload{
			Before: &WorkloadWindow{Name: "before", Ops: 100, OpsPerSec: 10},
			Paused: &WorkloadWindow{Name: "paused", Ops: 95, OpsPerSec: 9.5, Latency: Latency{P50: 1, P99: 4}, Operations: map[string]*WindowOp{
				"read":   {Ops: 50, OpsPerSec: 5, Latency: Latency{P50: 0.5, P99: 2.5}},
				"update": {Ops: 45, OpsPerSec: 4.5, Latency: Latency{P50: 1.5, P99: 4.5}},
			}},
			Converging:      &WorkloadWindow{Name: "converging", Ops: 90, OpsPerSec: 9},
			PausedAgain:     &WorkloadWindow{Name: "paused-again", FromSec: 0, ToSec: 10, Ops: 97, OpsPerSec: 9.7, Latency: Latency{P50: 1, P99: 4.25}},
			Baseline:        &WorkloadWindow{Name: "baseline", FromSec: 0, ToSec: 20, Ops: 192, OpsPerSec: 9.6, Latency: Latency{P50: 1, P99: 4.125}},
			BaselineWindows: []string{"paused", "paused-again"},
			ThroughputRatio: &ratio, P99Ratio: &ratio,
			P99RatioBaseline: &p99Base, ThroughputRatioBaseline: &tputBase, P99BoundMet: &met,
			OpRatiosBaseline: map[string]OpRatio{"read": {ThroughputRatio: 0.9, P99Ratio: 1.25}},
			P99RatioPaused:   &p99Paused, ThroughputRatioPaused: &tputPaused,
			P99RatioPausedAgain: &p99Again, ThroughputRatioPausedAgain: &tputAgain,
			OpRatiosPausedAgain:   map[string]OpRatio{"update": {ThroughputRatio: 1.01, P99Ratio: 0.98}},
			AfterP99RatioBaseline: &afterP99, AfterThroughputRatioBaseline: &afterTput,
			DriftP99Ratio: &driftP99, DriftThroughputRatio: &driftTput,
			PausedQuiet:         true,
			PausedAgainAAEBytes: map[string]int64{"root": 0}, PausedAgainQuiet: &quietAgain, PausedAgainReadRepairs: &readRepairsAgain,
		},
	}
	var b strings.Builder
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"anti-entropy: 3 nodes (N=3, Q=256); 1000 records of 100 bytes; anti-entropy paused on the others, then n3 stopped (SIGTERM, clean: true",
		"exchanges scheduled by the servers (anti-entropy interval 1m0s, share 0.05)",
		"n3 restarted with anti-entropy paused", "trees it loaded at its start: 256 of 256\n",
		"anti-entropy resumed on every node 10.125 s after the restart, after the paused window",
		"trees: all 256 loaded at its start, none built\n",
		"30.250 s after the restart, 20.125 s after the resume (all in one poll: 31.000 s after the restart, 20.875 s after the resume)",
		"objects 3.47x; bound (objects <= 3x the missing objects, tree overhead on top): NOT MET",
		"paused  update", "45    4.5       0   1.500   4.500",
		"paused-again     all   0.000  10.000   97    9.7       0   1.000   4.250",
		"baseline     all       -       -  192    9.6       0   1.000   4.125",
		"foreground p99 while converging: 1.12x its level with anti-entropy paused (both paused windows; within 20%: yes); ops/s 0.95x; read: p99 1.25x, ops/s 0.90x\n",
		"  converging / paused: p99 1.20x, ops/s 0.93x\n",
		"  converging / paused again: p99 1.04x, ops/s 0.97x; update: p99 0.98x, ops/s 1.01x\n",
		"  after convergence (anti-entropy on, replicas equal) / baseline: p99 1.03x, ops/s 0.99x\n",
		"  drift: paused again / paused: p99 1.07x, ops/s 0.96x\n",
		"converging against before the stop: 0.90x the ops/s",
		"0 while paused (quiet: yes), 0 while paused again (quiet: yes)",
		"0 converging, 0 after, 3 paused again\n",
		"NOT every partition equal in one poll",
		"  paused again: anti-entropy paused on every node again 50.500 s after the restart; the paused-again window started 51.250 s after the restart, once no anti-entropy byte moved\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "WARNING") {
		t.Errorf("a warning with no anti-entropy byte while paused:\n%s", out)
	}

	// Killed, the p99 bound missed, anti-entropy bytes while paused.
	r.StopSignal, r.StopClean, r.TreesBuiltAtStart = "SIGKILL", false, 0
	builtAfter, builtAfterResume := 12.5, 2.375
	r.TreeBuildSec, r.TreesBuiltAfterSec, r.TreesBuiltAfterResumeSec = &build, &builtAfter, &builtAfterResume
	p99Base = 1.5
	r.Workload.PausedQuiet, r.Workload.PausedAAEBytes = false, map[string]int64{"root": 120}
	quietAgain = false
	r.Workload.PausedAgainAAEBytes = map[string]int64{"root": 40, "branches": 2}
	b.Reset()
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{
		"n3 stopped (SIGKILL, 0.000 s: no trees saved)", "trees it loaded at its start: 0 of 256\n",
		"trees: built in 4.500 s (tutti_aae_tree_build_seconds), seen built 12.500 s after the restart, 2.375 s after the resume\n",
		"1.50x its level with anti-entropy paused (both paused windows; within 20%: no)",
		"WARNING: anti-entropy sent 120 bytes during the paused window",
		"WARNING: anti-entropy sent 42 bytes during the paused-again window",
		"120 while paused (quiet: no), 42 while paused again (quiet: no)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// The run ended before the paused-again window: the baseline is the
	// first paused window alone, and the report says so.
	r.Workload.PausedAgain, r.Workload.BaselineWindows = nil, []string{"paused"}
	r.Workload.P99RatioPausedAgain, r.Workload.ThroughputRatioPausedAgain, r.Workload.OpRatiosPausedAgain = nil, nil, nil
	r.Workload.DriftP99Ratio, r.Workload.DriftThroughputRatio = nil, nil
	r.Workload.PausedAgainQuiet, r.Workload.PausedAgainAAEBytes, r.Workload.PausedAgainReadRepairs = nil, nil, nil
	r.RepausedAfterSec, r.PausedAgainStartAfterSec = nil, nil
	b.Reset()
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	if !strings.Contains(out, "1.50x its level with anti-entropy paused (the paused window only; within 20%: no)") {
		t.Errorf("report does not say the baseline is the paused window only:\n%s", out)
	}
	for _, absent := range []string{"paused again", "paused-again", "drift"} {
		if strings.Contains(out, absent) {
			t.Errorf("report mentions %q without a paused-again window:\n%s", absent, out)
		}
	}
}
