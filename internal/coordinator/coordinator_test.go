package coordinator

import (
	"errors"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/ring"
)

func three() []Target {
	return Primaries([]string{"a", "b", "c"})
}

func write(t *testing.T, base *object.Object, ctx dvv.VV, actor, counter uint64, v string) *object.Object {
	t.Helper()
	if base == nil {
		base = &object.Object{}
	}
	o, _, err := base.Update(ctx, dvv.Dot{Actor: actor, Counter: counter}, object.Content{Value: []byte(v)}, object.Siblings)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestReadMergesDivergentCopies: Dynamo section 4.4: "if the read finds
// multiple versions that are not causally related, it returns all of them";
// a read answered by replicas holding concurrent versions returns both.
func TestReadMergesDivergentCopies(t *testing.T) {
	x := write(t, nil, nil, 1, 1, "x")
	y := write(t, nil, nil, 2, 1, "y")
	g := NewRead(three(), 2, 0, object.Siblings)
	g.Reply("a", x)
	if g.Done() {
		t.Fatal("done after one of r=2 replies")
	}
	g.Reply("b", y)
	if !g.Done() {
		t.Fatal("not done after r=2 replies")
	}
	obj, err := g.Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Entries) != 2 {
		t.Fatalf("merged %d versions, want 2", len(obj.Entries))
	}
}

// TestReadNotFoundCounts: a replica without the key is a reply (notfound_ok),
// and a read where no replica has it answers nil.
func TestReadNotFoundCounts(t *testing.T) {
	g := NewRead(three(), 2, 0, object.Siblings)
	g.Reply("a", nil)
	g.Reply("c", nil)
	obj, err := g.Result()
	if !g.Done() || err != nil || obj != nil {
		t.Fatalf("done=%v obj=%v err=%v", g.Done(), obj, err)
	}
}

func TestReadFailsWhenTooFewCanAnswer(t *testing.T) {
	g := NewRead(three(), 2, 0, object.Siblings)
	g.Fail("a")
	g.Reply("b", nil)
	g.Reply("b", nil) // a second reply from one node counts once
	if g.Done() {
		t.Fatal("done with one reply and one outstanding")
	}
	g.Fail("c")
	_, err := g.Result()
	var e *kv.Error
	if !errors.As(err, &e) || e.Kind != kv.Unavailable || e.Needed != 2 || e.Answered != 1 {
		t.Fatalf("result %v, want unavailable 2/1", err)
	}
}

func TestReadIgnoresStrangers(t *testing.T) {
	g := NewRead(three(), 1, 0, object.Siblings)
	g.Reply("zz", write(t, nil, nil, 9, 1, "z"))
	if g.Done() {
		t.Fatal("a reply from a non-target counted")
	}
}

// TestPrimaryReadQuorum: pr counts only primary owners.
func TestPrimaryReadQuorum(t *testing.T) {
	targets := []Target{{Node: "a", Primary: true}, {Node: "b", HintFor: "x"}, {Node: "c", HintFor: "y"}}
	g := NewRead(targets, 1, 1, object.Siblings)
	g.Reply("b", nil)
	g.Reply("c", nil)
	if g.Done() {
		t.Fatal("answered without the primary")
	}
	g.Fail("a")
	if _, err := g.Result(); err == nil {
		t.Fatal("pr=1 met without a primary reply")
	}
}

// TestWriteQuorum: Dynamo section 4.5: the write succeeds once W nodes,
// the coordinator among them, stored it.
func TestWriteQuorum(t *testing.T) {
	p := NewWrite(three(), 2, 1, 0)
	p.Ack("a", true)
	if p.Done() {
		t.Fatal("done after 1 of w=2")
	}
	p.Ack("b", false)
	if !p.Done() || p.Result() != nil {
		t.Fatalf("done=%v result=%v after w=2 acks with one durable", p.Done(), p.Result())
	}
}

func TestWriteDurableQuorum(t *testing.T) {
	p := NewWrite(three(), 2, 2, 0)
	p.Ack("a", true)
	p.Ack("b", false)
	if p.Done() {
		t.Fatal("dw=2 met with one durable ack")
	}
	p.Fail("c")
	err := p.Result()
	var e *kv.Error
	if !p.Done() || !errors.As(err, &e) || e.Needed != 2 || e.Answered != 1 {
		t.Fatalf("done=%v err=%v, want dw failure 2/1", p.Done(), err)
	}
	if e2, ok := p.Expire().(*kv.Error); !ok || e2.Kind != kv.Unavailable {
		t.Fatalf("Expire = %v", p.Expire())
	}
}

func aliveExcept(down ...string) func(string) bool {
	return func(id string) bool {
		for _, d := range down {
			if d == id {
				return false
			}
		}
		return true
	}
}

// Start fails the targets seen down at once and sends to every other
// one, not only the first W.
func TestStartSkipsTheDead(t *testing.T) {
	w := NewWrite(three(), 2, 1, 0)
	send := w.Start("a", true, aliveExcept("c"))
	if len(send) != 1 || send[0].Node != "b" || w.Done() {
		t.Fatalf("write Start sends to %v (done %v), want [b] and not done", send, w.Done())
	}
	w.Ack("b", false)
	if !w.Done() || w.Result() != nil {
		t.Fatalf("write with a and b acknowledged: done %v, %v", w.Done(), w.Result())
	}
	if send := NewWrite(three(), 1, 1, 0).Start("a", true, aliveExcept()); len(send) != 2 {
		t.Fatalf("a w=1 write sends to %v, want both other replicas", send)
	}
	w = NewWrite(three(), 3, 1, 0)
	w.Start("a", true, aliveExcept("b"))
	if !w.Done() || w.Result() == nil {
		t.Fatal("a w=3 write with a replica down is not failed at once")
	}

	r := NewRead(three(), 2, 0, object.Siblings)
	ask, local := r.Start("b", aliveExcept("a"))
	if !local || len(ask) != 1 || ask[0].Node != "c" {
		t.Fatalf("read Start: ask %v local %v, want [c] and local", ask, local)
	}
	if _, local := NewRead(three(), 2, 0, object.Siblings).Start("z", aliveExcept()); local {
		t.Fatal("a non-replica reads locally")
	}
}

func TestForward(t *testing.T) {
	f := NewForward([]string{"a", "b", "c"})
	if f.Current() != "" {
		t.Fatal("Current before Next")
	}
	alive := aliveExcept("a")
	for _, want := range []string{"b", "c"} {
		if got, ok := f.Next(alive); !ok || got != want || f.Current() != want {
			t.Fatalf("Next = %q, %v; want %q", got, ok, want)
		}
	}
	if _, ok := f.Next(alive); ok || f.Current() != "" {
		t.Fatal("Next past the last owner")
	}
	var e *kv.Error
	if err := f.Exhausted(); !errors.As(err, &e) || e.Kind != kv.Unavailable || e.Needed != 1 || e.Answered != 0 {
		t.Fatalf("Exhausted = %v", err)
	}
}

func TestSloppyTargets(t *testing.T) {
	ts := Sloppy([]ring.Target{{Node: "a", Owner: "a"}, {Node: "d", Owner: "b"}})
	if len(ts) != 2 || !ts[0].Primary || ts[0].HintFor != "" || ts[1].Primary || ts[1].HintFor != "b" || ts[1].Node != "d" {
		t.Fatalf("Sloppy = %+v", ts)
	}
	if tgt, ok := Find(ts, "d"); !ok || tgt.HintFor != "b" {
		t.Fatalf("Find(d) = %+v, %v", tgt, ok)
	}
	if _, ok := Find(ts, "b"); ok {
		t.Fatal("Find found an unreachable owner")
	}
	// A substitute's acknowledgement counts towards w but not pw.
	w := NewWrite(ts, 2, 0, 2)
	w.Start("a", false, aliveExcept())
	w.Ack("d", false)
	if !w.Done() || w.Result() == nil {
		t.Fatalf("pw=2 met with one primary and a substitute: done %v, %v", w.Done(), w.Result())
	}
}

// Read repair: primaries whose copy is missing or behind the merge are
// stale; failed targets and substitutes are not repaired.
func TestStale(t *testing.T) {
	x := write(t, nil, nil, 1, 1, "x")
	xy := write(t, x, x.Context, 2, 1, "y")
	targets := []Target{{Node: "a", Primary: true}, {Node: "b", Primary: true}, {Node: "c", Primary: true}, {Node: "d", HintFor: "e"}}
	g := NewRead(targets, 2, 0, object.Siblings)
	if stale, merged := g.Stale(); stale != nil || merged != nil {
		t.Fatal("stale targets before any reply")
	}
	g.Reply("a", xy)
	g.Reply("b", x)
	if g.Complete() {
		t.Fatal("complete with two of four answers")
	}
	g.Reply("d", nil)
	g.Fail("c")
	if !g.Complete() {
		t.Fatal("not complete after every target answered or failed")
	}
	stale, merged := g.Stale()
	if len(stale) != 1 || stale[0].Node != "b" || object.Digest(merged) != object.Digest(xy) {
		t.Fatalf("Stale = %v, want [b] with the newest copy", stale)
	}
	g2 := NewRead(targets[:2], 1, 0, object.Siblings)
	g2.Reply("a", xy)
	g2.Reply("b", nil)
	if stale, _ := g2.Stale(); len(stale) != 1 || stale[0].Node != "b" {
		t.Fatalf("a primary without the key is not stale: %v", stale)
	}
}
