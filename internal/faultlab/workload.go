package faultlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Workload describes the clients of a run. Zero fields take the defaults
// beside them.
type Workload struct {
	// Targets are the nodes' HTTP base URLs (Lab.URLs); each request goes
	// to a random one. Required.
	Targets []string
	// Bucket holds every key (default "faultlab").
	Bucket string
	// Clients is the number of concurrent clients (default 4).
	Clients int
	// ReadFraction is the share of operations that are gets (default 0.3;
	// negative: puts only).
	ReadFraction float64
	// WritesPerKey caps the puts a key receives (default 6), so that its
	// sibling count stays far below the server's limit of 1000.
	WritesPerKey int
	// ActiveKeys is how many keys are being written at once (default
	// Clients), so that concurrent puts land on the same key and become
	// siblings.
	ActiveKeys int
	// N is the replication factor; w is drawn from 1 to N, dw from 1 to
	// w, r from 1 to N (default 3).
	N int
	// Timeout bounds each request (default 3s). The node is asked to give
	// up a third earlier, so that a slow quorum is usually a 503 rather
	// than a client timeout.
	Timeout time.Duration
	// Think is each client's pause between operations (default none).
	Think time.Duration
}

func (w Workload) withDefaults() (Workload, error) {
	if len(w.Targets) == 0 {
		return w, errors.New("Workload.Targets is required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&w.Clients, 4)
	def(&w.WritesPerKey, 6)
	def(&w.ActiveKeys, w.Clients)
	def(&w.N, 3)
	if w.Bucket == "" {
		w.Bucket = "faultlab"
	}
	if w.ReadFraction == 0 {
		w.ReadFraction = 0.3
	}
	if w.Timeout <= 0 {
		w.Timeout = 3 * time.Second
	}
	return w, nil
}

// Run runs the clients until ctx is done and writes every operation to
// history as JSON lines (see Op). Operations in flight when ctx ends run
// to completion or to their own timeout, so that the history holds their
// real outcome. The error is the first failure to write the history.
func (w Workload) Run(ctx context.Context, history io.Writer) error {
	w, err := w.withDefaults()
	if err != nil {
		return err
	}
	// Keys and values carry a random run id, so that two runs against one
	// bucket cannot mistake each other's values for their own.
	id := fmt.Sprintf("%08x", rand.Uint32())
	r := &run{
		w:      w,
		id:     id,
		rec:    newRecorder(history),
		client: newHTTPClient(w.Clients),
		keys:   &keyPicker{prefix: id + "-k", perKey: w.WritesPerKey, active: w.ActiveKeys},
	}
	defer r.client.CloseIdleConnections()
	var wg sync.WaitGroup
	for slot := range w.Clients {
		wg.Go(func() { r.loop(ctx, slot) })
	}
	wg.Wait()
	return r.rec.error()
}

// run is one Run's shared state.
type run struct {
	w      Workload
	id     string
	rec    *recorder
	client *http.Client
	keys   *keyPicker
	seq    atomic.Int64 // makes values unique
}

// loop is one client: one operation at a time until ctx is done. After an
// indeterminate outcome it takes a new process number (Jepsen's rule:
// the abandoned operation may still be running, so the next one is not
// sequential with it).
func (r *run) loop(ctx context.Context, slot int) {
	process := slot
	for ctx.Err() == nil {
		var typ Type
		if rand.Float64() < r.w.ReadFraction {
			typ = r.get(process)
		} else {
			typ = r.put(process)
		}
		if typ == Info {
			process += r.w.Clients
		}
		if r.w.Think > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.w.Think):
			}
		}
	}
}

// put writes a new unique value without a context, so it replaces nothing.
func (r *run) put(process int) Type {
	w := 1 + rand.IntN(r.w.N)
	op := Op{
		Process: process,
		F:       Put,
		Key:     r.keys.forWrite(),
		Value:   fmt.Sprintf("%s-v%d", r.id, r.seq.Add(1)),
		W:       w,
		DW:      1 + rand.IntN(w),
		Node:    rand.IntN(len(r.w.Targets)),
	}
	r.rec.record(op, Invoke)
	query := fmt.Sprintf("w=%d&dw=%d&timeout=%dms", op.W, op.DW, r.serverTimeout().Milliseconds())
	status, body, err := r.do(http.MethodPut, op.Node, op.Key, query, op.Value)
	typ, msg := outcome(status, body, err, http.StatusNoContent)
	op.Error = msg
	r.rec.record(op, typ)
	return typ
}

// get reads a key written earlier, every sibling, with a random r.
func (r *run) get(process int) Type {
	key, ok := r.keys.forRead()
	if !ok {
		return r.put(process)
	}
	op := Op{Process: process, F: Get, Key: key, R: 1 + rand.IntN(r.w.N), Node: rand.IntN(len(r.w.Targets))}
	r.rec.record(op, Invoke)
	query := fmt.Sprintf("r=%d&timeout=%dms", op.R, r.serverTimeout().Milliseconds())
	status, body, err := r.do(http.MethodGet, op.Node, key, query, "")
	typ, msg := outcome(status, body, err, http.StatusOK, http.StatusMultipleChoices, http.StatusNotFound)
	if typ == OK {
		vals, err := siblingValues(status, body)
		if err != nil {
			typ, msg = Info, err.Error()
		}
		op.Values = vals
	}
	op.Error = msg
	r.rec.record(op, typ)
	return typ
}

func (r *run) serverTimeout() time.Duration { return r.w.Timeout * 2 / 3 }

// do sends one request with the workload's timeout, detached from Run's
// context so that stopping the workload does not turn answers into
// cancellations.
func (r *run) do(method string, node int, key, query, value string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.w.Timeout)
	defer cancel()
	return request(ctx, r.client, method, keyURL(r.w.Targets[node], r.w.Bucket, key, query), value)
}

// keyURL is a key's address on a node.
func keyURL(base, bucket, key, query string) string {
	return fmt.Sprintf("%s/v1/buckets/%s/keys/%s?%s", base, url.PathEscape(bucket), url.PathEscape(key), query)
}

// request sends a request and reads the whole answer. A put's body is
// text; a get asks for JSON so that every sibling comes back.
func request(ctx context.Context, client *http.Client, method, u, value string) (int, []byte, error) {
	var body io.Reader
	if method == http.MethodPut {
		body = strings.NewReader(value)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if method == http.MethodPut {
		req.Header.Set("Content-Type", "text/plain")
	} else {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, raw, nil
}

// outcome classifies an HTTP exchange. OK for the statuses that mean
// success; Fail only when nothing can have been written: a 4xx (the API
// validates before writing) or an error while connecting (nothing was
// sent; Go's client does not retry a PUT). Everything else, a timeout, a
// reset, a 503 or any other 5xx, may or may not have happened: Info.
func outcome(status int, body []byte, err error, ok ...int) (Type, string) {
	switch {
	case err != nil && neverSent(err):
		return Fail, err.Error()
	case err != nil:
		return Info, err.Error()
	}
	for _, s := range ok {
		if status == s {
			return OK, ""
		}
	}
	msg := fmt.Sprintf("%d %s", status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	if status >= 400 && status < 500 {
		return Fail, msg
	}
	return Info, msg
}

// neverSent says whether err happened while dialing, before any byte of
// the request left.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// siblingValues reads every sibling's value out of a get's answer: none
// for a 404, else the JSON form (values in base64).
func siblingValues(status int, body []byte) ([]string, error) {
	if status == http.StatusNotFound {
		return nil, nil
	}
	var answer struct {
		Siblings []struct {
			Value []byte `json:"value"`
		} `json:"siblings"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("decoding siblings: %w", err)
	}
	vals := make([]string, len(answer.Siblings))
	for i, s := range answer.Siblings {
		vals[i] = string(s.Value)
	}
	return vals, nil
}

// keyPicker hands out keys: puts go to one of a few active keys, each
// retired after perKey puts, and gets read any key written before.
type keyPicker struct {
	prefix         string
	perKey, active int

	mu   sync.Mutex
	live []liveKey
	all  []string
}

type liveKey struct {
	name   string
	writes int
}

// forWrite picks an active key for a put, opening new keys as old ones
// retire.
func (k *keyPicker) forWrite() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for len(k.live) < k.active {
		name := fmt.Sprintf("%s%05d", k.prefix, len(k.all))
		k.live = append(k.live, liveKey{name: name})
		k.all = append(k.all, name)
	}
	i := rand.IntN(len(k.live))
	name := k.live[i].name
	k.live[i].writes++
	if k.live[i].writes >= k.perKey {
		k.live[i] = k.live[len(k.live)-1]
		k.live = k.live[:len(k.live)-1]
	}
	return name
}

// forRead picks any key handed out for a put so far.
func (k *keyPicker) forRead() (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.all) == 0 {
		return "", false
	}
	return k.all[rand.IntN(len(k.all))], true
}

// FinalRead reads every key from the nodes with r=all and returns every
// sibling's value by key (an absent key maps to an empty list). A key is
// tried on each node in turn until one answers or ctx ends; the error
// names the keys no node could read.
func FinalRead(ctx context.Context, targets []string, bucket string, keys []string) (map[string][]string, error) {
	if bucket == "" {
		bucket = "faultlab"
	}
	client := newHTTPClient(len(targets))
	defer client.CloseIdleConnections()
	final := make(map[string][]string, len(keys))
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
		next   atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(keys); i = int(next.Add(1)) - 1 {
				vals, err := readAll(ctx, client, targets, bucket, keys[i])
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s (%v)", keys[i], err))
				} else {
					final[keys[i]] = vals
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		return final, fmt.Errorf("%d keys unreadable with r=all, first %s", len(failed), failed[0])
	}
	return final, nil
}

// readAll reads one key with r=all, going round the nodes until one
// answers or ctx ends.
func readAll(ctx context.Context, client *http.Client, targets []string, bucket, key string) ([]string, error) {
	var last error
	for attempt := 0; ctx.Err() == nil; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		u := keyURL(targets[attempt%len(targets)], bucket, key, "r=all")
		status, body, err := request(rctx, client, http.MethodGet, u, "")
		cancel()
		typ, msg := outcome(status, body, err, http.StatusOK, http.StatusMultipleChoices, http.StatusNotFound)
		if typ == OK {
			return siblingValues(status, body)
		}
		last = errors.New(msg)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("%w (last answer: %v)", ctx.Err(), last)
}
