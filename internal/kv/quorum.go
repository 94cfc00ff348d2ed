package kv

import (
	"fmt"
	"strconv"
	"strings"
)

// Quorum is a requested number of replicas: a positive count, the count
// zero (Zero), or a symbolic value resolved against N. Its int32 encoding is
// the one the gRPC API uses (QuorumValue).
type Quorum int32

// Symbolic quorum values. Default means "use the bucket's property".
const (
	Default  Quorum = 0
	One      Quorum = -1
	Majority Quorum = -2
	All      Quorum = -3
	// Zero is an explicit count of zero (for dw, pr and pw), distinct from
	// Default.
	Zero Quorum = -4
)

// ParseQuorum reads an integer or one of "one", "quorum", "all", "default"
// (case-insensitive; Cassandra's ONE, QUORUM and ALL are the same words).
func ParseQuorum(s string) (Quorum, error) {
	switch strings.ToLower(s) {
	case "one":
		return One, nil
	case "quorum":
		return Majority, nil
	case "all":
		return All, nil
	case "default", "":
		return Default, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return Default, fmt.Errorf("%q is not a count or one of one, quorum, all", s)
	}
	if n == 0 {
		return Zero, nil
	}
	return Quorum(n), nil
}

// Resolve turns q into a count for a replication factor n, taking def when
// q is Default. It fails when the count exceeds n or the value is unknown.
func (q Quorum) Resolve(n int, def Quorum) (int, error) {
	if q == Default {
		q = def
	}
	var c int
	switch {
	case q == Default || q == Zero:
		c = 0
	case q == One:
		c = 1
	case q == Majority:
		c = n/2 + 1
	case q == All:
		c = n
	case q > 0:
		c = int(q)
	default:
		return 0, fmt.Errorf("unknown quorum value %d", int32(q))
	}
	if c > n {
		return 0, fmt.Errorf("%s is more than the %d replicas of a key", q, n)
	}
	return c, nil
}

// String is the form ParseQuorum reads.
func (q Quorum) String() string {
	switch q {
	case Default:
		return "default"
	case One:
		return "one"
	case Majority:
		return "quorum"
	case All:
		return "all"
	case Zero:
		return "0"
	}
	return strconv.Itoa(int(q))
}

// MarshalJSON writes counts as numbers and symbolic values as strings.
func (q Quorum) MarshalJSON() ([]byte, error) {
	if q > 0 || q == Zero {
		return []byte(q.String()), nil
	}
	return []byte(strconv.Quote(q.String())), nil
}

// UnmarshalJSON reads a number or a string accepted by ParseQuorum.
func (q *Quorum) UnmarshalJSON(b []byte) error {
	s := string(b)
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	v, err := ParseQuorum(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}
