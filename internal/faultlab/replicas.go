package faultlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Copy is one node's own stored copy of a key, as GET
// /v1/debug/local/{bucket}/{key} shows it: the live values, every version
// with its dot, and how many hints the node still keeps for the key.
type Copy struct {
	Node   int
	Values []string
	// Versions are every stored version, tombstones included, as
	// "dot=value" ("dot deleted" for a tombstone), sorted: two copies
	// with equal Versions hold the same writes.
	Versions []string
	Hints    int
}

// localAnswer is the part of the debug answer the harness reads.
type localAnswer struct {
	Copy *struct {
		Versions []struct {
			Dot     string `json:"dot"`
			Value   []byte `json:"value"`
			Deleted bool   `json:"deleted"`
		} `json:"versions"`
	} `json:"copy"`
	Hints map[string]json.RawMessage `json:"hints"`
}

// ReadCopies asks every node for its own copy of every key, without
// coordination (no read repair). The result is indexed by key, then node.
func ReadCopies(ctx context.Context, targets []string, bucket string, keys []string) (map[string][]Copy, error) {
	client := newHTTPClient(len(targets))
	defer client.CloseIdleConnections()
	copies := make([][]Copy, len(keys))
	errs := make([]error, len(keys))
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(keys); i = int(next.Add(1)) - 1 {
				for node, base := range targets {
					c, err := readCopy(ctx, client, base, bucket, keys[i])
					if err != nil {
						errs[i] = fmt.Errorf("node %d, key %s: %w", node, keys[i], err)
						break
					}
					c.Node = node
					copies[i] = append(copies[i], c)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := make(map[string][]Copy, len(keys))
	for i, key := range keys {
		out[key] = copies[i]
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
			if v.Deleted {
				c.Versions = append(c.Versions, v.Dot+" deleted")
				continue
			}
			c.Values = append(c.Values, string(v.Value))
			c.Versions = append(c.Versions, v.Dot+"="+string(v.Value))
		}
	}
	slices.Sort(c.Values)
	slices.Sort(c.Versions)
	return c, nil
}

// CheckCopies checks, for a cluster in which every node holds every key
// (as many nodes as replicas), that every node's own copy holds every
// acknowledged put, that all copies of a key are equal (the same versions
// under the same dots), and that no hint is left. It returns one line per
// violation.
func CheckCopies(history []Op, copies map[string][]Copy) []string {
	return CheckOwnedCopies(history, copies, nil)
}

// CheckOwnedCopies is CheckCopies for a cluster with more nodes than
// replicas: owners lists each key's owners (Ring.Owners); only their
// copies are held to the acknowledged puts and compared, and every other
// node must hold no copy of the key. A key owners does not list is held
// to every node, as in CheckCopies; so is every key when owners is nil.
// No node may keep a hint.
func CheckOwnedCopies(history []Op, copies map[string][]Copy, owners map[string][]int) []string {
	var bad []string
	// owned returns key's owners' copies, and reports the others' copies.
	owned := func(key string) []Copy {
		own, ok := owners[key]
		if !ok {
			return copies[key]
		}
		var out []Copy
		for _, c := range copies[key] {
			switch {
			case slices.Contains(own, c.Node):
				out = append(out, c)
			case len(c.Versions) > 0:
				bad = append(bad, fmt.Sprintf("key %s: node %d holds %q but does not own the key (owners %v)", key, c.Node, c.Versions, own))
			}
		}
		return out
	}
	held := make(map[string][]Copy, len(copies))
	for _, key := range slices.Sorted(maps.Keys(copies)) {
		cs := owned(key)
		held[key] = cs
		for _, c := range cs {
			if !slices.Equal(c.Values, cs[0].Values) {
				bad = append(bad, fmt.Sprintf("key %s: node %d holds %q, node %d holds %q", key, c.Node, c.Values, cs[0].Node, cs[0].Values))
			} else if !slices.Equal(c.Versions, cs[0].Versions) {
				bad = append(bad, fmt.Sprintf("key %s: node %d holds versions %q, node %d holds %q", key, c.Node, c.Versions, cs[0].Node, cs[0].Versions))
			}
		}
		for _, c := range copies[key] {
			if c.Hints > 0 {
				bad = append(bad, fmt.Sprintf("key %s: node %d still keeps %d hints", key, c.Node, c.Hints))
			}
		}
	}
	for _, op := range history {
		if op.F != Put || op.Type != OK {
			continue
		}
		for _, c := range held[op.Key] {
			if _, found := slices.BinarySearch(c.Values, op.Value); !found {
				bad = append(bad, fmt.Sprintf("key %s: node %d lacks acknowledged put %q", op.Key, c.Node, op.Value))
			}
		}
	}
	return bad
}
