package aae

// Forest holds the trees of every partition of a replica that runs on one
// goroutine (the simulator, tests): it implements replica.Trees and the
// Tree method of Local. A partition's tree is ready once built (Build)
// and follows every write after that.
type Forest struct {
	trees []Tree
	ready []bool
}

// NewForest returns the unbuilt trees of q partitions.
func NewForest(q int) *Forest {
	return &Forest{trees: make([]Tree, q), ready: make([]bool, q)}
}

// Write runs store and then adds delta to the segment's leaf.
func (f *Forest) Write(partition, segment int, delta uint64, store func() error) error {
	if err := store(); err != nil {
		return err
	}
	f.trees[partition].Xor(segment, delta)
	return nil
}

// Tree returns a copy of partition p's tree and whether it is built.
func (f *Forest) Tree(p int) (Tree, bool) { return f.trees[p], f.ready[p] }

// Build makes partition p's tree from storage: hash calls add with the
// segment and ItemHash of every stored object of the partition (as
// replica.Store.HashPartition does).
func (f *Forest) Build(p int, hash func(add func(segment int, h uint64)) error) error {
	f.trees[p], f.ready[p] = Tree{}, false
	if err := hash(f.trees[p].Xor); err != nil {
		return err
	}
	f.ready[p] = true
	return nil
}

// Snapshot encodes the built trees, as EncodeSnapshot does.
func (f *Forest) Snapshot() []byte {
	built := map[int]*Tree{}
	for p := range f.trees {
		if f.ready[p] {
			built[p] = &f.trees[p]
		}
	}
	return EncodeSnapshot(len(f.trees), built)
}

// Restore takes up the trees of a Snapshot as built, and returns how many.
func (f *Forest) Restore(b []byte) (int, error) {
	saved, err := DecodeSnapshot(b, len(f.trees))
	if err != nil {
		return 0, err
	}
	for p, t := range saved {
		f.trees[p], f.ready[p] = *t, true
	}
	return len(saved), nil
}
