// Package coordinator holds the decision logic of coordinating one read or
// one write across a key's replicas: who is asked, which replies count, when
// the request is answered and with what. It is pure: the caller sends the
// messages, feeds replies and deadline expiry in whatever order they come,
// and asks Done after each (Dynamo sections 4.5 and 5; Riak's get and put
// FSMs). The same code runs under the real driver (internal/node) and the
// deterministic simulator.
package coordinator

import (
	"fmt"
	"slices"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/quorum"
	"github.com/tutti-kv/tutti/internal/ring"
)

// Target is one replica a request goes to.
type Target struct {
	Node string
	// Primary is true for a primary owner of the key's partition.
	Primary bool
	// HintFor names, for a substitute (a sloppy quorum's stand-in), the
	// unreachable owner whose replica it keeps as a hint; "" for a primary.
	HintFor string
}

// Primaries are the owners of a partition as targets, for a strict quorum.
func Primaries(owners []string) []Target {
	ts := make([]Target, len(owners))
	for i, id := range owners {
		ts[i] = Target{Node: id, Primary: true}
	}
	return ts
}

// Sloppy are the targets of a sloppy quorum: the ring's choice of
// reachable owners and substitutes (ring.Targets).
func Sloppy(targets []ring.Target) []Target {
	ts := make([]Target, len(targets))
	for i, t := range targets {
		ts[i] = Target{Node: t.Node, Primary: t.Primary()}
		if !t.Primary() {
			ts[i].HintFor = t.Owner
		}
	}
	return ts
}

// Find returns the target on node, if any.
func Find(ts []Target, node string) (Target, bool) {
	for _, t := range ts {
		if t.Node == node {
			return t, true
		}
	}
	return Target{}, false
}

func primaries(ts []Target) int {
	n := 0
	for _, t := range ts {
		if t.Primary {
			n++
		}
	}
	return n
}

// Read coordinates one quorum read: ask every target, answer once R replies
// (PR of them from primaries) arrived, with the merge of every copy seen.
type Read struct {
	targets []Target
	tally   *quorum.Read
	policy  object.Policy
	merged  *object.Object
	// copies holds each answered target's copy (nil: not found), for read
	// repair; failed the targets that will not answer.
	copies map[string]*object.Object
	failed map[string]bool
}

// NewRead starts a read over targets needing r replies, pr from primaries.
func NewRead(targets []Target, r, pr int, policy object.Policy) *Read {
	return &Read{
		targets: targets,
		tally:   quorum.NewRead(len(targets), primaries(targets), r, pr),
		policy:  policy,
		copies:  make(map[string]*object.Object, len(targets)),
		failed:  make(map[string]bool, len(targets)),
	}
}

// Targets lists the replicas to ask.
func (g *Read) Targets() []Target { return g.targets }

func (g *Read) target(node string) (Target, bool) { return Find(g.targets, node) }

// Start begins the read on node self: every target that alive reports
// down fails at once, and the rest are returned, self excluded, to be
// asked. local reports whether self is a target too, whose copy the caller
// then reads and passes to Reply.
func (g *Read) Start(self string, alive func(string) bool) (ask []Target, local bool) {
	for _, t := range g.targets {
		switch {
		case t.Node == self:
			local = true
		case !alive(t.Node):
			g.Fail(t.Node)
		default:
			ask = append(ask, t)
		}
	}
	return ask, local
}

// Reply records node's copy (nil when it has none). Replies from nodes that
// are not targets, and second replies, are ignored.
func (g *Read) Reply(node string, obj *object.Object) {
	t, ok := g.target(node)
	if _, seen := g.copies[node]; !ok || seen {
		return
	}
	g.copies[node] = obj
	g.tally.Reply(t.Primary)
	if obj == nil {
		return
	}
	if g.merged == nil {
		g.merged = obj
		return
	}
	g.merged, _ = object.Merge(g.merged, obj, g.policy)
}

// Fail records that node failed or will not answer.
func (g *Read) Fail(node string) {
	t, ok := g.target(node)
	if _, seen := g.copies[node]; !ok || seen {
		return
	}
	g.copies[node] = nil
	g.failed[node] = true
	g.tally.Fail(t.Primary)
}

// Complete reports whether every target answered or failed: nothing more
// will change the merge.
func (g *Read) Complete() bool { return len(g.copies) == len(g.targets) }

// Stale returns, for read repair, the primary targets that answered with a
// copy missing or different from the merge of every copy received, and the
// merge to send them. Substitutes are never repaired: a hint is not a
// replica (Riak's read_repair_primaryonly). Call it once Complete, or at the
// deadline with what arrived.
func (g *Read) Stale() ([]Target, *object.Object) {
	if g.merged == nil {
		return nil, nil
	}
	var stale []Target
	for _, t := range g.targets {
		c, answered := g.copies[t.Node]
		if !t.Primary || !answered || g.failed[t.Node] {
			continue
		}
		if c == nil || !sameVersions(c, g.merged) {
			stale = append(stale, t)
		}
	}
	return stale, g.merged
}

// sameVersions reports whether a and b hold the same versions: equal
// contexts and equal dots. A dot names one write, so equal dots mean equal
// contents; this spares every read encoding and hashing its copies.
func sameVersions(a, b *object.Object) bool {
	return a.Context.Equal(b.Context) &&
		slices.EqualFunc(a.Entries, b.Entries, func(x, y object.Entry) bool { return x.Dot == y.Dot })
}

// Done reports whether the read is answered (successfully or not).
func (g *Read) Done() bool { return g.tally.Done() }

// Result is the read's answer once Done: the merged object (nil when no
// replica had the key) or the unmet quorum.
func (g *Read) Result() (*object.Object, error) {
	if need, failed := g.tally.Failed(); failed && !g.tally.Succeeded() {
		return nil, quorumError("read quorum not met: too few replicas answered", need)
	}
	return g.merged, nil
}

// Expire is the answer when the deadline passes before Done.
func (g *Read) Expire() error {
	return quorumError("timeout: too few replicas answered in time", g.tally.Shortfall())
}

// Write coordinates the replication of one new object version: the
// coordinator stored it locally, the other targets merge it, and the write
// is acknowledged once W stored it (DW of them durably, PW primaries).
type Write struct {
	targets []Target
	tally   *quorum.Write
	seen    map[string]bool
}

// NewWrite starts a write over targets (the coordinator included).
func NewWrite(targets []Target, w, dw, pw int) *Write {
	return &Write{
		targets: targets,
		tally:   quorum.NewWrite(len(targets), primaries(targets), w, dw, pw),
		seen:    make(map[string]bool, len(targets)),
	}
}

// Targets lists the replicas the write goes to.
func (p *Write) Targets() []Target { return p.targets }

func (p *Write) target(node string) (Target, bool) { return Find(p.targets, node) }

// Start begins the write on node self, which stored the new version
// (durably or not) and so acknowledges it: every other target that alive
// reports down fails at once, and the rest are returned, to be sent the
// version. All of them get it, not only the first W, so that every replica
// converges.
func (p *Write) Start(self string, durable bool, alive func(string) bool) (send []Target) {
	p.Ack(self, durable)
	for _, t := range p.targets {
		switch {
		case t.Node == self:
		case !alive(t.Node):
			p.Fail(t.Node)
		default:
			send = append(send, t)
		}
	}
	return send
}

// Ack records that node stored the object, durably or not.
func (p *Write) Ack(node string, durable bool) {
	t, ok := p.target(node)
	if !ok || p.seen[node] {
		return
	}
	p.seen[node] = true
	p.tally.Ack(t.Primary, durable)
}

// Fail records that node failed or will not answer.
func (p *Write) Fail(node string) {
	t, ok := p.target(node)
	if !ok || p.seen[node] {
		return
	}
	p.seen[node] = true
	p.tally.Fail(t.Primary)
}

// Done reports whether the write's outcome is known.
func (p *Write) Done() bool { return p.tally.Done() }

// Result is nil once the write succeeded, or the unmet quorum.
func (p *Write) Result() error {
	if p.tally.Succeeded() {
		return nil
	}
	need, _ := p.tally.Failed()
	return quorumError("write quorum not met: too few replicas acknowledged", need)
}

// Expire is the answer when the deadline passes before Done.
func (p *Write) Expire() error {
	return quorumError("timeout: too few replicas acknowledged in time", p.tally.Shortfall())
}

func quorumError(reason string, need quorum.Need) error {
	return kv.QuorumError(reason+" ("+need.What+")", need.Needed, need.Answered)
}

// Forward picks, for a node that is not a replica of a key, the replica
// to hand a write to: the owners in preference order, skipping those
// reported down. The caller moves to the next only when a request
// certainly was not delivered (refused, or the node says it is not a
// replica): a delivered write retried elsewhere could be stored twice.
type Forward struct {
	owners  []string
	next    int
	tried   int
	current string
}

// NewForward starts a forward over a key's owners, in preference order (or
// over a sloppy quorum's target nodes, owners first).
func NewForward(owners []string) *Forward { return &Forward{owners: owners} }

// Next returns the next owner to try, or false when none is left.
func (f *Forward) Next(alive func(string) bool) (string, bool) {
	for f.next < len(f.owners) {
		o := f.owners[f.next]
		f.next++
		if alive(o) {
			f.tried++
			f.current = o
			return o, true
		}
	}
	f.current = ""
	return "", false
}

// Current is the owner the last Next returned ("" before the first and
// after the owners ran out).
func (f *Forward) Current() string { return f.current }

// Exhausted is the answer when Next found no owner to try.
func (f *Forward) Exhausted() error {
	return kv.QuorumError(fmt.Sprintf("no replica of the key could be reached (%d tried)", f.tried), 1, 0)
}
