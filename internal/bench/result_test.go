package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// sampleResult is a report built from hand-filled worker statistics.
func sampleResult() *Result {
	w1, w2 := &worker{}, &worker{}
	for i := 1; i <= 100; i++ {
		w1.stats[opRead].latencies.record(time.Duration(i) * time.Millisecond)
		w2.stats[opUpdate].latencies.record(time.Duration(i) * 2 * time.Millisecond)
	}
	w1.stats[opInsert].latencies.record(time.Millisecond)
	w2.stats[opRead].notFound = 3
	w2.stats[opUpdate].errors = map[string]int64{"unavailable": 4, "timeout": 1}
	w2.stats[opUpdate].samples = map[string]string{"unavailable": "needed 2, answered 1", "timeout": "deadline"}
	cfg := Config{Endpoints: []string{"grpc://127.0.0.1:9701"}, Workload: Workload{Name: "a", ReadProportion: 0.5, UpdateProportion: 0.5},
		Records: 100, Duration: 2 * time.Second, Concurrency: 2, ValueSize: 64, Seed: 5, Bucket: "bench"}
	res := newResult(cfg, protocolGRPC)
	res.BucketSetToLWW = true
	res.Load = summarize([]*worker{{stats: [numOpKinds]opStats{opInsert: w1.stats[opInsert]}}}, time.Second)
	w1.stats[opInsert] = opStats{}
	res.Run = summarize([]*worker{w1, w2}, 2*time.Second)
	return res
}

func TestSummaryFigures(t *testing.T) {
	res := sampleResult()
	read, update := res.Run.Operations["read"], res.Run.Operations["update"]
	if read.Count != 100 || read.NotFound != 3 || read.OpsPerSec != 50 || !near(read.Latency.P50, 50) || read.Latency.Max != 100 || read.Latency.Mean != 50.5 {
		t.Errorf("read = %+v", read)
	}
	if update.Count != 100 || update.Errors != 5 || update.ErrorKinds["unavailable"] != 4 || !near(update.Latency.P99, 198) {
		t.Errorf("update = %+v", update)
	}
	if res.Run.Ops != 200 || res.Run.Errors != 5 || res.Run.OpsPerSec != 100 {
		t.Errorf("run = %+v", res.Run)
	}
	if _, ok := res.Run.Operations["insert"]; ok {
		t.Error("run phase reports inserts it did not issue")
	}
}

func TestJSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleResult().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, buf.String())
	}
	for _, path := range []string{
		"workload", "read_proportion", "update_proportion", "protocol", "endpoints", "bucket", "bucket_set_to_lww",
		"records", "concurrency", "value_size", "duration_s", "seed",
		"load.duration_s", "load.ops", "load.errors", "load.ops_per_sec", "load.operations.insert.count",
		"run.ops_per_sec", "run.operations.read.not_found", "run.operations.read.error_kinds",
		"run.operations.update.errors", "run.operations.update.error_kinds.unavailable",
		"run.operations.update.error_samples.timeout", "run.operations.update.ops_per_sec",
		"run.operations.read.latency_ms.min", "run.operations.read.latency_ms.mean",
		"run.operations.read.latency_ms.p50", "run.operations.read.latency_ms.p95",
		"run.operations.read.latency_ms.p99", "run.operations.read.latency_ms.p99_9",
		"run.operations.read.latency_ms.max",
	} {
		if _, err := lookup(doc, path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	if v, _ := lookup(doc, "run.operations.update.latency_ms.p99_9"); v == nil || !near(v.(float64), 200) {
		t.Errorf("update p99.9 = %v, want 200", v)
	}
}

// near reports whether a histogram's figure is within its 0.4% of want.
func near(got, want float64) bool { return math.Abs(got-want) <= want/256 }

func lookup(doc map[string]any, path string) (any, error) {
	var v any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("not an object above " + part)
		}
		if v, ok = m[part]; !ok {
			return nil, errors.New("missing " + part)
		}
	}
	return v, nil
}

func TestTextReport(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleResult().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`bucket "bench": conflict policy set to lww`,
		"p99.9 ms", "insert", "read", "update", "total",
		"errors by kind:", "run update unavailable: 4 (first: needed 2, answered 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
