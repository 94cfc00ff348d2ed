package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

var (
	// ErrPeerUnavailable matches the errors of calls that failed because
	// the peer could not be reached or its connection broke.
	ErrPeerUnavailable = errors.New("transport: peer unavailable")
	// ErrClosed is returned by calls made after, or pending at, Close.
	ErrClosed = errors.New("transport: closed")
	// ErrNotSent marks failures where the request certainly never left
	// this node (the peer was known down, or no stream to it could be
	// opened), so the caller may safely try elsewhere.
	ErrNotSent = errors.New("transport: request not sent")
)

// NotSent reports whether err says that the request was never sent.
func NotSent(err error) bool { return errors.Is(err, ErrNotSent) }

// GRPC is the gRPC Transport. It keeps one client connection per peer
// address, opened on first use, and in stream mode a fixed number of
// batching streams on it.
type GRPC struct {
	cfg     Config
	log     *slog.Logger
	dialOpt []grpc.DialOption

	// ctx ends at Close and with it every stream.
	ctx    context.Context
	cancel context.CancelFunc
	// sessions counts running stream goroutines so Close can wait for them.
	sessions sync.WaitGroup

	mu     sync.RWMutex
	peers  map[string]*peer
	closed bool
}

var _ Transport = (*GRPC)(nil)

// NewGRPC returns a transport configured by cfg. It dials nothing until the
// first call; it fails only when the TLS files cannot be loaded.
func NewGRPC(cfg Config) (*GRPC, error) {
	cfg = cfg.withDefaults()
	creds, err := cfg.TLS.ClientCredentials()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &GRPC{
		cfg:    cfg,
		log:    cfg.Logger,
		ctx:    ctx,
		cancel: cancel,
		peers:  make(map[string]*peer),
	}
	g.dialOpt = []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(cfg.MaxMessageBytes),
			grpc.MaxCallSendMsgSize(cfg.MaxMessageBytes),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			// gRPC's own reconnect backoff (up to minutes by default)
			// would keep a restarted peer unreachable long after it is
			// back; keep it as short as ours.
			Backoff: backoff.Config{
				BaseDelay:  cfg.RedialBackoff,
				Multiplier: 2,
				Jitter:     0.2,
				MaxDelay:   cfg.MaxRedialBackoff,
			},
			MinConnectTimeout: cfg.DialTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    cfg.KeepaliveTime,
			Timeout: cfg.KeepaliveTimeout,
		}),
	}
	return g, nil
}

// Call sends req to the peer at addr and waits for its response, ctx's end
// or the failure of the connection, whichever comes first. ctx's deadline
// travels with the request so that the peer stops working on it too. req is
// not modified and may be sent to several peers concurrently.
func (g *GRPC) Call(ctx context.Context, addr string, req *tuttipb.PeerRequest) (*tuttipb.PeerResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transport: call to %s: %w", addr, err)
	}
	p, err := g.peer(addr)
	if err != nil {
		return nil, err
	}
	if g.cfg.Mode == ModeUnary {
		return p.callUnary(ctx, req)
	}
	return p.callStream(ctx, req)
}

// Revive implements Transport: a peer that gossip sees back is tried at
// once, by our calls and by gRPC's own reconnection.
func (g *GRPC) Revive(addr string) {
	g.mu.RLock()
	p, ok := g.peers[addr]
	g.mu.RUnlock()
	if !ok {
		return
	}
	p.reached()
	p.revived.Store(true)
	p.conn.ResetConnectBackoff()
}

// Close fails every pending call with ErrClosed, closes all connections and
// waits for the transport's goroutines to end. Calls after Close fail.
func (g *GRPC) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	peers := g.peers
	g.peers = nil
	g.mu.Unlock()

	g.cancel()
	g.sessions.Wait()
	var errs []error
	for _, p := range peers {
		if err := p.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("transport: close connection to %s: %w", p.addr, err))
		}
	}
	return errors.Join(errs...)
}

// peer returns the state kept for addr, creating it on first use.
func (g *GRPC) peer(addr string) (*peer, error) {
	g.mu.RLock()
	p, ok := g.peers[addr]
	closed := g.closed
	g.mu.RUnlock()
	if ok {
		return p, nil
	}
	if closed {
		return nil, ErrClosed
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	if p, ok := g.peers[addr]; ok {
		return p, nil
	}
	conn, err := grpc.NewClient(addr, g.dialOpt...)
	if err != nil {
		return nil, fmt.Errorf("transport: client for %s: %w", addr, err)
	}
	p = &peer{
		transport: g,
		addr:      addr,
		conn:      conn,
		client:    tuttipb.NewPeerClient(conn),
		slots:     make([]atomic.Pointer[session], g.cfg.StreamsPerPeer),
	}
	g.peers[addr] = p
	return p, nil
}

// peer is the dialing side's state for one peer address.
type peer struct {
	transport *GRPC
	addr      string
	conn      *grpc.ClientConn
	client    tuttipb.PeerClient

	// slots hold the current session of each stream; a broken session is
	// replaced on the next call that picks its slot.
	slots    []atomic.Pointer[session]
	nextSlot atomic.Uint64
	// revived is set by Revive until the next stream opens.
	revived atomic.Bool

	mu sync.Mutex
	// downUntil is when calls stop failing fast after a failed attempt to
	// reach the peer; lastErr is that attempt's error.
	downUntil time.Time
	lastErr   error
	backoff   time.Duration
}

func (p *peer) callUnary(ctx context.Context, req *tuttipb.PeerRequest) (*tuttipb.PeerResponse, error) {
	// gRPC sends the deadline as a relative timeout, which the peer turns
	// into a slightly later one; the absolute deadline keeps the peer's no
	// later than ours, as in stream mode.
	if ctxDeadline, ok := ctx.Deadline(); ok {
		req = requestEnvelope(req, req.GetId(), effectiveDeadline(req.GetDeadlineUnixNano(), ctxDeadline, true))
	}
	resp, err := p.client.Call(ctx, req)
	if err != nil {
		return nil, p.callError(ctx, err)
	}
	return resp, nil
}

// callError maps a gRPC error to the transport's: ctx's own error when ctx
// ended, ErrPeerUnavailable when the peer could not be reached.
func (p *peer) callError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("transport: call to %s: %w", p.addr, ctxErr)
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		// The peer ran out of time first, under the deadline we sent.
		return fmt.Errorf("transport: call to %s: %w: %w", p.addr, context.DeadlineExceeded, err)
	case codes.Unavailable:
		return fmt.Errorf("transport: call to %s: %w: %w", p.addr, ErrPeerUnavailable, err)
	case codes.Canceled:
		if p.transport.ctx.Err() != nil {
			return fmt.Errorf("transport: call to %s: %w", p.addr, ErrClosed)
		}
	}
	return fmt.Errorf("transport: call to %s: %w", p.addr, err)
}

func (p *peer) callStream(ctx context.Context, req *tuttipb.PeerRequest) (*tuttipb.PeerResponse, error) {
	ctxDeadline, hasDeadline := ctx.Deadline()
	c := &pendingCall{
		ctx:    ctx,
		req:    requestEnvelope(req, 0, effectiveDeadline(req.GetDeadlineUnixNano(), ctxDeadline, hasDeadline)),
		result: make(chan callResult, 1),
	}
	// Sized here, on the caller's goroutine, rather than by the sender.
	size := proto.Size(c.req)
	if size > p.transport.cfg.MaxFrameBytes {
		// Messages on one stream travel in order, so a large one would
		// hold up every small one queued behind it. As its own RPC it is
		// interleaved with the streams' frames on the connection, and the
		// per-RPC cost is small beside its size.
		return p.callUnary(ctx, req)
	}
	s, err := p.session()
	if err != nil {
		return nil, err
	}
	if err := s.submit(c, size); err != nil {
		return nil, err
	}
	s.outstanding.Add(1)
	defer s.outstanding.Add(-1)
	select {
	case r := <-c.result:
		return r.resp, r.err
	case <-ctx.Done():
		s.forget(c.req.Id)
		return nil, fmt.Errorf("transport: call to %s: %w", p.addr, ctx.Err())
	}
}

// session returns a live session of the least loaded slot, starting one
// when the slot has none, or fails fast while the peer is known to be
// unreachable.
func (p *peer) session() (*session, error) {
	slot := &p.slots[p.pickSlot()]
	if s := slot.Load(); s != nil && !s.broken.Load() {
		return s, nil
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if s := slot.Load(); s != nil && !s.broken.Load() {
		return s, nil
	}
	if time.Now().Before(p.downUntil) {
		return nil, fmt.Errorf("transport: call to %s: %w: %w (failing fast after: %v)", p.addr, ErrPeerUnavailable, ErrNotSent, p.lastErr)
	}
	g := p.transport
	// Close waits for the sessions it saw; none may start after it.
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil, ErrClosed
	}
	s := newSession(p)
	slot.Store(s)
	g.sessions.Add(1)
	go func() {
		defer g.sessions.Done()
		s.run()
	}()
	return s, nil
}

// pickSlot returns the slot with the fewest outstanding calls, starting the
// search at a rotating slot so that ties spread. Under a uniform load this
// is round-robin; a stream held up by a large response collects waiting
// calls, and new calls go elsewhere.
func (p *peer) pickSlot() int {
	n := len(p.slots)
	if n == 1 {
		return 0
	}
	start := int(p.nextSlot.Add(1) % uint64(n))
	if p.transport.cfg.roundRobin {
		return start
	}
	best, bestLoad := start, int64(-1)
	for k := range n {
		i := (start + k) % n
		s := p.slots[i].Load()
		if s == nil || s.broken.Load() {
			return i
		}
		if load := s.outstanding.Load(); bestLoad < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return best
}

// reached records a successful attempt to reach the peer.
func (p *peer) reached() {
	p.mu.Lock()
	p.backoff = 0
	p.downUntil = time.Time{}
	p.lastErr = nil
	p.mu.Unlock()
}

// unreachable records a failed attempt to reach the peer: calls fail fast
// for a backoff that doubles with each consecutive failure.
func (p *peer) unreachable(err error) {
	cfg := &p.transport.cfg
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.backoff == 0 {
		p.backoff = cfg.RedialBackoff
	} else {
		p.backoff = min(2*p.backoff, cfg.MaxRedialBackoff)
	}
	p.downUntil = time.Now().Add(p.backoff)
	p.lastErr = err
}
