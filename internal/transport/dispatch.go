package transport

import (
	"context"
	"time"

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
	// handoff passes a request to an idle per-request worker. Workers
	// linger for a while after their request so that the next one reuses
	// the goroutine and its already grown stack: growing a fresh
	// goroutine's stack through the storage engine's deep calls cost about
	// a tenth of a node's CPU under load.
	handoff chan *tuttipb.PeerRequest
}

// workerLinger is how long an idle per-request worker waits for another
// request before it exits.
const workerLinger = time.Second

func newDispatcher(ctx context.Context, srv *Server, out *batchQueue[*tuttipb.PeerResponse]) *dispatcher {
	d := &dispatcher{
		ctx:      ctx,
		srv:      srv,
		out:      out,
		inFlight: make(chan struct{}, srv.cfg.MaxInFlightPerStream),
		handoff:  make(chan *tuttipb.PeerRequest),
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
		select {
		case d.handoff <- req:
		default:
			go d.linger(req)
		}
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

// linger handles req, then any request handed off to it, until it has been
// idle for workerLinger or the stream ends. Requests never wait for a
// worker: dispatch starts a new one when none is idle.
func (d *dispatcher) linger(req *tuttipb.PeerRequest) {
	d.run(req)
	idle := time.NewTimer(workerLinger)
	defer idle.Stop()
	for {
		select {
		case req := <-d.handoff:
			d.run(req)
			idle.Reset(workerLinger)
		case <-idle.C:
			return
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
