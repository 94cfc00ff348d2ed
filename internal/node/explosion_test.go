package node

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/tutti-kv/tutti/internal/kv"
)

// TestSiblingExplosion ports riak_test's sibling_explosion to a real
// three-node cluster: two clients on one key each read, merge what they read
// with a new number, and write back with the context of their own previous
// read, so every write misses the other client's last one. With dotted
// version vectors the key settles at exactly two siblings, and their union
// holds every number written.
func TestSiblingExplosion(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	b, k := []byte("explode"), []byte("k")
	type client struct {
		node    *Node
		context string
		set     map[int]bool
	}
	clients := []*client{{node: c.nodes[0], set: map[int]bool{}}, {node: c.nodes[1], set: map[int]bool{}}}
	read := func(cl *client) {
		got, err := cl.node.Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
		if err != nil {
			t.Fatal(err)
		}
		cl.context = got.Context
		for _, s := range got.Siblings {
			for _, f := range strings.Fields(string(s.Value)) {
				n, _ := strconv.Atoi(f)
				cl.set[n] = true
			}
		}
	}
	encode := func(set map[int]bool) []byte {
		var ns []string
		for n := range set {
			ns = append(ns, strconv.Itoa(n))
		}
		return []byte(strings.Join(ns, " "))
	}
	const rounds = 50
	next := 0
	for round := 0; round < rounds; round++ {
		for _, cl := range clients {
			// Write with the context of this client's previous read, which
			// misses the other client's latest write; then read.
			next++
			cl.set[next] = true
			if _, err := cl.node.Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: encode(cl.set), Context: cl.context,
				Options: kv.Options{W: kv.All}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range clients {
			read(cl)
		}
	}
	got, err := c.nodes[2].Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Siblings) != 2 {
		t.Fatalf("%d siblings after %d rounds, want exactly 2", len(got.Siblings), rounds)
	}
	union := map[int]bool{}
	for _, s := range got.Siblings {
		for _, f := range strings.Fields(string(s.Value)) {
			n, _ := strconv.Atoi(f)
			union[n] = true
		}
	}
	var missing []int
	for n := 1; n <= next; n++ {
		if !union[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("writes lost: %v", missing)
	}
	t.Logf("after %d writes by 2 clients: %d siblings holding all %d numbers", next, len(got.Siblings), len(union))
}

// BenchmarkReplicatedWrite measures one quorum write (N=3, W=2, dw=1) and
// one quorum read (R=2) through a real three-node cluster in this process
// (gRPC on loopback, Pebble on disk), from 16 goroutines per core, so that
// ns/op is the cluster's cost per operation under load, not one request's
// latency.
func BenchmarkReplicatedWrite(b *testing.B) {
	c := startCluster(b, 3, 3)
	ctx := context.Background()
	// LWW keeps blind overwrites from piling up siblings.
	props := kv.DefaultProps()
	props.Conflict = kv.LWW
	if err := c.nodes[0].SetProps(ctx, []byte("bench"), props); err != nil {
		b.Fatal(err)
	}
	c.waitProps([]byte("bench"), kv.LWW)
	value := []byte(strings.Repeat("x", 100))
	// each runs op from 16 goroutines per core over 1000 keys, spread over
	// the three nodes.
	each := func(op func(nd *Node, key []byte) error) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if err := op(c.nodes[i%3], []byte(fmt.Sprintf("k%d", i%1000))); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	b.Run("put", each(func(nd *Node, key []byte) error {
		_, err := nd.Put(ctx, &kv.PutRequest{Bucket: []byte("bench"), Key: key, Value: value})
		return err
	}))
	b.Run("get", each(func(nd *Node, key []byte) error {
		_, err := nd.Get(ctx, &kv.GetRequest{Bucket: []byte("bench"), Key: key})
		return err
	}))
}
