// Package clienttest runs a fake Tutti cluster in process, for tests of
// programs that use package client and of the client itself.
//
// Every fake node serves the KV gRPC API on its own loopback listener and
// answers Ring with the cluster's members, liveness flags and placement. All
// nodes share one in-memory store, so the fake models what a client can
// observe (values, siblings, causal contexts, tombstones, bucket props,
// stopped nodes), not replication. Every request is logged with the node
// that received it and whether that node owns the key's partition, computed
// here independently of the client as the real nodes do. A Hook can fail
// chosen requests.
package clienttest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"strconv"
	"sync"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// Call is one request a fake node received.
type Call struct {
	// Node is the index of the node that received it.
	Node int
	// Method is the KV method: "Get", "Put", "Delete", "Ring",
	// "GetBucketProps" or "SetBucketProps".
	Method string
	Bucket string
	Key    string
	// Partition is the key's partition, OnOwner whether Node owns it; both
	// are meaningful for Get, Put and Delete only.
	Partition int
	OnOwner   bool
	// Request is the request message as received.
	Request proto.Message
}

// Hook, when set, sees every request before the fake handles it; a non-nil
// error (use status.Error, or Unavailable) is returned to the client
// instead of an answer.
type Hook func(node int, method string, req proto.Message) error

// Unavailable is codes.Unavailable as a node answers it, with the
// ErrorInfo detail that tells a client it came from the node (as an unmet
// quorum does) rather than from a broken connection.
func Unavailable(message string) error {
	st, err := status.New(codes.Unavailable, message).WithDetails(&errdetails.ErrorInfo{
		Reason: "REPLICAS_UNAVAILABLE", Domain: "tutti-kv.io",
	})
	if err != nil {
		panic(err) // an ErrorInfo always marshals
	}
	return st.Err()
}

// Cluster is a fake cluster. Its methods are safe for concurrent use.
type Cluster struct {
	mu         sync.Mutex
	partitions int
	n          int
	version    uint64
	nodes      []*fakeNode
	owners     func(partition int) []int
	hook       Hook
	calls      []Call
	objects    map[string]*object
	props      map[string]*tuttipb.BucketProps
	clock      int64
}

type fakeNode struct {
	id     string
	addr   string
	server *grpc.Server
	alive  bool
}

// object is a key's state: live siblings, or a tombstone when deleted.
type object struct {
	siblings []*tuttipb.Sibling
	deleted  bool
	// written holds the idempotency keys of the puts applied, each with its
	// value: a put resent under its key and value is applied once, as
	// nodes do.
	written map[string]string
	// version names the object's current state; see context.
	version int64
}

// context is the causal context of the object's current state: "v" +
// version.
func (o *object) context() string { return "v" + strconv.FormatInt(o.version, 10) }

// Start runs a fake cluster of nodes nodes with partitions partitions (a
// power of two) and n owners per partition: partition p is owned by nodes
// p, p+1, ..., p+n-1 (mod nodes), preferred first. Close it when done.
func Start(nodes, partitions, n int) (*Cluster, error) {
	if nodes < 1 || n < 1 || n > nodes || partitions < 1 || partitions&(partitions-1) != 0 {
		return nil, fmt.Errorf("clienttest: bad shape: %d nodes, %d partitions, n=%d", nodes, partitions, n)
	}
	c := &Cluster{
		partitions: partitions,
		n:          n,
		version:    1,
		objects:    make(map[string]*object),
		props:      make(map[string]*tuttipb.BucketProps),
	}
	c.owners = func(p int) []int {
		o := make([]int, n)
		for j := range o {
			o[j] = (p + j) % nodes
		}
		return o
	}
	for i := 0; i < nodes; i++ {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("clienttest: listening: %w", err)
		}
		srv := grpc.NewServer()
		tuttipb.RegisterKVServer(srv, &kvServer{cluster: c, node: i})
		c.nodes = append(c.nodes, &fakeNode{id: "node-" + strconv.Itoa(i), addr: lis.Addr().String(), server: srv, alive: true})
		go func() { _ = srv.Serve(lis) }()
	}
	return c, nil
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.nodes {
		n.server.Stop()
	}
}

// Endpoints are the gRPC addresses of all nodes, in index order.
func (c *Cluster) Endpoints() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.addr
	}
	return addrs
}

// Addr is node i's gRPC address.
func (c *Cluster) Addr(i int) string { return c.nodes[i].addr }

// NodeOf returns the index of the node listening on addr, or -1.
func (c *Cluster) NodeOf(addr string) int {
	for i, n := range c.nodes {
		if n.addr == addr {
			return i
		}
	}
	return -1
}

// Stop stops node i: its listener and connections close. The ring keeps
// reporting it alive (as a real ring does until gossip notices) unless
// SetAlive says otherwise.
func (c *Cluster) Stop(i int) { c.nodes[i].server.Stop() }

// SetAlive sets the liveness the ring reports for node i and changes the
// ring's version.
func (c *Cluster) SetAlive(i int, alive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes[i].alive = alive
	c.version++
}

// SetOwners replaces the placement: owners(p) lists the node indexes owning
// partition p, preferred first. It changes the ring's version.
func (c *Cluster) SetOwners(owners func(partition int) []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owners = owners
	c.version++
}

// Owners lists the nodes owning partition p.
func (c *Cluster) Owners(p int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owners(p)
}

// Partition is the partition of (bucket, key) as the nodes compute it.
func (c *Cluster) Partition(bucket, key string) int {
	return Partition(bucket, key, c.partitions)
}

// Partition is the partition of (bucket, key) among partitions partitions:
// the top log2(partitions) bits of xxhash64(uvarint(len(bucket)) || bucket
// || key).
func Partition(bucket, key string, partitions int) int {
	buf := binary.AppendUvarint(nil, uint64(len(bucket)))
	buf = append(append(buf, bucket...), key...)
	if partitions == 1 {
		return 0
	}
	return int(xxhash.Sum64(buf) >> (64 - bits.TrailingZeros(uint(partitions))))
}

// SetHook installs h (nil removes it).
func (c *Cluster) SetHook(h Hook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hook = h
}

// Calls returns the requests received so far, in arrival order.
func (c *Cluster) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// ResetCalls forgets the requests received so far.
func (c *Cluster) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// Props returns a bucket's properties as stored.
func (c *Cluster) Props(bucket string) *tuttipb.BucketProps {
	c.mu.Lock()
	defer c.mu.Unlock()
	return proto.Clone(c.propsLocked(bucket)).(*tuttipb.BucketProps)
}

// Siblings returns the number of live siblings a key holds.
func (c *Cluster) Siblings(bucket, key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.objects[objectKey(bucket, key)]; o != nil {
		return len(o.siblings)
	}
	return 0
}

func (c *Cluster) propsLocked(bucket string) *tuttipb.BucketProps {
	if p, ok := c.props[bucket]; ok {
		return p
	}
	// Quorum majority reads and writes, one durable replica; in props 0 is
	// the count zero.
	return &tuttipb.BucketProps{Conflict: "siblings", R: -2, W: -2, Dw: -1, Pr: 0, Pw: 0}
}

// objectLocked returns the object of (bucket, key), creating an empty one
// when the key was never written. c.mu must be held.
func (c *Cluster) objectLocked(bucket, key []byte) *object {
	k := objectKey(string(bucket), string(key))
	o := c.objects[k]
	if o == nil {
		o = &object{}
		c.objects[k] = o
	}
	return o
}

func objectKey(bucket, key string) string {
	return string(binary.AppendUvarint(nil, uint64(len(bucket)))) + bucket + key
}

// enter logs a request and runs the hook.
func (c *Cluster) enter(node int, method string, bucket, key []byte, req proto.Message) error {
	c.mu.Lock()
	call := Call{Node: node, Method: method, Bucket: string(bucket), Key: string(key), Request: proto.Clone(req)}
	if method == "Get" || method == "Put" || method == "Delete" {
		call.Partition = Partition(call.Bucket, call.Key, c.partitions)
		for _, o := range c.owners(call.Partition) {
			call.OnOwner = call.OnOwner || o == node
		}
	}
	c.calls = append(c.calls, call)
	hook := c.hook
	c.mu.Unlock()
	if hook != nil {
		return hook(node, method, req)
	}
	return nil
}

type kvServer struct {
	tuttipb.UnimplementedKVServer
	cluster *Cluster
	node    int
}

// enterKey logs a request for one key and runs the hook, then checks the
// names as a node does.
func (c *Cluster) enterKey(node int, method string, bucket, key []byte, req proto.Message) error {
	if err := c.enter(node, method, bucket, key, req); err != nil {
		return err
	}
	if len(bucket) == 0 || len(key) == 0 {
		return status.Error(codes.InvalidArgument, "bucket and key must not be empty")
	}
	return nil
}

func (s *kvServer) Get(_ context.Context, req *tuttipb.GetRequest) (*tuttipb.GetResponse, error) {
	c := s.cluster
	if err := c.enterKey(s.node, "Get", req.GetBucket(), req.GetKey(), req); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objects[objectKey(string(req.GetBucket()), string(req.GetKey()))]
	if o == nil {
		return &tuttipb.GetResponse{}, nil
	}
	resp := &tuttipb.GetResponse{Found: !o.deleted, Deleted: o.deleted, Context: o.context()}
	for _, sib := range o.siblings {
		resp.Siblings = append(resp.Siblings, proto.Clone(sib).(*tuttipb.Sibling))
	}
	return resp, nil
}

// Put replaces the siblings the context names (all of them when it names
// the current version, none otherwise), or all of them in an LWW bucket.
func (s *kvServer) Put(_ context.Context, req *tuttipb.PutRequest) (*tuttipb.PutResponse, error) {
	c := s.cluster
	if err := c.enterKey(s.node, "Put", req.GetBucket(), req.GetKey(), req); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objectLocked(req.GetBucket(), req.GetKey())
	if id := req.GetIdempotencyKey(); id != "" {
		if v, ok := o.written[id]; ok && v == string(req.GetValue()) {
			return &tuttipb.PutResponse{Context: o.context()}, nil
		}
		if o.written == nil {
			o.written = map[string]string{}
		}
		o.written[id] = string(req.GetValue())
	}
	if o.deleted || req.GetContext() == o.context() || c.propsLocked(string(req.GetBucket())).GetConflict() == "lww" {
		o.siblings = nil
	}
	c.clock++
	o.version, o.deleted = c.clock, false
	o.siblings = append(o.siblings, &tuttipb.Sibling{
		Value: append([]byte(nil), req.GetValue()...), ContentType: req.GetContentType(), LastModifiedUnixNano: c.clock,
	})
	return &tuttipb.PutResponse{Context: o.context()}, nil
}

func (s *kvServer) Delete(_ context.Context, req *tuttipb.DeleteRequest) (*tuttipb.DeleteResponse, error) {
	c := s.cluster
	if err := c.enterKey(s.node, "Delete", req.GetBucket(), req.GetKey(), req); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.objectLocked(req.GetBucket(), req.GetKey())
	c.clock++
	o.version, o.deleted, o.siblings = c.clock, true, nil
	return &tuttipb.DeleteResponse{Context: o.context()}, nil
}

func (s *kvServer) Ring(_ context.Context, req *tuttipb.RingRequest) (*tuttipb.RingResponse, error) {
	c := s.cluster
	if err := c.enter(s.node, "Ring", nil, nil, req); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &tuttipb.RingResponse{Partitions: int32(c.partitions), N: int32(c.n), Version: c.version}
	for _, n := range c.nodes {
		resp.Members = append(resp.Members, &tuttipb.RingMember{Id: n.id, GrpcAddr: n.addr, Alive: n.alive})
	}
	for p := 0; p < c.partitions; p++ {
		part := &tuttipb.RingPartition{}
		for _, o := range c.owners(p) {
			part.Owners = append(part.Owners, int32(o))
		}
		resp.Owners = append(resp.Owners, part)
	}
	return resp, nil
}

func (s *kvServer) GetBucketProps(_ context.Context, req *tuttipb.GetBucketPropsRequest) (*tuttipb.BucketProps, error) {
	c := s.cluster
	if err := c.enter(s.node, "GetBucketProps", req.GetBucket(), nil, req); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return proto.Clone(c.propsLocked(string(req.GetBucket()))).(*tuttipb.BucketProps), nil
}

func (s *kvServer) SetBucketProps(_ context.Context, req *tuttipb.SetBucketPropsRequest) (*tuttipb.BucketProps, error) {
	c := s.cluster
	if err := c.enter(s.node, "SetBucketProps", req.GetBucket(), nil, req); err != nil {
		return nil, err
	}
	p := req.GetProps()
	if p.GetConflict() != "siblings" && p.GetConflict() != "lww" {
		return nil, status.Errorf(codes.InvalidArgument, "conflict must be siblings or lww, not %q", p.GetConflict())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.props[string(req.GetBucket())] = proto.Clone(p).(*tuttipb.BucketProps)
	return proto.Clone(p).(*tuttipb.BucketProps), nil
}
