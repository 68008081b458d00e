package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sslens/sslens/backend/gpu"
	"github.com/sslens/sslens/backend/layout"
	"github.com/sslens/sslens/backend/scoring"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// Notifier receives every event the manager stores, after it is stored.
// The websocket hub is one. Notify must not block.
type Notifier interface {
	Notify(ev shared.Event)
}

// Manager runs the queue. Create it with New, call Recover once, then
// Run; Submit, Cancel and Resume may be called from any goroutine.
type Manager struct {
	st   *store.Store
	ex   Executor
	note Notifier
	opt  Options
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	running  map[int64]*active
	retries  map[int64]retry // queued runs whose executor was unavailable
	stopping bool            // Run is shutting down: no more starts
	detached chan struct{}   // closed when Run leaves a Detacher's jobs running
	wg       sync.WaitGroup
}

// active is a running job.
type active struct {
	proc      Process
	pool      pool
	gpu       int  // the GPU it holds in poolGPU; -1 none
	cancelled bool // stopped on request
}

// New returns a manager of the jobs in st, started by ex, whose events go
// to note (which may be nil).
func New(st *store.Store, ex Executor, note Notifier, opt Options) *Manager {
	opt = opt.withDefaults()
	lg := opt.Log
	if lg == nil {
		lg = slog.Default()
	}
	return &Manager{st: st, ex: ex, note: note, opt: opt, log: lg, wake: make(chan struct{}, 1), running: map[int64]*active{},
		retries: map[int64]retry{}, detached: make(chan struct{})}
}

func (m *Manager) notify(ev shared.Event) {
	if m.note != nil {
		m.note.Notify(ev)
	}
}

// kick wakes the scheduler.
func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// abs resolves a data-relative path.
func (m *Manager) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(m.opt.DataDir, p)
}

// Recover takes over the runs a previous server left running: a
// Detacher's jobs on its cluster are followed again (those that ended
// meanwhile are recorded as they ended); the others are marked
// interrupted, their processes having died with the server. Call it
// before Run.
func (m *Manager) Recover(ctx context.Context) error {
	js, err := m.st.Runs(ctx, store.RunFilter{States: []shared.RunState{shared.StateRunning}})
	if err != nil {
		return err
	}
	det, detachable := m.ex.(Detacher)
	for _, j := range js {
		if detachable && j.Host == det.Host() {
			err := m.reattach(ctx, j, det)
			if err == nil {
				continue
			}
			m.log.Warn("jobs: re-attaching to a cluster job", "run", j.ID, "handle", j.Handle, "err", err)
		}
		if err := m.setState(ctx, j.ID, store.Transition{To: shared.StateInterrupted, From: []shared.RunState{shared.StateRunning},
			Error: "the server stopped while it ran (" + j.Handle + ")", Resumable: new(true)}); err != nil {
			return err
		}
	}
	return nil
}

// reattach follows run j's cluster job again from where the store left it.
func (m *Manager) reattach(ctx context.Context, j store.Run, det Detacher) error {
	var p Params
	if err := json.Unmarshal(j.Params, &p); err != nil {
		return fmt.Errorf("params: %w", err)
	}
	t, err := m.newTailer(ctx, j, p)
	if err != nil {
		return err
	}
	proc, err := det.Attach(j.Handle)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.follow(j, p, proc, t, deviceIndex(j.Args))
	m.mu.Unlock()
	return nil
}

// errNoGPUs refuses a GPU run on a server without GPUs for jobs.
var errNoGPUs = errors.New("device cuda: the server has no GPUs for jobs (start it with serve --gpus N)")

// Device is the device a job's arguments name (--device's value), "" for
// none: the GPU the manager gave a job in the GPU pool.
func Device(args []string) string {
	for i, a := range args {
		if a == "--device" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// deviceIndex is the GPU a job's arguments name (--device cuda:N), or -1.
func deviceIndex(args []string) int {
	if spec, err := gpu.ParseDevice(Device(args)); err == nil && spec.CUDA {
		return spec.Index
	}
	return -1
}

// Submission is a run to queue.
type Submission struct {
	store.NewRun
	Params Params
}

var slugRe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Slug makes a name a folder name: every run of other characters than
// letters, digits, '.', '_' and '-' becomes '-', the ends lose '-' and '.',
// and it is cut to 60 bytes.
func Slug(name string) string {
	slug := strings.Trim(slugRe.ReplaceAllString(name, "-"), "-.")
	return slug[:min(len(slug), 60)]
}

// Submit queues a run. Its folder, DataDir/runs/<id>-<name>, is made when
// it starts. A submission missing what its kind needs is a
// *store.InvalidError.
func (m *Manager) Submit(ctx context.Context, sub Submission) (store.Run, error) {
	if err := checkParams(sub.NewRun, sub.Params); err != nil {
		return store.Run{}, &store.InvalidError{Msg: "the run cannot be queued: " + err.Error()}
	}
	if onGPU(sub.Kind, sub.Config, sub.Params) && m.opt.GPUs == 0 {
		return store.Run{}, &store.InvalidError{Msg: "the run cannot be queued: " + errNoGPUs.Error()}
	}
	b, err := json.Marshal(sub.Params)
	if err != nil {
		return store.Run{}, fmt.Errorf("jobs: %w", err)
	}
	sub.NewRun.Params = b
	sub.MaxQueued = m.opt.MaxQueued
	if sub.Name == "" {
		sub.Name = string(sub.Kind)
	}
	slug := Slug(sub.Name)
	sub.DirOf = func(id int64) string { return filepath.Join("runs", fmt.Sprintf("%d-%s", id, slug)) }
	j, ev, err := m.st.CreateRun(ctx, sub.NewRun)
	if err != nil {
		return store.Run{}, err
	}
	m.notify(ev)
	m.kick()
	return j, nil
}

// Cancel stops a run: a queued one at once, a running one by signalling
// its process (it ends as cancelled within Options.Grace).
func (m *Manager) Cancel(ctx context.Context, id int64) (store.Run, error) {
	m.mu.Lock()
	a := m.running[id]
	if a != nil {
		a.cancelled = true
	}
	m.mu.Unlock()
	if a != nil {
		a.proc.Stop(m.opt.Grace)
		return m.st.Run(ctx, id)
	}
	// Not running here: only a queued run can be cancelled. The scheduler
	// may start it meanwhile; the state check in the store decides.
	m.mu.Lock()
	delete(m.retries, id)
	m.mu.Unlock()
	err := m.setState(ctx, id, store.Transition{To: shared.StateCancelled, From: []shared.RunState{shared.StateQueued}, Resumable: new(true)})
	if errors.Is(err, store.ErrConflict) {
		m.mu.Lock()
		a = m.running[id]
		if a != nil {
			a.cancelled = true
		}
		m.mu.Unlock()
		if a == nil {
			return store.Run{}, err
		}
		a.proc.Stop(m.opt.Grace)
	} else if err != nil {
		return store.Run{}, err
	}
	return m.st.Run(ctx, id)
}

// Resume queues a resumable run again: cancelled, interrupted, or failed
// by its cluster (ClusterStop) with a checkpoint to resume from.
func (m *Manager) Resume(ctx context.Context, id int64) (store.Run, error) {
	j, err := m.st.Run(ctx, id)
	if err != nil {
		return store.Run{}, err
	}
	if !j.Resumable {
		return store.Run{}, store.Conflict("run %d is %s and cannot be resumed", id, j.State)
	}
	err = m.setState(ctx, id, store.Transition{To: shared.StateQueued,
		From: []shared.RunState{shared.StateCancelled, shared.StateInterrupted, shared.StateFailed}, Resumable: new(false)})
	if err != nil {
		return store.Run{}, err
	}
	m.kick()
	return m.st.Run(ctx, id)
}

// Run starts queued jobs until ctx is done, then stops the running ones
// (SIGINT, SIGKILL after the grace period), marks them interrupted, and
// returns when all have ended; a Detacher's jobs are left running, still
// recorded as running, for the next server to follow.
func (m *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := m.schedule(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("jobs: scheduling", "err", err)
		}
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.stopping = true
			if _, ok := m.ex.(Detacher); ok {
				close(m.detached) // cluster jobs run on; the next server follows them
			} else {
				for _, a := range m.running {
					a.proc.Stop(m.opt.Grace)
				}
			}
			m.mu.Unlock()
			m.wg.Wait()
			return nil
		case <-m.wake:
		case <-tick.C:
		}
	}
}

// schedule starts queued runs, oldest first, while their pools have free
// slots: a full training pool holds back training runs, not score
// batches, and the other way round.
func (m *Manager) schedule(ctx context.Context) error {
	free := map[pool]int{poolTrain: m.opt.Slots, poolScore: m.opt.ScoreSlots, poolGPU: m.opt.GPUs}
	m.mu.Lock()
	for _, a := range m.running {
		free[a.pool]--
	}
	m.mu.Unlock()
	if free[poolTrain] <= 0 && free[poolScore] <= 0 && free[poolGPU] <= 0 {
		return nil
	}
	queued, err := m.st.Runs(ctx, store.RunFilter{States: []shared.RunState{shared.StateQueued}, Oldest: true})
	if err != nil {
		return err
	}
	for _, j := range queued {
		pl := poolFor(j)
		if pl == poolGPU && m.opt.GPUs == 0 {
			if err := m.fail(ctx, j.ID, errNoGPUs); err != nil {
				return err
			}
			continue
		}
		d, err := m.decide(ctx, j, free[pl] > 0)
		if err != nil {
			return err
		}
		if d.Action == ActionStart {
			if err := m.start(ctx, j, pl); err != nil {
				return err
			}
			free[pl]--
		}
		if m.opt.OnDecision != nil {
			m.opt.OnDecision(d)
		}
	}
	return nil
}

// decide is what to do with queued run j now that its pool has a free
// slot or not: wait for the run it follows, fail with it, wait for a
// slot, or start. A failure by dependency is recorded here.
func (m *Manager) decide(ctx context.Context, j store.Run, slot bool) (Decision, error) {
	d := Decision{Run: j.ID, Action: ActionStart}
	if j.After != 0 {
		dep, err := m.st.Run(ctx, j.After)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return d, err
		case dep.State == shared.StateSucceeded:
			d.After = dep.State
		case dep.State == shared.StateFailed:
			d.After, d.Action = dep.State, ActionFail
			err := m.setState(ctx, j.ID, store.Transition{To: shared.StateFailed, From: []shared.RunState{shared.StateQueued},
				Error: fmt.Sprintf("run %d, which this run waited for, %s", dep.ID, dep.State)})
			return d, err
		default:
			// Still waiting; cancelled and interrupted runs may be resumed.
			d.After, d.Action = dep.State, ActionWait
			return d, nil
		}
	}
	switch {
	case !slot:
		d.Action = ActionBusy
	case time.Now().Before(m.retryAt(j.ID)):
		d.Action = ActionRetry
	}
	return d, nil
}

// retry is a queued run's next attempt after its executor was
// unavailable, and the wait before it.
type retry struct {
	at   time.Time
	wait time.Duration
}

// Waits between attempts to start a run whose executor is unavailable.
const (
	firstRetryWait = 5 * time.Second
	maxRetryWait   = 5 * time.Minute
)

func (m *Manager) retryAt(id int64) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retries[id].at
}

// postpone keeps run id queued after its executor was unavailable: the
// next attempt waits twice as long as the last (up to maxRetryWait), and
// the run's log says why. m.mu is held.
func (m *Manager) postpone(ctx context.Context, id int64, cause error) {
	r := m.retries[id]
	r.wait = min(max(2*r.wait, firstRetryWait), maxRetryWait)
	r.at = time.Now().Add(r.wait)
	m.retries[id] = r
	text := fmt.Sprintf("not started: %v; trying again in %s", cause, r.wait)
	evs, err := m.st.AppendEvents(ctx, id, []shared.Event{{Type: shared.EventLog, Log: &shared.LogLine{Stream: "server", Text: text}}}, nil)
	if err != nil {
		m.log.Warn("jobs: recording a postponed start", "run", id, "err", err)
		return
	}
	for _, ev := range evs {
		m.notify(ev)
	}
}

// start launches one queued job. Failures of the job itself (a missing
// dataset, an unavailable subcommand) fail the run; only store errors
// are returned.
func (m *Manager) start(ctx context.Context, j store.Run, pl pool) error {
	var p Params
	if err := json.Unmarshal(j.Params, &p); err != nil {
		return m.fail(ctx, j.ID, fmt.Errorf("params: %w", err))
	}
	args, err := m.prepare(ctx, j, p)
	if err != nil {
		return m.fail(ctx, j.ID, err)
	}
	gpuIndex := -1
	if pl == poolGPU {
		gpuIndex = m.freeGPU()
		args = append(args, "--device", fmt.Sprintf("cuda:%d", gpuIndex))
	}
	t, err := m.newTailer(ctx, j, p)
	if err != nil {
		return m.fail(ctx, j.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return nil
	}
	proc, err := m.ex.Start(ctx, Spec{Run: j.ID, Kind: j.Kind, Args: args, Dir: m.abs(j.Dir)})
	var un Unavailable
	if errors.As(err, &un) {
		m.postpone(ctx, j.ID, un.Err)
		return nil
	}
	delete(m.retries, j.ID)
	if err != nil {
		return m.fail(ctx, j.ID, err)
	}
	err = m.setState(ctx, j.ID, store.Transition{To: shared.StateRunning, From: []shared.RunState{shared.StateQueued},
		Host: m.ex.Host(), Handle: proc.Handle(), Args: args, Resumable: new(false)})
	if err != nil {
		proc.Stop(0) // cancelled meanwhile, or the store failed: do not run unrecorded
		<-proc.Done()
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	}
	m.follow(j, p, proc, t, gpuIndex)
	return nil
}

// freeGPU is the lowest GPU no running job holds; on a cluster, where
// Slurm hands each job its own, always 0.
func (m *Manager) freeGPU() int {
	if _, ok := m.ex.(Detacher); ok {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	held := make(map[int]bool)
	for _, a := range m.running {
		held[a.gpu] = true
	}
	i := 0
	for held[i] {
		i++
	}
	return i
}

// follow records proc as run j's, holding GPU gpuIndex (-1: none: then
// it runs in its kind's pool), and watches it to its end. m.mu is held.
func (m *Manager) follow(j store.Run, p Params, proc Process, t *tailer, gpuIndex int) {
	a := &active{proc: proc, pool: poolOf(j.Kind), gpu: gpuIndex}
	if gpuIndex >= 0 {
		a.pool = poolGPU
	}
	m.running[j.ID] = a
	m.wg.Add(1)
	go m.watch(j, p, a, t)
}

// watch follows a running job until its process ends and records the end.
func (m *Manager) watch(j store.Run, p Params, a *active, t *tailer) {
	defer m.wg.Done()
	ctx := context.Background() // the job outlives the request or loop that started it
	tick := time.NewTicker(m.opt.Poll)
	defer tick.Stop()
	var cluster shared.ClusterJob // the latest recorded
	for done := false; !done; {
		select {
		case <-a.proc.Done():
			done = true
		case <-m.detached:
			return // still running on the cluster: recorded as running
		case <-tick.C:
		}
		if cp, ok := a.proc.(ClusterProcess); ok {
			if c, known := cp.Cluster(); known && c != cluster {
				cluster = c
				if ev, err := m.st.SetCluster(ctx, j.ID, c); err != nil {
					m.log.Warn("jobs: recording a cluster job's state", "run", j.ID, "err", err)
				} else {
					m.notify(ev)
				}
			}
		}
		if err := t.poll(ctx); err != nil {
			m.log.Warn("jobs: reading run folder", "run", j.ID, "err", err)
		}
	}
	runErr := a.proc.Err()
	finErr := m.finish(ctx, j, p)

	m.mu.Lock()
	cancelled, stopping := a.cancelled, m.stopping
	delete(m.running, j.ID)
	m.mu.Unlock()

	_, detachable := m.ex.(Detacher) // a cluster job's end is its own, whatever the server does
	tr := store.Transition{From: []shared.RunState{shared.StateRunning}}
	switch {
	case cancelled:
		tr.To, tr.Resumable = shared.StateCancelled, new(true)
	case stopping && !detachable:
		tr.To, tr.Error, tr.Resumable = shared.StateInterrupted, "the server was shut down while it ran", new(true)
	case runErr != nil:
		tr.To, tr.Error = shared.StateFailed, failure(runErr, m.abs(j.Dir))
		var cs ClusterStop
		if (errors.As(runErr, &cs) || j.Kind == shared.KindSurvey) && m.resumable(j) {
			tr.Resumable = new(true)
		}
	case finErr != nil:
		tr.To, tr.Error = shared.StateFailed, finErr.Error()
	default:
		tr.To = shared.StateSucceeded
	}
	if err := m.setState(ctx, j.ID, tr); err != nil {
		m.log.Error("jobs: recording the end of a run", "run", j.ID, "state", tr.To, "err", err)
	}
	m.kick()
}

// resumable says whether a failed run's folder holds what a resume
// continues from: a training run's last checkpoint, a survey's scores so
// far (a survey resumes whatever stopped it; what was scored is kept).
func (m *Manager) resumable(j store.Run) bool {
	dir := m.abs(j.Dir)
	if j.Kind == shared.KindSurvey {
		return layout.IsFile(filepath.Join(dir, scoring.ProgressFile))
	}
	return layout.Run(dir).Resumable()
}

// failure words a failed process: its exit and the last lines it wrote
// to stderr, which say why.
func failure(err error, dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, layout.StderrFile))
	lines := strings.Split(strings.TrimSpace(string(b[max(0, len(b)-4096):])), "\n")
	var keep []string
	for _, ln := range lines[max(0, len(lines)-3):] {
		if k := strings.LastIndexByte(ln, '\r'); k >= 0 {
			ln = ln[k+1:]
		}
		if strings.TrimSpace(ln) != "" {
			keep = append(keep, ln)
		}
	}
	if len(keep) == 0 {
		return err.Error()
	}
	return err.Error() + ": " + strings.Join(keep, "\n")
}

func (m *Manager) fail(ctx context.Context, id int64, cause error) error {
	m.log.Warn("jobs: run failed to start", "run", id, "err", cause)
	err := m.setState(ctx, id, store.Transition{To: shared.StateFailed, From: []shared.RunState{shared.StateQueued}, Error: cause.Error()})
	if errors.Is(err, store.ErrConflict) {
		return nil // cancelled meanwhile
	}
	return err
}

// setState applies a transition and announces it.
func (m *Manager) setState(ctx context.Context, id int64, t store.Transition) error {
	ev, err := m.st.SetState(ctx, id, t)
	if err != nil {
		return err
	}
	m.notify(ev)
	return nil
}
