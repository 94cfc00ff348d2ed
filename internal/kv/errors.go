package kv

import (
	"errors"
	"fmt"
)

// Kind classifies an Error; each maps to one HTTP status and gRPC code.
type Kind int

// Error kinds.
const (
	// Internal is a fault in the node (HTTP 500).
	Internal Kind = iota
	// BadRequest is a malformed or out-of-range parameter (HTTP 400).
	BadRequest
	// TooLarge is a value over the size limit (HTTP 413).
	TooLarge
	// NameTooLong is an over-long bucket or key (HTTP 414).
	NameTooLong
	// Unavailable is an unmet quorum or no reachable replica (HTTP 503).
	Unavailable
	// NotFound is an unknown bucket-level resource (HTTP 404).
	NotFound
)

// Error is a request failure with a reason a client can act on. For unmet
// quorums Needed and Answered say how many replies were required and how
// many came.
type Error struct {
	Kind     Kind
	Reason   string
	Needed   int
	Answered int
}

func (e *Error) Error() string {
	if e.Kind == Unavailable && e.Needed > 0 {
		return fmt.Sprintf("%s (needed %d, answered %d)", e.Reason, e.Needed, e.Answered)
	}
	return e.Reason
}

// Errorf builds an *Error of the given kind.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Reason: fmt.Sprintf(format, args...)}
}

// QuorumError reports an unmet quorum.
func QuorumError(reason string, needed, answered int) *Error {
	return &Error{Kind: Unavailable, Reason: reason, Needed: needed, Answered: answered}
}

// AsError returns err as an *Error, wrapping unknown errors as Internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Reason: err.Error()}
}
