//go:build unix && !linux

package jobs

import "syscall"

// sysProcAttr puts a child in its own process group. Only Linux can have
// the kernel kill children with their parent (Pdeathsig); elsewhere a
// server killed with SIGKILL leaves its running jobs behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
