package bench

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// keyRecorder is an HTTP handler that remembers the Idempotency-Key of
// every request it sees and answers with answer.
type keyRecorder struct {
	mu     sync.Mutex
	keys   []string
	answer func(w http.ResponseWriter, r *http.Request)
}

func (k *keyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.keys = append(k.keys, r.Header.Get(idempotencyKeyHeader))
	k.mu.Unlock()
	k.answer(w, r)
}

func (k *keyRecorder) seen() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.keys...)
}

// dropConnection closes the connection without answering, as a node that
// dies mid-request does.
func dropConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func noContent(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func TestHTTPRetriesTransportFailuresOnTheNextEndpoint(t *testing.T) {
	refused := httptest.NewServer(http.NotFoundHandler())
	refused.Close() // connection refused from now on
	dropping := &keyRecorder{answer: dropConnection}
	dropSrv := httptest.NewServer(dropping)
	defer dropSrv.Close()
	good := &keyRecorder{answer: noContent}
	goodSrv := httptest.NewServer(good)
	defer goodSrv.Close()

	tgt := newHTTPTarget([]string{refused.URL, dropSrv.URL, goodSrv.URL}, "b", 1)
	defer tgt.close()
	ctx := context.Background()
	// The first write starts at the refusing endpoint, is refused, is cut
	// off by the dropping one, and lands on the third.
	if err := tgt.write(ctx, "k", []byte("v1")); err != nil {
		t.Fatalf("first write: %v", err)
	}
	// The second starts at the dropping endpoint.
	if err := tgt.write(ctx, "k", []byte("v2")); err != nil {
		t.Fatalf("second write: %v", err)
	}
	dropped, landed := dropping.seen(), good.seen()
	if len(landed) != 2 || len(dropped) < 2 {
		t.Fatalf("attempts: %d dropped, %d landed; want both writes to reach both", len(dropped), len(landed))
	}
	first, second := landed[0], landed[1]
	for _, k := range []string{first, second} {
		if b, err := hex.DecodeString(k); err != nil || len(b) != 16 {
			t.Errorf("idempotency key %q is not 16 bytes of hex", k)
		}
	}
	if first == second {
		t.Error("two logical writes share an idempotency key")
	}
	// Every attempt of a write carries its key.
	for _, k := range dropped {
		if k != first && k != second {
			t.Errorf("dropped attempt carried key %q, not one of its write's", k)
		}
	}
	// Reads are retried too, without a key.
	good.answer = func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("v")) }
	if found, err := tgt.read(ctx, "k"); err != nil || !found {
		t.Fatalf("read: %v %v", found, err)
	}
	if landed := good.seen(); landed[len(landed)-1] != "" {
		t.Errorf("read carried idempotency key %q", landed[len(landed)-1])
	}

	// When every endpoint fails in transport, the write fails as such.
	all := newHTTPTarget([]string{refused.URL, dropSrv.URL}, "b", 1)
	defer all.close()
	if err := all.write(ctx, "k", []byte("v")); kindOf(err) != "transport" {
		t.Errorf("all endpoints down: kind %q (%v), want transport", kindOf(err), err)
	}
}

func TestHTTPDoesNotRetryAnswersOrTimeouts(t *testing.T) {
	next := &keyRecorder{answer: noContent}
	nextSrv := httptest.NewServer(next)
	defer nextSrv.Close()

	// A node that answered, even with an error, is not retried.
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONError(w, http.StatusServiceUnavailable, "quorum not met")
	}))
	defer unavailable.Close()
	tgt := newHTTPTarget([]string{unavailable.URL, nextSrv.URL}, "b", 1)
	defer tgt.close()
	if err := tgt.write(context.Background(), "k", []byte("v")); kindOf(err) != "unavailable" {
		t.Errorf("503: kind %q (%v), want unavailable", kindOf(err), err)
	}

	// Nor is a request whose own deadline passed.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	tgt2 := newHTTPTarget([]string{slow.URL, nextSrv.URL}, "b", 1)
	defer tgt2.close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := tgt2.write(ctx, "k", []byte("v")); kindOf(err) != "timeout" {
		t.Errorf("slow node: kind %q (%v), want timeout", kindOf(err), err)
	}
	if n := len(next.seen()); n != 0 {
		t.Errorf("the next endpoint got %d requests, want none", n)
	}
}
