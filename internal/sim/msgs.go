package sim

import (
	"fmt"

	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
)

// key is one simulated key: where the ring puts it, and its name in the
// history ("bucket/key").
type key struct {
	replica.Key
	name string
}

// The messages. Each mirrors a request or answer of the real node: the
// client API (kv.Service), and the peer protocol (api/proto/tutti/v1
// peer.proto: Coordinate, ReplicaRead, ReplicaWrite).

type clientGet struct {
	key key
	q   Quorums
}

type clientWrite struct {
	key     key
	content object.Content
	context string // opaque and signed, as clients see it
	q       Quorums
	op      int
}

type clientResult struct {
	obj     *object.Object // a get's merged object
	context string         // the causal context of the read, or of the write
	err     *kv.Error
}

type coordinateReq struct {
	key     key
	content object.Content
	ctx     object.Causal
	q       Quorums
	op      int
}

type coordinateResp struct {
	ctx        object.Causal
	err        *kv.Error
	notReplica bool
}

type replicaWrite struct {
	key     key
	encoded []byte
	sync    bool
}

type replicaWriteResp struct {
	durable bool
	err     string
}

type replicaRead struct{ key key }

type replicaReadResp struct {
	encoded []byte
	err     string
}

// refused answers a request that reached no listener: the sender knows it
// was not delivered (transport.ErrNotSent).
type refused struct{}

// connLost tells a client that the node its request went to stopped before
// answering: the connection broke, and the request may have been applied.
type connLost struct{}

func (clientResult) isReply()     {}
func (connLost) isReply()         {}
func (coordinateResp) isReply()   {}
func (replicaWriteResp) isReply() {}
func (replicaReadResp) isReply()  {}
func (refused) isReply()          {}

func (replicaWrite) duplicable()     {}
func (replicaWriteResp) duplicable() {}
func (replicaRead) duplicable()      {}
func (replicaReadResp) duplicable()  {}

func (m clientGet) String() string { return fmt.Sprintf("get %s %s", m.key.name, m.q) }
func (m clientWrite) String() string {
	return fmt.Sprintf("%s %s context=%q %s op=%d", contentString(m.content), m.key.name, m.context, m.q, m.op)
}
func (m clientResult) String() string {
	switch {
	case m.err != nil:
		return "error: " + m.err.Error()
	case m.obj == nil:
		return fmt.Sprintf("ok context=%q", m.context)
	}
	return "ok " + objectString(m.obj)
}
func (m coordinateReq) String() string {
	return fmt.Sprintf("coordinate %s %s ctx=%v@%v %s op=%d", contentString(m.content), m.key.name, m.ctx.VV, m.ctx.Latest, m.q, m.op)
}
func (m coordinateResp) String() string {
	switch {
	case m.notReplica:
		return "not a replica"
	case m.err != nil:
		return "error: " + m.err.Error()
	}
	return fmt.Sprintf("ok ctx=%v@%v", m.ctx.VV, m.ctx.Latest)
}
func (m replicaWrite) String() string {
	obj, _ := object.Decode(m.encoded)
	return fmt.Sprintf("write %s%s sync=%v %s", m.key.name, hintNote(m.key), m.sync, objectString(obj))
}
func (m replicaWriteResp) String() string {
	if m.err != "" {
		return "write error: " + m.err
	}
	return fmt.Sprintf("write ok durable=%v", m.durable)
}
func (m replicaRead) String() string { return "read " + m.key.name + hintNote(m.key) }

func hintNote(k key) string {
	if k.HintFor == "" {
		return ""
	}
	return " (hint for " + k.HintFor + ")"
}
func (m replicaReadResp) String() string {
	if m.err != "" {
		return "read error: " + m.err
	}
	obj, _ := object.Decode(m.encoded)
	return "read ok " + objectString(obj)
}
func (refused) String() string  { return "connection refused" }
func (connLost) String() string { return "connection lost" }

func (q Quorums) String() string {
	return fmt.Sprintf("r=%d w=%d dw=%d pr=%d pw=%d", q.R, q.W, q.DW, q.PR, q.PW)
}

func contentString(c object.Content) string {
	if c.Deleted {
		return "delete"
	}
	return fmt.Sprintf("put %q", c.Value)
}

// objectString shows an object's versions: dot, value or tombstone, HLC.
func objectString(o *object.Object) string {
	if o == nil {
		return "{}"
	}
	s := fmt.Sprintf("{ctx=%v", o.Context)
	for _, e := range o.Entries {
		v := fmt.Sprintf("%q", e.Value.Value)
		if e.Value.Deleted {
			v = "tombstone"
		}
		s += fmt.Sprintf(" %x:%d=%s@%v", e.Dot.Actor, e.Dot.Counter, v, e.Value.Modified)
	}
	return s + "}"
}

// kvErr converts a coordinator error to the kv error a client would see.
func kvErr(err error) *kv.Error {
	if err == nil {
		return nil
	}
	return kv.AsError(err)
}
