package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/kv/kvtest"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// env is a handler over a fake service.
type env struct {
	svc     *kvtest.Service
	metrics *metrics.Metrics
	reg     *prometheus.Registry
	logs    *bytes.Buffer
	handler http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{svc: kvtest.New(), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	e.metrics = metrics.New(e.reg)
	e.handler = New(e.svc, e.metrics, e.reg, slog.New(slog.NewTextHandler(e.logs, nil)))
	return e
}

// do serves one request; headers are name, value pairs.
func (e *env) do(method, target string, body io.Reader, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return rec
}

func (e *env) count(op, outcome string) float64 {
	return testutil.ToFloat64(e.metrics.Requests.WithLabelValues(op, outcome))
}

// errorOf decodes a JSON error answer, failing the test if it is not one.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer has Content-Type %q, want application/json; body %q", ct, rec.Body.String())
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error answer is not JSON: %v; body %q", err, rec.Body.String())
	}
	if s, _ := body["error"].(string); s == "" {
		t.Fatalf("error answer %q has no error reason", rec.Body.String())
	}
	return body
}

func TestUnknownRouteIs404JSON(t *testing.T) {
	e := newEnv(t)
	for _, target := range []string{"/", "/v1", "/v1/buckets/b", "/v1/buckets/b/keys", "/v1/buckets/b/other/k", "/nope"} {
		rec := e.do("GET", target, nil)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", target, rec.Code)
			continue
		}
		errorOf(t, rec)
	}
	if got := e.count(metrics.OpOther, metrics.OutcomeNotFound); got != 6 {
		t.Errorf("other/not_found = %v, want 6", got)
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ method, target, allow string }{
		{"POST", "/v1/buckets/b/keys/k", "GET, HEAD, PUT, DELETE"},
		{"PATCH", "/v1/buckets/b/keys/k", "GET, HEAD, PUT, DELETE"},
		{"DELETE", "/v1/buckets/b/props", "GET, HEAD, PUT"},
		{"POST", "/v1/cluster/members", "GET, HEAD"},
		{"PUT", "/v1/cluster/ring", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
		{"DELETE", "/metrics", "GET, HEAD"},
	}
	for _, c := range cases {
		rec := e.do(c.method, c.target, strings.NewReader("x"))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d, want 405", c.method, c.target, rec.Code)
			continue
		}
		if got := rec.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.target, got, c.allow)
		}
		errorOf(t, rec)
	}
	if n := e.svc.DataCalls(); n != 0 {
		t.Errorf("service called %d times for wrong methods", n)
	}
}

func TestServiceErrorsMapToStatus(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		status  int
		reason  string
		outcome string
	}{
		{"bad request", kv.Errorf(kv.BadRequest, "malformed context"), 400, "malformed context", metrics.OutcomeBadRequest},
		{"too large", kv.Errorf(kv.TooLarge, "too big"), 413, "too big", metrics.OutcomeTooLarge},
		{"name too long", kv.Errorf(kv.NameTooLong, "long"), 414, "long", metrics.OutcomeNameTooLong},
		{"unavailable", kv.QuorumError("w unmet", 2, 1), 503, "w unmet", metrics.OutcomeUnavailable},
		{"not found", kv.Errorf(kv.NotFound, "no bucket"), 404, "no bucket", metrics.OutcomeNotFound},
		{"internal", kv.Errorf(kv.Internal, "disk full at /secret"), 500, "internal error", metrics.OutcomeError},
		{"unknown", errors.New("boom"), 500, "internal error", metrics.OutcomeError},
		{"deadline", context.DeadlineExceeded, 503, "timeout", metrics.OutcomeTimeout},
		{"canceled", context.Canceled, 503, "canceled", metrics.OutcomeCanceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.svc.Err = c.err
			rec := e.do("PUT", "/v1/buckets/b/keys/k", strings.NewReader("v"))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			body := errorOf(t, rec)
			if body["error"] != c.reason {
				t.Errorf("reason %q, want %q", body["error"], c.reason)
			}
			if got := e.count(metrics.OpPut, c.outcome); got != 1 {
				t.Errorf("put/%s count = %v, want 1", c.outcome, got)
			}
		})
	}
}

func TestQuorumErrorCarriesFigures(t *testing.T) {
	e := newEnv(t)
	e.svc.Err = kv.QuorumError("not enough replicas", 3, 0)
	rec := e.do("GET", "/v1/buckets/b/keys/k", nil)
	body := errorOf(t, rec)
	if rec.Code != 503 || body["needed"] != 3.0 || body["answered"] != 0.0 {
		t.Errorf("got %d %v, want 503 with needed 3 and answered 0", rec.Code, body)
	}
	// Other errors carry no figures.
	e.svc.Err = kv.Errorf(kv.BadRequest, "x")
	body = errorOf(t, e.do("GET", "/v1/buckets/b/keys/k", nil))
	if _, ok := body["needed"]; ok {
		t.Errorf("bad request answer %v has quorum figures", body)
	}
}

func TestInternalErrorIsLogged(t *testing.T) {
	e := newEnv(t)
	e.svc.Err = errors.New("disk on fire")
	e.do("DELETE", "/v1/buckets/b/keys/k", nil)
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Errorf("internal error not logged; logs: %s", e.logs)
	}
}

func TestPanicAnswers500(t *testing.T) {
	e := newEnv(t)
	e.svc.PanicWith = "kaboom"
	rec := e.do("GET", "/v1/buckets/b/keys/k", nil)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if body := errorOf(t, rec); body["error"] != "internal error" {
		t.Errorf("body %v leaks the panic", body)
	}
	if !strings.Contains(e.logs.String(), "kaboom") || !strings.Contains(e.logs.String(), "stack") {
		t.Errorf("panic not logged with its stack; logs: %s", e.logs)
	}
	if got := testutil.ToFloat64(e.metrics.Panics.WithLabelValues("http")); got != 1 {
		t.Errorf("panics = %v, want 1", got)
	}
	if got := e.count(metrics.OpGet, metrics.OutcomeError); got != 1 {
		t.Errorf("get/error = %v, want 1", got)
	}
	// The handler keeps serving.
	e.svc.PanicWith = nil
	if rec := e.do("GET", "/healthz", nil); rec.Code != 200 {
		t.Errorf("healthz after a panic = %d", rec.Code)
	}
}

func TestAbortHandlerPanicPassesThrough(t *testing.T) {
	e := newEnv(t)
	e.svc.PanicWith = http.ErrAbortHandler
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	e.do("GET", "/v1/buckets/b/keys/k", nil)
}

func TestClientDisconnectCancelsServiceCall(t *testing.T) {
	e := newEnv(t)
	e.svc.BlockUntilDone = true
	srv := httptest.NewServer(e.handler)
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/buckets/b/keys/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the service is inside Get, then hang up.
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.DataCalls() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("request never reached the service")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-e.svc.Canceled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("service saw %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("service context was not canceled when the client left")
	}
	if err := <-done; err == nil {
		t.Error("client request succeeded after cancel")
	}
	// The server still serves.
	resp, err := srv.Client().Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/healthz", nil)
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("healthz = %d %q", rec.Code, rec.Body)
	}
}

func TestMetricsExposedAfterRequests(t *testing.T) {
	e := newEnv(t)
	e.do("PUT", "/v1/buckets/b/keys/k", strings.NewReader("v"))
	e.do("PUT", "/v1/buckets/b/keys/k?w=banana", strings.NewReader("v"))
	e.do("GET", "/v1/buckets/b/keys/k", nil) // not found
	rec := e.do("GET", "/metrics", nil)
	if rec.Code != 200 {
		t.Fatalf("metrics = %d", rec.Code)
	}
	text := rec.Body.String()
	for _, want := range []string{
		`tutti_requests_total{op="put",outcome="ok"} 1`,
		`tutti_requests_total{op="put",outcome="bad_request"} 1`,
		`tutti_requests_total{op="get",outcome="not_found"} 1`,
		`tutti_request_duration_seconds_count{op="put",outcome="ok"} 1`,
		`tutti_request_duration_seconds_bucket{op="get",outcome="not_found",le="0.0001"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestNewServerTimeouts(t *testing.T) {
	h := http.NotFoundHandler()
	s := NewServer("127.0.0.1:0", h)
	if s.Addr != "127.0.0.1:0" || s.Handler == nil {
		t.Errorf("server %+v", s)
	}
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= s.ReadHeaderTimeout || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("timeouts not all set: %+v", s)
	}
	if s.WriteTimeout <= MaxRequestTimeout {
		t.Errorf("WriteTimeout %v does not outlast the longest request timeout %v", s.WriteTimeout, MaxRequestTimeout)
	}
	// ReadTimeout leaves at least 100 kB/s for the largest default value.
	if min := time.Duration(kv.DefaultLimits().MaxValueBytes/100_000) * time.Second; s.ReadTimeout < min {
		t.Errorf("ReadTimeout %v is under %v", s.ReadTimeout, min)
	}
}

func TestNilLoggerIsAccepted(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := New(kvtest.New(), metrics.New(reg), reg, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("healthz = %d", rec.Code)
	}
}
