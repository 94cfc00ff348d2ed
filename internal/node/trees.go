package node

import (
	"sync"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/replica"
)

// trees are the node's live Merkle trees, one per partition (package aae).
// They live in memory: Start rebuilds them from storage in the background
// while the node serves, and every object write updates its tree.
//
// A rebuild must neither miss nor double-count a write that lands while it
// scans. Writers hold their partition's build lock shared from the storage
// write until its delta is in the tree; a rebuild takes it exclusively only
// until its storage snapshot is open. So every write is either in the
// snapshot and finished with the tree before the reset, or after the
// snapshot and XORed in after the reset; XOR commutes, so the scan's
// hashes and those later deltas add up in any order.
type trees struct {
	parts []liveTree
}

type liveTree struct {
	build sync.RWMutex
	mu    sync.Mutex // guards tree and ready
	tree  aae.Tree
	ready bool
}

func newTrees(q int) *trees { return &trees{parts: make([]liveTree, q)} }

// Write implements replica.Trees.
func (t *trees) Write(p, segment int, delta uint64, store func() error) error {
	lt := &t.parts[p]
	lt.build.RLock()
	defer lt.build.RUnlock()
	if err := store(); err != nil {
		return err
	}
	if delta != 0 {
		lt.mu.Lock()
		lt.tree.Xor(segment, delta)
		lt.mu.Unlock()
	}
	return nil
}

// Tree returns a snapshot of partition p's tree and whether it is built.
func (t *trees) Tree(p int) (aae.Tree, bool) {
	lt := &t.parts[p]
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.tree, lt.ready
}

// root returns partition p's root and whether its tree is built.
func (t *trees) root(p int) (uint64, bool) {
	lt := &t.parts[p]
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.tree.Root(), lt.ready
}

// rebuild makes partition p's tree anew from the store, while writes go on.
func (t *trees) rebuild(p int, s *replica.Store) error {
	lt := &t.parts[p]
	lt.build.Lock()
	lt.mu.Lock()
	lt.tree, lt.ready = aae.Tree{}, false
	lt.mu.Unlock()
	var scanned aae.Tree
	err := s.HashPartition(p, lt.build.Unlock, scanned.Xor)
	if err != nil {
		return err
	}
	lt.mu.Lock()
	for seg := range aae.Segments {
		lt.tree.Xor(seg, scanned.Leaf(seg))
	}
	lt.ready = true
	lt.mu.Unlock()
	return nil
}

// built counts the partitions whose tree is built.
func (t *trees) built() int {
	n := 0
	for p := range t.parts {
		if _, ok := t.root(p); ok {
			n++
		}
	}
	return n
}
