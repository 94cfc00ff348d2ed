package httpapi

import (
	"net/http"
	"strconv"

	"github.com/tutti-kv/tutti/internal/kv"
)

// noAAE is the reason of the 404 a node without anti-entropy answers.
const noAAE = "anti-entropy is not available on this node"

// aaeStatus answers GET /v1/debug/aae: the node's trees and exchanges.
func (a *api) aaeStatus(w http.ResponseWriter, r *http.Request) error {
	if a.aae == nil {
		return kv.Errorf(kv.NotFound, noAAE)
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, withEmptyLists(a.aae.AAEStatus()))
	return nil
}

// withEmptyLists returns st with empty lists where it has nil ones, so that
// the JSON answer has [] rather than null. st's own slices are not changed.
func withEmptyLists(st kv.AAEStatus) kv.AAEStatus {
	parts := make([]kv.AAEPartition, len(st.Partitions))
	for i, p := range st.Partitions {
		if p.Peers == nil {
			p.Peers = []kv.AAEPeer{}
		}
		parts[i] = p
	}
	st.Partitions = parts
	return st
}

// aaeRepair answers POST /v1/debug/aae/repair?partition=P: it exchanges
// partition P with its peer replicas now and answers what each exchange
// did.
func (a *api) aaeRepair(w http.ResponseWriter, r *http.Request) error {
	if a.aae == nil {
		return kv.Errorf(kv.NotFound, noAAE)
	}
	vals, err := parseQuery(r.URL.RawQuery, "partition")
	if err != nil {
		return err
	}
	p, err := a.partitionOf(vals.Get("partition"), vals.Has("partition"))
	if err != nil {
		return err
	}
	res, err := a.aae.Repair(r.Context(), p)
	if err != nil {
		return err
	}
	if res == nil || res.Exchanges == nil {
		// An empty list, not null: there was no peer to exchange with.
		res = &kv.RepairResult{Exchanges: []kv.RepairExchange{}}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// aaePause answers POST /v1/debug/aae/pause: scheduled exchanges and tree
// builds stop until resumed.
func (a *api) aaePause(w http.ResponseWriter, r *http.Request) error {
	return a.setPaused(w, r, true)
}

// aaeResume answers POST /v1/debug/aae/resume.
func (a *api) aaeResume(w http.ResponseWriter, r *http.Request) error {
	return a.setPaused(w, r, false)
}

func (a *api) setPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	if a.aae == nil {
		return kv.Errorf(kv.NotFound, noAAE)
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	a.aae.SetPaused(paused)
	writeJSON(w, http.StatusOK, map[string]bool{"paused": paused})
	return nil
}

// partitionOf parses the partition parameter and checks it against the
// ring's partition count.
func (a *api) partitionOf(s string, given bool) (int, error) {
	if !given || s == "" {
		return 0, kv.Errorf(kv.BadRequest, "missing query parameter partition (a partition number)")
	}
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, kv.Errorf(kv.BadRequest, "partition %q is not an integer", s)
	}
	if p < 0 {
		return 0, kv.Errorf(kv.BadRequest, "partition %d is negative", p)
	}
	if q := a.svc.Cluster().Partitions; q > 0 && p >= q {
		return 0, kv.Errorf(kv.BadRequest, "partition %d is out of range: the ring has %d partitions (0 to %d)", p, q, q-1)
	}
	return p, nil
}
