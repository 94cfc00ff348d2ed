package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/client"
	"github.com/tutti-kv/tutti/client/clienttest"
)

func startCluster(t *testing.T, nodes, partitions, n int) *clienttest.Cluster {
	t.Helper()
	c, err := clienttest.Start(nodes, partitions, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newClient(t *testing.T, endpoints []string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(ctx, endpoints, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func callsOf(cluster *clienttest.Cluster, method string) []clienttest.Call {
	var out []clienttest.Call
	for _, c := range cluster.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func TestRoutesToAnOwnerOfTheKeysPartition(t *testing.T) {
	cluster := startCluster(t, 3, 8, 2)
	c := newClient(t, cluster.Endpoints()[:1])
	ctx := context.Background()

	// ("users", "alice") hashes to 0xa8596404ac3ba6ca: partition 5 of 8,
	// owned by nodes 5%3 and 6%3.
	if _, err := c.Put(ctx, "users", "alice", []byte("v")); err != nil {
		t.Fatal(err)
	}
	puts := callsOf(cluster, "Put")
	if len(puts) != 1 || puts[0].Partition != 5 || (puts[0].Node != 2 && puts[0].Node != 0) {
		t.Fatalf("put calls = %+v, want one on node 2 or 0 (owners of partition 5)", puts)
	}

	for i := 0; i < 200; i++ {
		key := fmt.Sprintf("key-%d", i)
		if _, err := c.Put(ctx, "b", key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(ctx, "b", key); err != nil {
			t.Fatal(err)
		}
	}
	for _, call := range cluster.Calls() {
		if (call.Method == "Put" || call.Method == "Get") && !call.OnOwner {
			t.Fatalf("%s of %q went to node %d, not an owner of partition %d (%v)",
				call.Method, call.Key, call.Node, call.Partition, cluster.Owners(call.Partition))
		}
	}
}

func TestSpreadsRequestsOverLiveOwners(t *testing.T) {
	cluster := startCluster(t, 4, 4, 3)
	cluster.SetAlive(1, false)
	c := newClient(t, cluster.Endpoints()[:1])
	ctx := context.Background()
	// Partition 1 of 4 is owned by nodes 1, 2 and 3; node 1 is reported down.
	key := keyInPartition(t, "b", 1, 4)
	for i := 0; i < 300; i++ {
		if _, err := c.Get(ctx, "b", key); err != nil {
			t.Fatal(err)
		}
	}
	perNode := map[int]int{}
	for _, call := range callsOf(cluster, "Get") {
		perNode[call.Node]++
	}
	if perNode[1] != 0 || perNode[0] != 0 {
		t.Errorf("gets per node = %v: none should go to the down owner 1 or the non-owner 0", perNode)
	}
	if perNode[2] < 75 || perNode[3] < 75 {
		t.Errorf("gets per node = %v: want both live owners chosen often", perNode)
	}
}

func TestSeededChoicesRepeat(t *testing.T) {
	cluster := startCluster(t, 3, 1, 3)
	ctx := context.Background()
	sequence := func() []int {
		c := newClient(t, cluster.Endpoints()[:1], client.WithSeed(7))
		cluster.ResetCalls()
		for i := 0; i < 30; i++ {
			if _, err := c.Get(ctx, "b", "k"); err != nil {
				t.Fatal(err)
			}
		}
		var nodes []int
		for _, call := range callsOf(cluster, "Get") {
			nodes = append(nodes, call.Node)
		}
		return nodes
	}
	first, second := sequence(), sequence()
	if fmt.Sprint(first) != fmt.Sprint(second) {
		t.Errorf("same seed, different choices:\n%v\n%v", first, second)
	}
}

// keyInPartition finds a key of bucket that falls in partition p.
func keyInPartition(t *testing.T, bucket string, p, partitions int) string {
	t.Helper()
	for i := 0; i < 10000; i++ {
		k := fmt.Sprintf("k%d", i)
		if clienttest.Partition(bucket, k, partitions) == p {
			return k
		}
	}
	t.Fatalf("no key in partition %d", p)
	return ""
}

func TestFallsBackWhenOwnersAreUnreachable(t *testing.T) {
	cluster := startCluster(t, 3, 4, 1)
	// Only node 0 has been contacted; partition 2's only owner, node 2,
	// stops while the ring still reports it alive.
	c := newClient(t, cluster.Endpoints()[:1], client.WithRingRefresh(time.Hour))
	cluster.Stop(2)
	ringCallsBefore := len(callsOf(cluster, "Ring"))
	ctx := context.Background()
	key := keyInPartition(t, "b", 2, 4)

	if _, err := c.Put(ctx, "b", key, []byte("v")); err != nil {
		t.Fatalf("put with its owner down: %v", err)
	}
	puts := callsOf(cluster, "Put")
	if len(puts) != 1 || puts[0].Node == 2 {
		t.Fatalf("puts = %+v, want exactly one, on a live node", puts)
	}
	obj, err := c.Get(ctx, "b", key)
	if err != nil || !obj.Found {
		t.Fatalf("get after fallback put = %+v, %v", obj, err)
	}
	// The routing failure asks for the ring at once, not at the next tick.
	deadline := time.Now().Add(5 * time.Second)
	for len(callsOf(cluster, "Ring")) == ringCallsBefore {
		if time.Now().After(deadline) {
			t.Fatal("no ring refresh after a routing failure")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUnavailableWhenNoNodeIsReachable(t *testing.T) {
	cluster := startCluster(t, 2, 2, 1)
	c := newClient(t, cluster.Endpoints()[:1])
	cluster.Stop(0)
	cluster.Stop(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Put(ctx, "b", "k", []byte("v"))
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("put with every node down: %v, want ErrUnavailable", err)
	}
	if n := len(callsOf(cluster, "Put")); n != 0 {
		t.Errorf("%d puts arrived", n)
	}
}

func TestWritesAreNotResentAfterANodesAnswer(t *testing.T) {
	cluster := startCluster(t, 3, 1, 3)
	cluster.SetHook(func(_ int, method string, _ proto.Message) error {
		if method == "Put" || method == "Delete" {
			return clienttest.Unavailable("needed 2, answered 1")
		}
		return nil
	})
	c := newClient(t, cluster.Endpoints()[:1])
	ctx := context.Background()
	if _, err := c.Put(ctx, "b", "k", []byte("v")); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("put = %v, want ErrUnavailable", err)
	}
	if _, err := c.Delete(ctx, "b", "k"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("delete = %v, want ErrUnavailable", err)
	}
	if n, m := len(callsOf(cluster, "Put")), len(callsOf(cluster, "Delete")); n != 1 || m != 1 {
		t.Errorf("%d puts and %d deletes sent, want 1 each", n, m)
	}
}

// TestWriteIsResentWhenItsNodeDies: the node a Put went to dies after
// applying it and before answering; the client sends it to the next
// replica under the same idempotency key, within its deadline, and the
// value is stored once.
func TestWriteIsResentWhenItsNodeDies(t *testing.T) {
	cluster := startCluster(t, 3, 1, 3)
	c := newClient(t, cluster.Endpoints())
	var died atomic.Int64
	died.Store(-1)
	cluster.SetHook(func(node int, method string, _ proto.Message) error {
		if (method == "Put" || method == "Delete") && died.CompareAndSwap(-1, int64(node)) {
			go cluster.Stop(node) // cuts the connection under the request
			time.Sleep(200 * time.Millisecond)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "b", "k", []byte("v")); err != nil {
		t.Fatalf("put whose node died mid-request: %v", err)
	}
	puts := callsOf(cluster, "Put")
	if len(puts) != 2 || puts[0].Node != int(died.Load()) || puts[1].Node == puts[0].Node {
		t.Fatalf("puts = %+v, want the first on the node that died, then one on another", puts)
	}
	first, second := puts[0].Request.(*tuttipb.PutRequest), puts[1].Request.(*tuttipb.PutRequest)
	if first.GetIdempotencyKey() == "" || first.GetIdempotencyKey() != second.GetIdempotencyKey() {
		t.Fatalf("idempotency keys %q and %q, want one non-empty key", first.GetIdempotencyKey(), second.GetIdempotencyKey())
	}
	if n := cluster.Siblings("b", "k"); n != 1 {
		t.Fatalf("%d siblings after the resent put, want 1", n)
	}
	// Every write gets its own key; a caller's key is used as given.
	if _, err := c.Put(ctx, "b", "k2", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "b", "k2", client.WithIdempotencyKey("mine")); err != nil {
		t.Fatal(err)
	}
	puts = callsOf(cluster, "Put")
	deletes := callsOf(cluster, "Delete")
	if k := puts[2].Request.(*tuttipb.PutRequest).GetIdempotencyKey(); k == "" || k == first.GetIdempotencyKey() {
		t.Errorf("second put's key %q: want a fresh one", k)
	}
	if k := deletes[0].Request.(*tuttipb.DeleteRequest).GetIdempotencyKey(); k != "mine" {
		t.Errorf("delete's key %q, want mine", k)
	}
}

func TestGetIsRetriedOnAnotherNode(t *testing.T) {
	cluster := startCluster(t, 3, 1, 3)
	c := newClient(t, cluster.Endpoints()[:1])
	ctx := context.Background()
	if _, err := c.Put(ctx, "b", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var failing atomic.Int64
	failing.Store(-1)
	cluster.SetHook(func(node int, method string, _ proto.Message) error {
		if method != "Get" {
			return nil
		}
		failing.CompareAndSwap(-1, int64(node))
		if int64(node) == failing.Load() {
			return clienttest.Unavailable("cut off from peers")
		}
		return nil
	})
	obj, err := c.Get(ctx, "b", "k")
	if err != nil || !obj.Found {
		t.Fatalf("get = %+v, %v; want the value from a second node", obj, err)
	}
	gets := callsOf(cluster, "Get")
	if len(gets) != 2 || gets[0].Node == gets[1].Node {
		t.Errorf("gets = %+v, want two on different nodes", gets)
	}

	// When every node answers Unavailable, a Get gives up after two.
	cluster.ResetCalls()
	cluster.SetHook(func(int, string, proto.Message) error { return clienttest.Unavailable("no quorum") })
	if _, err := c.Get(ctx, "b", "k"); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("get = %v, want ErrUnavailable", err)
	}
	if n := len(callsOf(cluster, "Get")); n != 2 {
		t.Errorf("%d gets sent, want 2", n)
	}
}

func TestErrorsCarryCodeAndMessage(t *testing.T) {
	cluster := startCluster(t, 2, 2, 2)
	c := newClient(t, cluster.Endpoints())
	ctx := context.Background()

	quorumNotMet, err := status.New(codes.Unavailable, "not enough replicas acknowledged (needed 2, answered 1)").
		WithDetails(&errdetails.ErrorInfo{Reason: "QUORUM_NOT_MET", Domain: "tutti-kv.io",
			Metadata: map[string]string{"needed": "2", "answered": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	cluster.SetHook(func(_ int, method string, _ proto.Message) error {
		switch method {
		case "Put":
			return quorumNotMet.Err()
		case "Delete":
			return status.Error(codes.ResourceExhausted, "value over 8 MiB")
		}
		return nil
	})
	_, err = c.Put(ctx, "b", "k", []byte("v"))
	var e *client.Error
	if !errors.As(err, &e) || e.Code != codes.Unavailable || e.Message != "not enough replicas acknowledged (needed 2, answered 1)" ||
		cluster.NodeOf(e.Node) < 0 || e.Reason != "QUORUM_NOT_MET" || e.Needed != 2 || e.Answered != 1 {
		t.Fatalf("put error = %#v", err)
	}
	if _, err := c.Delete(ctx, "b", "k"); !errors.Is(err, client.ErrTooLarge) || errors.Is(err, client.ErrInvalid) {
		t.Errorf("delete = %v, want ErrTooLarge", err)
	}
	if !errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrInvalid) {
		t.Errorf("put error %v: classes wrong", err)
	}
	cluster.SetHook(nil)

	_, err = c.Put(ctx, "", "k", []byte("v"))
	if !errors.Is(err, client.ErrInvalid) || errors.Is(err, client.ErrUnavailable) {
		t.Errorf("put to an empty bucket = %v, want ErrInvalid", err)
	}

	cluster.SetHook(func(_ int, method string, _ proto.Message) error {
		if method == "GetBucketProps" {
			return status.Error(codes.NotFound, "no such thing")
		}
		return nil
	})
	if _, err := c.BucketProps(ctx, "b"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("props = %v, want ErrNotFound", err)
	}

	release := make(chan struct{})
	defer close(release)
	cluster.SetHook(func(_ int, method string, _ proto.Message) error {
		if method == "Get" {
			<-release
		}
		return nil
	})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Get(short, "b", "k")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &e) || e.Code != codes.DeadlineExceeded {
		t.Errorf("get past its deadline = %v, want DeadlineExceeded", err)
	}
}

func TestOptionsReachTheNode(t *testing.T) {
	cluster := startCluster(t, 1, 1, 1)
	c := newClient(t, cluster.Endpoints())
	ctx := context.Background()

	if _, err := c.Put(ctx, "b", "k", []byte("v"),
		client.W(client.Count(2)), client.DW(client.One), client.PW(client.QuorumMajority),
		client.WithTimeout(1500*time.Millisecond), client.WithContext("ctx-1"), client.WithContentType("text/plain"),
		client.WithIdempotencyKey("put-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "b", "k", client.R(client.All), client.PR(client.Count(0)), client.WithTimeout(100*time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx, "b", "k", client.W(client.One), client.DW(client.Count(0)), client.PW(client.All), client.WithContext("ctx-2"),
		client.WithIdempotencyKey("delete-1")); err != nil {
		t.Fatal(err)
	}
	want := map[string]proto.Message{
		"Put": &tuttipb.PutRequest{Bucket: []byte("b"), Key: []byte("k"), Value: []byte("v"), ContentType: "text/plain",
			Context: "ctx-1", W: 2, Dw: -1, Pw: -2, TimeoutMs: 1500, IdempotencyKey: "put-1"},
		// A sub-millisecond timeout rounds up rather than to "none".
		"Get":    &tuttipb.GetRequest{Bucket: []byte("b"), Key: []byte("k"), R: -3, Pr: -4, TimeoutMs: 1},
		"Delete": &tuttipb.DeleteRequest{Bucket: []byte("b"), Key: []byte("k"), Context: "ctx-2", W: -1, Dw: -4, Pw: -3, IdempotencyKey: "delete-1"},
	}
	for method, w := range want {
		calls := callsOf(cluster, method)
		if len(calls) != 1 || !proto.Equal(calls[0].Request, w) {
			t.Errorf("%s requests = %v, want %v", method, calls, w)
		}
	}
}

func TestObjectsSiblingsAndDeletes(t *testing.T) {
	cluster := startCluster(t, 2, 4, 2)
	c := newClient(t, cluster.Endpoints())
	ctx := context.Background()

	obj, err := c.Get(ctx, "b", "k")
	if err != nil || obj.Found || obj.Deleted || len(obj.Siblings) != 0 {
		t.Fatalf("missing key = %+v, %v", obj, err)
	}
	if _, err := c.Put(ctx, "b", "k", []byte("one"), client.WithContentType("text/plain")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "b", "k", []byte("two")); err != nil {
		t.Fatal(err)
	}
	obj, err = c.Get(ctx, "b", "k")
	if err != nil || !obj.Found || len(obj.Siblings) != 2 || obj.Context == "" {
		t.Fatalf("after two blind puts = %+v, %v; want 2 siblings", obj, err)
	}
	if s := obj.Siblings[0]; string(s.Value) != "one" || s.ContentType != "text/plain" || s.LastModified.IsZero() {
		t.Errorf("first sibling = %+v", s)
	}
	if _, err := c.Put(ctx, "b", "k", []byte("merged"), client.WithContext(obj.Context)); err != nil {
		t.Fatal(err)
	}
	obj, err = c.Get(ctx, "b", "k")
	if err != nil || len(obj.Siblings) != 1 || string(obj.Siblings[0].Value) != "merged" {
		t.Fatalf("after a put with context = %+v, %v", obj, err)
	}
	delCtx, err := c.Delete(ctx, "b", "k", client.WithContext(obj.Context))
	if err != nil || delCtx == "" {
		t.Fatalf("delete = %q, %v", delCtx, err)
	}
	obj, err = c.Get(ctx, "b", "k")
	if err != nil || obj.Found || !obj.Deleted || obj.Context == "" {
		t.Fatalf("after delete = %+v, %v; want deleted with a context", obj, err)
	}
}

func TestBucketProps(t *testing.T) {
	cluster := startCluster(t, 2, 2, 2)
	c := newClient(t, cluster.Endpoints())
	ctx := context.Background()

	p, err := c.BucketProps(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	want := client.BucketProps{Conflict: client.ConflictSiblings, R: client.QuorumMajority, W: client.QuorumMajority,
		DW: client.One, PR: client.Count(0), PW: client.Count(0)}
	if p != want {
		t.Errorf("default props = %+v, want %+v", p, want)
	}
	p.Conflict, p.W = client.ConflictLWW, client.All
	got, err := c.SetBucketProps(ctx, "b", p)
	if err != nil || got != p {
		t.Fatalf("set props = %+v, %v; want %+v", got, err, p)
	}
	stored := cluster.Props("b")
	if stored.GetConflict() != "lww" || stored.GetW() != -3 || stored.GetPr() != 0 {
		t.Errorf("stored props = %v", stored)
	}
	if _, err := c.SetBucketProps(ctx, "b", client.BucketProps{Conflict: "newest"}); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("bad conflict policy = %v, want ErrInvalid", err)
	}
}

func TestRingIsRefreshedPeriodically(t *testing.T) {
	cluster := startCluster(t, 3, 8, 1)
	c := newClient(t, cluster.Endpoints(), client.WithRingRefresh(20*time.Millisecond))
	ctx := context.Background()
	cluster.SetOwners(func(p int) []int { return []int{(p + 1) % 3} })

	// Wait for a Get to follow the new placement, then check that all do.
	deadline := time.Now().Add(5 * time.Second)
	for {
		cluster.ResetCalls()
		if _, err := c.Get(ctx, "b", "k"); err != nil {
			t.Fatal(err)
		}
		if callsOf(cluster, "Get")[0].OnOwner {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client never picked up the new placement")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cluster.ResetCalls()
	for i := 0; i < 50; i++ {
		if _, err := c.Get(ctx, "b", fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, call := range callsOf(cluster, "Get") {
		if !call.OnOwner {
			t.Fatalf("get of %q went to node %d, not the new owner", call.Key, call.Node)
		}
	}
}

func TestNewFailsWithoutAReachableEndpoint(t *testing.T) {
	if _, err := client.New(context.Background(), nil); err == nil {
		t.Error("New without endpoints succeeded")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.New(ctx, []string{addr}, client.WithDialTimeout(time.Second)); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("New with a closed endpoint = %v, want an error naming it", err)
	}
}

func TestClose(t *testing.T) {
	cluster := startCluster(t, 1, 1, 1)
	c, err := client.New(context.Background(), cluster.Endpoints())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := c.Get(context.Background(), "b", "k"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
}
