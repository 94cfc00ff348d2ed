package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/tutti-kv/tutti/internal/node"
)

func newDevCommand() *cobra.Command {
	var (
		nodes    int
		dir      string
		basePort int
		n        int
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster of several nodes in this process",
		Long: `dev starts a local cluster in one process. Node i serves HTTP on 127.0.0.1:P+i,
gRPC on 127.0.0.1:P+1000+i and gossip on 127.0.0.1:P+2000+i, where P is --base-port
(default 8700: HTTP 8701, 8702, 8703; gRPC 9701, 9702, 9703). Ctrl-C stops it.
Without --dir the data lives in a temporary directory removed on exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 64 {
				return fmt.Errorf("--nodes must be between 1 and 64")
			}
			log, err := newLogger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			if dir == "" {
				tmp, err := os.MkdirTemp("", "tutti-dev-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			if n == 0 {
				n = min(3, nodes)
			}
			tuneGC()
			out := cmd.OutOrStdout()
			var started []*node.Node
			defer func() {
				for _, nd := range started {
					_ = nd.Close()
				}
			}()
			for i := 1; i <= nodes; i++ {
				cfg := node.Config{
					ID:         fmt.Sprintf("n%d", i),
					DataDir:    filepath.Join(dir, fmt.Sprintf("n%d", i)),
					HTTPAddr:   fmt.Sprintf("127.0.0.1:%d", basePort+i),
					GRPCAddr:   fmt.Sprintf("127.0.0.1:%d", basePort+1000+i),
					GossipAddr: fmt.Sprintf("127.0.0.1:%d", basePort+2000+i),
					N:          n,
					FastGossip: true,
					Logger:     log,
				}
				if i > 1 {
					cfg.Join = []string{fmt.Sprintf("127.0.0.1:%d", basePort+2001)}
				}
				nd, err := node.Start(cfg)
				if err != nil {
					return fmt.Errorf("starting node %d: %w", i, err)
				}
				started = append(started, nd)
			}
			if err := waitConverged(started, 30*time.Second); err != nil {
				return err
			}
			fmt.Fprintf(out, "Tutti dev cluster: %d nodes, N=%d, data in %s\n", nodes, n, dir)
			fmt.Fprintf(out, "%-4s %-22s %-22s %s\n", "node", "http", "grpc", "gossip")
			for i, nd := range started {
				fmt.Fprintf(out, "%-4s %-22s %-22s 127.0.0.1:%d\n", nd.ID(), "http://"+nd.HTTPAddr(), nd.GRPCAddr(), basePort+2001+i)
			}
			fmt.Fprintf(out, "\nTry:\n  curl -X PUT --data-binary world http://%s/v1/buckets/demo/keys/hello\n  curl http://%s/v1/buckets/demo/keys/hello\n  go run ./cmd/tutti get demo/hello\n\nCtrl-C stops the cluster.\n",
				started[0].HTTPAddr(), started[len(started)-1].HTTPAddr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			fmt.Fprintln(out, "stopping")
			return nil
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().StringVar(&dir, "dir", "", "data directory (kept across runs); default a temporary one")
	cmd.Flags().IntVar(&basePort, "base-port", 8700, "node i serves HTTP on base-port+i")
	cmd.Flags().IntVar(&n, "n", 0, "replication factor (default min(3, nodes))")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

// waitConverged waits until every node sees every other as a live member.
func waitConverged(nodes []*node.Node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		done := true
		for _, nd := range nodes {
			info := nd.Cluster()
			alive := 0
			for _, m := range info.Members {
				if m.Alive {
					alive++
				}
			}
			if alive != len(nodes) {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodes did not see each other within %s", timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
