// Package node composes one Tutti node: storage, identity, membership, the
// ring, the internode transport and the client APIs, and drives the pure
// protocol packages (coordinator, quorum, object) with goroutines, sockets
// and the wall clock. It implements kv.Service for the APIs and
// transport.Handler for peers.
//
// Concurrency: any goroutine may call any method. Writes to one key are
// serialized by a striped lock (read-modify-write of the local copy); writes
// to different keys, and every read, run in parallel.
package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/api/grpcapi"
	"github.com/tutti-kv/tutti/internal/api/httpapi"
	"github.com/tutti-kv/tutti/internal/hlc"
	"github.com/tutti-kv/tutti/internal/identity"
	"github.com/tutti-kv/tutti/internal/membership/swim"
	"github.com/tutti-kv/tutti/internal/metrics"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/storage"
	"github.com/tutti-kv/tutti/internal/storage/pebblestore"
	"github.com/tutti-kv/tutti/internal/transport"
)

// lockStripes is the number of key locks; a power of two.
const lockStripes = 4096

// counterBlock is how many dot counters one durable lease covers.
const counterBlock = 10000

// Node is one running Tutti node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  storage.Engine
	id     *identity.Identity
	swim   *swim.Swim
	peers  transport.Transport
	ctxKey []byte

	registry *prometheus.Registry
	metrics  *metrics.Metrics
	extra    *nodeMetrics

	grpcServer *grpc.Server
	peerServer *transport.Server
	grpcLis    net.Listener
	httpServer *http.Server
	httpLis    net.Listener

	ring   atomic.Pointer[ringState]
	ringMu sync.Mutex               // serializes membershipChanged
	props  atomic.Pointer[sync.Map] // bucket -> kv.Props, reset on gossip

	replica *replica.Store
	clock   *clock
	hints   *hintLedger
	trees   *trees
	aae     *antiEntropy
	pacer   *pacer

	locks [lockStripes]sync.Mutex

	closeOnce sync.Once
	wg        sync.WaitGroup
	// stop ends the node's background loops (hint handoff).
	stop chan struct{}
}

// Start opens the node's storage, joins the cluster and serves its APIs.
func Start(cfg Config) (*Node, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.ID), clock: &clock{c: hlc.NewClock(func() int64 { return time.Now().UnixNano() })}}
	n.props.Store(new(sync.Map))
	n.pacer = newPacer(cfg.AAEShare)
	secret := cfg.ContextSecret
	if secret == "" {
		secret = "tutti-context/" + cfg.Cluster
	}
	sum := sha256.Sum256([]byte(secret))
	n.ctxKey = sum[:]

	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("node: data directory: %w", err)
	}
	store, err := pebblestore.Open(filepath.Join(cfg.DataDir, "store"), pebblestore.Options{Logger: n.log})
	if err != nil {
		return nil, fmt.Errorf("node: open storage: %w", err)
	}
	n.store = store
	n.id, err = identity.Open(store, rand.Uint64, counterBlock)
	if err != nil {
		return nil, fmt.Errorf("node: identity: %w", err)
	}
	trees := newTrees(cfg.Partitions)
	switch loaded, err := trees.load(store); {
	case errors.Is(err, aae.ErrSnapshot):
		n.log.Warn("saved merkle trees dropped; rebuilding them from storage", "err", err)
	case err != nil:
		return nil, fmt.Errorf("node: %w", err)
	case loaded > 0:
		n.log.Info("merkle trees loaded from the last clean stop", "partitions", loaded)
	}
	n.trees = trees
	n.replica = &replica.Store{Engine: store, Counter: n.id, Clock: n.clock, Trees: trees}
	n.hints = newHintLedger()
	var corrupt []replica.Hint
	err = n.replica.AllHints(func(h replica.Hint) bool {
		if h.Err != nil {
			corrupt = append(corrupt, h)
		} else {
			n.hints.add(h.Key.HintFor, len(h.Encoded))
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("node: counting hints: %w", err)
	}
	n.log.Info("storage open", "dir", cfg.DataDir, "actor", fmt.Sprintf("%016x", n.id.Actor()))

	n.registry = prometheus.NewRegistry()
	n.metrics = metrics.New(n.registry)
	n.extra = newNodeMetrics(n.registry)
	n.aae = newAntiEntropy(n, trees)
	n.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tutti_aae_trees_built", Help: "Partitions whose Merkle tree is built (of the cluster's Q)."},
			func() float64 { return float64(trees.built()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tutti_aae_oldest_exchange_age_seconds",
			Help: "Age of the least recent anti-entropy exchange among this node's partitions and their peer replicas (since start when never)."},
			n.aae.oldestAge))
	for _, h := range corrupt {
		n.dropCorruptHint(h)
	}

	// gRPC: internode and client services share one port.
	srvOpts, err := cfg.TLS.ServerOptions()
	if err != nil {
		return nil, fmt.Errorf("node: tls: %w", err)
	}
	n.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return nil, fmt.Errorf("node: grpc listen: %w", err)
	}
	// The transport's options come last: its larger message limit must win,
	// since a replicated object with siblings can outgrow one value.
	// Stream workers reuse goroutines (and their grown stacks) across
	// requests; gRPC starts extra goroutines when all are busy.
	opts := append(grpcapi.ServerOptions(cfg.Limits), grpc.NumStreamWorkers(64))
	n.grpcServer = grpc.NewServer(append(opts, srvOpts...)...)
	n.peerServer = transport.Register(n.grpcServer, n)
	grpcapi.Register(n.grpcServer, n, n.metrics, grpcapi.WithLogger(n.log))
	n.peers, err = transport.NewGRPC(transport.Config{TLS: cfg.TLS, Logger: n.log})
	if err != nil {
		return nil, fmt.Errorf("node: transport: %w", err)
	}

	n.httpLis, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("node: http listen: %w", err)
	}
	var handler http.Handler = httpapi.New(n, n.metrics, n.registry, n.log)
	if cfg.Pprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.Handle("/", handler)
		handler = mux
	}
	n.httpServer = httpapi.NewServer(n.httpLis.Addr().String(), handler)

	timing := swim.LANTiming()
	if cfg.FastGossip {
		timing = swim.LocalTiming()
	}
	n.swim, err = swim.Start(swim.Config{
		NodeID:    cfg.ID,
		Zone:      cfg.Zone,
		BindAddr:  cfg.GossipAddr,
		GRPCAddr:  n.grpcLis.Addr().String(),
		HTTPAddr:  n.httpLis.Addr().String(),
		Join:      cfg.Join,
		ClusterID: cfg.ClusterID(),
		Logger:    n.log,
		Timing:    timing,
	})
	if err != nil {
		return nil, fmt.Errorf("node: membership: %w", err)
	}
	n.swim.Subscribe(n.membershipChanged)
	n.membershipChanged()
	// Serve only now: a request needs the membership and the ring (the
	// listeners already exist, so early clients wait in their backlog).
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.grpcServer.Serve(n.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.log.Error("grpc server stopped", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		if err := n.httpServer.Serve(n.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	}()

	n.stop = make(chan struct{})
	n.wg.Add(2)
	go n.handoffLoop(n.stop)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-n.stop
			cancel()
		}()
		n.aae.loop(ctx)
	}()
	ok = true
	n.log.Info("node started", "http", n.HTTPAddr(), "grpc", n.GRPCAddr(), "gossip", cfg.GossipAddr)
	return n, nil
}

// ID is the node's id.
func (n *Node) ID() string { return n.cfg.ID }

// HTTPAddr is the bound HTTP address.
func (n *Node) HTTPAddr() string { return n.httpLis.Addr().String() }

// GRPCAddr is the bound gRPC address.
func (n *Node) GRPCAddr() string { return n.grpcLis.Addr().String() }

// GossipAddr is the bound gossip address, the one other nodes join.
func (n *Node) GossipAddr() string {
	view := n.swim.View()
	for _, r := range view.Records {
		if r.ID == n.cfg.ID {
			return r.GossipAddr
		}
	}
	return n.cfg.GossipAddr
}

// Registry holds the node's metrics.
func (n *Node) Registry() *prometheus.Registry { return n.registry }

// Close stops serving and closes storage without leaving the cluster: the
// node keeps its partitions, as after a crash, and takes them up again when
// it restarts.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.httpServer != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = n.httpServer.Shutdown(ctx)
			cancel()
		}
		if n.grpcServer != nil {
			n.peerServer.Drain()
			stopped := make(chan struct{})
			go func() { n.grpcServer.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(2 * time.Second):
				n.grpcServer.Stop()
			}
		}
		if n.stop != nil {
			close(n.stop)
		}
		if n.swim != nil {
			_ = n.swim.Close()
		}
		if n.peers != nil {
			_ = n.peers.Close()
		}
		n.wg.Wait()
		if n.trees != nil && n.store != nil {
			// Every loop that writes has ended; a read repair still
			// running finds the trees sealed.
			if saved, err := n.trees.save(n.store); err != nil {
				n.log.Error("saving merkle trees", "err", err)
			} else {
				n.log.Info("merkle trees saved", "partitions", saved)
			}
		}
		if n.id != nil {
			// Marks a clean shutdown: the next start keeps the actor id.
			if err := n.id.Close(); err != nil {
				n.log.Error("closing identity", "err", err)
			}
		}
		if n.store != nil {
			if err := n.store.Close(); err != nil {
				n.log.Error("closing storage", "err", err)
			}
		}
	})
	return nil
}

// clock is the node's hybrid logical clock, shared by all requests.
type clock struct {
	mu sync.Mutex
	c  *hlc.Clock
}

func (c *clock) Stamp(after hlc.Timestamp) hlc.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.Stamp(after)
}

func (c *clock) Observe(t hlc.Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.Observe(t)
}

func (n *Node) lockFor(hash uint64) *sync.Mutex { return &n.locks[hash&(lockStripes-1)] }
