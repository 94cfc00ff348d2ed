package node

import (
	"testing"
	"time"
)

func TestPacerRestsOnlyWhileRequestsAreServed(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	p := newPacer(0.1)
	if got := p.rest(10*time.Millisecond, t0); got != 0 {
		t.Fatalf("no request ever: rest %v, want 0", got)
	}
	p.foreground(t0)
	if got := p.rest(10*time.Millisecond, t0.Add(500*time.Millisecond)); got != 90*time.Millisecond {
		t.Fatalf("share 0.1 after a request: rest %v, want 90ms (work a tenth of the time)", got)
	}
	if got := p.rest(0, t0); got != 0 {
		t.Fatalf("no work: rest %v, want 0", got)
	}
	if got := p.rest(10*time.Millisecond, t0.Add(quietAfter+time.Millisecond)); got != 0 {
		t.Fatalf("quiet for longer than %v: rest %v, want 0", quietAfter, got)
	}
	if got := newPacer(1).rest(time.Second, t0); got != 0 {
		t.Fatalf("share 1: rest %v, want 0", got)
	}
	half := newPacer(0.5)
	half.foreground(t0)
	if got := half.rest(40*time.Millisecond, t0); got != 40*time.Millisecond {
		t.Fatalf("share 0.5: rest %v, want 40ms", got)
	}
}
