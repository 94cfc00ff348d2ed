package client

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// maxReadSends is how many nodes a Get is sent to at most after nodes
// answered Unavailable: a second node may reach a quorum that the first,
// cut off from its peers, could not. A node that fails to answer at all
// does not count.
const maxReadSends = 2

// maxResponseBytes bounds one answer: room for several siblings of
// maximum-size values.
const maxResponseBytes = 256 << 20

// Client talks to a Tutti cluster over gRPC. It is safe for concurrent use.
type Client struct {
	settings  settings
	endpoints []string
	ring      atomic.Pointer[ringView]

	randMu sync.Mutex
	rand   *rand.Rand

	connMu sync.Mutex
	conns  map[string]*nodeConn // by address; one connection per node
	closed bool

	refreshNow  chan struct{}
	stopRefresh context.CancelFunc
	refreshDone chan struct{}
}

// Object is what a Get found. When Found is false the key is absent or
// deleted (Deleted then tells which). Siblings holds one value, or several
// concurrent ones for the application to merge. Context is the opaque causal
// context to send with the next write of the key (WithContext); it is set
// for deleted keys too.
type Object struct {
	Found    bool
	Deleted  bool
	Siblings []Sibling
	Context  string
}

// Sibling is one concurrent version of a value.
type Sibling struct {
	Value        []byte
	ContentType  string
	LastModified time.Time
}

// Conflict policies of a bucket.
const (
	// ConflictSiblings keeps every concurrent version (the default).
	ConflictSiblings = "siblings"
	// ConflictLWW keeps the latest version and drops concurrent ones.
	ConflictLWW = "lww"
)

// BucketProps are a bucket's conflict policy and default quorums. Unlike a
// request's options, props have no "default": a zero Quorum field is the
// count zero, like Count(0). SetBucketProps replaces all of them, so read,
// modify, then set.
type BucketProps struct {
	Conflict         string
	R, W, DW, PR, PW Quorum
}

// nodeConn is the connection to one node.
type nodeConn struct {
	addr string
	cc   *grpc.ClientConn
	kv   tuttipb.KVClient
}

// New connects to a cluster through endpoints, the gRPC host:port addresses
// of any of its nodes, and fetches the ring. It fails when no endpoint
// answers before ctx ends. Close the Client when done with it.
func New(ctx context.Context, endpoints []string, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("client: no endpoints given")
	}
	s := defaultSettings()
	for _, opt := range opts {
		opt(&s)
	}
	seed1, seed2 := s.seed, uint64(0)
	if !s.seedIsFixed {
		seed1, seed2 = rand.Uint64(), rand.Uint64()
	}
	c := &Client{
		settings:    s,
		endpoints:   append([]string(nil), endpoints...),
		rand:        rand.New(rand.NewPCG(seed1, seed2)),
		conns:       make(map[string]*nodeConn),
		refreshNow:  make(chan struct{}, 1),
		refreshDone: make(chan struct{}),
	}
	if err := c.refreshRing(ctx); err != nil {
		_ = c.closeConns()
		return nil, fmt.Errorf("client: no endpoint answered with the ring: %w", err)
	}
	background, cancel := context.WithCancel(context.Background())
	c.stopRefresh = cancel
	go c.refreshLoop(background)
	return c, nil
}

// Close stops the background ring refresh and closes every connection.
// Requests still running fail.
func (c *Client) Close() error {
	c.connMu.Lock()
	already := c.closed
	c.closed = true
	c.connMu.Unlock()
	if already {
		return nil
	}
	c.stopRefresh()
	<-c.refreshDone
	return c.closeConns()
}

func (c *Client) closeConns() error {
	c.connMu.Lock()
	conns := c.conns
	c.conns = nil
	c.closed = true
	c.connMu.Unlock()
	var errs []error
	for _, n := range conns {
		if err := n.cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("client: closing connection to %s: %w", n.addr, err))
		}
	}
	return errors.Join(errs...)
}

// Get reads a key. A key that is absent or deleted is not an error: the
// Object says Found false.
func (c *Client) Get(ctx context.Context, bucket, key string, opts ...ReqOption) (*Object, error) {
	o := collect(opts)
	req := &tuttipb.GetRequest{
		Bucket: []byte(bucket), Key: []byte(key),
		R: int32(o.r), Pr: int32(o.pr), TimeoutMs: o.timeoutMillis(),
	}
	ctx, cancel := o.bound(ctx)
	defer cancel()
	var resp *tuttipb.GetResponse
	err := c.call(ctx, c.routeKey(bucket, key), true, func(ctx context.Context, kv tuttipb.KVClient) error {
		var err error
		resp, err = kv.Get(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	obj := &Object{Found: resp.GetFound(), Deleted: resp.GetDeleted(), Context: resp.GetContext()}
	for _, s := range resp.GetSiblings() {
		sib := Sibling{Value: s.GetValue(), ContentType: s.GetContentType()}
		if ns := s.GetLastModifiedUnixNano(); ns != 0 {
			sib.LastModified = time.Unix(0, ns)
		}
		obj.Siblings = append(obj.Siblings, sib)
	}
	return obj, nil
}

// Put writes a value and returns the causal context of the version written.
// Without WithContext the write is concurrent with what the key holds: in a
// bucket that keeps siblings it adds one.
//
// When the node a Put went to fails before answering (it died, restarted
// or dropped the connection), the Put is resent to the next replica within
// its deadline under the same idempotency key (see WithIdempotencyKey), so
// it is stored once. A Put that a node answered with an error is not
// resent; it may still have been applied.
func (c *Client) Put(ctx context.Context, bucket, key string, value []byte, opts ...ReqOption) (string, error) {
	o := collect(opts)
	req := &tuttipb.PutRequest{
		Bucket: []byte(bucket), Key: []byte(key), Value: value,
		ContentType: o.contentType, Context: o.causalContext,
		W: int32(o.w), Dw: int32(o.dw), Pw: int32(o.pw), TimeoutMs: o.timeoutMillis(),
		IdempotencyKey: o.writeKey(),
	}
	ctx, cancel := o.bound(ctx)
	defer cancel()
	var resp *tuttipb.PutResponse
	err := c.call(ctx, c.routeKey(bucket, key), false, func(ctx context.Context, kv tuttipb.KVClient) error {
		var err error
		resp, err = kv.Put(ctx, req)
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.GetContext(), nil
}

// Delete writes a tombstone over the versions WithContext covers, or over
// what the key holds when no context is given, and returns the tombstone's
// context. It is resent like a Put.
func (c *Client) Delete(ctx context.Context, bucket, key string, opts ...ReqOption) (string, error) {
	o := collect(opts)
	req := &tuttipb.DeleteRequest{
		Bucket: []byte(bucket), Key: []byte(key), Context: o.causalContext,
		W: int32(o.w), Dw: int32(o.dw), Pw: int32(o.pw), TimeoutMs: o.timeoutMillis(),
		IdempotencyKey: o.writeKey(),
	}
	ctx, cancel := o.bound(ctx)
	defer cancel()
	var resp *tuttipb.DeleteResponse
	err := c.call(ctx, c.routeKey(bucket, key), false, func(ctx context.Context, kv tuttipb.KVClient) error {
		var err error
		resp, err = kv.Delete(ctx, req)
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.GetContext(), nil
}

// BucketProps reads a bucket's properties.
func (c *Client) BucketProps(ctx context.Context, bucket string) (BucketProps, error) {
	var resp *tuttipb.BucketProps
	err := c.call(ctx, c.routeAny(), true, func(ctx context.Context, kv tuttipb.KVClient) error {
		var err error
		resp, err = kv.GetBucketProps(ctx, &tuttipb.GetBucketPropsRequest{Bucket: []byte(bucket)})
		return err
	})
	if err != nil {
		return BucketProps{}, err
	}
	return propsFromWire(resp), nil
}

// SetBucketProps replaces a bucket's properties cluster-wide and returns
// them as the node stored them.
func (c *Client) SetBucketProps(ctx context.Context, bucket string, p BucketProps) (BucketProps, error) {
	req := &tuttipb.SetBucketPropsRequest{Bucket: []byte(bucket), Props: propsToWire(p)}
	var resp *tuttipb.BucketProps
	err := c.call(ctx, c.routeAny(), false, func(ctx context.Context, kv tuttipb.KVClient) error {
		var err error
		resp, err = kv.SetBucketProps(ctx, req)
		return err
	})
	if err != nil {
		return BucketProps{}, err
	}
	return propsFromWire(resp), nil
}

// In props the wire's 0 is the count zero, where requests use -4.
func propsQuorumToWire(q Quorum) int32 {
	if q == zeroCount {
		return 0
	}
	return int32(q)
}

func propsQuorumFromWire(v int32) Quorum {
	if v == 0 {
		return zeroCount
	}
	return Quorum(v)
}

func propsToWire(p BucketProps) *tuttipb.BucketProps {
	return &tuttipb.BucketProps{
		Conflict: p.Conflict,
		R:        propsQuorumToWire(p.R), W: propsQuorumToWire(p.W), Dw: propsQuorumToWire(p.DW),
		Pr: propsQuorumToWire(p.PR), Pw: propsQuorumToWire(p.PW),
	}
}

func propsFromWire(p *tuttipb.BucketProps) BucketProps {
	return BucketProps{
		Conflict: p.GetConflict(),
		R:        propsQuorumFromWire(p.GetR()), W: propsQuorumFromWire(p.GetW()), DW: propsQuorumFromWire(p.GetDw()),
		PR: propsQuorumFromWire(p.GetPr()), PW: propsQuorumFromWire(p.GetPw()),
	}
}

// bound applies the request's timeout, plus the network's allowance, to ctx.
func (o requestOptions) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, o.timeout+timeoutAllowance)
}

// writeKey is the write's idempotency key: the caller's, or 16 random
// bytes. They come from crypto/rand, not the client's seeded source: keys
// of different clients must not collide, whatever their seeds.
func (o requestOptions) writeKey() string {
	if o.idempotencyKey != "" {
		return o.idempotencyKey
	}
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// call sends a request to the first node of addrs that can be reached. A
// node whose connection cannot be made ready is skipped before anything is
// sent. A request is sent again, to the next node, when the node it went
// to failed without answering (every request the client makes is safe to
// resend: writes carry an idempotency key); a read is also sent again once
// after a node answered codes.Unavailable (retryAnswered).
func (c *Client) call(ctx context.Context, addrs []string, retryAnswered bool, send func(context.Context, tuttipb.KVClient) error) error {
	var unreachable error
	var answered *Error
	sends := 0
	for _, addr := range addrs {
		if err := ctx.Err(); err != nil {
			return fromContext(err)
		}
		n, err := c.conn(addr)
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			unreachable = err
			continue
		}
		if !n.ready(ctx, c.settings.dialTimeout) {
			unreachable = fmt.Errorf("%s: not reachable", addr)
			c.requestRefresh()
			continue
		}
		err = send(ctx, n.kv)
		if err == nil {
			return nil
		}
		failed := fromRPC(err, addr)
		if failed.connectionFailed() {
			// The node died or dropped the connection mid-request.
			unreachable = failed
			c.requestRefresh()
			continue
		}
		answered = failed
		sends++
		if !retryAnswered || answered.Code != codes.Unavailable || sends >= maxReadSends {
			return answered
		}
		c.requestRefresh()
	}
	if err := ctx.Err(); err != nil {
		return fromContext(err)
	}
	if answered != nil {
		return answered
	}
	if unreachable == nil {
		return &Error{Code: codes.Unavailable, Message: "no node known"}
	}
	return &Error{Code: codes.Unavailable, Message: "no node could be reached: " + unreachable.Error(), cause: unreachable}
}

// routeKey lists the nodes to try for a key; the configured endpoints come
// last, in case the ring's addresses are not reachable from here.
func (c *Client) routeKey(bucket, key string) []string {
	return c.withEndpoints(c.ring.Load().route(bucket, key, c.intN))
}

func (c *Client) routeAny() []string {
	return c.withEndpoints(c.ring.Load().anyNode(c.intN))
}

func (c *Client) withEndpoints(addrs []string) []string {
	for _, e := range c.endpoints {
		if !contains(addrs, e) {
			addrs = append(addrs, e)
		}
	}
	return addrs
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Client) intN(n int) int {
	c.randMu.Lock()
	defer c.randMu.Unlock()
	return c.rand.IntN(n)
}

// conn returns the connection to addr, creating it on first use.
// Connections to nodes that leave the ring stay open until Close: closing
// them could fail requests in flight, and members rarely leave.
func (c *Client) conn(addr string) (*nodeConn, error) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if n, ok := c.conns[addr]; ok {
		return n, nil
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// gRPC's default 4 MiB would refuse a value near the cluster's
		// default 8 MiB limit, let alone several siblings of it.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxResponseBytes)),
		// The default backoff grows to two minutes, which would keep a
		// restarted node unused for that long.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: c.settings.dialTimeout,
		}),
	}
	cc, err := grpc.NewClient(addr, append(opts, c.settings.dialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("client: connection to %s: %w", addr, err)
	}
	n := &nodeConn{addr: addr, cc: cc, kv: tuttipb.NewKVClient(cc)}
	c.conns[addr] = n
	return n, nil
}

// ready reports whether the connection is up, connecting it first if it is
// idle and waiting at most timeout. A connection in transient failure is
// reported at once: gRPC keeps reconnecting it in the background, and the
// request moves on to the next node meanwhile.
func (n *nodeConn) ready(ctx context.Context, timeout time.Duration) bool {
	state := n.cc.GetState()
	switch state {
	case connectivity.Ready:
		return true
	case connectivity.TransientFailure, connectivity.Shutdown:
		return false
	}
	n.cc.Connect()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if !n.cc.WaitForStateChange(ctx, state) {
			return false
		}
		state = n.cc.GetState()
		switch state {
		case connectivity.Ready:
			return true
		case connectivity.TransientFailure, connectivity.Shutdown:
			return false
		}
	}
}

// requestRefresh asks the background loop for a ring refresh without
// waiting; requests made while one is pending share it.
func (c *Client) requestRefresh() {
	select {
	case c.refreshNow <- struct{}{}:
	default:
	}
}

func (c *Client) refreshLoop(ctx context.Context) {
	defer close(c.refreshDone)
	ticker := time.NewTicker(c.settings.ringRefresh)
	defer ticker.Stop()
	pause := time.NewTimer(c.settings.refreshPause)
	pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-c.refreshNow:
		}
		// A failed refresh keeps the ring the client has; the next tick or
		// routing failure tries again.
		_ = c.refreshRing(ctx)
		pause.Reset(c.settings.refreshPause)
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
	}
}

// refreshRing asks the ring's members, then the configured endpoints, for
// the ring, and keeps the first valid answer.
func (c *Client) refreshRing(ctx context.Context) error {
	var addrs []string
	if r := c.ring.Load(); r != nil {
		addrs = r.anyNode(c.intN)
	}
	var errs []error
	for _, addr := range c.withEndpoints(addrs) {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		n, err := c.conn(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !n.ready(ctx, c.settings.dialTimeout) {
			errs = append(errs, fmt.Errorf("%s: not reachable", addr))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, c.settings.ringTimeout)
		resp, err := n.kv.Ring(rctx, &tuttipb.RingRequest{})
		cancel()
		if err != nil {
			errs = append(errs, fromRPC(err, addr))
			continue
		}
		view, err := newRingView(resp)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		c.ring.Store(view)
		return nil
	}
	return errors.Join(errs...)
}
