package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order; migration i brings user_version to i+1.
// Never edit one that has shipped: append a new one.
var migrations = []string{
	`CREATE TABLE users (
		id         INTEGER PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		role       TEXT NOT NULL CHECK (role IN ('admin', 'astronomer')),
		hash       BLOB NOT NULL,
		created    INTEGER NOT NULL,
		last_login INTEGER
	);
	CREATE TABLE sessions (
		token_hash BLOB PRIMARY KEY,
		user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		csrf       TEXT NOT NULL,
		created    INTEGER NOT NULL,
		expires    INTEGER NOT NULL
	);
	CREATE INDEX sessions_user ON sessions(user_id);
	CREATE TABLE datasets (
		id      INTEGER PRIMARY KEY,
		name    TEXT NOT NULL UNIQUE,
		dir     TEXT NOT NULL,
		kind    TEXT NOT NULL,
		survey  TEXT NOT NULL DEFAULT '',
		counts  TEXT NOT NULL DEFAULT '',
		job_id  INTEGER,
		created INTEGER NOT NULL
	);
	CREATE TABLE runs (
		id         INTEGER PRIMARY KEY,
		kind       TEXT NOT NULL,
		name       TEXT NOT NULL,
		state      TEXT NOT NULL,
		dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
		created_by TEXT NOT NULL,
		after_id   INTEGER REFERENCES runs(id) ON DELETE SET NULL,
		config     TEXT NOT NULL DEFAULT '',
		params     TEXT NOT NULL DEFAULT '{}',
		args       TEXT NOT NULL DEFAULT '[]',
		dir        TEXT NOT NULL DEFAULT '',
		created    INTEGER NOT NULL,
		started    INTEGER,
		finished   INTEGER,
		host       TEXT NOT NULL DEFAULT '',
		handle     TEXT NOT NULL DEFAULT '',
		error      TEXT NOT NULL DEFAULT '',
		progress   TEXT NOT NULL DEFAULT '',
		last_seq   INTEGER NOT NULL DEFAULT 0,
		resumable  INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX runs_state ON runs(state);
	CREATE TABLE metrics (
		run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		seq    INTEGER NOT NULL,
		type   TEXT NOT NULL,
		time   INTEGER NOT NULL,
		body   TEXT NOT NULL,
		PRIMARY KEY (run_id, seq)
	) WITHOUT ROWID;
	CREATE TABLE checkpoints (
		id         INTEGER PRIMARY KEY,
		run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		name       TEXT NOT NULL,
		path       TEXT NOT NULL,
		preset     TEXT NOT NULL,
		classifier INTEGER NOT NULL,
		epoch      INTEGER NOT NULL,
		step       INTEGER NOT NULL,
		metrics    TEXT NOT NULL DEFAULT '{}',
		sha256     TEXT NOT NULL,
		created    INTEGER NOT NULL,
		UNIQUE (run_id, name)
	);
	CREATE TABLE uploads (
		id      INTEGER PRIMARY KEY,
		sha256  TEXT NOT NULL UNIQUE,
		name    TEXT NOT NULL,
		format  TEXT NOT NULL,
		size    INTEGER NOT NULL,
		path    TEXT NOT NULL DEFAULT '',
		user    TEXT NOT NULL,
		created INTEGER NOT NULL,
		width   INTEGER NOT NULL DEFAULT 0,
		height  INTEGER NOT NULL DEFAULT 0,
		valid   INTEGER NOT NULL,
		error   TEXT NOT NULL DEFAULT ''
	);
	CREATE TABLE scores (
		upload_id     INTEGER NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
		checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,
		prob          REAL NOT NULL,
		embedding     BLOB,
		created       INTEGER NOT NULL,
		PRIMARY KEY (upload_id, checkpoint_id)
	) WITHOUT ROWID;
	CREATE TABLE audit (
		id     INTEGER PRIMARY KEY,
		time   INTEGER NOT NULL,
		user   TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		detail TEXT NOT NULL DEFAULT ''
	);`,
	// The table of a run's events held more than metrics (states, logs,
	// progress); its name now says so.
	`ALTER TABLE metrics RENAME TO events;`,
	// Uploads were deduplicated by SHA-256, verdict and name included, so
	// bytes refused under one name could never be accepted under another,
	// nor by another user. Now the bytes (contents) are shared and each
	// upload keeps its own user, name, format and verdict; a score depends
	// on the bytes and the checkpoint only, so it belongs to the content.
	// Existing uploads keep their ids, each over a content of the same id.
	`CREATE TABLE contents (
		id      INTEGER PRIMARY KEY,
		sha256  TEXT NOT NULL UNIQUE,
		size    INTEGER NOT NULL,
		path    TEXT NOT NULL DEFAULT '',
		created INTEGER NOT NULL
	);
	INSERT INTO contents (id, sha256, size, path, created) SELECT id, sha256, size, path, created FROM uploads;
	CREATE TABLE uploads_by_content (
		id         INTEGER PRIMARY KEY,
		content_id INTEGER NOT NULL REFERENCES contents(id),
		user       TEXT NOT NULL,
		name       TEXT NOT NULL,
		format     TEXT NOT NULL,
		created    INTEGER NOT NULL,
		width      INTEGER NOT NULL DEFAULT 0,
		height     INTEGER NOT NULL DEFAULT 0,
		valid      INTEGER NOT NULL,
		error      TEXT NOT NULL DEFAULT '',
		UNIQUE (user, content_id, name)
	);
	INSERT INTO uploads_by_content (id, content_id, user, name, format, created, width, height, valid, error)
		SELECT id, id, user, name, format, created, width, height, valid, error FROM uploads;
	CREATE TABLE content_scores (
		content_id    INTEGER NOT NULL REFERENCES contents(id) ON DELETE CASCADE,
		checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,
		prob          REAL NOT NULL,
		embedding     BLOB,
		created       INTEGER NOT NULL,
		PRIMARY KEY (content_id, checkpoint_id)
	) WITHOUT ROWID;
	INSERT INTO content_scores SELECT upload_id, checkpoint_id, prob, embedding, created FROM scores;
	DROP TABLE scores;
	DROP TABLE uploads;
	ALTER TABLE uploads_by_content RENAME TO uploads;
	ALTER TABLE content_scores RENAME TO scores;
	CREATE INDEX uploads_content ON uploads(content_id);`,
	// The model that scores uploads by default was the newest classifier,
	// so any test run replaced a good baseline silently; now an admin
	// promotes one (the first classifier is promoted once, automatically).
	`CREATE TABLE default_model (
		id            INTEGER PRIMARY KEY CHECK (id = 1),
		checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,
		user          TEXT NOT NULL,
		time          INTEGER NOT NULL
	);`,
	// What a file says about its object: the OBJECT keyword and its centre
	// on the sky (NULL when it gives none). The bytes decide it, so it
	// belongs to the content.
	`ALTER TABLE contents ADD COLUMN object TEXT NOT NULL DEFAULT '';
	ALTER TABLE contents ADD COLUMN ra REAL;
	ALTER TABLE contents ADD COLUMN dec REAL;
	ALTER TABLE contents ADD COLUMN position_from TEXT NOT NULL DEFAULT '';`,
	// Candidates' grades, one per user and content (the bytes: every upload
	// of the same file shares them), with the default model's score when
	// given. No cascade: grades outlive their uploads, as the audit does.
	`CREATE TABLE grades (
		content_id    INTEGER NOT NULL,
		user          TEXT NOT NULL,
		grade         TEXT NOT NULL CHECK (grade IN ('A', 'B', 'C', '0')),
		note          TEXT NOT NULL DEFAULT '',
		flags         TEXT NOT NULL DEFAULT '',
		prob          REAL,
		checkpoint_id INTEGER,
		time          INTEGER NOT NULL,
		PRIMARY KEY (content_id, user)
	) WITHOUT ROWID;`,
	// How the sky lies on a cutout with a WCS: shared.Orientation as JSON
	// ('' without one), for the scale bar and compass.
	`ALTER TABLE contents ADD COLUMN orientation TEXT NOT NULL DEFAULT '';`,
	// A band read in place of another at the uploader's request ("z as i"),
	// which every score of the upload must show. The choice is the
	// uploader's, so it belongs to the upload, not the content.
	`ALTER TABLE uploads ADD COLUMN band_warning TEXT NOT NULL DEFAULT '';`,
	// A cluster job's latest state (shared.ClusterJob as JSON, '' for local
	// jobs): Slurm's state, reason, partition and node.
	`ALTER TABLE runs ADD COLUMN cluster TEXT NOT NULL DEFAULT '';`,
	// An imported dataset's folder or archive, relative to the data folder
	// ('' for simulated ones).
	`ALTER TABLE datasets ADD COLUMN source TEXT NOT NULL DEFAULT '';`,
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: %s: %w", s.path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("store: %s: schema version %d is newer than this build knows (%d); use a newer sslens", s.path, version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: %s: migration %d: %w", s.path, v+1, err)
		}
	}
	return nil
}
