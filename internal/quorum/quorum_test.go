package quorum

import (
	"fmt"
	"testing"
)

// outcome of one target in a write.
type outcome int

const (
	ackDurable outcome = iota
	ackVolatile
	fail
)

// specWrite says whether a complete set of write outcomes meets w, dw, pw.
func specWrite(outs []outcome, primary []bool, w, dw, pw int) bool {
	w = max(w, dw, pw)
	var acks, durable, prim int
	for i, o := range outs {
		if o == fail {
			continue
		}
		acks++
		if o == ackDurable {
			durable++
		}
		if primary[i] {
			prim++
		}
	}
	return acks >= w && durable >= dw && prim >= pw
}

// completions calls fn with every way the targets after the first k could
// answer, given the first k outcomes.
func completions(prefix []outcome, n int, fn func([]outcome)) {
	if len(prefix) == n {
		fn(prefix)
		return
	}
	for o := ackDurable; o <= fail; o++ {
		completions(append(prefix[:len(prefix):len(prefix)], o), n, fn)
	}
}

// primariesOf says which of n targets are primaries, target i when bit i of
// mask is set, and counts them.
func primariesOf(n, mask int) (primary []bool, primaries int) {
	primary = make([]bool, n)
	for i := range primary {
		primary[i] = mask&(1<<i) != 0
		if primary[i] {
			primaries++
		}
	}
	return primary, primaries
}

// TestWriteExhaustive checks the tally after every prefix of every reply
// sequence for up to 4 targets: Done must be true exactly when every
// completion of the remaining replies has the same outcome, and then the
// outcome must be that one (Dynamo section 4.5: a put succeeds once W
// replicas acknowledged; Riak's put_core decides as early as it can).
func TestWriteExhaustive(t *testing.T) {
	for n := 1; n <= 4; n++ {
		for mask := 0; mask < 1<<n; mask++ {
			primary, primaries := primariesOf(n, mask)
			for w := 1; w <= n; w++ {
				for dw := 0; dw <= n; dw++ {
					for pw := 0; pw <= primaries; pw++ {
						completions(nil, n, func(full []outcome) {
							tally := NewWrite(n, primaries, w, dw, pw)
							for k := 0; k <= n; k++ {
								canSucceed, canFail := false, false
								completions(full[:k], n, func(c []outcome) {
									if specWrite(c, primary, w, dw, pw) {
										canSucceed = true
									} else {
										canFail = true
									}
								})
								name := fmt.Sprintf("n=%d prim=%v w=%d dw=%d pw=%d seq=%v k=%d", n, primary, w, dw, pw, full, k)
								if tally.Done() != (canSucceed != canFail) {
									t.Fatalf("%s: Done=%v, can succeed %v, can fail %v", name, tally.Done(), canSucceed, canFail)
								}
								if tally.Done() && tally.Succeeded() != canSucceed {
									t.Fatalf("%s: Succeeded=%v, want %v", name, tally.Succeeded(), canSucceed)
								}
								if k == n {
									break
								}
								switch full[k] {
								case ackDurable:
									tally.Ack(primary[k], true)
								case ackVolatile:
									tally.Ack(primary[k], false)
								case fail:
									tally.Fail(primary[k])
								}
							}
						})
					}
				}
			}
		}
	}
}

// TestReadExhaustive is TestWriteExhaustive for reads, where a reply is
// either an answer (found or not found both count) or a failure.
func TestReadExhaustive(t *testing.T) {
	for n := 1; n <= 5; n++ {
		for mask := 0; mask < 1<<n; mask++ {
			primary, primaries := primariesOf(n, mask)
			for r := 1; r <= n; r++ {
				for pr := 0; pr <= primaries; pr++ {
					for seq := 0; seq < 1<<n; seq++ { // bit i set: target i answered
						tally := NewRead(n, primaries, r, pr)
						for k := 0; k <= n; k++ {
							canSucceed, canFail := false, false
							for rest := 0; rest < 1<<n; rest++ {
								full := seq&(1<<k-1) | rest&^(1<<k-1)
								replies, prim := 0, 0
								for i := 0; i < n; i++ {
									if full&(1<<i) != 0 {
										replies++
										if primary[i] {
											prim++
										}
									}
								}
								if replies >= max(r, pr) && prim >= pr {
									canSucceed = true
								} else {
									canFail = true
								}
							}
							if tally.Done() != (canSucceed != canFail) {
								t.Fatalf("n=%d r=%d pr=%d seq=%b k=%d: Done=%v", n, r, pr, seq, k, tally.Done())
							}
							if tally.Done() && tally.Succeeded() != canSucceed {
								t.Fatalf("n=%d r=%d pr=%d seq=%b k=%d: Succeeded=%v", n, r, pr, seq, k, tally.Succeeded())
							}
							if k == n {
								break
							}
							if seq&(1<<k) != 0 {
								tally.Reply(primary[k])
							} else {
								tally.Fail(primary[k])
							}
						}
					}
				}
			}
		}
	}
}

func TestWriteFailureSaysWhat(t *testing.T) {
	tally := NewWrite(3, 3, 2, 1, 0)
	tally.Ack(true, false)
	tally.Fail(true)
	tally.Fail(true)
	need, failed := tally.Failed()
	if !failed || need.What != "w" || need.Needed != 2 || need.Answered != 1 {
		t.Fatalf("Failed() = %+v, %v; want w needed 2 answered 1", need, failed)
	}
	tally = NewWrite(3, 3, 1, 1, 0)
	tally.Ack(true, false)
	if tally.Done() {
		t.Fatal("done without a durable ack")
	}
	if s := tally.Shortfall(); s.What != "dw" || s.Needed != 1 || s.Answered != 0 {
		t.Fatalf("Shortfall() = %+v", s)
	}
}
