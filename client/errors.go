package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed request: the gRPC code and message a node answered
// with, or that the client concluded (codes.Unavailable when no node could
// be reached). Test its class with errors.Is against ErrUnavailable,
// ErrInvalid and ErrNotFound, or read Code directly.
type Error struct {
	Code    codes.Code
	Message string
	// Node is the address of the node that answered, empty when none did.
	Node string
	// Reason is the machine-readable reason a node attached, such as
	// "QUORUM_NOT_MET"; for that reason Needed and Answered say how many
	// replica replies the request required and how many came.
	Reason           string
	Needed, Answered int
	// cause is the underlying error: the context's error for Canceled and
	// DeadlineExceeded, the last connection failure when no node answered.
	cause error
	// fromNode says a node sent the error: a node attaches an ErrorInfo of
	// its domain to every Unavailable it answers.
	fromNode bool
}

// errorDomain is the ErrorInfo domain of nodes' errors.
const errorDomain = "tutti-kv.io"

// connectionFailed reports whether the request failed for want of an
// answer: the connection broke or could not be made, as when the node died
// mid-request. gRPC reports these as Unavailable with no detail of ours.
func (e *Error) connectionFailed() bool {
	return e.Code == codes.Unavailable && !e.fromNode
}

// Error classes for errors.Is. They match an *Error by its Code.
var (
	// ErrUnavailable is an unmet quorum or no reachable node
	// (codes.Unavailable). The write may or may not have been applied.
	ErrUnavailable = errors.New("tutti: unavailable")
	// ErrInvalid is a request a node refused as malformed or out of limits
	// (codes.InvalidArgument); it changed nothing.
	ErrInvalid = errors.New("tutti: invalid request")
	// ErrTooLarge is a value over the cluster's size limit
	// (codes.ResourceExhausted); it changed nothing.
	ErrTooLarge = errors.New("tutti: value too large")
	// ErrNotFound is an unknown bucket-level resource (codes.NotFound). A
	// missing key is not an error: Get reports it with Object.Found.
	ErrNotFound = errors.New("tutti: not found")
	// ErrClosed is a call on a closed Client.
	ErrClosed = errors.New("tutti: client closed")
)

func (e *Error) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("tutti: %s from %s: %s", e.Code, e.Node, e.Message)
	}
	return fmt.Sprintf("tutti: %s: %s", e.Code, e.Message)
}

// Is reports whether target is the class of e's code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.Code == codes.Unavailable
	case ErrInvalid:
		return e.Code == codes.InvalidArgument
	case ErrTooLarge:
		return e.Code == codes.ResourceExhausted
	case ErrNotFound:
		return e.Code == codes.NotFound
	}
	return false
}

// Unwrap returns the underlying error, so that errors.Is(err,
// context.DeadlineExceeded) holds for a request that ran out of time.
func (e *Error) Unwrap() error { return e.cause }

// fromRPC turns an error returned by a gRPC call to node into an *Error.
func fromRPC(err error, node string) *Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fromContext(err)
	}
	s := status.Convert(err)
	e := &Error{Code: s.Code(), Message: s.Message(), Node: node}
	for _, d := range s.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			e.fromNode = true
			e.Reason = info.GetReason()
			e.Needed, _ = strconv.Atoi(info.GetMetadata()["needed"])
			e.Answered, _ = strconv.Atoi(info.GetMetadata()["answered"])
		}
	}
	switch s.Code() {
	case codes.Canceled:
		e.cause = context.Canceled
	case codes.DeadlineExceeded:
		e.cause = context.DeadlineExceeded
	}
	return e
}

// fromContext turns a context's error into an *Error that still matches it
// with errors.Is.
func fromContext(err error) *Error {
	code := codes.Canceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = codes.DeadlineExceeded
	}
	return &Error{Code: code, Message: err.Error(), cause: err}
}
