package check

import "testing"

func TestLosable(t *testing.T) {
	w := func(dw int) Op { return Op{Kind: Put, Value: "v", Start: 10, W: 2, DW: dw} }
	tests := []struct {
		name   string
		op     Op
		faults []Fault
		want   bool
	}{
		{"no faults", w(0), nil, false},
		{"dw=0, crash after it began", w(0), []Fault{{20, "n1", Crash}}, true},
		{"dw=0, crash before it began", w(0), []Fault{{5, "n1", Crash}}, false},
		{"dw=1, crashes only", w(1), []Fault{{20, "n1", Crash}, {21, "n2", Crash}, {22, "n3", Crash}}, false},
		{"dw=1, one wipe", w(1), []Fault{{20, "n2", Wipe}}, true},
		{"dw=2, one node wiped twice", w(2), []Fault{{20, "n2", Wipe}, {30, "n2", Wipe}}, false},
		{"dw=2, two nodes wiped", w(2), []Fault{{20, "n2", Wipe}, {30, "n3", Wipe}}, true},
		{"dw=2, one wipe before it began", w(2), []Fault{{5, "n2", Wipe}, {30, "n3", Wipe}}, false},
		{"dw=0, crash of another key's replica", Op{Kind: Put, Start: 10, W: 1, Replicas: []string{"n1", "n2"}}, []Fault{{20, "n3", Crash}}, false},
		{"dw=0, crash of a replica", Op{Kind: Put, Start: 10, W: 1, Replicas: []string{"n1", "n2"}}, []Fault{{20, "n2", Crash}}, true},
		{"a get", Op{Kind: Get, Start: 10}, []Fault{{20, "n1", Wipe}}, false},
	}
	for _, tt := range tests {
		if got := Losable(tt.op, tt.faults); got != tt.want {
			t.Errorf("%s: Losable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A crash after a dw=0 write makes its loss legitimate, but the same loss
// without the crash is caught.
func TestCheckLosableWrites(t *testing.T) {
	h := &history{}
	p := h.put("k", "v1", dot(A, 1), nil, OK)
	p.W, p.DW = 2, 0
	final := map[string]Final{"k": obj(nil)}
	if r := Check(Run{History: h.ops, Final: final}); r.OK() {
		t.Fatal("a lost acknowledged write went unnoticed without faults")
	}
	r := Check(Run{History: h.ops, Final: final, Faults: []Fault{{p.End + 5, "n1", Crash}}})
	if !r.OK() || r.Checked["Losable"] != 1 {
		t.Fatalf("a dw=0 write lost in a crash was reported, or not counted as losable: %s", r)
	}
	p.DW = 1
	if r := Check(Run{History: h.ops, Final: final, Faults: []Fault{{p.End + 5, "n1", Crash}}}); r.OK() {
		t.Fatal("a dw=1 write lost to a crash went unnoticed")
	}
}

func TestStrictReadsAfterFaults(t *testing.T) {
	build := func(dw int) []Op {
		h := &history{}
		w := h.put("k", "v1", dot(A, 1), nil, OK)
		w.Strict, w.W, w.DW = true, 2, dw
		h.get("k", nil).Strict = true
		return h.ops
	}
	crash := []Fault{{Time: 1, Node: "n1", Kind: Crash}} // between the write's start and the read's
	expect(t, StrictReads(build(1), crash))
	expect(t, StrictReads(build(2), crash), "missed ok put")
	expect(t, StrictReads(build(2), []Fault{{Time: 1, Node: "n1", Kind: Wipe}}))
	expect(t, StrictReads(build(1), []Fault{{Time: 9, Node: "n1", Kind: Crash}}), "missed ok put") // after the read began
}

func TestConverged(t *testing.T) {
	expect(t, Converged(map[string][]Copy{"k": {{"n1", "d1"}, {"n2", "d1"}, {"n3", "d1"}}}))
	expect(t, Converged(map[string][]Copy{
		"j": {{"n1", "d1"}, {"n2", "d1"}},
		"k": {{"n1", "d1"}, {"n2", ""}, {"n3", "d2"}},
	}), `key "k"`, "n2 holds nothing", "n3 holds d2")
}

func TestTreesMatch(t *testing.T) {
	ok := func(node string, root uint64) Tree {
		return Tree{Node: node, Built: true, Root: root, Rebuilt: root, MatchesStorage: true}
	}
	expect(t, TreesMatch(map[int][]Tree{0: {ok("n1", 7), ok("n2", 7), ok("n3", 7)}, 1: {ok("n1", 0), ok("n2", 0)}}))
	expect(t, TreesMatch(map[int][]Tree{
		0: {ok("n1", 7), ok("n2", 7)},
		3: {ok("n1", 7), ok("n2", 8), {Node: "n3"}},
	}), "partition 3: roots differ: n1 has 0000000000000007, n2 has 0000000000000008", "partition 3: n3's tree is not built")
	stale := ok("n2", 7)
	stale.Rebuilt, stale.MatchesStorage = 9, false
	expect(t, TreesMatch(map[int][]Tree{2: {ok("n1", 7), stale}}), "partition 2: n2's tree (root 0000000000000007) differs from a rebuild from its storage (root 0000000000000009)")
}
