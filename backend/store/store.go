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
