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
	s := openAt(t, releaseVersion,
		`INSERT INTO users (id, name, role, hash, created) VALUES (1, 'ada', 'admin', x'00', 1)`,
		`INSERT INTO runs (id, kind, name, state, created_by, created, last_seq) VALUES (7, 'pretrain', 'dino', 'succeeded', 'ada', 1, 2)`,
		`INSERT INTO metrics (run_id, seq, type, time, body) VALUES
			(7, 1, 'state', 1, '{"run":7,"seq":1,"type":"state","time":"2026-01-02T03:04:05Z","state":{"state":"queued"}}'),
			(7, 2, 'log', 2, '{"run":7,"seq":2,"type":"log","time":"2026-01-02T03:04:06Z","log":{"stream":"stderr","text":"epoch 1"}}')`,
		`INSERT INTO checkpoints (run_id, name, path, preset, classifier, epoch, step, sha256, created)
			VALUES (7, 'last', 'runs/7-dino/checkpoints/last/model.safetensors', 'vit_tiny', 0, 3, 30, 'abc', 1)`,
	)
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

// sharedContentVersion is the schema version whose uploads hold their own
// content and verdict (one row per SHA-256), before contents were shared.
const sharedContentVersion = 2

// A database whose uploads were deduplicated by content migrates with its
// uploads, their ids, files and scores; then the refused bytes can be
// accepted under another name.
func TestOpenMigratesUploadsToSharedContent(t *testing.T) {
	s := openAt(t, sharedContentVersion,
		`INSERT INTO runs (id, kind, name, state, created_by, created) VALUES (7, 'finetune', 'ft', 'succeeded', 'ada', 1)`,
		`INSERT INTO checkpoints (id, run_id, name, path, preset, classifier, epoch, step, sha256, created)
			VALUES (3, 7, 'best', 'runs/7-ft/checkpoints/best/model.safetensors', 'vit_tiny', 1, 3, 30, 'abc', 1)`,
		`INSERT INTO uploads (id, sha256, name, format, size, path, user, created, width, height, valid, error) VALUES
			(4, 'aa', 'a.npy', 'npy', 10, 'uploads/aa/aa.npy', 'ann', 5, 40, 40, 1, ''),
			(9, 'bb', 'b.txt', '', 2, '', 'ann', 6, 0, 0, 0, 'unsupported file type')`,
		`INSERT INTO scores (upload_id, checkpoint_id, prob, embedding, created) VALUES (4, 3, 0.5, x'0000803f', 7)`,
	)
	ctx := context.Background()
	ups, err := s.Uploads(ctx, UploadFilter{User: "ann"})
	if err != nil || len(ups) != 1 {
		t.Fatalf("uploads after migrating: %+v, %v", ups, err)
	}
	if u := ups[0]; u.ID != 4 || u.SHA256 != "aa" || u.Name != "a.npy" || u.Path != "uploads/aa/aa.npy" || u.Size != 10 || u.Width != 40 || u.Created.UnixNano() != 5 {
		t.Errorf("valid upload after migrating: %+v", u)
	}
	if u, err := s.Upload(ctx, 9); err != nil || u.Valid || u.Error != "unsupported file type" || u.SHA256 != "bb" {
		t.Errorf("refused upload after migrating: %+v, %v", u, err)
	}
	if sc, err := s.Scores(ctx, 3, 4); err != nil || sc[4].LensProb != 0.5 {
		t.Errorf("scores after migrating: %+v, %v", sc, err)
	}
	if v, err := s.Embedding(ctx, 4, 3); err != nil || len(v) != 1 || v[0] != 1 {
		t.Errorf("embedding after migrating: %v, %v", v, err)
	}
	u, dup, err := s.AddUpload(ctx, Upload{Upload: shared.Upload{SHA256: "bb", Name: "b.npy", Format: "npy", Size: 2, User: "bob"}, Path: "uploads/bb/bb.npy", Valid: true})
	if err != nil || dup || !u.Valid || u.Path != "uploads/bb/bb.npy" {
		t.Errorf("refused bytes uploaded again under a good name: %+v dup %v, %v", u, dup, err)
	}
	var broken int
	if err := s.r.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&broken); err != nil || broken != 0 {
		t.Errorf("%d foreign keys broken (%v)", broken, err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}

// openAt builds a database at schema version (its migrations applied by
// hand, then stmts), and opens it, migrating it to the current version.
func openAt(t *testing.T, version int, stmts ...string) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sslens.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(append(migrations[:version:version], fmt.Sprintf("PRAGMA user_version = %d", version)), stmts...) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("building the version %d database: %v\n%s", version, err, q)
		}
	}
	db.Close()
	s, err := Open(path, Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
