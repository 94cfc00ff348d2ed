package node

import (
	"maps"
	"sync"

	"github.com/tutti-kv/tutti/internal/kv"
)

// hintLedger counts the hints a node keeps per owner, to bound them and to
// report the backlog. It is rebuilt from storage at start; updates happen
// under the key's lock, around the storage change they describe.
type hintLedger struct {
	mu       sync.Mutex
	perOwner map[string]hintCount
}

type hintCount struct {
	Hints int
	Bytes int64
}

func newHintLedger() *hintLedger { return &hintLedger{perOwner: map[string]hintCount{}} }

// admit reports whether owner's hints may change from oldSize to newSize
// bytes (oldSize 0: a new hint) within the bounds, and if so records it.
func (l *hintLedger) admit(owner string, oldSize, newSize int, maxHints int, maxBytes int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perOwner[owner]
	next := hintCount{Hints: c.Hints, Bytes: c.Bytes - int64(oldSize) + int64(newSize)}
	if oldSize == 0 {
		next.Hints++
	}
	if next.Hints > maxHints || next.Bytes > maxBytes {
		return false
	}
	l.perOwner[owner] = next
	return true
}

// add records a hint of size bytes, without bounds (the rebuild at start).
func (l *hintLedger) add(owner string, size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perOwner[owner]
	l.perOwner[owner] = hintCount{Hints: c.Hints + 1, Bytes: c.Bytes + int64(size)}
}

// resize corrects a hint's recorded size from an estimate to its size.
func (l *hintLedger) resize(owner string, from, to int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perOwner[owner]
	c.Bytes += int64(to - from)
	l.perOwner[owner] = c
}

// remove records that a hint of size bytes was deleted.
func (l *hintLedger) remove(owner string, size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.perOwner[owner]
	c.Hints--
	c.Bytes -= int64(size)
	if c.Hints <= 0 {
		delete(l.perOwner, owner)
		return
	}
	l.perOwner[owner] = c
}

func (l *hintLedger) snapshot() map[string]hintCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.perOwner)
}

// errHintBound refuses a hint past its owner's bound.
func errHintBound(owner string) error {
	return kv.Errorf(kv.Unavailable, "hint bound for %s reached: the write is not kept here", owner)
}
