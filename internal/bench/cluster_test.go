package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterStartFailure(t *testing.T) {
	// A "tutti" that says why and exits at once.
	bin := filepath.Join(t.TempDir(), "tutti")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'listen tcp: address already in use' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	cl, err := startCluster(context.Background(), bin, 3, false)
	if err == nil {
		_ = cl.close()
		t.Fatal("a cluster of failing nodes started")
	}
	if !strings.Contains(err.Error(), "exited while the cluster was starting") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q does not say which node exited and why", err)
	}
}
