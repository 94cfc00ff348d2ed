package bench

import "syscall"

// procAttr puts a node in a process group of its own, so that a Ctrl-C in
// the terminal reaches bench alone (which then kills the nodes itself and
// still reports), and has the kernel kill the node if bench dies without
// closing the cluster (Pdeathsig).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
