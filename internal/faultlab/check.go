package faultlab

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Tally counts completed operations by outcome.
type Tally struct{ OK, Fail, Info int }

func (t *Tally) add(typ Type) {
	switch typ {
	case OK:
		t.OK++
	case Fail:
		t.Fail++
	case Info:
		t.Info++
	}
}

func (t Tally) String() string { return fmt.Sprintf("%d ok, %d fail, %d info", t.OK, t.Fail, t.Info) }

// Result is what Check found. A run passes when OK says so; the tallies
// show how much the run did, so a run that did nothing is visible.
type Result struct {
	Puts, Gets Tally
	// PutsByW tallies the puts by their w.
	PutsByW map[int]Tally
	// InfoPresent and InfoAbsent count the indeterminate puts whose value
	// the final read has, or lacks; both are allowed.
	InfoPresent, InfoAbsent int
	// Lost are the OK puts whose value the final read lacks.
	Lost []Op
	// Phantoms are Fail puts whose value was read after all.
	Phantoms []Op
	// Unknown lists reads of values no put had been invoked with
	// ("key=value (where)").
	Unknown []string
	// Unread lists keys a put was invoked on that have no final read.
	Unread []string
	// Malformed lists what makes the history itself invalid.
	Malformed []string
}

// OK says whether the history and the final read show no violation.
func (r Result) OK() bool {
	return len(r.Lost)+len(r.Phantoms)+len(r.Unknown)+len(r.Unread)+len(r.Malformed) == 0
}

func (r Result) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "puts: %s; gets: %s; indeterminate puts present %d, absent %d\n", r.Puts, r.Gets, r.InfoPresent, r.InfoAbsent)
	for _, w := range slices.Sorted(maps.Keys(r.PutsByW)) {
		fmt.Fprintf(&s, "  puts with w=%d: %s\n", w, r.PutsByW[w])
	}
	fmt.Fprintf(&s, "lost acknowledged writes: %d, phantom failed writes: %d, unknown values: %d, unread keys: %d, malformed: %d",
		len(r.Lost), len(r.Phantoms), len(r.Unknown), len(r.Unread), len(r.Malformed))
	list := func(what string, items []string) {
		for _, it := range items[:min(len(items), 20)] {
			fmt.Fprintf(&s, "\n  %s: %s", what, it)
		}
		if len(items) > 20 {
			fmt.Fprintf(&s, "\n  ... and %d more", len(items)-20)
		}
	}
	list("lost", opStrings(r.Lost))
	list("phantom", opStrings(r.Phantoms))
	list("unknown", r.Unknown)
	list("unread", r.Unread)
	list("malformed", r.Malformed)
	return s.String()
}

func opStrings(ops []Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.String()
	}
	return out
}

// Check judges a history against the final values of every key (every
// sibling of a read with r=all after the faults stopped; a key read as
// absent maps to an empty list, a key not read is missing from the map).
// It is a pure function. Every put value must be unique: the workload
// writes blind, so no put replaces another, and every acknowledged value
// must still be there.
func Check(history []Op, final map[string][]string) Result {
	c := newChecker()
	for i, op := range history {
		if op.Type == Invoke {
			c.invoke(i, op)
		} else {
			c.complete(i, op)
		}
	}
	c.closeOpen()
	c.checkFinal(final)
	return c.res
}

// checker is Check's state while it walks the history.
type checker struct {
	res Result
	// open maps a process to its invocation not yet completed.
	open map[int]Op
	// invoked maps every put value invoked so far to its key.
	invoked map[string]string
	// puts are the completed puts by key, in history order.
	puts map[string][]Op
	// seen holds every (key, value) an OK get or the final read returned,
	// final those of the final read.
	seen, final map[keyValue]bool
}

type keyValue struct{ key, value string }

func newChecker() *checker {
	return &checker{
		res:     Result{PutsByW: make(map[int]Tally)},
		open:    make(map[int]Op),
		invoked: make(map[string]string),
		puts:    make(map[string][]Op),
		seen:    make(map[keyValue]bool),
		final:   make(map[keyValue]bool),
	}
}

func (c *checker) malformed(i int, format string, args ...any) {
	c.res.Malformed = append(c.res.Malformed, fmt.Sprintf("line %d: ", i+1)+fmt.Sprintf(format, args...))
}

// invoke records an invocation: a process has one operation at a time,
// and a put's value is new.
func (c *checker) invoke(i int, op Op) {
	if prev, ok := c.open[op.Process]; ok {
		c.malformed(i, "process %d invoked %s %s while %s %s was open", op.Process, op.F, op.Key, prev.F, prev.Key)
	}
	c.open[op.Process] = op
	switch op.F {
	case Put:
		if _, dup := c.invoked[op.Value]; dup {
			c.malformed(i, "value %q written twice", op.Value)
			return
		}
		c.invoked[op.Value] = op.Key
	case Get:
	default:
		c.malformed(i, "unknown operation %q", op.F)
	}
}

// complete matches a completion to its process's open invocation and
// files it by outcome.
func (c *checker) complete(i int, op Op) {
	inv, ok := c.open[op.Process]
	switch {
	case !ok:
		c.malformed(i, "process %d completed %s %s with nothing open", op.Process, op.F, op.Key)
		return
	case inv.F != op.F || inv.Key != op.Key || inv.Value != op.Value:
		c.malformed(i, "process %d completed %s %s=%q but invoked %s %s=%q", op.Process, op.F, op.Key, op.Value, inv.F, inv.Key, inv.Value)
		return
	case op.Type != OK && op.Type != Fail && op.Type != Info:
		c.malformed(i, "unknown type %q", op.Type)
		return
	}
	delete(c.open, op.Process)
	switch op.F {
	case Put:
		c.completePut(op)
	case Get:
		c.res.Gets.add(op.Type)
		if op.Type == OK {
			c.read(op.Key, op.Values, fmt.Sprintf("get by process %d at %s", op.Process, op.Time.Format("15:04:05.000")))
		}
	}
}

func (c *checker) completePut(op Op) {
	c.res.Puts.add(op.Type)
	t := c.res.PutsByW[op.W]
	t.add(op.Type)
	c.res.PutsByW[op.W] = t
	c.puts[op.Key] = append(c.puts[op.Key], op)
}

// read records values read from key. Each must have been invoked on that
// key before the read completed: the workload records an invocation
// before sending it, so anything else was invented or misplaced.
func (c *checker) read(key string, values []string, where string) {
	for _, v := range values {
		if k, ok := c.invoked[v]; !ok || k != key {
			c.res.Unknown = append(c.res.Unknown, fmt.Sprintf("%s=%s (%s)", key, v, where))
		}
		c.seen[keyValue{key, v}] = true
	}
}

// closeOpen treats invocations the history never completed as
// indeterminate: the client stopped waiting, the node may have acted.
func (c *checker) closeOpen() {
	for _, p := range slices.Sorted(maps.Keys(c.open)) {
		op := c.open[p]
		op.Type = Info
		op.Error = "never completed"
		c.complete(-1, op)
	}
}

// checkFinal reads the final values, then judges every completed put:
// acknowledged ones must be there, failed ones must never have been read
// (by a get, whenever it ran, or finally).
func (c *checker) checkFinal(final map[string][]string) {
	keys := make(map[string]bool)
	for _, k := range c.invoked {
		keys[k] = true
	}
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		vals, ok := final[key]
		if !ok {
			c.res.Unread = append(c.res.Unread, key)
		} else {
			c.read(key, vals, "final read")
		}
		for _, v := range vals {
			c.final[keyValue{key, v}] = true
		}
		c.judge(key, ok)
	}
}

// judge checks key's completed puts; read says whether the key had a final
// read, without which nothing can be lost or present.
func (c *checker) judge(key string, read bool) {
	for _, op := range c.puts[key] {
		there := c.seen[keyValue{key, op.Value}]
		switch {
		case op.Type == Fail && there:
			c.res.Phantoms = append(c.res.Phantoms, op)
		case !read:
		case op.Type == OK && !c.final[keyValue{key, op.Value}]:
			c.res.Lost = append(c.res.Lost, op)
		case op.Type == Info && c.final[keyValue{key, op.Value}]:
			c.res.InfoPresent++
		case op.Type == Info:
			c.res.InfoAbsent++
		}
	}
}
