package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"
)

// Workload is a mix of operations in YCSB's sense. Reads and updates pick
// their key from the scrambled zipfian distribution.
type Workload struct {
	// Name is "a", "b", "c" or "w".
	Name string
	// ReadProportion and UpdateProportion sum to 1.
	ReadProportion   float64
	UpdateProportion float64
}

// ParseWorkload returns one of YCSB's core workloads: "a" (update heavy:
// 50% reads, 50% updates), "b" (read mostly: 95/5) or "c" (read only); or
// "w" (write only: every operation an update), which is not YCSB's but is
// what the failover timeline measures: every request is a write.
func ParseWorkload(name string) (Workload, error) {
	switch strings.ToLower(name) {
	case "a":
		return Workload{Name: "a", ReadProportion: 0.5, UpdateProportion: 0.5}, nil
	case "b":
		return Workload{Name: "b", ReadProportion: 0.95, UpdateProportion: 0.05}, nil
	case "c":
		return Workload{Name: "c", ReadProportion: 1, UpdateProportion: 0}, nil
	case "w":
		return Workload{Name: "w", ReadProportion: 0, UpdateProportion: 1}, nil
	}
	return Workload{}, fmt.Errorf("workload %q is not a, b, c or w", name)
}

// next draws the kind of the next operation.
func (w Workload) next(r *rand.Rand) opKind {
	if r.Float64() < w.ReadProportion {
		return opRead
	}
	return opUpdate
}

// Config describes one benchmark.
type Config struct {
	// Endpoints are URLs of nodes, all with the same scheme:
	// grpc://host:port (the gRPC API, routed by package client) or
	// http://host:port (the HTTP API, requests spread round-robin). Empty
	// with Failover, which starts a cluster of its own.
	Endpoints []string
	Workload  Workload
	// Records is the number of keys, loaded before the run phase.
	Records int
	// Duration is the length of the run phase.
	Duration time.Duration
	// Concurrency is the number of workers, each with one request in
	// flight.
	Concurrency int
	// ValueSize is the size in bytes of every value written.
	ValueSize int
	// Seed seeds every random choice.
	Seed uint64
	// Bucket holds the records.
	Bucket string
	// SetLWW sets the bucket's conflict policy to last-write-wins first.
	SetLWW bool
	// SkipLoad skips the load phase, for a run over records loaded before.
	SkipLoad bool
	// Timeout bounds each request; zero means no bound.
	Timeout time.Duration
	// Progress, when set, receives a line as each phase starts.
	Progress io.Writer
	// Failover, when set, makes Run start a cluster of its own, kill one of
	// its nodes during the run phase and report the write timeline around
	// the kill (Result.Failover).
	Failover *Failover
	// AAE, when set, makes Run start a cluster of its own, load the
	// records with one node down for part of them, and measure the
	// anti-entropy that repairs that node once it is back (Result.AAE).
	// Duration is then the concurrent workload's length; zero runs none.
	AAE *AAERun
}

// protocol is how Run talks to the cluster.
type protocol string

const (
	protocolGRPC protocol = "grpc"
	protocolHTTP protocol = "http"
)

// validate checks cfg and returns the protocol and the endpoints' host:port
// (for gRPC) or base URLs (for HTTP).
func (cfg Config) validate() (protocol, []string, error) {
	switch {
	case cfg.Workload.Name == "":
		return "", nil, fmt.Errorf("no workload")
	case cfg.Records < 1:
		return "", nil, fmt.Errorf("records must be at least 1, not %d", cfg.Records)
	case cfg.Duration <= 0 && cfg.AAE == nil:
		return "", nil, fmt.Errorf("duration must be positive, not %v", cfg.Duration)
	case cfg.Concurrency < 1:
		return "", nil, fmt.Errorf("concurrency must be at least 1, not %d", cfg.Concurrency)
	case cfg.ValueSize < 0:
		return "", nil, fmt.Errorf("value size must not be negative")
	case cfg.Bucket == "":
		return "", nil, fmt.Errorf("no bucket")
	case cfg.AAE != nil:
		return cfg.validateAAE()
	case cfg.Failover != nil:
		return cfg.validateFailover()
	case len(cfg.Endpoints) == 0:
		return "", nil, fmt.Errorf("no endpoints")
	}
	return parseEndpoints(cfg.Endpoints)
}

// parseEndpoints returns the endpoints' protocol and their host:port (for
// gRPC) or base URLs (for HTTP).
func parseEndpoints(endpoints []string) (protocol, []string, error) {
	var proto protocol
	var targets []string
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			return "", nil, fmt.Errorf("endpoint %q: %w", e, err)
		}
		var p protocol
		switch u.Scheme {
		case "grpc":
			p = protocolGRPC
			targets = append(targets, u.Host)
		case "http", "https":
			p = protocolHTTP
			targets = append(targets, u.Scheme+"://"+u.Host)
		default:
			return "", nil, fmt.Errorf("endpoint %q: scheme must be grpc or http", e)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", nil, fmt.Errorf("endpoint %q: want scheme://host:port", e)
		}
		if proto != "" && p != proto {
			return "", nil, fmt.Errorf("endpoints mix grpc and http")
		}
		proto = p
	}
	return proto, targets, nil
}

// Defaults of the command's flags.
const (
	defaultDuration = 10 * time.Second
	defaultTimeout  = 10 * time.Second
)
