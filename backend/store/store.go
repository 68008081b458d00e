// Package store keeps the portal's state in one SQLite file through
// modernc.org/sqlite (pure Go, no cgo): users and sessions, datasets, runs
// and their event streams, checkpoints, uploads and their scores, and the
// audit log of admin actions.
//
// The database runs in WAL mode with a busy timeout and foreign keys on.
// All writes go through one connection (a pool of size one), so writers
// queue in Go instead of failing with SQLITE_BUSY, while reads use a pool of
// their own and never wait for a writer. Migrations are versioned with
// PRAGMA user_version and applied at Open, each in its own transaction.
//
// Times are stored as Unix nanoseconds (UTC). A run's events are numbered
// per run (seq 1, 2, ...) inside the transaction that appends them, so the
// numbers have no gaps and a websocket client can resume from the last one
// it saw.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned (wrapped) when a row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) when a write would break a uniqueness
// or state rule, such as a second user of the same name.
var ErrConflict = errors.New("conflict")

// Options tune a Store.
type Options struct {
	// BcryptCost is the bcrypt work factor of new password hashes;
	// 0 means bcrypt.DefaultCost. Tests lower it to bcrypt.MinCost.
	BcryptCost int
	// BusyTimeout is how long a connection waits for a lock held by
	// another process (such as `sslens user` beside a running server);
	// 0 means 10 s.
	BusyTimeout time.Duration
}

// Store is an open database. Its methods are safe for concurrent use.
type Store struct {
	path  string
	w, r  *sql.DB // the single writer connection and the reader pool
	cost  int
	clock func() time.Time

	dummyOnce sync.Once
	dummy     []byte
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(path string, opt Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	busy := opt.BusyTimeout
	if busy == 0 {
		busy = 10 * time.Second
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		if txlock != "" {
			q.Set("_txlock", txlock)
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	// Writes take the lock at BEGIN (immediate), so a read-then-write
	// transaction never fails half way on a lock another process took.
	w, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.NumCPU()))
	cost := opt.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	s := &Store{path: path, w: w, r: r, cost: cost, clock: time.Now}
	if err := s.migrate(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error listing
// the problems it found.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	defer rows.Close()
	var problems []error
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			return fmt.Errorf("store: integrity check: %w", err)
		}
		if msg != "ok" {
			problems = append(problems, errors.New(msg))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: %s: integrity check failed: %w", s.path, errors.Join(problems...))
	}
	return nil
}

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

// tx runs fn in a write transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// now is the store's clock in Unix nanoseconds.
func (s *Store) now() int64 { return s.clock().UTC().UnixNano() }

// fromNanos converts a stored time.
func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// optTime converts a nullable stored time.
func optTime(ns sql.NullInt64) *time.Time {
	if !ns.Valid {
		return nil
	}
	t := fromNanos(ns.Int64)
	return &t
}

// notFound wraps ErrNotFound naming the row.
func notFound(what string, key any) error {
	return fmt.Errorf("store: %s %v: %w", what, key, ErrNotFound)
}
