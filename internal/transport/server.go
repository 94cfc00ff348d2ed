package transport

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// DefaultMaxInFlightPerStream bounds the requests of one stream handled at
// once when ServerConfig leaves it zero.
const DefaultMaxInFlightPerStream = 1024

// ServerConfig configures the listening side.
type ServerConfig struct {
	// MaxInFlightPerStream bounds the requests of one stream being handled
	// at once. When it is reached the server stops reading that stream, and
	// flow control pushes back on the dialer.
	MaxInFlightPerStream int
	// MaxFrameBytes bounds the encoded responses batched into one frame; a
	// single larger response travels alone.
	MaxFrameBytes int
	// Logger receives stream events; nil discards them.
	Logger *slog.Logger

	// dispatch and fixedWorkers select how a stream's requests are run;
	// the zero value is the default, the others exist to be measured
	// against it (BenchmarkServerDispatch).
	dispatch     dispatchMode
	fixedWorkers int
}

// Server serves the Peer service for one Handler.
type Server struct {
	tuttipb.UnimplementedPeerServer
	handler Handler
	cfg     ServerConfig
	log     *slog.Logger

	drainOnce sync.Once
	// draining is closed by Drain.
	draining chan struct{}
}

// Register serves h as the Peer service on s, which may carry other services
// on the same port. The grpc.Server should be built with
// TLSConfig.ServerOptions so that large messages and the dialers' keepalive
// pings are accepted.
func Register(s grpc.ServiceRegistrar, h Handler) *Server {
	return RegisterWithConfig(s, h, ServerConfig{})
}

// RegisterWithConfig is Register with explicit settings.
func RegisterWithConfig(s grpc.ServiceRegistrar, h Handler, cfg ServerConfig) *Server {
	setDefault(&cfg.MaxInFlightPerStream, DefaultMaxInFlightPerStream)
	setDefault(&cfg.MaxFrameBytes, DefaultMaxFrameBytes)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv := &Server{handler: h, cfg: cfg, log: cfg.Logger, draining: make(chan struct{})}
	tuttipb.RegisterPeerServer(s, srv)
	return srv
}

// Drain ends every open stream once the requests it already accepted are
// answered; requests that arrive meanwhile are refused with
// ERROR_CODE_UNAVAILABLE. Streams never end on their own, so call Drain
// before grpc.Server.GracefulStop, which would otherwise wait for them
// forever. It returns at once.
func (s *Server) Drain() {
	s.drainOnce.Do(func() { close(s.draining) })
}

// Call answers one request per RPC.
func (s *Server) Call(ctx context.Context, req *tuttipb.PeerRequest) (*tuttipb.PeerResponse, error) {
	return s.handle(ctx, req), nil
}

// handle runs the handler under the request's deadline and returns the
// response to send, carrying the request's id.
func (s *Server) handle(ctx context.Context, req *tuttipb.PeerRequest) *tuttipb.PeerResponse {
	if d := req.GetDeadlineUnixNano(); d != 0 {
		deadline := time.Unix(0, d)
		if !time.Now().Before(deadline) {
			// The caller has given up; answer without doing the work.
			return errorResponse(req.GetId(), tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE, "transport: deadline passed before the request was handled")
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	resp := s.handler.HandlePeer(ctx, req)
	if resp == nil {
		return errorResponse(req.GetId(), tuttipb.ErrorCode_ERROR_CODE_INTERNAL, "transport: handler returned no response")
	}
	return responseEnvelope(resp, req.GetId())
}

// Stream answers batches of requests with batches of responses. Requests
// are handled concurrently, at most MaxInFlightPerStream at a time; the
// stream ends when the dialer goes away or at Drain.
func (s *Server) Stream(stream tuttipb.Peer_StreamServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	out := newBatchQueue[*tuttipb.PeerResponse]()
	stopSending := make(chan struct{})
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.sendResponses(stream, out, stopSending) }()

	d := newDispatcher(ctx, s, out)
	recvErr := make(chan error, 1)
	go func() { recvErr <- s.receiveRequests(ctx, stream, d) }()

	select {
	case err := <-recvErr:
		s.log.Debug("transport: peer stream ended", "err", err)
	case <-s.draining:
	case err := <-sendErr:
		s.log.Debug("transport: peer stream send failed", "err", err)
		return err
	}
	d.waitIdle()
	close(stopSending)
	return <-sendErr
}

// receiveRequests reads frames and dispatches their requests until the
// stream fails or ctx ends.
func (s *Server) receiveRequests(ctx context.Context, stream tuttipb.Peer_StreamServer, d *dispatcher) error {
	for {
		frame, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, req := range frame.GetRequests() {
			if err := d.dispatch(req); err != nil {
				return err
			}
		}
	}
}

// sendResponses sends queued responses in frames until stop is closed,
// then sends what is left and returns.
func (s *Server) sendResponses(stream tuttipb.Peer_StreamServer, out *batchQueue[*tuttipb.PeerResponse], stop <-chan struct{}) error {
	for {
		stopping := false
		select {
		case <-out.wake:
		case <-stop:
			stopping = true
		}
		for {
			batch := out.take(s.cfg.MaxFrameBytes)
			if batch == nil {
				break
			}
			if err := stream.Send(&tuttipb.PeerFrame{Responses: batch}); err != nil {
				return err
			}
		}
		if stopping {
			return nil
		}
	}
}
