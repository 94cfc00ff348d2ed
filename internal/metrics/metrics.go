// Package metrics holds the Prometheus metrics of a Tutti node.
//
// New registers every metric on the registry it is given (never on the
// process-wide default registry), so that several nodes can live in one
// process and tests can inspect a fresh registry. The metrics are exported
// fields: other packages observe them directly, and a new metric is one more
// field set in New.
//
// Request metrics carry two labels: op (one of the Op constants) and outcome
// (one of the Outcome constants, see OutcomeOf). Both APIs, HTTP and gRPC,
// count into the same series.
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tutti-kv/tutti/internal/kv"
)

// Operations, the values of the op label.
const (
	OpGet     = "get"
	OpPut     = "put"
	OpDelete  = "delete"
	OpProps   = "props"
	OpCluster = "cluster"
	// OpOther is everything else: health checks, metric scrapes, unknown
	// routes.
	OpOther = "other"
)

// Outcomes, the values of the outcome label.
const (
	OutcomeOK          = "ok"
	OutcomeNotFound    = "not_found"
	OutcomeBadRequest  = "bad_request"
	OutcomeTooLarge    = "too_large"
	OutcomeNameTooLong = "name_too_long"
	OutcomeUnavailable = "unavailable"
	OutcomeTimeout     = "timeout"
	OutcomeCanceled    = "canceled"
	OutcomeError       = "error"
)

// Ops returns every op label value.
func Ops() []string {
	return []string{OpGet, OpPut, OpDelete, OpProps, OpCluster, OpOther}
}

// Outcomes returns every outcome label value.
func Outcomes() []string {
	return []string{
		OutcomeOK, OutcomeNotFound, OutcomeBadRequest, OutcomeTooLarge, OutcomeNameTooLong,
		OutcomeUnavailable, OutcomeTimeout, OutcomeCanceled, OutcomeError,
	}
}

// DurationBuckets returns the request latency histogram's upper bounds in
// seconds, from 100 µs to 10 s.
func DurationBuckets() []float64 {
	return []float64{
		0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
		0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	}
}

// Metrics are one node's metrics.
type Metrics struct {
	// Requests counts client requests by op and outcome
	// (tutti_requests_total).
	Requests *prometheus.CounterVec
	// RequestDuration is client request latency in seconds by op and
	// outcome (tutti_request_duration_seconds).
	RequestDuration *prometheus.HistogramVec
	// Panics counts panics recovered while serving a request, by api
	// ("http" or "grpc") (tutti_panics_total).
	Panics *prometheus.CounterVec
}

// New creates the metrics and registers them on reg. It panics if a metric
// of the same name is already registered there, as prometheus.MustRegister
// does: that is a programming error.
func New(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutti_requests_total",
			Help: "Client requests by operation and outcome.",
		}, []string{"op", "outcome"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tutti_request_duration_seconds",
			Help:    "Client request latency by operation and outcome.",
			Buckets: DurationBuckets(),
		}, []string{"op", "outcome"}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tutti_panics_total",
			Help: "Panics recovered while serving a client request, by API.",
		}, []string{"api"}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.Panics)
	// Series that exist from the start make rate() and alerts work before
	// the first request of a kind.
	for _, op := range Ops() {
		for _, outcome := range Outcomes() {
			m.Requests.WithLabelValues(op, outcome)
		}
	}
	for _, api := range []string{"http", "grpc"} {
		m.Panics.WithLabelValues(api)
	}
	return m
}

// ObserveRequest counts one request and its latency.
func (m *Metrics) ObserveRequest(op, outcome string, elapsed time.Duration) {
	m.Requests.WithLabelValues(op, outcome).Inc()
	m.RequestDuration.WithLabelValues(op, outcome).Observe(elapsed.Seconds())
}

// OutcomeOf classifies a request's error: nil is OutcomeOK, context errors
// are OutcomeTimeout and OutcomeCanceled, a *kv.Error by its kind, anything
// else OutcomeError.
func OutcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	var e *kv.Error
	if !errors.As(err, &e) {
		return OutcomeError
	}
	switch e.Kind {
	case kv.BadRequest:
		return OutcomeBadRequest
	case kv.TooLarge:
		return OutcomeTooLarge
	case kv.NameTooLong:
		return OutcomeNameTooLong
	case kv.Unavailable:
		return OutcomeUnavailable
	case kv.NotFound:
		return OutcomeNotFound
	}
	return OutcomeError
}
