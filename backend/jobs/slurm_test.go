package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// newSlurmFixture is newFixture on the Slurm cluster SLURM_CONF names,
// with sbatch options opts; the jobs run this test binary as sslens.
func newSlurmFixture(t *testing.T, opts ...string) *fixture {
	t.Helper()
	jobstest.NeedSlurm(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, Options{Slots: 4, Grace: 20 * time.Second}, func() Executor {
		return &Slurm{Exe: exe, Env: []string{jobstest.Env + "=1"}, Options: opts, Poll: 100 * time.Millisecond}
	})
}

// inSqueue reports whether Slurm still lists the job of handle as
// pending or running.
func inSqueue(t *testing.T, handle string) bool {
	t.Helper()
	active, err := (&Slurm{}).Active(context.Background(), handle)
	if err != nil {
		t.Fatal(err)
	}
	return active
}

// checkSequence checks that run id's metric events number 1, 2, ... with
// no gap and no repeat, and returns how many there are.
func checkSequence(t *testing.T, f *fixture, id int64) int {
	t.Helper()
	evs, err := f.st.Events(context.Background(), id, 0, 100000, shared.EventMetric)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Metric.Seq != i+1 {
			t.Fatalf("metric %d has sequence number %d: a gap or a repeat", i+1, ev.Metric.Seq)
		}
	}
	return len(evs)
}

// TestSlurmJobCancelResume: a run submitted to Slurm runs there (host and
// handle say so), streams its metrics, stops with a checkpoint when
// cancelled (scancel --signal=INT), resumes and succeeds.
func TestSlurmJobCancelResume(t *testing.T) {
	f := newSlurmFixture(t)
	ctx := context.Background()
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Name: "on slurm", Dataset: f.dataset(t),
		Config: "steps: 300\nstep_ms: 20\nckpt_every: 20\n"}})
	if err != nil {
		t.Fatal(err)
	}
	j = f.wait(t, j.ID, shared.StateRunning)
	if j.Host != "slurm" || !strings.HasPrefix(j.Handle, slurmHandle) {
		t.Errorf("host %q handle %q, want a Slurm job", j.Host, j.Handle)
	}
	deadline := time.Now().Add(60 * time.Second)
	for lastStep(t, f, j.ID) < 40 {
		if time.Now().After(deadline) {
			t.Fatal("no steps streamed from the Slurm job")
		}
		time.Sleep(50 * time.Millisecond)
	}
	j, _ = f.st.Run(ctx, j.ID)
	if c := j.Cluster; c == nil || slurmHandle+c.Job != j.Handle || c.State != "running" || c.Node == "" || c.Partition == "" {
		t.Errorf("the run records Slurm's state as %+v, want its job running on a node", c)
	}
	if evs, _ := f.st.Events(ctx, j.ID, 0, 100000, shared.EventCluster); len(evs) == 0 || evs[len(evs)-1].Cluster.State != "running" {
		t.Errorf("cluster events %+v, want the job's running state announced", evs)
	}
	if _, err := f.m.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = f.wait(t, j.ID, shared.StateCancelled)
	stoppedAt := lastStep(t, f, j.ID)
	if !j.Resumable || stoppedAt >= 300 {
		t.Fatalf("cancelled at step %d, resumable %v", stoppedAt, j.Resumable)
	}
	if _, err := f.m.Resume(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = f.wait(t, j.ID, shared.StateSucceeded)
	if !slices.Contains(j.Args, "--resume") || lastStep(t, f, j.ID) != 300 {
		t.Errorf("resumed with %v to step %d", j.Args, lastStep(t, f, j.ID))
	}
	checkSequence(t, f, j.ID)
}

// TestSlurmServerRestart: the server stops while its Slurm job runs; the
// job runs on (still queued or running in Slurm, still running in the
// store), the next server re-attaches to it and records its success, and
// its metrics arrive without a gap or a repeat.
func TestSlurmServerRestart(t *testing.T) {
	f := newSlurmFixture(t)
	ctx := context.Background()
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Name: "restart", Dataset: f.dataset(t),
		Config: "steps: 250\nstep_ms: 20\nckpt_every: 50\n"}})
	if err != nil {
		t.Fatal(err)
	}
	j = f.wait(t, j.ID, shared.StateRunning)
	f.stopManager()
	if got, _ := f.st.Run(ctx, j.ID); got.State != shared.StateRunning || !inSqueue(t, j.Handle) {
		t.Fatalf("after the server stopped: %s in the store, in squeue %v; want running in both", got.State, inSqueue(t, j.Handle))
	}
	time.Sleep(time.Second) // steps happen while nobody follows
	f.startManager(t)
	j = f.wait(t, j.ID, shared.StateSucceeded)
	if n := checkSequence(t, f, j.ID); n == 0 || lastStep(t, f, j.ID) != 250 {
		t.Errorf("%d metric events up to step %d after the restart", n, lastStep(t, f, j.ID))
	}
}

// TestSlurmRefusal: a job sbatch refuses (an unknown partition) fails
// with Slurm's own words.
func TestSlurmRefusal(t *testing.T) {
	f := newSlurmFixture(t, "--partition=nowhere")
	j, err := f.m.Submit(context.Background(), Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: f.dataset(t), Config: "steps: 5\n"}})
	if err != nil {
		t.Fatal(err)
	}
	j = f.wait(t, j.ID, shared.StateFailed)
	if !strings.Contains(j.Error, "sbatch") || !strings.Contains(strings.ToLower(j.Error), "partition") {
		t.Errorf("error %q does not give sbatch's reason", j.Error)
	}
}

// TestSlurmTimeLimit: a job Slurm ends at its time limit (1 minute, the
// least Slurm sets) fails with that reason and, having saved checkpoints,
// can be resumed. It runs beside the other tests.
func TestSlurmTimeLimit(t *testing.T) {
	t.Parallel()
	f := newSlurmFixture(t, "--time=1")
	ctx := context.Background()
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: f.dataset(t),
		Config: "steps: 100000\nstep_ms: 10\nckpt_every: 100\n"}})
	if err != nil {
		t.Fatal(err)
	}
	// Slurm checks time limits every 30 s and then gives KillWait (5 s).
	j = jobstest.WaitRunFor(t, f.st, j.ID, shared.StateFailed, 150*time.Second)
	if !strings.Contains(j.Error, "time limit") || !j.Resumable {
		t.Errorf("ended with %q, resumable %v; want the time limit, resumable", j.Error, j.Resumable)
	}
	if _, err := f.m.Resume(ctx, j.ID); err != nil {
		t.Errorf("resuming after the time limit: %v", err)
	}
}

// TestSlurmState: Slurm's words for an ended job become the run's error.
func TestSlurmState(t *testing.T) {
	for _, tc := range []struct {
		st        slurmState
		want      string
		resumable bool
	}{
		{slurmState{State: "COMPLETED"}, "", false},
		{slurmState{State: "COMPLETED", Exit: 3}, "exit status 3", false},
		{slurmState{State: "FAILED", Exit: 1, Reason: "NonZeroExitCode"}, "exit status 1 (NonZeroExitCode)", false},
		{slurmState{State: "TIMEOUT", Reason: "TimeLimit"}, "Slurm: the job reached its time limit (TimeLimit)", true},
		{slurmState{State: "NODE_FAIL"}, "Slurm: its node failed", true},
		{slurmState{State: "PREEMPTED"}, "Slurm: the job was preempted", true},
		{slurmState{State: "OUT_OF_MEMORY"}, "Slurm: the job ran out of memory", false},
		{slurmState{State: "CANCELLED", Reason: "None"}, "Slurm: cancelled", false},
		{slurmState{}, "Slurm no longer knows the job", true},
	} {
		err := tc.st.err()
		var cs ClusterStop
		switch {
		case tc.want == "" && err != nil, tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q", tc.st, err, tc.want)
		case errors.As(err, &cs) != tc.resumable:
			t.Errorf("%+v: resumable %v, want %v", tc.st, !tc.resumable, tc.resumable)
		}
	}
	if (slurmState{State: "PENDING"}).final() || (slurmState{State: "RUNNING"}).final() || !(slurmState{State: "TIMEOUT"}).final() {
		t.Error("final() misreads pending, running or timeout")
	}
	if c, s := exitCode("2:9"); c != 2 || s != 9 {
		t.Errorf("exit code 2:9 read as %d, %d", c, s)
	}
}

// TestSlurmUnreachable: while the controller cannot be reached the run
// stays queued, its log saying why and when the next attempt is; once
// Slurm answers again the run starts and succeeds.
func TestSlurmUnreachable(t *testing.T) {
	f := newSlurmFixture(t)
	good := os.Getenv("SLURM_CONF")
	conf, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "slurm.conf")
	lines := strings.Split(string(conf), "\n")
	for i, ln := range lines {
		if strings.HasPrefix(ln, "SlurmctldHost=") {
			lines[i] = "SlurmctldHost=nowhere(127.0.0.1)\nSlurmctldPort=1"
		}
	}
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", bad)
	ctx := context.Background()
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: f.dataset(t), Config: "steps: 5\n"}})
	if err != nil {
		t.Fatal(err)
	}
	f.waitDecision(t, "to retry the unreachable cluster", func(d Decision) bool { return d.Run == j.ID && d.Action == ActionRetry })
	j, _ = f.st.Run(ctx, j.ID)
	logs, _ := f.st.Events(ctx, j.ID, 0, 100, shared.EventLog)
	if j.State != shared.StateQueued || len(logs) == 0 || !strings.Contains(logs[0].Log.Text, "Unable to contact slurm controller") ||
		!strings.Contains(logs[0].Log.Text, "trying again in 5s") {
		t.Fatalf("run %s, logs %+v; want queued, saying why", j.State, logs)
	}
	os.Setenv("SLURM_CONF", good)
	jobstest.WaitRunFor(t, f.st, j.ID, shared.StateSucceeded, 90*time.Second)
}

// A reproduce run on the Slurm executor submits its cells to Slurm too,
// with the executor's sbatch options.
func TestSlurmReproduceFlags(t *testing.T) {
	f := newFixtureOn(t, Options{}, func() Executor {
		return &Slurm{Options: []string{"--time=5"}, KindOptions: map[shared.RunKind][]string{shared.KindPretrain: {"--gres=gpu:1"}}}
	})
	j := store.Run{Run: shared.Run{ID: 1, Kind: shared.KindReproduce, Dataset: f.dataset(t), Dir: "runs/1-r"}}
	args, err := f.m.prepare(context.Background(), j, Params{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--executor", "slurm", "--slurm-option=--time=5", "--slurm-kind-option=pretrain=--gres=gpu:1"}
	if at := slices.Index(args, "--executor"); at < 0 || !slices.Equal(args[at:at+len(want)], want) {
		t.Errorf("reproduce args %v, want %v among them", args, want)
	}
}
