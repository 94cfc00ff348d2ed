// Package transport moves internode requests (api/tuttipb PeerRequest and
// PeerResponse) between nodes.
//
// A Transport is the dialing side: Call sends one request to the node
// listening at addr and waits for its response or ctx's end. A Handler is
// the listening side. The gRPC implementation batches concurrent requests to
// one peer over a long-lived stream.
package transport

import (
	"context"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// Handler answers requests from other nodes. It is called concurrently and
// must not retain req after it returns.
type Handler interface {
	HandlePeer(ctx context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse
}

// Transport sends requests to other nodes. It is safe for concurrent use.
type Transport interface {
	// Call sends req to the node at addr and returns its response. An error
	// means the request may or may not have been delivered and processed.
	Call(ctx context.Context, addr string, req *tuttipb.PeerRequest) (*tuttipb.PeerResponse, error)
	// Close releases all connections.
	Close() error
}
