package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/client/clienttest"
)

// fakeHTTPNode is an in-memory node speaking the HTTP API's key and props
// routes.
type fakeHTTPNode struct {
	mu     sync.Mutex
	values map[string][]byte
	props  map[string]any
	// failWrites, when set, makes every failWrites-th PUT of a key answer
	// 503 once the load is done.
	failWrites int64
	loaded     atomic.Bool
	writes     atomic.Int64
}

func newFakeHTTPNode() *fakeHTTPNode {
	return &fakeHTTPNode{values: map[string][]byte{}, props: map[string]any{"conflict": "siblings", "r": "quorum", "w": "quorum"}}
}

func (f *fakeHTTPNode) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/buckets/{bucket}/keys/{key}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		v, ok := f.values[r.PathValue("bucket")+"/"+r.PathValue("key")]
		f.mu.Unlock()
		switch {
		case !ok:
			writeJSONError(w, http.StatusNotFound, "not found")
		case strings.HasSuffix(r.PathValue("key"), "7"):
			// Siblings are a successful read too.
			w.WriteHeader(http.StatusMultipleChoices)
			_, _ = w.Write([]byte("siblings"))
		default:
			_, _ = w.Write(v)
		}
	})
	mux.HandleFunc("PUT /v1/buckets/{bucket}/keys/{key}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		if n := f.writes.Add(1); f.failWrites > 0 && f.loaded.Load() && n%f.failWrites == 0 {
			writeJSONError(w, http.StatusServiceUnavailable, "quorum not met")
			return
		}
		f.mu.Lock()
		f.values[r.PathValue("bucket")+"/"+r.PathValue("key")] = body
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/buckets/{bucket}/props", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(f.props)
	})
	mux.HandleFunc("PUT /v1/buckets/{bucket}/props", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := json.NewDecoder(r.Body).Decode(&f.props); err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		_ = json.NewEncoder(w).Encode(f.props)
	})
	return mux
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func testConfig(endpoints []string, workload string, d time.Duration) Config {
	w, err := ParseWorkload(workload)
	if err != nil {
		panic(err)
	}
	return Config{
		Endpoints: endpoints, Workload: w, Records: 200, Duration: d, Concurrency: 4,
		ValueSize: 64, Seed: 3, Bucket: "bench", SetLWW: true, Timeout: 5 * time.Second,
	}
}

func TestRunOverHTTP(t *testing.T) {
	node := newFakeHTTPNode()
	srv := httptest.NewServer(node.handler())
	defer srv.Close()

	res, err := Run(context.Background(), testConfig([]string{srv.URL}, "a", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	insert := res.Load.Operations["insert"]
	if insert == nil || insert.Count != 200 || insert.Errors != 0 || res.Load.Ops != 200 {
		t.Fatalf("load = %+v", res.Load)
	}
	node.mu.Lock()
	if len(node.values) != 200 || len(node.values["bench/user0"]) != 64 || len(node.values["bench/user199"]) != 64 {
		t.Errorf("node holds %d values; user0 %d bytes", len(node.values), len(node.values["bench/user0"]))
	}
	if node.props["conflict"] != "lww" || node.props["r"] != "quorum" {
		t.Errorf("props after the bench = %v, want conflict lww and r kept", node.props)
	}
	node.mu.Unlock()
	read, update := res.Run.Operations["read"], res.Run.Operations["update"]
	if read == nil || update == nil || read.Count == 0 || update.Count == 0 {
		t.Fatalf("run = %+v", res.Run)
	}
	if res.Run.Errors != 0 || read.NotFound != 0 || !res.BucketSetToLWW {
		t.Errorf("run: %d errors, %d reads not found, lww %v", res.Run.Errors, read.NotFound, res.BucketSetToLWW)
	}
	if read.Latency.P50 <= 0 || read.Latency.P999 < read.Latency.P50 || read.Latency.Max < read.Latency.P999 {
		t.Errorf("read latency = %+v", read.Latency)
	}
	if res.Run.DurationSec < 1 || res.Run.OpsPerSec <= 0 {
		t.Errorf("run lasted %vs at %v ops/s", res.Run.DurationSec, res.Run.OpsPerSec)
	}
}

func TestRunWithErrorsStillReports(t *testing.T) {
	node := newFakeHTTPNode()
	node.failWrites = 5
	srv := httptest.NewServer(node.handler())
	defer srv.Close()
	cfg := testConfig([]string{srv.URL, srv.URL}, "a", 300*time.Millisecond)
	cfg.SkipLoad = true
	node.loaded.Store(true)

	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	update := res.Run.Operations["update"]
	if update == nil || update.Errors == 0 || update.ErrorKinds["unavailable"] != update.Errors {
		t.Fatalf("update = %+v, want 503s counted as unavailable", update)
	}
	if !strings.Contains(update.ErrorSamples["unavailable"], "quorum not met") {
		t.Errorf("error sample %q lacks the node's message", update.ErrorSamples["unavailable"])
	}
	if res.Load != nil {
		t.Error("skipped load reported")
	}
	var buf bytes.Buffer
	if err := res.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "run update unavailable") {
		t.Errorf("report (%v):\n%s", err, buf.String())
	}
}

func TestInterruptedRunReportsWhatItMeasured(t *testing.T) {
	srv := httptest.NewServer(newFakeHTTPNode().handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cfg := testConfig([]string{srv.URL}, "b", time.Hour)
	cfg.SkipLoad = true
	res, err := Run(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || res.Run == nil || res.Run.Ops == 0 {
		t.Fatalf("interrupted run = %+v, %v", res, err)
	}
}

func TestRunOverGRPC(t *testing.T) {
	cluster, err := clienttest.Start(3, 16, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var endpoints []string
	for _, addr := range cluster.Endpoints() {
		endpoints = append(endpoints, "grpc://"+addr)
	}

	res, err := Run(context.Background(), testConfig(endpoints, "b", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if insert := res.Load.Operations["insert"]; insert == nil || insert.Count != 200 || insert.Errors != 0 {
		t.Fatalf("load = %+v", res.Load)
	}
	read, update := res.Run.Operations["read"], res.Run.Operations["update"]
	if read == nil || update == nil || read.Count == 0 || update.Count == 0 || res.Run.Errors != 0 || read.NotFound != 0 {
		t.Fatalf("run = %+v; read %+v; update %+v", res.Run, read, update)
	}
	if got := cluster.Props("bench").GetConflict(); got != "lww" {
		t.Errorf("bucket conflict = %q, want lww", got)
	}
	// Under lww the blind updates replace values instead of adding siblings.
	for _, key := range []string{"user0", "user100", "user199"} {
		if n := cluster.Siblings("bench", key); n != 1 {
			t.Errorf("%s has %d siblings", key, n)
		}
	}
	for _, call := range cluster.Calls() {
		if (call.Method == "Get" || call.Method == "Put") && !call.OnOwner {
			t.Fatalf("%s of %s went to node %d, not an owner", call.Method, call.Key, call.Node)
		}
	}
}

func TestCommandJSON(t *testing.T) {
	srv := httptest.NewServer(newFakeHTTPNode().handler())
	defer srv.Close()
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--endpoints", srv.URL, "--workload", "c", "--records", "50", "--duration", "200ms",
		"--concurrency", "2", "--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON result: %v\n%s", err, out.String())
	}
	if res.Workload != "c" || res.Records != 50 || res.Run == nil || res.Run.Operations["update"] != nil || res.Run.Operations["read"].Count == 0 {
		t.Errorf("result = %+v", res)
	}

	bad := NewCommand()
	bad.SetOut(io.Discard)
	bad.SetErr(io.Discard)
	bad.SetArgs([]string{"--endpoints", srv.URL, "--workload", "z"})
	if err := bad.Execute(); err == nil {
		t.Error("workload z accepted")
	}
}

func TestHTTPErrorKinds(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{503, `{"error": "not enough replicas acknowledged", "needed": 2, "answered": 1}`, "unavailable"},
		{503, `{"error": "timeout"}`, "timeout"},
		{413, `{"error": "value too large"}`, "too_large"},
		{400, `{"error": "w=4 is more than the 3 replicas of a key"}`, "invalid"},
		{500, `{"error": "internal error"}`, "internal"},
		{409, `conflict`, "http_409"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(c.status)
			_, _ = w.Write([]byte(c.body))
		}))
		tgt := newHTTPTarget([]string{srv.URL}, "b", 1)
		err := tgt.write(context.Background(), "k", []byte("v"))
		if kindOf(err) != c.want {
			t.Errorf("%d %s: kind %q (%v), want %q", c.status, c.body, kindOf(err), err, c.want)
		}
		_ = tgt.close()
		srv.Close()
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	tgt := newHTTPTarget([]string{srv.URL}, "b", 1)
	if _, err := tgt.read(context.Background(), "k"); kindOf(err) != "transport" {
		t.Errorf("closed server: kind %q (%v), want transport", kindOf(err), err)
	}
}
