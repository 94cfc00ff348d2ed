package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tutti-kv/tutti/api/tuttipb"
)

// hangLimit only detects hangs; nothing here measures speed.
const hangLimit = 20 * time.Second

func TestRoundTripEveryBody(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", &echoHandler{}, TLSConfig{})
	requests := []struct {
		name  string
		req   *tuttipb.PeerRequest
		check func(*tuttipb.PeerResponse) bool
	}{
		{"read", readRequest("k1"), func(r *tuttipb.PeerResponse) bool {
			return string(r.GetRead().GetObject()) == "k1"
		}},
		{"write", writeRequest("k2", []byte("v")), func(r *tuttipb.PeerResponse) bool {
			return r.GetWrite().GetDurable()
		}},
		{"coordinate", &tuttipb.PeerRequest{Body: &tuttipb.PeerRequest_Coordinate{Coordinate: &tuttipb.CoordinateRequest{
			Bucket: []byte("b"), Key: []byte("k3"), Value: []byte("ctx-bytes"), Options: &tuttipb.RequestOptions{W: 2},
		}}}, func(r *tuttipb.PeerResponse) bool {
			return string(r.GetCoordinate().GetContext()) == "ctx-bytes"
		}},
		{"unknown", &tuttipb.PeerRequest{}, func(r *tuttipb.PeerResponse) bool {
			return r.GetCode() == tuttipb.ErrorCode_ERROR_CODE_BAD_REQUEST && r.GetError() == "unknown body"
		}},
	}
	for _, mode := range allModes {
		g := newTransport(t, Config{Mode: mode})
		for _, tc := range requests {
			t.Run(mode.String()+"/"+tc.name, func(t *testing.T) {
				before := proto.Clone(tc.req)
				resp, err := g.Call(t.Context(), srv.addr, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if !tc.check(resp) {
					t.Fatalf("unexpected response %v", resp)
				}
				if !proto.Equal(before, tc.req) {
					t.Fatalf("Call modified the request: %v, was %v", tc.req, before)
				}
			})
		}
	}
}

func TestConcurrentCallsGetTheirOwnResponses(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", &echoHandler{}, TLSConfig{})
	for _, cfg := range []Config{{Mode: ModeUnary}, {Mode: ModeStream}, {Mode: ModeStream, StreamsPerPeer: 3, MaxFrameBytes: 512}} {
		t.Run(fmt.Sprintf("%v-%d-streams-%d-frame", cfg.Mode, cfg.StreamsPerPeer, cfg.MaxFrameBytes), func(t *testing.T) {
			g := newTransport(t, cfg)
			// One request shared by several goroutines, as a coordinator
			// sends one write to every replica.
			shared := readRequest("shared")
			const workers, calls = 64, 100
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Go(func() {
					for i := range calls {
						req := readRequest(fmt.Sprintf("w%d-%d", w, i))
						if i%10 == 0 {
							req = shared
						}
						resp, err := g.Call(t.Context(), srv.addr, req)
						if err != nil {
							errs <- err
							return
						}
						if got, want := resp.GetRead().GetObject(), req.GetRead().GetKey(); !bytes.Equal(got, want) {
							errs <- fmt.Errorf("request %s got the response for %s", want, got)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}

func TestLargeValuesPass(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", &echoHandler{}, TLSConfig{})
	large := bytes.Repeat([]byte{0xAB}, 8<<20+1024)
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			g := newTransport(t, Config{Mode: mode})
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() {
					// The large key makes the response large too.
					key := fmt.Sprintf("small-%d", i)
					if i%5 == 0 {
						key = string(large)
					}
					resp, err := g.Call(t.Context(), srv.addr, readRequest(key))
					if err != nil {
						errs <- err
						return
					}
					if len(resp.GetRead().GetObject()) != len(key) {
						errs <- fmt.Errorf("response of %d bytes to a key of %d", len(resp.GetRead().GetObject()), len(key))
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}

func TestDeadlineReachesHandlerAndEndsCall(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			h := &echoHandler{block: make(chan struct{}), entered: make(chan *handlerCall, 1)}
			srv := startServer(t, "127.0.0.1:0", h, TLSConfig{})
			g := newTransport(t, Config{Mode: mode})

			deadline := time.Now().Add(300 * time.Millisecond)
			ctx, cancel := context.WithDeadline(t.Context(), deadline)
			defer cancel()
			result := make(chan error, 1)
			go func() {
				resp, err := g.Call(ctx, srv.addr, writeRequest("k", nil))
				if err == nil && resp.GetCode() == tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE {
					// The handler saw the deadline pass before the caller
					// did and answered so.
					err = context.DeadlineExceeded
				}
				result <- err
			}()

			var seen *handlerCall
			select {
			case seen = <-h.entered:
			case <-time.After(hangLimit):
				t.Fatal("request never reached the handler")
			}
			got, ok := seen.ctx.Deadline()
			if !ok {
				t.Fatal("handler's context has no deadline")
			}
			if got.After(deadline) {
				t.Fatalf("handler's deadline %v is later than the caller's %v", got, deadline)
			}
			select {
			case err := <-result:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("got %v, want context.DeadlineExceeded", err)
				}
			case <-time.After(hangLimit):
				t.Fatal("call outlived its deadline")
			}
			select {
			case <-seen.ctx.Done():
			case <-time.After(hangLimit):
				t.Fatal("handler's context never ended")
			}
		})
	}
}

func TestExpiredRequestIsNotHandled(t *testing.T) {
	h := &echoHandler{entered: make(chan *handlerCall, 1)}
	srv := &Server{handler: h}
	req := writeRequest("k", nil)
	req.Id = 7
	req.DeadlineUnixNano = time.Now().Add(-time.Second).UnixNano()
	resp := srv.handle(t.Context(), req)
	if resp.GetCode() != tuttipb.ErrorCode_ERROR_CODE_UNAVAILABLE || resp.GetId() != 7 {
		t.Fatalf("got %v, want an UNAVAILABLE answer to request 7", resp)
	}
	if len(h.entered) != 0 {
		t.Fatal("handler ran for a request whose deadline had passed")
	}
}

func TestServerDeathFailsPendingCalls(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			const pendingCalls = 8
			h := &echoHandler{block: make(chan struct{}), entered: make(chan *handlerCall, pendingCalls)}
			srv := startServer(t, "127.0.0.1:0", h, TLSConfig{})
			g := newTransport(t, Config{Mode: mode})

			results := make(chan error, pendingCalls)
			for i := range pendingCalls {
				go func() {
					// No deadline: only the transport can end these calls.
					_, err := g.Call(context.Background(), srv.addr, readRequest(fmt.Sprint(i)))
					results <- err
				}()
			}
			for range pendingCalls {
				<-h.entered
			}
			srv.stop()
			for range pendingCalls {
				select {
				case err := <-results:
					if !errors.Is(err, ErrPeerUnavailable) {
						t.Fatalf("pending call ended with %v, want ErrPeerUnavailable", err)
					}
				case <-time.After(hangLimit):
					t.Fatal("pending call hangs after the server died")
				}
			}
			// The peer is down now: the next call fails too, without
			// waiting for any deadline.
			_, err := g.Call(context.Background(), srv.addr, readRequest("after"))
			if !errors.Is(err, ErrPeerUnavailable) {
				t.Fatalf("call to a dead peer: got %v, want ErrPeerUnavailable", err)
			}
		})
	}
}

func TestDeadPeerFailsFastDuringBackoff(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", &echoHandler{}, TLSConfig{})
	addr := srv.addr
	srv.stop() // nothing listens on addr now
	g := newTransport(t, Config{RedialBackoff: time.Hour, MaxRedialBackoff: time.Hour})
	_, err := g.Call(context.Background(), addr, readRequest("k"))
	if !errors.Is(err, ErrPeerUnavailable) {
		t.Fatalf("first call: got %v, want ErrPeerUnavailable", err)
	}
	p, err := g.peer(addr)
	if err != nil {
		t.Fatal(err)
	}
	opened := p.slots[0].Load()
	for range 10 {
		if _, err := g.Call(context.Background(), addr, readRequest("k")); !errors.Is(err, ErrPeerUnavailable) {
			t.Fatalf("call during backoff: got %v, want ErrPeerUnavailable", err)
		}
	}
	if p.slots[0].Load() != opened {
		t.Fatal("a call during the backoff tried to reach the peer again")
	}
}

// A peer revived after a failed call is tried at once, although its
// backoff has an hour to run: by our calls and by gRPC's reconnection.
func TestRevivedPeerIsCalledAtOnce(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", &echoHandler{}, TLSConfig{})
	addr := srv.addr
	srv.stop()
	g := newTransport(t, Config{RedialBackoff: time.Hour, MaxRedialBackoff: time.Hour})
	if _, err := g.Call(t.Context(), addr, readRequest("down")); !errors.Is(err, ErrPeerUnavailable) {
		t.Fatalf("call to a stopped server: got %v, want ErrPeerUnavailable", err)
	}
	startServer(t, addr, &echoHandler{}, TLSConfig{})
	if _, err := g.Call(t.Context(), addr, readRequest("backoff")); !errors.Is(err, ErrPeerUnavailable) {
		t.Fatalf("call during the backoff: got %v, want to fail fast", err)
	}
	g.Revive(addr)
	g.Revive("127.0.0.1:1") // a peer never called: nothing to do
	ctx, cancel := context.WithTimeout(t.Context(), hangLimit)
	defer cancel()
	resp, err := g.Call(ctx, addr, readRequest("after"))
	if err != nil {
		t.Fatalf("call after Revive: %v", err)
	}
	if string(resp.GetRead().GetObject()) != "after" {
		t.Fatalf("unexpected response %v", resp)
	}
}

func TestRedialAfterServerRestart(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			srv := startServer(t, "127.0.0.1:0", &echoHandler{}, TLSConfig{})
			g := newTransport(t, Config{Mode: mode, RedialBackoff: 10 * time.Millisecond, MaxRedialBackoff: 100 * time.Millisecond})
			if _, err := g.Call(t.Context(), srv.addr, readRequest("before")); err != nil {
				t.Fatal(err)
			}
			srv.stop()
			if _, err := g.Call(t.Context(), srv.addr, readRequest("while-down")); err == nil {
				t.Fatal("call to a stopped server succeeded")
			}
			startServer(t, srv.addr, &echoHandler{}, TLSConfig{})
			giveUp := time.Now().Add(hangLimit)
			for {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				resp, err := g.Call(ctx, srv.addr, readRequest("after"))
				cancel()
				if err == nil {
					if string(resp.GetRead().GetObject()) != "after" {
						t.Fatalf("unexpected response %v", resp)
					}
					return
				}
				if time.Now().After(giveUp) {
					t.Fatalf("no successful call after the restart; last error: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func TestDrainAnswersAcceptedRequestsAndEndsStreams(t *testing.T) {
	h := &echoHandler{block: make(chan struct{}), entered: make(chan *handlerCall, 1)}
	srv := startServer(t, "127.0.0.1:0", h, TLSConfig{})
	g := newTransport(t, Config{})

	result := make(chan error, 1)
	go func() {
		_, err := g.Call(context.Background(), srv.addr, readRequest("accepted"))
		result <- err
	}()
	<-h.entered
	srv.peer.Drain()
	stopped := make(chan struct{})
	go func() {
		srv.grpc.GracefulStop()
		close(stopped)
	}()
	close(h.block)
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("request accepted before Drain failed: %v", err)
		}
	case <-time.After(hangLimit):
		t.Fatal("accepted request never answered")
	}
	select {
	case <-stopped:
	case <-time.After(hangLimit):
		t.Fatal("GracefulStop waits forever after Drain")
	}
}

func TestCloseFailsPendingAndLaterCalls(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			h := &echoHandler{block: make(chan struct{}), entered: make(chan *handlerCall, 1)}
			srv := startServer(t, "127.0.0.1:0", h, TLSConfig{})
			g, err := NewGRPC(Config{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			result := make(chan error, 1)
			go func() {
				_, err := g.Call(context.Background(), srv.addr, readRequest("k"))
				result <- err
			}()
			<-h.entered
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-result:
				if !errors.Is(err, ErrClosed) {
					t.Fatalf("pending call at Close: got %v, want ErrClosed", err)
				}
			case <-time.After(hangLimit):
				t.Fatal("pending call hangs after Close")
			}
			if _, err := g.Call(context.Background(), srv.addr, readRequest("k")); !errors.Is(err, ErrClosed) {
				t.Fatalf("call after Close: got %v, want ErrClosed", err)
			}
		})
	}
}

func TestNilHandlerResponseIsAnInternalError(t *testing.T) {
	srv := startServer(t, "127.0.0.1:0", HandlerFunc(func(context.Context, *tuttipb.PeerRequest) *tuttipb.PeerResponse { return nil }), TLSConfig{})
	for _, mode := range allModes {
		g := newTransport(t, Config{Mode: mode})
		resp, err := g.Call(t.Context(), srv.addr, readRequest("k"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetCode() != tuttipb.ErrorCode_ERROR_CODE_INTERNAL {
			t.Fatalf("%v: got %v, want an INTERNAL error response", mode, resp)
		}
	}
}
