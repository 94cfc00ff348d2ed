package ring

import (
	"fmt"
	"testing"
)

func BenchmarkNew(b *testing.B) {
	for _, q := range []int{256, 4096} {
		for _, members := range []int{10, 50} {
			for _, zones := range []int{0, 5} {
				ms := cluster(idFamilies()[1], members, zones)
				b.Run(fmt.Sprintf("Q=%d/members=%d/zones=%d", q, members, zones), func(b *testing.B) {
					for b.Loop() {
						if _, err := New(q, 3, ms); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

func BenchmarkKeyHash(b *testing.B) {
	for _, size := range []int{16, 64, 256} {
		bucket := []byte("bucket")
		key := make([]byte, size-len(bucket))
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				KeyHash(bucket, key)
			}
		})
	}
}

func BenchmarkPartition(b *testing.B) {
	r := mustNew(b, 256, 3, cluster(idFamilies()[0], 10, 0))
	h := KeyHash([]byte("bucket"), []byte("key"))
	sum := 0
	for b.Loop() {
		sum += r.Partition(h) + r.Segment(h)
		h += golden
	}
	if sum < 0 {
		b.Fatal("unreachable; keeps the loop from being optimised away")
	}
}

func BenchmarkOwners(b *testing.B) {
	r := mustNew(b, 256, 3, cluster(idFamilies()[0], 50, 0))
	p := 0
	for b.Loop() {
		r.Owners(p)
		p = (p + 1) % r.Q()
	}
}

func BenchmarkTargets(b *testing.B) {
	r := mustNew(b, 256, 3, cluster(idFamilies()[0], 50, 5))
	down := r.Owners(0)[1]
	up := func(id string) bool { return id != down }
	for b.Loop() {
		r.Targets(0, up)
	}
}
