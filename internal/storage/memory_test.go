package storage_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/tutti-kv/tutti/internal/storage"
	"github.com/tutti-kv/tutti/internal/storage/storagetest"
)

func TestMemoryConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Engine { return storage.NewMemory() })
}

func write(t *testing.T, m *storage.Memory, sync bool, kvs ...string) {
	t.Helper()
	b := &storage.Batch{}
	for i := 0; i < len(kvs); i += 2 {
		if kvs[i+1] == "" {
			b.Del([]byte(kvs[i]))
		} else {
			b.Set([]byte(kvs[i]), []byte(kvs[i+1]))
		}
	}
	if err := m.Apply(b, sync); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// contents returns m's keys and values as "key=value" strings in order.
func contents(t *testing.T, m *storage.Memory) []string {
	t.Helper()
	var out []string
	if err := m.Scan(nil, nil, func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return true
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func wantContents(t *testing.T, m *storage.Memory, want ...string) {
	t.Helper()
	if got := contents(t, m); !slices.Equal(got, want) {
		t.Fatalf("contents = %q, want %q", got, want)
	}
}

func TestMemoryCrashLosesUnsynced(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, false, "a", "1")
	write(t, m, false, "b", "2")
	if n := m.Unsynced(); n != 2 {
		t.Fatalf("Unsynced() = %d, want 2", n)
	}
	m.Crash()
	wantContents(t, m)
}

func TestMemoryCrashKeepsSynced(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, true, "a", "1", "b", "2")
	write(t, m, false, "a", "changed", "b", "", "c", "3")
	wantContents(t, m, "a=changed", "c=3")
	m.Crash()
	wantContents(t, m, "a=1", "b=2")
}

func TestMemorySyncMakesEarlierBatchesDurable(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, false, "a", "1")
	write(t, m, false, "b", "2")
	write(t, m, true, "c", "3")
	if n := m.Unsynced(); n != 0 {
		t.Fatalf("Unsynced() after a synced Apply = %d, want 0", n)
	}
	write(t, m, false, "d", "4")
	m.Crash()
	wantContents(t, m, "a=1", "b=2", "c=3")
}

func TestMemoryEmptySyncedBatchIsABarrier(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, false, "a", "1")
	write(t, m, true)
	m.Crash()
	wantContents(t, m, "a=1")
}

func TestMemoryCrashKeepingAPrefix(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, true, "a", "0")
	write(t, m, false, "a", "1")
	write(t, m, false, "b", "2")
	write(t, m, false, "c", "3")
	m.CrashKeeping(2)
	wantContents(t, m, "a=1", "b=2")
	// Recovered batches are durable: a second crash keeps them.
	m.Crash()
	wantContents(t, m, "a=1", "b=2")
	write(t, m, false, "z", "9")
	m.CrashKeeping(5)
	wantContents(t, m, "a=1", "b=2", "z=9")
}

func TestMemoryWipeLosesEverything(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, true, "a", "1")
	write(t, m, false, "b", "2")
	m.Wipe()
	wantContents(t, m)
	m.Crash()
	wantContents(t, m)
}

func TestMemoryCloseIsCleanShutdown(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, false, "a", "1")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get([]byte("a")); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	m.Reopen()
	wantContents(t, m, "a=1")
	m.Crash()
	wantContents(t, m, "a=1")
	// A crash also reopens a closed engine: it models the next start.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	wantContents(t, m, "a=1")
}

func TestMemoryScanIsASnapshot(t *testing.T) {
	m := storage.NewMemory()
	write(t, m, false, "a", "1", "b", "2")
	var seen []string
	err := m.Scan(nil, nil, func(k, v []byte) bool {
		seen = append(seen, string(k)+"="+string(v))
		write(t, m, false, "b", "changed", "c", "3")
		m.Crash()
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a=1", "b=2"}; !slices.Equal(seen, want) {
		t.Fatalf("Scan saw %q, want the snapshot %q", seen, want)
	}
}

// TestMemoryMatchesWALModel drives Memory with random applies, crashes and
// wipes and compares it with a model that keeps the durable state and the
// unsynced batches separately.
func TestMemoryMatchesWALModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := storage.NewMemory()
		durable := map[string]string{}
		var unsynced []map[string]*string
		live := func() map[string]string {
			state := maps.Clone(durable)
			for _, batch := range unsynced {
				applyModel(state, batch)
			}
			return state
		}
		keyGen := rapid.SampledFrom([]string{"a", "b", "c", "d"})
		rt.Repeat(map[string]func(*rapid.T){
			"apply": func(rt *rapid.T) {
				b := &storage.Batch{}
				batch := map[string]*string{}
				for range rapid.IntRange(0, 3).Draw(rt, "ops") {
					k := keyGen.Draw(rt, "key")
					if rapid.Bool().Draw(rt, "delete") {
						b.Del([]byte(k))
						batch[k] = nil
					} else {
						v := rapid.StringN(1, 3, -1).Draw(rt, "value")
						b.Set([]byte(k), []byte(v))
						batch[k] = &v
					}
				}
				sync := rapid.Bool().Draw(rt, "sync")
				if err := m.Apply(b, sync); err != nil {
					rt.Fatalf("Apply: %v", err)
				}
				if len(batch) > 0 {
					unsynced = append(unsynced, batch)
				}
				if sync {
					durable, unsynced = live(), nil
				}
			},
			"crash": func(rt *rapid.T) {
				keep := rapid.IntRange(0, len(unsynced)).Draw(rt, "keep")
				m.CrashKeeping(keep)
				unsynced = unsynced[:keep]
				durable, unsynced = live(), nil
			},
			"wipe": func(rt *rapid.T) {
				m.Wipe()
				durable, unsynced = map[string]string{}, nil
			},
			"": func(rt *rapid.T) {
				want := live()
				var wantList []string
				for _, k := range slices.Sorted(maps.Keys(want)) {
					wantList = append(wantList, k+"="+want[k])
				}
				var got []string
				if err := m.Scan(nil, nil, func(k, v []byte) bool {
					got = append(got, string(k)+"="+string(v))
					return true
				}); err != nil {
					rt.Fatalf("Scan: %v", err)
				}
				if !slices.Equal(got, wantList) {
					rt.Fatalf("contents = %q, want %q", got, wantList)
				}
				if m.Unsynced() != len(unsynced) {
					rt.Fatalf("Unsynced() = %d, want %d", m.Unsynced(), len(unsynced))
				}
			},
		})
	})
}

func applyModel(state map[string]string, batch map[string]*string) {
	for k, v := range batch {
		if v == nil {
			delete(state, k)
		} else {
			state[k] = *v
		}
	}
}
