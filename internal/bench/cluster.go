package bench

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
	"strconv"
	"strings"
	"time"

	"github.com/tutti-kv/tutti/internal/child"
)

// replicas is the replication factor N of the clusters bench starts: the
// failover target is stated for N=3 with the default W=2.
const replicas = 3

// Bounds on the waits of a started cluster.
const (
	// readyTimeout bounds the wait until every node sees every member
	// alive.
	readyTimeout = 60 * time.Second
	// exitWait bounds the wait for a killed process to be reaped; SIGKILL
	// cannot be ignored, so only a wedged kernel exceeds it.
	exitWait = 15 * time.Second
	// pollTimeout bounds one GET /v1/cluster/members.
	pollTimeout = time.Second
)

// cluster is a set of `tutti server` processes on loopback that a failover
// run starts, kills one of, maybe restarts, and always ends: close kills
// every process whatever way the run ends (error, Ctrl-C), and on Linux a
// process dies with bench even if bench itself is killed (procAttr). Each
// node logs to a file in the cluster's directory, never to the terminal.
//
// Its methods are not safe for concurrent use: during the run phase only
// the fault controller calls them, and Run closes the cluster after the
// controller has returned.
type cluster struct {
	binary string
	dir    string
	keep   bool
	extra  []string // added to every node's arguments
	nodes  []*clusterNode
	http   *http.Client
}

// clusterNode is one node: its fixed addresses and settings, and the
// process of its current life.
type clusterNode struct {
	id                             string
	httpAddr, grpcAddr, gossipAddr string
	dataDir, logPath               string
	args                           []string
	proc                           *child.Process // nil until started
}

// member is a node's view of one member in GET /v1/cluster/members.
type member struct {
	ID           string `json:"id"`
	Alive        bool   `json:"alive"`
	HintsPending int    `json:"hints_pending"`
}

// startCluster starts n nodes in a new temporary directory and waits until
// each sees every member alive; extra are arguments added to every node's
// `tutti server`. On error nothing is left running (and the directory is
// gone unless keep); the error ends with the tail of the log of a node
// that failed.
func startCluster(ctx context.Context, binary string, n int, keep bool, extra ...string) (*cluster, error) {
	if binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the tutti binary: %w", err)
		}
		binary = exe
	}
	dir, err := os.MkdirTemp("", "tutti-bench-")
	if err != nil {
		return nil, err
	}
	c := &cluster{
		binary: binary, dir: dir, keep: keep, extra: extra,
		http: &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}},
	}
	if err := c.start(ctx, n); err != nil {
		_ = c.close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) start(ctx context.Context, n int) error {
	ports, err := freePorts(3 * n)
	if err != nil {
		return fmt.Errorf("finding free ports: %w", err)
	}
	addr := func(i int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) }
	for i := range n {
		id := "n" + strconv.Itoa(i+1)
		c.nodes = append(c.nodes, &clusterNode{
			id:       id,
			httpAddr: addr(3 * i), grpcAddr: addr(3*i + 1), gossipAddr: addr(3*i + 2),
			dataDir: filepath.Join(c.dir, id), logPath: filepath.Join(c.dir, id+".log"),
		})
	}
	for i, nd := range c.nodes {
		// Every node joins all the others, so that a restarted node finds
		// the cluster whichever node it is (the first one included).
		var join []string
		for j, other := range c.nodes {
			if j != i {
				join = append(join, other.gossipAddr)
			}
		}
		nd.args = []string{
			"server", "--id", nd.id, "--data", nd.dataDir,
			"--http", nd.httpAddr, "--grpc", nd.grpcAddr, "--gossip", nd.gossipAddr,
			"--join", strings.Join(join, ","), "--n", strconv.Itoa(replicas),
			// memberlist's profile for one host: a dead node is declared
			// dead after about 4-6 s rather than the LAN profile's 5-10 s.
			"--fast-gossip",
		}
		nd.args = append(nd.args, c.extra...)
		if err := c.startNode(i, nil); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return c.waitReady(ctx)
}

// startNode starts node i's process with its fixed arguments and extra
// ones for this start only, its output appended to its log file.
func (c *cluster) startNode(i int, extra []string) error {
	nd := c.nodes[i]
	args := append(slices.Clip(nd.args), extra...)
	cmd := exec.Command(c.binary, args...)
	cmd.SysProcAttr = procAttr()
	p, err := child.Start(cmd, nd.logPath, fmt.Sprintf("bench: starting %s: %s %s", nd.id, c.binary, strings.Join(args, " ")))
	if err != nil {
		return fmt.Errorf("starting %s: %w", nd.id, err)
	}
	nd.proc = p
	return nil
}

// waitReady polls every node until each sees every member alive. A node
// whose process exited fails the wait at once, with its log's tail.
func (c *cluster) waitReady(ctx context.Context) error {
	want := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		want[i] = nd.id
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := ""
		for i, nd := range c.nodes {
			if nd.proc.Exited() {
				return fmt.Errorf("%s exited while the cluster was starting; end of %s:\n%s", nd.id, nd.logPath, c.logTail(i))
			}
			ms, err := c.members(ctx, i)
			if err != nil {
				missing = fmt.Sprintf("%s: %v", nd.id, err)
				break
			}
			var alive []string
			for _, m := range ms {
				if m.Alive {
					alive = append(alive, m.ID)
				}
			}
			slices.Sort(alive)
			if !slices.Equal(alive, want) {
				missing = fmt.Sprintf("%s sees %v alive, want %v", nd.id, alive, want)
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready (%s): %w", missing, ctx.Err())
		case <-tick.C:
		}
	}
}

// members asks node i for its view of the members.
func (c *cluster) members(ctx context.Context, i int) ([]member, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.nodes[i].httpAddr+"/v1/cluster/members", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("members: %s", resp.Status)
	}
	var ms []member
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return ms, nil
}

// kill sends SIGKILL to node i and waits until the process is reaped, so
// that its ports and data directory are free for a restart.
func (c *cluster) kill(i int) error {
	p := c.nodes[i].proc
	if p == nil {
		return fmt.Errorf("%s is not running", c.nodes[i].id)
	}
	if err := p.Kill(exitWait); err != nil {
		return fmt.Errorf("killing %s: %w", c.nodes[i].id, err)
	}
	return nil
}

// restart starts a killed node again: same id, addresses and data
// directory, so it is the same member coming back. extra are arguments
// added for this start only (an anti-entropy run restarts node 3 with
// anti-entropy paused, but a later restart would not be).
func (c *cluster) restart(i int, extra ...string) error {
	if p := c.nodes[i].proc; p != nil && !p.Exited() {
		return fmt.Errorf("%s is still running", c.nodes[i].id)
	}
	return c.startNode(i, extra)
}

// close kills every process, waits for it, and removes the directory
// unless the cluster is kept.
func (c *cluster) close() error {
	var errs []error
	for i, nd := range c.nodes {
		if nd.proc != nil && !nd.proc.Exited() {
			if err := c.kill(i); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !c.keep {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// endpoints are the nodes' URLs for proto.
func (c *cluster) endpoints(proto protocol) []string {
	var out []string
	for _, nd := range c.nodes {
		if proto == protocolHTTP {
			out = append(out, "http://"+nd.httpAddr)
		} else {
			out = append(out, "grpc://"+nd.grpcAddr)
		}
	}
	return out
}

// logTail returns the last lines of node i's log.
func (c *cluster) logTail(i int) string {
	raw, err := os.ReadFile(c.nodes[i].logPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(0, len(lines)-20):], []byte("\n")))
}

// freePorts returns n distinct loopback ports that are free for TCP and
// UDP (the gossip port needs both). They are free when returned, not
// reserved: a process taking one before a node binds it makes that node
// fail to start, which waitReady reports.
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []interface{ Close() error }
	defer func() {
		for _, h := range held {
			_ = h.Close()
		}
	}()
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 10*n {
			return nil, errors.New("no free port pairs on 127.0.0.1")
		}
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, tl)
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // UDP taken: keep the TCP one held and draw another
		}
		held = append(held, ul)
		ports = append(ports, port)
	}
	return ports, nil
}
