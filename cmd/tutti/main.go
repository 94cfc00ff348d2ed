// Command tutti is the one binary of Tutti: the server, a local development
// cluster, client commands, status and the benchmark. Run `tutti help`.
package main

import (
	"os"

	"github.com/tutti-kv/tutti/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
