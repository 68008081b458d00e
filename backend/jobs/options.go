package jobs

import (
	"io/fs"
	"log/slog"
	"time"

	"github.com/sslens/sslens/shared"
)

// DefaultMaxQueued is how many queued runs an astronomer may have when
// Options.MaxQueued is nil: a few score batches, not a queue that keeps
// the scoring slot busy for everyone else.
const DefaultMaxQueued = 4

// Options configure a Manager.
type Options struct {
	// DataDir is the portal's data folder (absolute); run folders are
	// DataDir/runs/<id>-<name>.
	DataDir string
	// Slots is how many jobs of the training kinds (simulate, pretrain,
	// finetune, reproduce) run at once; 0 means 1.
	Slots int
	// JobMemory is the memory, in bytes, one pretrain or finetune job may
	// take: such a job whose config sets no smaller train args.max_memory
	// runs with --max-memory JobMemory, which picks its micro-batch. 0: no
	// limit.
	JobMemory int64
	// ScoreSlots is how many score-batch and import jobs (seconds each)
	// run at once, beside the training slots; 0 means 1.
	ScoreSlots int
	// GPUs is how many GPUs jobs may use, one each: a finetune job whose
	// config sets experiment.device cuda, or a score-survey job whose
	// request asks for cuda, waits for a free one and runs with --device
	// cuda:N on it (on a cluster, cuda:0 of what Slurm allocates), beside
	// the training slots. 0: no job runs on a GPU.
	GPUs int
	// MaxQueued caps how many queued runs one user may have, by role:
	// Submit refuses one more with a *store.ConflictError. A role not in
	// it has no cap. nil means astronomers DefaultMaxQueued and admins
	// none; an empty map caps no one.
	MaxQueued map[shared.Role]int
	// Grace is how long a job may take to stop after SIGINT before it is
	// killed; 0 means 30 s.
	Grace time.Duration
	// Poll is how often running jobs' folders are read; 0 means 500 ms.
	Poll time.Duration
	// Configs are the shipped experiment configs: a reproduce run with a
	// config of its own gets a copy beside it, since reproduce configs name
	// base configs by relative path.
	Configs fs.FS
	// Available reports whether the sslens binary has a subcommand; jobs
	// of kinds whose subcommand is missing fail at start. nil: all are.
	Available func(subcommand string) bool
	// Log receives the manager's own problems; nil means slog.Default().
	Log *slog.Logger
	// OnDecision, when set, is called on the scheduling goroutine with
	// each decision a scheduling pass makes about a queued run, so that a
	// caller (a test) can tell "still queued" from "not looked at yet". It
	// must return quickly.
	OnDecision func(Decision)
}

// Decision is what one scheduling pass did with one queued run.
type Decision struct {
	Run    int64
	Action Action
	// After is the state of the run this one waits for, as the pass read
	// it; "" when it waits for none (or that run is gone).
	After shared.RunState
}

// Action is a scheduling decision.
type Action string

const (
	ActionStart Action = "start" // handed to the executor (failing the run if that fails)
	ActionWait  Action = "wait"  // left queued: the run it waits for has not succeeded
	ActionFail  Action = "fail"  // failed: the run it waited for failed
	ActionBusy  Action = "busy"  // left queued: every slot of its pool is taken
	ActionRetry Action = "retry" // left queued: the executor could not be reached, retried later
)

// withDefaults fills in the zero fields the way Options documents.
func (o Options) withDefaults() Options {
	if o.Slots <= 0 {
		o.Slots = 1
	}
	if o.ScoreSlots <= 0 {
		o.ScoreSlots = 1
	}
	if o.MaxQueued == nil {
		o.MaxQueued = map[shared.Role]int{shared.RoleAstronomer: DefaultMaxQueued}
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	return o
}
