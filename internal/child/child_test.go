package child

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartLogAndKill(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	p, err := Start(exec.Command("sh", "-c", "echo hello; exec sleep 30"), log, "starting sleeper")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if out, _ := os.ReadFile(log); strings.Contains(string(out), "hello\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child's output never reached the log")
		}
	}
	if p.Exited() {
		t.Fatal("exited before it was killed")
	}
	if err := p.Kill(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("not exited after Kill")
	}
	if err := p.Kill(time.Second); err != nil {
		t.Fatalf("second Kill of a reaped process: %v", err)
	}
	out, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "=== starting sleeper at ") || !strings.Contains(string(out), "hello\n") {
		t.Fatalf("log = %q", out)
	}
}
