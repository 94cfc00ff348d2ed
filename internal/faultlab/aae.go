package faultlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/ring"
)

// callJSON sends a request to node i's HTTP API and decodes a 200 answer's
// JSON into v (when v is not nil).
func (l *Lab) callJSON(ctx context.Context, i int, method, path string, body []byte, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.Node(i).URL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s on %s: %s: %s", method, path, nodeID(i), resp.Status, bytes.TrimSpace(raw[:min(len(raw), 300)]))
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s %s on %s: decoding %.300s: %w", method, path, nodeID(i), raw, err)
	}
	return nil
}

// SetBucketProps merges props (a JSON object, as PUT
// /v1/buckets/{bucket}/props takes it) into bucket's properties through
// node 0, then waits until every node answers the same properties: they
// travel by gossip.
func (l *Lab) SetBucketProps(ctx context.Context, bucket, props string) error {
	path := "/v1/buckets/" + url.PathEscape(bucket) + "/props"
	var want map[string]any
	if err := l.callJSON(ctx, 0, http.MethodPut, path, []byte(props), &want); err != nil {
		return err
	}
	for {
		same := true
		for i := range l.cfg.Nodes {
			var got map[string]any
			if err := l.callJSON(ctx, i, http.MethodGet, path, nil, &got); err != nil {
				return err
			}
			same = same && maps.EqualFunc(got, want, func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) })
		}
		if same {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bucket %s: not every node has the properties %v: %w", bucket, want, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Ring is the cluster's placement as GET /v1/cluster/ring answers it,
// with owners as node indices.
type Ring struct {
	// Owners lists each partition's owners, preferred first.
	Owners [][]int
	bits   int // log2 of the partition count
}

// Ring asks node i for the ring.
func (l *Lab) Ring(ctx context.Context, i int) (Ring, error) {
	var answer struct {
		Partitions int `json:"partitions"`
		Ring       []struct {
			Partition int      `json:"partition"`
			Owners    []string `json:"owners"`
		} `json:"ring"`
	}
	if err := l.callJSON(ctx, i, http.MethodGet, "/v1/cluster/ring", nil, &answer); err != nil {
		return Ring{}, err
	}
	q := answer.Partitions
	if q < 1 || q&(q-1) != 0 || len(answer.Ring) != q {
		return Ring{}, fmt.Errorf("ring of %d partitions with %d entries", q, len(answer.Ring))
	}
	r := Ring{Owners: make([][]int, q)}
	for q > 1 {
		q >>= 1
		r.bits++
	}
	index := make(map[string]int, l.cfg.Nodes)
	for i := range l.cfg.Nodes {
		index[nodeID(i)] = i
	}
	for _, p := range answer.Ring {
		if p.Partition < 0 || p.Partition >= len(r.Owners) {
			return Ring{}, fmt.Errorf("ring lists partition %d of %d", p.Partition, len(r.Owners))
		}
		for _, id := range p.Owners {
			i, ok := index[id]
			if !ok {
				return Ring{}, fmt.Errorf("partition %d is owned by %q, not a node of the lab", p.Partition, id)
			}
			r.Owners[p.Partition] = append(r.Owners[p.Partition], i)
		}
	}
	return r, nil
}

// Partition returns a key's partition (docs/ring.md: the top log2(Q) bits
// of its hash).
func (r Ring) Partition(bucket, key string) int {
	if r.bits == 0 {
		return 0
	}
	return int(ring.KeyHash([]byte(bucket), []byte(key)) >> (64 - r.bits))
}

// KeyOwners maps every key of bucket to its owners, for CheckOwnedCopies.
func (r Ring) KeyOwners(bucket string, keys []string) map[string][]int {
	out := make(map[string][]int, len(keys))
	for _, k := range keys {
		out[k] = r.Owners[r.Partition(bucket, k)]
	}
	return out
}

// Metric sums every sample of the metric family name (a counter or a
// gauge, whatever its labels) in node i's GET /metrics; a family the node
// does not expose sums to 0. Counters restart from 0 when the process
// does.
func (l *Lab) Metric(ctx context.Context, i int, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	status, body, err := request(ctx, l.client, http.MethodGet, l.Node(i).URL+"/metrics", "")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("metrics of %s: status %d", nodeID(i), status)
	}
	return sumMetric(body, name)
}

// sumMetric sums the samples of one family in Prometheus's text format.
func sumMetric(text []byte, name string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("malformed sample %q", line)
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("malformed sample %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("sample %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// Actors lists the actor id of every life of node i, oldest first, from
// the "storage open" line each start logs. A node takes a new actor id
// whenever its data directory is new or it did not shut down cleanly.
func (l *Lab) Actors(i int) ([]string, error) {
	f, err := os.Open(l.Node(i).LogPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var actors []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `msg="storage open"`) {
			continue
		}
		for _, field := range strings.Fields(line) {
			if actor, ok := strings.CutPrefix(field, "actor="); ok {
				actors = append(actors, actor)
			}
		}
	}
	return actors, sc.Err()
}

// AAEStatus asks node i for its anti-entropy state (GET /v1/debug/aae).
func (l *Lab) AAEStatus(ctx context.Context, i int) (kv.AAEStatus, error) {
	var st kv.AAEStatus
	err := l.callJSON(ctx, i, http.MethodGet, "/v1/debug/aae", nil, &st)
	return st, err
}

// Repair has node i exchange partition p with its live peer replicas now
// (POST /v1/debug/aae/repair?partition=P) and returns what each exchange
// did.
func (l *Lab) Repair(ctx context.Context, i, p int) (kv.RepairResult, error) {
	var res kv.RepairResult
	err := l.callJSON(ctx, i, http.MethodPost, "/v1/debug/aae/repair?partition="+strconv.Itoa(p), nil, &res)
	return res, err
}

// CheckRoots compares the Merkle trees of every node's anti-entropy status
// (one per node, in any order): every tree must be built, and each
// partition must have the same root on every node that lists it (its
// owners), and be listed by n nodes (the replication factor; 0 skips
// that check). It returns one line per problem, none when the replicas
// converged.
func CheckRoots(statuses []kv.AAEStatus, n int) []string {
	var bad []string
	roots := make(map[int]map[string][]string) // partition -> root -> nodes
	for _, st := range statuses {
		if st.TreesBuilt != len(st.Partitions) {
			bad = append(bad, fmt.Sprintf("%s: %d of %d trees built", st.Node, st.TreesBuilt, len(st.Partitions)))
		}
		for _, p := range st.Partitions {
			if p.Root == "" {
				continue // counted above
			}
			if roots[p.Partition] == nil {
				roots[p.Partition] = make(map[string][]string)
			}
			roots[p.Partition][p.Root] = append(roots[p.Partition][p.Root], st.Node)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(roots)) {
		byRoot := roots[p]
		listed := 0
		for _, nodes := range byRoot {
			listed += len(nodes)
		}
		if len(byRoot) > 1 {
			var parts []string
			for _, root := range slices.Sorted(maps.Keys(byRoot)) {
				parts = append(parts, fmt.Sprintf("%s on %v", root, byRoot[root]))
			}
			bad = append(bad, fmt.Sprintf("partition %d: roots differ: %s", p, strings.Join(parts, ", ")))
		} else if n > 0 && listed != n {
			bad = append(bad, fmt.Sprintf("partition %d: built on %d nodes, want %d", p, listed, n))
		}
	}
	return bad
}

// RootStatus asks every node for its anti-entropy state and checks the
// roots (CheckRoots with the replication factor n).
func (l *Lab) RootStatus(ctx context.Context, n int) ([]string, error) {
	statuses := make([]kv.AAEStatus, l.cfg.Nodes)
	for i := range statuses {
		st, err := l.AAEStatus(ctx, i)
		if err != nil {
			return nil, err
		}
		statuses[i] = st
	}
	return CheckRoots(statuses, n), nil
}

// WaitRoots polls every node's anti-entropy state until CheckRoots finds
// nothing (with the replication factor n), or ctx ends; the error then
// says what the last poll found. It only reads the trees: it neither
// reads keys (which would repair them) nor asks for an exchange.
func (l *Lab) WaitRoots(ctx context.Context, n int) error {
	var last []string
	var lastErr error
	for {
		bad, err := l.RootStatus(ctx, n)
		if err == nil && len(bad) == 0 {
			return nil
		}
		if ctx.Err() == nil { // else the poll was cut short: keep the last whole one
			last, lastErr = bad, err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("replicas did not converge (%w): last poll: %w", ctx.Err(), lastErr)
			}
			if last == nil {
				return fmt.Errorf("replicas did not converge (%w): no poll completed", ctx.Err())
			}
			return fmt.Errorf("replicas did not converge (%w): %d problems, first %s", ctx.Err(), len(last), strings.Join(last[:min(len(last), 5)], "; "))
		case <-time.After(500 * time.Millisecond):
		}
	}
}
