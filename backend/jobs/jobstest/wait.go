package jobstest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// WaitRun polls st every 10 ms until run id is in state want and returns
// it; another final state, or 60 s without reaching want, fails the test.
func WaitRun(t testing.TB, st *store.Store, id int64, want shared.RunState) store.Run {
	t.Helper()
	return WaitRunFor(t, st, id, want, 60*time.Second)
}

// WaitRunFor is WaitRun waiting up to limit.
func WaitRunFor(t testing.TB, st *store.Store, id int64, want shared.RunState, limit time.Duration) store.Run {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		j, err := st.Run(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if j.State.Final() || time.Now().After(deadline) {
			t.Fatalf("run %d is %s (error %q), want %s", id, j.State, j.Error, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SlurmRequired set to 1 makes NeedSlurm fail a test instead of skipping
// it (CI starts a cluster with backend/jobs/slurm/single-node.sh).
const SlurmRequired = "SSLENS_SLURM_REQUIRED"

// NeedSlurm skips a test when no Slurm cluster is at hand (sbatch on the
// PATH and SLURM_CONF set), or fails it when SlurmRequired is 1.
func NeedSlurm(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("sbatch"); err != nil || os.Getenv("SLURM_CONF") == "" {
		if os.Getenv(SlurmRequired) == "1" {
			t.Fatalf("%s=1 but no Slurm here (sbatch: %v, SLURM_CONF %q)", SlurmRequired, err, os.Getenv("SLURM_CONF"))
		}
		t.Skip("no Slurm: start one with backend/jobs/slurm/single-node.sh and set SLURM_CONF")
	}
}
