package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/bench"
	"github.com/tutti-kv/tutti/internal/cli"
)

// serveEnv, set to 1, makes the test binary act as the tutti binary: a
// failover run's default binary is its own executable, so the runs below
// start `<test binary> server ...`. No separate build is needed, and the
// nodes are built the way the test is (with -race under -race).
const serveEnv = "TUTTI_BENCH_TEST_AS_TUTTI"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "server" {
		// Started as a node by a test that did not set serveEnv (a flag
		// test whose arguments were valid after all): running the tests
		// here would start clusters of test binaries in turn, without end.
		fmt.Fprintf(os.Stderr, "bench.test: started as a server without %s=1\n", serveEnv)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// runBench runs the bench command with args (which include --json and
// --keep) in a test that starts real processes, and returns its result and
// output; a kept cluster directory is removed when the test ends.
func runBench(t *testing.T, args ...string) (*bench.Result, string) {
	t.Helper()
	t.Setenv(serveEnv, "1")
	cmd := bench.NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	var res bench.Result
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("bench: %v; output is not a JSON result (%v):\n%s\n%s", err, jerr, out.String(), errOut.String())
	}
	var dirs []string
	if res.Failover != nil {
		dirs = append(dirs, res.Failover.ClusterDir)
	}
	if res.AAE != nil {
		dirs = append(dirs, res.AAE.ClusterDir)
	}
	for _, dir := range dirs {
		if dir != "" {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
		}
	}
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	return &res, out.String()
}

// runFailover runs a failover with args and returns its report.
func runFailover(t *testing.T, args ...string) *bench.Result {
	t.Helper()
	if testing.Short() {
		t.Skip("failover run with real processes skipped in -short mode")
	}
	res, out := runBench(t, append(args, "--json", "--keep", "--records", "200", "--concurrency", "4")...)
	if res.Failover == nil {
		t.Fatalf("no failover report: %s", out)
	}
	checkAllStopped(t, res)
	return res
}

// checkAllStopped checks that every node of a run was killed when the
// command returned: nothing listens on their ports.
func checkAllStopped(t *testing.T, res *bench.Result) {
	t.Helper()
	for _, e := range res.Endpoints {
		u, err := url.Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after the run", e)
		}
	}
}

// windows indexes the report's windows by name, and checks their order.
func windows(t *testing.T, r *bench.FailoverReport, want ...string) map[string]bench.Window {
	t.Helper()
	byName := map[string]bench.Window{}
	var names []string
	for _, w := range r.Windows {
		byName[w.Name] = w
		names = append(names, w.Name)
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("windows %v, want %v", names, want)
	}
	return byName
}

func TestFailoverRun(t *testing.T) {
	res := runFailover(t, "--workload", "w", "--kill-after", "2s", "--duration", "5s")
	r := res.Failover
	if !r.Killed || r.KilledNode != "n3" || r.KillAtSec < 2 || r.KillAtSec > 3 || r.Nodes != 3 || r.N != 3 || r.W != 2 {
		t.Errorf("report head: killed %v %s at %v s; %d nodes, N=%d, W=%d", r.Killed, r.KilledNode, r.KillAtSec, r.Nodes, r.N, r.W)
	}
	ws := windows(t, r, "before", "during", "after")
	for name, w := range ws {
		if w.Writes == 0 || w.WritesPerSec <= 0 || w.Latency.P50 <= 0 || w.Latency.Max < w.Latency.P999 || w.Latency.P999 < w.Latency.P99 {
			t.Errorf("%s window = %+v", name, w)
		}
	}
	if ws["during"].FromSec != r.KillAtSec || ws["after"].ToSec != r.EndSec || r.EndSec < 5 {
		t.Errorf("window bounds: during from %v (kill %v), after to %v (end %v)", ws["during"].FromSec, r.KillAtSec, ws["after"].ToSec, r.EndSec)
	}
	if r.LongestGap.Ms <= 0 || r.LongestGap.Window == "" || r.Target.MaxGapMs <= 0 || r.Writes != res.Run.Ops {
		t.Errorf("gap %+v, target %+v; %d writes in the timeline, %d in the run", r.LongestGap, r.Target, r.Writes, res.Run.Ops)
	}
	if r.Recovery != nil {
		t.Error("recovery reported without --restart-after")
	}
	// The nodes logged to files in the cluster's directory.
	for _, id := range []string{"n1", "n2", "n3"} {
		raw, err := os.ReadFile(filepath.Join(r.ClusterDir, id+".log"))
		if err != nil || !bytes.Contains(raw, []byte("bench: starting "+id)) {
			t.Errorf("%s's log: %v\n%s", id, err, raw)
		}
	}
}

func TestFailoverRunWithRestart(t *testing.T) {
	// Four nodes, so that the killed node's writes go to a substitute as
	// hints, handed off once it is back.
	res := runFailover(t, "--workload", "w", "--nodes", "4", "--kill-node", "2", "--kill-after", "1s", "--restart-after", "3s", "--duration", "4s")
	r := res.Failover
	ws := windows(t, r, "before", "during", "after", "handoff", "recovered")
	for _, name := range []string{"before", "during", "after", "recovered"} {
		if ws[name].Writes == 0 {
			t.Errorf("%s window has no write: %+v", name, ws[name])
		}
	}
	rec := r.Recovery
	if r.KilledNode != "n2" || rec == nil || !rec.Delivered || rec.SeenAliveAfterSec == nil || rec.DeliveredAfterSec == nil {
		t.Fatalf("killed %s; recovery %+v", r.KilledNode, rec)
	}
	if rec.RestartAtSec-r.KillAtSec < 3 || *rec.DeliveredAfterSec < *rec.SeenAliveAfterSec || rec.HintsPeak < rec.HintsAtRestart {
		t.Errorf("recovery = %+v", rec)
	}
	// The run went on after the delivery, past --duration.
	if r.EndSec < rec.RestartAtSec+*rec.DeliveredAfterSec+5 {
		t.Errorf("run ended at %v s, delivery at %v s", r.EndSec, rec.RestartAtSec+*rec.DeliveredAfterSec)
	}
	raw, err := os.ReadFile(filepath.Join(r.ClusterDir, "n2.log"))
	if err != nil || bytes.Count(raw, []byte("bench: starting n2")) != 2 {
		t.Errorf("n2's log does not show two starts (%v)", err)
	}
}
