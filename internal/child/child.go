// Package child runs a child process for the project's harnesses (the
// fault lab and the failover bench): its output is appended to a log file,
// it is reaped as soon as it exits, and it can be signalled, or killed and
// waited for until its ports and files are free.
package child

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is one life of a child process.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
}

// Start starts cmd with its standard output and error appended to logPath,
// after a line saying banner, and reaps it in the background.
func Start(cmd *exec.Cmd, logPath, banner string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "=== %s at %s\n", banner, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Start()
	_ = log.Close() // the child holds its own copy
	if err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status of a killed node says nothing new
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process is gone.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL (which also ends a stopped process) and waits up to
// wait for the process to be reaped.
func (p *Process) Kill(wait time.Duration) error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		return fmt.Errorf("process %d still running %v after SIGKILL", p.cmd.Process.Pid, wait)
	}
}
