package pebblestore

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/tutti-kv/tutti/internal/storage"
	"github.com/tutti-kv/tutti/internal/storage/storagetest"
)

// discardLogger keeps Pebble's informational messages out of test output.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Engine {
		s, err := Open("db", Options{FS: vfs.NewMem(), Logger: discardLogger(), CacheSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestConformanceOnDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("disk-backed conformance run skipped in -short mode")
	}
	storagetest.Run(t, func(t *testing.T) storage.Engine {
		s, err := Open(t.TempDir(), Options{Logger: discardLogger(), CacheSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func write(t *testing.T, s *Store, sync bool, kvs ...string) {
	t.Helper()
	b := &storage.Batch{}
	for i := 0; i < len(kvs); i += 2 {
		b.Set([]byte(kvs[i]), []byte(kvs[i+1]))
	}
	if err := s.Apply(b, sync); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func keys(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	if err := s.Scan(nil, nil, func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return true
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

// crash simulates power loss: it reopens the store on a copy of fs holding
// exactly what was fsynced, then closes the original.
func crash(t *testing.T, fs *vfs.MemFS, s *Store) (*vfs.MemFS, *Store) {
	t.Helper()
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open("db", Options{FS: crashed, Logger: discardLogger()})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	t.Cleanup(func() { reopened.Close() })
	return crashed, reopened
}

func TestCrashKeepsExactlySyncedPrefix(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s, err := Open("db", Options{FS: fs, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, false, "a", "1")
	write(t, s, true, "b", "2") // makes a durable too
	write(t, s, false, "c", "3")
	fs, s = crash(t, fs, s)
	if got, want := keys(t, s), []string{"a=1", "b=2"}; !slices.Equal(got, want) {
		t.Fatalf("after crash: %q, want %q", got, want)
	}

	write(t, s, false, "d", "4")
	if err := s.Apply(&storage.Batch{}, true); err != nil { // a barrier
		t.Fatal(err)
	}
	write(t, s, false, "e", "5")
	_, s = crash(t, fs, s)
	if got, want := keys(t, s), []string{"a=1", "b=2", "d=4"}; !slices.Equal(got, want) {
		t.Fatalf("after second crash: %q, want %q", got, want)
	}
}

func TestCloseIsDurable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, false, "a", "1")
	write(t, s, true, "b", "2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.Metrics() != "" {
		t.Fatal("Metrics after Close is not empty")
	}
	s, err = Open(dir, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, want := keys(t, s), []string{"a=1", "b=2"}; !slices.Equal(got, want) {
		t.Fatalf("after reopen: %q, want %q", got, want)
	}
}

func TestFlushAndMetrics(t *testing.T) {
	s, err := Open("db", Options{FS: vfs.NewMem(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, s, false, "a", "1")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get([]byte("a")); err != nil || string(got) != "1" {
		t.Fatalf("Get from a flushed table = %q, %v", got, err)
	}
	if m := s.Metrics(); !strings.Contains(m, "Flushes: 1") {
		t.Fatalf("Metrics does not count the flush:\n%s", m)
	}
}

func TestOpenLockedDirFails(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	second, err := Open(dir, Options{Logger: discardLogger()})
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a store in use succeeded")
	}
	if !strings.HasPrefix(err.Error(), "pebblestore: ") {
		t.Fatalf("error %q does not name the package", err)
	}
}

func TestDefaults(t *testing.T) {
	o := pebbleOptions(Options{})
	if o.CacheSize != DefaultCacheSize || o.MemTableSize != DefaultMemTableSize {
		t.Errorf("defaults: cache %d, memtable %d", o.CacheSize, o.MemTableSize)
	}
	for i, level := range o.Levels {
		if level.FilterPolicy == nil || level.FilterPolicy.Name() == "" {
			t.Errorf("level %d has no bloom filter", i)
		}
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Errorf("default options invalid: %v", err)
	}
}

// TestFailedLogWriteRefusesLaterWrites: when the log cannot be written (a
// full disk), the write fails with ErrFailed instead of panicking out of
// Apply, later writes fail at once instead of hanging in Pebble, and reads
// of what was stored go on.
func TestFailedLogWriteRefusesLaterWrites(t *testing.T) {
	full := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return syscall.ENOSPC
		}
		return nil
	})}
	s, err := Open("db", Options{FS: errorfs.Wrap(vfs.NewMem(), full), Logger: discardLogger(), CacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var b storage.Batch
	b.Set([]byte("kept"), []byte("v"))
	if err := s.Apply(&b, true); err != nil {
		t.Fatal(err)
	}
	full.On()
	for i := range 3 {
		var b storage.Batch
		b.Set([]byte("lost"), []byte("v"))
		done := make(chan error, 1)
		go func() { done <- s.Apply(&b, i%2 == 0) }()
		select {
		case err := <-done:
			if !errors.Is(err, storage.ErrFailed) {
				t.Fatalf("write %d on a full disk: %v, want ErrFailed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("write %d on a full disk hangs", i)
		}
	}
	if s.Failed() == nil {
		t.Fatal("Failed() is nil after a failed log write")
	}
	if got, err := s.Get([]byte("kept")); err != nil || string(got) != "v" {
		t.Fatalf("read after the failure: %q, %v", got, err)
	}
}
