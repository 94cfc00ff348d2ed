package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/kv/kvtest"
	"github.com/tutti-kv/tutti/internal/metrics"
)

func TestParseTimeout(t *testing.T) {
	ok := map[string]time.Duration{
		"0":       0,
		"1":       time.Millisecond,
		"500":     500 * time.Millisecond,
		"60000":   time.Minute,
		"500ms":   500 * time.Millisecond,
		"1.5s":    1500 * time.Millisecond,
		"1m":      time.Minute,
		"250us":   250 * time.Microsecond,
		"0s":      0,
		"+100":    100 * time.Millisecond,
		"2s500ms": 2500 * time.Millisecond,
	}
	for s, want := range ok {
		got, err := parseTimeout(s)
		if err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "soon", "-1", "-1ms", "60001", "61s", "1h", "1.5", "9223372036854775807", "99999999999999999999", "5 s", "ms"} {
		if got, err := parseTimeout(s); err == nil {
			t.Errorf("parseTimeout(%q) = %v, want an error", s, got)
		} else if kv.AsError(err).Kind != kv.BadRequest {
			t.Errorf("parseTimeout(%q) error %v is not a bad request", s, err)
		}
	}
}

func TestCheckBucketPath(t *testing.T) {
	ok := []string{
		"/v1/buckets/b/keys/k", "/v1/buckets/b/props", "/v1/buckets/%2E/keys/%2E%2E",
		"/v1/buckets/b/keys/a%2Fb", "/healthz", "/v1/cluster/ring", "/v1/buckets/b/keys/.x",
	}
	for _, p := range ok {
		if _, err := checkBucketPath("GET", p); err != nil {
			t.Errorf("checkBucketPath(%q) = %v", p, err)
		}
	}
	bad := []string{
		"/v1/buckets/", "/v1/buckets//keys/k", "/v1/buckets/b/keys/", "/v1/buckets/b/keys/a/b",
		"/v1/buckets/./keys/k", "/v1/buckets/b/keys/..", "/v1/buckets/b//props", "/v1/buckets/b/props/",
	}
	for _, p := range bad {
		if _, err := checkBucketPath("GET", p); err == nil || kv.AsError(err).Kind != kv.BadRequest {
			t.Errorf("checkBucketPath(%q) = %v, want a bad request", p, err)
		}
	}
	for method, want := range map[string]string{"GET": metrics.OpGet, "HEAD": metrics.OpGet, "PUT": metrics.OpPut, "DELETE": metrics.OpDelete, "POST": metrics.OpOther} {
		if op, _ := checkBucketPath(method, "/v1/buckets/b/keys/"); op != want {
			t.Errorf("op of %s on a key = %q, want %q", method, op, want)
		}
	}
	if op, _ := checkBucketPath("PUT", "/v1/buckets//props"); op != metrics.OpProps {
		t.Errorf("op of props = %q", op)
	}
}

// FuzzRequest sends arbitrary paths, queries and headers through the whole
// handler: it must not panic, must answer a known status, must answer
// errors as JSON and must not write when it rejects a request.
func FuzzRequest(f *testing.F) {
	seeds := []struct{ method, path, query, causal, ctype, accept string }{
		{"GET", "/v1/buckets/b/keys/k", "r=2&pr=one&timeout=5s", "", "", "application/json"},
		{"PUT", "/v1/buckets/b%2F/keys/%00", "w=all&dw=0&pw=quorum&timeout=100", "abc", "text/plain", ""},
		{"DELETE", "/v1/buckets/b/keys/k", "w=x", "a\x00b", "", ""},
		{"PUT", "/v1/buckets/b/props", "", "", "application/json", ""},
		{"GET", "/v1/buckets//keys/../x", "r=%zz;", "", "", ";q=x"},
		{"PATCH", "/v1/cluster/ring", "", "", "", ""},
		{"GET", "/metrics", "timeout=-1ns", "", "multipart/mixed; boundary=", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.causal, s.ctype, s.accept, []byte(`{"w":2}`))
	}
	svc := kvtest.New()
	svc.GetResult = &kv.GetResult{Found: true, Context: "c",
		Siblings: []kv.Sibling{{Value: []byte("a")}, {Value: []byte("b"), ContentType: "text/plain"}}}
	reg := prometheus.NewRegistry()
	h := New(svc, metrics.New(reg), reg, nil)
	known := map[int]bool{200: true, 204: true, 300: true, 307: true, 400: true, 404: true, 405: true, 413: true, 414: true}

	f.Fuzz(func(t *testing.T, method, path, query, causal, ctype, accept string, body []byte) {
		u, err := url.Parse("http://tutti" + path)
		if err != nil || u.Path == "" {
			t.Skip()
		}
		u.RawQuery = query
		req := &http.Request{
			Method: method, URL: u, Host: "tutti", Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(string(body))), ContentLength: int64(len(body)),
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RequestURI: u.RequestURI(),
		}
		req = req.WithContext(t.Context())
		if causal != "" {
			req.Header.Set(ContextHeader, causal)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		writesBefore := svc.Writes()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !known[rec.Code] {
			t.Fatalf("%s %s?%s answered %d: %s", method, path, query, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && method != "HEAD" {
			var e map[string]any
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil {
				t.Fatalf("%s %s?%s answered %d with a non-JSON body %q", method, path, query, rec.Code, rec.Body)
			}
		}
		if rec.Code >= 400 && svc.Writes() != writesBefore {
			t.Fatalf("%s %s?%s was rejected with %d but wrote", method, path, query, rec.Code)
		}
	})
}
