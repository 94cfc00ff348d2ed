// Package transport moves internode requests (api/tuttipb PeerRequest and
// PeerResponse) between nodes.
//
// A Transport is the dialing side: Call sends one request to the node
// listening at addr and waits for its response or ctx's end. A Handler is
// the listening side.
//
// GRPC is the gRPC implementation. By default it carries the calls to one
// peer over a few long-lived bidirectional streams (Peer.Stream): a
// stream's sender puts whatever is queued when it is ready into one frame,
// so batches grow with load and a lone call waits for nobody; responses
// come back batched the same way and are matched to calls by id. Each call
// takes the stream with the fewest calls outstanding; a request too large
// for a frame goes as its own unary RPC (Peer.Call), the mode that
// Config.Mode can also select for every call.
//
// Failures: every Call returns by ctx's end at the latest, and ctx's
// deadline travels with the request. When a peer's stream breaks, every
// call pending on it fails at once with an error matching
// ErrPeerUnavailable; the next call redials, and while a peer cannot be
// reached calls to it fail fast for a short, growing backoff.
//
// Register serves a Handler on a grpc.Server that may carry other services
// on the same port; TLSConfig supplies the server options and the dialer's
// credentials.
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
	// Revive tells the transport that the node at addr is reachable again
	// (gossip saw it come back): calls stop failing fast and reconnect at
	// once rather than after the rest of their backoff.
	Revive(addr string)
	// Close releases all connections.
	Close() error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse

// HandlePeer calls f.
func (f HandlerFunc) HandlePeer(ctx context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse {
	return f(ctx, req)
}
