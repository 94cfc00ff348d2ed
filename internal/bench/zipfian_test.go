package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func zeta(items int, theta float64) float64 {
	var s float64
	for i := 1; i <= items; i++ {
		s += math.Pow(float64(i), -theta)
	}
	return s
}

func TestZipfianFavoursLowRanks(t *testing.T) {
	const items, draws = 1000, 200000
	z, err := NewZipfian(items, ZipfianConstant)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, items)
	for i := 0; i < draws; i++ {
		v := z.Next(r)
		if v >= items {
			t.Fatalf("draw %d out of range", v)
		}
		counts[v]++
	}
	for i := 1; i < items; i++ {
		if counts[i] >= counts[0] {
			t.Fatalf("rank %d drawn %d times, rank 0 only %d", i, counts[i], counts[0])
		}
	}
	// Ranks 0 and 1 have exact probabilities 1/zeta and 2^-theta/zeta.
	zn := zeta(items, ZipfianConstant)
	for rank, want := range []float64{1 / zn, math.Pow(0.5, ZipfianConstant) / zn} {
		if got := float64(counts[rank]) / draws; math.Abs(got-want) > 0.005 {
			t.Errorf("rank %d frequency %.4f, want %.4f", rank, got, want)
		}
	}
	// The tail thins out: mean count per rank falls from band to band.
	mean := func(from, to int) float64 {
		s := 0
		for _, c := range counts[from:to] {
			s += c
		}
		return float64(s) / float64(to-from)
	}
	if !(mean(2, 10) > mean(10, 100) && mean(10, 100) > mean(100, 1000) && mean(100, 1000) > 0) {
		t.Errorf("band means %.1f, %.1f, %.1f: want strictly falling, nonzero",
			mean(2, 10), mean(10, 100), mean(100, 1000))
	}
}

func TestZipfianIsDeterministicPerSeed(t *testing.T) {
	z, err := NewZipfian(10000, ZipfianConstant)
	if err != nil {
		t.Fatal(err)
	}
	draw := func(seed uint64) []uint64 {
		r := rand.New(rand.NewPCG(seed, 0))
		out := make([]uint64, 1000)
		for i := range out {
			out[i] = z.Next(r)
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at draw %d", i)
		}
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("different seeds gave the same draws")
	}
}

func TestZipfianSmallAndBadSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, items := range []uint64{1, 2, 3} {
		z, err := NewZipfian(items, ZipfianConstant)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 1000; i++ {
			if v := z.Next(r); v >= items {
				t.Fatalf("%d items: drew %d", items, v)
			}
		}
	}
	if _, err := NewZipfian(0, ZipfianConstant); err == nil {
		t.Error("zero items accepted")
	}
	if _, err := NewZipfian(10, 1); err == nil {
		t.Error("theta 1 accepted")
	}
}

func TestPermutationIsABijection(t *testing.T) {
	for _, items := range []uint64{1, 2, 3, 5, 16, 17, 1000, 4097} {
		p := newPermutation(items, 42)
		seen := make([]bool, items)
		for x := uint64(0); x < items; x++ {
			y := p.apply(x)
			if y >= items || seen[y] {
				t.Fatalf("%d items: %d maps to %d, out of range or taken", items, x, y)
			}
			seen[y] = true
		}
	}
}

func TestScrambledZipfianSpreadsTheHotKeys(t *testing.T) {
	const items, draws = 1000, 200000
	hot := map[uint64]bool{}
	for seed := uint64(0); seed < 4; seed++ {
		s, err := NewScrambledZipfian(items, ZipfianConstant, seed)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(seed, 9))
		counts := make([]int, items)
		for i := 0; i < draws; i++ {
			v := s.Next(r)
			if v >= items {
				t.Fatalf("draw %d out of range", v)
			}
			counts[v]++
		}
		top := 0
		for i, c := range counts {
			if c > counts[top] {
				top = i
			}
		}
		// The hottest item is rank 0's image, with rank 0's probability.
		if uint64(top) != s.perm.apply(0) {
			t.Errorf("seed %d: hottest item %d, want the image of rank 0, %d", seed, top, s.perm.apply(0))
		}
		if got, want := float64(counts[top])/draws, 1/zeta(items, ZipfianConstant); math.Abs(got-want) > 0.005 {
			t.Errorf("seed %d: hottest frequency %.4f, want %.4f", seed, got, want)
		}
		hot[uint64(top)] = true
	}
	if len(hot) < 2 {
		t.Errorf("four seeds made the same item hottest: %v", hot)
	}
}
