package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/tutti-kv/tutti/internal/node"
)

// serverFlags are the settings of `tutti server`; a --config file may hold
// any of them under the same names.
type serverFlags struct {
	cfg      node.Config
	join     []string
	maxValue int
	aaeRate  float64
	config   string
	logLevel string
}

func (f *serverFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.config, "config", "", "YAML file with any of these settings, keyed by flag name (flags given on the command line win)")
	fs.StringVar(&f.cfg.ID, "id", "", "node id, stable across restarts (default: the gossip address)")
	fs.StringVar(&f.cfg.DataDir, "data", "", "data directory (required)")
	fs.StringVar(&f.cfg.HTTPAddr, "http", "127.0.0.1:8701", "HTTP API listen address")
	fs.StringVar(&f.cfg.GRPCAddr, "grpc", "127.0.0.1:9701", "gRPC listen address (client API and internode)")
	fs.StringVar(&f.cfg.GossipAddr, "gossip", "127.0.0.1:10701", "gossip (membership) listen address")
	fs.StringSliceVar(&f.join, "join", nil, "gossip addresses of existing members, comma-separated")
	fs.StringVar(&f.cfg.Zone, "zone", "", "failure zone of this node (replicas spread over zones)")
	fs.IntVar(&f.cfg.N, "n", 3, "replication factor N (cluster-wide, fixed at creation)")
	fs.IntVar(&f.cfg.Partitions, "partitions", 256, "partition count Q, a power of two (fixed at creation)")
	fs.StringVar(&f.cfg.Cluster, "cluster", "tutti", "cluster name; nodes of other clusters are refused")
	fs.DurationVar(&f.cfg.Timeout, "timeout", 0, "default request timeout (default 5s)")
	fs.IntVar(&f.maxValue, "max-value-bytes", 8<<20, "largest value accepted")
	fs.DurationVar(&f.cfg.HandoffInterval, "handoff-interval", time.Second, "how often hints are handed off to owners that are back")
	fs.IntVar(&f.cfg.MaxHints, "max-hints", 100_000, "most hints kept for one unreachable owner")
	fs.Int64Var(&f.cfg.MaxHintBytes, "max-hint-bytes", 256<<20, "most bytes of hints kept for one unreachable owner")
	fs.DurationVar(&f.cfg.AAEInterval, "aae-interval", time.Minute, "anti-entropy exchanges each partition with each of its other replicas this often (negative: only on `tutti repair`)")
	fs.IntVar(&f.cfg.AAEConcurrency, "aae-concurrency", 2, "most anti-entropy exchanges this node runs at once")
	fs.Float64Var(&f.aaeRate, "aae-rate", 8, "anti-entropy bandwidth in MiB/s, requests and replies together")
	fs.Float64Var(&f.cfg.AAEShare, "aae-share", 0.1, "share of the time each anti-entropy worker may work while the node serves requests, in (0, 1]")
	fs.BoolVar(&f.cfg.AAEPaused, "aae-paused", false, "start with scheduled anti-entropy exchanges and tree builds paused (resume: POST /v1/debug/aae/resume)")
	fs.StringVar(&f.cfg.ContextSecret, "context-secret", "", "secret that signs causal contexts (same on every node)")
	fs.StringVar(&f.cfg.TLS.CertFile, "tls-cert", "", "internode TLS certificate (PEM)")
	fs.StringVar(&f.cfg.TLS.KeyFile, "tls-key", "", "internode TLS key (PEM)")
	fs.StringVar(&f.cfg.TLS.CAFile, "tls-ca", "", "CA that signs peers' certificates (enables mutual TLS)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.cfg.Pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ on the HTTP port")
	fs.BoolVar(&f.cfg.FastGossip, "fast-gossip", false, "short gossip and failure-detection intervals, for clusters on one host or one switch")
}

// applyConfigFile sets every flag that the file names and the command line
// did not.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var settings map[string]any
	if err := yaml.Unmarshal(raw, &settings); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for name, v := range settings {
		fl := fs.Lookup(name)
		if fl == nil || name == "config" {
			return fmt.Errorf("--config %s: unknown setting %q", path, name)
		}
		if fl.Changed {
			continue
		}
		var val string
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			val = strings.Join(parts, ",")
		default:
			val = fmt.Sprint(v)
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("--config %s: %s: %w", path, name, err)
		}
	}
	return nil
}

// tuneGC makes the collector run less often than Go's default unless GOGC
// says otherwise: a node's live heap is small and memory is cheaper than
// the 5-10% of throughput the default costs under load
// (docs/benchmarks.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

func newServerCommand() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one Tutti node",
		Example: `  tutti server --data /var/lib/tutti --http 10.0.0.1:8701 --grpc 10.0.0.1:9701 \
      --gossip 10.0.0.1:10701 --join 10.0.0.2:10701,10.0.0.3:10701 --zone a`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config != "" {
				if err := applyConfigFile(cmd.Flags(), f.config); err != nil {
					return err
				}
			}
			if f.cfg.DataDir == "" {
				return fmt.Errorf("--data is required")
			}
			log, err := newLogger(cmd.ErrOrStderr(), f.logLevel)
			if err != nil {
				return err
			}
			cfg := f.cfg
			cfg.Join = f.join
			cfg.Logger = log
			cfg = cfg.Defaults()
			cfg.Limits.MaxValueBytes = f.maxValue
			if f.aaeRate <= 0 {
				return fmt.Errorf("--aae-rate must be positive")
			}
			cfg.AAERate = f.aaeRate * (1 << 20)
			tuneGC()
			n, err := node.Start(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			log.Info("shutting down")
			return n.Close()
		},
	}
	f.register(cmd.Flags())
	return cmd
}
