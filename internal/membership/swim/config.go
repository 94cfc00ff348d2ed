package swim

import (
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/tutti-kv/tutti/internal/membership"
)

// MaxClusterIDBytes is the longest ClusterID accepted; it travels in every
// gossip message.
const MaxClusterIDBytes = 200

// DefaultLeaveTimeout bounds Leave when it is given no positive timeout.
const DefaultLeaveTimeout = 5 * time.Second

// Config configures one node's membership.
type Config struct {
	// NodeID names the node; unique in the cluster and stable across
	// restarts of the same data directory.
	NodeID string
	// Zone is the failure domain placement spreads replicas across.
	Zone string
	// BindAddr is the host:port gossip listens on, TCP and UDP. Port 0
	// picks a free port.
	BindAddr string
	// AdvertiseAddr is the host:port other nodes reach this node's gossip
	// at, when it differs from BindAddr (NAT, containers). Optional.
	AdvertiseAddr string
	// GRPCAddr and HTTPAddr are advertised in the node's record.
	GRPCAddr, HTTPAddr string
	// Join lists seed gossip addresses. Start returns at once and keeps
	// trying them in the background until one answers, so nodes may start
	// in any order. The node's own address may be listed.
	Join []string
	// ClusterID names the cluster and its fixed parameters, for example
	// "tutti/q=256/n=3". Nodes with different ClusterIDs refuse each
	// other, so clusters with different partition counts or replication
	// factors never mix. Required.
	ClusterID string
	// Timing tunes failure detection and gossip; zero fields take
	// LANTiming's values.
	Timing Timing
	// Logger receives this package's logs and memberlist's; nil discards.
	Logger *slog.Logger
	// Clock supplies wall time for incarnations and metadata stamps;
	// nil means time.Now.
	Clock func() time.Time
}

// Timing holds the memberlist knobs that decide how fast failures are
// detected and changes spread. See docs/membership.md for what they mean
// in seconds.
type Timing struct {
	// ProbeInterval is how often a node probes a random peer.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack before asking
	// other nodes to probe indirectly.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspected node has to refute before
	// it is declared dead: SuspicionMult * max(1, log10(N)) * ProbeInterval.
	SuspicionMult int
	// GossipInterval is how often queued changes are gossiped.
	GossipInterval time.Duration
	// PushPullInterval is how often a node exchanges its full state with a
	// random peer: the anti-entropy that repairs lost gossip.
	PushPullInterval time.Duration
	// TCPTimeout bounds connects, reads and writes of full-state exchanges.
	TCPTimeout time.Duration
	// JoinRetry is the pause between attempts to reach the seeds.
	JoinRetry time.Duration
}

// LANTiming is memberlist's LAN profile, the default.
func LANTiming() Timing {
	return timingOf(memberlist.DefaultLANConfig(), 2*time.Second)
}

// LocalTiming is memberlist's profile for nodes on one host: development
// clusters and tests.
func LocalTiming() Timing {
	return timingOf(memberlist.DefaultLocalConfig(), 500*time.Millisecond)
}

// timingOf takes the timing of a memberlist profile; memberlist has no join
// retry, so joinRetry supplies it.
func timingOf(c *memberlist.Config, joinRetry time.Duration) Timing {
	return Timing{
		ProbeInterval:    c.ProbeInterval,
		ProbeTimeout:     c.ProbeTimeout,
		SuspicionMult:    c.SuspicionMult,
		GossipInterval:   c.GossipInterval,
		PushPullInterval: c.PushPullInterval,
		TCPTimeout:       c.TCPTimeout,
		JoinRetry:        joinRetry,
	}
}

// withDefaults fills zero fields from LANTiming.
func (t Timing) withDefaults() Timing {
	d := LANTiming()
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&t.ProbeInterval, d.ProbeInterval)
	fill(&t.ProbeTimeout, d.ProbeTimeout)
	fill(&t.GossipInterval, d.GossipInterval)
	fill(&t.PushPullInterval, d.PushPullInterval)
	fill(&t.TCPTimeout, d.TCPTimeout)
	fill(&t.JoinRetry, d.JoinRetry)
	if t.SuspicionMult <= 0 {
		t.SuspicionMult = d.SuspicionMult
	}
	return t
}

func (c Config) validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("swim: NodeID is required")
	case c.ClusterID == "":
		return fmt.Errorf("swim: ClusterID is required")
	case len(c.ClusterID) > MaxClusterIDBytes:
		return fmt.Errorf("swim: ClusterID longer than %d bytes", MaxClusterIDBytes)
	}
	// The record must be valid whatever gossip address memberlist settles on.
	probe := membership.Record{ID: c.NodeID, Zone: c.Zone, GRPCAddr: c.GRPCAddr, HTTPAddr: c.HTTPAddr, Status: membership.Active}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("swim: %w", err)
	}
	if _, _, err := splitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("swim: BindAddr: %w", err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("swim: AdvertiseAddr: %w", err)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}

// memberlistConfig translates c into memberlist's configuration, with h as
// every delegate. c must have been validated.
func (c Config) memberlistConfig(h *hooks, logger *slog.Logger) *memberlist.Config {
	t := c.Timing.withDefaults()
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.BindAddr, mc.BindPort, _ = splitHostPort(c.BindAddr)
	mc.AdvertisePort = mc.BindPort
	if c.AdvertiseAddr != "" {
		mc.AdvertiseAddr, mc.AdvertisePort, _ = splitHostPort(c.AdvertiseAddr)
	}
	mc.ProbeInterval = t.ProbeInterval
	mc.ProbeTimeout = t.ProbeTimeout
	mc.SuspicionMult = t.SuspicionMult
	mc.GossipInterval = t.GossipInterval
	mc.PushPullInterval = t.PushPullInterval
	mc.TCPTimeout = t.TCPTimeout
	// Keep gossiping to a dead node as long as push-pull would take to
	// repair it, as the stock profiles do.
	mc.GossipToTheDeadTime = t.PushPullInterval
	// A node that restarts at another address (a new IP after a
	// reschedule, an ephemeral port) may take its name back once it has
	// been dead as long as a suspicion lasts; memberlist's default never
	// allows it, and the node could not rejoin.
	mc.DeadNodeReclaimTime = time.Duration(t.SuspicionMult) * t.ProbeInterval
	mc.Delegate = h
	mc.Events = h
	mc.Alive = h
	mc.Merge = h
	mc.Logger = log.New(logWriter{logger.With("component", "memberlist")}, "", 0)
	return mc
}
