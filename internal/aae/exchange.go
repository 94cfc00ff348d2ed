package aae

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Kind is what a Request asks of the peer.
type Kind uint8

// The steps of an exchange, in order.
const (
	// KindRoot asks for the root (one hash).
	KindRoot Kind = iota + 1
	// KindBranches asks for every branch (Branches hashes).
	KindBranches
	// KindLeaves asks for the leaves under Request.Branches
	// (BranchWidth hashes each, in the order asked).
	KindLeaves
	// KindItems asks for the (key, digest) list of Request.Segments.
	KindItems
	// KindFetch asks for the stored objects of Request.Items.
	KindFetch
	// KindPush hands the peer Request.Objects to merge into its copies.
	KindPush
	// KindDigests asks for the current digests of Request.Items (a zero
	// digest for an absent key): it confirms, a moment after the listing,
	// that a key present on both sides still differs in the same way.
	KindDigests
)

// ConfirmDelay is how long after listing a segment an exchange waits
// before confirming the keys that differ on both sides (Request.Wait):
// long enough for a write in flight between the replicas to land, so that
// keys being written are left to their writes instead of being copied.
const ConfirmDelay = 200 * time.Millisecond

func (k Kind) String() string {
	switch k {
	case KindRoot:
		return "root"
	case KindBranches:
		return "branches"
	case KindLeaves:
		return "leaves"
	case KindItems:
		return "items"
	case KindFetch:
		return "fetch"
	case KindPush:
		return "push"
	case KindDigests:
		return "digests"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Batch sizes: how many segments one items request lists, and how many
// objects one fetch or push carries. They keep every message well under
// the transport's frame size for objects of typical size.
const (
	ItemsBatch  = 16
	ObjectBatch = 64
)

// Limits a Serve enforces on one request, before doing any work.
const (
	MaxRequestSegments = 256
	MaxRequestObjects  = 1024
)

// Item is one stored object as an exchange lists it: where it is and the
// digest of its encoding.
type Item struct {
	Segment     int
	Bucket, Key []byte
	Digest      Digest
}

// Object is one object an exchange moves: a fetch reply's stored copy
// (Encoded nil when the peer has none) or a push.
type Object struct {
	Segment     int
	Bucket, Key []byte
	Encoded     []byte
}

// Request is one step of an exchange, sent to the peer.
type Request struct {
	Partition int
	Kind      Kind
	Branches  []int    // KindLeaves
	Segments  []int    // KindItems
	Items     []Item   // KindFetch, KindDigests: which objects (digests unused)
	Objects   []Object // KindPush
	// Wait asks the driver to send the request only ConfirmDelay after
	// the previous reply.
	Wait bool
}

// Reply is the peer's answer to a Request.
type Reply struct {
	// NotReady is set when the peer's tree of the partition is still being
	// built: the exchange ends without comparing anything.
	NotReady bool
	// Busy is set when the peer is exchanging the partition with another
	// replica: the exchange ends, to be retried, rather than copy the same
	// objects twice.
	Busy    bool
	Hashes  []uint64 // KindRoot, KindBranches, KindLeaves
	Items   []Item   // KindItems; KindDigests, one per requested item, in order
	Objects []Object // KindFetch, one per requested item, in order
}

// Local is the replica an exchange runs on, and the one Serve answers
// from. Its methods validate that items belong to the partition and
// segment they claim.
type Local interface {
	// Tree returns a snapshot of partition p's tree, and false while it is
	// still being built.
	Tree(p int) (Tree, bool)
	// Items lists the objects stored in the given segments of partition p,
	// in storage order.
	Items(p int, segments []int) ([]Item, error)
	// Read returns the stored encoding of an object (nil when absent).
	Read(p int, segment int, bucket, key []byte) ([]byte, error)
	// Merge merges an encoded object into the local copy (DVV sync under
	// the bucket's policy) and returns the merged encoding.
	Merge(p int, o Object) ([]byte, error)
}

// ErrBadRequest is wrapped by Serve's errors for requests it refuses.
var ErrBadRequest = errors.New("aae: bad request")

// Serve answers one exchange request from the local replica.
func Serve(local Local, req *Request) (*Reply, error) {
	p := req.Partition
	if len(req.Branches) > Branches || len(req.Segments) > MaxRequestSegments ||
		len(req.Items) > MaxRequestObjects || len(req.Objects) > MaxRequestObjects {
		return nil, fmt.Errorf("%w: %s request over its limits", ErrBadRequest, req.Kind)
	}
	switch req.Kind {
	case KindRoot, KindBranches, KindLeaves:
		t, ok := local.Tree(p)
		if !ok {
			return &Reply{NotReady: true}, nil
		}
		switch req.Kind {
		case KindRoot:
			return &Reply{Hashes: []uint64{t.Root()}}, nil
		case KindBranches:
			return &Reply{Hashes: t.AllBranches()}, nil
		}
		hs := make([]uint64, 0, len(req.Branches)*BranchWidth)
		for _, b := range req.Branches {
			if b < 0 || b >= Branches {
				return nil, fmt.Errorf("%w: branch %d", ErrBadRequest, b)
			}
			hs = append(hs, t.LeavesOf(b)...)
		}
		return &Reply{Hashes: hs}, nil
	case KindItems:
		for _, s := range req.Segments {
			if s < 0 || s >= Segments {
				return nil, fmt.Errorf("%w: segment %d", ErrBadRequest, s)
			}
		}
		items, err := local.Items(p, req.Segments)
		if err != nil {
			return nil, err
		}
		return &Reply{Items: items}, nil
	case KindFetch:
		objs := make([]Object, len(req.Items))
		for i, it := range req.Items {
			enc, err := local.Read(p, it.Segment, it.Bucket, it.Key)
			if err != nil {
				return nil, err
			}
			objs[i] = Object{Segment: it.Segment, Bucket: it.Bucket, Key: it.Key, Encoded: enc}
		}
		return &Reply{Objects: objs}, nil
	case KindDigests:
		items := make([]Item, len(req.Items))
		for i, it := range req.Items {
			enc, err := local.Read(p, it.Segment, it.Bucket, it.Key)
			if err != nil {
				return nil, err
			}
			items[i] = Item{Segment: it.Segment, Bucket: it.Bucket, Key: it.Key}
			if enc != nil {
				items[i].Digest = DigestOf(enc)
			}
		}
		return &Reply{Items: items}, nil
	case KindPush:
		for _, o := range req.Objects {
			if o.Encoded == nil {
				return nil, fmt.Errorf("%w: push of %q/%q without an object", ErrBadRequest, o.Bucket, o.Key)
			}
			if _, err := local.Merge(p, o); err != nil {
				return nil, err
			}
		}
		return &Reply{}, nil
	}
	return nil, fmt.Errorf("%w: unknown kind %d", ErrBadRequest, req.Kind)
}

// Outcome is how an exchange ended.
type Outcome uint8

// Outcomes of an exchange.
const (
	// Running: not ended yet.
	Running Outcome = iota
	// Equal: the roots matched (or the trees differed only while they
	// were read, and no object did).
	Equal
	// Repaired: objects differed and were copied.
	Repaired
	// NotReady: one of the trees is still being built.
	NotReady
	// Busy: the peer is exchanging the partition with another replica.
	Busy
	// Failed: a step failed (see Exchange.Err).
	Failed
)

func (o Outcome) String() string {
	switch o {
	case Running:
		return "running"
	case Equal:
		return "equal"
	case Repaired:
		return "repaired"
	case NotReady:
		return "not_ready"
	case Busy:
		return "busy"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Stats count what an exchange did.
type Stats struct {
	// Segments is how many segments differed.
	Segments int
	// Pulled counts objects fetched from the peer and merged locally;
	// Pushed those sent to the peer.
	Pulled, Pushed int
	// Unsettled counts keys that differed on both sides but changed
	// while the exchange confirmed them: writes in progress, which
	// replicate themselves; a later exchange compares them again.
	Unsettled int
}

// Exchange compares partition P of the local replica with a peer's and
// repairs both. Call Next for the request to send, hand the peer's reply
// (from Serve) to Handle, and repeat until Next returns nil. An Exchange
// is not safe for concurrent use.
type Exchange struct {
	P     int
	local Local

	outcome Outcome
	err     error
	stats   Stats
	next    *Request // what Next returns; nil when done

	tree     Tree  // local snapshot taken at the start
	segments []int // differing segments not yet listed
	// pull: peer items to fetch (its digest, to tell after the merge
	// whether the peer lacks something); push: local objects to send;
	// suspects: keys both sides hold differently, to confirm.
	pull     []Item
	push     []Object
	suspects []Diff
}

// NewExchange starts an exchange of partition p. If the local tree is not
// built yet the exchange ends at once with NotReady.
func NewExchange(p int, local Local) *Exchange {
	e := &Exchange{P: p, local: local}
	t, ok := local.Tree(p)
	if !ok {
		e.outcome = NotReady
		return e
	}
	e.tree = t
	e.next = &Request{Partition: p, Kind: KindRoot}
	return e
}

// Next returns the request to send to the peer, or nil when the exchange
// has ended (see Outcome).
func (e *Exchange) Next() *Request { return e.next }

// Outcome reports how the exchange ended (Running until it has).
func (e *Exchange) Outcome() Outcome { return e.outcome }

// Err is the error that failed the exchange.
func (e *Exchange) Err() error { return e.err }

// Stats counts what the exchange did so far.
func (e *Exchange) Stats() Stats { return e.stats }

// Fail ends the exchange because the peer could not be asked (a transport
// error or a refused request).
func (e *Exchange) Fail(err error) {
	e.next, e.outcome, e.err = nil, Failed, err
}

// Handle takes the peer's reply to the request Next returned and prepares
// the next one.
func (e *Exchange) Handle(r *Reply) {
	req := e.next
	if req == nil {
		return
	}
	if r.NotReady || r.Busy {
		e.next, e.outcome = nil, NotReady
		if r.Busy {
			e.outcome = Busy
		}
		return
	}
	e.next = nil // handle sets it for the steps down the tree
	if err := e.handle(req, r); err != nil {
		e.Fail(err)
		return
	}
	if e.next == nil {
		e.advance()
	}
}

func (e *Exchange) handle(req *Request, r *Reply) error {
	switch req.Kind {
	case KindRoot:
		if len(r.Hashes) != 1 {
			return fmt.Errorf("aae: root reply with %d hashes", len(r.Hashes))
		}
		if r.Hashes[0] != e.tree.Root() {
			e.next = &Request{Partition: e.P, Kind: KindBranches}
		}
	case KindBranches:
		if len(r.Hashes) != Branches {
			return fmt.Errorf("aae: branches reply with %d hashes", len(r.Hashes))
		}
		var differ []int
		for b, h := range r.Hashes {
			if h != e.tree.Branch(b) {
				differ = append(differ, b)
			}
		}
		if len(differ) > 0 {
			e.next = &Request{Partition: e.P, Kind: KindLeaves, Branches: differ}
		}
	case KindLeaves:
		if len(r.Hashes) != len(req.Branches)*BranchWidth {
			return fmt.Errorf("aae: leaves reply with %d hashes for %d branches", len(r.Hashes), len(req.Branches))
		}
		for i, b := range req.Branches {
			for j := range BranchWidth {
				s := b*BranchWidth + j
				if r.Hashes[i*BranchWidth+j] != e.tree.Leaf(s) {
					e.segments = append(e.segments, s)
				}
			}
		}
		e.stats.Segments = len(e.segments)
	case KindItems:
		local, err := e.local.Items(e.P, req.Segments)
		if err != nil {
			return err
		}
		for _, d := range DiffItems(local, r.Items) {
			switch {
			case d.Local == (Digest{}):
				e.pull = append(e.pull, d.Item)
			case d.Remote == (Digest{}):
				if err := e.pushLocal(d.Item); err != nil {
					return err
				}
			default:
				e.suspects = append(e.suspects, d)
			}
		}
	case KindDigests:
		if len(r.Items) != len(req.Items) {
			return fmt.Errorf("aae: digests reply with %d items for %d", len(r.Items), len(req.Items))
		}
		for i, remote := range r.Items {
			s := e.suspects[i]
			if !bytes.Equal(remote.Bucket, s.Item.Bucket) || !bytes.Equal(remote.Key, s.Item.Key) {
				return fmt.Errorf("aae: digests reply %d is %q/%q, asked %q/%q", i, remote.Bucket, remote.Key, s.Item.Bucket, s.Item.Key)
			}
			enc, err := e.local.Read(e.P, s.Item.Segment, s.Item.Bucket, s.Item.Key)
			if err != nil {
				return err
			}
			var local Digest
			if enc != nil {
				local = DigestOf(enc)
			}
			if remote.Digest != s.Remote || local != s.Local {
				e.stats.Unsettled++
				continue
			}
			e.pull = append(e.pull, s.Item)
		}
		e.suspects = e.suspects[len(req.Items):]
	case KindFetch:
		if len(r.Objects) != len(req.Items) {
			return fmt.Errorf("aae: fetch reply with %d objects for %d items", len(r.Objects), len(req.Items))
		}
		for i, o := range r.Objects {
			want := e.pull[i]
			if !bytes.Equal(o.Bucket, want.Bucket) || !bytes.Equal(o.Key, want.Key) || o.Segment != want.Segment {
				return fmt.Errorf("aae: fetch reply %d is %q/%q, asked %q/%q", i, o.Bucket, o.Key, want.Bucket, want.Key)
			}
			if o.Encoded == nil {
				continue // gone since listed (no reaping yet, so only after a wipe)
			}
			merged, err := e.local.Merge(e.P, o)
			if err != nil {
				return err
			}
			e.stats.Pulled++
			if DigestOf(merged) != DigestOf(o.Encoded) {
				// The local copy held versions the peer lacks.
				e.push = append(e.push, Object{Segment: o.Segment, Bucket: o.Bucket, Key: o.Key, Encoded: merged})
			}
		}
		e.pull = e.pull[len(req.Items):]
	case KindPush:
		e.stats.Pushed += len(req.Objects)
	}
	return nil
}

// advance picks the next request after a handled reply: pending fetches
// first, then pushes, then the next batch of segments to list. Each batch
// of segments is repaired before the next is listed, which bounds the
// exchange's memory.
func (e *Exchange) advance() {
	switch {
	case len(e.pull) > 0:
		n := min(len(e.pull), ObjectBatch)
		e.next = &Request{Partition: e.P, Kind: KindFetch, Items: e.pull[:n:n]}
	case len(e.push) > 0:
		n := min(len(e.push), ObjectBatch)
		e.next = &Request{Partition: e.P, Kind: KindPush, Objects: e.push[:n:n]}
		e.push = e.push[n:]
	case len(e.suspects) > 0:
		n := min(len(e.suspects), MaxRequestObjects)
		items := make([]Item, n)
		for i, d := range e.suspects[:n] {
			items[i] = Item{Segment: d.Item.Segment, Bucket: d.Item.Bucket, Key: d.Item.Key}
		}
		e.next = &Request{Partition: e.P, Kind: KindDigests, Items: items, Wait: true}
	case len(e.segments) > 0:
		n := min(len(e.segments), ItemsBatch)
		e.next = &Request{Partition: e.P, Kind: KindItems, Segments: e.segments[:n:n]}
		e.segments = e.segments[n:]
	default:
		e.next = nil
		e.outcome = Equal
		if e.stats.Pulled+e.stats.Pushed > 0 {
			e.outcome = Repaired
		}
	}
}

// Diff is one key that differs between two listings of a segment range:
// Item as the remote listed it (as the local side did when the remote
// lacks it), and both digests, zero on the side that lacks the key.
type Diff struct {
	Item          Item
	Local, Remote Digest
}

// DiffItems compares a segment range's local and remote listings and
// returns the keys that differ: absent on one side, or held differently.
func DiffItems(local, remote []Item) []Diff {
	type name struct{ bucket, key string }
	mine := make(map[name]Digest, len(local))
	for _, it := range local {
		mine[name{string(it.Bucket), string(it.Key)}] = it.Digest
	}
	theirs := make(map[name]bool, len(remote))
	var diffs []Diff
	for _, it := range remote {
		n := name{string(it.Bucket), string(it.Key)}
		theirs[n] = true
		if d := mine[n]; d != it.Digest {
			diffs = append(diffs, Diff{Item: it, Local: d, Remote: it.Digest})
		}
	}
	for _, it := range local {
		if !theirs[name{string(it.Bucket), string(it.Key)}] {
			diffs = append(diffs, Diff{Item: it, Local: it.Digest})
		}
	}
	return diffs
}

// pushLocal queues the local copy of it for the peer.
func (e *Exchange) pushLocal(it Item) error {
	enc, err := e.local.Read(e.P, it.Segment, it.Bucket, it.Key)
	if err != nil {
		return err
	}
	if enc != nil { // else gone since listed (only after a wipe): nothing to push
		e.push = append(e.push, Object{Segment: it.Segment, Bucket: it.Bucket, Key: it.Key, Encoded: enc})
	}
	return nil
}
