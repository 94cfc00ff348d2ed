package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/coordinator"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/object"
	"github.com/tutti-kv/tutti/internal/replica"
	"github.com/tutti-kv/tutti/internal/transport"
)

// readLocal returns this node's stored copy of a key (nil when absent) and
// its encoded bytes.
func (n *Node) readLocal(pl place) (*object.Object, []byte, error) {
	return n.replica.Read(pl.Key)
}

// coordinate runs a write on this node, a replica of the key: the local
// read-modify-write under the key's lock (a fresh dot, the client's
// context), then replication to the other replicas until the write quorum
// is met (Dynamo section 4.5: "the coordinator generates the vector clock
// for the new version and writes the new version locally", then sends it to
// the N-1 others).
func (n *Node) coordinate(ctx context.Context, st *ringState, pl place, seen object.Causal, content object.Content, opts resolved) (object.Causal, error) {
	durable := opts.dw >= 1
	mu := n.lockFor(pl.hash)
	mu.Lock()
	obj, encoded, dropped, err := n.replica.Coordinate(pl.Key, seen, content, opts.policy, durable)
	mu.Unlock()
	if err != nil {
		return object.Causal{}, kv.Errorf(kv.Internal, "%v", err)
	}
	n.extra.lwwDropped.Add(float64(dropped))

	write := coordinator.NewWrite(st.targets(pl.Partition, opts.sloppy), opts.w, opts.dw, opts.pw)
	send := write.Start(n.cfg.ID, durable, st.isAlive)
	type ack struct {
		node    string
		durable bool
		err     error
	}
	acks := make(chan ack, len(send))
	// The sends outlive this request, which returns (and cancels ctx) at
	// the quorum; they keep the request's deadline.
	sendCtx, cancelSends := context.WithTimeout(context.WithoutCancel(ctx), opts.timeout)
	var sends sync.WaitGroup
	for _, t := range send {
		sends.Add(1)
		go func(node, addr string, at place) {
			defer sends.Done()
			d, err := n.remoteWrite(sendCtx, addr, at, encoded, opts.dw > 1)
			acks <- ack{node, d, err}
		}(t.Node, st.addr(t.Node), pl.at(t))
	}
	go func() { sends.Wait(); cancelSends() }()
	for !write.Done() {
		select {
		case a := <-acks:
			if a.err != nil {
				n.log.Debug("replica write failed", "to", a.node, "err", a.err)
				write.Fail(a.node)
			} else {
				write.Ack(a.node, a.durable)
			}
		case <-ctx.Done():
			return object.Causal{}, write.Expire()
		}
	}
	if err := write.Result(); err != nil {
		return object.Causal{}, err
	}
	return object.CausalOf(obj), nil
}

// forward hands a write to a replica of the key, which coordinates it. It
// tries the owners in preference order, moving on when a request certainly
// was not delivered or, for a write with an idempotency key, when the owner
// failed to answer: without the key, a retry of a delivered write could
// store it twice as two siblings.
func (n *Node) forward(ctx context.Context, st *ringState, pl place, seen object.Causal, content object.Content, opts resolved) (object.Causal, error) {
	req := &tuttipb.PeerRequest{From: n.cfg.ID, Body: &tuttipb.PeerRequest_Coordinate{Coordinate: &tuttipb.CoordinateRequest{
		Bucket: pl.Bucket, Key: pl.Key.Key, Value: content.Value, ContentType: content.ContentType,
		Context: object.AppendCausal(nil, seen), Delete: content.Deleted, WriteId: content.WriteID,
		Options: &tuttipb.RequestOptions{R: int32(opts.r), W: int32(opts.w), Dw: int32(opts.dw), Pr: int32(opts.pr), Pw: int32(opts.pw), TimeoutMs: opts.timeout.Milliseconds()},
	}}}
	fwd := coordinator.NewForward(st.ring.Owners(pl.Partition))
	for {
		owner, ok := fwd.Next(st.isAlive)
		if !ok {
			return object.Causal{}, fwd.Exhausted()
		}
		resp, err := n.peers.Call(ctx, st.addr(owner), req)
		if err != nil {
			if transport.NotSent(err) || (content.WriteID != "" && ctx.Err() == nil) {
				continue
			}
			return object.Causal{}, kv.Errorf(kv.Unavailable, "forwarding the write to replica %s failed (it may or may not have been applied): %v", owner, err)
		}
		if resp.Code == tuttipb.ErrorCode_ERROR_CODE_NOT_REPLICA {
			continue
		}
		if err := peerError(resp); err != nil {
			return object.Causal{}, err
		}
		res := resp.GetCoordinate()
		if f := res.GetFailure(); f != nil {
			return object.Causal{}, kv.QuorumError(f.Reason, int(f.Needed), int(f.Answered))
		}
		out, err := object.DecodeCausal(res.GetContext())
		if err != nil {
			return object.Causal{}, kv.Errorf(kv.Internal, "replica %s answered a bad context: %v", owner, err)
		}
		return out, nil
	}
}

func (n *Node) remoteRead(ctx context.Context, addr string, pl place) (*object.Object, error) {
	resp, err := n.peers.Call(ctx, addr, &tuttipb.PeerRequest{From: n.cfg.ID, Body: &tuttipb.PeerRequest_Read{
		Read: &tuttipb.ReplicaRead{Bucket: pl.Bucket, Key: pl.Key.Key, HintFor: pl.HintFor}}})
	if err != nil {
		return nil, err
	}
	if err := peerError(resp); err != nil {
		return nil, err
	}
	raw := resp.GetRead().GetObject()
	if len(raw) == 0 {
		return nil, nil
	}
	return object.Decode(raw)
}

func (n *Node) remoteWrite(ctx context.Context, addr string, pl place, encoded []byte, sync bool) (bool, error) {
	resp, err := n.peers.Call(ctx, addr, &tuttipb.PeerRequest{From: n.cfg.ID, Body: &tuttipb.PeerRequest_Write{
		Write: &tuttipb.ReplicaWrite{Bucket: pl.Bucket, Key: pl.Key.Key, Object: encoded, Sync: sync, HintFor: pl.HintFor}}})
	if err != nil {
		return false, err
	}
	if err := peerError(resp); err != nil {
		return false, err
	}
	return resp.GetWrite().GetDurable(), nil
}

// peerError turns an error answer from a peer into a kv error.
func peerError(resp *tuttipb.PeerResponse) error {
	if resp.Error == "" && resp.Code == tuttipb.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return nil
	}
	kind := kv.Internal
	switch resp.Code {
	case tuttipb.ErrorCode_ERROR_CODE_BAD_REQUEST:
		kind = kv.BadRequest
	case tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE, tuttipb.ErrorCode_ERROR_CODE_NOT_REPLICA:
		kind = kv.Unavailable
	}
	return &kv.Error{Kind: kind, Reason: resp.Error}
}

func errorResponse(err error) *tuttipb.PeerResponse {
	e := kv.AsError(err)
	code := tuttipb.ErrorCode_ERROR_CODE_INTERNAL
	switch e.Kind {
	case kv.BadRequest, kv.TooLarge, kv.NameTooLong:
		code = tuttipb.ErrorCode_ERROR_CODE_BAD_REQUEST
	case kv.Unavailable:
		code = tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE
	}
	return &tuttipb.PeerResponse{Code: code, Error: e.Error()}
}

// HandlePeer answers another node's request.
func (n *Node) HandlePeer(ctx context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse {
	st := n.ring.Load()
	if _, background := req.Body.(*tuttipb.PeerRequest_Aae); !background {
		// Replica reads and writes serve some node's client request.
		n.pacer.foreground(time.Now())
	}
	switch b := req.Body.(type) {
	case *tuttipb.PeerRequest_Read:
		if err := n.checkNames(b.Read.Bucket, b.Read.Key); err != nil {
			return errorResponse(err)
		}
		pl, err := n.hintPlace(st, b.Read.Bucket, b.Read.Key, b.Read.HintFor)
		if err != nil {
			return errorResponse(err)
		}
		_, raw, err := n.readLocal(pl)
		if err != nil {
			return errorResponse(err)
		}
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Read{Read: &tuttipb.ReplicaReadResult{Object: raw}}}
	case *tuttipb.PeerRequest_Write:
		pl, err := n.hintPlace(st, b.Write.Bucket, b.Write.Key, b.Write.HintFor)
		if err != nil {
			return errorResponse(err)
		}
		durable, err := n.applyReplica(pl, b.Write.Object, b.Write.Sync)
		if err != nil {
			return errorResponse(err)
		}
		if pl.HintFor != "" {
			n.extra.hintsStored.Inc()
		}
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Write{Write: &tuttipb.ReplicaWriteResult{Durable: durable}}}
	case *tuttipb.PeerRequest_Coordinate:
		if !st.joined {
			return &tuttipb.PeerResponse{Code: tuttipb.ErrorCode_ERROR_CODE_NOT_REPLICA, Error: n.cfg.ID + " has not joined its cluster yet"}
		}
		return n.handleCoordinate(ctx, st, b.Coordinate)
	case *tuttipb.PeerRequest_Aae:
		return n.aae.serve(st, req.From, b.Aae)
	}
	return errorResponse(kv.Errorf(kv.BadRequest, "unknown request type %T", req.Body))
}

// maxHintOwner bounds the owner id a hint names, like a bucket name.
const maxHintOwner = 255

// hintPlace locates a replica request's key: the node's own copy, or the
// hint it keeps for hintFor.
func (n *Node) hintPlace(st *ringState, bucket, key []byte, hintFor string) (place, error) {
	switch {
	case len(hintFor) > maxHintOwner:
		return place{}, kv.Errorf(kv.BadRequest, "hint owner id is %d bytes, the limit is %d", len(hintFor), maxHintOwner)
	case hintFor == n.cfg.ID:
		return place{}, kv.Errorf(kv.BadRequest, "a hint for the receiving node itself")
	}
	pl := st.place(bucket, key)
	pl.HintFor = hintFor
	return pl, nil
}

// applyReplica merges a version sent by a coordinator into the local copy.
func (n *Node) applyReplica(pl place, encoded []byte, sync bool) (bool, error) {
	if err := n.checkNames(pl.Bucket, pl.Key.Key); err != nil {
		return false, err
	}
	policy := policyOf(n.bucketProps(pl.Bucket))
	// A hint is always fsynced: it may be the only copy its owner will get
	// back, and it must survive the substitute's own crash until handoff.
	sync = sync || pl.HintFor != ""
	mu := n.lockFor(pl.hash)
	mu.Lock()
	dropped, err := n.applyLocked(pl, encoded, policy, sync)
	mu.Unlock()
	if errors.Is(err, replica.ErrBadObject) {
		return false, kv.Errorf(kv.BadRequest, "%v", err)
	}
	if err != nil {
		return false, err
	}
	n.extra.lwwDropped.Add(float64(dropped))
	return sync, nil
}

// applyLocked merges encoded into pl's copy; the key's lock is held. A
// hint is first admitted against its owner's bounds, at the most the merge
// can grow it to, and the ledger is corrected to the size stored.
func (n *Node) applyLocked(pl place, encoded []byte, policy object.Policy, sync bool) (int, error) {
	if pl.HintFor == "" {
		return n.replica.Apply(pl.Key, encoded, policy, sync)
	}
	_, old, err := n.replica.Read(pl.Key)
	if err != nil {
		return 0, err
	}
	estimate := len(old) + len(encoded)
	if !n.hints.admit(pl.HintFor, len(old), estimate, n.cfg.MaxHints, n.cfg.MaxHintBytes) {
		n.extra.hintsDropped.WithLabelValues("bound").Inc()
		n.log.Warn("hint bound reached: dropping a hint (anti-entropy will repair the owner)", "owner", pl.HintFor,
			"max_hints", n.cfg.MaxHints, "max_hint_bytes", n.cfg.MaxHintBytes)
		return 0, errHintBound(pl.HintFor)
	}
	dropped, err := n.replica.Apply(pl.Key, encoded, policy, sync)
	if err != nil && !errors.Is(err, replica.ErrBadObject) {
		// The coordinator counts this substitute as failed; the node
		// serves on (a full disk fails every write, not just hints).
		n.extra.hintsDropped.WithLabelValues("store_error").Inc()
		n.log.Error("storing a hint failed", "owner", pl.HintFor, "err", err)
	}
	stored := len(old)
	if err == nil {
		_, now, rerr := n.replica.Read(pl.Key)
		if rerr != nil {
			return dropped, rerr
		}
		stored = len(now)
	}
	if stored == 0 {
		n.hints.remove(pl.HintFor, estimate)
	} else {
		n.hints.resize(pl.HintFor, estimate, stored)
	}
	return dropped, err
}

func (n *Node) handleCoordinate(ctx context.Context, st *ringState, c *tuttipb.CoordinateRequest) *tuttipb.PeerResponse {
	if err := n.checkNames(c.Bucket, c.Key); err != nil {
		return errorResponse(err)
	}
	if len(c.Value) > n.cfg.Limits.MaxValueBytes {
		return errorResponse(kv.Errorf(kv.TooLarge, "value over the limit"))
	}
	if err := kv.CheckWriteID(c.WriteId); err != nil {
		return errorResponse(err)
	}
	pl := st.place(c.Bucket, c.Key)
	if !st.owns(pl.Partition, n.cfg.ID) {
		return &tuttipb.PeerResponse{Code: tuttipb.ErrorCode_ERROR_CODE_NOT_REPLICA, Error: n.cfg.ID + " is not a replica of the key"}
	}
	seen, err := object.DecodeCausal(c.Context)
	if err != nil {
		return errorResponse(kv.Errorf(kv.BadRequest, "bad context: %v", err))
	}
	o := c.GetOptions()
	opts := resolved{r: int(o.GetR()), w: int(o.GetW()), dw: int(o.GetDw()), pr: int(o.GetPr()), pw: int(o.GetPw()),
		timeout: time.Duration(o.GetTimeoutMs()) * time.Millisecond}
	props := n.bucketProps(c.Bucket)
	opts.policy, opts.sloppy = policyOf(props), props.Sloppy
	if opts.w < 1 || opts.w > n.cfg.N || opts.dw > n.cfg.N || opts.pw > n.cfg.N || opts.dw < 0 || opts.pw < 0 {
		return errorResponse(kv.Errorf(kv.BadRequest, "bad quorum options"))
	}
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	content := object.Content{Value: c.Value, ContentType: c.ContentType, Deleted: c.Delete, WriteID: c.WriteId}
	written, err := n.coordinate(ctx, st, pl, seen, content, opts)
	if err != nil {
		var e *kv.Error
		if errors.As(err, &e) && e.Kind == kv.Unavailable {
			return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Coordinate{Coordinate: &tuttipb.CoordinateResult{
				Failure: &tuttipb.QuorumFailure{Reason: e.Reason, Needed: int32(e.Needed), Answered: int32(e.Answered)}}}}
		}
		return errorResponse(err)
	}
	return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Coordinate{Coordinate: &tuttipb.CoordinateResult{Context: object.AppendCausal(nil, written)}}}
}
