package check

import (
	"errors"
	"strings"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
)

type scenario struct {
	name  string
	build func(h *history) map[string]Final
	want  []string // fragments of the expected violations; none: accepted
}

func run(t *testing.T, checker func([]Op, map[string]Final) []Violation, scenarios []scenario) {
	t.Helper()
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			h := &history{}
			final := s.build(h)
			if err := Validate(h.ops); err != nil {
				t.Fatalf("scenario history is malformed: %v", err)
			}
			expect(t, checker(h.ops, final), s.want...)
		})
	}
}

func TestLostWrites(t *testing.T) {
	run(t, LostWrites, []scenario{
		{name: "replaced put is gone", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.get("k", vv(dot(A, 1)), "v1")
			h.put("k", "v2", dot(B, 7), vv(dot(A, 1)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 7)), "v2", dot(B, 7))}
		}},
		{name: "concurrent puts both live", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1), "v2", dot(B, 1))}
		}},
		{name: "resent put missing under both dots", want: []string{`acknowledged put "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK).MoreDots = []dvv.Dot{dot(B, 1)}
			h.put("k", "v2", dot(C, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1), dot(C, 1)), "v2", dot(C, 1))}
		}},
		{name: "resent put replaced through its second dot", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK).MoreDots = []dvv.Dot{dot(B, 1)}
			h.put("k", "v2", dot(C, 1), vv(dot(B, 1)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1), dot(C, 1)), "v2", dot(C, 1))}
		}},
		{name: "acknowledged put missing", want: []string{`op 1`, `acknowledged put "v2"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1))}
		}},
		{name: "acknowledged put on a key missing from final", want: []string{`key "other"`, `"w"`}, build: func(h *history) map[string]Final {
			h.put("k", "v", dot(A, 1), nil, OK)
			h.put("other", "w", dot(A, 2), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1)), "v", dot(A, 1))}
		}},
		{name: "put replaced only by an info write may be missing", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), vv(dot(A, 1)), Info)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v2", dot(B, 1))}
		}},
		{name: "put replaced only by an info write may be present", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), vv(dot(A, 1)), Info)
			return map[string]Final{"k": obj(vv(dot(A, 1)), "v1", dot(A, 1))}
		}},
		{name: "put replaced only by an info delete may be missing", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 1), vv(dot(A, 1)), Info)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)))}
		}},
		{name: "put replaced only by a failed write must stay", want: []string{`acknowledged put "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), vv(dot(A, 1)), Fail)
			return map[string]Final{"k": obj(vv(dot(A, 1)))}
		}},
		{name: "a write on another key does not replace", want: []string{`acknowledged put "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("j", "w", dot(B, 1), vv(dot(A, 1)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 1))), "j": obj(vv(dot(A, 1), dot(B, 1)), "w", dot(B, 1))}
		}},
		{name: "failed put appears in final", want: []string{`op 1`, `failed put "v2"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, Fail)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1), "v2", dot(B, 1))}
		}},
		{name: "failed and info puts may be absent", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, Fail)
			h.put("k", "v2", dot(B, 1), nil, Info)
			return nil
		}},
	})
}

func TestSiblings(t *testing.T) {
	run(t, Siblings, []scenario{
		{name: "worked example of docs/versioning.md", build: func(h *history) map[string]Final {
			h.get("k", nil)
			h.put("k", "red", dot(A, 41), nil, OK)
			h.put("k", "blue", dot(B, 903), nil, OK)
			h.get("k", vv(dot(A, 41), dot(B, 903)), "red", "blue")
			h.put("k", "purple", dot(A, 44), vv(dot(A, 41), dot(B, 903)), OK)
			h.put("k", "green", dot(B, 905), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 44), dot(B, 905)), "purple", dot(A, 44), "green", dot(B, 905))}
		}},
		{name: "delete leaves no sibling", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(A, 2), vv(dot(A, 1)), OK)
			h.add(Op{Kind: Get, Key: "k", Type: OK, Deleted: true, ReadContext: vv(dot(A, 2))})
			return map[string]Final{"k": obj(vv(dot(A, 2)))}
		}},
		{name: "invented value", want: []string{`invented value "ghost"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(C, 3)), "v1", dot(A, 1), "ghost", dot(C, 3))}
		}},
		{name: "value of another key", want: []string{`key "j"`, `invented value "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			return map[string]Final{
				"k": obj(vv(dot(A, 1)), "v1", dot(A, 1)),
				"j": obj(vv(dot(A, 1)), "v1", dot(A, 1)),
			}
		}},
		{name: "failed put is live", want: []string{`op 1`, `its put failed`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(A, 2), nil, Fail)
			return map[string]Final{"k": obj(vv(dot(A, 2)), "v1", dot(A, 1), "v2", dot(A, 2))}
		}},
		{name: "live with the wrong dot", want: []string{`issued dots [b:1]`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(B, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(B, 2)), "v1", dot(B, 2))}
		}},
		// A put resent under its idempotency key and stored by two
		// coordinators has two dots.
		{name: "resent put live under its second dot", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK).MoreDots = []dvv.Dot{dot(B, 1)}
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(B, 1))}
		}},
		{name: "resent put outlives the write that replaced its first dot", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK).MoreDots = []dvv.Dot{dot(B, 1)}
			h.put("k", "v2", dot(A, 2), vv(dot(A, 1)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 2), dot(B, 1)), "v1", dot(B, 1), "v2", dot(A, 2))}
		}},
		{name: "resent put resurrected after both dots were replaced", want: []string{`resurrected value "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK).MoreDots = []dvv.Dot{dot(B, 1)}
			h.put("k", "v2", dot(A, 2), vv(dot(A, 1), dot(B, 1)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 2), dot(B, 1)), "v1", dot(B, 1), "v2", dot(A, 2))}
		}},
		{name: "resent put live under a dot it was not issued", want: []string{`issued dots [a:1 b:1]`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK).MoreDots = []dvv.Dot{dot(B, 1)}
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 2)), "v1", dot(B, 2))}
		}},
		{name: "dropped concurrent sibling", want: []string{`op 1`, `dropped ok put "v2"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1))}
		}},
		{name: "resurrected value covered by an applied delete", want: []string{`op 0`, `resurrected value "v1"`, `delete (op 2`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.get("k", vv(dot(A, 1)), "v1")
			h.del("k", dot(B, 1), vv(dot(A, 1)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1))}
		}},
		{name: "final context misses an applied write", want: []string{`misses applied ok delete (op 1`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 4), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1)), "v1", dot(A, 1))}
		}},
		{name: "live dot outside the final context", want: []string{`does not cover`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 5), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 4)), "v1", dot(A, 5))}
		}},
		{name: "read of a value never written", want: []string{`op 1`, `read value "nope"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.get("k", vv(dot(A, 1)), "v1", "nope")
			return map[string]Final{"k": obj(vv(dot(A, 1)), "v1", dot(A, 1))}
		}},
		{name: "info put live", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, Info)
			return map[string]Final{"k": obj(vv(dot(A, 1)), "v1", dot(A, 1))}
		}},
		{name: "info put absent and not in the context", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, Info)
			return map[string]Final{"k": obj(vv(dot(A, 1)), "v1", dot(A, 1))}
		}},
		{name: "info put in the context by its exact counter must be live", want: []string{`dropped info put "v2"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, Info)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1))}
		}},
		{name: "info put covered through a later counter may have been lost", build: func(h *history) map[string]Final {
			// B issued b:3 for v2, crashed before it reached anyone, then
			// wrote v3 at b:9: the final context covers b:3 without it.
			h.put("k", "v2", dot(B, 3), nil, Info)
			h.put("k", "v3", dot(B, 9), nil, OK)
			return map[string]Final{"k": obj(vv(dot(B, 9)), "v3", dot(B, 9))}
		}},
		{name: "lost info put replaced nothing", want: []string{`dropped ok put "v1"`}, build: func(h *history) map[string]Final {
			// v2 would have replaced v1, but v2 is not live and nothing
			// replaced it: it did not survive, so neither did its effect.
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(A, 2), vv(dot(A, 1)), Info)
			h.put("k", "v3", dot(A, 3), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 3)), "v3", dot(A, 3))}
		}},
		{name: "lost info put: what it would have replaced stays", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(A, 2), vv(dot(A, 1)), Info)
			h.put("k", "v3", dot(A, 3), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 3)), "v1", dot(A, 1), "v3", dot(A, 3))}
		}},
		{name: "info put replaced by a later write, its own replacement holds", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(A, 2), vv(dot(A, 1)), Info)
			h.put("k", "v3", dot(A, 3), vv(dot(A, 2)), OK)
			return map[string]Final{"k": obj(vv(dot(A, 3)), "v3", dot(A, 3))}
		}},
		{name: "info delete in the context by its exact counter replaced what it covered", want: []string{`resurrected value "v1"`, `info delete (op 1`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 2), vv(dot(A, 1)), Info)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 2)), "v1", dot(A, 1))}
		}},
		{name: "info delete covered through a later counter: replaced value may stay", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 2), vv(dot(A, 1)), Info)
			h.put("k", "v2", dot(B, 5), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 5)), "v1", dot(A, 1), "v2", dot(B, 5))}
		}},
		{name: "info delete covered through a later counter: replaced value may go", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 2), vv(dot(A, 1)), Info)
			h.put("k", "v2", dot(B, 5), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 5)), "v2", dot(B, 5))}
		}},
		{name: "info delete not in the context did not replace", want: []string{`dropped ok put "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 2), vv(dot(A, 1)), Info)
			return map[string]Final{"k": obj(vv(dot(A, 1)))}
		}},
		{name: "failed write never replaces", want: []string{`dropped ok put "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(B, 2), vv(dot(A, 1)), Fail)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 2)))}
		}},
	})
}

func TestSiblingsLWW(t *testing.T) {
	run(t, SiblingsLWW, []scenario{
		{name: "one winner, concurrent write dropped by design", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v2", dot(B, 1))}
		}},
		{name: "info put may win", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, Info)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v2", dot(B, 1))}
		}},
		{name: "deleted key", build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.del("k", dot(A, 2), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 2)))}
		}},
		{name: "two live values", want: []string{`2 live values`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1), "v2", dot(B, 1))}
		}},
		{name: "invented winner", want: []string{`invented value "ghost"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(C, 1)), "ghost", dot(C, 1))}
		}},
		{name: "failed put wins", want: []string{`its put failed`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), nil, Fail)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v2", dot(B, 1))}
		}},
		{name: "uncoordinated put wins", want: []string{`never coordinated`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dvv.Dot{}, nil, Info)
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v2", dot(B, 1))}
		}},
		{name: "a replaced value wins over its replacement", want: []string{`resurrected value "v1"`}, build: func(h *history) map[string]Final {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dot(B, 1), vv(dot(A, 1)), OK) // saw v1: replaces it, whatever the clocks say
			return map[string]Final{"k": obj(vv(dot(A, 1), dot(B, 1)), "v1", dot(A, 1))}
		}},
	})
}

func TestDotReuse(t *testing.T) {
	tests := []struct {
		name   string
		issued []Issued
		want   []string
	}{
		{name: "fresh dots", issued: []Issued{
			{"n1", dot(A, 1), 0}, {"n1", dot(A, 2), 1}, {"n2", dot(B, 1), 2},
			// n1 crashed and restarted: the leased block's rest is skipped.
			{"n1", dot(A, 101), 3},
			// n1 lost its data directory: a new actor starts at 1.
			{"n1", dot(C, 1), 4},
		}},
		{name: "dot issued twice across a crash", want: []string{`op 5`, `node n1 issued dot a:2 for op 5, already issued by node n1 for op 1`}, issued: []Issued{
			{"n1", dot(A, 1), 0}, {"n1", dot(A, 2), 1}, {"n2", dot(B, 1), 2},
			// crash: the counter restarts from a stale lease.
			{"n1", dot(A, 2), 5},
		}},
		{name: "same actor on two nodes", want: []string{`node n2 issued dot a:1`}, issued: []Issued{
			{"n1", dot(A, 1), 0}, {"n2", dot(A, 1), 1},
		}},
		{name: "zero counter", want: []string{`zero counter`}, issued: []Issued{
			{"n1", dot(A, 0), 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, DotReuse(tt.issued), tt.want...)
		})
	}
}

func TestStrictReads(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *history)
		want  []string
	}{
		{name: "read sees the write before it", build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK).Strict = true
			h.get("k", vv(dot(A, 1)), "v1").Strict = true
		}},
		{name: "read misses a write acknowledged before it began", want: []string{`op 2`, `missed ok put "v2" (op 1`}, build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK).Strict = true
			h.put("k", "v2", dot(B, 1), vv(dot(A, 1)), OK).Strict = true
			h.get("k", vv(dot(A, 1)), "v1").Strict = true
		}},
		{name: "read misses a delete acknowledged before it began", want: []string{`missed ok delete (op 1`}, build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK).Strict = true
			h.del("k", dot(B, 1), vv(dot(A, 1)), OK).Strict = true
			h.get("k", vv(dot(A, 1)), "v1").Strict = true
		}},
		{name: "read overlapping the write may miss it", build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK).Strict = true
			w := h.put("k", "v2", dot(B, 1), vv(dot(A, 1)), OK)
			w.Strict = true
			r := h.get("k", vv(dot(A, 1)), "v1")
			r.Strict = true
			r.Start = w.End // the write completes as the read begins
		}},
		{name: "sloppy write is not promised", build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.get("k", nil).Strict = true
		}},
		{name: "sloppy read is not promised", build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK).Strict = true
			h.get("k", nil)
		}},
		{name: "unacknowledged write is not promised", build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, Info).Strict = true
			h.get("k", nil).Strict = true
		}},
		{name: "write to another key is not promised", build: func(h *history) {
			h.put("j", "v1", dot(A, 1), nil, OK).Strict = true
			h.get("k", nil).Strict = true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &history{}
			tt.build(h)
			if err := Validate(h.ops); err != nil {
				t.Fatalf("scenario history is malformed: %v", err)
			}
			expect(t, StrictReads(h.ops, nil), tt.want...)
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		build func(h *history)
		want  string // fragment of the error; empty: valid
	}{
		{name: "valid", build: func(h *history) {
			h.put("k", "v1", dot(A, 1), nil, OK)
			h.put("k", "v2", dvv.Dot{}, nil, Fail)
			h.get("k", vv(dot(A, 1)), "v1")
			h.add(Op{Kind: Get, Key: "k", Type: Info})
		}},
		{name: "duplicate put value", want: `already written by op 0`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), nil, OK)
			h.put("j", "v", dot(A, 2), nil, Fail)
		}},
		{name: "empty put value", want: `put without a value`, build: func(h *history) {
			h.put("k", "", dot(A, 1), nil, OK)
		}},
		{name: "ends before it starts", want: `before it starts`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), nil, OK).End = -1
		}},
		{name: "index out of place", want: `has index 7`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), nil, OK).Index = 7
		}},
		{name: "siblings without a context", want: `without a context`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), nil, OK)
			h.get("k", nil, "v")
		}},
		{name: "deleted with siblings", want: `deleted key`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), nil, OK)
			h.get("k", vv(dot(A, 1)), "v").Deleted = true
		}},
		{name: "duplicate sibling", want: `twice`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), nil, OK)
			h.get("k", vv(dot(A, 1)), "v", "v")
		}},
		{name: "failed get with results", want: `carries read results`, build: func(h *history) {
			h.get("k", vv(dot(A, 1))).Type = Fail
		}},
		{name: "further dot without a first", want: `without a first one`, build: func(h *history) {
			h.put("k", "v", dvv.Dot{}, nil, Info).MoreDots = []dvv.Dot{dot(A, 1)}
		}},
		{name: "acknowledged write without a dot", want: `without a dot`, build: func(h *history) {
			h.del("k", dvv.Dot{}, nil, OK)
		}},
		{name: "invalid context", want: `context`, build: func(h *history) {
			h.put("k", "v", dot(A, 1), dvv.VV{dot(B, 1), dot(A, 1)}, OK)
		}},
		{name: "delete with a value", want: `delete with a value`, build: func(h *history) {
			h.del("k", dot(A, 1), nil, OK).Value = "x"
		}},
		{name: "unknown type", want: `unknown type`, build: func(h *history) {
			h.add(Op{Kind: Get, Key: "k"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &history{}
			tt.build(h)
			err := Validate(h.ops)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate accepted a history with %s", tt.name)
			case tt.want != "" && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v, want ErrMalformed mentioning %q", err, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	h := &history{}
	h.put("s", "s1", dot(A, 1), nil, OK).Strict = true
	h.put("s", "s2", dot(B, 1), nil, OK)
	h.get("s", vv(dot(B, 1)), "s2").Strict = true // misses s1
	h.put("l", "l1", dot(A, 2), nil, OK)
	h.put("l", "l2", dot(B, 2), nil, OK)
	final := map[string]Final{
		"s": obj(vv(dot(A, 1), dot(B, 1)), "s2", dot(B, 1)), // s1 lost
		"l": obj(vv(dot(A, 2), dot(B, 2)), "l2", dot(B, 2)), // l1 dropped by LWW: fine
	}
	issued := []Issued{{"n1", dot(A, 1), 0}, {"n2", dot(B, 1), 1}, {"n1", dot(A, 2), 3}, {"n2", dot(B, 2), 4},
		{"n2", dot(B, 2), -1}} // reused by a write outside the history
	r := Check(Run{History: h.ops, Final: final, Issued: issued, LWW: map[string]bool{"l": true}})
	if r.OK() {
		t.Fatal("Check accepted a broken run")
	}
	got := make([]string, len(r.Violations))
	for i, v := range r.Violations {
		got[i] = v.Checker
	}
	if strings.Join(got, ",") != "DotReuse,LostWrites,Siblings,StrictReads" {
		t.Errorf("violations by checker = %v, want DotReuse (no key) first, then key s's by op\n%s", got, r)
	}
	for _, name := range []string{CheckLostWrites, CheckSiblings, CheckSiblingsLWW, CheckDotReuse, CheckStrictReads} {
		if r.Checked[name] == 0 {
			t.Errorf("Checked[%s] = 0", name)
		}
	}
	s := r.String()
	for _, frag := range []string{"4 violation(s)", "LostWrites=", `LostWrites key "s" op 0: acknowledged put "s1"`, `StrictReads key "s" op 2`} {
		if !strings.Contains(s, frag) {
			t.Errorf("report lacks %q:\n%s", frag, s)
		}
	}

	bad := Check(Run{History: []Op{{Index: 0, Kind: Put, Key: "k", Type: OK, Dot: dot(A, 1)}}})
	if bad.OK() || bad.Violations[0].Checker != CheckHistory {
		t.Errorf("Check of a malformed history = %v, want one History violation", bad)
	}
}
