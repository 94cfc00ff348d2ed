// Package grpcapi serves Tutti's gRPC client API (tutti.v1.KV) on top of a
// kv.Service.
//
// Requests are translated field for field. Quorum fields use the int32
// encoding of kv.Quorum, which tuttipb.QuorumValue mirrors: 0 is the bucket's
// default, -1 one, -2 quorum, -3 all, a positive number a count; -4 is an
// explicit count of zero for dw, pr and pw. In BucketProps, 0 is the count
// zero and there is no "default".
//
// Every limit and parameter is checked before the service is called, so a
// rejected request changes nothing. Errors map to status codes:
//
//	kv.BadRequest, kv.NameTooLong  InvalidArgument
//	kv.TooLarge                    ResourceExhausted (as gRPC itself answers an over-size message)
//	kv.Unavailable                 Unavailable, "reason (needed N, answered M)" plus an ErrorInfo detail
//	                               (so that a client tells a node's answer from a connection failure)
//	kv.NotFound                    NotFound
//	kv.Internal and other errors   Internal, logged, answered without detail
//	context.DeadlineExceeded       DeadlineExceeded
//	context.Canceled               Canceled
//
// A panic in a handler is logged and answered as Internal. Every call is
// counted in the metrics by op and outcome.
package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tutti-kv/tutti/api/tuttipb"
	"github.com/tutti-kv/tutti/internal/kv"
	"github.com/tutti-kv/tutti/internal/metrics"
)

// MaxRequestTimeout is the largest timeout_ms a request may give.
const MaxRequestTimeout = time.Minute

// ErrorDomain and the reasons name the ErrorInfo detail attached to every
// Unavailable error a node answers: ReasonQuorum, whose metadata holds
// "needed" and "answered", or ReasonUnavailable (no replica could be
// asked). An Unavailable status without it came from the connection.
const (
	ErrorDomain       = "tutti-kv.io"
	ReasonQuorum      = "QUORUM_NOT_MET"
	ReasonUnavailable = "REPLICAS_UNAVAILABLE"
)

// defaultContentType is stored when a Put names none.
const defaultContentType = "application/octet-stream"

// messageOverhead is room for the fields of a PutRequest other than the
// value and the names: content type, context, quorums.
const messageOverhead = 256 << 10

// ServerOptions are the options a server needs to accept values up to the
// limits: gRPC's default 4 MiB receive limit is below the default maximum
// value size.
func ServerOptions(l kv.Limits) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxValueBytes + l.MaxBucketBytes + l.MaxKeyBytes + messageOverhead),
	}
}

// Option configures Register.
type Option func(*server)

// WithLogger sends the service's log records (internal errors, recovered
// panics) to log. Without it they are discarded.
func WithLogger(log *slog.Logger) Option {
	return func(s *server) {
		if log != nil {
			s.log = log
		}
	}
}

// Register adds the KV service over svc to s. Calls are counted in m, which
// is required. The server should be built with ServerOptions so that values
// up to the limit fit in a message.
func Register(s *grpc.Server, svc kv.Service, m *metrics.Metrics, opts ...Option) {
	srv := &server{svc: svc, metrics: m, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(srv)
	}
	tuttipb.RegisterKVServer(s, srv)
}

type server struct {
	tuttipb.UnimplementedKVServer
	svc     kv.Service
	metrics *metrics.Metrics
	log     *slog.Logger
}

// serve runs one call: fn returns the answer and, on success, its outcome
// label. serve records the metrics, turns errors into statuses and panics
// into Internal.
func serve[Resp any](s *server, op string, fn func() (Resp, string, error)) (resp Resp, err error) {
	start := time.Now()
	outcome := metrics.OutcomeError
	defer func() {
		if p := recover(); p != nil {
			s.metrics.Panics.WithLabelValues("grpc").Inc()
			s.log.Error("panic serving request", "op", op, "panic", p, "stack", string(debug.Stack()))
			var zero Resp
			resp, err, outcome = zero, status.Error(codes.Internal, "internal error"), metrics.OutcomeError
		}
		s.metrics.ObserveRequest(op, outcome, time.Since(start))
	}()
	resp, outcome, err = fn()
	if err != nil {
		outcome = metrics.OutcomeOf(err)
		var zero Resp
		return zero, s.statusOf(op, err)
	}
	return resp, nil
}

// statusOf maps a service or validation error to a gRPC status.
func (s *server) statusOf(op string, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "timeout")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	}
	e := kv.AsError(err)
	switch e.Kind {
	case kv.BadRequest, kv.NameTooLong:
		return status.Error(codes.InvalidArgument, e.Reason)
	case kv.TooLarge:
		return status.Error(codes.ResourceExhausted, e.Reason)
	case kv.NotFound:
		return status.Error(codes.NotFound, e.Reason)
	case kv.Unavailable:
		st := status.New(codes.Unavailable, e.Error())
		info := &errdetails.ErrorInfo{Reason: ReasonUnavailable, Domain: ErrorDomain}
		if e.Needed > 0 {
			info.Reason = ReasonQuorum
			info.Metadata = map[string]string{
				"needed":   strconv.Itoa(e.Needed),
				"answered": strconv.Itoa(e.Answered),
			}
		}
		if detailed, derr := st.WithDetails(info); derr == nil {
			st = detailed
		}
		return st.Err()
	}
	s.log.Error("request failed", "op", op, "err", err)
	return status.Error(codes.Internal, "internal error")
}
