package faultlab

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
)

// Kill sends SIGKILL to node i and waits until the process is gone: a
// crash, with no chance to flush or leave the cluster. Clients calling it
// get a refused connection until Restart.
func (l *Lab) Kill(i int) error {
	p, err := l.running(i)
	if err != nil {
		return err
	}
	return p.Kill(exitWait)
}

// Restart starts node i again, after Kill, on the same data directory with
// the same flags. It does not wait for the cluster: call WaitReady.
func (l *Lab) Restart(i int) error {
	if i < 0 || i >= l.cfg.Nodes {
		return fmt.Errorf("no node %d in a %d-node lab", i, l.cfg.Nodes)
	}
	if _, err := l.running(i); err == nil {
		return fmt.Errorf("node %d (%s) is still running: Kill it first", i, nodeID(i))
	}
	return l.startNode(i)
}

// Wipe removes node i's data directory, after Kill: a lost disk. Restart
// then starts it empty, under the same --id; it takes a new actor id.
func (l *Lab) Wipe(i int) error {
	if i < 0 || i >= l.cfg.Nodes {
		return fmt.Errorf("no node %d in a %d-node lab", i, l.cfg.Nodes)
	}
	if _, err := l.running(i); err == nil {
		return fmt.Errorf("node %d (%s) is still running: Kill it first", i, nodeID(i))
	}
	return os.RemoveAll(l.Node(i).DataDir)
}

// Pause sends SIGSTOP to node i. The kernel still accepts its TCP
// connections, so to clients and peers it looks slow rather than dead
// until memberlist's probes time out.
func (l *Lab) Pause(i int) error { return l.signal(i, syscall.SIGSTOP) }

// Resume sends SIGCONT to node i after Pause.
func (l *Lab) Resume(i int) error { return l.signal(i, syscall.SIGCONT) }

func (l *Lab) signal(i int, sig syscall.Signal) error {
	p, err := l.running(i)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// Partition cuts the nodes of a off from the nodes of b. A symmetric cut
// drops, in every node's input chain, the packets from the other side: a
// silent loss, like a pulled cable. A one-way cut (oneWay) drops only what
// a sends to b, in a's output chains, as the reliability research
// prescribes; the kernel then fails a's UDP sends with EPERM at once
// (memberlist logs "operation not permitted"), while its TCP segments are
// silently lost and retransmitted. Either way the packets of a TCP
// connection in the cut direction are lost, so connections between the
// two sides stall both ways. Traffic between a node and the test process
// is never touched. Partitions add up until Heal.
func (l *Lab) Partition(a, b []int, oneWay bool) error {
	for _, i := range slices.Concat(a, b) {
		if i < 0 || i >= l.cfg.Nodes {
			return fmt.Errorf("no node %d in a %d-node lab", i, l.cfg.Nodes)
		}
	}
	if len(a) == 0 || len(b) == 0 {
		return errors.New("partition needs nodes on both sides")
	}
	if oneWay {
		for _, i := range a {
			if err := l.net.nft(i, l.net.dropRules(b, nil)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, i := range a {
		if err := l.net.nft(i, l.net.dropRules(nil, b)); err != nil {
			return err
		}
	}
	for _, j := range b {
		if err := l.net.nft(j, l.net.dropRules(nil, a)); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes every partition.
func (l *Lab) Heal() error {
	var errs []error
	for i := range l.cfg.Nodes {
		errs = append(errs, l.net.nft(i, l.net.healScript()))
	}
	return errors.Join(errs...)
}
