package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/shared"
)

// Slurm runs jobs as Slurm batch jobs: each start writes a batch script
// into the run folder, which must be on a file system the compute nodes
// share, and submits it with sbatch. The job runs the same sslens
// subcommand there and reports through the run folder as a local job
// does. Jobs outlive the server (Slurm is a Detacher): a restarted server
// re-attaches to them by job id.
type Slurm struct {
	// Exe is the sslens binary as the compute nodes see it.
	Exe string
	// Env is exported to every job besides the submitting environment
	// (sbatch's default --export=ALL).
	Env []string
	// Options are sbatch options for every job: --partition=P,
	// --account=A, --qos=Q, --time=T, --mem=M, ...
	Options []string
	// KindOptions are added for jobs of one kind, e.g. --gres=gpu:1 for
	// pretrain.
	KindOptions map[shared.RunKind][]string
	// Cluster names the cluster in Run.Host; default "slurm".
	Cluster string
	// Poll is how often one squeue call follows all jobs; default 2 s.
	Poll time.Duration

	mu     sync.Mutex
	jobs   map[string]*slurmJob // by job id
	polled bool                 // the poller runs
}

// slurmScript is the batch script's name in the run folder.
const slurmScript = "slurm.sh"

// Host is the cluster's name.
func (s *Slurm) Host() string {
	if s.Cluster != "" {
		return s.Cluster
	}
	return "slurm"
}

// Start submits spec with sbatch --parsable and returns once Slurm has
// queued it. A refusal (a bad partition or QOS, Slurm down) is an error
// with sbatch's own words.
func (s *Slurm) Start(ctx context.Context, spec Spec) (Process, error) {
	script := filepath.Join(spec.Dir, slurmScript)
	if err := os.WriteFile(script, []byte(s.script(spec)), 0o755); err != nil {
		return nil, fmt.Errorf("jobs: run %d: %w", spec.Run, err)
	}
	args := append([]string{"--parsable"}, s.Options...)
	args = append(args, s.KindOptions[spec.Kind]...)
	if len(spec.After) > 0 {
		ids := make([]string, len(spec.After))
		for i, h := range spec.After {
			ids[i] = strings.TrimPrefix(h, slurmHandle)
		}
		// A dependency that fails cancels this job rather than leaving it
		// pending for ever.
		args = append(args, "--dependency=afterok:"+strings.Join(ids, ":"), "--kill-on-invalid-dep=yes")
	}
	args = append(args, script)
	out, err := slurmCommand(ctx, "sbatch", args...)
	if err != nil {
		err = fmt.Errorf("jobs: run %d: %w", spec.Run, err)
		if unreachable(err) {
			return nil, Unavailable{err}
		}
		return nil, err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";") // "id" or "id;cluster"
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return nil, fmt.Errorf("jobs: run %d: sbatch answered %q, not a job id", spec.Run, out)
	}
	return s.follow(id), nil
}

// script is the batch script of spec: the run folder as working
// directory, output appended to its logs, then the subcommand in place of
// the shell, so that Slurm's signals reach sslens itself.
func (s *Slurm) script(spec Spec) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	name := spec.Name
	if name == "" {
		name = fmt.Sprintf("run-%d", spec.Run)
	}
	fmt.Fprintf(&b, "#SBATCH --job-name=sslens-%s\n", name)
	fmt.Fprintf(&b, "#SBATCH --chdir=%s\n", spec.Dir)
	fmt.Fprintf(&b, "#SBATCH --output=%s\n", filepath.Join(spec.Dir, layout.StdoutFile))
	fmt.Fprintf(&b, "#SBATCH --error=%s\n", filepath.Join(spec.Dir, layout.StderrFile))
	b.WriteString("#SBATCH --open-mode=append\n")
	for _, e := range s.Env {
		fmt.Fprintf(&b, "export %s\n", shellQuote(e))
	}
	b.WriteString("exec " + shellQuote(s.Exe))
	for _, a := range spec.Args {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\n")
	return b.String()
}

// shellQuote quotes s for sh: in single quotes, each quote inside closed, escaped and reopened.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fanOutFlags are the flags of the commands that submit Slurm jobs of
// their own (`sslens reproduce`'s cells, `sslens score --shards`) with
// this executor's options.
func (s *Slurm) fanOutFlags() []string {
	out := []string{"--executor", "slurm"}
	for _, o := range s.Options {
		out = append(out, "--slurm-option="+o)
	}
	for _, k := range shared.RunKinds {
		for _, o := range s.KindOptions[k] {
			out = append(out, "--slurm-kind-option="+string(k)+"="+o)
		}
	}
	return out
}

// Active reports whether the job of handle is still pending or running.
func (s *Slurm) Active(ctx context.Context, handle string) (bool, error) {
	id := strings.TrimPrefix(handle, slurmHandle)
	states, err := squeue(ctx, []string{id})
	if err != nil {
		return false, err
	}
	st, ok := states[id]
	return ok && !st.final(), nil
}

// Attach follows a job an earlier server submitted, by its handle.
func (s *Slurm) Attach(handle string) (Process, error) {
	id, ok := strings.CutPrefix(handle, slurmHandle)
	if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil {
		return nil, fmt.Errorf("jobs: %q is not a Slurm job handle", handle)
	}
	return s.follow(id), nil
}

// slurmHandle prefixes a job id in Run.Handle.
const slurmHandle = "slurm job "

// follow registers job id with the poller.
func (s *Slurm) follow(id string) *slurmJob {
	j := &slurmJob{id: id, done: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs == nil {
		s.jobs = map[string]*slurmJob{}
	}
	s.jobs[id] = j
	if !s.polled {
		s.polled = true
		go s.poll()
	}
	return j
}

// poll follows every job with one squeue call per tick; a job that has
// ended (or that squeue no longer lists) is asked about with scontrol,
// then sacct, for its end state.
func (s *Slurm) poll() {
	every := s.Poll
	if every <= 0 {
		every = 2 * time.Second
	}
	for {
		time.Sleep(every)
		s.mu.Lock()
		ids := make([]string, 0, len(s.jobs))
		for id := range s.jobs {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			s.polled = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		states, err := squeue(ctx, ids)
		for _, id := range ids {
			st, listed := states[id]
			switch {
			case err != nil:
				// Slurm unreachable: keep the jobs, try again.
			case listed && !st.final():
				s.job(id).set(st)
			default:
				if end, known := slurmEnd(ctx, id); known || !listed {
					s.finish(id, end)
				} else {
					s.finish(id, st)
				}
			}
		}
		cancel()
	}
}

func (s *Slurm) job(id string) *slurmJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// finish records a job's end and stops following it.
func (s *Slurm) finish(id string, st slurmState) {
	s.mu.Lock()
	j := s.jobs[id]
	delete(s.jobs, id)
	s.mu.Unlock()
	if j != nil {
		j.end(st)
	}
}

// slurmState is a job's state as Slurm reports it: JobState (PENDING,
// RUNNING, COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL,
// PREEMPTED, CANCELLED, ...), the reason it waits or ended, its node and
// partition, and for an ended job its exit code and signal.
type slurmState struct {
	State, Reason, Node, Partition string
	Exit, Signal                   int
}

// final reports whether the job has ended.
func (st slurmState) final() bool {
	switch strings.Fields(st.State + " ")[0] {
	case "PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT":
		return false
	}
	return true
}

// err words an ended job's failure; nil when it completed with status 0.
func (st slurmState) err() error {
	reason := ""
	if st.Reason != "" && st.Reason != "None" {
		reason = " (" + st.Reason + ")"
	}
	switch st.State {
	case "COMPLETED":
		if st.Exit == 0 {
			return nil
		}
		return fmt.Errorf("exit status %d", st.Exit)
	case "FAILED":
		if st.Signal != 0 {
			return fmt.Errorf("Slurm: failed, killed by signal %d%s", st.Signal, reason)
		}
		return fmt.Errorf("exit status %d%s", st.Exit, reason)
	case "TIMEOUT":
		return ClusterStop("Slurm: the job reached its time limit" + reason)
	case "OUT_OF_MEMORY":
		return errors.New("Slurm: the job ran out of memory" + reason)
	case "NODE_FAIL":
		return ClusterStop("Slurm: its node failed" + reason)
	case "PREEMPTED":
		return ClusterStop("Slurm: the job was preempted" + reason)
	case "":
		// It may have succeeded: resuming a finished run ends at once.
		return ClusterStop("Slurm no longer knows the job: it ended while nobody followed it, and its end state is lost")
	}
	return fmt.Errorf("Slurm: %s%s", strings.ToLower(st.State), reason)
}

// squeue lists the states of the jobs ids that Slurm still shows.
func squeue(ctx context.Context, ids []string) (map[string]slurmState, error) {
	out, err := slurmCommand(ctx, "squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%N|%P", "--jobs="+strings.Join(ids, ","))
	if err != nil {
		return nil, err
	}
	states := map[string]slurmState{}
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) == 5 {
			states[f[0]] = slurmState{State: f[1], Reason: f[2], Node: f[3], Partition: f[4]}
		}
	}
	return states, nil
}

// slurmEnd asks scontrol, then sacct, how job id ended; known is false
// when neither knows it.
func slurmEnd(ctx context.Context, id string) (st slurmState, known bool) {
	if out, err := slurmCommand(ctx, "scontrol", "show", "job", "--oneliner", id); err == nil {
		f := map[string]string{}
		for _, kv := range strings.Fields(out) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		st = slurmState{State: f["JobState"], Reason: f["Reason"], Node: f["NodeList"], Partition: f["Partition"]}
		st.Exit, st.Signal = exitCode(f["ExitCode"])
		return st, st.State != ""
	}
	out, err := slurmCommand(ctx, "sacct", "--noheader", "--parsable2", "--jobs="+id+".batch,"+id, "--format=JobID,State,ExitCode,Reason,NodeList,Partition")
	if err != nil {
		return st, false
	}
	for line := range strings.Lines(out) {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) == 6 && f[0] == id {
			st = slurmState{State: strings.Fields(f[1] + " ")[0], Reason: f[3], Node: f[4], Partition: f[5]}
			st.Exit, st.Signal = exitCode(f[2])
			return st, true
		}
	}
	return st, false
}

// exitCode parses Slurm's "code:signal".
func exitCode(s string) (code, signal int) {
	c, g, _ := strings.Cut(s, ":")
	code, _ = strconv.Atoi(c)
	signal, _ = strconv.Atoi(g)
	return code, signal
}

// unreachable reports whether a Slurm command failed for want of the
// controller, not for what it asked.
func unreachable(err error) bool {
	msg := err.Error()
	for _, s := range []string{"Unable to contact slurm controller", "Socket timed out", "Connection refused", "temporarily unable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// slurmCommand runs a Slurm client command and returns its output; a
// failure carries the command's own message.
func slurmCommand(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s: %s", name, msg)
	}
	return stdout.String(), nil
}

// slurmJob is a submitted job as the poller last saw it.
type slurmJob struct {
	id   string
	done chan struct{}

	mu    sync.Mutex
	state slurmState
	err   error

	stopOnce sync.Once
}

func (j *slurmJob) Handle() string        { return slurmHandle + j.id }
func (j *slurmJob) Done() <-chan struct{} { return j.done }

func (j *slurmJob) Err() error {
	<-j.done
	return j.err
}

// Cluster is the job's latest Slurm state: pending with its reason,
// running on its node; false before the first poll.
func (j *slurmJob) Cluster() (shared.ClusterJob, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.state
	if st.State == "" {
		return shared.ClusterJob{}, false
	}
	c := shared.ClusterJob{Job: j.id, State: strings.ToLower(st.State), Partition: st.Partition, Node: st.Node}
	if st.Reason != "None" {
		c.Reason = st.Reason
	}
	return c, true
}

func (j *slurmJob) set(st slurmState) {
	j.mu.Lock()
	j.state = st
	j.mu.Unlock()
}

func (j *slurmJob) end(st slurmState) {
	j.set(st)
	j.err = st.err()
	close(j.done)
}

// Stop sends SIGINT to the job's batch step, sslens itself, which saves
// its checkpoint and exits; after grace scancel ends the job.
func (j *slurmJob) Stop(grace time.Duration) {
	j.stopOnce.Do(func() {
		scancel := func(args ...string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			slurmCommand(ctx, "scancel", append(args, j.id)...)
		}
		go func() {
			scancel("--batch", "--signal=INT")
			select {
			case <-j.done:
			case <-time.After(grace):
				scancel()
			}
		}()
	})
}
