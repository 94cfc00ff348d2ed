// Package pebblestore is the storage.Engine Tutti nodes run on: an adapter
// over Pebble, a log-structured merge tree.
//
// A synced Apply commits through Pebble's write-ahead log with Sync set and
// returns once the log is fsynced; Pebble's commit pipeline lets concurrent
// synced writers share one fsync (group commit), which keeps dw=1 writes
// cheap under load. An unsynced Apply is written to the log without waiting
// for an fsync: a crash may lose it, but any later synced Apply makes it
// durable too, as the log is written in order. Get copies the value out; Scan walks a bounded iterator, which reads
// one consistent snapshot.
//
// The defaults in Options are tuned for Tutti's load: many small writes, each
// preceded by a read of the same key.
package pebblestore

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tutti-kv/tutti/internal/storage"
)

// Defaults for the zero Options fields.
const (
	DefaultCacheSize    = 64 << 20
	DefaultMemTableSize = 32 << 20
)

// Options configure Open. The zero value is a usable configuration.
type Options struct {
	// CacheSize is the block cache size in bytes; zero means
	// DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes; zero means
	// DefaultMemTableSize. Up to four may be in memory while flushes catch
	// up.
	MemTableSize uint64
	// FS is the file system the store lives on; nil means the operating
	// system's. Tests pass vfs.NewMem, or vfs.NewCrashableMem to simulate
	// power loss.
	FS vfs.FS
	// Logger receives Pebble's messages; nil means slog.Default().
	Logger *slog.Logger
}

// Store is a storage.Engine backed by a Pebble database. It is safe for
// concurrent use.
type Store struct {
	db     *pebble.DB
	closed atomic.Bool
	// failed holds the error that made Pebble give up on writes.
	failed atomic.Pointer[error]
}

var _ storage.Engine = (*Store)(nil)

// Open opens the store in dir, creating it if needed.
func Open(dir string, opts Options) (*Store, error) {
	db, err := pebble.Open(dir, pebbleOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

func pebbleOptions(opts Options) *pebble.Options {
	cacheSize := opts.CacheSize
	if cacheSize <= 0 {
		cacheSize = DefaultCacheSize
	}
	memTableSize := opts.MemTableSize
	if memTableSize == 0 {
		memTableSize = DefaultMemTableSize
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	o := &pebble.Options{
		FS:        opts.FS,
		CacheSize: cacheSize,
		// New stores use the newest on-disk format Pebble knows.
		FormatMajorVersion: pebble.FormatNewest,
		// Pebble's 4 MiB memtable flushes small writes into many small L0
		// files; a larger one absorbs more overwrites in memory and hands
		// compaction fewer, larger files, which lowers write amplification.
		// Memtables start small and grow, so an idle store stays small.
		MemTableSize: memTableSize,
		// Let flushes fall behind by a few memtables before writes stall:
		// a stalled replica slows every write it is a target of.
		MemTableStopWritesThreshold: 4,
		// Size LBase like what L0 holds when its compaction triggers (four
		// memtables), so each L0 compaction does not rewrite a much larger
		// level.
		L0CompactionThreshold: 4,
		LBaseMaxBytes:         int64(4 * memTableSize),
		// Accept more L0 read amplification before stopping writes, for the
		// same reason as above; compactions get extra concurrency long
		// before this point.
		L0StopWritesThreshold: 20,
		// Compactions beyond the first take at most half the cores, which
		// the protocol and the network need too.
		CompactionConcurrencyRange: func() (int, int) {
			return 1, max(1, runtime.GOMAXPROCS(0)/2)
		},
		Logger: slogLogger{logger.With("component", "pebble")},
	}
	// Every write reads its key first (the version vector update), and new
	// keys are common; 10-bit bloom filters (about 1% false positives) let
	// such a read skip the tables that do not hold the key.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

// Get returns a copy of the value of key, or storage.ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	value, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pebblestore: get: %w", err)
	}
	out := make([]byte, len(value))
	copy(out, value)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("pebblestore: get: %w", err)
	}
	return out, nil
}

// Apply commits b atomically. With sync set it returns once b and every
// earlier batch are fsynced to the write-ahead log.
func (s *Store) Apply(b *storage.Batch, sync bool) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	writeOpts := pebble.NoSync
	if sync {
		writeOpts = pebble.Sync
	}
	if failed := s.failed.Load(); failed != nil {
		return fmt.Errorf("pebblestore: apply: %w: %w", storage.ErrFailed, *failed)
	}
	if len(b.Ops) == 0 {
		if !sync {
			return nil
		}
		// Pebble skips empty batches entirely; a log-only record still goes
		// through the log and its fsync, so an empty synced batch remains a
		// durability barrier.
		return s.commit(func() error { return s.db.LogData(nil, pebble.Sync) })
	}
	pb := s.db.NewBatchWithSize(batchSize(b))
	defer pb.Close()
	for _, op := range b.Ops {
		var err error
		if op.Delete {
			err = pb.Delete(op.Key, nil)
		} else {
			err = pb.Set(op.Key, op.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("pebblestore: apply: %w", err)
		}
	}
	return s.commit(func() error { return pb.Commit(writeOpts) })
}

// commit runs a write through Pebble's log. Pebble reports a failed log
// write or sync (ENOSPC, EIO) as fatal, through Logger.Fatalf, which panics
// with a fatal value: the store then refuses every later write at once
// instead of entering a commit pipeline left half-done, and the node keeps
// serving reads.
func (s *Store) commit(write func() error) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		f, ok := r.(fatal)
		if !ok {
			panic(r)
		}
		cause := errors.New(string(f))
		s.failed.CompareAndSwap(nil, &cause)
		err = fmt.Errorf("pebblestore: apply: %w: %w", storage.ErrFailed, cause)
	}()
	if err := write(); err != nil {
		return fmt.Errorf("pebblestore: apply: %w", err)
	}
	return nil
}

// Failed returns the error that made the store refuse writes, or nil.
func (s *Store) Failed() error {
	if f := s.failed.Load(); f != nil {
		return *f
	}
	return nil
}

// batchSize estimates the encoded size of b so that building it does not
// grow the buffer: a 12-byte header, then per op a kind byte, two uvarint
// lengths and the bytes.
func batchSize(b *storage.Batch) int {
	size := 12
	for _, op := range b.Ops {
		size += 1 + 2*5 + len(op.Key) + len(op.Value)
	}
	return size
}

// Scan calls fn for each key in [lower, upper) of a snapshot taken when Scan
// starts. key and value are valid only during the call.
func (s *Store) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if upper != nil && bytes.Compare(lower, upper) >= 0 {
		return nil
	}
	if len(lower) == 0 {
		// The empty key is the smallest anyway, and Pebble's invariant
		// checks (on in race builds) cannot seek to it.
		lower = nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("pebblestore: scan: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		value, err := it.ValueAndErr()
		if err != nil {
			return errors.Join(fmt.Errorf("pebblestore: scan: %w", err), it.Close())
		}
		if !fn(it.Key(), value) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebblestore: scan: %w", err)
	}
	return nil
}

// Flush writes the memtables to sstables. Durability does not need it (the
// log provides that); tests and benchmarks use it to read from tables.
func (s *Store) Flush() error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("pebblestore: flush: %w", err)
	}
	return nil
}

// Metrics describes the LSM (levels, compactions, cache, log) in Pebble's
// human-readable table, or returns "" once the store is closed.
func (s *Store) Metrics() string {
	if s.closed.Load() {
		return ""
	}
	return s.db.Metrics().String()
}

// Close syncs the log and closes the database. It is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("pebblestore: close: %w", err)
	}
	return nil
}

// slogLogger passes Pebble's messages to a slog.Logger.
type slogLogger struct{ logger *slog.Logger }

func (l slogLogger) Infof(format string, args ...any) {
	l.logger.Info(fmt.Sprintf(format, args...))
}

func (l slogLogger) Errorf(format string, args ...any) {
	l.logger.Error(fmt.Sprintf(format, args...))
}

// fatal is the panic value of Fatalf, which Store.commit recovers.
type fatal string

// Fatalf reports what Pebble found unrecoverable (a failed log write,
// corruption) and panics: continuing could acknowledge writes that are not
// stored. A write's panic becomes storage.ErrFailed (Store.commit); one in
// Pebble's background work ends the process.
func (l slogLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.logger.Error(msg, "fatal", true)
	panic(fatal("pebblestore: " + msg))
}
