package transport

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// pendingCall is one Call waiting on a session.
type pendingCall struct {
	ctx context.Context
	// req is the transport's envelope; its id is set by submit.
	req *tuttipb.PeerRequest
	// result receives exactly one value: whoever removes the call from
	// the session's pending map delivers it.
	result chan callResult
}

type callResult struct {
	resp *tuttipb.PeerResponse
	err  error
}

// session is one bidirectional stream to a peer and the calls waiting on
// it. Its sender goroutine opens the stream and then sends batches of
// queued requests; its receiver goroutine matches responses to calls by
// id. When either side fails, every pending call fails with the cause and
// the session is replaced on the next call.
type session struct {
	peer  *peer
	queue *batchQueue[*pendingCall]
	// broken is set once the session fails; it lets calls skip a dead
	// session without taking its lock.
	broken atomic.Bool
	// done is closed when the session fails.
	done chan struct{}
	// outstanding counts the calls waiting on the session.
	outstanding atomic.Int64

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*pendingCall
	err     error
}

func newSession(p *peer) *session {
	return &session{
		peer:    p,
		queue:   newBatchQueue[*pendingCall](),
		done:    make(chan struct{}),
		pending: make(map[uint64]*pendingCall),
	}
}

// submit assigns c its id and queues it for sending, size being its
// encoded size, or returns the session's error if it already failed.
func (s *session) submit(c *pendingCall, size int) error {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return s.err
	}
	s.nextID++
	c.req.Id = s.nextID
	s.pending[c.req.Id] = c
	s.mu.Unlock()
	s.queue.push(c, size)
	return nil
}

// forget drops a call whose caller stopped waiting; a late response to it
// is discarded.
func (s *session) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// deliver hands resp to the call it answers, if that call still waits.
func (s *session) deliver(resp *tuttipb.PeerResponse) {
	s.mu.Lock()
	c, ok := s.pending[resp.GetId()]
	delete(s.pending, resp.GetId())
	s.mu.Unlock()
	if ok {
		c.result <- callResult{resp: resp}
	}
}

// fail ends the session: later submits return err and every pending call
// receives it. Only the first error counts.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	s.broken.Store(true)
	pending := s.pending
	s.pending = nil
	close(s.done)
	s.mu.Unlock()
	for _, c := range pending {
		c.result <- callResult{err: err}
	}
}

// run opens the stream, then sends until the session fails.
func (s *session) run() {
	p := s.peer
	g := p.transport
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()

	stream, err := s.open(ctx, cancel)
	if err != nil {
		if g.ctx.Err() != nil {
			s.fail(ErrClosed)
			return
		}
		err = fmt.Errorf("transport: open stream to %s: %w: %w: %w", p.addr, ErrPeerUnavailable, ErrNotSent, err)
		p.unreachable(err)
		s.fail(err)
		g.log.Warn("transport: peer unreachable", "peer", p.addr, "err", err)
		return
	}

	receiverDone := make(chan struct{})
	go func() {
		defer close(receiverDone)
		s.receive(stream)
	}()
	s.send(stream)
	// The stream's context ends here, which unblocks the receiver.
	cancel()
	<-receiverDone
}

// open opens the stream, giving up after the dial timeout. The timeout
// cannot be a context deadline because the stream's context must outlive
// the opening.
func (s *session) open(ctx context.Context, cancel context.CancelFunc) (tuttipb.Peer_StreamClient, error) {
	timer := time.AfterFunc(s.peer.transport.cfg.DialTimeout, cancel)
	// Just after Revive the connection may still be redialling: the
	// first stream waits for it (within the dial timeout) rather than
	// failing on the last dial's error.
	stream, err := s.peer.client.Stream(ctx, grpc.WaitForReady(s.peer.revived.Swap(false)))
	if !timer.Stop() {
		return nil, fmt.Errorf("no stream within %v", s.peer.transport.cfg.DialTimeout)
	}
	return stream, err
}

// send drains the queue into frames until the session fails.
func (s *session) send(stream tuttipb.Peer_StreamClient) {
	maxFrame := s.peer.transport.cfg.MaxFrameBytes
	for {
		select {
		case <-s.done:
			return
		case <-s.queue.wake:
		}
		for {
			batch := s.queue.take(maxFrame)
			if batch == nil {
				break
			}
			frame := &tuttipb.PeerFrame{Requests: make([]*tuttipb.PeerRequest, 0, len(batch))}
			for _, c := range batch {
				// A caller whose ctx ended no longer waits.
				if c.ctx.Err() == nil {
					frame.Requests = append(frame.Requests, c.req)
				}
			}
			if len(frame.Requests) == 0 {
				continue
			}
			if err := stream.Send(frame); err != nil {
				if errors.Is(err, io.EOF) {
					// The stream ended; why is the receiver's to learn.
					<-s.done
					return
				}
				s.fail(s.streamError("send to", err))
				return
			}
		}
	}
}

// receive delivers responses until the stream fails.
func (s *session) receive(stream tuttipb.Peer_StreamClient) {
	for first := true; ; first = false {
		frame, err := stream.Recv()
		if err != nil {
			s.fail(s.streamError("receive from", err))
			return
		}
		if first {
			// Only an answer shows that the peer accepts the stream:
			// refusals (no client certificate) come as the first receive.
			s.peer.reached()
		}
		for _, resp := range frame.GetResponses() {
			s.deliver(resp)
		}
	}
}

// streamError wraps the error that broke a stream and logs the break.
func (s *session) streamError(op string, err error) error {
	g := s.peer.transport
	if g.ctx.Err() != nil {
		return ErrClosed
	}
	select {
	case <-s.done:
		// The other direction failed first and already reported.
		return err
	default:
	}
	g.log.Info("transport: stream to peer broke", "peer", s.peer.addr, "op", op, "err", err)
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
		// The peer refuses the stream itself; reopening at once would
		// only be refused again.
		s.peer.unreachable(err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("transport: %s %s: %w", op, s.peer.addr, err)
	}
	return fmt.Errorf("transport: %s %s: %w: %w", op, s.peer.addr, ErrPeerUnavailable, err)
}
