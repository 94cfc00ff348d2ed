package pebblestore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tutti-kv/tutti/internal/storage"
)

// The benchmarks run on a temporary directory on the real file system, so
// that synced applies pay a real fsync. They report ops/s.

func openBenchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), Options{Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchKey returns the object key of the i-th benchmark object, spread over
// 256 partitions as a node's writes are.
func benchKey(dst []byte, i uint64) []byte {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], i)
	return storage.AppendObjectKey(dst[:0], int(i%256), int(i/256%1024), []byte("bench"), key[:])
}

func benchValue() []byte { return bytes.Repeat([]byte("v"), 100) }

// BenchmarkApplySynced applies one 100-byte set per Apply with sync, from 1,
// 8 and 64 goroutines. Throughput growing with writers shows group commit:
// concurrent writers share fsyncs.
func BenchmarkApplySynced(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			benchmarkApply(b, writers, true)
		})
	}
}

// BenchmarkApplyUnsynced applies one 100-byte set per Apply without sync.
func BenchmarkApplyUnsynced(b *testing.B) {
	benchmarkApply(b, 1, false)
}

func benchmarkApply(b *testing.B, writers int, synced bool) {
	s := openBenchStore(b)
	value := benchValue()
	var issued atomic.Uint64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			var key []byte
			batch := &storage.Batch{Ops: make([]storage.Op, 1)}
			for {
				i := issued.Add(1)
				if i > uint64(b.N) {
					return
				}
				key = benchKey(key, i)
				batch.Ops[0] = storage.Op{Key: key, Value: value}
				if err := s.Apply(batch, synced); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGet reads random existing keys out of 100000 flushed to tables,
// through the block cache.
func BenchmarkGet(b *testing.B) {
	const objects = 100000
	s := openBenchStore(b)
	value := benchValue()
	var key []byte
	batch := &storage.Batch{}
	for i := range uint64(objects) {
		key = benchKey(nil, i)
		batch.Set(key, value)
		if len(batch.Ops) == 1000 {
			if err := s.Apply(batch, false); err != nil {
				b.Fatal(err)
			}
			batch.Ops = batch.Ops[:0]
		}
	}
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for b.Loop() {
		key = benchKey(key, rng.Uint64N(objects))
		if _, err := s.Get(key); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ops/s")
}
