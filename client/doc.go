// Package client is the Go client of Tutti, a leaderless replicated
// key-value store.
//
// A Client sends each request straight to a replica of its key (client-driven
// coordination, Dynamo paper section 6.4), which saves the hop a receiving
// node would otherwise spend forwarding it. To know the replicas, the client
// fetches the ring (members, liveness and the owners of every partition) when
// it starts, every ten seconds after that, and at once after a node it chose
// could not be reached. It places a key exactly as the nodes do:
//
//	hash      = xxhash64(uvarint(len(bucket)) || bucket || key)
//	partition = hash >> (64 - log2(partitions))
//
// and picks one of the partition's live owners at random, so that the
// coordination work spreads over the replicas. When no owner can be reached,
// the request goes to any other node, which forwards it.
//
// Nodes die, and a request must not fail with them. A node that cannot be
// reached before the request leaves the client is skipped for the next one.
// A request whose node fails before answering (it was killed or restarted,
// or the connection broke) is resent to the next node, within the request's
// deadline. That is safe for writes because every Put and Delete carries an
// idempotency key (random, or the caller's with WithIdempotencyKey): a node
// that already holds the write under that key and value stores no second
// version, and where two coordinators each stored it, reads show it once.
// A write that a node answered with an error, such as an unmet quorum, is
// reported, not resent. A Get, which changes nothing, is also tried on one
// more node when the first answers Unavailable.
//
// Bucket and key names are strings holding arbitrary bytes; values are byte
// slices. Errors from the cluster are *Error values carrying the gRPC code
// and message; errors.Is(err, ErrUnavailable) tells an unmet quorum or an
// unreachable cluster, errors.Is(err, ErrInvalid) a request the node refused.
//
// Typical use:
//
//	c, err := client.New(ctx, []string{"10.0.0.1:9701", "10.0.0.2:9701"})
//	if err != nil { ... }
//	defer c.Close()
//	obj, err := c.Get(ctx, "users", "alice")
//	if err != nil { ... }
//	// Write back with the context of what was read, so that the new value
//	// replaces the versions read instead of becoming a sibling of them.
//	_, err = c.Put(ctx, "users", "alice", merged(obj.Siblings),
//		client.WithContext(obj.Context), client.W(client.QuorumMajority))
//
// A Client is safe for concurrent use by many goroutines.
package client
