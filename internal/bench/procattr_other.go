//go:build !linux

package bench

import "syscall"

// procAttr has nothing to add outside Linux: no Pdeathsig there, so a node
// outlives a bench that is killed without closing the cluster.
func procAttr() *syscall.SysProcAttr { return nil }
