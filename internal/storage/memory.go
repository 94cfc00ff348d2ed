package storage

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// Memory is a deterministic in-memory Engine that models durability the way
// a write-ahead log does, for tests and the simulator.
//
// Batches are appended to the log in Apply order. An Apply with sync set is
// an fsync of that log: it makes its batch and every earlier one durable.
// Crash rolls the state back to the last durable point, losing every batch
// applied since the last synced Apply; CrashKeeping models a torn log tail
// that kept a prefix of them. Wipe models a lost data directory. Close, like
// a clean shutdown, makes everything durable.
//
// Memory is safe for concurrent use. It starts no goroutines and its results
// depend only on the sequence of calls.
type Memory struct {
	mu sync.Mutex
	// live is what reads see; durable is what survives a crash. Both are
	// copy-on-write clones, so taking a durable point or a scan snapshot is
	// O(1).
	live    *btree.BTreeG[entry]
	durable *btree.BTreeG[entry]
	// unsynced holds the batches applied since the last durable point,
	// oldest first, for CrashKeeping.
	unsynced [][]Op
	closed   bool
}

var _ Engine = (*Memory)(nil)

type entry struct {
	key, value []byte
}

func entryLess(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

// btreeDegree suits small entries: wide nodes keep the tree shallow and a
// copy-on-write path copy cheap.
const btreeDegree = 16

// NewMemory returns an empty, open Memory.
func NewMemory() *Memory {
	return &Memory{live: newTree(), durable: newTree()}
}

func newTree() *btree.BTreeG[entry] { return btree.NewG(btreeDegree, entryLess) }

// Get returns a copy of the value of key, or ErrNotFound.
func (m *Memory) Get(key []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	e, ok := m.live.Get(entry{key: key})
	if !ok {
		return nil, ErrNotFound
	}
	out := make([]byte, len(e.value))
	copy(out, e.value)
	return out, nil
}

// Apply applies b atomically. With sync set, b and every batch applied
// before it become durable.
func (m *Memory) Apply(b *Batch, sync bool) error {
	ops := copyOps(b.Ops)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	applyOps(m.live, ops)
	if sync {
		m.markDurable()
	} else if len(ops) > 0 {
		m.unsynced = append(m.unsynced, ops)
	}
	return nil
}

// Scan calls fn for each key in [lower, upper) of a snapshot taken when Scan
// starts. key and value are reused between calls.
func (m *Memory) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	snapshot := m.live.Clone()
	m.mu.Unlock()

	// Handing out scratch copies keeps callers from altering the tree and
	// makes a caller that keeps key or value past the call see it change,
	// as it would with Pebble.
	var keyBuf, valueBuf []byte
	visit := func(e entry) bool {
		if upper != nil && bytes.Compare(e.key, upper) >= 0 {
			return false
		}
		keyBuf = append(keyBuf[:0], e.key...)
		valueBuf = append(valueBuf[:0], e.value...)
		return fn(keyBuf, valueBuf)
	}
	snapshot.AscendGreaterOrEqual(entry{key: lower}, visit)
	return nil
}

// Close makes every applied batch durable, as a clean shutdown does, and
// closes m. It is idempotent. Reopen, Crash and Wipe open m again.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.markDurable()
		m.closed = true
	}
	return nil
}

// Reopen opens m again after Close, as a restart after a clean shutdown.
func (m *Memory) Reopen() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = false
}

// Crash models a power loss followed by a restart: every batch applied since
// the last synced Apply is lost. m is open afterwards, even if it was closed.
func (m *Memory) Crash() { m.CrashKeeping(0) }

// CrashKeeping is Crash where the log kept the oldest n of the unsynced
// batches (a torn tail); n is clamped to [0, Unsynced()]. The kept batches
// are durable afterwards, as recovery rewrites them.
func (m *Memory) CrashKeeping(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n = max(0, min(n, len(m.unsynced)))
	m.live = m.durable.Clone()
	for _, ops := range m.unsynced[:n] {
		applyOps(m.live, ops)
	}
	m.markDurable()
	m.closed = false
}

// Wipe models the loss of the data directory: everything is gone, durable or
// not. m is open and empty afterwards.
func (m *Memory) Wipe() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live, m.durable = newTree(), newTree()
	m.unsynced = nil
	m.closed = false
}

// Unsynced returns how many non-empty batches a Crash would lose now.
func (m *Memory) Unsynced() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.unsynced)
}

// markDurable makes the live state the durable point. m.mu must be held.
func (m *Memory) markDurable() {
	m.durable = m.live.Clone()
	m.unsynced = nil
}

func applyOps(t *btree.BTreeG[entry], ops []Op) {
	for _, op := range ops {
		if op.Delete {
			t.Delete(entry{key: op.Key})
		} else {
			t.ReplaceOrInsert(entry{key: op.Key, value: op.Value})
		}
	}
}

// copyOps copies ops and their bytes into one allocation, so the caller may
// reuse its buffers and the stored entries are never written again.
func copyOps(ops []Op) []Op {
	size := 0
	for _, op := range ops {
		size += len(op.Key) + len(op.Value)
	}
	arena := make([]byte, 0, size)
	out := make([]Op, len(ops))
	for i, op := range ops {
		start := len(arena)
		arena = append(arena, op.Key...)
		out[i].Key = arena[start:len(arena):len(arena)]
		out[i].Delete = op.Delete
		if !op.Delete {
			start = len(arena)
			arena = append(arena, op.Value...)
			out[i].Value = arena[start:len(arena):len(arena)]
		}
	}
	return out
}
