package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/client"
)

// clientFlags are the connection and quorum flags of the client commands.
type clientFlags struct {
	endpoints string
	timeout   time.Duration
	quorums   map[string]*string
}

func (f *clientFlags) register(fs *pflag.FlagSet, quorums ...string) {
	fs.StringVar(&f.endpoints, "endpoints", defaultEndpoints(), "gRPC addresses of cluster nodes, comma-separated (env TUTTI_ENDPOINTS)")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "request timeout")
	f.quorums = map[string]*string{}
	for _, q := range quorums {
		f.quorums[q] = fs.String(q, "", q+": a count or one, quorum, all (default: the bucket's)")
	}
}

func (f *clientFlags) connect(ctx context.Context) (*client.Client, error) {
	eps := splitList(f.endpoints)
	if len(eps) == 0 {
		return nil, fmt.Errorf("no endpoints: set --endpoints or TUTTI_ENDPOINTS")
	}
	c, err := client.New(ctx, eps)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(eps, ","), err)
	}
	return c, nil
}

// writeFlags are the flags of the commands that write: the client flags with
// the write quorums, and the causal context of the versions the write
// replaces.
type writeFlags struct {
	clientFlags
	causal string
}

func (f *writeFlags) register(fs *pflag.FlagSet) {
	f.clientFlags.register(fs, "w", "dw", "pw")
	fs.StringVar(&f.causal, "context", "", "causal context from a previous get")
}

// withClient turns the quorum flags into request options and connects, in
// that order, so that a bad flag fails before any connection is made; then it
// calls do and closes the client when do returns.
func (f *clientFlags) withClient(ctx context.Context, do func(c *client.Client, opts []client.ReqOption) error) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	c, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return do(c, opts)
}

// options turns the quorum flags into request options.
func (f *clientFlags) options() ([]client.ReqOption, error) {
	opts := []client.ReqOption{client.WithTimeout(f.timeout)}
	setters := map[string]func(client.Quorum) client.ReqOption{
		"r": client.R, "pr": client.PR, "w": client.W, "dw": client.DW, "pw": client.PW,
	}
	for name, v := range f.quorums {
		if *v == "" {
			continue
		}
		q, err := client.ParseQuorum(*v)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
		opts = append(opts, setters[name](q))
	}
	return opts, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseTarget splits BUCKET/KEY at the first slash.
func parseTarget(s string) (bucket, key string, err error) {
	bucket, key, ok := strings.Cut(s, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%q is not BUCKET/KEY", s)
	}
	return bucket, key, nil
}

func newPutCommand() *cobra.Command {
	var (
		f           writeFlags
		contentType string
	)
	cmd := &cobra.Command{
		Use:   "put BUCKET/KEY [VALUE]",
		Short: "Write a value (read from standard input when VALUE is absent)",
		Long: `put writes a value. Without --context the write is concurrent with whatever the key
holds (in a siblings bucket it becomes one more sibling); with the context a get printed,
it replaces exactly the versions that get saw. Prints the new version's context.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			var value []byte
			if len(args) == 2 {
				value = []byte(args[1])
			} else if value, err = io.ReadAll(cmd.InOrStdin()); err != nil {
				return err
			}
			return f.withClient(cmd.Context(), func(c *client.Client, opts []client.ReqOption) error {
				opts = append(opts, client.WithContext(f.causal), client.WithContentType(contentType))
				ctxOut, err := c.Put(cmd.Context(), bucket, key, value, opts...)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "context: %s\n", ctxOut)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&contentType, "content-type", "text/plain", "content type stored with the value")
	return cmd
}

func newGetCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "get BUCKET/KEY",
		Short: "Read a key: its value, or every sibling, and its context",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			return f.withClient(cmd.Context(), func(c *client.Client, opts []client.ReqOption) error {
				obj, err := c.Get(cmd.Context(), bucket, key, opts...)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				switch {
				case obj.Deleted:
					fmt.Fprintf(out, "deleted\ncontext: %s\n", obj.Context)
					return exitError(2)
				case !obj.Found:
					fmt.Fprintln(out, "not found")
					return exitError(2)
				}
				if len(obj.Siblings) > 1 {
					fmt.Fprintf(out, "%d siblings\n", len(obj.Siblings))
				}
				for i, s := range obj.Siblings {
					if len(obj.Siblings) > 1 {
						fmt.Fprintf(out, "--- sibling %d\n", i+1)
					}
					fmt.Fprintf(out, "content-type: %s\nlast-modified: %s\n", s.ContentType, s.LastModified.Format(time.RFC3339Nano))
					if utf8.Valid(s.Value) {
						fmt.Fprintf(out, "value: %s\n", s.Value)
					} else {
						fmt.Fprintf(out, "value: (%d bytes of binary)\n", len(s.Value))
					}
				}
				fmt.Fprintf(out, "context: %s\n", obj.Context)
				return nil
			})
		},
	}
	f.register(cmd.Flags(), "r", "pr")
	return cmd
}

func newDeleteCommand() *cobra.Command {
	var f writeFlags
	cmd := &cobra.Command{
		Use:   "delete BUCKET/KEY",
		Short: "Delete a key (writes a tombstone over the versions the context covers)",
		Long: `delete writes a tombstone. With --context it replaces exactly the versions that context
covers; without, the node reads the key first and deletes what that read returned.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, err := parseTarget(args[0])
			if err != nil {
				return err
			}
			return f.withClient(cmd.Context(), func(c *client.Client, opts []client.ReqOption) error {
				ctxOut, err := c.Delete(cmd.Context(), bucket, key, append(opts, client.WithContext(f.causal))...)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted\ncontext: %s\n", ctxOut)
				return nil
			})
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func newStatusCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the members, their liveness, partitions and anti-entropy per node",
		Long: `status shows the ring as the first of --endpoints that answers sees it: each member's
liveness, zone, partitions, the hints that node keeps for it and its addresses. For each
live member it also asks the member itself (over HTTP, within 2s) for its anti-entropy
state: the age of its oldest exchange and how many of its partitions' trees are built.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			var lastErr error
			for _, addr := range splitList(f.endpoints) {
				ring, err := fetchRing(ctx, addr)
				if err != nil {
					lastErr = err
					continue
				}
				printStatus(cmd.OutOrStdout(), addr, ring, fetchAAE(ctx, ring, addr))
				return nil
			}
			if lastErr == nil {
				lastErr = fmt.Errorf("no endpoints: set --endpoints or TUTTI_ENDPOINTS")
			}
			return lastErr
		},
	}
	f.register(cmd.Flags())
	return cmd
}

func fetchRing(ctx context.Context, addr string) (*tuttipb.RingResponse, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ring, err := tuttipb.NewKVClient(cc).Ring(ctx, &tuttipb.RingRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return ring, nil
}

// printStatus writes the status table of ring, which via answered; aae
// holds each member's anti-entropy cells.
func printStatus(out io.Writer, via string, ring *tuttipb.RingResponse, aae []aaeCell) {
	counts := make([]int, len(ring.Members))
	for _, p := range ring.Owners {
		for _, o := range p.Owners {
			if int(o) < len(counts) {
				counts[o]++
			}
		}
	}
	alive := 0
	for _, m := range ring.Members {
		if m.Alive {
			alive++
		}
	}
	fmt.Fprintf(out, "cluster as seen by %s: %d members (%d alive), %d partitions, N=%d, ring version %016x\n\n",
		via, len(ring.Members), alive, ring.Partitions, ring.N, ring.Version)
	fmt.Fprintf(out, "(hints held: writes %s keeps for that node, waiting to be handed off)\n", via)
	fmt.Fprintln(out, "(oldest exchange: since that node last compared its least recently compared partition")
	fmt.Fprintln(out, " with a peer replica; never: a pair not compared since it started, age counted from then)")
	idx := make([]int, len(ring.Members))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ring.Members[idx[a]].Id < ring.Members[idx[b]].Id })
	const row = "%-12s %-6s %-8s %-10v %-10v %-16s %-9s %-22s %s\n"
	fmt.Fprintf(out, row, "node", "alive", "zone", "partitions", "hints held", "oldest exchange", "trees", "grpc", "http")
	for _, i := range idx {
		m := ring.Members[i]
		state := "up"
		if !m.Alive {
			state = "DOWN"
		}
		zone := m.Zone
		if zone == "" {
			zone = "-"
		}
		cell := aaeCell{"-", "-"}
		if i < len(aae) {
			cell = aae[i]
		}
		fmt.Fprintf(out, row, m.Id, state, zone, counts[i], m.HintsPending, cell.oldest, cell.trees, m.GrpcAddr, m.HttpAddr)
	}
}
