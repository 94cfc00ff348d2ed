package faultlab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/faultlab"
)

// fakeStore is an in-memory stand-in for a cluster's HTTP API: a blind
// put adds a sibling, a get answers every sibling as JSON. Its bugs let
// the tests prove that the whole pipeline (workload, history, final read,
// checker) catches what it must.
type fakeStore struct {
	// loseEvery acknowledges but forgets every loseEvery-th put (0: none).
	loseEvery int
	// rejectButKeep answers 400 to every put with w=3 yet stores it.
	rejectButKeep bool

	mu   sync.Mutex
	puts int
	keys map[string][]string
}

func (s *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/buckets/b/keys/")
	if !ok {
		http.Error(w, `{"error":"unknown route"}`, http.StatusNotFound)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		s.puts++
		if s.loseEvery == 0 || s.puts%s.loseEvery != 0 {
			s.keys[key] = append(s.keys[key], string(body))
		}
		if s.rejectButKeep && r.URL.Query().Get("w") == "3" {
			http.Error(w, `{"error":"bad"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		vals := s.keys[key]
		if len(vals) == 0 {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		type sibling struct {
			Value []byte `json:"value"`
		}
		answer := struct {
			Siblings []sibling `json:"siblings"`
		}{}
		for _, v := range vals {
			answer.Siblings = append(answer.Siblings, sibling{Value: []byte(v)})
		}
		w.Header().Set("Content-Type", "application/json")
		if len(vals) > 1 {
			w.WriteHeader(http.StatusMultipleChoices)
		}
		_ = json.NewEncoder(w).Encode(answer)
	}
}

// runAgainst runs a short workload against targets and returns the
// history.
func runAgainst(t *testing.T, w faultlab.Workload, d time.Duration) []faultlab.Op {
	t.Helper()
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	w.Bucket = "b"
	if err := w.Run(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	history, err := faultlab.ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return history
}

// checkAgainst runs a workload on store and checks the history against
// the store's final state.
func checkAgainst(t *testing.T, store *fakeStore) (faultlab.Result, []faultlab.Op) {
	t.Helper()
	store.keys = make(map[string][]string)
	srv := httptest.NewServer(store)
	defer srv.Close()
	targets := []string{srv.URL, srv.URL, srv.URL}
	history := runAgainst(t, faultlab.Workload{Targets: targets, Clients: 4}, 300*time.Millisecond)
	final, err := faultlab.FinalRead(context.Background(), targets, "b", faultlab.Keys(history))
	if err != nil {
		t.Fatal(err)
	}
	return faultlab.Check(history, final), history
}

func TestWorkloadOnACorrectStorePasses(t *testing.T) {
	res, history := checkAgainst(t, &fakeStore{})
	if !res.OK() {
		t.Fatalf("correct store failed the check:\n%s", res)
	}
	if res.Puts.OK < 20 || res.Gets.OK < 5 || res.Puts.Fail+res.Puts.Info+res.Gets.Fail+res.Gets.Info != 0 {
		t.Errorf("unexpected tallies:\n%s", res)
	}
	for w := 1; w <= 3; w++ {
		if res.PutsByW[w].OK == 0 {
			t.Errorf("no put with w=%d", w)
		}
	}
	// Each key gets at most WritesPerKey (default 6) puts, and some get
	// several: concurrent blind puts are what makes siblings.
	perKey := make(map[string]int)
	most := 0
	for _, op := range history {
		if op.F == faultlab.Put && op.Type == faultlab.Invoke {
			perKey[op.Key]++
			most = max(most, perKey[op.Key])
		}
	}
	if most > 6 || most < 2 {
		t.Errorf("the busiest key got %d puts, want 2 to 6", most)
	}
}

func TestWorkloadCatchesALosingStore(t *testing.T) {
	res, _ := checkAgainst(t, &fakeStore{loseEvery: 7})
	if res.OK() || len(res.Lost) == 0 {
		t.Fatalf("a store that forgets acknowledged writes passed:\n%s", res)
	}
}

func TestWorkloadCatchesAPhantomWrite(t *testing.T) {
	res, _ := checkAgainst(t, &fakeStore{rejectButKeep: true})
	if res.OK() || len(res.Phantoms) == 0 {
		t.Fatalf("a store that keeps rejected writes passed:\n%s", res)
	}
}

// TestWorkloadClassifiesOutcomes checks the history type of each kind of
// answer: only a 4xx or a connection never made proves nothing was
// written.
func TestWorkloadClassifiesOutcomes(t *testing.T) {
	answer := func(status int) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"error":"x"}`, status)
		})
	}
	// hang answers nothing until the client gives up. It reads the body
	// first: the server notices a closed connection only after that.
	hang := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	cases := []struct {
		name    string
		handler http.Handler // nil: nothing listens
		want    faultlab.Type
	}{
		{"400", answer(http.StatusBadRequest), faultlab.Fail},
		{"413", answer(http.StatusRequestEntityTooLarge), faultlab.Fail},
		{"503", answer(http.StatusServiceUnavailable), faultlab.Info},
		{"500", answer(http.StatusInternalServerError), faultlab.Info},
		{"timeout", hang, faultlab.Info},
		{"connection refused", nil, faultlab.Fail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := refusedURL(t)
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				url = srv.URL
			}
			w := faultlab.Workload{Targets: []string{url}, Clients: 1, ReadFraction: -1, Timeout: 200 * time.Millisecond}
			history := runAgainst(t, w, 100*time.Millisecond)
			done := 0
			for _, op := range history {
				if op.Type == faultlab.Invoke {
					continue
				}
				done++
				if op.Type != tc.want || op.Error == "" {
					t.Errorf("got %s, want %s", op, tc.want)
				}
			}
			if done == 0 {
				t.Error("no operation completed")
			}
		})
	}
}

// refusedURL is an address where nothing listens.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
