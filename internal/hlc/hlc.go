// Package hlc implements a hybrid logical clock as pure functions.
//
// A Timestamp pairs a physical wall time (Unix nanoseconds) with a logical
// counter that orders events sharing a wall time. Next stamps a local event
// and Observe a received one; both return a timestamp strictly greater than
// the clock's previous one, whatever the physical clock does, and Observe's
// is also greater than the remote one. The wall part never falls behind the
// greatest physical time the clock was given, so timestamps stay close to
// real time while still respecting causality across nodes.
//
// The package holds no state and reads no clock: the caller keeps the last
// timestamp, passes the physical time in and serializes calls for one
// clock (a node wraps its clock in a mutex; the simulator drives a virtual
// one). Bounding how far a remote timestamp may run ahead of local physical
// time is the caller's policy.
package hlc

import (
	"fmt"
	"math"
	"time"
)

// Timestamp is a hybrid logical clock reading. The zero Timestamp is before
// every timestamp the clock produces.
type Timestamp struct {
	// Wall is physical time in Unix nanoseconds.
	Wall int64
	// Logical orders events that share a Wall.
	Logical uint32
}

// Less reports whether t is before o.
func (t Timestamp) Less(o Timestamp) bool {
	return t.Compare(o) < 0
}

// Compare returns -1, 0 or +1 as t is before, equal to or after o.
func (t Timestamp) Compare(o Timestamp) int {
	switch {
	case t.Wall < o.Wall:
		return -1
	case t.Wall > o.Wall:
		return 1
	case t.Logical < o.Logical:
		return -1
	case t.Logical > o.Logical:
		return 1
	}
	return 0
}

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool {
	return t == Timestamp{}
}

// Time returns the wall part of t as a time.Time.
func (t Timestamp) Time() time.Time {
	return time.Unix(0, t.Wall)
}

// String formats t as wall nanoseconds and logical counter.
func (t Timestamp) String() string {
	return fmt.Sprintf("%d.%d", t.Wall, t.Logical)
}

// Next returns the timestamp of a local event at physical time physicalNow,
// given the clock's last timestamp: strictly greater than last, and with a
// Wall of at least physicalNow.
func Next(last Timestamp, physicalNow int64) Timestamp {
	if physicalNow > last.Wall {
		return Timestamp{Wall: physicalNow}
	}
	return tick(last.Wall, last.Logical)
}

// Observe returns the timestamp of receiving a message stamped remote at
// physical time physicalNow, given the clock's last timestamp: strictly
// greater than both last and remote, and with a Wall of at least
// physicalNow.
func Observe(last, remote Timestamp, physicalNow int64) Timestamp {
	high := last
	if high.Less(remote) {
		high = remote
	}
	if physicalNow > high.Wall {
		return Timestamp{Wall: physicalNow}
	}
	return tick(high.Wall, high.Logical)
}

// tick returns the timestamp right after (wall, logical). When the logical
// counter is exhausted it borrows a nanosecond of wall time rather than
// wrap, which would go backwards.
func tick(wall int64, logical uint32) Timestamp {
	if logical == math.MaxUint32 {
		return Timestamp{Wall: wall + 1}
	}
	return Timestamp{Wall: wall, Logical: logical + 1}
}
