package node

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/transport"
)

// Config is one node's configuration. Fields left zero take the defaults
// documented beside them (see Defaults).
type Config struct {
	// ID names the node in the ring; it must be stable across restarts.
	// Default: the gossip address.
	ID string
	// Zone is the node's failure domain (rack, availability zone); replicas
	// of a partition go to distinct zones when there are at least N.
	Zone string
	// DataDir holds the node's storage. A new or lost data directory gives
	// the node a new actor id.
	DataDir string
	// HTTPAddr, GRPCAddr and GossipAddr are host:port listen addresses; the
	// addresses actually bound are advertised to peers, so port 0 works.
	HTTPAddr   string
	GRPCAddr   string
	GossipAddr string
	// Join lists gossip addresses of existing members.
	Join []string
	// Cluster names the cluster (default "tutti"). Nodes of clusters with
	// another name, partition count or N refuse each other.
	Cluster string
	// Partitions is Q, fixed at cluster creation (default 256).
	Partitions int
	// N is the replication factor (default 3).
	N int
	// Limits are the request sizes accepted (default kv.DefaultLimits).
	Limits kv.Limits
	// Timeout is the default request timeout (default 5s).
	Timeout time.Duration
	// ContextSecret keys the MAC that makes causal contexts tamper-evident.
	// Every node of a cluster needs the same one. Default: derived from the
	// cluster name, which detects corruption but not deliberate forgery.
	ContextSecret string
	// TLS secures internode gRPC; empty means plaintext.
	TLS transport.TLSConfig
	// FastGossip uses short gossip intervals, for tests and local clusters.
	FastGossip bool
	// HandoffInterval is how often the node tries to deliver the hints it
	// keeps for owners that are reachable again (default 1s).
	HandoffInterval time.Duration
	// MaxHints and MaxHintBytes bound the hints kept for one owner (default
	// 100,000 and 256 MiB). A write that would pass them is refused by the
	// substitute and counted as a dropped hint: anti-entropy repairs what
	// the owner then misses.
	MaxHints     int
	MaxHintBytes int64
	// AAEInterval is how often each partition is exchanged with each of
	// its other owners by anti-entropy (default 1m); negative runs no
	// scheduled exchanges (trees are still kept, and Repair works).
	AAEInterval time.Duration
	// AAEConcurrency bounds the exchanges this node runs at once
	// (default 2).
	AAEConcurrency int
	// AAERate paces anti-entropy: the bytes a second its exchanges may
	// move (default 8 MiB/s).
	AAERate float64
	// AAEShare is the share of the time each anti-entropy worker (the
	// tree build, each running exchange) may work while the node serves
	// requests: after each slice of work it rests for the rest (default
	// 0.1). With no request for a while it works unpaced.
	AAEShare float64
	// AAEPaused starts the node with scheduled exchanges and tree builds
	// paused, until resumed (POST /v1/debug/aae/resume).
	AAEPaused bool
	// Pprof serves Go's profiler under /debug/pprof/ on the HTTP port.
	Pprof bool
	// Logger receives the node's logs (default slog.Default()).
	Logger *slog.Logger
}

// Defaults returns c with every zero field set to its default.
func (c Config) Defaults() Config {
	if c.Cluster == "" {
		c.Cluster = "tutti"
	}
	if c.Partitions == 0 {
		c.Partitions = 256
	}
	if c.N == 0 {
		c.N = 3
	}
	if c.Limits == (kv.Limits{}) {
		c.Limits = kv.DefaultLimits()
	}
	if c.HandoffInterval == 0 {
		c.HandoffInterval = time.Second
	}
	if c.MaxHints == 0 {
		c.MaxHints = 100_000
	}
	if c.MaxHintBytes == 0 {
		c.MaxHintBytes = 256 << 20
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.AAEInterval == 0 {
		c.AAEInterval = time.Minute
	}
	if c.AAEConcurrency == 0 {
		c.AAEConcurrency = 2
	}
	if c.AAERate == 0 {
		c.AAERate = 8 << 20
	}
	if c.AAEShare == 0 {
		c.AAEShare = 0.1
	}
	if c.ID == "" {
		c.ID = c.GossipAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("node: an id (or a gossip address) is required")
	case c.DataDir == "":
		return fmt.Errorf("node: a data directory is required")
	case c.Partitions < 1 || c.Partitions > 1<<16 || c.Partitions&(c.Partitions-1) != 0:
		return fmt.Errorf("node: partitions must be a power of two between 1 and 65536, not %d", c.Partitions)
	case c.N < 1 || c.N > 16:
		return fmt.Errorf("node: n must be between 1 and 16, not %d", c.N)
	case c.Limits.MaxValueBytes < 1 || c.Limits.MaxKeyBytes < 1 || c.Limits.MaxBucketBytes < 1:
		return fmt.Errorf("node: limits must be positive")
	case c.Timeout < 0:
		return fmt.Errorf("node: timeout must not be negative")
	case c.HandoffInterval < 0 || c.MaxHints < 0 || c.MaxHintBytes < 0:
		return fmt.Errorf("node: handoff interval and hint bounds must not be negative")
	case c.AAEConcurrency < 1 || c.AAERate <= 0:
		return fmt.Errorf("node: anti-entropy concurrency and rate must be positive")
	case !(c.AAEShare > 0 && c.AAEShare <= 1):
		return fmt.Errorf("node: anti-entropy share must be in (0, 1], not %v", c.AAEShare)
	}
	return nil
}

// ClusterID is what gossip compares to keep clusters apart.
func (c Config) ClusterID() string {
	return fmt.Sprintf("%s/q=%d/n=%d", c.Cluster, c.Partitions, c.N)
}
