// Package storage defines the storage engine Tutti's replicas run on and the
// order of keys inside it.
//
// An Engine is an ordered byte-string store, safe for concurrent use. Tutti
// keeps one Engine per node. Object keys are laid out as
//
//	0x01 | partition (uint16 BE) | segment (uint16 BE) | uvarint(len bucket) | bucket | key
//
// so that one partition, and one Merkle segment inside it, is one contiguous
// range. Keys starting with 0x00 hold node metadata (identity, counter lease).
// ObjectKey, ParseObjectKey and the bounds functions build and parse these
// keys; they are pure (no I/O, clock or goroutines).
//
// Memory is the in-memory Engine for tests and the deterministic simulator:
// it models a write-ahead log, so a crash loses exactly the batches applied
// since the last synced Apply. The Pebble adapter lives in package
// pebblestore; package storagetest holds the conformance suite both pass.
package storage

import "errors"

// ErrNotFound is returned by Get when the key is absent.
var ErrNotFound = errors.New("storage: not found")

// ErrClosed is returned (possibly wrapped) by an Engine's methods after Close.
var ErrClosed = errors.New("storage: closed")

// ErrFailed is wrapped by Apply once the engine met a write error it cannot
// recover from (a full disk, a failing device): it takes no more writes
// until it is reopened, so that none is acknowledged unstored; reads go on.
var ErrFailed = errors.New("storage: failed")

// Engine is an ordered key-value store.
//
// Get returns a copy of the value that the caller owns. Apply writes a batch
// atomically; with sync set it returns only once the batch is durable (for
// Pebble: the WAL fsync, shared with concurrent writers by group commit).
// Scan calls fn for each key in [lower, upper) in order until fn returns
// false; key and value are valid only during the call.
//
// Further guarantees every implementation keeps (package storagetest checks
// all but durability, which each engine's crash tests check): Apply copies what it needs, so the caller may reuse the batch's
// buffers once it returns; later ops in a batch win over earlier ones on the
// same key; a synced Apply also makes every earlier batch durable, so an
// empty batch applied with sync is a durability barrier. Scan reads one
// consistent snapshot taken when it starts (a batch is seen whole or not at
// all), a nil lower or upper leaves that side unbounded, and fn may call the
// Engine. Close is idempotent; other methods return ErrClosed after it and
// must not run concurrently with it.
type Engine interface {
	Get(key []byte) ([]byte, error)
	Apply(b *Batch, sync bool) error
	Scan(lower, upper []byte, fn func(key, value []byte) bool) error
	Close() error
}

// Batch is a group of writes applied atomically by Engine.Apply.
type Batch struct {
	Ops []Op
}

// Op is one write in a Batch: a set, or a delete when Delete is true.
type Op struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Set adds a set of key to value.
func (b *Batch) Set(key, value []byte) { b.Ops = append(b.Ops, Op{Key: key, Value: value}) }

// Del adds a deletion of key.
func (b *Batch) Del(key []byte) { b.Ops = append(b.Ops, Op{Key: key, Delete: true}) }
