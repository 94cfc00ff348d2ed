package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
)

type testCluster struct {
	t     testing.TB
	dir   string
	nodes []*Node
	cfgs  []Config
}

// startCluster runs size nodes in this process with replication factor n;
// each option adjusts every node's configuration.
func startCluster(t testing.TB, size, n int, options ...func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, dir: t.TempDir()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("TUTTI_TEST_LOG") != "" { // shows the nodes' logs when debugging a test
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	for i := 0; i < size; i++ {
		cfg := Config{
			ID:         fmt.Sprintf("n%d", i+1),
			DataDir:    filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)),
			HTTPAddr:   "127.0.0.1:0",
			GRPCAddr:   "127.0.0.1:0",
			GossipAddr: "127.0.0.1:0",
			N:          n,
			Partitions: 64,
			FastGossip: true,
			Logger:     log,
			Timeout:    3 * time.Second,
			// Short, so that handoff tests do not wait.
			HandoffInterval: 100 * time.Millisecond,
		}
		for _, o := range options {
			o(&cfg)
		}
		if i > 0 {
			cfg.Join = []string{c.nodes[0].GossipAddr()}
		}
		c.cfgs = append(c.cfgs, cfg)
		nd, err := Start(cfg)
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
		// A restart binds the same gossip address, as a server does.
		c.cfgs[i].GossipAddr = nd.GossipAddr()
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			if nd != nil {
				nd.Close()
			}
		}
	})
	c.waitAlive(size)
	return c
}

// waitAlive waits until every running node sees want live members.
func (c *testCluster) waitAlive(want int) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, nd := range c.nodes {
			if nd == nil {
				continue
			}
			alive := 0
			for _, m := range nd.Cluster().Members {
				if m.Alive {
					alive++
				}
			}
			ok = ok && alive == want
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	var views []string
	for _, nd := range c.nodes {
		if nd == nil {
			continue
		}
		var ms []string
		for _, m := range nd.Cluster().Members {
			ms = append(ms, fmt.Sprintf("%s:%v", m.ID, m.Alive))
		}
		views = append(views, fmt.Sprintf("%s sees %v", nd.ID(), ms))
	}
	c.t.Fatalf("cluster did not converge to %d live members: %s", want, strings.Join(views, "; "))
}

// waitProps waits until every node has the bucket's conflict policy by
// gossip.
func (c *testCluster) waitProps(bucket []byte, conflict string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, nd := range c.nodes {
		for {
			got, _ := nd.GetProps(context.Background(), bucket)
			if got.Conflict == conflict {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("%s never saw conflict policy %s", nd.ID(), conflict)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func values(res *kv.GetResult) []string {
	var vs []string
	for _, s := range res.Siblings {
		vs = append(vs, string(s.Value))
	}
	sort.Strings(vs)
	return vs
}

func TestPutGetAcrossNodes(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	b, k := []byte("users"), []byte("alice")
	put, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("v1"), ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	// Even a w=1 write, answered after the coordinator's own copy, goes to
	// every replica.
	_, err = c.nodes[1].Put(ctx, &kv.PutRequest{Bucket: b, Key: []byte("w1"), Value: []byte("one"), Options: kv.Options{W: kv.One}})
	if err != nil {
		t.Fatal(err)
	}
	for i, nd := range c.nodes {
		got, err := nd.Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if !got.Found || len(got.Siblings) != 1 || string(got.Siblings[0].Value) != "v1" || got.Siblings[0].ContentType != "text/plain" {
			t.Fatalf("node %d read %+v", i, got)
		}
		if got.Context != put.Context {
			t.Fatalf("node %d context %q, the put answered %q", i, got.Context, put.Context)
		}
	}
	// Both writes reach every replica (N=3 on 3 nodes: all of them), not
	// only the W that acknowledged them; the rest may land just after the
	// answer.
	for _, key := range [][]byte{k, []byte("w1")} {
		for i, nd := range c.nodes {
			st := nd.ring.Load()
			deadline := time.Now().Add(3 * time.Second)
			for {
				obj, _, err := nd.readLocal(st.place(b, key))
				if err == nil && obj != nil && len(obj.Entries) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d local copy of %s: %+v, %v", i, key, obj, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
}

func TestConcurrentWritesBecomeSiblingsAndContextResolves(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	b, k := []byte("b"), []byte("k")
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[1].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.nodes[2].Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	if vs := values(got); !slices.Equal(vs, []string{"a", "b"}) {
		t.Fatalf("siblings %v, want [a b]", vs)
	}
	if _, err := c.nodes[2].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("ab"), Context: got.Context}); err != nil {
		t.Fatal(err)
	}
	got, err = c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	if vs := values(got); !slices.Equal(vs, []string{"ab"}) {
		t.Fatalf("after resolving: %v, want [ab]", vs)
	}
}

func TestDeleteLeavesTombstoneWithContext(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	b, k := []byte("b"), []byte("gone")
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[1].Delete(ctx, &kv.DeleteRequest{Bucket: b, Key: k}); err != nil {
		t.Fatal(err)
	}
	got, err := c.nodes[2].Get(ctx, &kv.GetRequest{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	if got.Found || !got.Deleted || got.Context == "" {
		t.Fatalf("after delete: %+v, want deleted with a context", got)
	}
	// A write with the tombstone's context replaces it.
	if _, err := c.nodes[2].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("back"), Context: got.Context}); err != nil {
		t.Fatal(err)
	}
	got, err = c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
	if err != nil || !slices.Equal(values(got), []string{"back"}) {
		t.Fatalf("rewrite after delete: %+v, %v", got, err)
	}
}

func TestLWWBucketKeepsOneValue(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	b := []byte("sessions")
	p := kv.DefaultProps()
	p.Conflict = kv.LWW
	if err := c.nodes[0].SetProps(ctx, b, p); err != nil {
		t.Fatal(err)
	}
	c.waitProps(b, kv.LWW)
	for i, v := range []string{"first", "second", "third"} {
		if _, err := c.nodes[i].Put(ctx, &kv.PutRequest{Bucket: b, Key: []byte("s"), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: b, Key: []byte("s"), Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	if vs := values(got); !slices.Equal(vs, []string{"third"}) {
		t.Fatalf("lww bucket holds %v, want [third]", vs)
	}
}

func TestQuorumUnmetSaysNeededAndAnswered(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	// Stop two nodes; the survivor cannot reach W=2.
	c.nodes[1].Close()
	c.nodes[2].Close()
	c.nodes[1], c.nodes[2] = nil, nil
	_, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v"),
		Options: kv.Options{Timeout: 500 * time.Millisecond}})
	var e *kv.Error
	if !errors.As(err, &e) || e.Kind != kv.Unavailable || e.Needed != 2 || e.Answered != 1 {
		t.Fatalf("put with 2 of 3 nodes down: %v, want unavailable needing 2 with 1 answer", err)
	}
	// W=1 still succeeds: the coordinator's own copy is enough.
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v"),
		Options: kv.Options{W: kv.One, Timeout: 500 * time.Millisecond}}); err != nil {
		t.Fatalf("w=1 put: %v", err)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	nd := c.nodes[0]
	cases := []struct {
		name string
		req  *kv.PutRequest
		kind kv.Kind
	}{
		{"w above n", &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v"), Options: kv.Options{W: 4}}, kv.BadRequest},
		{"forged context", &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v"), Context: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, kv.BadRequest},
		{"value too large", &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: make([]byte, nd.Limits().MaxValueBytes+1)}, kv.TooLarge},
		{"key too long", &kv.PutRequest{Bucket: []byte("b"), Key: make([]byte, nd.Limits().MaxKeyBytes+1), Value: []byte("v")}, kv.NameTooLong},
		{"empty bucket", &kv.PutRequest{Key: []byte("k"), Value: []byte("v")}, kv.BadRequest},
	}
	for _, tc := range cases {
		_, err := nd.Put(ctx, tc.req)
		var e *kv.Error
		if !errors.As(err, &e) || e.Kind != tc.kind {
			t.Errorf("%s: %v, want kind %d", tc.name, err, tc.kind)
		}
	}
	got, err := nd.Get(ctx, &kv.GetRequest{Bucket: []byte("b"), Key: []byte("k"), Options: kv.Options{R: kv.All}})
	if err != nil || got.Found || got.Deleted {
		t.Fatalf("rejected writes left something behind: %+v, %v", got, err)
	}
}

// TestConcurrentWritersOneKey: many clients writing one key through every
// node at once lose no dot and corrupt nothing: every acknowledged write is
// a sibling afterwards (none carried a context).
func TestConcurrentWritersOneKey(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	const writers, each = 12, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]bool{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v := fmt.Sprintf("w%d-%d", w, i)
				if _, err := c.nodes[(w+i)%3].Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("hot"), Value: []byte(v)}); err == nil {
					mu.Lock()
					acked[v] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	got, err := c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: []byte("b"), Key: []byte("hot"), Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range values(got) {
		seen[v] = true
	}
	for v := range acked {
		if !seen[v] {
			t.Errorf("acknowledged write %s is missing", v)
		}
	}
	if len(acked) != writers*each {
		t.Errorf("%d of %d writes acknowledged", len(acked), writers*each)
	}
}

// TestRestartKeepsDataAndActor: a node closed cleanly and started again on
// the same data directory serves what it stored and keeps its actor id (a
// crash, instead, would give it a new one: internal/identity).
func TestRestartKeepsDataAndActor(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	if _, err := c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v"),
		Options: kv.Options{W: kv.All}}); err != nil {
		t.Fatal(err)
	}
	actor := c.nodes[2].id.Actor()
	if err := c.nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	cfg := c.cfgs[2]
	cfg.Join = []string{c.nodes[0].GossipAddr()}
	nd, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[2] = nd
	c.waitAlive(3)
	if nd.id.Actor() != actor {
		t.Fatalf("actor %x after a clean restart, want %x", nd.id.Actor(), actor)
	}
	obj, _, err := nd.readLocal(nd.ring.Load().place([]byte("b"), []byte("k")))
	if err != nil || obj == nil || len(obj.Live()) != 1 || string(obj.Live()[0].Value.Value) != "v" {
		t.Fatalf("restarted node's copy: %+v, %v", obj, err)
	}
	got, err := nd.Get(ctx, &kv.GetRequest{Bucket: []byte("b"), Key: []byte("k"), Options: kv.Options{R: kv.All}})
	if err != nil || !slices.Equal(values(got), []string{"v"}) {
		t.Fatalf("read through the restarted node: %+v, %v", got, err)
	}
}

// TestNoRequestBeforeMembership: requests that reach a starting node wait
// until its membership and ring exist. Serving them earlier panicked on the
// missing membership (found by the real-process fault harness).
func TestNoRequestBeforeMembership(t *testing.T) {
	for round := range 3 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		stop := make(chan struct{})
		statuses := make(chan int, 1<<16)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("PUT", "http://"+addr+"/v1/buckets/b/keys/k", strings.NewReader("v"))
					resp, err := client.Do(req)
					if err != nil {
						continue // not listening yet
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				}
			}()
		}
		// Membership's first log line stalls, widening the window in which
		// a node that served too early would meet its missing membership.
		cfg := Config{ID: "n1", DataDir: filepath.Join(t.TempDir(), "n1"), HTTPAddr: addr, GRPCAddr: "127.0.0.1:0",
			GossipAddr: "127.0.0.1:0", N: 1, Partitions: 8, FastGossip: true, Logger: slog.New(&stallOnce{})}
		nd, err := Start(cfg)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		close(stop)
		wg.Wait()
		nd.Close()
		close(statuses)
		answered := 0
		for code := range statuses {
			answered++
			if code >= 500 {
				t.Fatalf("round %d: a request during startup got %d", round, code)
			}
		}
		if answered == 0 {
			t.Fatalf("round %d: no request was answered", round)
		}
	}
}

// stallOnce is a log handler that sleeps on the first record logged by
// membership (memberlist's lines carry component=memberlist), to make a
// startup race deterministic.
type stallOnce struct {
	mu      sync.Mutex
	stalled bool
	attrs   []slog.Attr
}

func (h *stallOnce) Enabled(context.Context, slog.Level) bool { return true }

func (h *stallOnce) Handle(_ context.Context, r slog.Record) error {
	member := false
	for _, a := range h.attrs {
		member = member || (a.Key == "component" && a.Value.String() == "memberlist")
	}
	r.Attrs(func(a slog.Attr) bool {
		member = member || (a.Key == "component" && a.Value.String() == "memberlist")
		return true
	})
	h.mu.Lock()
	stall := member && !h.stalled
	h.stalled = h.stalled || member
	h.mu.Unlock()
	if stall {
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

func (h *stallOnce) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &stallChild{parent: h, attrs: append(slices.Clone(h.attrs), attrs...)}
}

func (h *stallOnce) WithGroup(string) slog.Handler { return h }

// stallChild shares its parent's stall while carrying its own attributes.
type stallChild struct {
	parent *stallOnce
	attrs  []slog.Attr
}

func (c *stallChild) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (c *stallChild) Handle(ctx context.Context, r slog.Record) error {
	r2 := r.Clone()
	r2.AddAttrs(c.attrs...)
	return c.parent.Handle(ctx, r2)
}

func (c *stallChild) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &stallChild{parent: c.parent, attrs: append(slices.Clone(c.attrs), attrs...)}
}

func (c *stallChild) WithGroup(string) slog.Handler { return c }

// A node started with seeds serves no reads or writes until it has joined:
// alone, its ring would make it the only owner of every key, and a write
// it acknowledged would live on a node that does not own the key.
func TestNoRequestsBeforeJoining(t *testing.T) {
	c := startCluster(t, 1, 1)
	cfg := c.cfgs[0]
	cfg.ID, cfg.DataDir, cfg.GossipAddr = "lonely", t.TempDir(), "127.0.0.1:0"
	// A seed that never answers: nothing listens on a port just closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Join = []string{l.Addr().String()}
	l.Close()
	nd, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close()
	ctx := context.Background()
	_, err = nd.Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v")})
	if e := kv.AsError(err); e == nil || e.Kind != kv.Unavailable || !strings.Contains(e.Reason, "not joined") {
		t.Fatalf("put on a node that has not joined: %v", err)
	}
	if _, err := nd.Get(ctx, &kv.GetRequest{Bucket: []byte("b"), Key: []byte("k")}); kv.AsError(err) == nil || kv.AsError(err).Kind != kv.Unavailable {
		t.Fatalf("get on a node that has not joined: %v", err)
	}
	// Once it joins, it serves.
	if _, err := nd.swim.Join(c.nodes[0].GossipAddr()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := nd.Put(ctx, &kv.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put after joining: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
