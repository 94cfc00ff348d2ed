package faultlab

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Copy is one node's own stored copy of a key, as GET
// /v1/debug/local/{bucket}/{key} shows it: the live values, and how many
// hints the node still keeps for the key.
type Copy struct {
	Node   int
	Values []string
	Hints  int
}

// localAnswer is the part of the debug answer the harness reads.
type localAnswer struct {
	Copy *struct {
		Versions []struct {
			Value   []byte `json:"value"`
			Deleted bool   `json:"deleted"`
		} `json:"versions"`
	} `json:"copy"`
	Hints map[string]json.RawMessage `json:"hints"`
}

// ReadCopies asks every node for its own copy of every key, without
// coordination. The result is indexed by key, then node.
func ReadCopies(ctx context.Context, targets []string, bucket string, keys []string) (map[string][]Copy, error) {
	client := newHTTPClient(len(targets))
	defer client.CloseIdleConnections()
	out := make(map[string][]Copy, len(keys))
	for _, key := range keys {
		for node, base := range targets {
			c, err := readCopy(ctx, client, base, bucket, key)
			if err != nil {
				return nil, fmt.Errorf("node %d, key %s: %w", node, key, err)
			}
			c.Node = node
			out[key] = append(out[key], c)
		}
	}
	return out, nil
}

func readCopy(ctx context.Context, client *http.Client, base, bucket, key string) (Copy, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := base + "/v1/debug/local/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
	status, body, err := request(ctx, client, http.MethodGet, u, "")
	if err != nil {
		return Copy{}, err
	}
	if status != http.StatusOK {
		return Copy{}, fmt.Errorf("status %d: %s", status, body)
	}
	var a localAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return Copy{}, fmt.Errorf("decoding %s: %w", body, err)
	}
	c := Copy{Hints: len(a.Hints)}
	if a.Copy != nil {
		for _, v := range a.Copy.Versions {
			if !v.Deleted {
				c.Values = append(c.Values, string(v.Value))
			}
		}
	}
	slices.Sort(c.Values)
	return c, nil
}

// CheckCopies checks, for a cluster in which every node holds every key
// (as many nodes as replicas), that every node's own copy holds every
// acknowledged put, that all copies of a key are equal, and that no hint
// is left. It returns one line per violation.
func CheckCopies(history []Op, copies map[string][]Copy) []string {
	var bad []string
	for _, key := range slices.Sorted(maps.Keys(copies)) {
		cs := copies[key]
		for _, c := range cs {
			if !slices.Equal(c.Values, cs[0].Values) {
				bad = append(bad, fmt.Sprintf("key %s: node %d holds %q, node %d holds %q", key, c.Node, c.Values, cs[0].Node, cs[0].Values))
			}
			if c.Hints > 0 {
				bad = append(bad, fmt.Sprintf("key %s: node %d still keeps %d hints", key, c.Node, c.Hints))
			}
		}
	}
	for _, op := range history {
		if op.F != Put || op.Type != OK {
			continue
		}
		for _, c := range copies[op.Key] {
			if _, found := slices.BinarySearch(c.Values, op.Value); !found {
				bad = append(bad, fmt.Sprintf("key %s: node %d lacks acknowledged put %q", op.Key, c.Node, op.Value))
			}
		}
	}
	return bad
}
