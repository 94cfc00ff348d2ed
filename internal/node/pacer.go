package node

import (
	"sync/atomic"
	"time"
)

// quietAfter is how long without a foreground request the node counts as
// idle, when background work runs unpaced.
const quietAfter = time.Second

// pacer shares the node's time between the requests it serves and its
// background work (anti-entropy's tree builds and exchanges), after the
// admission control of Dynamo's section 6.5: background work runs in
// slices, and while requests are being served each worker rests after a
// slice long enough to work at most share of the time. A slice's wall
// time includes its waits for a busy CPU, so a loaded node slows its
// background work further. An idle node works unpaced.
type pacer struct {
	share float64
	// last is the Unix time in nanoseconds of the latest foreground
	// request.
	last atomic.Int64
}

func newPacer(share float64) *pacer { return &pacer{share: share} }

// foreground notes a request served at now.
func (p *pacer) foreground(now time.Time) { p.last.Store(now.UnixNano()) }

// rest returns how long a worker that just worked for worked should rest
// at now.
func (p *pacer) rest(worked time.Duration, now time.Time) time.Duration {
	if worked <= 0 || now.UnixNano()-p.last.Load() > int64(quietAfter) {
		return 0
	}
	return time.Duration(float64(worked) * (1/p.share - 1))
}
