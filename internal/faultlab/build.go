package faultlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// modulePath identifies the repository root when Build walks up to it.
const modulePath = "github.com/tutti-kv/tutti"

// Supported reports why a Lab cannot run here, or nil when it can: it
// needs root, the ip and nft commands, and permission to create a network
// namespace (a container without CAP_SYS_ADMIN is root but cannot).
func Supported() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces and nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs the %s command (apt-get install iproute2 nftables): %w", tool, err)
		}
	}
	probe := tagPrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "_probe"
	if _, err := command(nil, "ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("cannot create a network namespace: %w", err)
	}
	if _, err := command(nil, "ip", "netns", "del", probe); err != nil {
		return err
	}
	return nil
}

// Build compiles cmd/tutti into dir and returns the binary's path. The
// repository root is found by walking up from the working directory, which
// `go test` sets to the package's directory.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building tutti: %w", err)
	}
	bin := filepath.Join(dir, "tutti")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/tutti")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/tutti: %w\n%s", err, out.String())
	}
	return bin, nil
}

// repoRoot finds the nearest directory at or above the working directory
// whose go.mod declares this module.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(mod, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", modulePath)
		}
		dir = parent
	}
}
