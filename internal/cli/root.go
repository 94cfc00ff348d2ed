// Package cli is the command tree of the tutti binary (cobra): server, dev,
// put, get, delete, status, repair and bench. It is a library so that tests
// can run commands in-process and read their output.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tutti-kv/tutti/internal/bench"
)

// Execute runs the command line args and returns the process exit code.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return int(exit) // the command already said why
		}
		fmt.Fprintln(stderr, "tutti:", err)
		return 1
	}
	return 0
}

// exitError asks Execute for a specific exit code.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// NewRoot builds the whole command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tutti",
		Short: "Tutti: a leaderless, Dynamo-style replicated key-value store",
		Long: `Tutti is a leaderless replicated key-value store: any node takes any request,
each key lives on N replicas, writes wait for W acknowledgements and reads for R replies.

Start a local three-node cluster with:  tutti dev
then try:                                tutti put demo/hello world && tutti get demo/hello`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand(), newDevCommand(), newPutCommand(), newGetCommand(),
		newDeleteCommand(), newStatusCommand(), newRepairCommand(), bench.NewCommand())
	return root
}

// newLogger builds the logger for server-side commands.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// defaultEndpoints are the gRPC addresses of `tutti dev`'s nodes, so that
// client commands work against a local cluster with no flags.
func defaultEndpoints() string {
	if e := os.Getenv("TUTTI_ENDPOINTS"); e != "" {
		return e
	}
	return "127.0.0.1:9701,127.0.0.1:9702,127.0.0.1:9703"
}
