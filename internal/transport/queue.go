package transport

import "sync"

// batchQueue collects messages for one stream's sender. Producers never
// block; the sender takes everything already waiting (up to a byte bound)
// as one batch, so batches form only when messages arrive faster than the
// stream sends them and nothing ever waits for a batch to fill.
type batchQueue[T any] struct {
	mu    sync.Mutex
	items []T
	sizes []int
	// wake holds one token when items were pushed since the sender last
	// looked; a buffered channel lets the sender also select on shutdown.
	wake chan struct{}
}

func newBatchQueue[T any]() *batchQueue[T] {
	return &batchQueue[T]{wake: make(chan struct{}, 1)}
}

// push appends item, whose encoded size is size, and wakes the sender.
func (q *batchQueue[T]) push(item T, size int) {
	q.mu.Lock()
	q.items = append(q.items, item)
	q.sizes = append(q.sizes, size)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the longest prefix of waiting items whose sizes
// sum to at most maxBytes, and always at least one item when any wait, so
// that one large message travels alone rather than never. It returns nil
// when the queue is empty.
func (q *batchQueue[T]) take(maxBytes int) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, total := 0, 0
	for n < len(q.items) && (n == 0 || total+q.sizes[n] <= maxBytes) {
		total += q.sizes[n]
		n++
	}
	if n == 0 {
		return nil
	}
	if n == len(q.items) {
		batch := q.items
		q.items, q.sizes = nil, nil
		return batch
	}
	batch := make([]T, n)
	copy(batch, q.items)
	clear(q.items[:n]) // drop references held by the shared backing array
	q.items, q.sizes = q.items[n:], q.sizes[n:]
	return batch
}
