package node

import "github.com/prometheus/client_golang/prometheus"

// nodeMetrics are the node's protocol metrics beyond request counts.
type nodeMetrics struct {
	lwwDropped prometheus.Counter
}

func newNodeMetrics(reg *prometheus.Registry) *nodeMetrics {
	m := &nodeMetrics{
		lwwDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tutti_lww_overwrites_total",
			Help: "Concurrent versions dropped by last-write-wins buckets (writes lost by design).",
		}),
	}
	reg.MustRegister(m.lwwDropped)
	return m
}
