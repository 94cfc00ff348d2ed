package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

func TestPutPassesEverythingToService(t *testing.T) {
	e := newEnv(t)
	rec := e.do("PUT", "/v1/buckets/users/keys/alice?w=2&dw=one&pw=quorum&timeout=500ms",
		strings.NewReader(`{"name":"Alice"}`),
		"Content-Type", "application/json; charset=utf-8", ContextHeader, "ctx-old", IdempotencyKeyHeader, "write-7")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d, want 204; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get(ContextHeader); got != "ctx-put" {
		t.Errorf("answer context %q, want ctx-put", got)
	}
	if len(e.svc.Puts) != 1 {
		t.Fatalf("service got %d puts, want 1", len(e.svc.Puts))
	}
	want := &kv.PutRequest{
		Bucket: []byte("users"), Key: []byte("alice"), Value: []byte(`{"name":"Alice"}`),
		ContentType: "application/json; charset=utf-8", Context: "ctx-old", WriteID: "write-7",
		Options: kv.Options{W: 2, DW: kv.One, PW: kv.Majority, Timeout: 500 * time.Millisecond},
	}
	if got := e.svc.Puts[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("service got %+v, want %+v", got, want)
	}
	if got := e.count(metrics.OpPut, metrics.OutcomeOK); got != 1 {
		t.Errorf("put/ok = %v", got)
	}
}

func TestPutDefaults(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest("PUT", "/v1/buckets/b/keys/k", nil)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d; body %s", rec.Code, rec.Body)
	}
	got := e.svc.Puts[0]
	if got.ContentType != "application/octet-stream" || got.Context != "" || len(got.Value) != 0 || got.Options != (kv.Options{}) {
		t.Errorf("defaults: %+v", got)
	}
}

func TestPutValueAtLimitIsAccepted(t *testing.T) {
	e := newEnv(t)
	e.svc.LimitsResult.MaxValueBytes = 16
	rec := e.do("PUT", "/v1/buckets/b/keys/k", strings.NewReader(strings.Repeat("x", 16)))
	if rec.Code != http.StatusNoContent || len(e.svc.Puts[0].Value) != 16 {
		t.Errorf("value at the limit: %d; body %s", rec.Code, rec.Body)
	}
}

// failingReader fails the test if the handler reads the body.
type failingReader struct{ t *testing.T }

func (r failingReader) Read([]byte) (int, error) {
	r.t.Error("body read although Content-Length is over the limit")
	return 0, io.EOF
}

func TestPutOverLimitRejectedBeforeReading(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest("PUT", "/v1/buckets/b/keys/k", nil)
	req.Body = io.NopCloser(failingReader{t})
	req.ContentLength = int64(e.svc.LimitsResult.MaxValueBytes) + 1
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	errorOf(t, rec)
	if e.svc.Writes() != 0 {
		t.Error("service called for an over-limit value")
	}
	if got := e.count(metrics.OpPut, metrics.OutcomeTooLarge); got != 1 {
		t.Errorf("put/too_large = %v", got)
	}
}

func TestPutChunkedOverLimitRejected(t *testing.T) {
	e := newEnv(t)
	e.svc.LimitsResult.MaxValueBytes = 1000
	req := httptest.NewRequest("PUT", "/v1/buckets/b/keys/k", nil)
	// An unknown length, as with Transfer-Encoding: chunked.
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("x", 1001))))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	if e.svc.Writes() != 0 {
		t.Error("service called for an over-limit chunked value")
	}
}

func TestPutChunkedOverLimitOverRealServer(t *testing.T) {
	e := newEnv(t)
	e.svc.LimitsResult.MaxValueBytes = 1 << 10
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	// io.MultiReader hides the length, so the client sends it chunked.
	body := io.MultiReader(bytes.NewReader(make([]byte, 4<<10)))
	req, err := http.NewRequest("PUT", srv.URL+"/v1/buckets/b/keys/k", body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
	if e.svc.Writes() != 0 {
		t.Error("service called for an over-limit chunked value")
	}
}

func TestKeysArePercentDecoded(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ path, bucket, key string }{
		{"/v1/buckets/b/keys/a%2Fb", "b", "a/b"},
		{"/v1/buckets/my%20bucket/keys/caf%C3%A9", "my bucket", "café"},
		{"/v1/buckets/b/keys/%00%FF", "b", "\x00\xff"},
		{"/v1/buckets/%2E%2E/keys/%2E", "..", "."},
		{"/v1/buckets/b/keys/a+b", "b", "a+b"},
		{"/v1/buckets/b/keys/%3Fq%3D1%23x", "b", "?q=1#x"},
	}
	for _, c := range cases {
		rec := e.do("PUT", c.path, strings.NewReader("v"))
		if rec.Code != http.StatusNoContent {
			t.Errorf("PUT %s = %d; body %s", c.path, rec.Code, rec.Body)
			continue
		}
		got := e.svc.Puts[len(e.svc.Puts)-1]
		if string(got.Bucket) != c.bucket || string(got.Key) != c.key {
			t.Errorf("PUT %s stored %q/%q, want %q/%q", c.path, got.Bucket, got.Key, c.bucket, c.key)
		}
	}
}

// TestRejectedInputChangesNothing sends invalid requests to every write
// route and checks that the service was not asked to write.
func TestRejectedInputChangesNothing(t *testing.T) {
	longBucket := strings.Repeat("b", kv.DefaultLimits().MaxBucketBytes+1)
	longKey := strings.Repeat("k", kv.DefaultLimits().MaxKeyBytes+1)
	cases := []struct {
		name    string
		method  string
		target  string
		headers []string
		status  int
	}{
		{"unparseable w", "PUT", "/v1/buckets/b/keys/k?w=banana", nil, 400},
		{"negative w", "PUT", "/v1/buckets/b/keys/k?w=-1", nil, 400},
		{"w over N", "PUT", "/v1/buckets/b/keys/k?w=4", nil, 400},
		{"dw over N", "DELETE", "/v1/buckets/b/keys/k?dw=7", nil, 400},
		{"w zero", "PUT", "/v1/buckets/b/keys/k?w=0", nil, 400},
		{"pw huge", "PUT", "/v1/buckets/b/keys/k?pw=99999999999", nil, 400},
		{"read param on write", "PUT", "/v1/buckets/b/keys/k?r=1", nil, 400},
		{"unknown param", "PUT", "/v1/buckets/b/keys/k?W=all", nil, 400},
		{"repeated param", "DELETE", "/v1/buckets/b/keys/k?w=1&w=2", nil, 400},
		{"malformed query", "PUT", "/v1/buckets/b/keys/k?w=%zz", nil, 400},
		{"bad timeout", "PUT", "/v1/buckets/b/keys/k?timeout=soon", nil, 400},
		{"negative timeout", "DELETE", "/v1/buckets/b/keys/k?timeout=-5ms", nil, 400},
		{"timeout over max", "PUT", "/v1/buckets/b/keys/k?timeout=2h", nil, 400},
		{"empty bucket", "PUT", "/v1/buckets//keys/k", nil, 400},
		{"empty key", "PUT", "/v1/buckets/b/keys/", nil, 400},
		{"unencoded slash", "PUT", "/v1/buckets/b/keys/a/b", nil, 400},
		{"dot segment", "PUT", "/v1/buckets/b/keys/x/../k", nil, 400},
		{"dot key", "DELETE", "/v1/buckets/b/keys/..", nil, 400},
		{"long bucket", "PUT", "/v1/buckets/" + longBucket + "/keys/k", nil, 414},
		{"long key", "DELETE", "/v1/buckets/b/keys/" + longKey, nil, 414},
		{"two contexts", "PUT", "/v1/buckets/b/keys/k", []string{ContextHeader, "a", ContextHeader, "b"}, 400},
		{"two idempotency keys", "PUT", "/v1/buckets/b/keys/k", []string{IdempotencyKeyHeader, "a", IdempotencyKeyHeader, "b"}, 400},
		{"long idempotency key", "DELETE", "/v1/buckets/b/keys/k", []string{IdempotencyKeyHeader, strings.Repeat("k", 65)}, 400},
		{"bad content type", "PUT", "/v1/buckets/b/keys/k", []string{"Content-Type", "text/"}, 400},
		{"props empty bucket", "PUT", "/v1/buckets//props", nil, 400},
		{"props long bucket", "PUT", "/v1/buckets/" + longBucket + "/props", nil, 414},
		{"props query", "PUT", "/v1/buckets/b/props?w=1", nil, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(c.method, c.target, strings.NewReader(`{"w": 1}`), c.headers...)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, c.status, rec.Body)
			}
			errorOf(t, rec)
			if n := e.svc.DataCalls(); n != 0 {
				t.Errorf("service called %d times for rejected input", n)
			}
		})
	}
}

func TestRejectedReadsDoNotReachService(t *testing.T) {
	longKey := strings.Repeat("k", kv.DefaultLimits().MaxKeyBytes+1)
	for target, status := range map[string]int{
		"/v1/buckets/b/keys/k?r=all&r=one": 400,
		"/v1/buckets/b/keys/k?w=1":         400,
		"/v1/buckets/b/keys/k?r=0":         400,
		"/v1/buckets/b/keys/k?pr=5":        400,
		"/v1/buckets/b/keys/k?timeout=1.5": 400,
		"/v1/buckets/b/keys/" + longKey:    414,
		"/v1/buckets/b/props?x=1":          400,
	} {
		e := newEnv(t)
		rec := e.do("GET", target, nil)
		if rec.Code != status {
			t.Errorf("GET %s = %d, want %d", target, rec.Code, status)
			continue
		}
		errorOf(t, rec)
		if e.svc.DataCalls() != 0 {
			t.Errorf("GET %s reached the service", target)
		}
	}
}

func TestQuorumParameters(t *testing.T) {
	cases := []struct {
		query string
		want  kv.Options
	}{
		{"", kv.Options{}},
		{"r=1&pr=2", kv.Options{R: 1, PR: 2}},
		{"r=one&pr=all", kv.Options{R: kv.One, PR: kv.All}},
		{"r=QUORUM&pr=0", kv.Options{R: kv.Majority, PR: kv.Zero}},
		{"r=default", kv.Options{}},
		{"timeout=250", kv.Options{Timeout: 250 * time.Millisecond}},
		{"timeout=2s", kv.Options{Timeout: 2 * time.Second}},
		{"timeout=0", kv.Options{}},
	}
	for _, c := range cases {
		e := newEnv(t)
		e.svc.GetResult = &kv.GetResult{Found: true, Siblings: []kv.Sibling{{Value: []byte("v")}}}
		rec := e.do("GET", "/v1/buckets/b/keys/k?"+c.query, nil)
		if rec.Code != 200 {
			t.Errorf("?%s = %d; body %s", c.query, rec.Code, rec.Body)
			continue
		}
		if got := e.svc.Gets[0].Options; got != c.want {
			t.Errorf("?%s: options %+v, want %+v", c.query, got, c.want)
		}
	}
}

func TestWriteQuorumParameters(t *testing.T) {
	e := newEnv(t)
	rec := e.do("DELETE", "/v1/buckets/b/keys/k?w=all&dw=0&pw=1&timeout=1500", nil, ContextHeader, "ctx-seen", IdempotencyKeyHeader, "del-1")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status %d; body %s", rec.Code, rec.Body)
	}
	want := &kv.DeleteRequest{Bucket: []byte("b"), Key: []byte("k"), Context: "ctx-seen", WriteID: "del-1",
		Options: kv.Options{W: kv.All, DW: kv.Zero, PW: 1, Timeout: 1500 * time.Millisecond}}
	if got := e.svc.Deletes[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("service got %+v, want %+v", got, want)
	}
	if got := rec.Header().Get(ContextHeader); got != "ctx-del" {
		t.Errorf("tombstone context %q, want ctx-del", got)
	}
	if got := e.count(metrics.OpDelete, metrics.OutcomeOK); got != 1 {
		t.Errorf("delete/ok = %v", got)
	}
}

var (
	t1 = time.Date(2025, 3, 4, 5, 6, 7, 800, time.UTC)
	t2 = time.Date(2025, 3, 4, 5, 6, 9, 0, time.UTC)
)

func TestGetOneValue(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{Found: true, Context: "ctx-1",
		Siblings: []kv.Sibling{{Value: []byte("hello"), ContentType: "text/plain", LastModified: t1}}}
	rec := e.do("GET", "/v1/buckets/b/keys/k?r=2", nil)
	if rec.Code != 200 || rec.Body.String() != "hello" {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
	h := rec.Header()
	if h.Get("Content-Type") != "text/plain" || h.Get(ContextHeader) != "ctx-1" ||
		h.Get("Last-Modified") != "Tue, 04 Mar 2025 05:06:07 GMT" || h.Get("Content-Length") != "5" {
		t.Errorf("headers %v", h)
	}
	if got := e.svc.Gets[0]; string(got.Bucket) != "b" || string(got.Key) != "k" || got.R != 2 {
		t.Errorf("service got %+v", got)
	}
	if got := e.count(metrics.OpGet, metrics.OutcomeOK); got != 1 {
		t.Errorf("get/ok = %v", got)
	}
}

func TestGetDefaultContentType(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{Found: true, Siblings: []kv.Sibling{{Value: []byte{1, 2}}}}
	rec := e.do("GET", "/v1/buckets/b/keys/k", nil)
	if got := rec.Header().Get("Content-Type"); got != "application/octet-stream" {
		t.Errorf("Content-Type %q", got)
	}
	if rec.Header().Get("Last-Modified") != "" {
		t.Error("Last-Modified set for a zero time")
	}
}

func TestGetSiblingsAsMultipart(t *testing.T) {
	e := newEnv(t)
	siblings := []kv.Sibling{
		{Value: []byte("first"), ContentType: "text/plain", LastModified: t1},
		{Value: []byte("--not-a-boundary\r\n\x00"), ContentType: "application/octet-stream", LastModified: t2},
	}
	e.svc.GetResult = &kv.GetResult{Found: true, Context: "ctx-merged", Siblings: siblings}
	rec := e.do("GET", "/v1/buckets/b/keys/k", nil)
	if rec.Code != http.StatusMultipleChoices {
		t.Fatalf("status %d, want 300", rec.Code)
	}
	if got := rec.Header().Get(ContextHeader); got != "ctx-merged" {
		t.Errorf("context %q, want the merged one", got)
	}
	mt, params, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q (%v)", rec.Header().Get("Content-Type"), err)
	}
	mr := multipart.NewReader(rec.Body, params["boundary"])
	for i, want := range siblings {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, want.Value) {
			t.Errorf("part %d body %q, want %q", i, body, want.Value)
		}
		if got := part.Header.Get("Content-Type"); got != want.ContentType {
			t.Errorf("part %d Content-Type %q, want %q", i, got, want.ContentType)
		}
		if got := part.Header.Get("Last-Modified"); got != want.LastModified.Format(http.TimeFormat) {
			t.Errorf("part %d Last-Modified %q", i, got)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the last sibling: %v, want EOF", err)
	}
}

func TestGetAsJSON(t *testing.T) {
	for _, siblings := range [][]kv.Sibling{
		{{Value: []byte("one"), ContentType: "text/plain", LastModified: t1}},
		{{Value: []byte("one"), ContentType: "text/plain", LastModified: t1}, {Value: []byte{0, 255}, LastModified: t2}},
	} {
		e := newEnv(t)
		e.svc.GetResult = &kv.GetResult{Found: true, Context: "ctx-j", Siblings: siblings}
		rec := e.do("GET", "/v1/buckets/b/keys/k", nil, "Accept", "text/html, application/json;q=0.9")
		wantStatus := 200
		if len(siblings) > 1 {
			wantStatus = 300
		}
		if rec.Code != wantStatus || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("got %d %q, want %d JSON", rec.Code, rec.Header().Get("Content-Type"), wantStatus)
		}
		var answer struct {
			Context  string `json:"context"`
			Siblings []struct {
				Value        []byte    `json:"value"`
				ContentType  string    `json:"content_type"`
				LastModified time.Time `json:"last_modified"`
			} `json:"siblings"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
			t.Fatal(err)
		}
		if answer.Context != "ctx-j" || len(answer.Siblings) != len(siblings) {
			t.Fatalf("answer %+v", answer)
		}
		for i, s := range answer.Siblings {
			if !bytes.Equal(s.Value, siblings[i].Value) || !s.LastModified.Equal(siblings[i].LastModified) ||
				s.ContentType != contentTypeOf(siblings[i]) {
				t.Errorf("sibling %d = %+v, want %+v", i, s, siblings[i])
			}
		}
		if !strings.Contains(rec.Body.String(), `"value":"b25l"`) {
			t.Errorf("value not base64: %s", rec.Body)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                             false,
		"*/*":                          false,
		"application/json":             true,
		"text/plain, application/json": true,
		"application/json;q=0":         false,
		"application/jsonx":            false,
		"multipart/mixed":              false,
		";;;, application/json":        true,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		if got := wantsJSON(r); got != want {
			t.Errorf("wantsJSON(%q) = %v, want %v", accept, got, want)
		}
	}
}

func TestGetAbsentKeyIs404(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{}
	rec := e.do("GET", "/v1/buckets/b/keys/k", nil)
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
	errorOf(t, rec)
	if rec.Header().Get(ContextHeader) != "" || rec.Header().Get(DeletedHeader) != "" {
		t.Errorf("absent key answer has headers %v", rec.Header())
	}
	if got := e.count(metrics.OpGet, metrics.OutcomeNotFound); got != 1 {
		t.Errorf("get/not_found = %v", got)
	}
}

func TestGetDeletedKeyIs404WithContext(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{Deleted: true, Context: "ctx-tomb"}
	rec := e.do("GET", "/v1/buckets/b/keys/k", nil, "Accept", "application/json")
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
	errorOf(t, rec)
	if rec.Header().Get(ContextHeader) != "ctx-tomb" || rec.Header().Get(DeletedHeader) != "true" {
		t.Errorf("deleted key answer headers %v", rec.Header())
	}
}

func TestGetFoundWithoutSiblingsIsInternal(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{Found: true}
	if rec := e.do("GET", "/v1/buckets/b/keys/k", nil); rec.Code != 500 {
		t.Errorf("status %d, want 500", rec.Code)
	}
}

func TestHeadAnswersWithoutBody(t *testing.T) {
	e := newEnv(t)
	e.svc.GetResult = &kv.GetResult{Found: true, Context: "c", Siblings: []kv.Sibling{{Value: []byte("hello")}}}
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	resp, err := srv.Client().Head(srv.URL + "/v1/buckets/b/keys/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(ContextHeader) != "c" || resp.ContentLength != 5 {
		t.Errorf("HEAD = %d %v", resp.StatusCode, resp.Header)
	}
}

// TestContextRoundTrip reads a key and writes it back with the context it
// got, over a real connection.
func TestContextRoundTrip(t *testing.T) {
	e := newEnv(t)
	const causal = "g2wAAAABaAJtAAAACG4xOjEyMzQ1YQFq/+="
	e.svc.GetResult = &kv.GetResult{Found: true, Context: causal, Siblings: []kv.Sibling{{Value: []byte("v1")}}}
	srv := httptest.NewServer(e.handler)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/v1/buckets/b/keys/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Get(ContextHeader)
	if got != causal {
		t.Fatalf("read context %q, want %q", got, causal)
	}
	req, _ := http.NewRequest("PUT", srv.URL+"/v1/buckets/b/keys/k", strings.NewReader("v2"))
	req.Header.Set(ContextHeader, got)
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("put = %d", resp.StatusCode)
	}
	if e.svc.Puts[0].Context != causal {
		t.Errorf("service got context %q, want %q", e.svc.Puts[0].Context, causal)
	}
}
