package main

import (
	"regexp"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSeedsPass(t *testing.T) {
	code, out, errOut := runCmd(t, "--seeds", "3", "--parallel")
	if code != 0 || !strings.Contains(out, "3 seeds passed") || !strings.Contains(out, "mix: ") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// A failing swarm exits non-zero and prints the one command that replays
// the failure; replaying it fails the same way, with the same trace.
func TestFailureReplays(t *testing.T) {
	code, out, _ := runCmd(t, "--seeds", "10", "--bug", "overwrite")
	if code != 1 || !strings.Contains(out, "seeds failed") {
		t.Fatalf("a planted bug passed: exit %d\n%s", code, out)
	}
	m := regexp.MustCompile(`replay: go run ./cmd/tutti-sim (--seed (0x[0-9a-f]+) --trace --bug overwrite)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no replay command in:\n%s", out)
	}
	args := strings.Fields(m[1])
	code1, trace1, _ := runCmd(t, args...)
	code2, trace2, _ := runCmd(t, args...)
	if code1 != 1 || code2 != 1 {
		t.Fatalf("replaying %v: exit %d and %d, want 1", args, code1, code2)
	}
	if trace1 != trace2 {
		t.Fatal("two replays of one seed printed different traces")
	}
	for _, want := range []string{"world seed=" + m[2], "recv ", "invoke c1", "issues dot", "trace hash ", "replay: go run"} {
		if !strings.Contains(trace1, want) {
			t.Errorf("replay output lacks %q", want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--seed", "zz"},
		{"--seed", "1", "--seeds", "2"},
		{"--seeds", "1", "--bug", "nope"},
		{"--nope"},
	} {
		if code, _, errOut := runCmd(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a reason", args, code, errOut)
		}
	}
}
