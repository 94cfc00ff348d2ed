package transport

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// BenchmarkTransport compares the call modes over loopback TCP with
// 100-byte ReplicaWrites at several numbers of concurrent callers. Besides
// ns/op (wall time per call, the inverse of throughput) it reports ops/s,
// the mean and the 99th percentile latency of one call.
func BenchmarkTransport(b *testing.B) {
	addr := startBenchServer(b, ServerConfig{})
	variants := []struct {
		name string
		cfg  Config
	}{
		{"unary", Config{Mode: ModeUnary}},
		{"stream1", Config{Mode: ModeStream, StreamsPerPeer: 1}},
		{"stream2", Config{Mode: ModeStream, StreamsPerPeer: 2}},
		{"stream4", Config{Mode: ModeStream, StreamsPerPeer: 4}},
	}
	// Variants compared with each other run next to each other, so that a
	// change in the machine's load hits them alike.
	for _, callers := range []int{1, 32, 256} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, v.name), func(b *testing.B) {
				runCalls(b, v.cfg, addr, callers)
			})
		}
	}
}

// BenchmarkServerDispatch compares how the listening side runs a stream's
// requests, for a replica that answers at once and one that takes a
// millisecond per write (as an fsync would).
func BenchmarkServerDispatch(b *testing.B) {
	variants := []struct {
		name string
		cfg  ServerConfig
	}{
		{"per-request", ServerConfig{dispatch: dispatchPerRequest}},
		{"fixed16", ServerConfig{dispatch: dispatchFixed, fixedWorkers: 16}},
		{"fixed128", ServerConfig{dispatch: dispatchFixed, fixedWorkers: 128}},
	}
	for _, writeDelay := range []time.Duration{0, time.Millisecond} {
		addrs := make([]string, len(variants))
		for i, v := range variants {
			addrs[i] = startBenchServerWith(b, v.cfg, benchReplica{writeDelay: writeDelay})
		}
		for _, callers := range []int{32, 256} {
			for i, v := range variants {
				b.Run(fmt.Sprintf("write=%v/callers=%d/%s", writeDelay, callers, v.name), func(b *testing.B) {
					runCalls(b, Config{}, addrs[i], callers)
				})
			}
		}
	}
}

// BenchmarkSmallCallsBesideLargeValues measures small writes while one
// more caller keeps reading 8 MiB values from the same peer. Responses on
// one stream travel in order, so a large one delays the small ones behind
// it; with more streams per peer, calls that pick the least loaded stream
// go around it, and calls that take turns do not (the "rr" variants).
func BenchmarkSmallCallsBesideLargeValues(b *testing.B) {
	addr := startBenchServer(b, ServerConfig{})
	for _, v := range []struct {
		name string
		cfg  Config
	}{
		{"unary", Config{Mode: ModeUnary}},
		{"stream1", Config{StreamsPerPeer: 1}},
		{"stream2", Config{StreamsPerPeer: 2}},
		{"stream4", Config{StreamsPerPeer: 4}},
		{"stream2rr", Config{StreamsPerPeer: 2, roundRobin: true}},
		{"stream4rr", Config{StreamsPerPeer: 4, roundRobin: true}},
	} {
		b.Run("callers=32/"+v.name, func(b *testing.B) {
			runCallsBeside(b, v.cfg, addr, 32, readRequest("large"))
		})
	}
}

func startBenchServer(b *testing.B, cfg ServerConfig) string {
	return startBenchServerWith(b, cfg, benchReplica{large: make([]byte, 8<<20)})
}

func startBenchServerWith(b *testing.B, cfg ServerConfig, h Handler) string {
	b.Helper()
	opts, err := TLSConfig{}.ServerOptions()
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	server := grpc.NewServer(opts...)
	RegisterWithConfig(server, h, cfg)
	go func() { _ = server.Serve(lis) }()
	b.Cleanup(server.Stop)
	return lis.Addr().String()
}

// benchReplica does no work unless told to, so that the figures are the
// transport's alone: it acknowledges writes, after writeDelay, and answers
// reads with large.
type benchReplica struct {
	large      []byte
	writeDelay time.Duration
}

func (r benchReplica) HandlePeer(_ context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse {
	if r.writeDelay > 0 {
		time.Sleep(r.writeDelay)
	}
	if req.GetRead() != nil {
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Read{Read: &tuttipb.ReplicaReadResult{Object: r.large}}}
	}
	return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Write{Write: &tuttipb.ReplicaWriteResult{}}}
}

// runCalls makes b.N calls from the given number of concurrent callers.
func runCalls(b *testing.B, cfg Config, addr string, callers int) {
	runCallsBeside(b, cfg, addr, callers, nil)
}

// runCallsBeside makes b.N small writes from the given number of concurrent
// callers while, if background is not nil, one more caller repeats it.
func runCallsBeside(b *testing.B, cfg Config, addr string, callers int, background *tuttipb.PeerRequest) {
	g, err := NewGRPC(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	req := writeRequest("benchmark-key", make([]byte, 100))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Connect (and open every stream) outside the measurement.
	for range max(cfg.StreamsPerPeer, 1) {
		if _, err := g.Call(ctx, addr, req); err != nil {
			b.Fatal(err)
		}
	}

	stopBackground := make(chan struct{})
	var backgroundDone sync.WaitGroup
	if background != nil {
		backgroundDone.Go(func() {
			for {
				select {
				case <-stopBackground:
					return
				default:
				}
				if _, err := g.Call(ctx, addr, background); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	defer backgroundDone.Wait()
	defer close(stopBackground)

	var next atomic.Int64
	latencies := make([][]time.Duration, callers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range callers {
		wg.Go(func() {
			own := make([]time.Duration, 0, b.N/callers+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := g.Call(ctx, addr, req); err != nil {
					b.Error(err)
					return
				}
				own = append(own, time.Since(t0))
			}
			latencies[c] = own
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(latencies...)
	slices.Sort(all)
	var sum time.Duration
	for _, l := range all {
		sum += l
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(sum.Microseconds())/float64(len(all)), "µs-mean")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "µs-p99")
}
