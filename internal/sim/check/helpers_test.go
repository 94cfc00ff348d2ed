package check

import (
	"strings"
	"testing"

	"github.com/tutti-kv/tutti/internal/dvv"
)

// Actors of the scenarios: nodes A, B and C.
const (
	A uint64 = 0xa
	B uint64 = 0xb
	C uint64 = 0xc
)

func dot(actor, counter uint64) dvv.Dot { return dvv.Dot{Actor: actor, Counter: counter} }

// vv builds a version vector holding the given dots.
func vv(dots ...dvv.Dot) dvv.VV {
	var v dvv.VV
	for _, d := range dots {
		v = v.Add(d)
	}
	return v
}

// history builds a history one operation at a time; each operation takes
// the next two ticks of virtual time unless its times are set afterwards.
type history struct {
	ops []Op
	now int64
}

func (h *history) add(o Op) *Op {
	o.Index = len(h.ops)
	o.Start, o.End = h.now, h.now+1
	h.now += 2
	h.ops = append(h.ops, o)
	return &h.ops[len(h.ops)-1]
}

// put records a put of value to key with dot d, sending context ctx.
func (h *history) put(key, value string, d dvv.Dot, ctx dvv.VV, t Type) *Op {
	return h.add(Op{Kind: Put, Key: key, Value: value, Dot: d, Context: ctx, Type: t})
}

// del records a delete of key with dot d, sending context ctx.
func (h *history) del(key string, d dvv.Dot, ctx dvv.VV, t Type) *Op {
	return h.add(Op{Kind: Delete, Key: key, Dot: d, Context: ctx, Type: t})
}

// get records a successful read of key returning ctx and siblings.
func (h *history) get(key string, ctx dvv.VV, siblings ...string) *Op {
	return h.add(Op{Kind: Get, Key: key, Type: OK, ReadContext: ctx, Siblings: siblings})
}

// obj is a converged object: its context and its live values with dots,
// given as alternating value, dot pairs.
func obj(ctx dvv.VV, pairs ...any) Final {
	f := Final{Context: ctx, Live: map[string]dvv.Dot{}}
	for i := 0; i < len(pairs); i += 2 {
		f.Live[pairs[i].(string)] = pairs[i+1].(dvv.Dot)
	}
	return f
}

// expect checks that vs is empty when want is, and otherwise that every
// wanted fragment occurs in some violation.
func expect(t *testing.T, vs []Violation, want ...string) {
	t.Helper()
	if len(want) == 0 {
		for _, v := range vs {
			t.Errorf("unexpected violation: %v", v)
		}
		return
	}
	if len(vs) == 0 {
		t.Fatalf("no violation, want one mentioning %q", want)
	}
	for _, w := range want {
		found := false
		for _, v := range vs {
			found = found || strings.Contains(v.String(), w)
		}
		if !found {
			t.Errorf("no violation mentions %q; got:\n%s", w, Report{Violations: vs})
		}
	}
}
