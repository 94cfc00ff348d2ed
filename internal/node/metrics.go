package node

import "github.com/prometheus/client_golang/prometheus"

// nodeMetrics are the node's protocol metrics beyond request counts.
type nodeMetrics struct {
	lwwDropped     prometheus.Counter
	hintsStored    prometheus.Counter
	hintsDelivered prometheus.Counter
	hintsDropped   *prometheus.CounterVec
	readRepairs    prometheus.Counter

	aaeExchanges    *prometheus.CounterVec
	aaeRepaired     *prometheus.CounterVec
	aaeBytes        *prometheus.CounterVec
	aaeBuildSeconds prometheus.Gauge
}

func newNodeMetrics(reg *prometheus.Registry) *nodeMetrics {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	// vec registers a counter with one label and exports each of values
	// at zero from the start, so that rates and sums see every series.
	vec := func(name, help, label string, values ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
		reg.MustRegister(c)
		for _, v := range values {
			c.WithLabelValues(v)
		}
		return c
	}
	return &nodeMetrics{
		lwwDropped:     counter("tutti_lww_overwrites_total", "Concurrent versions dropped by last-write-wins buckets (writes lost by design)."),
		hintsStored:    counter("tutti_hints_stored_total", "Writes this node stored as a hint for an unreachable owner (sloppy quorum)."),
		hintsDelivered: counter("tutti_hints_delivered_total", "Hints this node handed off to their owner and deleted."),
		hintsDropped: func() *prometheus.CounterVec {
			c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tutti_hints_dropped_total",
				Help: "Hints this node could not keep, by reason: bound (the owner's count or byte bound was reached), store_error (storing it failed, e.g. a full disk), corrupt (a stored hint could not be read and was deleted)."},
				[]string{"reason"})
			reg.MustRegister(c)
			return c
		}(),
		readRepairs: counter("tutti_read_repairs_total", "Replica copies a read found stale or missing and sent the merged object to."),
		aaeExchanges: vec("tutti_aae_exchanges_total",
			"Anti-entropy exchanges this node started, by outcome: equal (nothing differed), repaired, not_ready (a tree was still being built), busy (the peer was exchanging the partition with another replica), failed.", "outcome",
			"equal", "repaired", "not_ready", "busy", "failed"),
		aaeRepaired: vec("tutti_aae_keys_repaired_total",
			"Objects anti-entropy exchanges started by this node copied: pulled (fetched from the peer and merged here) or pushed (sent to the peer).", "direction",
			"pulled", "pushed"),
		aaeBytes: vec("tutti_aae_bytes_sent_total",
			"Bytes of anti-entropy messages this node sent (requests of its exchanges, replies to its peers'), by step: root, branches, leaves, items, digests, fetch, push.", "step",
			"root", "branches", "leaves", "items", "digests", "fetch", "push"),
		aaeBuildSeconds: func() prometheus.Gauge {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tutti_aae_tree_build_seconds", Help: "How long building the Merkle trees not saved by the last clean stop took, from the first (after any pause at start); 0 until done, and when all were loaded."})
			reg.MustRegister(g)
			return g
		}(),
	}
}
