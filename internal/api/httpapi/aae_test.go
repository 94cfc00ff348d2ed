package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/kv/kvtest"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// newAAEEnv is newEnv over a fake that offers anti-entropy.
func newAAEEnv(t *testing.T) (*env, *kvtest.AntiEntropy) {
	t.Helper()
	f := kvtest.NewAntiEntropy()
	e := &env{svc: f.Service, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	e.metrics = metrics.New(e.reg)
	e.handler = New(f, e.metrics, e.reg, slog.New(slog.NewTextHandler(e.logs, nil)))
	return e, f
}

func TestAAEStatus(t *testing.T) {
	e, f := newAAEEnv(t)
	rec := e.do("GET", "/v1/debug/aae", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q; body %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var got kv.AAEStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, f.StatusResult) {
		t.Errorf("status %+v\nwant %+v", got, f.StatusResult)
	}
	// The wire names are the documented ones.
	for _, field := range []string{`"node":"n1"`, `"interval_seconds":60`, `"oldest_unexchanged_seconds":42`, `"trees_built":4`,
		`"partitions":[{"partition":0,"root":"0000000000000001","peers":[{"node":"n2"},{"node":"n3","last_exchange":"2026-11-26T07:36:11Z"}]}`} {
		if !strings.Contains(rec.Body.String(), field) {
			t.Errorf("body %s lacks %s", rec.Body, field)
		}
	}
	if rec := e.do("HEAD", "/v1/debug/aae", nil); rec.Code != 200 {
		t.Errorf("HEAD: status %d", rec.Code)
	}
	if rec := e.do("GET", "/v1/debug/aae?partition=1", nil); rec.Code != 400 {
		t.Errorf("unknown parameter: status %d, want 400", rec.Code)
	}
	if got := e.count(metrics.OpOther, metrics.OutcomeOK); got != 2 {
		t.Errorf("other/ok = %v, want 2", got)
	}
}

func TestAAEStatusListsAreNeverNull(t *testing.T) {
	e, f := newAAEEnv(t)
	f.StatusResult = kv.AAEStatus{Node: "n1", Partitions: nil}
	rec := e.do("GET", "/v1/debug/aae", nil)
	if !strings.Contains(rec.Body.String(), `"partitions":[]`) {
		t.Errorf("no partitions: body %s, want \"partitions\":[]", rec.Body)
	}
	f.StatusResult = kv.AAEStatus{Node: "n1", Partitions: []kv.AAEPartition{{Partition: 2}}}
	rec = e.do("GET", "/v1/debug/aae", nil)
	if !strings.Contains(rec.Body.String(), `{"partition":2,"peers":[]}`) {
		t.Errorf("no peers: body %s, want \"peers\":[]", rec.Body)
	}
	if f.StatusResult.Partitions[0].Peers != nil {
		t.Error("the service's status was changed")
	}
}

func TestAAERepair(t *testing.T) {
	e, f := newAAEEnv(t)
	f.RepairResults[2] = &kv.RepairResult{Exchanges: []kv.RepairExchange{
		{Partition: 2, Peer: "n3", Outcome: "repaired", Segments: 3, Pulled: 5, Pushed: 1},
		{Partition: 2, Peer: "n2", Outcome: "failed", Error: "n2: connection refused"},
	}}
	rec := e.do("POST", "/v1/debug/aae/repair?partition=2", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q; body %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	want := `{"exchanges":[{"partition":2,"peer":"n3","outcome":"repaired","segments":3,"pulled":5,"pushed":1},` +
		`{"partition":2,"peer":"n2","outcome":"failed","segments":0,"pulled":0,"pushed":0,"error":"n2: connection refused"}]}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
	if calls := f.RepairCalls(); !reflect.DeepEqual(calls, []int{2}) {
		t.Errorf("Repair called with %v, want [2]", calls)
	}
	// A partition without live peers has no exchanges: [] rather than null.
	f.RepairResults[1] = &kv.RepairResult{}
	rec = e.do("POST", "/v1/debug/aae/repair?partition=1", nil)
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != 200 || got != `{"exchanges":[]}` {
		t.Errorf("no exchanges: status %d, body %s", rec.Code, got)
	}
}

func TestAAERepairRejectsBadPartition(t *testing.T) {
	e, f := newAAEEnv(t)
	cases := []struct{ query, reason string }{
		{"", "missing query parameter partition"},
		{"?partition=", "missing query parameter partition"},
		{"?partition=x", `partition "x" is not an integer`},
		{"?partition=1.5", `partition "1.5" is not an integer`},
		{"?partition=-1", "partition -1 is negative"},
		{"?partition=4", "partition 4 is out of range: the ring has 4 partitions (0 to 3)"},
		{"?partition=99999999999999999999", "is not an integer"},
		{"?partition=1&partition=2", `query parameter "partition" given 2 times`},
		{"?p=1", `unknown query parameter "p"`},
	}
	for _, c := range cases {
		rec := e.do("POST", "/v1/debug/aae/repair"+c.query, nil)
		if rec.Code != 400 {
			t.Errorf("%q: status %d, want 400; body %s", c.query, rec.Code, rec.Body)
			continue
		}
		if reason, _ := errorOf(t, rec)["error"].(string); !strings.Contains(reason, c.reason) {
			t.Errorf("%q: reason %q, want it to contain %q", c.query, reason, c.reason)
		}
	}
	if calls := f.RepairCalls(); len(calls) != 0 {
		t.Errorf("Repair called with %v for rejected requests", calls)
	}
	if got := e.count(metrics.OpOther, metrics.OutcomeBadRequest); got != float64(len(cases)) {
		t.Errorf("other/bad_request = %v, want %d", got, len(cases))
	}
}

func TestAAERepairErrorsMapToStatus(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		reason string
	}{
		{"not owned", kv.Errorf(kv.BadRequest, "n1 does not own partition 1"), 400, "n1 does not own partition 1"},
		{"unavailable", kv.Errorf(kv.Unavailable, "no peer alive"), 503, "no peer alive"},
		{"deadline", context.DeadlineExceeded, 503, "timeout"},
		{"internal", kv.Errorf(kv.Internal, "tree of partition 1 at /secret"), 500, "internal error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, f := newAAEEnv(t)
			f.RepairErr = c.err
			rec := e.do("POST", "/v1/debug/aae/repair?partition=1", nil)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			if reason := errorOf(t, rec)["error"]; reason != c.reason {
				t.Errorf("reason %q, want %q", reason, c.reason)
			}
		})
	}
	// The fake's own answer for a partition it does not own.
	e, f := newAAEEnv(t)
	delete(f.RepairResults, 3)
	if rec := e.do("POST", "/v1/debug/aae/repair?partition=3", nil); rec.Code != 400 {
		t.Errorf("partition not owned: status %d, want 400", rec.Code)
	}
}

func TestAAEPauseAndResume(t *testing.T) {
	e, f := newAAEEnv(t)
	for _, step := range []struct {
		target string
		want   bool
	}{
		{"/v1/debug/aae/pause", true},
		{"/v1/debug/aae/pause", true}, // idempotent
		{"/v1/debug/aae/resume", false},
		{"/v1/debug/aae/resume", false},
		{"/v1/debug/aae/pause", true},
	} {
		rec := e.do("POST", step.target, nil)
		if rec.Code != 200 {
			t.Fatalf("POST %s: status %d; body %s", step.target, rec.Code, rec.Body)
		}
		var got map[string]bool
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if p, ok := got["paused"]; !ok || p != step.want || f.AAEStatus().Paused != step.want {
			t.Fatalf("POST %s answered %s, service paused %v; want paused %v", step.target, rec.Body, f.AAEStatus().Paused, step.want)
		}
		if !strings.Contains(e.do("GET", "/v1/debug/aae", nil).Body.String(), `"paused":`+strconv.FormatBool(step.want)) {
			t.Fatalf("status after POST %s does not say paused %v", step.target, step.want)
		}
	}
	if rec := e.do("POST", "/v1/debug/aae/resume?now=1", nil); rec.Code != 400 || !f.AAEStatus().Paused {
		t.Errorf("unknown parameter: status %d, paused %v; want 400 and nothing changed", rec.Code, f.AAEStatus().Paused)
	}
}

func TestAAEWithoutAntiEntropyIs404(t *testing.T) {
	e := newEnv(t) // kvtest.Service has no AAE methods
	if _, ok := any(e.svc).(kv.AntiEntropy); ok {
		t.Fatal("kvtest.Service implements kv.AntiEntropy; this test needs one that does not")
	}
	for _, c := range []struct{ method, target string }{
		{"GET", "/v1/debug/aae"},
		{"POST", "/v1/debug/aae/repair?partition=1"},
		{"POST", "/v1/debug/aae/repair"},
		{"POST", "/v1/debug/aae/pause"},
		{"POST", "/v1/debug/aae/resume"},
	} {
		rec := e.do(c.method, c.target, nil)
		if rec.Code != 404 {
			t.Errorf("%s %s = %d, want 404", c.method, c.target, rec.Code)
			continue
		}
		if reason := errorOf(t, rec)["error"]; reason != "anti-entropy is not available on this node" {
			t.Errorf("%s %s: reason %q", c.method, c.target, reason)
		}
	}
}

func TestAAEWrongMethodIs405(t *testing.T) {
	for _, withAAE := range []bool{true, false} {
		var e *env
		if withAAE {
			e, _ = newAAEEnv(t)
		} else {
			e = newEnv(t)
		}
		for _, c := range []struct{ method, target, allow string }{
			{"POST", "/v1/debug/aae", "GET, HEAD"},
			{"PUT", "/v1/debug/aae", "GET, HEAD"},
			{"GET", "/v1/debug/aae/repair?partition=1", "POST"},
			{"PUT", "/v1/debug/aae/repair?partition=1", "POST"},
			{"DELETE", "/v1/debug/aae/repair", "POST"},
			{"GET", "/v1/debug/aae/pause", "POST"},
			{"PUT", "/v1/debug/aae/resume", "POST"},
		} {
			rec := e.do(c.method, c.target, nil)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("aae %v: %s %s = %d, want 405", withAAE, c.method, c.target, rec.Code)
				continue
			}
			if got := rec.Header().Get("Allow"); got != c.allow {
				t.Errorf("aae %v: %s %s: Allow %q, want %q", withAAE, c.method, c.target, got, c.allow)
			}
			errorOf(t, rec)
		}
	}
}

// TestAAEOverRealServer is the round trip a client makes: status, then a
// repair of each listed partition.
func TestAAEOverRealServer(t *testing.T) {
	e, f := newAAEEnv(t)
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/debug/aae")
	if err != nil {
		t.Fatal(err)
	}
	var st kv.AAEStatus
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: %d, %v", resp.StatusCode, err)
	}
	var exchanges []kv.RepairExchange
	for _, p := range st.Partitions {
		resp, err := http.Post(srv.URL+"/v1/debug/aae/repair?partition="+strconv.Itoa(p.Partition), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var res kv.RepairResult
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("repair %d: %d, %v", p.Partition, resp.StatusCode, err)
		}
		exchanges = append(exchanges, res.Exchanges...)
	}
	if calls := f.RepairCalls(); !reflect.DeepEqual(calls, []int{0, 1, 2, 3}) {
		t.Errorf("Repair called with %v, want [0 1 2 3]", calls)
	}
	if len(exchanges) != 4 || exchanges[3] != (kv.RepairExchange{Partition: 3, Peer: "n3", Outcome: "equal"}) {
		t.Errorf("exchanges %+v", exchanges)
	}
}
