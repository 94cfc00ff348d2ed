package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tutti-kv/tutti/internal/kv"
)

func TestObserveRequestCountsAndTimes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.ObserveRequest(OpGet, OutcomeOK, 3*time.Millisecond)
	m.ObserveRequest(OpGet, OutcomeOK, 7*time.Millisecond)
	m.ObserveRequest(OpPut, OutcomeUnavailable, time.Second)

	if got := testutil.ToFloat64(m.Requests.WithLabelValues(OpGet, OutcomeOK)); got != 2 {
		t.Errorf("get/ok count = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues(OpPut, OutcomeUnavailable)); got != 1 {
		t.Errorf("put/unavailable count = %v, want 1", got)
	}
	want := `
# HELP tutti_request_duration_seconds Client request latency by operation and outcome.
# TYPE tutti_request_duration_seconds histogram
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want+histogramText()), "tutti_request_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// histogramText is the exposition of the three observations above.
func histogramText() string {
	var b strings.Builder
	series := []struct {
		op, outcome string
		values      []float64
	}{
		{OpGet, OutcomeOK, []float64{0.003, 0.007}},
		{OpPut, OutcomeUnavailable, []float64{1}},
	}
	for _, s := range series {
		sum := 0.0
		for _, v := range s.values {
			sum += v
		}
		for _, le := range DurationBuckets() {
			n := 0
			for _, v := range s.values {
				if v <= le {
					n++
				}
			}
			fmt.Fprintf(&b, "tutti_request_duration_seconds_bucket{op=%q,outcome=%q,le=%q} %d\n", s.op, s.outcome, fmt.Sprint(le), n)
		}
		fmt.Fprintf(&b, "tutti_request_duration_seconds_bucket{op=%q,outcome=%q,le=\"+Inf\"} %d\n", s.op, s.outcome, len(s.values))
		fmt.Fprintf(&b, "tutti_request_duration_seconds_sum{op=%q,outcome=%q} %v\n", s.op, s.outcome, sum)
		fmt.Fprintf(&b, "tutti_request_duration_seconds_count{op=%q,outcome=%q} %d\n", s.op, s.outcome, len(s.values))
	}
	return b.String()
}

func TestBucketsSpan100MicrosecondsTo10Seconds(t *testing.T) {
	b := DurationBuckets()
	if b[0] != 0.0001 || b[len(b)-1] != 10 {
		t.Fatalf("buckets %v do not span 100µs..10s", b)
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			t.Fatalf("buckets not increasing at %d: %v", i, b)
		}
	}
}

func TestSeriesExistBeforeFirstRequest(t *testing.T) {
	reg := prometheus.NewRegistry()
	New(reg)
	n, err := testutil.GatherAndCount(reg, "tutti_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(Ops()) * len(Outcomes()); n != want {
		t.Errorf("tutti_requests_total has %d series, want %d", n, want)
	}
}

func TestNewRegistersOnGivenRegistryOnly(t *testing.T) {
	New(prometheus.NewRegistry())
	New(prometheus.NewRegistry()) // would panic if New used a shared registry
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("registering twice on one registry did not panic")
		}
	}()
	New(reg)
}

func TestOutcomeOf(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{nil, OutcomeOK},
		{context.DeadlineExceeded, OutcomeTimeout},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), OutcomeTimeout},
		{context.Canceled, OutcomeCanceled},
		{kv.Errorf(kv.BadRequest, "x"), OutcomeBadRequest},
		{kv.Errorf(kv.TooLarge, "x"), OutcomeTooLarge},
		{kv.Errorf(kv.NameTooLong, "x"), OutcomeNameTooLong},
		{kv.QuorumError("x", 2, 1), OutcomeUnavailable},
		{kv.Errorf(kv.NotFound, "x"), OutcomeNotFound},
		{kv.Errorf(kv.Internal, "x"), OutcomeError},
		{fmt.Errorf("wrapped: %w", kv.Errorf(kv.BadRequest, "x")), OutcomeBadRequest},
		{errors.New("disk on fire"), OutcomeError},
	}
	outcomes := map[string]bool{}
	for _, o := range Outcomes() {
		outcomes[o] = true
	}
	for _, c := range cases {
		got := OutcomeOf(c.err)
		if got != c.want {
			t.Errorf("OutcomeOf(%v) = %q, want %q", c.err, got, c.want)
		}
		if !outcomes[got] {
			t.Errorf("OutcomeOf(%v) = %q, not a listed outcome", c.err, got)
		}
	}
}
