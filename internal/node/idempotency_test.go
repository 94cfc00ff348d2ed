package node

import (
	"context"
	"slices"
	"testing"

	"github.com/tutti-kv/tutti/internal/kv"
)

// TestRetriedWriteIsStoredOnce: a write resent to another node under the
// same idempotency key, as a client does when the first node died before
// answering, adds no sibling and takes no second dot; the same key with
// another value is another write.
func TestRetriedWriteIsStoredOnce(t *testing.T) {
	c := startCluster(t, 3, 3)
	ctx := context.Background()
	b, k := []byte("b"), []byte("k")
	put := func(node int, value, id string) {
		t.Helper()
		if _, err := c.nodes[node].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte(value), WriteID: id,
			Options: kv.Options{W: kv.All}}); err != nil {
			t.Fatal(err)
		}
	}
	put(0, "v", "w-1")
	put(1, "v", "w-1")
	put(2, "v", "w-1")
	got, err := c.nodes[1].Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	if vs := values(got); !slices.Equal(vs, []string{"v"}) {
		t.Fatalf("after three sends of one write: %v, want [v]", vs)
	}
	for i, nd := range c.nodes {
		local, err := nd.Local(ctx, b, k)
		if err != nil {
			t.Fatal(err)
		}
		if local.Copy == nil || len(local.Copy.Versions) != 1 || local.Copy.Versions[0].WriteID != "w-1" {
			t.Fatalf("node %d holds %+v, want one version written as w-1", i, local.Copy)
		}
	}
	put(2, "other", "w-1")
	got, err = c.nodes[0].Get(ctx, &kv.GetRequest{Bucket: b, Key: k, Options: kv.Options{R: kv.All}})
	if err != nil {
		t.Fatal(err)
	}
	if vs := values(got); !slices.Equal(vs, []string{"v", "other"}) && !slices.Equal(vs, []string{"other", "v"}) {
		t.Fatalf("a reused key with another value: %v, want both values", vs)
	}
	_, err = c.nodes[0].Put(ctx, &kv.PutRequest{Bucket: b, Key: k, Value: []byte("v"), WriteID: string(make([]byte, 65))})
	if kv.AsError(err).Kind != kv.BadRequest {
		t.Fatalf("a 65-byte idempotency key: %v, want a bad request", err)
	}
}
