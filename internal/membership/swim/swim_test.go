package swim

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/membership"
)

const (
	testCluster = "tutti/q=256/n=3"
	waitLimit   = 10 * time.Second
)

// testTiming is memberlist's local profile with faster probes and
// push-pull, so that failure detection takes about a second.
func testTiming() Timing {
	t := LocalTiming()
	t.ProbeInterval = 250 * time.Millisecond
	t.ProbeTimeout = 150 * time.Millisecond
	t.GossipInterval = 50 * time.Millisecond
	t.PushPullInterval = time.Second
	t.JoinRetry = 100 * time.Millisecond
	return t
}

// testLogger logs through t until the test ends, then drops records, since
// memberlist's goroutines may still log while they wind down.
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testLogWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// freeAddr returns a 127.0.0.1 address whose port was free for TCP and UDP
// a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port for TCP and UDP")
	return ""
}

func nodeConfig(t *testing.T, id, bind string, seeds []string) Config {
	return Config{
		NodeID:    id,
		Zone:      "zone-" + id,
		BindAddr:  bind,
		GRPCAddr:  "grpc-" + id,
		HTTPAddr:  "http-" + id,
		Join:      seeds,
		ClusterID: testCluster,
		Timing:    testTiming(),
		Logger:    testLogger(t),
	}
}

func start(t *testing.T, cfg Config) *Swim {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startCluster starts nodes n0..n(k-1), each given every address as a
// seed, in the given order.
func startCluster(t *testing.T, k int, order []int) ([]*Swim, []Config) {
	t.Helper()
	addrs := make([]string, k)
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	nodes := make([]*Swim, k)
	cfgs := make([]Config, k)
	for _, i := range order {
		cfgs[i] = nodeConfig(t, "n"+strconv.Itoa(i), addrs[i], addrs)
		nodes[i] = start(t, cfgs[i])
	}
	return nodes, cfgs
}

// waitFor polls cond until it returns nil or the limit passes.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %v: %v", what, waitLimit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ids(records []membership.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.ID
	}
	return out
}

// agree checks that every node sees exactly the members want, alive as
// alive says, with one Version.
func agree(nodes []*Swim, want []string, alive map[string]bool) error {
	var version uint64
	for i, n := range nodes {
		v := n.View()
		if got := ids(v.Records); !slices.Equal(got, want) {
			return fmt.Errorf("%s sees members %v, want %v", v.Self, got, want)
		}
		for id, a := range alive {
			if v.Alive(id) != a {
				return fmt.Errorf("%s sees %s alive=%v, want %v", v.Self, id, v.Alive(id), a)
			}
		}
		if i == 0 {
			version = v.Version
		} else if v.Version != version {
			return fmt.Errorf("%s has version %x, %s has %x", v.Self, v.Version, nodes[0].View().Self, version)
		}
	}
	return nil
}

func allAlive(idList ...string) map[string]bool {
	m := make(map[string]bool)
	for _, id := range idList {
		m[id] = true
	}
	return m
}

func record(v View, id string) (membership.Record, bool) {
	i := slices.IndexFunc(v.Records, func(r membership.Record) bool { return r.ID == id })
	if i < 0 {
		return membership.Record{}, false
	}
	return v.Records[i], true
}

func TestThreeNodesConvergeInAnyOrder(t *testing.T) {
	// The first node starts while no other seed listens yet.
	nodes, cfgs := startCluster(t, 3, []int{2, 0, 1})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })
	for _, n := range nodes {
		v := n.View()
		for i, cfg := range cfgs {
			r, _ := record(v, want[i])
			if r.Zone != cfg.Zone || r.GRPCAddr != cfg.GRPCAddr || r.HTTPAddr != cfg.HTTPAddr ||
				r.GossipAddr != cfg.BindAddr || r.Status != membership.Active {
				t.Errorf("%s sees record %+v, config %+v", v.Self, r, cfg)
			}
		}
	}
}

// A crashed node keeps its membership (and so its partitions); restarted
// with the same id it is alive again with its new record.
func TestCrashedNodeStaysMemberAndRejoins(t *testing.T) {
	nodes, cfgs := startCluster(t, 3, []int{0, 1, 2})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })
	before := nodes[0].View().Version

	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	survivors := nodes[:2]
	waitFor(t, "n2 seen dead", func() error {
		return agree(survivors, want, map[string]bool{"n0": true, "n1": true, "n2": false})
	})
	if v := nodes[0].View(); v.Version != before {
		t.Fatalf("a crash changed the member set version from %x to %x", before, v.Version)
	}

	cfg := cfgs[2]
	cfg.HTTPAddr = "http-n2-restarted"
	nodes[2] = start(t, cfg)
	waitFor(t, "n2 back", func() error {
		if err := agree(nodes, want, allAlive(want...)); err != nil {
			return err
		}
		for _, n := range nodes {
			if r, _ := record(n.View(), "n2"); r.HTTPAddr != cfg.HTTPAddr {
				return fmt.Errorf("%s sees n2 at %q", n.View().Self, r.HTTPAddr)
			}
		}
		return nil
	})
}

// A node whose clock ran ahead in an earlier life published a higher
// incarnation than its restart does; it must refute that old record.
func TestRestartRefutesNewerOwnRecord(t *testing.T) {
	addrs := []string{freeAddr(t), freeAddr(t)}
	a := start(t, nodeConfig(t, "a", addrs[0], addrs))
	cfgB := nodeConfig(t, "b", addrs[1], addrs)
	cfgB.Clock = func() time.Time { return time.Now().Add(time.Hour) }
	b := start(t, cfgB)
	want := []string{"a", "b"}
	waitFor(t, "convergence", func() error { return agree([]*Swim{a, b}, want, allAlive(want...)) })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b seen dead", func() error { return agree([]*Swim{a}, want, map[string]bool{"b": false}) })

	cfgB.Clock = nil
	cfgB.HTTPAddr = "http-b-restarted"
	b = start(t, cfgB)
	waitFor(t, "b's new record everywhere", func() error {
		if err := agree([]*Swim{a, b}, want, allAlive(want...)); err != nil {
			return err
		}
		for _, n := range []*Swim{a, b} {
			if r, _ := record(n.View(), "b"); r.HTTPAddr != cfgB.HTTPAddr {
				return fmt.Errorf("%s sees b at %q", n.View().Self, r.HTTPAddr)
			}
		}
		return nil
	})
}

func TestLeaveRemovesMemberEverywhere(t *testing.T) {
	nodes, cfgs := startCluster(t, 3, []int{1, 2, 0})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })
	before := nodes[0].View().Version

	if err := nodes[2].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 gone", func() error {
		return agree(nodes[:2], []string{"n0", "n1"}, map[string]bool{"n0": true, "n1": true, "n2": false})
	})
	if nodes[0].View().Version == before {
		t.Fatal("the member set version did not change")
	}
	if err := nodes[2].SetMeta("k", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetMeta after Leave: got %v, want ErrClosed", err)
	}

	// Starting the node again is a new join: it is a member again.
	nodes[2] = start(t, cfgs[2])
	waitFor(t, "n2 rejoined", func() error { return agree(nodes, want, allAlive(want...)) })
}

// A node restarted at another gossip address (a new container, say) is
// accepted once the others have given up its old address.
func TestRestartAtNewAddress(t *testing.T) {
	nodes, cfgs := startCluster(t, 3, []int{0, 1, 2})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 seen dead", func() error { return agree(nodes[:2], want, map[string]bool{"n2": false}) })
	cfg := cfgs[2]
	cfg.BindAddr = freeAddr(t)
	nodes[2] = start(t, cfg)
	waitFor(t, "n2 back at its new address", func() error {
		if err := agree(nodes, want, allAlive(want...)); err != nil {
			return err
		}
		for _, n := range nodes {
			if r, _ := record(n.View(), "n2"); r.GossipAddr != cfg.BindAddr {
				return fmt.Errorf("%s sees n2 at %q", n.View().Self, r.GossipAddr)
			}
		}
		return nil
	})
}

func TestRemoveDeadMember(t *testing.T) {
	nodes, _ := startCluster(t, 3, []int{0, 1, 2})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })
	if err := nodes[0].Remove("n1"); err == nil {
		t.Fatal("removing a live node succeeded")
	}
	if err := nodes[0].Remove("n0"); err == nil {
		t.Fatal("a node removed itself")
	}
	if err := nodes[0].Remove("nobody"); err == nil {
		t.Fatal("removing an unknown node succeeded")
	}

	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 seen dead", func() error {
		return agree(nodes[:2], want, map[string]bool{"n2": false})
	})
	if err := nodes[0].Remove("n2"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 removed everywhere", func() error {
		return agree(nodes[:2], []string{"n0", "n1"}, allAlive("n0", "n1"))
	})
}

func TestMetaSpreads(t *testing.T) {
	nodes, _ := startCluster(t, 3, []int{0, 1, 2})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })

	seen := func(key string, value []byte, present bool) func() error {
		return func() error {
			for _, n := range nodes {
				got, ok := n.Meta(key)
				if ok != present || !bytes.Equal(got, value) {
					return fmt.Errorf("%s has %s=%q (present %v)", n.View().Self, key, got, ok)
				}
			}
			return nil
		}
	}
	if err := nodes[0].SetMeta("bucket/b1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first write", seen("bucket/b1", []byte("v1"), true))
	if err := nodes[1].SetMeta("bucket/b1", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "overwrite", seen("bucket/b1", []byte("v2"), true))
	if err := nodes[2].DeleteMeta("bucket/b1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delete", seen("bucket/b1", nil, false))

	// Too large for a gossip packet: sent to each peer directly.
	big := bytes.Repeat([]byte("x"), 8<<10)
	if err := nodes[2].SetMeta("bucket/big", big); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "large value", seen("bucket/big", big, true))
	if keys := nodes[0].MetaKeys(); !slices.Equal(keys, []string{"bucket/big"}) {
		t.Fatalf("keys %v", keys)
	}
}

func TestOtherClusterIsRefused(t *testing.T) {
	nodes, _ := startCluster(t, 3, []int{0, 1, 2})
	want := []string{"n0", "n1", "n2"}
	waitFor(t, "convergence", func() error { return agree(nodes, want, allAlive(want...)) })
	seed := nodes[0].View().Records[0].GossipAddr

	cfg := nodeConfig(t, "foreign", freeAddr(t), []string{seed})
	cfg.ClusterID = "tutti/q=128/n=3"
	foreign := start(t, cfg)
	if err := foreign.SetMeta("foreign-key", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := foreign.Join(seed); err == nil || !strings.Contains(err.Error(), "another cluster") {
		t.Fatalf("joining another cluster: got %v, want a refusal", err)
	}

	// While the foreign node keeps retrying, a node of the right cluster
	// joins; once everyone agrees on it, the foreign node had its chance
	// to leak in.
	late := start(t, nodeConfig(t, "n3", freeAddr(t), []string{seed}))
	all := append(slices.Clone(nodes), late)
	want = append(want, "n3")
	waitFor(t, "n3 joined", func() error { return agree(all, want, allAlive(want...)) })
	if err := agree(all, want, map[string]bool{"foreign": false}); err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if _, ok := n.Meta("foreign-key"); ok {
			t.Fatalf("%s took metadata from another cluster", n.View().Self)
		}
	}
	v := foreign.View()
	if got := ids(v.Records); !slices.Equal(got, []string{"foreign"}) {
		t.Fatalf("the foreign node sees members %v", got)
	}
	for _, id := range want {
		if v.Alive(id) {
			t.Fatalf("the foreign node sees %s alive", id)
		}
	}
}

func TestSubscribe(t *testing.T) {
	addrs := []string{freeAddr(t), freeAddr(t)}
	a := start(t, nodeConfig(t, "a", addrs[0], nil))
	var calls, overlaps atomic.Int64
	var inside atomic.Bool
	var lastMembers atomic.Int64
	a.Subscribe(func() {
		if !inside.CompareAndSwap(false, true) {
			overlaps.Add(1)
		}
		defer inside.Store(false)
		calls.Add(1)
		lastMembers.Store(int64(len(a.View().Records))) // must not deadlock
	})
	if err := a.SetMeta("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a call after SetMeta", func() error {
		if calls.Load() == 0 {
			return errors.New("no call")
		}
		return nil
	})
	start(t, nodeConfig(t, "b", addrs[1], addrs[:1]))
	waitFor(t, "a call that sees b", func() error {
		if lastMembers.Load() != 2 {
			return fmt.Errorf("last call saw %d members", lastMembers.Load())
		}
		return nil
	})
	if overlaps.Load() != 0 {
		t.Fatalf("%d concurrent subscriber calls", overlaps.Load())
	}
}

func TestConfigValidation(t *testing.T) {
	base := nodeConfig(t, "a", "127.0.0.1:0", nil)
	cases := map[string]func(*Config){
		"no node id":      func(c *Config) { c.NodeID = "" },
		"no cluster id":   func(c *Config) { c.ClusterID = "" },
		"long cluster id": func(c *Config) { c.ClusterID = strings.Repeat("x", MaxClusterIDBytes+1) },
		"bad bind":        func(c *Config) { c.BindAddr = "127.0.0.1" },
		"bad port":        func(c *Config) { c.BindAddr = "127.0.0.1:99999" },
		"bad advertise":   func(c *Config) { c.AdvertiseAddr = "nowhere" },
		"long zone":       func(c *Config) { c.Zone = strings.Repeat("z", membership.MaxFieldBytes+1) },
	}
	for name, mutate := range cases {
		cfg := base
		mutate(&cfg)
		if s, err := Start(cfg); err == nil {
			_ = s.Close()
			t.Errorf("%s: Start succeeded", name)
		}
	}
}
