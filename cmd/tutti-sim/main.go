// Command tutti-sim runs Tutti's deterministic simulator: whole clusters
// under faults, each run drawn from and replayable by a seed.
//
//	tutti-sim --seeds 300              # seeds 1..300, stop at the first failure
//	tutti-sim --seeds 10000 --parallel # the long swarm, on every core
//	tutti-sim --seed 0x5eed --trace    # replay one seed, printing its trace
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tutti-kv/tutti/internal/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tutti-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seedFlag := fs.String("seed", "", "run this one seed (decimal or 0x hex)")
	seeds := fs.Int("seeds", 0, "run this many seeds, starting at --start")
	start := fs.Uint64("start", 1, "first seed of --seeds")
	parallel := fs.Bool("parallel", false, "run seeds on every core")
	trace := fs.Bool("trace", false, "print the run's trace (with --seed)")
	verbose := fs.Bool("v", false, "print a line per seed")
	bugName := fs.String("bug", "", "plant a known bug in every node, to see the checkers catch it: "+bugNames())
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bug, ok := parseBug(*bugName)
	if !ok {
		fmt.Fprintf(stderr, "tutti-sim: unknown --bug %q (want one of %s)\n", *bugName, bugNames())
		return 2
	}
	draw := func(seed uint64) sim.Options {
		o := sim.Draw(seed)
		o.Bug = bug
		return o
	}
	replay := func(seed uint64) string {
		cmd := fmt.Sprintf("go run ./cmd/tutti-sim --seed %#x --trace", seed)
		if bug != sim.NoBug {
			cmd += " --bug " + bug.String()
		}
		return cmd
	}
	switch {
	case *seedFlag != "" && *seeds > 0:
		fmt.Fprintln(stderr, "tutti-sim: give --seed or --seeds, not both")
		return 2
	case *seedFlag != "":
		seed, err := strconv.ParseUint(*seedFlag, 0, 64)
		if err != nil {
			fmt.Fprintf(stderr, "tutti-sim: bad --seed %q: %v\n", *seedFlag, err)
			return 2
		}
		opts := draw(seed)
		if *trace {
			opts.Trace = stdout
		}
		res, err := sim.Run(opts)
		if err != nil {
			fmt.Fprintf(stderr, "tutti-sim: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, res)
		fmt.Fprintf(stdout, "trace hash %s\n%s\n", res.TraceHash, res.Report)
		if !res.OK() {
			fmt.Fprintf(stdout, "replay: %s\n", replay(seed))
			return 1
		}
		return 0
	case *seeds <= 0:
		fmt.Fprintln(stderr, "tutti-sim: give --seed S or --seeds N")
		return 2
	}
	workers := 1
	if *parallel {
		workers = runtime.GOMAXPROCS(0)
	}
	began := time.Now()
	results := make(chan sim.Result)
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	next := make(chan uint64)
	go func() {
		defer close(next)
		for i := range uint64(*seeds) {
			next <- *start + i
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range next {
				res, err := sim.Run(draw(seed))
				if err != nil {
					select {
					case failed <- fmt.Errorf("seed %#x: %w", seed, err):
					default:
					}
					continue
				}
				results <- res
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	passed, events, converged, keys := 0, 0, 0, 0
	var stats sim.Stats
	var failures []sim.Result
	for res := range results {
		events += res.Events
		stats = stats.Add(res.Stats)
		converged += res.Converged
		keys += res.Keys
		if *verbose {
			fmt.Fprintln(stdout, res)
		}
		if res.OK() {
			passed++
			continue
		}
		failures = append(failures, res)
		fmt.Fprintf(stdout, "FAIL %s\n%s\nreplay: %s\n", res, shorten(res.Report.String(), 20), replay(res.Seed))
	}
	select {
	case err := <-failed:
		fmt.Fprintf(stderr, "tutti-sim: %v\n", err)
		return 1
	default:
	}
	elapsed := time.Since(began)
	fmt.Fprintf(stdout, "mix: %s; %d events; %d of %d keys held to convergence\n", stats, events, converged, keys)
	if len(failures) > 0 {
		fmt.Fprintf(stdout, "%d of %d seeds failed (%s)\n", len(failures), *seeds, elapsed.Round(time.Millisecond))
		return 1
	}
	fmt.Fprintf(stdout, "%d seeds passed (%s, %.0f seeds/min)\n", passed, elapsed.Round(time.Millisecond), float64(passed)/elapsed.Minutes())
	return 0
}

func parseBug(name string) (sim.Bug, bool) {
	if name == "" {
		return sim.NoBug, true
	}
	for b := sim.NoBug; b <= sim.LastBug; b++ {
		if b.String() == name {
			return b, true
		}
	}
	return sim.NoBug, false
}

func bugNames() string {
	var names []string
	for b := sim.NoBug + 1; b <= sim.LastBug; b++ {
		names = append(names, b.String())
	}
	return strings.Join(names, ", ")
}

// shorten keeps the first n lines of a report.
func shorten(report string, n int) string {
	lines := strings.Split(report, "\n")
	if len(lines) <= n {
		return report
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n  ... and %d more", len(lines)-n)
}
