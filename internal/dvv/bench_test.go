package dvv

import (
	"fmt"
	"slices"
	"testing"
)

// benchActors are realistic actor ids: random 64-bit numbers.
var benchActors = []uint64{0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb}

// benchSet returns a state of a key written by the first actors of
// benchActors, holding siblings concurrent entries of 100-byte values.
func benchSet(actors, siblings int) Set[[]byte] {
	var s Set[[]byte]
	value := make([]byte, 100)
	for i := range actors {
		s.Context = s.Context.Add(Dot{benchActors[i], 1_000_000 + uint64(i)})
	}
	for i := range siblings {
		d := Dot{benchActors[i%actors], 1_000_000 - uint64(i)}
		s.Entries = append(s.Entries, Entry[[]byte]{d, value})
	}
	slices.SortFunc(s.Entries, func(a, b Entry[[]byte]) int { return a.Dot.Compare(b.Dot) })
	return s
}

func forShapes(b *testing.B, run func(b *testing.B, s Set[[]byte])) {
	for _, actors := range []int{2, 3} {
		for _, siblings := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("actors=%d/siblings=%d", actors, siblings), func(b *testing.B) {
				s := benchSet(actors, siblings)
				if err := s.Validate(); err != nil {
					b.Fatal(err)
				}
				run(b, s)
			})
		}
	}
}

// BenchmarkUpdate measures a coordinator's write whose context covers every
// sibling, the usual read-modify-write.
func BenchmarkUpdate(b *testing.B) {
	forShapes(b, func(b *testing.B, s Set[[]byte]) {
		dot := Dot{benchActors[0], 2_000_000}
		value := make([]byte, 100)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Update(s.Context, dot, value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSync measures a replica merging the coordinator's newer version
// into its copy.
func BenchmarkSync(b *testing.B) {
	forShapes(b, func(b *testing.B, s Set[[]byte]) {
		newer, err := s.Update(s.Context, Dot{benchActors[0], 2_000_000}, make([]byte, 100))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			Sync(s, newer)
		}
	})
}

func BenchmarkAppendVV(b *testing.B) {
	v := benchSet(3, 1).Context
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendVV(buf[:0], v)
	}
}

func BenchmarkDecodeVV(b *testing.B) {
	enc := AppendVV(nil, benchSet(3, 1).Context)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeVV(enc); err != nil {
			b.Fatal(err)
		}
	}
}
