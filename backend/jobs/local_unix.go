//go:build unix

package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/sslens/sslens/backend/layout"
)

// Local runs jobs as child processes of the server on this machine.
type Local struct {
	// Exe is the sslens binary, usually os.Executable().
	Exe string
	// Env is added to the server's environment for every child.
	Env []string
}

// Host is this machine's name.
func (l *Local) Host() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// Start runs Exe with spec.Args in spec.Dir, in a new process group.
func (l *Local) Start(ctx context.Context, spec Spec) (Process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(spec.After) > 0 {
		return nil, fmt.Errorf("jobs: run %d: local jobs take no dependencies", spec.Run)
	}
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(spec.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	stdout, err := open(layout.StdoutFile)
	if err != nil {
		return nil, fmt.Errorf("jobs: run %d: %w", spec.Run, err)
	}
	stderr, err := open(layout.StderrFile)
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("jobs: run %d: %w", spec.Run, err)
	}
	cmd := exec.Command(l.Exe, spec.Args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = spec.Dir, stdout, stderr
	cmd.Env = append(os.Environ(), l.Env...)
	cmd.SysProcAttr = sysProcAttr()
	p := &localProcess{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits,
		// not the process: keep this goroutine on its thread until the
		// child is gone, so the Go runtime cannot retire the thread
		// under a running job.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer stdout.Close()
		defer stderr.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		err := cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = exitError(ee)
		}
		p.err = err
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("jobs: run %d: start %s: %w", spec.Run, l.Exe, err)
	}
	return p, nil
}

// exitError words how a child ended.
func exitError(ee *exec.ExitError) error {
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("killed by signal %v", ws.Signal())
	}
	return fmt.Errorf("exit status %d", ee.ExitCode())
}

type localProcess struct {
	pid  int
	done chan struct{}
	err  error

	stopOnce sync.Once
}

func (p *localProcess) Handle() string        { return fmt.Sprintf("pid %d", p.pid) }
func (p *localProcess) Done() <-chan struct{} { return p.done }

func (p *localProcess) Err() error {
	<-p.done
	return p.err
}

// Stop signals the whole process group (the child is its leader), so
// anything the job started stops with it.
func (p *localProcess) Stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		syscall.Kill(-p.pid, syscall.SIGINT)
		go func() {
			select {
			case <-p.done:
			case <-time.After(grace):
				syscall.Kill(-p.pid, syscall.SIGKILL)
			}
		}()
	})
}
