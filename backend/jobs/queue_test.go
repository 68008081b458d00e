package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sslens/sslens/backend/store"
	"github.com/sslens/sslens/shared"
)

// A score batch starts while a long training run holds the one training
// slot, and a second training run waits for that slot, not behind the
// score batch.
func TestScoreSlot(t *testing.T) {
	f := newFixture(t, Options{Slots: 1})
	ctx := context.Background()
	c, ids, _ := scoreable(t, f)
	ds, err := f.st.Datasets(ctx)
	if err != nil || len(ds) != 1 {
		t.Fatalf("datasets %+v, %v", ds, err)
	}
	long, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds[0].ID, Config: "steps: 100000\nstep_ms: 10"}})
	if err != nil {
		t.Fatal(err)
	}
	f.wait(t, long.ID, shared.StateRunning)
	next, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindFinetune, Dataset: ds[0].ID, Config: "steps: 2"}})
	if err != nil {
		t.Fatal(err)
	}
	score, err := f.m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindScore}, Params: Params{Checkpoint: c, Uploads: ids}})
	if err != nil {
		t.Fatal(err)
	}
	f.waitDecision(t, "to start the score batch beside the training run", func(d Decision) bool {
		return d.Run == score.ID && d.Action == ActionStart
	})
	f.waitDecision(t, "to keep the second training run queued for the training slot", func(d Decision) bool {
		return d.Run == next.ID && d.Action == ActionBusy
	})
	f.wait(t, score.ID, shared.StateSucceeded)
	for id, want := range map[int64]shared.RunState{long.ID: shared.StateRunning, next.ID: shared.StateQueued} {
		if j, _ := f.st.Run(ctx, id); j.State != want {
			t.Errorf("run %d is %s once the score batch succeeded, want %s", id, j.State, want)
		}
	}
	if _, err := f.m.Cancel(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
	f.wait(t, next.ID, shared.StateSucceeded)
}

// Submit refuses an astronomer's fifth queued run with a message that
// says why, and leaves admins and other astronomers alone; Options.MaxQueued
// replaces the default caps.
func TestQueueCap(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "sslens.db"), store.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, role := range map[string]shared.Role{"vera": shared.RoleAstronomer, "carl": shared.RoleAstronomer, "ada": shared.RoleAdmin} {
		if _, err := st.CreateUser(ctx, name, role, "0123456789"); err != nil {
			t.Fatal(err)
		}
	}
	// No Run: every submission stays queued.
	queue := func(m *Manager, user string) error {
		_, err := m.Submit(ctx, Submission{NewRun: store.NewRun{Kind: shared.KindScore, CreatedBy: user}, Params: Params{Checkpoint: 1}})
		return err
	}
	m := New(st, &Local{}, nil, Options{DataDir: t.TempDir()})
	for i := range DefaultMaxQueued {
		if err := queue(m, "vera"); err != nil {
			t.Fatalf("queued run %d: %v", i+1, err)
		}
	}
	err = queue(m, "vera")
	if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "4 queued runs") || !strings.Contains(err.Error(), "cancel one") {
		t.Fatalf("fifth queued run: %v, want a conflict that names the cap", err)
	}
	for range DefaultMaxQueued + 2 {
		if err := queue(m, "ada"); err != nil {
			t.Fatalf("admin: %v", err)
		}
	}
	if err := queue(m, "carl"); err != nil {
		t.Errorf("another astronomer: %v", err)
	}
	strict := New(st, &Local{}, nil, Options{DataDir: t.TempDir(), MaxQueued: map[shared.Role]int{shared.RoleAstronomer: 1, shared.RoleAdmin: 6}})
	if err := queue(strict, "carl"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("carl's second queued run under a cap of 1: %v", err)
	}
	if err := queue(strict, "ada"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ada's seventh queued run under an admin cap of 6: %v", err)
	}
	if err := queue(New(st, &Local{}, nil, Options{DataDir: t.TempDir(), MaxQueued: map[shared.Role]int{}}), "vera"); err != nil {
		t.Errorf("with no caps: %v", err)
	}
}
