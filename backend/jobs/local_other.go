//go:build !unix

package jobs

import (
	"context"
	"errors"
	"syscall"
)

// Local would run jobs as child processes; it needs process groups and
// signals, which this system lacks.
type Local struct {
	Exe string
	Env []string
}

// Host names this machine.
func (l *Local) Host() string { return "localhost" }

// Start fails: jobs need a Unix system.
func (l *Local) Start(ctx context.Context, spec Spec) (Process, error) {
	return nil, errors.New("jobs: running jobs needs a Unix system (process groups and signals)")
}

func sysProcAttr() *syscall.SysProcAttr { return nil }
