package jobs

import "syscall"

// sysProcAttr puts a child in its own process group (signals to the
// server's terminal do not reach it; Stop signals the group) and has the
// kernel SIGKILL it when the server dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
