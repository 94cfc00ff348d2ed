package transport

import (
	"slices"
	"testing"
)

func TestBatchQueueTakesWaitingItemsWithinBound(t *testing.T) {
	q := newBatchQueue[int]()
	if got := q.take(100); got != nil {
		t.Fatalf("empty queue gave %v", got)
	}
	for i, size := range []int{40, 40, 40, 500, 10} {
		q.push(i, size)
	}
	select {
	case <-q.wake:
	default:
		t.Fatal("push did not wake the sender")
	}
	for _, want := range [][]int{{0, 1}, {2}, {3}, {4}} {
		if got := q.take(100); !slices.Equal(got, want) {
			t.Fatalf("take = %v, want %v", got, want)
		}
	}
	if got := q.take(100); got != nil {
		t.Fatalf("drained queue gave %v", got)
	}
}

func TestBatchQueueTakesEverythingWhenItFits(t *testing.T) {
	q := newBatchQueue[int]()
	for i := range 5 {
		q.push(i, 1)
	}
	if got := q.take(1 << 20); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("take = %v", got)
	}
}
