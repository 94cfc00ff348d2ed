package transport

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

var allModes = []Mode{ModeStream, ModeUnary}

// echoHandler answers each body type with something derived from the
// request, so tests can tell responses apart. When block is set it first
// waits for block to close or ctx to end.
type echoHandler struct {
	block   chan struct{}
	entered chan *handlerCall
}

// handlerCall is what a blocking handler saw.
type handlerCall struct {
	req *tuttipb.PeerRequest
	ctx context.Context
}

func (h *echoHandler) HandlePeer(ctx context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse {
	if h.entered != nil {
		h.entered <- &handlerCall{req: req, ctx: ctx}
	}
	if h.block != nil {
		select {
		case <-h.block:
		case <-ctx.Done():
			return &tuttipb.PeerResponse{Error: ctx.Err().Error(), Code: tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE}
		}
	}
	switch body := req.GetBody().(type) {
	case *tuttipb.PeerRequest_Read:
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Read{Read: &tuttipb.ReplicaReadResult{Object: body.Read.GetKey()}}}
	case *tuttipb.PeerRequest_Write:
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Write{Write: &tuttipb.ReplicaWriteResult{Durable: body.Write.GetSync()}}}
	case *tuttipb.PeerRequest_Coordinate:
		return &tuttipb.PeerResponse{Body: &tuttipb.PeerResponse_Coordinate{Coordinate: &tuttipb.CoordinateResult{Context: body.Coordinate.GetValue()}}}
	default:
		return &tuttipb.PeerResponse{Error: "unknown body", Code: tuttipb.ErrorCode_ERROR_CODE_BAD_REQUEST}
	}
}

// testServer is a grpc.Server serving the Peer service on loopback.
type testServer struct {
	addr string
	grpc *grpc.Server
	peer *Server
	done chan struct{}
}

// startServer serves h on addr ("127.0.0.1:0" for any port) until the test
// ends or stop is called.
func startServer(t testing.TB, addr string, h Handler, tlsCfg TLSConfig) *testServer {
	t.Helper()
	opts, err := tlsCfg.ServerOptions()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: lis.Addr().String(), grpc: grpc.NewServer(opts...), done: make(chan struct{})}
	s.peer = Register(s.grpc, h)
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop kills the server abruptly, as a crash would: connections close and
// handlers are cancelled.
func (s *testServer) stop() {
	s.grpc.Stop()
	<-s.done
}

func writeRequest(key string, object []byte) *tuttipb.PeerRequest {
	return &tuttipb.PeerRequest{
		From: "node-a",
		Body: &tuttipb.PeerRequest_Write{Write: &tuttipb.ReplicaWrite{
			Bucket: []byte("b"), Key: []byte(key), Object: object, Sync: true,
		}},
	}
}

func readRequest(key string) *tuttipb.PeerRequest {
	return &tuttipb.PeerRequest{
		From: "node-a",
		Body: &tuttipb.PeerRequest_Read{Read: &tuttipb.ReplicaRead{Bucket: []byte("b"), Key: []byte(key)}},
	}
}

func newTransport(t testing.TB, cfg Config) *GRPC {
	t.Helper()
	g, err := NewGRPC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}
