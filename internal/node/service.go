package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tutti-kv/tutti/internal/coordinator"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/ring"
)

var _ kv.Service = (*Node)(nil)

// resolved are a request's knobs as counts, after bucket defaults.
type resolved struct {
	r, w, dw, pr, pw int
	timeout          time.Duration
	policy           object.Policy
	sloppy           bool
}

func (n *Node) resolve(bucket []byte, o kv.Options) (resolved, error) {
	props := n.bucketProps(bucket)
	var res resolved
	var err error
	fields := []struct {
		name string
		dst  *int
		q    kv.Quorum
		def  kv.Quorum
	}{
		{"r", &res.r, o.R, props.R},
		{"w", &res.w, o.W, props.W},
		{"dw", &res.dw, o.DW, props.DW},
		{"pr", &res.pr, o.PR, props.PR},
		{"pw", &res.pw, o.PW, props.PW},
	}
	for _, f := range fields {
		if *f.dst, err = f.q.Resolve(n.cfg.N, f.def); err != nil {
			return res, kv.Errorf(kv.BadRequest, "%s: %v", f.name, err)
		}
	}
	if res.r < 1 || res.w < 1 {
		return res, kv.Errorf(kv.BadRequest, "r and w must be at least 1")
	}
	res.timeout = n.cfg.Timeout
	if o.Timeout < 0 {
		return res, kv.Errorf(kv.BadRequest, "timeout must not be negative")
	}
	if o.Timeout > 0 {
		res.timeout = o.Timeout
	}
	res.policy = policyOf(props)
	res.sloppy = props.Sloppy
	return res, nil
}

func policyOf(p kv.Props) object.Policy {
	if p.Conflict == kv.LWW {
		return object.LWW
	}
	return object.Siblings
}

func (n *Node) checkNames(bucket, key []byte) error {
	lim := n.cfg.Limits
	switch {
	case len(bucket) == 0:
		return kv.Errorf(kv.BadRequest, "bucket must not be empty")
	case len(bucket) > lim.MaxBucketBytes:
		return kv.Errorf(kv.NameTooLong, "bucket is %d bytes, the limit is %d", len(bucket), lim.MaxBucketBytes)
	case key == nil:
		return nil
	case len(key) == 0:
		return kv.Errorf(kv.BadRequest, "key must not be empty")
	case len(key) > lim.MaxKeyBytes:
		return kv.Errorf(kv.NameTooLong, "key is %d bytes, the limit is %d", len(key), lim.MaxKeyBytes)
	}
	return nil
}

// place locates a key: where the ring puts it, and its hash (for the key
// lock).
type place struct {
	replica.Key
	hash uint64
}

// at is pl as stored on target t: the node's own copy, or the hint a
// substitute keeps for the owner it stands in for.
func (pl place) at(t coordinator.Target) place {
	pl.Key.HintFor = t.HintFor
	return pl
}

func (st *ringState) place(bucket, key []byte) place {
	h := ring.KeyHash(bucket, key)
	return place{Key: replica.Key{Bucket: bucket, Key: key, Partition: st.ring.Partition(h), Segment: st.ring.Segment(h)}, hash: h}
}

// Get reads a key with a quorum read.
func (n *Node) Get(ctx context.Context, req *kv.GetRequest) (*kv.GetResult, error) {
	if err := n.checkNames(req.Bucket, req.Key); err != nil {
		return nil, err
	}
	opts, err := n.resolve(req.Bucket, req.Options)
	if err != nil {
		return nil, err
	}
	st, err := n.serving()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	obj, err := n.quorumRead(ctx, st, st.place(req.Bucket, req.Key), opts, req.RepairSync)
	if err != nil {
		return nil, err
	}
	return n.getResult(obj), nil
}

func (n *Node) getResult(obj *object.Object) *kv.GetResult {
	if obj == nil || obj.Empty() {
		return &kv.GetResult{}
	}
	res := &kv.GetResult{Context: object.EncodeContext(object.CausalOf(obj), n.ctxKey)}
	if obj.IsDeleted() {
		res.Deleted = true
		return res
	}
	res.Found = true
	for _, e := range obj.Live() {
		res.Siblings = append(res.Siblings, kv.Sibling{
			Value:        e.Value.Value,
			ContentType:  e.Value.ContentType,
			LastModified: time.Unix(0, e.Value.Modified.Wall).UTC(),
		})
	}
	return res
}

// quorumRead asks every replica of the key and answers once R replied, with
// the merge of their copies. The read then stays open, off the client's
// latency, for the remaining replies, and repairs the replicas it found
// stale (read repair; never substitutes). With repairSync the read answers
// only after the repair, within the request's deadline.
func (n *Node) quorumRead(ctx context.Context, st *ringState, pl place, opts resolved, repairSync bool) (*object.Object, error) {
	read := coordinator.NewRead(st.targets(pl.Partition, opts.sloppy), opts.r, opts.pr, opts.policy)
	type reply struct {
		node string
		obj  *object.Object
		err  error
	}
	replies := make(chan reply, len(read.Targets()))
	// The remote reads outlive the request, which returns at the quorum;
	// they keep its deadline.
	readCtx, cancelReads := context.WithTimeout(context.WithoutCancel(ctx), opts.timeout)
	ask, local := read.Start(n.cfg.ID, st.isAlive)
	for _, t := range ask {
		go func(node, addr string, at place) {
			obj, err := n.remoteRead(readCtx, addr, at)
			replies <- reply{node, obj, err}
		}(t.Node, st.addr(t.Node), pl.at(t))
	}
	if local {
		// A substitute's "copy" is its hint.
		self, _ := coordinator.Find(read.Targets(), n.cfg.ID)
		obj, _, err := n.readLocal(pl.at(self))
		if err != nil {
			n.log.Error("local read failed", "err", err)
			read.Fail(n.cfg.ID)
		} else {
			read.Reply(n.cfg.ID, obj)
		}
	}
	collect := func(r reply) {
		if r.err != nil {
			read.Fail(r.node)
		} else {
			read.Reply(r.node, r.obj)
		}
	}
	// A synchronous repair keeps the request's deadline; an asynchronous
	// one gets the node's default timeout of its own.
	repairCtx := func() context.Context {
		if repairSync {
			return ctx
		}
		return context.Background()
	}
	drainAndRepair := func() {
		defer cancelReads()
		for !read.Complete() {
			select {
			case r := <-replies:
				collect(r)
			case <-readCtx.Done():
				n.repair(repairCtx(), st, pl, read)
				return
			}
		}
		n.repair(repairCtx(), st, pl, read)
	}
	finish := func() {
		if repairSync {
			drainAndRepair()
			return
		}
		// Only that goroutine touches read from here on.
		go drainAndRepair()
	}
	for !read.Done() {
		select {
		case r := <-replies:
			collect(r)
		case <-ctx.Done():
			err := read.Expire()
			finish()
			return nil, err
		}
	}
	obj, err := read.Result()
	finish()
	return obj, err
}

// repair sends the merge of a read's copies to the primaries whose copy was
// missing or behind.
func (n *Node) repair(ctx context.Context, st *ringState, pl place, read *coordinator.Read) {
	stale, merged := read.Stale()
	if len(stale) == 0 {
		return
	}
	encoded := object.Encode(merged)
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	for _, t := range stale {
		n.extra.readRepairs.Inc()
		var err error
		if t.Node == n.cfg.ID {
			_, err = n.applyReplica(pl, encoded, false)
		} else {
			_, err = n.remoteWrite(ctx, st.addr(t.Node), pl, encoded, false)
		}
		if err != nil {
			n.log.Debug("read repair failed", "to", t.Node, "err", err)
		}
	}
}

// Put writes a value.
func (n *Node) Put(ctx context.Context, req *kv.PutRequest) (*kv.PutResult, error) {
	if err := n.checkNames(req.Bucket, req.Key); err != nil {
		return nil, err
	}
	if len(req.Value) > n.cfg.Limits.MaxValueBytes {
		return nil, kv.Errorf(kv.TooLarge, "value is %d bytes, the limit is %d", len(req.Value), n.cfg.Limits.MaxValueBytes)
	}
	ct := req.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	return n.write(ctx, req.Bucket, req.Key, object.Content{Value: req.Value, ContentType: ct, WriteID: req.WriteID}, req.Context, req.Options)
}

// Delete writes a tombstone over the versions the context covers; without
// a context it reads the key first and deletes what the read saw.
func (n *Node) Delete(ctx context.Context, req *kv.DeleteRequest) (*kv.PutResult, error) {
	if err := n.checkNames(req.Bucket, req.Key); err != nil {
		return nil, err
	}
	if err := kv.CheckWriteID(req.WriteID); err != nil {
		return nil, err
	}
	causal := req.Context
	if causal == "" {
		got, err := n.Get(ctx, &kv.GetRequest{Bucket: req.Bucket, Key: req.Key, Options: kv.Options{PR: req.PW, Timeout: req.Timeout}})
		if err != nil {
			return nil, err
		}
		if got.Context == "" {
			return &kv.PutResult{}, nil // nothing to delete
		}
		causal = got.Context
	}
	return n.write(ctx, req.Bucket, req.Key, object.Content{Deleted: true, WriteID: req.WriteID}, causal, req.Options)
}

func (n *Node) write(ctx context.Context, bucket, key []byte, content object.Content, causal string, o kv.Options) (*kv.PutResult, error) {
	if err := kv.CheckWriteID(content.WriteID); err != nil {
		return nil, err
	}
	seen, err := object.DecodeContext(causal, n.ctxKey)
	if err != nil {
		return nil, kv.Errorf(kv.BadRequest, "malformed or forged context: %v", err)
	}
	opts, err := n.resolve(bucket, o)
	if err != nil {
		return nil, err
	}
	st, err := n.serving()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	pl := st.place(bucket, key)
	var written object.Causal
	if st.owns(pl.Partition, n.cfg.ID) {
		written, err = n.coordinate(ctx, st, pl, seen, content, opts)
	} else {
		written, err = n.forward(ctx, st, pl, seen, content, opts)
	}
	if err != nil {
		return nil, err
	}
	return &kv.PutResult{Context: object.EncodeContext(written, n.ctxKey)}, nil
}

// GetProps returns a bucket's properties (the defaults until set).
func (n *Node) GetProps(_ context.Context, bucket []byte) (kv.Props, error) {
	if err := n.checkNames(bucket, nil); err != nil {
		return kv.Props{}, err
	}
	return n.bucketProps(bucket), nil
}

// SetProps validates p and gossips it as the bucket's properties.
func (n *Node) SetProps(_ context.Context, bucket []byte, p kv.Props) error {
	if err := n.checkNames(bucket, nil); err != nil {
		return err
	}
	if err := p.Validate(n.cfg.N); err != nil {
		return kv.Errorf(kv.BadRequest, "%v", err)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("node: encoding props: %w", err)
	}
	if err := n.swim.SetMeta(propsKey(bucket), raw); err != nil {
		return fmt.Errorf("node: gossiping props: %w", err)
	}
	n.props.Load().Delete(string(bucket))
	return nil
}

// Limits are the sizes this node accepts.
func (n *Node) Limits() kv.Limits { return n.cfg.Limits }

// Cluster describes the members and the ring as this node sees them.
func (n *Node) Cluster() kv.ClusterInfo {
	st := n.ring.Load()
	counts := st.ring.Counts()
	hints := n.hints.snapshot()
	info := kv.ClusterInfo{Self: n.cfg.ID, Partitions: st.ring.Q(), N: st.ring.N(), Version: st.version}
	for _, m := range st.ring.Members() {
		rec := st.members[m.ID]
		info.Members = append(info.Members, kv.Member{
			ID: m.ID, Zone: m.Zone, HTTPAddr: rec.HTTPAddr, GRPCAddr: rec.GRPCAddr, GossipAddr: rec.GossipAddr,
			Alive: st.alive[m.ID], Partitions: counts[m.ID],
			HintsPending: hints[m.ID].Hints, HintBytes: hints[m.ID].Bytes,
		})
	}
	info.Owners = make([][]string, st.ring.Q())
	for p := range info.Owners {
		info.Owners[p] = st.ring.Owners(p)
	}
	return info
}

// Local returns this node's own copy of a key and the hints it keeps for
// it, read without coordination.
func (n *Node) Local(_ context.Context, bucket, key []byte) (*kv.LocalCopy, error) {
	if err := n.checkNames(bucket, key); err != nil {
		return nil, err
	}
	st := n.ring.Load()
	pl := st.place(bucket, key)
	own, _, err := n.readLocal(pl)
	if err != nil {
		return nil, err
	}
	res := &kv.LocalCopy{Node: n.cfg.ID, Copy: n.localObject(own)}
	for _, m := range st.ring.Members() {
		if m.ID == n.cfg.ID {
			continue
		}
		hint := pl
		hint.HintFor = m.ID
		obj, _, err := n.readLocal(hint)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			if res.Hints == nil {
				res.Hints = map[string]*kv.LocalObject{}
			}
			res.Hints[m.ID] = n.localObject(obj)
		}
	}
	return res, nil
}

func (n *Node) localObject(obj *object.Object) *kv.LocalObject {
	if obj == nil {
		return nil
	}
	lo := &kv.LocalObject{Context: object.EncodeContext(object.CausalOf(obj), n.ctxKey), Versions: []kv.LocalVersion{}}
	for _, e := range obj.Entries {
		lo.Versions = append(lo.Versions, kv.LocalVersion{
			Dot:          fmt.Sprintf("%x:%d", e.Dot.Actor, e.Dot.Counter),
			Value:        e.Value.Value,
			ContentType:  e.Value.ContentType,
			LastModified: time.Unix(0, e.Value.Modified.Wall).UTC(),
			Deleted:      e.Value.Deleted,
			WriteID:      e.Value.WriteID,
		})
	}
	return lo
}
