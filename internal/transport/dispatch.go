package transport

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// dispatchMode is how the listening side runs a stream's requests.
type dispatchMode int

const (
	// dispatchPerRequest starts a goroutine per request, so that a
	// handler that blocks (an fsync) never holds up the others.
	dispatchPerRequest dispatchMode = iota
	// dispatchFixed hands requests to ServerConfig.fixedWorkers workers;
	// it is kept to be measured against the default.
	dispatchFixed
)

// dispatcher runs one stream's requests concurrently, at most
// MaxInFlightPerStream at a time, and queues their responses.
type dispatcher struct {
	ctx context.Context
	srv *Server
	out *batchQueue[*tuttipb.PeerResponse]
	// inFlight holds one token per request being handled; holding them
	// all means none runs and none can start.
	inFlight chan struct{}
	// jobs feeds the fixed workers.
	jobs chan *tuttipb.PeerRequest
}

func newDispatcher(ctx context.Context, srv *Server, out *batchQueue[*tuttipb.PeerResponse]) *dispatcher {
	d := &dispatcher{
		ctx:      ctx,
		srv:      srv,
		out:      out,
		inFlight: make(chan struct{}, srv.cfg.MaxInFlightPerStream),
	}
	if srv.cfg.dispatch == dispatchFixed {
		d.jobs = make(chan *tuttipb.PeerRequest)
		for range srv.cfg.fixedWorkers {
			go d.work()
		}
	}
	return d
}

// dispatch starts handling req, first waiting while the stream's limit of
// requests in flight is reached. It fails only when the stream ends.
func (d *dispatcher) dispatch(req *tuttipb.PeerRequest) error {
	select {
	case d.inFlight <- struct{}{}:
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
	select {
	case <-d.srv.draining:
		d.finish(errorResponse(req.GetId(), tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE, "transport: peer is shutting down"))
		return nil
	default:
	}
	if d.jobs == nil {
		go d.run(req)
		return nil
	}
	select {
	case d.jobs <- req:
		return nil
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

// work is a fixed worker: it handles requests from jobs until ctx ends.
func (d *dispatcher) work() {
	for {
		select {
		case req := <-d.jobs:
			d.run(req)
		case <-d.ctx.Done():
			return
		}
	}
}

func (d *dispatcher) run(req *tuttipb.PeerRequest) {
	d.finish(d.srv.handle(d.ctx, req))
}

// finish queues resp and releases its request's token.
func (d *dispatcher) finish(resp *tuttipb.PeerResponse) {
	d.out.push(resp, proto.Size(resp))
	<-d.inFlight
}

// waitIdle returns once no request is being handled, and stops further
// dispatching: every response is queued by then.
func (d *dispatcher) waitIdle() {
	for range cap(d.inFlight) {
		d.inFlight <- struct{}{}
	}
}
