// Package bench is the load generator behind "tutti bench": YCSB's core
// workloads A (50% reads, 50% updates), B (95/5) and C (read only) over
// keys drawn from a scrambled zipfian distribution, against a cluster's
// gRPC API (through package client) or its HTTP API.
//
// Run first loads the records (one blind put each), then runs the workload
// for a fixed duration with a fixed number of workers, each issuing one
// request at a time (a closed loop). It reports, per phase and operation,
// the count, errors by kind, throughput and latency percentiles; latencies
// of successful requests go to log-linear histograms whose reported
// percentiles are within 0.4% of the exact ones. Every random choice comes
// from per-worker generators seeded from Config.Seed, so a run's sequence of
// requests (not its timing) repeats with the same seed.
//
// Updates are blind puts. So that they replace values instead of piling up
// siblings, Run first sets the bucket's conflict policy to last-write-wins,
// unless told not to.
package bench
