package cli

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/node"
)

// startNodes runs a three-node cluster in this process and returns the
// nodes' gRPC addresses, comma-separated.
func startNodes(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*node.Node
	var seed string
	for i := 1; i <= 3; i++ {
		cfg := node.Config{ID: fmt.Sprintf("n%d", i), DataDir: filepath.Join(dir, fmt.Sprint(i)),
			HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", GossipAddr: "127.0.0.1:0", Partitions: 64,
			FastGossip: true, Logger: log}
		if seed != "" {
			cfg.Join = []string{seed}
		}
		nd, err := node.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		if seed == "" {
			seed = nd.GossipAddr()
		}
		nodes = append(nodes, nd)
	}
	if err := waitConverged(nodes, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, nd := range nodes {
		addrs = append(addrs, nd.GRPCAddr())
	}
	return strings.Join(addrs, ",")
}

func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestClientCommands(t *testing.T) {
	eps := startNodes(t)
	out, errOut, code := run(t, "", "put", "--endpoints", eps, "demo/colour", "blue")
	if code != 0 || !strings.HasPrefix(out, "context: ") {
		t.Fatalf("put: code %d, out %q, err %q", code, out, errOut)
	}
	// A second write without a context makes a sibling; from stdin.
	if _, errOut, code := run(t, "green", "put", "--endpoints", eps, "--w", "all", "demo/colour"); code != 0 {
		t.Fatalf("put from stdin: %d %s", code, errOut)
	}
	out, errOut, code = run(t, "", "get", "--endpoints", eps, "--r", "all", "demo/colour")
	if code != 0 || !strings.Contains(out, "2 siblings") || !strings.Contains(out, "value: blue") || !strings.Contains(out, "value: green") {
		t.Fatalf("get: code %d, out %q, err %q", code, out, errOut)
	}
	var ctx string
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(line, "context: "); ok {
			ctx = c
		}
	}
	if _, errOut, code := run(t, "", "put", "--endpoints", eps, "--context", ctx, "demo/colour", "teal"); code != 0 {
		t.Fatalf("resolving put: %s", errOut)
	}
	out, _, _ = run(t, "", "get", "--endpoints", eps, "--r", "all", "demo/colour")
	if strings.Contains(out, "siblings") || !strings.Contains(out, "value: teal") {
		t.Fatalf("after resolving: %q", out)
	}
	if _, errOut, code := run(t, "", "delete", "--endpoints", eps, "demo/colour"); code != 0 {
		t.Fatalf("delete: %s", errOut)
	}
	out, _, code = run(t, "", "get", "--endpoints", eps, "demo/colour")
	if code != 2 || !strings.HasPrefix(out, "deleted") {
		t.Fatalf("get after delete: code %d, %q", code, out)
	}
	out, errOut, code = run(t, "", "status", "--endpoints", eps)
	if code != 0 || !strings.Contains(out, "3 members (3 alive)") || strings.Count(out, " up ") != 3 {
		t.Fatalf("status: code %d, out %q, err %q", code, out, errOut)
	}
	// Each node answers its anti-entropy state: trees of its 64 partitions.
	if strings.Count(out, "/64 ") != 3 {
		t.Errorf("status: no trees column for each node: %q", out)
	}
	out, errOut, code = run(t, "", "repair", "--endpoints", eps, "--partition", "5")
	if code != 0 || !strings.Contains(out, "total: 2 exchanges of 1 partition") {
		t.Fatalf("repair: code %d, out %q, err %q", code, out, errOut)
	}
}

func TestClientCommandErrors(t *testing.T) {
	cases := [][]string{
		{"put", "nokey", "v"},
		{"get", "/k"},
		{"get", "--r", "lots", "--endpoints", "127.0.0.1:1", "b/k"},
		{"put", "--endpoints", "", "b/k", "v"},
	}
	for _, args := range cases {
		_, errOut, code := run(t, "", args...)
		if code == 0 || !strings.HasPrefix(errOut, "tutti: ") {
			t.Errorf("%v: code %d, stderr %q; want a failure with a message", args, code, errOut)
		}
	}
}

func TestServerConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tutti.yaml")
	if err := os.WriteFile(path, []byte("id: a\nn: 2\njoin:\n  - 10.0.0.1:10701\n  - 10.0.0.2:10701\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The real command's flag set: parse a command line, then apply the file.
	fs := newServerCommand().Flags()
	if err := fs.Parse([]string{"--n", "5"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fs, path); err != nil {
		t.Fatal(err)
	}
	if v, _ := fs.GetString("id"); v != "a" {
		t.Errorf("id = %q, want a from the file", v)
	}
	if v, _ := fs.GetInt("n"); v != 5 {
		t.Errorf("n = %d, want 5 from the command line", v)
	}
	if v, _ := fs.GetStringSlice("join"); len(v) != 2 || v[1] != "10.0.0.2:10701" {
		t.Errorf("join = %v", v)
	}
	if err := os.WriteFile(path, []byte("colour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fs, path); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Errorf("unknown setting accepted: %v", err)
	}
}
