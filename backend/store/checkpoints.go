package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sslens/sslens/shared"
)

// Checkpoint is a stored checkpoint with the path of its weights.
type Checkpoint struct {
	shared.Checkpoint
	Path string // model.safetensors, relative to the data folder
}

// PutCheckpoint records a run's checkpoint, replacing the run's earlier one
// of the same name (last and best are overwritten as training goes on);
// the ID stays the same, so scores made with it remain attached.
func (s *Store) PutCheckpoint(ctx context.Context, c Checkpoint) (Checkpoint, error) {
	metrics, err := json.Marshal(c.Metrics)
	if err != nil {
		return Checkpoint{}, wrap(err)
	}
	if c.Created.IsZero() {
		c.Created = fromNanos(s.now())
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// Scores made with other weights under the same name are stale.
		var old string
		err := tx.QueryRowContext(ctx, "SELECT id, sha256 FROM checkpoints WHERE run_id = ? AND name = ?", c.Run, c.Name).Scan(&c.ID, &old)
		switch {
		case err == nil && old != c.SHA256:
			if _, err := tx.ExecContext(ctx, "DELETE FROM scores WHERE checkpoint_id = ?", c.ID); err != nil {
				return err
			}
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (run_id, name, path, preset, classifier, epoch, step, metrics, sha256, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, name) DO UPDATE SET path = excluded.path, preset = excluded.preset,
				classifier = excluded.classifier, epoch = excluded.epoch, step = excluded.step,
				metrics = excluded.metrics, sha256 = excluded.sha256, created = excluded.created`,
			c.Run, c.Name, c.Path, c.Preset, c.Classifier, c.Epoch, c.Step, string(metrics), c.SHA256, c.Created.UnixNano())
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT id FROM checkpoints WHERE run_id = ? AND name = ?", c.Run, c.Name).Scan(&c.ID)
	})
	if err != nil {
		return Checkpoint{}, wrap(err)
	}
	return s.Checkpoint(ctx, c.ID)
}

const checkpointColumns = `c.id, c.run_id, r.name, c.name, c.preset, c.classifier, c.epoch, c.step, c.metrics, c.sha256, c.created, c.path`

func scanCheckpoint(sc interface{ Scan(...any) error }) (Checkpoint, error) {
	var c Checkpoint
	var metrics string
	var created int64
	if err := sc.Scan(&c.ID, &c.Run, &c.RunName, &c.Name, &c.Preset, &c.Classifier, &c.Epoch, &c.Step, &metrics, &c.SHA256, &created, &c.Path); err != nil {
		return c, err
	}
	c.Created = fromNanos(created)
	if err := json.Unmarshal([]byte(metrics), &c.Metrics); err != nil {
		return c, err
	}
	return c, nil
}

// Checkpoint returns one checkpoint.
func (s *Store) Checkpoint(ctx context.Context, id int64) (Checkpoint, error) {
	c, err := scanCheckpoint(s.r.QueryRowContext(ctx, "SELECT "+checkpointColumns+" FROM checkpoints c JOIN runs r ON r.id = c.run_id WHERE c.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, notFound("checkpoint", id)
	}
	return c, wrap(err)
}

// CheckpointFilter selects checkpoints; zero fields match everything.
type CheckpointFilter struct {
	Run        int64
	Classifier bool // only those with a classifier head
	// Succeeded keeps only checkpoints of runs that succeeded.
	Succeeded bool
}

// Checkpoints lists checkpoints, newest run first, best before last.
func (s *Store) Checkpoints(ctx context.Context, f CheckpointFilter) ([]Checkpoint, error) {
	q := "SELECT " + checkpointColumns + " FROM checkpoints c JOIN runs r ON r.id = c.run_id"
	var where []string
	var args []any
	if f.Run != 0 {
		where, args = append(where, "c.run_id = ?"), append(args, f.Run)
	}
	if f.Classifier {
		where = append(where, "c.classifier = 1")
	}
	if f.Succeeded {
		where, args = append(where, "r.state = ?"), append(args, shared.StateSucceeded)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.run_id DESC, c.name = 'best' DESC, c.name"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []Checkpoint{}
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, c)
	}
	return out, wrap(rows.Err())
}

// Dataset is a stored dataset.
type Dataset struct {
	ID      int64
	Name    string
	Dir     string // relative to the data folder, or absolute
	Kind    string // simulated, imported or files
	Survey  string
	Source  string // imported: the folder or archive it came from
	Counts  string
	Job     int64 // the simulate run that builds it; 0: none
	Created time.Time
}

// CreateDataset records a dataset.
func (s *Store) CreateDataset(ctx context.Context, d Dataset) (Dataset, error) {
	d.Created = fromNanos(s.now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM datasets WHERE name = ?", d.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return Conflict("dataset %q exists", d.Name)
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO datasets (name, dir, kind, survey, counts, job_id, created, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			d.Name, d.Dir, d.Kind, d.Survey, d.Counts, nullID(d.Job), d.Created.UnixNano(), d.Source)
		if err != nil {
			return err
		}
		d.ID, err = res.LastInsertId()
		return err
	})
	return d, wrap(err)
}

// SetDatasetJob records the run that builds a dataset.
func (s *Store) SetDatasetJob(ctx context.Context, id, job int64) error {
	_, err := s.w.ExecContext(ctx, "UPDATE datasets SET job_id = ? WHERE id = ?", nullID(job), id)
	return wrap(err)
}

const datasetColumns = "id, name, dir, kind, survey, counts, coalesce(job_id, 0), created, source"

func scanDataset(sc interface{ Scan(...any) error }) (Dataset, error) {
	var d Dataset
	var created int64
	err := sc.Scan(&d.ID, &d.Name, &d.Dir, &d.Kind, &d.Survey, &d.Counts, &d.Job, &created, &d.Source)
	d.Created = fromNanos(created)
	return d, err
}

// Dataset returns one dataset.
func (s *Store) Dataset(ctx context.Context, id int64) (Dataset, error) {
	d, err := scanDataset(s.r.QueryRowContext(ctx, "SELECT "+datasetColumns+" FROM datasets WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Dataset{}, notFound("dataset", id)
	}
	return d, wrap(err)
}

// Datasets lists the datasets, oldest first (the first is the default).
func (s *Store) Datasets(ctx context.Context) ([]Dataset, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+datasetColumns+" FROM datasets ORDER BY id")
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Dataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, d)
	}
	return out, wrap(rows.Err())
}

// DefaultModel is the promoted checkpoint that scores uploads by default.
type DefaultModel struct {
	Checkpoint int64
	User       string // who promoted it
	Time       time.Time
}

// DefaultModel returns the promoted checkpoint; ok is false when none is
// (never promoted, or its checkpoint was deleted).
func (s *Store) DefaultModel(ctx context.Context) (d DefaultModel, ok bool, err error) {
	var ns int64
	err = s.r.QueryRowContext(ctx, "SELECT checkpoint_id, user, time FROM default_model WHERE id = 1").Scan(&d.Checkpoint, &d.User, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultModel{}, false, nil
	}
	if err != nil {
		return DefaultModel{}, false, wrap(err)
	}
	d.Time = fromNanos(ns)
	return d, true, nil
}

// PromoteModel makes checkpoint id the default model, recording who did it
// in the audit log; the checkpoint must exist and have a classifier head.
func (s *Store) PromoteModel(ctx context.Context, id int64, user string) error {
	return wrap(s.tx(ctx, func(tx *sql.Tx) error {
		var classifier bool
		err := tx.QueryRowContext(ctx, "SELECT classifier FROM checkpoints WHERE id = ?", id).Scan(&classifier)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("checkpoint", id)
		}
		if err != nil {
			return err
		}
		if !classifier {
			return Invalid("not a classifier", "checkpoint", "checkpoint %d has no classifier head", id)
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO default_model (id, checkpoint_id, user, time) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET checkpoint_id = excluded.checkpoint_id, user = excluded.user, time = excluded.time`, id, user, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, user, "promote model", fmt.Sprintf("checkpoint %d", id), "")
	}))
}
