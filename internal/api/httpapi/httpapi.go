// Package httpapi serves Tutti's HTTP/JSON client API on top of a
// kv.Service.
//
// Routes (docs/api.md is the reference for clients):
//
//	PUT    /v1/buckets/{bucket}/keys/{key}   store a value (204)
//	GET    /v1/buckets/{bucket}/keys/{key}   read a value (200) or its siblings (300)
//	DELETE /v1/buckets/{bucket}/keys/{key}   delete (204)
//	GET    /v1/buckets/{bucket}/props        bucket properties
//	PUT    /v1/buckets/{bucket}/props        merge fields into the bucket properties
//	GET    /v1/cluster/members               members and their liveness
//	GET    /v1/cluster/ring                  owners of every partition
//	GET    /v1/debug/local/{bucket}/{key}    the node's own copy of a key
//	GET    /v1/debug/aae                     the node's anti-entropy trees and exchanges
//	POST   /v1/debug/aae/repair?partition=P  exchange partition P with its peers now
//	POST   /v1/debug/aae/pause                pause scheduled exchanges and tree builds
//	POST   /v1/debug/aae/resume               resume them
//	GET    /healthz                          "ok" while the node serves
//	GET    /metrics                          Prometheus metrics
//
// Bucket and key are single path segments, percent-decoded, so they may hold
// any bytes; a "/" inside them must be sent as %2F, and a bucket or key that
// is "." or ".." must be percent-encoded (%2E) because clients and proxies
// resolve dot segments.
//
// The handler validates every parameter, header and size limit before it
// calls the service, so a rejected request changes nothing. Errors are JSON
// objects {"error": reason} (quorum failures add "needed" and "answered").
// Every request is counted in the metrics by op and outcome, and a panic
// becomes a logged 500 answer.
package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// Headers of the API.
const (
	// ContextHeader carries the opaque causal context: answered by reads
	// and writes, sent back with the next write.
	ContextHeader = "X-Tutti-Context"
	// DeletedHeader is "true" on the 404 answer for a deleted key.
	DeletedHeader = "X-Tutti-Deleted"
	// IdempotencyKeyHeader names a PUT or DELETE (at most 64 bytes): the
	// same write resent with the same key is stored once.
	IdempotencyKeyHeader = "Idempotency-Key"
)

// Server timeouts. ReadTimeout lets a client upload an 8 MiB value at about
// 70 kB/s; WriteTimeout covers the longest request timeout a client may ask
// for (MaxRequestTimeout) plus a minute to send a large answer. Slow clients
// that never finish their headers are cut off by ReadHeaderTimeout.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 2 * time.Minute
	WriteTimeout      = MaxRequestTimeout + time.Minute
	IdleTimeout       = 120 * time.Second
	// MaxHeaderBytes bounds the request line and headers, the causal
	// context included.
	MaxHeaderBytes = 256 << 10
)

// MaxRequestTimeout is the largest timeout parameter a request may give.
const MaxRequestTimeout = time.Minute

// maxPropsBytes bounds a bucket-properties body.
const maxPropsBytes = 64 << 10

// NewServer returns an HTTP server for h on addr with timeouts that suit
// the API.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// New returns the API handler over svc. Requests are counted in m and
// /metrics exposes reg; both are required. A nil log discards log records.
// The /v1/debug/aae routes serve svc's kv.AntiEntropy when it implements
// one, and answer 404 when it does not.
func New(svc kv.Service, m *metrics.Metrics, reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &api{svc: svc, metrics: m, log: log, mux: http.NewServeMux()}
	a.aae, _ = svc.(kv.AntiEntropy)
	a.route("/v1/buckets/{bucket}/keys/{key}", map[string]endpoint{
		http.MethodGet:    {metrics.OpGet, a.get},
		http.MethodPut:    {metrics.OpPut, a.put},
		http.MethodDelete: {metrics.OpDelete, a.delete},
	})
	a.route("/v1/buckets/{bucket}/props", map[string]endpoint{
		http.MethodGet: {metrics.OpProps, a.getProps},
		http.MethodPut: {metrics.OpProps, a.setProps},
	})
	a.route("/v1/cluster/members", map[string]endpoint{http.MethodGet: {metrics.OpCluster, a.members}})
	a.route("/v1/cluster/ring", map[string]endpoint{http.MethodGet: {metrics.OpCluster, a.ring}})
	a.route("/v1/debug/local/{bucket}/{key}", map[string]endpoint{http.MethodGet: {metrics.OpOther, a.local}})
	a.route("/v1/debug/aae", map[string]endpoint{http.MethodGet: {metrics.OpOther, a.aaeStatus}})
	a.route("/v1/debug/aae/repair", map[string]endpoint{http.MethodPost: {metrics.OpOther, a.aaeRepair}})
	a.route("/v1/debug/aae/pause", map[string]endpoint{http.MethodPost: {metrics.OpOther, a.aaePause}})
	a.route("/v1/debug/aae/resume", map[string]endpoint{http.MethodPost: {metrics.OpOther, a.aaeResume}})
	a.route("/healthz", map[string]endpoint{http.MethodGet: {metrics.OpOther, healthz}})
	scrape := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	a.route("/metrics", map[string]endpoint{http.MethodGet: {metrics.OpOther, func(w http.ResponseWriter, r *http.Request) error {
		scrape.ServeHTTP(w, r)
		return nil
	}}})
	a.mux.Handle("/", a.handle(metrics.OpOther, func(http.ResponseWriter, *http.Request) error {
		return kv.Errorf(kv.NotFound, "no such route")
	}))
	return a
}

type api struct {
	svc kv.Service
	// aae is svc's anti-entropy, nil when it has none.
	aae     kv.AntiEntropy
	metrics *metrics.Metrics
	log     *slog.Logger
	mux     *http.ServeMux
}

// endpoint is one method of a route. Its function either answers or returns
// the error to answer with.
type endpoint struct {
	op string
	fn func(http.ResponseWriter, *http.Request) error
}

// route registers the methods of one path, and for every other method a 405
// answer listing the allowed ones.
func (a *api) route(path string, methods map[string]endpoint) {
	var allowed []string
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		if _, ok := methods[method]; ok {
			allowed = append(allowed, method)
			if method == http.MethodGet {
				// ServeMux routes HEAD to GET patterns.
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	for method, e := range methods {
		a.mux.Handle(method+" "+path, a.handle(e.op, e.fn))
	}
	allow := strings.Join(allowed, ", ")
	a.mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r)
		st.outcome = metrics.OutcomeBadRequest
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed; use " + allow})
	}))
}

// handle adapts an endpoint function to the mux: it labels the request's
// metrics with op and answers the returned error.
func (a *api) handle(op string, fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stateOf(r).op = op
		if err := fn(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// requestState is what a request's handlers report for its metrics.
type requestState struct {
	op, outcome string
}

type stateKey struct{}

// stateOf returns r's state; requests that did not come through ServeHTTP
// get a throwaway one.
func stateOf(r *http.Request) *requestState {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{}
}

// ServeHTTP checks the path, routes the request, recovers panics and
// records the request's metrics.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &requestState{op: metrics.OpOther, outcome: metrics.OutcomeOK}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	rw := &responseWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				// The server's way to drop a connection: let it through.
				st.outcome = metrics.OutcomeCanceled
				a.metrics.ObserveRequest(st.op, st.outcome, time.Since(start))
				panic(p)
			}
			a.metrics.Panics.WithLabelValues("http").Inc()
			a.log.Error("panic serving request", "method", r.Method, "path", r.URL.EscapedPath(),
				"panic", p, "stack", string(debug.Stack()))
			st.outcome = metrics.OutcomeError
			if !rw.wroteHeader {
				writeJSON(rw, http.StatusInternalServerError, errorBody{Error: "internal error"})
			}
		}
		elapsed := time.Since(start)
		a.metrics.ObserveRequest(st.op, st.outcome, elapsed)
		a.log.Debug("request", "method", r.Method, "path", r.URL.EscapedPath(), "status", rw.status,
			"op", st.op, "outcome", st.outcome, "elapsed", elapsed)
	}()
	if op, err := checkBucketPath(r.Method, r.URL.EscapedPath()); err != nil {
		st.op = op
		a.fail(rw, r, err)
		return
	}
	a.mux.ServeHTTP(rw, r)
}

// responseWriter remembers whether and what status was written.
type responseWriter struct {
	http.ResponseWriter
	wroteHeader bool
	status      int
}

func (w *responseWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func healthz(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	// A write error means the client is gone: nothing left to answer.
	_, _ = w.Write([]byte("ok\n"))
	return nil
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An encoding error here means the client went away.
	_ = json.NewEncoder(w).Encode(v)
}
