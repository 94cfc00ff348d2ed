package hlc

// Clock is one node's hybrid logical clock over a physical time source.
// The node passes the wall clock and the simulator a virtual one with skew
// and drift; both run this code. Callers serialize its use (the node holds
// a lock around it; the simulator is single-threaded).
type Clock struct {
	// Now returns the physical time in Unix nanoseconds.
	Now func() int64

	last Timestamp
}

// NewClock returns a clock reading physical time from now.
func NewClock(now func() int64) *Clock { return &Clock{Now: now} }

// Stamp returns a time later than after and than every time handed out or
// observed before.
func (c *Clock) Stamp(after Timestamp) Timestamp {
	phys := c.Now()
	if c.last.Less(after) {
		c.last = Observe(c.last, after, phys)
	} else {
		c.last = Next(c.last, phys)
	}
	return c.last
}

// Observe moves the clock past a time seen on another node's version.
func (c *Clock) Observe(t Timestamp) {
	if c.last.Less(t) {
		c.last = Observe(c.last, t, c.Now())
	}
}
