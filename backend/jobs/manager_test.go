package jobs

import (
	"cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sslens/sslens/backend/jobs/jobstest"
	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/configs"
	"github.com/sslens/sslens/shared"
)

func TestMain(m *testing.M) { jobstest.RunTests(m) }

// recorder is a Notifier that keeps every event.
type recorder struct {
	mu  sync.Mutex
	evs []shared.Event
}

func (r *recorder) Notify(ev shared.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) of(run int64) []shared.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []shared.Event
	for _, ev := range r.evs {
		if ev.Run == run {
			out = append(out, ev)
		}
	}
	return out
}

type fixture struct {
	st          *store.Store
	m           *Manager
	rec         *recorder
	dir         string
	opt         Options
	newEx       func() Executor
	stopManager func() // the current manager's

	mu        sync.Mutex
	decisions []Decision // every scheduling decision, in order
}

// waitDecision waits until the scheduler has made a decision that ok
// accepts.
func (f *fixture) waitDecision(t *testing.T, what string, ok func(Decision) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		seen := slices.ContainsFunc(f.decisions, ok)
		f.mu.Unlock()
		if seen {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduler never decided %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newFixture starts a manager over a temporary store whose jobs run this
// test binary as a stand-in sslens.
func newFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, opt, func() Executor { return &Local{Exe: exe, Env: []string{jobstest.Env + "=1"}} })
}

// newFixtureOn is newFixture with the executor newEx makes (anew for each
// manager: see restart).
func newFixtureOn(t *testing.T, opt Options, newEx func() Executor) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "sslens.db"), store.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	opt.DataDir = dir
	if opt.Poll == 0 {
		opt.Poll = 20 * time.Millisecond
	}
	if opt.Grace == 0 {
		opt.Grace = 5 * time.Second
	}
	opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{st: st, rec: &recorder{}, dir: dir, opt: opt, newEx: newEx}
	f.opt.OnDecision = func(d Decision) {
		f.mu.Lock()
		f.decisions = append(f.decisions, d)
		f.mu.Unlock()
	}
	f.startManager(t)
	t.Cleanup(func() {
		f.stopManager()
		st.Close()
	})
	return f
}

// startManager starts a manager on the fixture's store, as a server does.
func (f *fixture) startManager(t *testing.T) {
	t.Helper()
	m := New(f.st, f.newEx(), f.rec, f.opt)
	if err := m.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	var once sync.Once
	f.m = m
	f.stopManager = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// restart stops the manager as a server shutting down does and starts
// another on the same store.
func (f *fixture) restart(t *testing.T) {
	t.Helper()
	f.stopManager()
	f.startManager(t)
}

// wait polls until run id is in state want, failing on another final state.
func (f *fixture) wait(t *testing.T, id int64, want shared.RunState) store.Run {
	t.Helper()
	return jobstest.WaitRun(t, f.st, id, want)
}

func (f *fixture) dataset(t *testing.T) int64 {
	t.Helper()
	d, err := f.st.CreateDataset(context.Background(), store.Dataset{Name: "d", Dir: "datasets/d", Kind: "files"})
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

func TestSimulateJob(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindSimulate, Name: "sim small", CreatedBy: "t"},
		Params: Params{Out: "datasets/small", Survey: "hsc", Counts: "small", Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(j.Dir, "runs/") || !strings.HasSuffix(j.Dir, "-sim-small") {
		t.Errorf("run folder %q", j.Dir)
	}
	j = f.wait(t, j.ID, shared.StateSucceeded)
	total, _ := SimulateTotal("hsc", "small")
	if j.Progress == nil || j.Progress.Done != int64(total) || j.Progress.Fraction != 1 {
		t.Errorf("final progress %+v, want %d of %d", j.Progress, total, total)
	}
	if got := countImages(filepath.Join(f.dir, "datasets/small")); got != total {
		t.Errorf("%d images written, want %d", got, total)
	}
	if !slices.Contains(j.Args, "--counts") || j.Host == "" {
		t.Errorf("args %v host %q", j.Args, j.Host)
	}
	evs := f.rec.of(j.ID)
	var states []shared.RunState
	var sawLog bool
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: notified out of order or with a gap", i, ev.Seq)
		}
		switch ev.Type {
		case shared.EventState:
			states = append(states, ev.State.State)
		case shared.EventLog:
			sawLog = sawLog || strings.Contains(ev.Log.Text, "wrote")
		}
	}
	if !slices.Equal(states, []shared.RunState{shared.StateQueued, shared.StateRunning, shared.StateSucceeded}) {
		t.Errorf("states %v", states)
	}
	if !sawLog {
		t.Error("the command's output never arrived as a log event")
	}
}

func TestFinetuneCancelResume(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	ds := f.dataset(t)
	cfg := "steps: 400\nstep_ms: 10\nckpt_every: 25\n"
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Name: "ft", Dataset: ds, Config: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once it has saved a checkpoint.
	deadline := time.Now().Add(20 * time.Second)
	for {
		cs, _ := f.st.Checkpoints(ctx, store.CheckpointFilter{Run: j.ID})
		if len(cs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint recorded while running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t0 := time.Now()
	if _, err := f.m.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	j = f.wait(t, j.ID, shared.StateCancelled)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if !j.Resumable {
		t.Error("cancelled run not resumable")
	}
	if _, err := f.m.Cancel(ctx, j.ID); err == nil {
		t.Error("cancelling a cancelled run succeeded")
	}
	stoppedAt := lastStep(t, f, j.ID)
	if stoppedAt <= 0 || stoppedAt >= 400 {
		t.Fatalf("stopped at step %d", stoppedAt)
	}
	if _, err := f.m.Resume(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Resume(ctx, j.ID); err == nil {
		t.Error("resuming a queued run succeeded")
	}
	j = f.wait(t, j.ID, shared.StateSucceeded)
	if !slices.Contains(j.Args, "--resume") {
		t.Errorf("resumed with %v, want --resume", j.Args)
	}
	if j.Progress == nil || j.Progress.Done != 400 || j.Progress.Unit != "steps" {
		t.Errorf("progress %+v", j.Progress)
	}
	// Applying the documented rule (a metric whose seq is not above the
	// last replaces it and what follows) to the stored stream must give
	// every step once, in order.
	evs, err := f.st.Events(ctx, j.ID, 0, 100000, shared.EventMetric)
	if err != nil {
		t.Fatal(err)
	}
	var stream []shared.Metric
	for _, ev := range evs {
		m := *ev.Metric
		for len(stream) > 0 && stream[len(stream)-1].Seq >= m.Seq {
			stream = stream[:len(stream)-1]
		}
		stream = append(stream, m)
	}
	var steps []int
	for i, m := range stream {
		if m.Seq != i+1 {
			t.Fatalf("metric %d has seq %d", i, m.Seq)
		}
		if m.Kind == shared.MetricStep {
			steps = append(steps, m.Step)
		}
	}
	for i, s := range steps {
		if s != i+1 {
			t.Fatalf("steps after resume: position %d holds step %d (%d steps in all)", i, s, len(steps))
		}
	}
	if len(steps) != 400 {
		t.Errorf("%d steps, want 400", len(steps))
	}
	cs, _ := f.st.Checkpoints(ctx, store.CheckpointFilter{Run: j.ID, Classifier: true})
	if len(cs) != 2 || cs[0].Name != "best" || cs[0].Step != 400 {
		t.Errorf("checkpoints %+v", cs)
	}
}

func lastStep(t *testing.T, f *fixture, run int64) int {
	t.Helper()
	evs, err := f.st.Events(context.Background(), run, 0, 100000, shared.EventMetric)
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	for _, ev := range evs {
		if ev.Metric.Kind == shared.MetricStep {
			last = ev.Metric.Step
		}
	}
	return last
}

func TestFailures(t *testing.T) {
	f := newFixture(t, Options{Slots: 2, Available: func(sub string) bool { return sub != "pretrain" && sub != "reproduce" }})
	ctx := context.Background()
	ds := f.dataset(t)
	tests := []struct {
		name    string
		sub     Submission
		wantErr string
	}{
		{"config error from the command", Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: "fail: optimizer.init_lr: -1 is not positive"}},
			"optimizer.init_lr: -1 is not positive"},
		{"subcommand missing", Submission{NewRun: store.NewRun{Kind: shared.KindPretrain, Dataset: ds, Config: "steps: 1"}},
			"sslens pretrain is not available in this build"},
		{"reproduce missing", Submission{NewRun: store.NewRun{Kind: shared.KindReproduce, Dataset: ds}},
			"sslens reproduce is not available in this build"},
	}
	for _, tt := range tests {
		j, err := f.m.Submit(ctx, tt.sub)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		j = f.wait(t, j.ID, shared.StateFailed)
		if !strings.Contains(j.Error, tt.wantErr) {
			t.Errorf("%s: error %q, want it to contain %q", tt.name, j.Error, tt.wantErr)
		}
		if j.Resumable {
			t.Errorf("%s: a failed run is resumable", tt.name)
		}
	}
	bad := []Submission{
		{NewRun: store.NewRun{Kind: shared.KindSimulate}, Params: Params{Out: "x", Survey: "hsc", Counts: "huge"}},
		{NewRun: store.NewRun{Kind: shared.KindSimulate}, Params: Params{Survey: "hsc", Counts: "small"}},
		{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds}},
		{NewRun: store.NewRun{Kind: shared.KindScore}},
		{NewRun: store.NewRun{Kind: "bake"}},
		{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: 99, Config: "steps: 1"}},
	}
	for i, sub := range bad {
		want := store.ErrInvalid
		if sub.Dataset == 99 {
			want = store.ErrNotFound
		}
		if _, err := f.m.Submit(ctx, sub); !errors.Is(err, want) {
			t.Errorf("bad submission %d: error %v, want %v", i, err, want)
		}
	}
}

func TestAfter(t *testing.T) {
	f := newFixture(t, Options{Slots: 2})
	ctx := context.Background()
	ds := f.dataset(t)
	first, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: "steps: 30\nstep_ms: 10"}})
	second, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, After: first.ID, Config: "steps: 2"}})
	broken, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: "fail: no"}})
	orphan, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, After: broken.ID, Config: "steps: 2"}})
	a := f.wait(t, first.ID, shared.StateSucceeded)
	b := f.wait(t, second.ID, shared.StateSucceeded)
	if b.Started.Before(*a.Finished) {
		t.Errorf("run %d started at %v, before run %d finished at %v", b.ID, b.Started, a.ID, a.Finished)
	}
	o := f.wait(t, orphan.ID, shared.StateFailed)
	if !strings.Contains(o.Error, "failed") {
		t.Errorf("orphan error %q", o.Error)
	}
	// A run waiting for a cancelled one keeps waiting: that one may be resumed.
	slow, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: "steps: 1000\nstep_ms: 10"}})
	waiter, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, After: slow.ID, Config: "steps: 2"}})
	f.wait(t, slow.ID, shared.StateRunning)
	if _, err := f.m.Cancel(ctx, slow.ID); err != nil {
		t.Fatal(err)
	}
	f.wait(t, slow.ID, shared.StateCancelled)
	f.waitDecision(t, "to keep the waiter queued behind the cancelled run", func(d Decision) bool {
		return d.Run == waiter.ID && d.Action == ActionWait && d.After == shared.StateCancelled
	})
	if w, _ := f.st.Run(ctx, waiter.ID); w.State != shared.StateQueued {
		t.Errorf("the run waiting for a cancelled one is %s, want queued", w.State)
	}
}

func TestShutdownAndRecover(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	ds := f.dataset(t)
	j, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: "steps: 100000\nstep_ms: 10"}})
	f.wait(t, j.ID, shared.StateRunning)
	// A run left running by a server that died (no process here).
	ghost, _, err := f.st.CreateRun(ctx, store.NewRun{Kind: shared.KindFinetune})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.SetState(ctx, ghost.ID, store.Transition{To: shared.StateRunning, Handle: "pid 1"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	f.stopManager()
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	st, err := store.Open(filepath.Join(f.dir, "sslens.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, _ := st.Run(ctx, j.ID)
	if got.State != shared.StateInterrupted || !got.Resumable || !strings.Contains(got.Error, "shut down") {
		t.Errorf("after shutdown: %s resumable %v error %q", got.State, got.Resumable, got.Error)
	}
	m := New(st, &Local{}, nil, Options{DataDir: f.dir})
	if err := m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = st.Run(ctx, ghost.ID)
	if got.State != shared.StateInterrupted || !got.Resumable || !strings.Contains(got.Error, "pid 1") {
		t.Errorf("after recover: %s resumable %v error %q", got.State, got.Resumable, got.Error)
	}
}

// scoreable trains a classifier in f and stores three uploads; it returns
// the classifier's checkpoint, the uploads and the probabilities the
// stand-in scorer gives them.
func scoreable(t *testing.T, f *fixture) (ckpt int64, ids []int64, want []float64) {
	t.Helper()
	ctx := context.Background()
	run, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: f.dataset(t), Config: "steps: 2"}})
	if err != nil {
		t.Fatal(err)
	}
	f.wait(t, run.ID, shared.StateSucceeded)
	cs, err := f.st.Checkpoints(ctx, store.CheckpointFilter{Run: run.ID, Classifier: true})
	if err != nil || len(cs) == 0 || cs[0].Name != "best" {
		t.Fatalf("checkpoints %+v, %v", cs, err)
	}
	for _, name := range []string{"a", "b", "c"} {
		path := "uploads/" + name + ".npy"
		content := []byte("cutout " + name)
		if err := os.MkdirAll(filepath.Join(f.dir, "uploads"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.dir, path), content, 0o644); err != nil {
			t.Fatal(err)
		}
		u, _, err := f.st.AddUpload(ctx, store.Upload{Upload: shared.Upload{SHA256: name, Name: name + ".npy"}, Path: path, Valid: true})
		if err != nil {
			t.Fatal(err)
		}
		ids, want = append(ids, u.ID), append(want, jobstest.Prob(content))
	}
	return cs[0].ID, ids, want
}

func TestScoreBatch(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	c, ids, want := scoreable(t, f)
	j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindScore}, Params: Params{Checkpoint: c, Uploads: ids[:2]}})
	if err != nil {
		t.Fatal(err)
	}
	f.wait(t, j.ID, shared.StateSucceeded)
	sc, err := f.st.Scores(ctx, c)
	if err != nil || len(sc) != 2 || sc[ids[0]].LensProb != want[0] || sc[ids[1]].LensProb != want[1] {
		t.Errorf("scores %+v (%v), want %v for uploads %v", sc, err, want[:2], ids[:2])
	}
	for _, ev := range f.rec.of(j.ID) {
		if ev.Type == shared.EventLog && ev.Log.Stream == "stdout" {
			t.Errorf("score-batch streamed its JSON output as log lines: %q", ev.Log.Text)
		}
	}
}

func TestFileTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	ft := &fileTail{path: path}
	steps := []struct {
		do   func()
		want []string
	}{
		{func() {}, nil}, // no file yet
		{func() { os.WriteFile(path, []byte("a\nb"), 0o644) }, []string{"a"}},
		{func() { appendFile(path, "c\n") }, []string{"bc"}},
		{func() {}, nil},
		{func() { os.WriteFile(path+".new", []byte("x\ny\n"), 0o644); os.Rename(path+".new", path) }, []string{"x", "y"}},
		{func() { os.WriteFile(path, []byte("z\n"), 0o644) }, []string{"z"}}, // truncated in place
	}
	for i, s := range steps {
		s.do()
		lines, err := ft.lines()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			got = append(got, string(l))
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d: lines %q, want %q", i, got, s.want)
		}
	}
}

func appendFile(path, s string) {
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(s)
	f.Close()
}

func TestReadEmbeddings(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Embedding
		wantErr  bool
	}{
		{"two rows", "name,label,f0,f1\nlenses/1.npy,1,0.5,-1\nnonlenses/2.npy,0,2,3e-2\n",
			[]Embedding{{"lenses/1.npy", 1, []float32{0.5, -1}}, {"nonlenses/2.npy", 0, []float32{2, 0.03}}}, false},
		{"bad header", "file,label,f0\n", nil, true},
		{"bad label", "name,label,f0\nx,lens,1\n", nil, true},
		{"bad feature", "name,label,f0\nx,1,abc\n", nil, true},
		{"ragged", "name,label,f0\nx,1,1,2\n", nil, true},
	}
	for _, tt := range tests {
		got, err := ReadEmbeddings(strings.NewReader(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v", tt.name, got)
		}
	}
}

func TestTool(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tool := Tool{Exe: exe, Env: []string{jobstest.Env + "=1"}}
	ctx := context.Background()
	dir := t.TempDir()
	contents := map[string][]byte{"lenses/1.npy": []byte("one"), "nonlenses/2.npy": []byte("two")}
	var files []string
	for name, b := range contents {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	scores, failed, err := tool.Score(ctx, "ckpt", files)
	if err != nil || len(failed) != 0 || len(scores) != 2 {
		t.Fatalf("Score = %v, %v, %v", scores, failed, err)
	}
	for _, s := range scores {
		rel, _ := filepath.Rel(dir, s.File)
		if s.LensProb != jobstest.Prob(contents[rel]) {
			t.Errorf("%s: P = %v, want %v", rel, s.LensProb, jobstest.Prob(contents[rel]))
		}
	}
	if _, _, err := tool.Score(ctx, "ckpt", []string{filepath.Join(dir, "missing.npy")}); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("scoring a missing file: %v", err)
	}
	embs, err := tool.Embed(ctx, "ckpt", dir, "all")
	if err != nil || len(embs) != 2 {
		t.Fatalf("Embed = %v, %v", embs, err)
	}
	for _, e := range embs {
		if !slices.Equal(e.Vector, jobstest.Vector(contents[e.Name])) || (e.Label == 1) != strings.HasPrefix(e.Name, "lenses/") {
			t.Errorf("embedding %+v", e)
		}
	}
	if _, err := tool.Embed(ctx, "ckpt", filepath.Join(dir, "nope"), "all"); err == nil {
		t.Error("embedding a missing folder succeeded")
	}
	embs, err = tool.EmbedFiles(ctx, "ckpt", files)
	if err != nil || len(embs) != 2 || embs[1].Name != files[1] || embs[1].Label != -1 {
		t.Fatalf("EmbedFiles = %+v, %v", embs, err)
	}
	if _, err := tool.EmbedFiles(ctx, "ckpt", []string{filepath.Join(dir, "missing.npy")}); err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("embedding a missing file: %v", err)
	}
}

// TestJobMemoryFlag: with a per-job budget, a training job runs with
// --max-memory unless its config sets a smaller budget of its own.
func TestJobMemoryFlag(t *testing.T) {
	f := newFixture(t, Options{JobMemory: 6 << 30})
	ctx := context.Background()
	ds := f.dataset(t)
	base, err := fs.ReadFile(configs.FS, "supervised-vit-nano.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"no budget of its own", "", []string{"--max-memory", "6442450944"}},
		{"a larger one", "\n  max_memory: 8GiB", []string{"--max-memory", "6442450944"}},
		{"a smaller one", "\n  max_memory: 2GiB", nil},
	} {
		cfg := strings.Replace(string(base), "batch_size: 64", "batch_size: 64"+tc.extra, 1)
		j := store.Run{Run: shared.Run{ID: 1, Kind: shared.KindFinetune, Dataset: ds, Config: cfg, Dir: "runs/1-mem"}}
		args, err := f.m.prepare(ctx, j, Params{})
		if err != nil {
			t.Fatal(err)
		}
		at := slices.Index(args, "--max-memory")
		switch {
		case tc.want == nil && at >= 0:
			t.Errorf("%s: args %v pass the server's budget", tc.name, args)
		case tc.want != nil && (at < 0 || !slices.Equal(args[at:at+2], tc.want)):
			t.Errorf("%s: args %v, want %v", tc.name, args, tc.want)
		}
	}
}

// TestGPUSlots checks the GPU pool: classifier runs whose config asks for
// cuda take one GPU each (--device cuda:N, the lowest free), wait while
// every GPU is taken, take a freed one, and run beside the CPU training
// slot; a server without GPUs refuses them at submission.
func TestGPUSlots(t *testing.T) {
	f := newFixture(t, Options{Slots: 1, GPUs: 2})
	ctx := context.Background()
	ds := f.dataset(t)
	onGPU := "experiment:\n  ssl_training: supervised\n  device: cuda\nnetwork:\n  backbone: vit_nano\n# steps: 100000\n# step_ms: 10\n"
	var gpuRuns []store.Run
	for range 3 {
		j, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: onGPU}})
		if err != nil {
			t.Fatal(err)
		}
		gpuRuns = append(gpuRuns, j)
	}
	cpu, _ := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds, Config: "steps: 100000\nstep_ms: 10"}})
	device := func(r store.Run) string { return cmp.Or(Device(r.Args), "none") }
	a, b := f.wait(t, gpuRuns[0].ID, shared.StateRunning), f.wait(t, gpuRuns[1].ID, shared.StateRunning)
	c := f.wait(t, cpu.ID, shared.StateRunning)
	if got := []string{device(a), device(b), device(c)}; got[0] != "cuda:0" || got[1] != "cuda:1" || got[2] != "none" {
		t.Errorf("devices %v, want cuda:0, cuda:1 and none for the CPU run", got)
	}
	f.waitDecision(t, "to keep the third GPU run queued while both GPUs are taken", func(d Decision) bool {
		return d.Run == gpuRuns[2].ID && d.Action == ActionBusy
	})
	if _, err := f.m.Cancel(ctx, gpuRuns[0].ID); err != nil {
		t.Fatal(err)
	}
	if third := f.wait(t, gpuRuns[2].ID, shared.StateRunning); device(third) != "cuda:0" {
		t.Errorf("the third GPU run got %s, want the freed cuda:0", device(third))
	}
	for _, id := range []int64{gpuRuns[1].ID, gpuRuns[2].ID, cpu.ID} {
		if _, err := f.m.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	none := newFixture(t, Options{})
	_, err := none.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: none.dataset(t), Config: onGPU}})
	var inv *store.InvalidError
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "no GPUs for jobs (start it with serve --gpus N)") {
		t.Errorf("a GPU run on a server without GPUs: %v", err)
	}
}
