// Package identity keeps a node's actor id and dot counter in its storage
// engine, so that no (actor, counter) pair is ever issued twice.
//
// Version vectors name each write by a dot: the actor that coordinated it
// and a counter. A node that issues a dot twice makes its new write look
// already seen to every replica holding the old one, which then drops it
// (Riak's KV679 bugs). Two rules prevent that:
//
//   - The actor id is a random nonzero 64-bit number created with the data
//     directory. A node whose data directory is new or lost gets a new actor
//     id, so it cannot repeat dots it no longer remembers.
//   - Counters are leased durably in blocks. Before Next hands out the first
//     counter of a block, a synced Apply records the block's end; after a
//     crash, counting resumes above the last recorded end, which is above
//     every counter handed out.
//   - A node that did not shut down cleanly also gets a new actor id. A crash
//     can lose the node's unsynced writes (dw=0) while other replicas keep
//     them; if the node then wrote the key again under its old actor, its
//     version vector would claim those lost dots as seen, and the replicas
//     would drop them on merge. Open marks the identity as running (synced)
//     and Close marks it clean, so Open can tell.
//
// The block size trades fsyncs against skipped counters: one synced write
// per block, and a crash or restart skips the unused rest of the block.
// Counters are 64-bit, so skipping is free in practice.
package identity

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/tutti-kv/tutti/internal/storage"
)

// DefaultBlock is the lease block size Open uses when given zero: one fsync
// per 10000 writes coordinated by the node.
const DefaultBlock = 10000

// recordName names the identity record in the engine's metadata range.
const recordName = "identity"

// Record layout: version byte, actor (uint64 BE), lease end (uint64 BE): the
// highest counter that may have been handed out, then a state byte: running
// or cleanly closed.
const (
	recordVersion = 2
	recordLen     = 1 + 8 + 8 + 1
)

// States of the record's last byte.
const (
	stateRunning = 0
	stateClean   = 1
)

// maxActorDraws bounds how often Open redraws a zero actor id, so that a
// broken random source fails instead of looping.
const maxActorDraws = 64

// Identity is a node's actor id and counter lease. It is safe for concurrent
// use.
type Identity struct {
	engine storage.Engine
	actor  uint64
	block  uint64

	mu sync.Mutex
	// last is the last counter handed out or skipped; counters up to
	// leaseEnd are covered by a durable lease.
	last     uint64
	leaseEnd uint64
	closed   bool
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("identity: closed")

// Open reads the node's identity from e, or creates one if e holds none (a
// new or lost data directory): a fresh random nonzero 64-bit actor id from
// rnd, written with a synced Apply before Open returns. When the previous
// run did not Close (a crash), the node also takes a fresh actor id. Either
// way the record is marked running, synced, before Open returns. block is the lease
// block size; zero means DefaultBlock. A node passes math/rand/v2's Uint64,
// whose runtime seeding makes two nodes' draws independent; the simulator
// passes a seeded source.
func Open(e storage.Engine, rnd func() uint64, block uint64) (*Identity, error) {
	if block == 0 {
		block = DefaultBlock
	}
	raw, err := e.Get(storage.MetaKey(recordName))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return create(e, rnd, block)
	case err != nil:
		return nil, fmt.Errorf("identity: read: %w", err)
	}
	actor, leaseEnd, clean, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if !clean {
		// The last run crashed: what it wrote unsynced may be gone, so its
		// actor's history on this node can no longer be trusted.
		if actor, err = drawActor(rnd); err != nil {
			return nil, err
		}
	}
	id := &Identity{engine: e, actor: actor, block: block, last: leaseEnd, leaseEnd: leaseEnd}
	if err := id.store(leaseEnd, stateRunning); err != nil {
		return nil, err
	}
	return id, nil
}

func create(e storage.Engine, rnd func() uint64, block uint64) (*Identity, error) {
	actor, err := drawActor(rnd)
	if err != nil {
		return nil, err
	}
	id := &Identity{engine: e, actor: actor, block: block}
	if err := id.store(0, stateRunning); err != nil {
		return nil, err
	}
	return id, nil
}

func drawActor(rnd func() uint64) (uint64, error) {
	for range maxActorDraws {
		if actor := rnd(); actor != 0 {
			return actor, nil
		}
	}
	return 0, errors.New("identity: random source returns only zero")
}

// Close marks the identity cleanly closed (a synced write), so that the next
// Open keeps the actor id. Call it after the node stopped writing and
// before closing the engine; Next fails afterwards.
func (id *Identity) Close() error {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.closed {
		return nil
	}
	id.closed = true
	return id.store(id.leaseEnd, stateClean)
}

// Actor returns the node's actor id, never zero.
func (id *Identity) Actor() uint64 { return id.actor }

// Next returns the next dot counter for this actor; the first is 1. Counters
// are never reused across restarts or crashes: before handing out counters
// from a new block it durably records the block's end (synced Apply), so
// after a crash counting resumes above anything handed out. Only that call
// waits for storage; the others take a mutex and increment.
func (id *Identity) Next() (uint64, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if id.closed {
		return 0, ErrClosed
	}
	if id.last == id.leaseEnd {
		if id.leaseEnd == math.MaxUint64 {
			return 0, errors.New("identity: counters exhausted")
		}
		end := id.leaseEnd + min(id.block, math.MaxUint64-id.leaseEnd)
		if err := id.store(end, stateRunning); err != nil {
			return 0, err
		}
		id.leaseEnd = end
	}
	id.last++
	return id.last, nil
}

// store durably writes the identity record with the given lease end and
// state.
func (id *Identity) store(leaseEnd uint64, state byte) error {
	record := make([]byte, 0, recordLen)
	record = append(record, recordVersion)
	record = binary.BigEndian.AppendUint64(record, id.actor)
	record = binary.BigEndian.AppendUint64(record, leaseEnd)
	record = append(record, state)
	b := &storage.Batch{}
	b.Set(storage.MetaKey(recordName), record)
	if err := id.engine.Apply(b, true); err != nil {
		return fmt.Errorf("identity: write lease: %w", err)
	}
	return nil
}

func decode(raw []byte) (actor, leaseEnd uint64, clean bool, err error) {
	if len(raw) != recordLen || raw[0] != recordVersion || raw[17] > stateClean {
		return 0, 0, false, fmt.Errorf("identity: corrupt record %x", raw)
	}
	actor = binary.BigEndian.Uint64(raw[1:9])
	leaseEnd = binary.BigEndian.Uint64(raw[9:17])
	if actor == 0 {
		return 0, 0, false, errors.New("identity: corrupt record: zero actor")
	}
	return actor, leaseEnd, raw[17] == stateClean, nil
}
