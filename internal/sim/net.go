package sim

import (
	"fmt"
	"strings"
)

// message is one message between two endpoints: nodes (n1...) or clients
// (c1...). id ties a reply to its request.
type message struct {
	from, to string
	id       uint64
	body     any
}

// reply is implemented by bodies that answer a request.
type reply interface{ isReply() }

// duplicable is implemented by bodies a duplicate of which is harmless to
// deliver and realistic to expect: replica reads and writes, and their
// replies. Coordinate requests and client requests are not duplicated:
// they travel over gRPC streams (TCP), which deliver each call once or
// fail it, and the transport retries only calls it did not send.
type duplicable interface{ duplicable() }

// network delivers messages between endpoints after a random delay, so
// messages reorder; it drops and duplicates node-to-node messages at the
// configured rates while faults are on, and cuts links (one-way or both)
// for partitions. Client links are never cut or lossy: clients stand for
// applications next to the node they call.
type network struct {
	w   *World
	cut map[[2]string]bool // from, to: messages are lost
}

func newNetwork(w *World) *network { return &network{w: w, cut: map[[2]string]bool{}} }

func isNode(endpoint string) bool { return strings.HasPrefix(endpoint, "n") }

func (nw *network) send(m message) {
	w := nw.w
	between := isNode(m.from) && isNode(m.to)
	desc := describe(m.body)
	w.stats.Messages++
	switch {
	case between && nw.cut[[2]string{m.from, m.to}]:
		w.tracef("net %s -> %s #%d %s: cut", m.from, m.to, m.id, desc)
		w.stats.Cut++
		nw.lost(m)
		return
	case between && w.faulty && w.chance(w.opts.Drop):
		w.tracef("net %s -> %s #%d %s: dropped", m.from, m.to, m.id, desc)
		w.stats.Dropped++
		nw.lost(m)
		return
	}
	copies := 1
	if _, ok := m.body.(duplicable); ok && between && w.faulty && w.chance(w.opts.Dup) {
		copies = 2
		w.stats.Duplicated++
	}
	for c := range copies {
		d := w.duration(w.opts.MinDelay, w.opts.MaxDelay)
		if c == 1 {
			w.tracef("net %s -> %s #%d %s: duplicated", m.from, m.to, m.id, desc)
		}
		w.after(d, func() { nw.deliver(m) })
	}
}

// lost notes a message that will never arrive.
func (nw *network) lost(m message) {
	if wr, ok := m.body.(replicaWrite); ok {
		nw.w.disturb(wr.key.name, "a replica write was lost")
	}
}

func (nw *network) deliver(m message) {
	w := nw.w
	if isNode(m.to) {
		n := w.byID[m.to]
		if !n.up {
			w.tracef("net %s -> %s #%d %s: %s is down", m.from, m.to, m.id, describe(m.body), m.to)
			nw.lost(m)
			if _, isReply := m.body.(reply); !isReply {
				// Nothing listens: the sender's connection is refused, so it
				// knows the request was not delivered.
				w.stats.Refused++
				nw.send(message{from: m.to, to: m.from, id: m.id, body: refused{}})
			}
			return
		}
		w.tracef("recv %s <- %s #%d %s", m.to, m.from, m.id, describe(m.body))
		n.receive(m)
		return
	}
	w.tracef("recv %s <- %s #%d %s", m.to, m.from, m.id, describe(m.body))
	w.clients[clientIndex(m.to)].receive(m)
}

// partition cuts the links from every node of a to every node of b, and
// back unless oneWay.
func (nw *network) partition(a, b []string, oneWay bool) {
	for _, x := range a {
		for _, y := range b {
			nw.cut[[2]string{x, y}] = true
			if !oneWay {
				nw.cut[[2]string{y, x}] = true
			}
		}
	}
	dir := "<->"
	nw.w.stats.Partitions++
	if oneWay {
		dir = "->"
		nw.w.stats.OneWay++
	}
	nw.w.tracef("fault partition %v %s %v", a, dir, b)
}

// heal restores every link.
func (nw *network) heal() {
	if len(nw.cut) == 0 {
		return
	}
	clear(nw.cut)
	nw.w.tracef("fault heal all links")
}

// linked reports whether a and b can talk both ways.
func (nw *network) linked(a, b string) bool {
	return !nw.cut[[2]string{a, b}] && !nw.cut[[2]string{b, a}]
}

func describe(body any) string {
	if s, ok := body.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", body)
}
