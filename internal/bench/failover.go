package bench

import (
	"context"
	"fmt"
	"time"
)

// Failover describes a failover run: Run starts Nodes `tutti server`
// processes on loopback, loads the records, runs the workload against every
// node, and sends SIGKILL to one node KillAfter into the run phase.
type Failover struct {
	// Binary is the tutti executable, run as `Binary server ...`. Empty
	// means this process's own executable: right for the tutti command
	// (and for a test binary that acts as tutti when told to).
	Binary string
	// Nodes is the number of server processes, at least N = 3 (default 3).
	Nodes int
	// KillAfter is how long into the run phase the node is killed.
	KillAfter time.Duration
	// KillNode is the number of the node killed, 1 to Nodes (its id is
	// "n<KillNode>"); 0 means the last node.
	KillNode int
	// RestartAfter, when positive, restarts the killed node that long after
	// the kill and reports the hand-off of its hints
	// (FailoverReport.Recovery). The run phase then lasts until recoveryTail
	// after the last hint was delivered, or longer if Duration says so.
	RestartAfter time.Duration
	// Protocol is how the workers talk to the cluster: "grpc" (the default,
	// through package client) or "http".
	Protocol string
	// Keep keeps the cluster's directory (data and node logs) instead of
	// removing it.
	Keep bool
}

// Timing of a failover run.
const (
	// failoverWindow is the "during" window after the kill: about how long
	// a Raft store takes no write when its leader is killed, which is what
	// a leaderless store is compared with. (The nodes' failure detector
	// takes longer, 4-6 s with --fast-gossip, to declare the node dead;
	// writes need not wait for it.)
	failoverWindow = 2 * time.Second
	// pollInterval is the pause between two polls of the live nodes'
	// members after the kill.
	pollInterval = 100 * time.Millisecond
	// recoveryTail is how long a recovery run goes on after every hint
	// was delivered, to show the cluster back in its steady state.
	recoveryTail = 10 * time.Second
	// deliveryTimeout bounds the wait for the hints' delivery after the
	// restart; past it the run ends and the report says they were not all
	// delivered.
	deliveryTimeout = 3 * time.Minute
)

// maxNodes bounds Failover.Nodes: every node is a process on this machine.
const maxNodes = 9

func (f *Failover) nodes() int {
	if f.Nodes == 0 {
		return replicas
	}
	return f.Nodes
}

// victim is the index of the node killed.
func (f *Failover) victim() int {
	if f.KillNode == 0 {
		return f.nodes() - 1
	}
	return f.KillNode - 1
}

// validateFailover checks a failover run's settings (the common ones are
// checked by validate) and returns its protocol; the targets are known
// once the cluster is up.
func (cfg Config) validateFailover() (protocol, []string, error) {
	f := cfg.Failover
	n := f.nodes()
	switch {
	case len(cfg.Endpoints) > 0:
		return "", nil, fmt.Errorf("a failover run starts a cluster of its own, so it takes no endpoints (--kill-after cannot be used with --endpoints)")
	case cfg.Workload.UpdateProportion == 0:
		return "", nil, fmt.Errorf("workload %s has no writes, and a failover run measures writes: use workload w, a or b", cfg.Workload.Name)
	case n < replicas || n > maxNodes:
		return "", nil, fmt.Errorf("nodes must be %d to %d (N=%d), not %d", replicas, maxNodes, replicas, n)
	case f.KillAfter <= 0:
		return "", nil, fmt.Errorf("kill-after must be positive, not %v", f.KillAfter)
	case cfg.Duration <= f.KillAfter+failoverWindow:
		return "", nil, fmt.Errorf("duration %v must be longer than kill-after %v plus the %v failover window, or the window after it is empty", cfg.Duration, f.KillAfter, failoverWindow)
	case f.KillNode < 0 || f.KillNode > n:
		return "", nil, fmt.Errorf("kill-node must be 1 to %d (or 0 for the last), not %d", n, f.KillNode)
	case f.RestartAfter < 0:
		return "", nil, fmt.Errorf("restart-after must not be negative")
	case f.RestartAfter > 0 && f.RestartAfter < failoverWindow:
		return "", nil, fmt.Errorf("restart-after must be at least the %v failover window, not %v", failoverWindow, f.RestartAfter)
	}
	switch f.Protocol {
	case "", string(protocolGRPC):
		return protocolGRPC, nil, nil
	case string(protocolHTTP):
		return protocolHTTP, nil, nil
	}
	return "", nil, fmt.Errorf("protocol must be grpc or http, not %q", f.Protocol)
}

// runFailover runs the workload while a controller kills (and maybe
// restarts) a node, and reports the run phase and its write timeline. The
// error is a kill or restart that failed.
func runFailover(ctx context.Context, cfg Config, tgt target, keys *ScrambledZipfian, cl *cluster) (*Phase, *FailoverReport, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	ctl := &controller{cl: cl, fo: *cfg.Failover, duration: cfg.Duration, origin: start, progress: func(format string, args ...any) {
		progress(cfg, format, args...)
	}}
	events := make(chan faultEvents, 1)
	go func() { events <- ctl.run(ctx, stop) }()
	phase, workers := runPhase(ctx, cfg, 2, start, logWrites, workloadLoop(cfg, tgt, keys))
	ev := <-events
	logs := make([]*writeLog, len(workers))
	for i, w := range workers {
		logs[i] = w.log
	}
	return phase, newFailoverReport(cfg, cl, mergeLogs(logs, ev.end), ev), ev.err
}

// faultEvents is what the controller did and saw, as offsets from the
// start of the run phase.
type faultEvents struct {
	killed bool
	killAt time.Duration
	// downSeen: every live node saw the killed node down.
	downSeen   bool
	downSeenAt time.Duration

	restarted bool
	restartAt time.Duration
	// hintsAtRestart is the hints the live nodes held for the killed node
	// in the last poll before the restart (-1: no poll answered).
	hintsAtRestart int
	hintsPeak      int
	// upSeen: every live node saw the restarted node alive again.
	upSeen   bool
	upSeenAt time.Duration
	// delivered: after upSeen, no live node held a hint for it.
	delivered   bool
	deliveredAt time.Duration

	// end is when the run phase ended.
	end time.Duration
	err error
}

// controller kills a node on schedule, polls the live nodes' view of it,
// restarts it, and ends the run phase.
type controller struct {
	cl       *cluster
	fo       Failover
	duration time.Duration
	origin   time.Time
	progress func(format string, args ...any)
	// hints is the total of the last complete poll.
	hints int
}

func (c *controller) since() time.Duration { return time.Since(c.origin) }

// run carries out the schedule and ends the run phase with stop. It
// returns early when ctx ends (Ctrl-C) or a kill or restart fails.
func (c *controller) run(ctx context.Context, stop context.CancelFunc) (ev faultEvents) {
	defer func() {
		ev.end = c.since()
		stop()
	}()
	ev.hintsAtRestart = -1
	victim := c.cl.nodes[c.fo.victim()]
	if !sleep(ctx, c.fo.KillAfter-c.since()) {
		return ev
	}
	ev.killAt = c.since()
	if ev.err = c.cl.kill(c.fo.victim()); ev.err != nil {
		return ev
	}
	ev.killed = true
	c.progress("failover: sent SIGKILL to %s at %.3f s into the run", victim.id, ev.killAt.Seconds())
	for {
		now := c.since()
		end := c.endAt(&ev)
		if now >= end {
			return ev
		}
		wait := min(pollInterval, end-now)
		if c.fo.RestartAfter > 0 && !ev.restarted {
			due := ev.killAt + c.fo.RestartAfter
			if now >= due {
				if ev.err = c.restart(ctx, &ev); ev.err != nil {
					return ev
				}
				continue
			}
			wait = min(wait, due-now)
		}
		if !sleep(ctx, wait) {
			return ev
		}
		c.poll(ctx, &ev)
	}
}

// endAt is when the run phase should end, as far as ev tells yet.
func (c *controller) endAt(ev *faultEvents) time.Duration {
	switch {
	case c.fo.RestartAfter <= 0:
		return c.duration
	case !ev.restarted:
		return max(c.duration, ev.killAt+c.fo.RestartAfter+deliveryTimeout)
	case ev.delivered:
		return max(c.duration, ev.deliveredAt+recoveryTail)
	}
	return max(c.duration, ev.restartAt+deliveryTimeout)
}

// restart polls the hints pending for the killed node one last time, then
// starts it again.
func (c *controller) restart(ctx context.Context, ev *faultEvents) error {
	victim := c.cl.nodes[c.fo.victim()]
	if c.poll(ctx, ev) {
		ev.hintsAtRestart = c.hints
	}
	ev.restartAt = c.since()
	if err := c.cl.restart(c.fo.victim()); err != nil {
		return err
	}
	ev.restarted = true
	c.progress("recovery: restarted %s at %.3f s into the run, %d hints pending for it", victim.id, ev.restartAt.Seconds(), ev.hintsAtRestart)
	return nil
}

// poll asks every live node how it sees the killed node, and notes in ev
// the first poll in which all saw it down, then (after a restart) alive,
// then alive with no hint left for it. It reports whether every live node
// answered; an incomplete poll changes nothing.
func (c *controller) poll(ctx context.Context, ev *faultEvents) bool {
	victim := c.fo.victim()
	id := c.cl.nodes[victim].id
	allDown, allUp, hints := true, true, 0
	for i := range c.cl.nodes {
		if i == victim {
			continue
		}
		ms, err := c.cl.members(ctx, i)
		if err != nil {
			return false
		}
		listed := false
		for _, m := range ms {
			if m.ID != id {
				continue
			}
			listed = true
			allDown = allDown && !m.Alive
			allUp = allUp && m.Alive
			hints += m.HintsPending
		}
		if !listed {
			allDown, allUp = false, false
		}
	}
	now := c.since()
	c.hints = hints
	ev.hintsPeak = max(ev.hintsPeak, hints)
	switch {
	case !ev.restarted:
		if allDown && !ev.downSeen {
			ev.downSeen, ev.downSeenAt = true, now
			c.progress("failover: every live node sees %s down, %.3f s after the kill", id, (now - ev.killAt).Seconds())
		}
	case !ev.upSeen:
		if allUp {
			ev.upSeen, ev.upSeenAt = true, now
			c.progress("recovery: every live node sees %s alive, %.3f s after the restart; %d hints pending", id, (now - ev.restartAt).Seconds(), hints)
		}
	}
	if ev.upSeen && !ev.delivered && hints == 0 {
		ev.delivered, ev.deliveredAt = true, now
		c.progress("recovery: no hint left for %s, %.3f s after the restart", id, (now - ev.restartAt).Seconds())
	}
	return true
}

// sleep waits d, or less if ctx ends; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return ctx.Err() == nil
}
