package node

import "github.com/prometheus/client_golang/prometheus"

// nodeMetrics are the node's protocol metrics beyond request counts.
type nodeMetrics struct {
	lwwDropped     prometheus.Counter
	hintsStored    prometheus.Counter
	hintsDelivered prometheus.Counter
	hintsDropped   prometheus.Counter
	readRepairs    prometheus.Counter
}

func newNodeMetrics(reg *prometheus.Registry) *nodeMetrics {
	m := &nodeMetrics{
		lwwDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutti_lww_overwrites_total",
			Help: "Concurrent versions dropped by last-write-wins buckets (writes lost by design).",
		}),
		hintsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutti_hints_stored_total",
			Help: "Writes this node stored as a hint for an unreachable owner (sloppy quorum).",
		}),
		hintsDelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutti_hints_delivered_total",
			Help: "Hints this node handed off to their owner and deleted.",
		}),
		hintsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutti_hints_dropped_total",
			Help: "Hints this node refused because the owner's hint bound (count or bytes) was reached.",
		}),
		readRepairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutti_read_repairs_total",
			Help: "Replica copies a read found stale or missing and sent the merged object to.",
		}),
	}
	reg.MustRegister(m.lwwDropped, m.hintsStored, m.hintsDelivered, m.hintsDropped, m.readRepairs)
	return m
}
