package httpapi

import (
	"net/http"

	"github.com/tutti-kv/tutti/internal/kv"
)

// memberAnswer is one member in GET /v1/cluster/members.
type memberAnswer struct {
	ID         string          `json:"id"`
	Zone       string          `json:"zone"`
	Addresses  addressesAnswer `json:"addresses"`
	Alive      bool            `json:"alive"`
	Partitions int             `json:"partitions"`
	// Self marks the node that answered.
	Self bool `json:"self"`
	// HintsPending and HintBytes are the hints the answering node keeps for
	// this member.
	HintsPending int   `json:"hints_pending"`
	HintBytes    int64 `json:"hint_bytes"`
}

type addressesAnswer struct {
	HTTP   string `json:"http"`
	GRPC   string `json:"grpc"`
	Gossip string `json:"gossip"`
}

func (a *api) members(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	c := a.svc.Cluster()
	answer := make([]memberAnswer, len(c.Members))
	for i, m := range c.Members {
		answer[i] = memberAnswer{
			ID:           m.ID,
			Zone:         m.Zone,
			Addresses:    addressesAnswer{HTTP: m.HTTPAddr, GRPC: m.GRPCAddr, Gossip: m.GossipAddr},
			Alive:        m.Alive,
			Partitions:   m.Partitions,
			Self:         m.ID == c.Self,
			HintsPending: m.HintsPending,
			HintBytes:    m.HintBytes,
		}
	}
	writeJSON(w, http.StatusOK, answer)
	return nil
}

// ringAnswer is GET /v1/cluster/ring.
type ringAnswer struct {
	Partitions int               `json:"partitions"`
	N          int               `json:"n"`
	Version    uint64            `json:"version"`
	Ring       []partitionAnswer `json:"ring"`
}

type partitionAnswer struct {
	Partition int `json:"partition"`
	// Owners are member ids, preferred first.
	Owners []string `json:"owners"`
}

func (a *api) ring(w http.ResponseWriter, r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	c := a.svc.Cluster()
	writeJSON(w, http.StatusOK, ringOf(c))
	return nil
}

func ringOf(c kv.ClusterInfo) ringAnswer {
	answer := ringAnswer{Partitions: c.Partitions, N: c.N, Version: c.Version, Ring: make([]partitionAnswer, len(c.Owners))}
	for p, owners := range c.Owners {
		if owners == nil {
			owners = []string{}
		}
		answer.Ring[p] = partitionAnswer{Partition: p, Owners: owners}
	}
	return answer
}

// local answers GET /v1/debug/local/{bucket}/{key}: the node's own copy of
// the key and its hints, as JSON, without coordination.
func (a *api) local(w http.ResponseWriter, r *http.Request) error {
	bucket, key, err := bucketAndKey(r, a.svc.Limits())
	if err != nil {
		return err
	}
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	c, err := a.svc.Local(r.Context(), bucket, key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
