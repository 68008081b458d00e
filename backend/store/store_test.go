package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sslens/sslens/shared"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "sslens.db"), Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenMigratesOnceAndChecks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "sslens.db")
	s, err := Open(path, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "ada", shared.RoleAdmin, "0123456789"); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
	var fk int
	if err := s.r.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d (%v), want 1", fk, err)
	}
	s.Close()

	// Reopening keeps the data and applies nothing twice.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("after reopen: %d users (%v), want 1", n, err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path, Options{}); err == nil {
		t.Error("a database from a newer build opened without error")
	}
}

func TestUsers(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	tests := []struct {
		name, user string
		role       shared.Role
		password   string
		wantErr    error // nil: success
	}{
		{"admin", "ada", shared.RoleAdmin, "correct horse", nil},
		{"astronomer", "vera.rubin", shared.RoleAstronomer, "battery staple", nil},
		{"duplicate", "ada", shared.RoleAstronomer, "another one!", ErrConflict},
		{"bad name", "../etc", shared.RoleAdmin, "0123456789", ErrInvalid},
		{"empty name", "", shared.RoleAdmin, "0123456789", ErrInvalid},
		{"bad role", "bob", shared.Role("root"), "0123456789", ErrInvalid},
		{"short password", "bob", shared.RoleAdmin, "short", ErrInvalid},
		{"long password", "bob", shared.RoleAdmin, string(make([]byte, 73)), ErrInvalid},
	}
	for _, tt := range tests {
		_, err := s.CreateUser(ctx, tt.user, tt.role, tt.password)
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "ada" || users[1].Role != shared.RoleAstronomer {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	auth := []struct {
		user, password string
		ok             bool
	}{
		{"ada", "correct horse", true},
		{"ada", "correct horsf", false},
		{"nobody", "correct horse", false},
		{"vera.rubin", "battery staple", true},
	}
	for _, a := range auth {
		u, err := s.Authenticate(ctx, a.user, a.password)
		if a.ok && (err != nil || u.Name != a.user) {
			t.Errorf("Authenticate(%s) = %+v, %v", a.user, u, err)
		}
		if !a.ok && !errors.Is(err, ErrBadPassword) {
			t.Errorf("Authenticate(%s, wrong) = %v, want ErrBadPassword", a.user, err)
		}
	}
	if err := s.SetPassword(ctx, "ada", "new password!"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "ada", "correct horse"); !errors.Is(err, ErrBadPassword) {
		t.Error("old password still works")
	}
	if err := s.DeleteUser(ctx, "vera.rubin"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "vera.rubin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestSessions(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, "ada", shared.RoleAdmin, "0123456789"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s.clock = func() time.Time { return now }
	tok, sess, err := s.CreateSession(ctx, "ada", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" || sess.CSRF == "" || tok == sess.CSRF || sess.User.Role != shared.RoleAdmin {
		t.Fatalf("session %q %+v", tok, sess)
	}
	got, err := s.SessionByToken(ctx, tok)
	if err != nil || got.CSRF != sess.CSRF || got.User.Name != "ada" || got.User.LastLogin == nil {
		t.Fatalf("SessionByToken = %+v, %v", got, err)
	}
	if _, err := s.SessionByToken(ctx, tok+"x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("wrong token: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if _, err := s.SessionByToken(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	tok2, _, err := s.CreateSession(ctx, "ada", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	s.r.QueryRow("SELECT count(*) FROM sessions").Scan(&n)
	if n != 1 {
		t.Errorf("%d sessions stored, want 1 (the expired one swept)", n)
	}
	if err := s.SetPassword(ctx, "ada", "another password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByToken(ctx, tok2); !errors.Is(err, ErrNotFound) {
		t.Errorf("session survived a password change: %v", err)
	}
	if _, _, err := s.CreateSession(ctx, "nobody", time.Hour); !errors.Is(err, ErrNotFound) {
		t.Errorf("session for unknown user: %v", err)
	}
}

func TestRunStates(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	j, ev, err := s.CreateRun(ctx, NewRun{Kind: shared.KindFinetune, Name: "base", CreatedBy: "ada", Config: "x: 1",
		DirOf: func(id int64) string { return fmt.Sprintf("runs/%d-base", id) }})
	if err != nil {
		t.Fatal(err)
	}
	if j.State != shared.StateQueued || ev.Seq != 1 || ev.State.State != shared.StateQueued || j.LastSeq != 1 || j.Dir != fmt.Sprintf("runs/%d-base", j.ID) {
		t.Fatalf("created %+v, event %+v", j, ev)
	}
	bad := []struct {
		nr   NewRun
		want error
	}{{NewRun{Kind: "train"}, ErrInvalid}, {NewRun{Kind: shared.KindFinetune, Dataset: 9}, ErrNotFound}, {NewRun{Kind: shared.KindFinetune, After: 9}, ErrNotFound}}
	for _, b := range bad {
		if _, _, err := s.CreateRun(ctx, b.nr); !errors.Is(err, b.want) {
			t.Errorf("run %+v: error %v, want %v", b.nr, err, b.want)
		}
	}
	yes := true
	steps := []struct {
		tr      Transition
		wantErr bool
	}{
		{Transition{To: shared.StateRunning, From: []shared.RunState{shared.StateQueued}, Host: "h", Handle: "pid 1", Args: []string{"finetune", "c.yaml"}}, false},
		{Transition{To: shared.StateRunning, From: []shared.RunState{shared.StateQueued}}, true},
		{Transition{To: shared.StateInterrupted, From: []shared.RunState{shared.StateRunning}, Error: "server stopped", Resumable: &yes}, false},
		{Transition{To: shared.StateQueued, From: []shared.RunState{shared.StateInterrupted, shared.StateCancelled}}, false},
	}
	for i, st := range steps {
		_, err := s.SetState(ctx, j.ID, st.tr)
		if (err != nil) != st.wantErr {
			t.Fatalf("step %d (%s): error %v, want error %v", i, st.tr.To, err, st.wantErr)
		}
		if st.wantErr && !errors.Is(err, ErrConflict) {
			t.Errorf("step %d: %v, want ErrConflict", i, err)
		}
	}
	j, err = s.Run(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != shared.StateQueued || j.Started != nil || j.Finished != nil || !j.Resumable ||
		!slices.Equal(j.Args, []string{"finetune", "c.yaml"}) || j.Host != "h" || j.Handle != "" {
		t.Errorf("after resume: %+v", j)
	}
	evs, err := s.Events(ctx, j.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var states []shared.RunState
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.Run != j.ID {
			t.Errorf("event %d: seq %d run %d", i, e.Seq, e.Run)
		}
		states = append(states, e.State.State)
	}
	want := []shared.RunState{shared.StateQueued, shared.StateRunning, shared.StateInterrupted, shared.StateQueued}
	if !slices.Equal(states, want) {
		t.Errorf("state events %v, want %v", states, want)
	}
	if _, err := s.SetState(ctx, 999, Transition{To: shared.StateFailed}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	got, err := s.Runs(ctx, RunFilter{States: []shared.RunState{shared.StateQueued}, Kind: shared.KindFinetune})
	if err != nil || len(got) != 1 {
		t.Errorf("Runs(queued finetune) = %d, %v", len(got), err)
	}
	if got, _ := s.Runs(ctx, RunFilter{Kind: shared.KindSimulate}); len(got) != 0 {
		t.Errorf("Runs(simulate) = %d runs", len(got))
	}
}

// Concurrent appenders must produce one gapless sequence per run.
func TestAppendEventsConcurrent(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var runs []int64
	for range 2 {
		j, _, err := s.CreateRun(ctx, NewRun{Kind: shared.KindSimulate})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, j.ID)
	}
	var wg sync.WaitGroup
	const writers, each = 8, 20
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := runs[w%2]
			for i := range each {
				p := &shared.Progress{Done: int64(i), Total: each}
				if _, err := s.AppendEvents(ctx, run, []shared.Event{{Type: shared.EventProgress, Progress: p}}, p); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, run := range runs {
		evs, err := s.Events(ctx, run, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1+writers/2*each {
			t.Errorf("run %d: %d events, want %d", run, len(evs), 1+writers/2*each)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Fatalf("run %d: event %d has seq %d", run, i, e.Seq)
			}
		}
		tail, err := s.Events(ctx, run, int64(len(evs)-3), 1000, shared.EventProgress)
		if err != nil || len(tail) != 3 {
			t.Errorf("Events after: %d, %v", len(tail), err)
		}
		last, err := s.LastEvents(ctx, run, shared.EventProgress, 2)
		if err != nil || len(last) != 2 || last[1].Seq != int64(len(evs)) {
			t.Errorf("LastEvents = %+v, %v", last, err)
		}
		j, _ := s.Run(ctx, run)
		if j.Progress == nil || j.Progress.Total != each || j.LastSeq != int64(len(evs)) {
			t.Errorf("run %d: progress %+v, last seq %d", run, j.Progress, j.LastSeq)
		}
	}
}

func TestCheckpointsAndScores(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	j, _, _ := s.CreateRun(ctx, NewRun{Kind: shared.KindFinetune, Name: "base"})
	u, dup, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "aa", Name: "a.npy", Format: "npy", Size: 10, User: "ada", Width: 64, Height: 64}, Path: "uploads/aa.npy", Valid: true})
	if err != nil || dup {
		t.Fatal(err, dup)
	}
	again, dup, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "aa", Name: "a.npy", Format: "npy", User: "ada"}, Valid: true})
	if err != nil || !dup || again.ID != u.ID || again.Path != u.Path {
		t.Errorf("duplicate upload: %+v dup %v err %v", again, dup, err)
	}
	bad, _, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "bb", Name: "b.fits"}, Error: "corrupt"})
	if err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Uploads(ctx, UploadFilter{}); len(list) != 1 || list[0].ID != u.ID {
		t.Errorf("Uploads lists %+v, want only the valid one", list)
	}
	if got, _ := s.Upload(ctx, bad.ID); got.Valid || got.Error != "corrupt" {
		t.Errorf("invalid upload stored as %+v", got)
	}

	c, err := s.PutCheckpoint(ctx, Checkpoint{Checkpoint: shared.Checkpoint{Run: j.ID, Name: "best", Preset: "vit_nano", Classifier: true, Epoch: 3, SHA256: "s1", Metrics: map[string]float64{"val_auc": 0.9}}, Path: "runs/1/checkpoints/best/model.safetensors"})
	if err != nil {
		t.Fatal(err)
	}
	emb := []float32{1, -2.5, 3}
	if err := s.PutScores(ctx, c.ID, []ScoreRow{{Upload: u.ID, LensProb: 0.75, Embedding: emb}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutScores(ctx, c.ID, []ScoreRow{{Upload: u.ID, LensProb: 1.5}}); err == nil {
		t.Error("probability 1.5 stored")
	}
	sc, err := s.Scores(ctx, c.ID)
	if err != nil || sc[u.ID].LensProb != 0.75 {
		t.Errorf("Scores = %+v, %v", sc, err)
	}
	got, err := s.Embedding(ctx, u.ID, c.ID)
	if err != nil || !slices.Equal(got, emb) {
		t.Errorf("Embedding = %v, %v", got, err)
	}
	// The same weights again keep the ID and the scores; new weights drop them.
	c2, err := s.PutCheckpoint(ctx, Checkpoint{Checkpoint: shared.Checkpoint{Run: j.ID, Name: "best", Preset: "vit_nano", Classifier: true, Epoch: 3, SHA256: "s1"}, Path: c.Path})
	if err != nil || c2.ID != c.ID {
		t.Fatalf("re-put: %+v, %v", c2, err)
	}
	if sc, _ := s.Scores(ctx, c.ID); len(sc) != 1 {
		t.Error("scores dropped though the weights did not change")
	}
	c3, err := s.PutCheckpoint(ctx, Checkpoint{Checkpoint: shared.Checkpoint{Run: j.ID, Name: "best", Preset: "vit_nano", Classifier: true, Epoch: 5, SHA256: "s2"}, Path: c.Path})
	if err != nil || c3.ID != c.ID || c3.Epoch != 5 || c3.RunName != "base" {
		t.Fatalf("new weights: %+v, %v", c3, err)
	}
	if sc, _ := s.Scores(ctx, c.ID); len(sc) != 0 {
		t.Error("stale scores kept after the weights changed")
	}
	if _, err := s.PutCheckpoint(ctx, Checkpoint{Checkpoint: shared.Checkpoint{Run: j.ID, Name: "last", Preset: "vit_nano", SHA256: "s3"}}); err != nil {
		t.Fatal(err)
	}
	all, _ := s.Checkpoints(ctx, CheckpointFilter{Run: j.ID})
	cls, _ := s.Checkpoints(ctx, CheckpointFilter{Classifier: true})
	done, _ := s.Checkpoints(ctx, CheckpointFilter{Succeeded: true})
	if len(all) != 2 || all[0].Name != "best" || len(cls) != 1 || len(done) != 0 {
		t.Errorf("checkpoints: all %d (first %q), classifiers %d, of succeeded runs %d", len(all), all[0].Name, len(cls), len(done))
	}
}

func TestDatasetsAndAudit(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	d, err := s.CreateDataset(ctx, Dataset{Name: "sim-hsc", Dir: "datasets/sim-hsc", Kind: "simulated", Survey: "hsc", Counts: "seed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDataset(ctx, Dataset{Name: "sim-hsc"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate dataset: %v", err)
	}
	j, _, _ := s.CreateRun(ctx, NewRun{Kind: shared.KindSimulate, Dataset: d.ID})
	if err := s.SetDatasetJob(ctx, d.ID, j.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Dataset(ctx, d.ID)
	if err != nil || got.Job != j.ID || got.Survey != "hsc" {
		t.Errorf("Dataset = %+v, %v", got, err)
	}
	if _, err := s.Dataset(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown dataset: %v", err)
	}
	for i, a := range []string{"run.create", "run.cancel"} {
		if err := s.Audit(ctx, "ada", a, fmt.Sprintf("run %d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	log, err := s.AuditLog(ctx, 10)
	if err != nil || len(log) != 2 || log[0].Action != "run.cancel" {
		t.Errorf("AuditLog = %+v, %v", log, err)
	}
}

// The default model is whatever was promoted last, survives newer
// checkpoints, goes with its checkpoint, and every promotion is audited.
func TestDefaultModel(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, ok, err := s.DefaultModel(ctx); ok || err != nil {
		t.Fatalf("a new store has a default model: %v %v", ok, err)
	}
	run, _, err := s.CreateRun(ctx, NewRun{Kind: shared.KindFinetune, Name: "base", CreatedBy: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, classifier bool) Checkpoint {
		c, err := s.PutCheckpoint(ctx, Checkpoint{Checkpoint: shared.Checkpoint{Run: run.ID, Name: name, Preset: "vit_nano", Classifier: classifier, SHA256: name}, Path: name})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	best, last, backbone := put("best", true), put("last", true), put("backbone", false)
	if err := s.PromoteModel(ctx, best.ID, "ann"); err != nil {
		t.Fatal(err)
	}
	if err := s.PromoteModel(ctx, last.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	d, ok, err := s.DefaultModel(ctx)
	if err != nil || !ok || d.Checkpoint != last.ID || d.User != "bob" || d.Time.IsZero() {
		t.Errorf("default %+v %v %v, want checkpoint %d by bob", d, ok, err, last.ID)
	}
	if err := s.PromoteModel(ctx, backbone.ID, "ann"); !errors.Is(err, ErrInvalid) {
		t.Errorf("promoting a backbone: %v", err)
	}
	if err := s.PromoteModel(ctx, 999, "ann"); !errors.Is(err, ErrNotFound) {
		t.Errorf("promoting a missing checkpoint: %v", err)
	}
	if d, _, _ := s.DefaultModel(ctx); d.Checkpoint != last.ID {
		t.Errorf("a refused promotion changed the default to %d", d.Checkpoint)
	}
	log, err := s.AuditLog(ctx, 10)
	if err != nil || len(log) != 2 || log[0].Action != "promote model" || log[0].User != "bob" {
		t.Errorf("audit %+v %v", log, err)
	}
}
