package sim

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/sim/check"
)

// client is one application issuing operations one at a time to a random
// node and recording them in the history.
type client struct {
	w      *World
	name   string
	strict bool
	// ctx is the last causal context the client saw per key (opaque, as
	// the API hands it out), which it may send with its next write, as a
	// Riak application would.
	ctx map[string]string
	seq int
	// op is the history index of the operation in flight (-1: none), id
	// the request id of its latest send, node where that went, body what
	// was sent and sends how many times.
	op    int
	id    uint64
	node  string
	body  any
	sends int
	// delivered says a send of the operation reached a node, so a failed
	// operation may still have been applied.
	delivered bool
	// done is called when the operation in flight completes.
	done func(check.Op)
}

func clientIndex(name string) int {
	i, _ := strconv.Atoi(name[1:])
	return i - 1
}

func (w *World) addClient(strict bool) *client {
	c := &client{w: w, name: fmt.Sprintf("c%d", len(w.clients)+1), strict: strict, ctx: map[string]string{}, op: -1}
	w.clients = append(w.clients, c)
	return c
}

// Request is one client operation, for scripted scenarios and the
// workload alike.
type Request struct {
	Kind check.Kind
	// Bucket is "s" (siblings) or "l" (last-write-wins).
	Bucket, Key string
	// Value of a put; generated when empty.
	Value string
	// Context sent with a write, as a read or write answered it; empty
	// sends none.
	Context string
	Node    string // the node the client calls
	Quorums Quorums
}

// invoke sends r and records it in the history; done gets the completed
// operation.
func (c *client) invoke(r Request, done func(check.Op)) {
	w := c.w
	k := w.key(r.Bucket, r.Key)
	o := check.Op{
		Index: len(w.history), Client: clientIndex(c.name), Kind: r.Kind, Key: k.name, Start: w.now,
		W: r.Quorums.W, DW: r.Quorums.DW, Replicas: w.ring.Owners(k.Partition),
		Strict: r.Quorums.PR+r.Quorums.PW > w.opts.N && c.strict,
	}
	if w.opts.Sloppy {
		o.Replicas = nil // substitutes may hold the write too
	}
	if r.Kind != check.Get {
		// The history holds what the context means; the client only ever
		// handles its opaque form.
		seen, err := object.DecodeContext(r.Context, w.contextKey)
		if err != nil {
			panic(fmt.Sprintf("sim: a client holds a context the cluster did not sign: %v", err))
		}
		o.Context = seen.VV
	} else {
		o.W, o.DW = 0, 0
	}
	var body any
	switch r.Kind {
	case check.Get:
		body = clientGet{key: k, q: r.Quorums}
	case check.Put:
		if r.Value == "" {
			c.seq++
			r.Value = fmt.Sprintf("%s-%d", c.name, c.seq)
		}
		o.Value = r.Value
		body = clientWrite{key: k, content: object.Content{Value: []byte(r.Value), ContentType: "text/plain", WriteID: c.writeID(o.Index)}, context: r.Context, q: r.Quorums, op: o.Index}
	case check.Delete:
		body = clientWrite{key: k, content: object.Content{Deleted: true, WriteID: c.writeID(o.Index)}, context: r.Context, q: r.Quorums, op: o.Index}
	}
	w.history = append(w.history, o)
	c.op, c.done, c.body, c.sends, c.delivered = o.Index, done, body, 0, false
	w.tracef("invoke %s op %d -> %s: %s", c.name, o.Index, r.Node, describe(body))
	c.send(r.Node)
	op := c.op
	// The client gives up once every hop has had its timeout: an answer may
	// still be on its way, so the outcome is unknown.
	w.after(c.patience(r.Quorums), func() {
		if c.op == op {
			c.complete(check.Info, nil)
		}
	})
}

// writeID is the idempotency key of the write op, when clients give them.
func (c *client) writeID(op int) string {
	if !c.w.opts.Retry {
		return ""
	}
	return fmt.Sprintf("%s-w%d", c.name, op)
}

func (c *client) send(node string) {
	c.id, c.node = c.w.requestID(), node
	c.sends++
	c.w.net.send(message{from: c.name, to: node, id: c.id, body: c.body})
}

// resend sends the operation in flight again, to another node, as package
// client does when a node refused the request or died before answering.
// It reports false when clients do not resend or every node was tried.
func (c *client) resend() bool {
	w := c.w
	if !w.opts.Retry || c.sends >= len(w.nodes) {
		return false
	}
	next := w.nodes[w.rng.IntN(len(w.nodes))].id
	for next == c.node {
		next = w.nodes[w.rng.IntN(len(w.nodes))].id
	}
	w.tracef("resend %s op %d -> %s", c.name, c.op, next)
	w.resent[c.op] = true
	w.stats.Resends++
	c.send(next)
	return true
}

// nodeStopped breaks the connection of a request in flight to node.
func (c *client) nodeStopped(node string) {
	if c.op >= 0 && c.node == node {
		c.w.net.send(message{from: node, to: c.name, id: c.id, body: connLost{}})
	}
}

func (c *client) patience(q Quorums) time.Duration {
	return 2*c.w.timeout(q) + 6*c.w.opts.MaxDelay + time.Millisecond
}

func (c *client) receive(m message) {
	if m.id != c.id || c.op < 0 {
		return // a late answer to an operation already given up
	}
	switch b := m.body.(type) {
	case refused:
		// The node was down: the request reached no one.
		if !c.resend() {
			if c.delivered {
				c.complete(check.Info, nil)
			} else {
				c.complete(check.Fail, nil)
			}
		}
	case connLost:
		// The node stopped with the request: it may have been applied.
		c.delivered = true
		if !c.resend() {
			c.complete(check.Info, nil)
		}
	case clientResult:
		switch {
		case b.err == nil:
			c.complete(check.OK, &b)
		case b.err.Kind == kv.BadRequest:
			c.complete(check.Fail, nil)
		default:
			// A write that missed its quorum may have been stored on some
			// replicas: unknown.
			c.complete(check.Info, nil)
		}
	}
}

func (c *client) complete(t check.Type, res *clientResult) {
	w := c.w
	o := &w.history[c.op]
	o.End, o.Type = w.now, t
	if t == check.OK {
		switch o.Kind {
		case check.Get:
			if obj := res.obj; obj != nil && !obj.Empty() {
				o.ReadContext = slices.Clone(obj.Context)
				o.Deleted = obj.IsDeleted()
				for _, e := range obj.Live() {
					o.Siblings = append(o.Siblings, string(e.Value.Value))
				}
				c.ctx[o.Key] = res.context
			} else {
				delete(c.ctx, o.Key)
			}
		default:
			c.ctx[o.Key] = res.context
		}
	}
	w.tracef("complete %s op %d %s %s", c.name, o.Index, o.Kind, t)
	c.op = -1
	if c.done != nil {
		c.done(*o)
	}
}

// work runs the client's share of the swarm workload until the safety
// phase ends.
func (c *client) work() {
	w := c.w
	if w.phase != phaseSafety {
		return
	}
	o := w.opts
	bucket := "s"
	if w.chance(o.LWWShare) {
		bucket = "l"
	}
	keyName := fmt.Sprintf("k%d", w.rng.IntN(o.Keys))
	k := w.key(bucket, keyName)
	r := Request{Bucket: bucket, Key: keyName, Node: w.nodes[w.rng.IntN(len(w.nodes))].id}
	r.Quorums = o.Quorums[w.rng.IntN(len(o.Quorums))]
	if c.strict {
		m := o.N/2 + 1
		r.Quorums.PR, r.Quorums.PW = m, m
		r.Quorums.R, r.Quorums.W = max(r.Quorums.R, m), max(r.Quorums.W, m)
	}
	ctx, hasCtx := c.ctx[k.name]
	switch x := w.rng.Float64(); {
	case x < o.GetShare:
		r.Kind = check.Get
	case x < o.GetShare+o.DeleteShare && hasCtx:
		r.Kind, r.Context = check.Delete, ctx
	default:
		r.Kind = check.Put
		if hasCtx && w.chance(o.ContextShare) {
			r.Context = ctx
		}
	}
	c.invoke(r, func(check.Op) {
		w.after(w.duration(0, o.Think), c.work)
	})
}
