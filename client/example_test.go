package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/tutti-kv/tutti/client"
	"github.com/tutti-kv/tutti/client/clienttest"
)

// Example writes a key twice without reading it first, which leaves two
// siblings, then resolves them by writing back with the context it read.
func Example() {
	// A fake three-node cluster; against a real one, pass its nodes' gRPC
	// addresses to client.New.
	cluster, err := clienttest.Start(3, 64, 3)
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	ctx := context.Background()
	c, err := client.New(ctx, cluster.Endpoints())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Two blind writes are concurrent: the bucket keeps both.
	for _, plan := range []string{`{"plan":"free"}`, `{"plan":"pro"}`} {
		if _, err := c.Put(ctx, "users", "alice", []byte(plan), client.WithContentType("application/json")); err != nil {
			log.Fatal(err)
		}
	}
	obj, err := c.Get(ctx, "users", "alice", client.R(client.QuorumMajority))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("siblings:", len(obj.Siblings))

	// Writing with the context read replaces exactly the versions read.
	_, err = c.Put(ctx, "users", "alice", []byte(`{"plan":"pro"}`),
		client.WithContext(obj.Context), client.W(client.QuorumMajority), client.DW(client.One))
	if err != nil {
		log.Fatal(err)
	}
	obj, err = c.Get(ctx, "users", "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("siblings:", len(obj.Siblings), string(obj.Siblings[0].Value))

	// Errors carry the node's gRPC code; test their class with errors.Is.
	_, err = c.Put(ctx, "", "alice", []byte("x"))
	fmt.Println("invalid:", errors.Is(err, client.ErrInvalid))
	// Output:
	// siblings: 2
	// siblings: 1 {"plan":"pro"}
	// invalid: true
}
