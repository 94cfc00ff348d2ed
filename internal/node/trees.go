package node

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tutti-kv/tutti/internal/aae"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/storage"
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
//
// A node that stops cleanly saves its built trees in storage (save), and
// the next start takes them up again (load) instead of scanning every
// object. The saved trees are deleted as they are loaded, before the node
// writes anything, so that a later crash cannot leave stale ones behind;
// save seals the trees first, so that no object write slips in between
// the snapshot and the storage's close.
type trees struct {
	parts []liveTree
}

type liveTree struct {
	build  sync.RWMutex
	sealed bool       // under build: save has taken the snapshot
	mu     sync.Mutex // guards tree and ready
	tree   aae.Tree
	ready  bool
}

// errSealed refuses an object write after the trees were saved: the node
// is stopping.
var errSealed = errors.New("node: stopping: merkle trees saved, no more object writes")

func newTrees(q int) *trees { return &trees{parts: make([]liveTree, q)} }

// Write implements replica.Trees.
func (t *trees) Write(p, segment int, delta uint64, store func() error) error {
	lt := &t.parts[p]
	lt.build.RLock()
	defer lt.build.RUnlock()
	if lt.sealed {
		return errSealed
	}
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

// save seals every tree against further writes and stores the built ones,
// synced. A write that was storing when save began has finished its tree
// update before its partition is sealed. The synced write also makes
// every earlier unsynced object write durable (the log is synced up to
// it), so the saved trees never count an object that a later power loss
// could take away.
func (t *trees) save(e storage.Engine) (int, error) {
	built := map[int]*aae.Tree{}
	for p := range t.parts {
		lt := &t.parts[p]
		lt.build.Lock()
		lt.sealed = true
		lt.build.Unlock()
		if tree, ok := t.Tree(p); ok {
			built[p] = &tree
		}
	}
	b := &storage.Batch{}
	b.Set(storage.MetaKey(aae.SnapshotName), aae.EncodeSnapshot(len(t.parts), built))
	if err := e.Apply(b, true); err != nil {
		return 0, fmt.Errorf("saving merkle trees: %w", err)
	}
	return len(built), nil
}

// load takes up the trees the last clean stop saved, if any, and deletes
// them (synced) before the node writes anything. It returns how many it
// loaded; saved trees that cannot be trusted are dropped and counted as
// none, with the reason.
func (t *trees) load(e storage.Engine) (int, error) {
	raw, err := e.Get(storage.MetaKey(aae.SnapshotName))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading saved merkle trees: %w", err)
	}
	b := &storage.Batch{}
	b.Del(storage.MetaKey(aae.SnapshotName))
	if err := e.Apply(b, true); err != nil {
		return 0, fmt.Errorf("deleting saved merkle trees: %w", err)
	}
	saved, err := aae.DecodeSnapshot(raw, len(t.parts))
	if err != nil {
		return 0, err
	}
	for p, tree := range saved {
		lt := &t.parts[p]
		lt.mu.Lock()
		lt.tree, lt.ready = *tree, true
		lt.mu.Unlock()
	}
	return len(saved), nil
}
