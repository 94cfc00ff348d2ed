package faultlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/child"
)

// The ports every node listens on, each on its own address.
const (
	httpPort   = 8701
	grpcPort   = 9701
	gossipPort = 10701
)

// exitWait bounds how long Kill and teardown wait for a killed process to
// be reaped; SIGKILL cannot be ignored, so only a wedged kernel exceeds it.
const exitWait = 15 * time.Second

// Config describes a Lab.
type Config struct {
	// Binary is the tutti binary to run (see Build). Required.
	Binary string
	// Dir holds each node's data directory and log. Required; a test
	// passes t.TempDir().
	Dir string
	// Nodes is the cluster size, 3 to 5 (default 3).
	Nodes int
	// ReadyTimeout bounds Start's wait for the cluster (default 60s).
	ReadyTimeout time.Duration
	// ServerArgs are extra `tutti server` flags for every node.
	ServerArgs []string
}

// withDefaults fills the zero fields and rejects what cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	switch {
	case c.Binary == "":
		return c, errors.New("Config.Binary is required")
	case c.Dir == "":
		return c, errors.New("Config.Dir is required")
	case c.Nodes < 3 || c.Nodes > 5:
		return c, fmt.Errorf("Config.Nodes must be 3 to 5, not %d", c.Nodes)
	}
	return c, nil
}

// NodeInfo describes one node of a Lab.
type NodeInfo struct {
	ID        string // the node's --id, "n1" for node 0
	IP        string // its address on the bridge
	URL       string // its HTTP API, "http://IP:8701"
	Namespace string // its network namespace
	DataDir   string
	LogPath   string // stdout and stderr of every life of the process
}

// Lab is a running cluster of tutti server processes, each in its own
// network namespace. Nodes are numbered from 0. Its methods may be called
// from any goroutine.
type Lab struct {
	cfg Config
	// net is set once by setUp, before Start returns the Lab.
	net    *network
	client *http.Client

	mu    sync.Mutex
	procs []*child.Process // nil until node i first starts
}

// Start builds the network, starts every node and waits until each node
// sees every member alive. It registers the teardown with t.Cleanup before
// creating anything, so a failing test (or a failing Start) leaves no
// process, namespace or interface behind; when the test failed, the
// teardown logs the tail of every node's log.
func Start(t testing.TB, cfg Config) *Lab {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatalf("faultlab: %v", err)
	}
	l := &Lab{cfg: cfg, client: newHTTPClient(cfg.Nodes), procs: make([]*child.Process, cfg.Nodes)}
	t.Cleanup(func() {
		if t.Failed() {
			l.logTails(t)
		}
		if err := l.close(); err != nil {
			t.Errorf("faultlab: teardown: %v", err)
		}
	})
	if err := l.setUp(); err != nil {
		t.Fatalf("faultlab: %v", err)
	}
	return l
}

// setUp builds the network and starts the nodes; Start's cleanup removes
// whatever part of it succeeded.
func (l *Lab) setUp() error {
	if err := removeStale(); err != nil {
		return fmt.Errorf("removing a dead run's namespaces: %w", err)
	}
	nw, err := newNetwork(l.cfg.Nodes)
	if err != nil {
		return err
	}
	l.net = nw
	if err := nw.up(); err != nil {
		return fmt.Errorf("building the network: %w", err)
	}
	for i := range l.cfg.Nodes {
		if err := l.startNode(i); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.ReadyTimeout)
	defer cancel()
	return l.WaitReady(ctx, 0)
}

// Nodes is the number of nodes.
func (l *Lab) Nodes() int { return l.cfg.Nodes }

// Node describes node i.
func (l *Lab) Node(i int) NodeInfo {
	dir := l.nodeDir(i)
	return NodeInfo{
		ID:        nodeID(i),
		IP:        l.net.nodeIP(i),
		URL:       fmt.Sprintf("http://%s", net.JoinHostPort(l.net.nodeIP(i), fmt.Sprint(httpPort))),
		Namespace: l.net.nodeNS(i),
		DataDir:   filepath.Join(dir, "data"),
		LogPath:   filepath.Join(dir, "log"),
	}
}

// URLs lists every node's HTTP API, indexed by node.
func (l *Lab) URLs() []string {
	urls := make([]string, l.cfg.Nodes)
	for i := range urls {
		urls[i] = l.Node(i).URL
	}
	return urls
}

func nodeID(i int) string { return fmt.Sprintf("n%d", i+1) }

func (l *Lab) nodeDir(i int) string { return filepath.Join(l.cfg.Dir, nodeID(i)) }

// serverArgs are node i's flags, the same on every start so that a
// restart is the same node: it joins every other node, so it finds the
// cluster whichever of them is up.
func (l *Lab) serverArgs(i int) []string {
	ip := l.net.nodeIP(i)
	var join []string
	for j := range l.cfg.Nodes {
		if j != i {
			join = append(join, net.JoinHostPort(l.net.nodeIP(j), fmt.Sprint(gossipPort)))
		}
	}
	args := []string{
		"server",
		"--id", nodeID(i),
		"--data", l.Node(i).DataDir,
		"--http", net.JoinHostPort(ip, fmt.Sprint(httpPort)),
		"--grpc", net.JoinHostPort(ip, fmt.Sprint(grpcPort)),
		"--gossip", net.JoinHostPort(ip, fmt.Sprint(gossipPort)),
		"--join", strings.Join(join, ","),
	}
	return append(args, l.cfg.ServerArgs...)
}

// startNode starts node i's process inside its namespace. `ip netns exec`
// execs the server in place, so the pid is the server's and signals reach
// it directly. Pdeathsig kills the server if the test process dies without
// running its cleanup.
func (l *Lab) startNode(i int) error {
	info := l.Node(i)
	if err := os.MkdirAll(info.DataDir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", info.Namespace, l.cfg.Binary}, l.serverArgs(i)...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, err := child.Start(cmd, info.LogPath, "faultlab: starting "+info.ID)
	if err != nil {
		return fmt.Errorf("starting %s: %w", info.ID, err)
	}
	l.mu.Lock()
	l.procs[i] = pr
	l.mu.Unlock()
	return nil
}

// running returns node i's live process.
func (l *Lab) running(i int) (*child.Process, error) {
	if i < 0 || i >= l.cfg.Nodes {
		return nil, fmt.Errorf("no node %d in a %d-node lab", i, l.cfg.Nodes)
	}
	l.mu.Lock()
	p := l.procs[i]
	l.mu.Unlock()
	if p == nil || p.Exited() {
		return nil, fmt.Errorf("node %d (%s) is not running", i, nodeID(i))
	}
	return p, nil
}

// WaitReady polls GET /v1/cluster/members on every node until each one
// sees exactly the lab's members, all alive, and has done so without a
// break for stable (0: once). A window longer than memberlist's suspicion
// timeout (about 4s with the server's LAN timing) matters after a fault:
// a node may still suspect a peer right after a heal, show it alive, and
// declare it dead a moment later. The error says what the last poll saw.
func (l *Lab) WaitReady(ctx context.Context, stable time.Duration) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var since time.Time // when the current run of ready polls began
	for {
		missing := l.notReady(ctx)
		switch {
		case missing != "":
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		}
		if !since.IsZero() && time.Since(since) >= stable {
			return nil
		}
		select {
		case <-ctx.Done():
			if missing == "" {
				missing = fmt.Sprintf("ready for only %v of %v", time.Since(since).Round(time.Millisecond), stable)
			}
			return fmt.Errorf("cluster not ready: %s: %w", missing, ctx.Err())
		case <-tick.C:
		}
	}
}

// notReady returns "" when every node sees every member alive, or else
// what is missing.
func (l *Lab) notReady(ctx context.Context) string {
	want := make([]string, l.cfg.Nodes)
	for i := range want {
		want[i] = nodeID(i)
	}
	for i := range l.cfg.Nodes {
		alive, err := l.aliveMembers(ctx, i)
		if err != nil {
			return fmt.Sprintf("%s: %v", nodeID(i), err)
		}
		if !slices.Equal(alive, want) {
			return fmt.Sprintf("%s sees %v alive, want %v", nodeID(i), alive, want)
		}
	}
	return ""
}

// aliveMembers asks node i which members it sees alive, sorted.
func (l *Lab) aliveMembers(ctx context.Context, i int) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.Node(i).URL+"/v1/cluster/members", nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("members: %s", resp.Status)
	}
	var members []struct {
		ID    string `json:"id"`
		Alive bool   `json:"alive"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&members); err != nil {
		return nil, err
	}
	var alive []string
	for _, m := range members {
		if m.Alive {
			alive = append(alive, m.ID)
		}
	}
	slices.Sort(alive)
	return alive, nil
}

// close kills every process, then removes the network; it is Start's
// cleanup and runs however far Start got.
func (l *Lab) close() error {
	l.mu.Lock()
	procs := slices.Clone(l.procs)
	l.mu.Unlock()
	l.client.CloseIdleConnections()
	var errs []error
	for i, p := range procs {
		if p == nil || p.Exited() {
			continue
		}
		if err := p.Kill(exitWait); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", nodeID(i), err))
		}
	}
	if l.net != nil {
		errs = append(errs, l.net.down())
	}
	return errors.Join(errs...)
}

// logTails logs the end of every node's log, for a failed test.
func (l *Lab) logTails(t testing.TB) {
	for i := range l.cfg.Nodes {
		path := l.Node(i).LogPath
		raw, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
		lines = lines[max(0, len(lines)-40):]
		t.Logf("faultlab: last lines of %s (%s):\n%s", nodeID(i), path, bytes.Join(lines, []byte("\n")))
	}
}

// newHTTPClient is a client for nodes on the lab's network: no proxy from
// the environment (a proxy cannot reach the namespaces), short connects,
// and enough idle connections for the workload's clients.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}}
}
