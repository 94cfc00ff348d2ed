package faultlab_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tutti-kv/tutti/internal/faultlab"
)

// hist builds histories by hand, stamping each line one millisecond after
// the last.
type hist struct {
	ops []faultlab.Op
	t   time.Time
}

func (h *hist) add(op faultlab.Op) *hist {
	h.t = h.t.Add(time.Millisecond)
	op.Time = h.t
	h.ops = append(h.ops, op)
	return h
}

// put appends an invocation and its completion of typ (nothing when typ
// is Invoke: left open).
func (h *hist) put(process int, key, value string, w int, typ faultlab.Type) *hist {
	op := faultlab.Op{Process: process, F: faultlab.Put, Key: key, Value: value, W: w, DW: 1}
	h.add(withType(op, faultlab.Invoke))
	if typ != faultlab.Invoke {
		h.add(withType(op, typ))
	}
	return h
}

// get appends a get that completed with typ, reading values when OK.
func (h *hist) get(process int, key string, typ faultlab.Type, values ...string) *hist {
	op := faultlab.Op{Process: process, F: faultlab.Get, Key: key, R: 2}
	h.add(withType(op, faultlab.Invoke))
	op.Values = values
	return h.add(withType(op, typ))
}

func withType(op faultlab.Op, typ faultlab.Type) faultlab.Op {
	op.Type = typ
	return op
}

// valid is a correct history: every outcome, siblings on one key, and
// its final read.
func valid() (*hist, map[string][]string) {
	h := &hist{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	h.put(0, "a", "v1", 1, faultlab.OK).
		put(1, "a", "v2", 2, faultlab.OK).
		put(2, "a", "v3", 3, faultlab.Info). // indeterminate, present
		put(3, "a", "v4", 3, faultlab.Info). // indeterminate, absent
		put(4, "b", "v5", 2, faultlab.Fail).
		put(5, "b", "v6", 3, faultlab.OK).
		get(0, "a", faultlab.OK, "v1", "v2").
		get(1, "b", faultlab.OK). // read before v6 arrived: absent
		get(2, "b", faultlab.Info)
	return h, map[string][]string{"a": {"v2", "v1", "v3"}, "b": {"v6"}}
}

func TestCheckAcceptsAValidHistory(t *testing.T) {
	h, final := valid()
	res := faultlab.Check(h.ops, final)
	if !res.OK() {
		t.Fatalf("valid history rejected:\n%s", res)
	}
	want := faultlab.Result{
		Puts:        faultlab.Tally{OK: 3, Fail: 1, Info: 2},
		Gets:        faultlab.Tally{OK: 2, Info: 1},
		InfoPresent: 1,
		InfoAbsent:  1,
	}
	if res.Puts != want.Puts || res.Gets != want.Gets || res.InfoPresent != want.InfoPresent || res.InfoAbsent != want.InfoAbsent {
		t.Errorf("got %s", res)
	}
	if got := res.PutsByW[3]; got != (faultlab.Tally{OK: 1, Info: 2}) {
		t.Errorf("puts with w=3: %s", got)
	}
}

// TestCheckFindsViolations breaks the valid history or its final read in
// each way the checker must notice.
func TestCheckFindsViolations(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(h *hist, final map[string][]string)
		found  func(faultlab.Result) []string
		want   string
	}{
		{
			name:   "acknowledged write missing from the final read",
			mutate: func(_ *hist, final map[string][]string) { final["a"] = []string{"v2", "v3"} },
			found:  func(r faultlab.Result) []string { return opValues(r.Lost) },
			want:   "v1",
		},
		{
			name:   "key read as absent",
			mutate: func(_ *hist, final map[string][]string) { final["b"] = nil },
			found:  func(r faultlab.Result) []string { return opValues(r.Lost) },
			want:   "v6",
		},
		{
			name:   "failed write in the final read",
			mutate: func(_ *hist, final map[string][]string) { final["b"] = []string{"v6", "v5"} },
			found:  func(r faultlab.Result) []string { return opValues(r.Phantoms) },
			want:   "v5",
		},
		{
			name:   "failed write read by a get",
			mutate: func(h *hist, _ map[string][]string) { h.get(3, "b", faultlab.OK, "v5") },
			found:  func(r faultlab.Result) []string { return opValues(r.Phantoms) },
			want:   "v5",
		},
		{
			name: "failed write read before its failure came back",
			mutate: func(h *hist, final map[string][]string) {
				op := faultlab.Op{Process: 9, F: faultlab.Put, Key: "c", Value: "v9", W: 1, DW: 1}
				h.add(withType(op, faultlab.Invoke))
				h.get(3, "c", faultlab.OK, "v9")
				h.add(withType(op, faultlab.Fail))
				final["c"] = nil
			},
			found: func(r faultlab.Result) []string { return opValues(r.Phantoms) },
			want:  "v9",
		},
		{
			name:   "value nobody wrote",
			mutate: func(_ *hist, final map[string][]string) { final["a"] = append(final["a"], "bogus") },
			found:  func(r faultlab.Result) []string { return r.Unknown },
			want:   "a=bogus (final read)",
		},
		{
			name:   "value of another key",
			mutate: func(_ *hist, final map[string][]string) { final["b"] = append(final["b"], "v1") },
			found:  func(r faultlab.Result) []string { return r.Unknown },
			want:   "b=v1 (final read)",
		},
		{
			name: "value read before its put was invoked",
			mutate: func(h *hist, final map[string][]string) {
				h.get(3, "c", faultlab.OK, "v10")
				h.put(4, "c", "v10", 1, faultlab.OK)
				final["c"] = []string{"v10"}
			},
			found: func(r faultlab.Result) []string { return r.Unknown },
			want:  "c=v10 (get by process 3",
		},
		{
			name:   "key never read",
			mutate: func(_ *hist, final map[string][]string) { delete(final, "b") },
			found:  func(r faultlab.Result) []string { return r.Unread },
			want:   "b",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, final := valid()
			tc.mutate(h, final)
			res := faultlab.Check(h.ops, final)
			if res.OK() {
				t.Fatalf("broken history accepted:\n%s", res)
			}
			got := tc.found(res)
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tc.want) }) {
				t.Errorf("want %q reported, got %q\n%s", tc.want, got, res)
			}
		})
	}
}

func opValues(ops []faultlab.Op) []string {
	var vals []string
	for _, op := range ops {
		vals = append(vals, op.Value)
	}
	return vals
}

// TestCheckFindsMalformedHistories feeds histories a correct recorder
// cannot write.
func TestCheckFindsMalformedHistories(t *testing.T) {
	inv := faultlab.Op{Process: 1, Type: faultlab.Invoke, F: faultlab.Put, Key: "a", Value: "v1", W: 1}
	done := withType(inv, faultlab.OK)
	cases := []struct {
		name string
		ops  []faultlab.Op
		want string
	}{
		{"completion without invocation", []faultlab.Op{done}, "with nothing open"},
		{"two invocations open on one process", []faultlab.Op{inv, func() faultlab.Op { o := inv; o.Value = "v2"; return o }()}, "while put a was open"},
		{"completion of another operation", []faultlab.Op{inv, func() faultlab.Op { o := done; o.Value = "v2"; return o }()}, "but invoked"},
		{"value written twice", []faultlab.Op{inv, done, func() faultlab.Op { o := inv; o.Process = 2; return o }()}, "written twice"},
		{"unknown type", []faultlab.Op{inv, withType(inv, "maybe")}, `unknown type "maybe"`},
		{"unknown operation", []faultlab.Op{{Process: 1, Type: faultlab.Invoke, F: "cas", Key: "a"}}, `unknown operation "cas"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := faultlab.Check(tc.ops, map[string][]string{"a": {"v1", "v2"}})
			if res.OK() || !slices.ContainsFunc(res.Malformed, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("want malformed %q, got:\n%s", tc.want, res)
			}
		})
	}
}

// TestCheckOpenInvocationIsIndeterminate: a put the history never
// completed may or may not have happened.
func TestCheckOpenInvocationIsIndeterminate(t *testing.T) {
	h := (&hist{}).put(0, "a", "v1", 1, faultlab.Invoke).put(1, "a", "v2", 1, faultlab.Invoke)
	res := faultlab.Check(h.ops, map[string][]string{"a": {"v2"}})
	if !res.OK() || res.Puts.Info != 2 || res.InfoPresent != 1 || res.InfoAbsent != 1 {
		t.Errorf("got %s", res)
	}
}

// TestCheckDetectsEveryDroppedWrite removes each acknowledged value of a
// recorded history from the final read in turn: every removal is a lost
// write, and nothing else is reported.
func TestCheckDetectsEveryDroppedWrite(t *testing.T) {
	h, final := valid()
	for _, op := range h.ops {
		if op.F != faultlab.Put || op.Type != faultlab.OK {
			continue
		}
		broken := make(map[string][]string)
		for k, v := range final {
			broken[k] = slices.DeleteFunc(slices.Clone(v), func(s string) bool { return s == op.Value })
		}
		res := faultlab.Check(h.ops, broken)
		if len(res.Lost) != 1 || res.Lost[0].Value != op.Value || len(res.Phantoms)+len(res.Unknown)+len(res.Malformed) != 0 {
			t.Errorf("dropping %s: got %s", op.Value, res)
		}
	}
}

func TestReadHistoryRoundTrip(t *testing.T) {
	h, _ := valid()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, op := range h.ops {
		if err := enc.Encode(op); err != nil {
			t.Fatal(err)
		}
	}
	got, err := faultlab.ReadHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(h.ops) {
		t.Fatalf("read %d ops, wrote %d", len(got), len(h.ops))
	}
	for i := range got {
		if !got[i].Time.Equal(h.ops[i].Time) || got[i].Value != h.ops[i].Value || !slices.Equal(got[i].Values, h.ops[i].Values) || got[i].Type != h.ops[i].Type {
			t.Errorf("line %d: read %+v, wrote %+v", i+1, got[i], h.ops[i])
		}
	}
	if keys := faultlab.Keys(got); !slices.Equal(keys, []string{"a", "b"}) {
		t.Errorf("Keys = %v", keys)
	}
	_, err = faultlab.ReadHistory(strings.NewReader(`{"process":1,"type":"invoke"}` + "\n{oops\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("want an error naming line 2, got %v", err)
	}
}

func TestCheckCopies(t *testing.T) {
	history := []faultlab.Op{
		{Type: faultlab.OK, F: faultlab.Put, Key: "k", Value: "a"},
		{Type: faultlab.Info, F: faultlab.Put, Key: "k", Value: "b"},
		{Type: faultlab.OK, F: faultlab.Get, Key: "k"},
	}
	good := map[string][]faultlab.Copy{"k": {{Node: 0, Values: []string{"a", "b"}}, {Node: 1, Values: []string{"a", "b"}}}}
	if bad := faultlab.CheckCopies(history, good); len(bad) != 0 {
		t.Fatalf("equal copies holding every acknowledged put: %v", bad)
	}
	for name, copies := range map[string]map[string][]faultlab.Copy{
		"a replica lacks an acknowledged put": {"k": {{Node: 0, Values: []string{"a"}}, {Node: 1, Values: []string{"b"}}}},
		"copies differ":                       {"k": {{Node: 0, Values: []string{"a", "b"}}, {Node: 1, Values: []string{"a"}}}},
		"a hint is left":                      {"k": {{Node: 0, Values: []string{"a"}}, {Node: 1, Values: []string{"a"}, Hints: 1}}},
	} {
		if bad := faultlab.CheckCopies(history, copies); len(bad) == 0 {
			t.Errorf("%s: not reported", name)
		}
	}
}

// TestCheckCopiesComparesDots: copies with the same values under
// different dots hold different writes.
func TestCheckCopiesComparesDots(t *testing.T) {
	history := []faultlab.Op{{Type: faultlab.OK, F: faultlab.Put, Key: "k", Value: "a"}}
	copies := map[string][]faultlab.Copy{"k": {
		{Node: 0, Values: []string{"a"}, Versions: []string{"1f:3=a"}},
		{Node: 1, Values: []string{"a"}, Versions: []string{"2e:1=a"}},
	}}
	if bad := faultlab.CheckCopies(history, copies); len(bad) != 1 || !strings.Contains(bad[0], "versions") {
		t.Errorf("got %q", bad)
	}
}

func TestCheckOwnedCopies(t *testing.T) {
	history := []faultlab.Op{
		{Type: faultlab.OK, F: faultlab.Put, Key: "k", Value: "a"},
		{Type: faultlab.Info, F: faultlab.Put, Key: "k", Value: "b"},
	}
	owners := map[string][]int{"k": {0, 2}}
	held := faultlab.Copy{Values: []string{"a"}, Versions: []string{"1:1=a"}}
	at := func(node int, c faultlab.Copy) faultlab.Copy { c.Node = node; return c }
	good := map[string][]faultlab.Copy{"k": {at(0, held), at(1, faultlab.Copy{}), at(2, held)}}
	if bad := faultlab.CheckOwnedCopies(history, good, owners); len(bad) != 0 {
		t.Fatalf("the owners hold every acknowledged put, the other node nothing: %v", bad)
	}
	for name, tc := range map[string]struct {
		copies []faultlab.Copy
		want   string
	}{
		"an owner lacks a put":      {[]faultlab.Copy{at(0, held), at(1, faultlab.Copy{}), at(2, faultlab.Copy{})}, "node 2 lacks acknowledged put"},
		"a non-owner holds a copy":  {[]faultlab.Copy{at(0, held), at(1, held), at(2, held)}, "node 1 holds"},
		"a non-owner keeps a hint":  {[]faultlab.Copy{at(0, held), at(1, faultlab.Copy{Hints: 1}), at(2, held)}, "node 1 still keeps 1 hints"},
		"the owners' copies differ": {[]faultlab.Copy{at(0, held), at(1, faultlab.Copy{}), at(2, faultlab.Copy{Values: []string{"a", "b"}, Versions: []string{"1:1=a", "1:2=b"}})}, "node 2 holds"},
	} {
		bad := faultlab.CheckOwnedCopies(history, map[string][]faultlab.Copy{"k": tc.copies}, owners)
		if !slices.ContainsFunc(bad, func(s string) bool { return strings.Contains(s, tc.want) }) {
			t.Errorf("%s: want %q, got %q", name, tc.want, bad)
		}
	}
	// Without owners every node is held to the key.
	if bad := faultlab.CheckOwnedCopies(history, good, nil); len(bad) == 0 {
		t.Error("without owners, a node lacking the key is not reported")
	}
}
