package faultlab_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/faultlab"
)

// binaryEnv names the tutti binary the lab tests run. TestMain builds one
// and sets it; set it yourself to test another build.
const binaryEnv = "TUTTI_FAULTLAB_BINARY"

// TestMain builds the tutti binary once for the whole test binary, and
// only when a lab test can run here.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if testing.Short() || os.Getenv(binaryEnv) != "" || faultlab.Supported() != nil {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "faultlab-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultlab:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	bin, err := faultlab.Build(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultlab:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "faultlab: built %s in %v\n", bin, time.Since(start).Round(time.Millisecond))
	os.Setenv(binaryEnv, bin)
	return m.Run()
}

// labBinary skips the test unless the lab can run here, and returns the
// binary to run.
func labBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("faultlab: real-process fault test skipped in -short mode")
	}
	if err := faultlab.Supported(); err != nil {
		t.Skipf("faultlab: real-process fault test skipped: %v", err)
	}
	bin := os.Getenv(binaryEnv)
	if bin == "" {
		t.Fatalf("faultlab: %s is not set (TestMain builds the binary)", binaryEnv)
	}
	return bin
}

// keepEnv names a directory under which a run keeps its history and node
// logs (by default they go to a temporary directory removed after the
// test).
const keepEnv = "TUTTI_FAULTLAB_KEEP"

// runDir is where a lab test puts its nodes and history.
func runDir(t *testing.T) string {
	t.Helper()
	keep := os.Getenv(keepEnv)
	if keep == "" {
		return t.TempDir()
	}
	dir := filepath.Join(keep, fmt.Sprintf("%s-%s-%d", t.Name(), time.Now().Format("20060102-150405"), os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("keeping the history and node logs in %s", dir)
	return dir
}

// scenarioBudget bounds a whole scenario, however slowly the cluster
// recovers; a healthy run takes well under a minute.
const scenarioBudget = 4 * time.Minute

// TestFaultScenario runs a 3-node cluster under a steady workload with
// w = 1, 2 and 3 mixed through, in turn, a kill -9 and restart, a
// SIGSTOP and SIGCONT, a symmetric partition of one node and a one-way
// partition, then checks that no acknowledged write was lost.
func TestFaultScenario(t *testing.T) {
	bin := labBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), scenarioBudget)
	defer cancel()
	begin := time.Now()
	dir := runDir(t)
	lab := faultlab.Start(t, faultlab.Config{Binary: bin, Dir: dir, Nodes: 3})
	t.Logf("cluster of %d ready after %v", lab.Nodes(), time.Since(begin).Round(time.Millisecond))

	historyPath := filepath.Join(dir, "history.jsonl")
	stopWorkload := startWorkload(t, historyPath, faultlab.Workload{Targets: lab.URLs(), Bucket: "scenario", Clients: 6})

	sc := scenario{t: t, ctx: ctx, lab: lab, begin: begin}
	sc.run(2 * time.Second)
	sc.step("kill -9 n1", func() error { return lab.Kill(0) })
	sc.run(2 * time.Second)
	sc.step("restart n1", func() error { return lab.Restart(0) })
	sc.ready()
	sc.step("SIGSTOP n2", func() error { return lab.Pause(1) })
	sc.run(3 * time.Second)
	sc.step("SIGCONT n2", func() error { return lab.Resume(1) })
	sc.ready()
	sc.step("partition n3 | n1 n2", func() error { return lab.Partition([]int{2}, []int{0, 1}, false) })
	sc.run(4 * time.Second)
	sc.step("heal", lab.Heal)
	sc.ready()
	sc.step("one-way partition n1 -> n2 n3", func() error { return lab.Partition([]int{0}, []int{1, 2}, true) })
	sc.run(4 * time.Second)
	sc.step("heal", lab.Heal)
	sc.ready()
	sc.step("stop workload", stopWorkload)

	res := checkRun(ctx, t, lab, historyPath, "scenario")
	t.Logf("scenario took %v\n%s", time.Since(begin).Round(time.Millisecond), res)
	if !res.OK() {
		t.Errorf("history check failed:\n%s", res)
	}
	requireProgress(t, res)
	checkReplicas(ctx, t, lab, historyPath, "scenario")
}

// checkReplicas waits until every node's own copy of every key holds every
// acknowledged write and no hint is left: hints handed off, and the final
// read's read repair done. With three nodes and N=3 every node is a replica
// of every key.
func checkReplicas(ctx context.Context, t *testing.T, lab *faultlab.Lab, historyPath, bucket string) {
	t.Helper()
	f, err := os.Open(historyPath)
	if err != nil {
		t.Fatal(err)
	}
	history, err := faultlab.ReadHistory(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	deadline := begin.Add(60 * time.Second)
	for {
		copies, err := faultlab.ReadCopies(ctx, lab.URLs(), bucket, faultlab.Keys(history))
		if err != nil {
			t.Fatal(err)
		}
		bad := faultlab.CheckCopies(history, copies)
		if len(bad) == 0 {
			t.Logf("every replica holds every acknowledged write, no hint left, %v after the final read", time.Since(begin).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not converge within 60s: %d problems, first: %s", len(bad), bad[0])
		}
		time.Sleep(time.Second)
	}
}

// scenario runs fault steps in order, logging each with its time since
// the start, and stops the test at the first step that fails.
type scenario struct {
	t     *testing.T
	ctx   context.Context // the whole scenario's budget
	lab   *faultlab.Lab
	begin time.Time
}

func (s scenario) step(name string, fn func() error) {
	s.t.Helper()
	s.t.Logf("%6.1fs %s", time.Since(s.begin).Seconds(), name)
	if err := fn(); err != nil {
		s.t.Fatalf("%s: %v", name, err)
	}
}

// run lets the workload run for d under the current fault.
func (s scenario) run(d time.Duration) { time.Sleep(d) }

// settleFor is how long every node must see every member alive before the
// next step: longer than memberlist's suspicion timeout (about 4s), so
// that a suspicion raised during a fault cannot turn into a death after
// the next fault began.
const settleFor = 5 * time.Second

// ready waits until the cluster has healed and stayed healed for
// settleFor, the workload running all along on a healthy cluster.
func (s scenario) ready() {
	s.t.Helper()
	s.step("wait until every node sees every member alive", func() error {
		ctx, cancel := context.WithTimeout(s.ctx, 90*time.Second)
		defer cancel()
		return s.lab.WaitReady(ctx, settleFor)
	})
}

// startWorkload runs w in the background, writing its history to path;
// the returned function stops it and waits for the history to be
// complete. The cleanup stops it too when the test ends early.
func startWorkload(t *testing.T, path string, w faultlab.Workload) func() error {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, f) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		err := <-done
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// checkRun reads every key with r=all, once every node sees every member
// alive (the scenario's last step let the cluster settle), and checks the
// history against it.
func checkRun(ctx context.Context, t *testing.T, lab *faultlab.Lab, historyPath, bucket string) faultlab.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := lab.WaitReady(ctx, 0); err != nil {
		t.Fatalf("settling: %v", err)
	}
	f, err := os.Open(historyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	history, err := faultlab.ReadHistory(f)
	if err != nil {
		t.Fatal(err)
	}
	final, err := faultlab.FinalRead(ctx, lab.URLs(), bucket, faultlab.Keys(history))
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	return faultlab.Check(history, final)
}

// requireProgress fails a run that did too little to prove anything:
// the faults must not have stopped the workload, and every w must have
// been acknowledged many times.
func requireProgress(t *testing.T, res faultlab.Result) {
	t.Helper()
	if res.Puts.OK < 200 {
		t.Errorf("only %d puts acknowledged; the run proves little", res.Puts.OK)
	}
	for w := 1; w <= 3; w++ {
		if res.PutsByW[w].OK < 20 {
			t.Errorf("only %d puts with w=%d acknowledged", res.PutsByW[w].OK, w)
		}
	}
	if res.Gets.OK < 50 {
		t.Errorf("only %d gets answered", res.Gets.OK)
	}
}
