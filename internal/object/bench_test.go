package object

import (
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/hlc"
)

// Realistic shapes: random 64-bit actor ids, current wall times.
const (
	actorA = 0x9e3779b97f4a7c15
	actorB = 0xbf58476d1ce4e5b9
	actorC = 0x94d049bb133111eb
	wall   = 1_780_000_000_000_000_000
)

// benchObject is a key written through three replicas with one live
// version of 100 bytes.
func benchObject(b *testing.B) *Object {
	var o *Object
	var err error
	for i, actor := range []uint64{actorA, actorB, actorC} {
		c := Content{Value: make([]byte, 100), ContentType: "application/octet-stream", Modified: hlc.Timestamp{Wall: wall + int64(i)}}
		o, _, err = o.Update(o.set().Context, dvv.Dot{Actor: actor, Counter: 1_000_000 + uint64(i)}, c, Siblings)
		if err != nil {
			b.Fatal(err)
		}
	}
	return o
}

func BenchmarkEncode(b *testing.B) {
	o := benchObject(b)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEncode(buf[:0], o)
	}
	b.ReportMetric(float64(len(buf)), "bytes")
}

func BenchmarkDecode(b *testing.B) {
	enc := Encode(benchObject(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	o := benchObject(b)
	b.ReportAllocs()
	for b.Loop() {
		Digest(o)
	}
}

// BenchmarkUpdate is a coordinator's read-modify-write whose context covers
// the stored version.
func BenchmarkUpdate(b *testing.B) {
	o := benchObject(b)
	c := Content{Value: make([]byte, 100), Modified: hlc.Timestamp{Wall: wall + 10}}
	dot := dvv.Dot{Actor: actorA, Counter: 2_000_000}
	for _, p := range []Policy{Siblings, LWW} {
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := o.Update(o.Context, dot, c, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMerge is a replica merging the coordinator's newer version into
// its copy.
func BenchmarkMerge(b *testing.B) {
	o := benchObject(b)
	c := Content{Value: make([]byte, 100), Modified: hlc.Timestamp{Wall: wall + 10}}
	newer, _, err := o.Update(o.Context, dvv.Dot{Actor: actorA, Counter: 2_000_000}, c, Siblings)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []Policy{Siblings, LWW} {
		b.Run(p.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Merge(o, newer, p)
			}
		})
	}
}

func BenchmarkEncodeContext(b *testing.B) {
	c := CausalOf(benchObject(b))
	b.ReportAllocs()
	for b.Loop() {
		EncodeContext(c, testKey)
	}
}

func BenchmarkDecodeContext(b *testing.B) {
	s := EncodeContext(CausalOf(benchObject(b)), testKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeContext(s, testKey); err != nil {
			b.Fatal(err)
		}
	}
}
