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
	if err := fs.Parse(args); err != nil {
		return 2
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
		opts := sim.Draw(seed)
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
				res, err := sim.Run(sim.Draw(seed))
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
	passed, ops, events := 0, 0, 0
	var failures []sim.Result
	for res := range results {
		ops += res.Ops
		events += res.Events
		if *verbose {
			fmt.Fprintln(stdout, res)
		}
		if res.OK() {
			passed++
			continue
		}
		failures = append(failures, res)
		fmt.Fprintf(stdout, "FAIL %s\n%s\nreplay: go run ./cmd/tutti-sim --seed %#x --trace\n", res, res.Report, res.Seed)
	}
	select {
	case err := <-failed:
		fmt.Fprintf(stderr, "tutti-sim: %v\n", err)
		return 1
	default:
	}
	elapsed := time.Since(began)
	if len(failures) > 0 {
		fmt.Fprintf(stdout, "%d of %d seeds failed (%d ops, %d events, %s)\n", len(failures), *seeds, ops, events, elapsed.Round(time.Millisecond))
		return 1
	}
	fmt.Fprintf(stdout, "%d seeds passed (%d ops, %d events, %s, %.0f seeds/min)\n", passed, ops, events, elapsed.Round(time.Millisecond), float64(passed)/elapsed.Minutes())
	return 0
}
