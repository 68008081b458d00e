package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sslens/sslens/shared"
)

// releaseVersion is the schema version of the first release, whose table
// of run events was called metrics.
const releaseVersion = 1

// A database written by the first release opens, migrates and keeps its
// rows: runs, their events (renamed table), checkpoints and users.
func TestOpenMigratesReleaseDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sslens.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(migrations[:releaseVersion:releaseVersion],
		fmt.Sprintf("PRAGMA user_version = %d", releaseVersion),
		`INSERT INTO users (id, name, role, hash, created) VALUES (1, 'ada', 'admin', x'00', 1)`,
		`INSERT INTO runs (id, kind, name, state, created_by, created, last_seq) VALUES (7, 'pretrain', 'dino', 'succeeded', 'ada', 1, 2)`,
		`INSERT INTO metrics (run_id, seq, type, time, body) VALUES
			(7, 1, 'state', 1, '{"run":7,"seq":1,"type":"state","time":"2026-01-02T03:04:05Z","state":{"state":"queued"}}'),
			(7, 2, 'log', 2, '{"run":7,"seq":2,"type":"log","time":"2026-01-02T03:04:06Z","log":{"stream":"stderr","text":"epoch 1"}}')`,
		`INSERT INTO checkpoints (run_id, name, path, preset, classifier, epoch, step, sha256, created)
			VALUES (7, 'last', 'runs/7-dino/checkpoints/last/model.safetensors', 'vit_tiny', 0, 3, 30, 'abc', 1)`,
	) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("building the release database: %v\n%s", err, q)
		}
	}
	db.Close()

	s, err := Open(path, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var version int
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("user_version = %d (%v), want %d", version, err, len(migrations))
	}
	evs, err := s.Events(ctx, 7, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].State == nil || evs[0].State.State != shared.StateQueued || evs[1].Log == nil || evs[1].Log.Text != "epoch 1" {
		t.Fatalf("events after migrating: %+v", evs)
	}
	// New events continue the run's numbering.
	more, err := s.AppendEvents(ctx, 7, []shared.Event{{Type: shared.EventLog, Log: &shared.LogLine{Text: "again"}}}, nil)
	if err != nil || more[0].Seq != 3 {
		t.Fatalf("appending after migrating: %+v, %v", more, err)
	}
	if cs, err := s.Checkpoints(ctx, CheckpointFilter{Run: 7}); err != nil || len(cs) != 1 || cs[0].Step != 30 {
		t.Errorf("checkpoints after migrating: %+v, %v", cs, err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("%d users (%v), want 1", n, err)
	}
	var old int
	if err := s.r.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'metrics'").Scan(&old); err != nil || old != 0 {
		t.Errorf("the metrics table is still there (%d, %v)", old, err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}
