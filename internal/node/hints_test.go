package node

import "testing"

func TestHintLedgerBounds(t *testing.T) {
	l := newHintLedger()
	for range 2 {
		if !l.admit("n3", 0, 100, 2, 250) {
			t.Fatal("a hint within the bounds refused")
		}
	}
	if l.admit("n3", 0, 10, 2, 250) {
		t.Fatal("a third hint admitted past MaxHints=2")
	}
	if l.admit("n3", 100, 200, 2, 250) {
		t.Fatal("a hint grown past MaxHintBytes admitted")
	}
	if !l.admit("n3", 100, 150, 2, 250) {
		t.Fatal("a hint grown within the bounds refused")
	}
	l.resize("n3", 150, 120)
	if got := l.snapshot()["n3"]; got != (hintCount{Hints: 2, Bytes: 220}) {
		t.Fatalf("ledger = %+v, want 2 hints of 220 bytes", got)
	}
	if !l.admit("n4", 0, 240, 2, 250) {
		t.Fatal("another owner's bound was shared")
	}
	l.remove("n3", 100)
	l.remove("n3", 120)
	if _, ok := l.snapshot()["n3"]; ok {
		t.Fatal("an owner without hints is still listed")
	}
	l.add("n3", 7)
	if got := l.snapshot()["n3"]; got != (hintCount{Hints: 1, Bytes: 7}) {
		t.Fatalf("after add: %+v", got)
	}
}
