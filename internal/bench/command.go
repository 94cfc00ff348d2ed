package bench

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// NewCommand returns the "bench" command.
func NewCommand() *cobra.Command {
	cfg := Config{}
	var workload string
	var asJSON bool
	var fo Failover
	var aae AAERun
	cmd := &cobra.Command{
		Use:   "bench (--endpoints URL[,URL...] | --kill-after D | --aae-missing F)",
		Short: "Measure a cluster's throughput and latency with a YCSB-style workload",
		Long: `Bench loads --records records into --bucket, then runs a workload for
--duration with --concurrency workers, each with one request in flight:
  a  50% reads, 50% updates (YCSB's core workloads a, b and c)
  b  95% reads, 5% updates
  c  reads only
  w  updates only
Keys are drawn from a scrambled zipfian distribution (constant 0.99), so a
few keys are hot. Updates are blind puts; unless --set-lww=false, the bucket's
conflict policy is first set to lww so that they do not pile up siblings.

Endpoints are grpc://host:port (the gRPC API, each request sent to a replica
of its key) or http://host:port (the HTTP API, requests spread round-robin).
The report gives, per phase and operation, the count, errors by kind,
throughput and latency percentiles; --json prints it as one JSON object.

Failover: with --kill-after and no --endpoints, bench starts --nodes tutti
server processes of its own on 127.0.0.1 (N=3, --fast-gossip), runs the
workload against all of them over --protocol, and --kill-after into the run
sends SIGKILL to node --kill-node (default the last). The report adds the
writes' timeline: failed writes and throughput and latency before the kill,
during the 2 s after it, and after; the longest gap between successful
writes; and whether the target was met (N=3, W=2: no failed write, no gap
longer than the p99.9 before the kill). With --restart-after the node is
restarted that long after the kill, and the report adds how long the other
nodes took to hand it their hints; the run then lasts until 10 s after the
last hint was delivered if that is later than --duration. The nodes log to
files in a temporary directory, removed at the end unless --keep; they are
killed however bench ends.

Anti-entropy: with --aae-missing F, bench starts three tutti server
processes of its own (N=3), loads --records x (1-F) records with every node
up, runs the workload for --duration (before), pauses anti-entropy on nodes
1 and 2, stops node 3 (SIGTERM; SIGKILL with --aae-kill, so that it has no
saved trees to load and must rebuild them), writes the other --records x F
records with sloppy quorum off for the bucket (no hints: node 3 misses
them), and restarts node 3 with anti-entropy paused (--aae-paused). It runs
the workload for --duration with anti-entropy paused on every node (paused:
same data and same restarted node without anti-entropy), then resumes
anti-entropy on every node and runs the workload until the replicas are
equal (converging) and for --duration more (after), then pauses
anti-entropy on every node again and runs the workload for --duration once
more (paused again). The baseline is both paused windows pooled, so that
drift over the run does not pass for the exchanges' cost. It reports how
long the servers' scheduled exchanges took to make every partition's
Merkle roots equal on every node, from the restart and from the resume;
the bytes they sent by step against the size of the missing objects and
against a repair without trees; the keys they repaired; the restarted
node's tree build time; and the workload's throughput and p50/p99, overall
and per operation, in each window, with the converging window's p99 against
the baseline's (the bound: within 20%), against each paused window, the
after window's against the baseline's, and the drift (paused again against
paused). With --duration 0 there is no workload and no paused window:
anti-entropy is resumed as soon as node 3 is back.`,
		Example: `  tutti bench --endpoints grpc://127.0.0.1:9701 --workload a --duration 30s
  tutti bench --endpoints http://127.0.0.1:8701,http://127.0.0.1:8702 --workload c --json
  tutti bench --workload w --kill-after 5s --duration 20s
  tutti bench --workload w --kill-after 5s --restart-after 60s --nodes 4
  tutti bench --aae-missing 0.01 --records 1000000 --concurrency 32 --duration 30s
  tutti bench --aae-missing 0.01 --records 1000000 --concurrency 32 --duration 30s --aae-kill --aae-share 0.05`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := ParseWorkload(workload)
			if err != nil {
				return err
			}
			cfg.Workload = w
			if err := modeFlags(cmd, &cfg, &fo, &aae); err != nil {
				return err
			}
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			cmd.SilenceUsage = true
			// Ctrl-C ends the run early; what was measured is still
			// reported, and the nodes of a failover run are killed first.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			res, runErr := Run(ctx, cfg)
			if res != nil {
				out := cmd.OutOrStdout()
				if asJSON {
					err = res.WriteJSON(out)
				} else {
					err = res.WriteText(out)
				}
				if err != nil && runErr == nil {
					runErr = err
				}
			}
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Endpoints, "endpoints", nil, "comma-separated grpc://host:port or http://host:port URLs of nodes")
	f.StringVar(&workload, "workload", "a", "workload: a (50/50 read/update), b (95/5), c (read only) or w (update only)")
	f.IntVar(&cfg.Records, "records", 10000, "number of records to load and to draw keys from")
	f.DurationVar(&cfg.Duration, "duration", defaultDuration, "length of the run phase")
	f.IntVar(&cfg.Concurrency, "concurrency", 16, "number of workers, each with one request in flight")
	f.IntVar(&cfg.ValueSize, "value-size", 100, "size of each value in bytes")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of every random choice")
	f.StringVar(&cfg.Bucket, "bucket", "bench", "bucket to hold the records")
	f.BoolVar(&cfg.SetLWW, "set-lww", true, "set the bucket's conflict policy to lww before loading")
	f.BoolVar(&cfg.SkipLoad, "skip-load", false, "skip the load phase (records loaded by an earlier run)")
	f.DurationVar(&cfg.Timeout, "timeout", defaultTimeout, "bound on each request (0: none)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.DurationVar(&fo.KillAfter, "kill-after", 0, "failover run: start a cluster of its own and kill one node this long into the run phase")
	f.IntVar(&fo.Nodes, "nodes", replicas, "failover run: number of tutti server processes (N=3)")
	f.IntVar(&fo.KillNode, "kill-node", 0, "failover run: number of the node killed, 1 to --nodes (default the last)")
	f.DurationVar(&fo.RestartAfter, "restart-after", 0, "failover run: restart the killed node this long after the kill and measure the hand-off of its hints")
	f.StringVar(&fo.Protocol, "protocol", string(protocolGRPC), "failover run: grpc or http")
	f.BoolVar(&fo.Keep, "keep", false, "failover or anti-entropy run: keep the nodes' data and logs")
	f.Float64Var(&aae.Missing, "aae-missing", 0, "anti-entropy run: start three nodes of its own and write this fraction of the records (e.g. 0.01) while node 3 is down")
	f.DurationVar(&aae.Interval, "aae-interval", 0, "anti-entropy run: the servers' --aae-interval (default theirs, 1m)")
	f.IntVar(&aae.Partitions, "partitions", 0, "anti-entropy run: the servers' --partitions, Q (default theirs, 256)")
	f.Float64Var(&aae.Share, "aae-share", 0, "anti-entropy run: the servers' --aae-share, the most of the time each anti-entropy worker works while the node serves requests, greater than 0 and at most 1 (default theirs, 0.1)")
	f.BoolVar(&aae.Kill, "aae-kill", false, "anti-entropy run: stop node 3 with SIGKILL rather than SIGTERM, so that it saves no trees and rebuilds them at the resume")
	return cmd
}

// modeFlags checks how the flags of the three kinds of run combine (a
// running cluster's, a failover run's, an anti-entropy run's), and sets
// cfg.Failover or cfg.AAE.
func modeFlags(cmd *cobra.Command, cfg *Config, fo *Failover, aae *AAERun) error {
	fs := cmd.Flags()
	if !fs.Changed("aae-missing") {
		for _, name := range []string{"aae-interval", "partitions", "aae-share", "aae-kill"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s needs --aae-missing: it belongs to an anti-entropy run, on a cluster bench starts", name)
			}
		}
		return failoverFlags(cmd, cfg, fo)
	}
	switch {
	case fs.Changed("kill-after"):
		return fmt.Errorf("--aae-missing and --kill-after are two different runs: give one of them")
	case fs.Changed("endpoints"):
		return fmt.Errorf("--aae-missing starts a cluster of its own and stops one of its nodes, so it cannot be used with --endpoints")
	case fs.Changed("skip-load"):
		return fmt.Errorf("--skip-load does not apply to an anti-entropy run, which loads records of its own")
	}
	for _, name := range []string{"nodes", "kill-node", "restart-after", "protocol"} {
		if fs.Changed(name) {
			return fmt.Errorf("--%s belongs to a failover run (--kill-after); an anti-entropy run has three nodes and uses gRPC", name)
		}
	}
	if fs.Changed("aae-share") && !(aae.Share > 0 && aae.Share <= 1) {
		return fmt.Errorf("--aae-share must be greater than 0 and at most 1, not %v; leave it out for the servers' default", aae.Share)
	}
	aae.Keep = fo.Keep
	cfg.AAE = aae
	return nil
}

// failoverFlags checks how the endpoint and failover flags combine, and
// sets cfg.Failover for a failover run.
func failoverFlags(cmd *cobra.Command, cfg *Config, fo *Failover) error {
	fs := cmd.Flags()
	if !fs.Changed("kill-after") {
		// The flags that only a failover run takes.
		for _, name := range []string{"nodes", "kill-node", "restart-after", "protocol"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s needs --kill-after: it belongs to a failover run, which kills a node of a cluster bench starts", name)
			}
		}
		if fs.Changed("keep") {
			return fmt.Errorf("--keep needs --kill-after or --aae-missing: it keeps the data of a cluster bench starts")
		}
		if len(cfg.Endpoints) == 0 {
			return fmt.Errorf("no endpoints: give --endpoints to measure a running cluster, --kill-after for a failover run or --aae-missing for an anti-entropy run on a cluster bench starts")
		}
		return nil
	}
	if fs.Changed("endpoints") {
		return fmt.Errorf("--kill-after starts a cluster of its own and kills one of its nodes, so it cannot be used with --endpoints")
	}
	cfg.Failover = fo
	return nil
}
