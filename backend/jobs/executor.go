package jobs

import (
	"context"
	"time"

	"github.com/sslens/sslens/shared"
)

// Spec is one start of a job as an executor sees it.
type Spec struct {
	Run  int64
	Kind shared.RunKind
	// Name names the job on a cluster ("sslens-" + Name); empty: after Run.
	Name string
	// After are the handles of cluster jobs that must succeed before this
	// one starts (a cluster executor's dependencies; the local one runs
	// one job at a time and takes none).
	After []string
	Args  []string // sslens subcommand and its arguments
	// Dir is the run folder (absolute). The process starts there and its
	// standard output and error are appended to Dir/stdout.log and
	// Dir/stderr.log.
	Dir string
}

// Executor starts jobs. The local one runs child processes; a cluster
// one would submit them to a scheduler. Implementations are safe for
// concurrent use.
type Executor interface {
	// Start launches spec and returns once it is running (or queued on a
	// cluster). ctx bounds the start only, not the job.
	Start(ctx context.Context, spec Spec) (Process, error)
	// Host names where jobs run, for Run.Host.
	Host() string
}

// Process is a started job.
type Process interface {
	// Handle identifies it for people and logs: "pid 1234", a cluster job ID.
	Handle() string
	// Done is closed when the job has ended.
	Done() <-chan struct{}
	// Err is nil after Done when the job succeeded, its failure otherwise.
	Err() error
	// Stop asks the job to stop (SIGINT: save a checkpoint and exit) and
	// forces it after grace (SIGKILL). It returns at once.
	Stop(grace time.Duration)
}

// Detacher is an executor whose jobs outlive the server, a cluster's: the
// server leaves them running when it stops, and Recover re-attaches to
// those its store still records as running on the executor's Host.
type Detacher interface {
	Executor
	// Attach follows the job a Process.Handle named.
	Attach(handle string) (Process, error)
}

// ClusterStop is a job's end that the cluster decided, not the job: a
// time limit, a node failure, a preemption. The run fails with it but may
// be resumed from its last checkpoint.
type ClusterStop string

func (e ClusterStop) Error() string { return string(e) }

// ClusterProcess is a Process a cluster scheduler runs, which can say what
// the scheduler last said of it.
type ClusterProcess interface {
	Process
	Cluster() (shared.ClusterJob, bool)
}

// Unavailable is a start the executor could not make for now (the cluster
// controller unreachable): the run stays queued and is retried, later and
// later, up to maxRetryWait apart.
type Unavailable struct{ Err error }

func (e Unavailable) Error() string { return e.Err.Error() }
func (e Unavailable) Unwrap() error { return e.Err }
