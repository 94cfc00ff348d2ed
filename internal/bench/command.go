package bench

import (
	"os"
	"os/signal"

	"github.com/spf13/cobra"
)

// NewCommand returns the "bench" command.
func NewCommand() *cobra.Command {
	cfg := Config{}
	var workload string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench --endpoints URL[,URL...]",
		Short: "Measure a cluster's throughput and latency with a YCSB-style workload",
		Long: `Bench loads --records records into --bucket, then runs a YCSB core workload
for --duration with --concurrency workers, each with one request in flight:
  a  50% reads, 50% updates
  b  95% reads, 5% updates
  c  reads only
Keys are drawn from a scrambled zipfian distribution (constant 0.99), so a
few keys are hot. Updates are blind puts; unless --set-lww=false, the bucket's
conflict policy is first set to lww so that they do not pile up siblings.

Endpoints are grpc://host:port (the gRPC API, each request sent to a replica
of its key) or http://host:port (the HTTP API, requests spread round-robin).
The report gives, per phase and operation, the count, errors by kind,
throughput and latency percentiles; --json prints it as one JSON object.`,
		Example: `  tutti bench --endpoints grpc://127.0.0.1:9701 --workload a --duration 30s
  tutti bench --endpoints http://127.0.0.1:8701,http://127.0.0.1:8702 --workload c --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := ParseWorkload(workload)
			if err != nil {
				return err
			}
			cfg.Workload = w
			if !asJSON {
				cfg.Progress = cmd.ErrOrStderr()
			}
			cmd.SilenceUsage = true
			// Ctrl-C ends the run early; what was measured is still reported.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
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
	f.StringVar(&workload, "workload", "a", "YCSB core workload: a (50/50 read/update), b (95/5) or c (read only)")
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
	_ = cmd.MarkFlagRequired("endpoints")
	return cmd
}
