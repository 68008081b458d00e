package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sslens/sslens/shared"
)

// Run is a run as stored: its wire form and what only the job queue needs.
// (A run is the record; a job, in backend/jobs, the work of running it.)
type Run struct {
	shared.Run
	// Params are the kind's own settings as JSON (see backend/jobs).
	Params json.RawMessage
}

// NewRun is what CreateRun needs.
type NewRun struct {
	Kind      shared.RunKind
	Name      string
	Dataset   int64 // 0: none
	CreatedBy string
	After     int64 // 0: none
	Config    string
	Params    json.RawMessage // nil: {}
	// DirOf names the run folder (relative to the data folder) from the
	// new run's ID; nil leaves it empty. It is set in the transaction that
	// creates the run, so no reader ever sees the run without it.
	DirOf func(id int64) string
	// MaxQueued caps, by the role of CreatedBy, how many queued runs that
	// user may have: CreateRun refuses one more with a ConflictError. A
	// role not in it, and a creator who is no user, have no cap.
	MaxQueued map[shared.Role]int
}

// CreateRun queues a run. The queued state is the run's first event,
// returned with it.
func (s *Store) CreateRun(ctx context.Context, nr NewRun) (Run, shared.Event, error) {
	if !slices.Contains(shared.RunKinds, nr.Kind) {
		return Run{}, shared.Event{}, Invalid("unknown run kind", "kind", "%q: want one of %v", nr.Kind, shared.RunKinds)
	}
	params := string(nr.Params)
	if params == "" {
		params = "{}"
	}
	now := s.now()
	var id int64
	var ev shared.Event
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, ref := range []struct {
			table string
			id    int64
		}{{"datasets", nr.Dataset}, {"runs", nr.After}} {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+ref.table+" WHERE id = ?", ref.id).Scan(&n); err != nil {
				return err
			}
			if ref.id != 0 && n == 0 {
				return notFound(strings.TrimSuffix(ref.table, "s"), ref.id)
			}
		}
		if err := checkQueueCap(ctx, tx, nr); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO runs (kind, name, state, dataset_id, created_by, after_id, config, params, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			nr.Kind, nr.Name, shared.StateQueued, nullID(nr.Dataset), nr.CreatedBy, nullID(nr.After), nr.Config, params, now)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if nr.DirOf != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE runs SET dir = ? WHERE id = ?", nr.DirOf(id), id); err != nil {
				return err
			}
		}
		evs, err := appendEvents(ctx, tx, id, now, []shared.Event{{Type: shared.EventState, State: &shared.StateChange{State: shared.StateQueued}}})
		if err == nil {
			ev = evs[0]
		}
		return err
	})
	if err != nil {
		return Run{}, shared.Event{}, wrap(err)
	}
	j, err := s.Run(ctx, id)
	return j, ev, err
}

// checkQueueCap refuses a run its creator may not queue (NewRun.MaxQueued).
// It runs in CreateRun's transaction, so concurrent submissions cannot
// both pass it.
func checkQueueCap(ctx context.Context, tx *sql.Tx, nr NewRun) error {
	if len(nr.MaxQueued) == 0 {
		return nil
	}
	var role shared.Role
	err := tx.QueryRowContext(ctx, "SELECT role FROM users WHERE name = ?", nr.CreatedBy).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	limit, ok := nr.MaxQueued[role]
	if !ok {
		return nil
	}
	var n int
	err = tx.QueryRowContext(ctx, "SELECT count(*) FROM runs WHERE created_by = ? AND state = ?", nr.CreatedBy, shared.StateQueued).Scan(&n)
	if err != nil {
		return err
	}
	if n >= limit {
		return Conflict("you have %d queued runs, the most the %s role may have queued; wait for one to start or cancel one", n, role)
	}
	return nil
}

const runColumns = `id, kind, name, state, coalesce(dataset_id, 0), created_by, coalesce(after_id, 0), config, params, args, dir,
	created, started, finished, host, handle, error, progress, last_seq, resumable, cluster`

func scanRun(sc interface{ Scan(...any) error }) (Run, error) {
	var j Run
	var params, args, progress, cluster string
	var created int64
	var started, finished sql.NullInt64
	err := sc.Scan(&j.ID, &j.Kind, &j.Name, &j.State, &j.Dataset, &j.CreatedBy, &j.After, &j.Config, &params, &args, &j.Dir,
		&created, &started, &finished, &j.Host, &j.Handle, &j.Error, &progress, &j.LastSeq, &j.Resumable, &cluster)
	if err != nil {
		return j, err
	}
	j.Params = json.RawMessage(params)
	if err := json.Unmarshal([]byte(args), &j.Args); err != nil {
		return j, fmt.Errorf("run %d: args: %w", j.ID, err)
	}
	if progress != "" {
		j.Progress = new(shared.Progress)
		if err := json.Unmarshal([]byte(progress), j.Progress); err != nil {
			return j, fmt.Errorf("run %d: progress: %w", j.ID, err)
		}
	}
	if cluster != "" {
		j.Cluster = new(shared.ClusterJob)
		if err := json.Unmarshal([]byte(cluster), j.Cluster); err != nil {
			return j, fmt.Errorf("run %d: cluster: %w", j.ID, err)
		}
	}
	j.Created, j.Started, j.Finished = fromNanos(created), optTime(started), optTime(finished)
	return j, nil
}

// Run returns one run.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	j, err := scanRun(s.r.QueryRowContext(ctx, "SELECT "+runColumns+" FROM runs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, notFound("run", id)
	}
	return j, wrap(err)
}

// RunFilter selects runs; zero fields match everything.
type RunFilter struct {
	Kind   shared.RunKind
	States []shared.RunState
	// Oldest lists the oldest first (queue order) instead of newest first.
	Oldest bool
}

// Runs lists the runs matching f.
func (s *Store) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	q := "SELECT " + runColumns + " FROM runs WHERE 1=1"
	var args []any
	if f.Kind != "" {
		q += " AND kind = ?"
		args = append(args, f.Kind)
	}
	if len(f.States) > 0 {
		q += " AND state IN (?" + strings.Repeat(", ?", len(f.States)-1) + ")"
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Oldest {
		q += " ORDER BY id"
	} else {
		q += " ORDER BY id DESC"
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		j, err := scanRun(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, j)
	}
	return out, wrap(rows.Err())
}

// Transition is a state change SetState applies.
type Transition struct {
	To shared.RunState
	// From lists the states the run may be in; any other is ErrConflict.
	From  []shared.RunState
	Error string // recorded with failed and interrupted; cleared otherwise
	// Host and Handle say where the run now runs (with To running).
	Host, Handle string
	Args         []string // the subcommand's arguments (with To running)
	// Resumable, when set, replaces the run's resumable flag.
	Resumable *bool
}

// SetState moves a run to a new state and appends the state event, in
// one transaction. Running sets the start time, final states the finish
// time, and queued clears both.
func (s *Store) SetState(ctx context.Context, id int64, t Transition) (shared.Event, error) {
	now := s.now()
	var ev shared.Event
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur shared.RunState
		err := tx.QueryRowContext(ctx, "SELECT state FROM runs WHERE id = ?", id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("run", id)
		}
		if err != nil {
			return err
		}
		if len(t.From) > 0 && !slices.Contains(t.From, cur) {
			return Conflict("run %d is %s, not %v", id, cur, t.From)
		}
		sets := []string{"state = ?", "error = ?"}
		args := []any{t.To, t.Error}
		switch {
		case t.To == shared.StateRunning:
			args = append(args, now, t.Host, t.Handle)
			sets = append(sets, "started = ?", "finished = NULL", "host = ?", "handle = ?")
			if t.Args != nil {
				b, _ := json.Marshal(t.Args)
				sets, args = append(sets, "args = ?"), append(args, string(b))
			}
		case t.To == shared.StateQueued:
			sets = append(sets, "started = NULL", "finished = NULL", "handle = ''")
		case t.To.Final():
			sets, args = append(sets, "finished = ?", "handle = ''"), append(args, now)
		}
		if t.Resumable != nil {
			sets, args = append(sets, "resumable = ?"), append(args, *t.Resumable)
		}
		args = append(args, id)
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET "+strings.Join(sets, ", ")+" WHERE id = ?", args...); err != nil {
			return err
		}
		evs, err := appendEvents(ctx, tx, id, now, []shared.Event{{Type: shared.EventState, State: &shared.StateChange{State: t.To, Error: t.Error}}})
		if err == nil {
			ev = evs[0]
		}
		return err
	})
	return ev, wrap(err)
}

// SetCluster records a cluster job's latest state on its run and stores
// the event that announces it.
func (s *Store) SetCluster(ctx context.Context, run int64, c shared.ClusterJob) (shared.Event, error) {
	var ev shared.Event
	err := s.tx(ctx, func(tx *sql.Tx) error {
		evs, err := appendEvents(ctx, tx, run, s.now(), []shared.Event{{Type: shared.EventCluster, Cluster: &c}})
		if err != nil {
			return err
		}
		ev = evs[0]
		b, _ := json.Marshal(c)
		_, err = tx.ExecContext(ctx, "UPDATE runs SET cluster = ? WHERE id = ?", string(b), run)
		return err
	})
	return ev, wrap(err)
}

// AppendEvents numbers evs after the run's last event, stamps those
// without a time, stores them and, when progress is not nil, records it as
// the run's progress, in one transaction. It returns the stored events.
func (s *Store) AppendEvents(ctx context.Context, run int64, evs []shared.Event, progress *shared.Progress) ([]shared.Event, error) {
	var out []shared.Event
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = appendEvents(ctx, tx, run, s.now(), evs); err != nil {
			return err
		}
		if progress != nil {
			b, _ := json.Marshal(progress)
			_, err = tx.ExecContext(ctx, "UPDATE runs SET progress = ? WHERE id = ?", string(b), run)
		}
		return err
	})
	return out, wrap(err)
}

func appendEvents(ctx context.Context, tx *sql.Tx, run, now int64, evs []shared.Event) ([]shared.Event, error) {
	var last int64
	err := tx.QueryRowContext(ctx, "SELECT last_seq FROM runs WHERE id = ?", run).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("run", run)
	}
	if err != nil {
		return nil, err
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO events (run_id, seq, type, time, body) VALUES (?, ?, ?, ?, ?)")
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	out := make([]shared.Event, len(evs))
	for i, ev := range evs {
		last++
		ev.Run, ev.Seq = run, last
		if ev.Time.IsZero() {
			ev.Time = fromNanos(now)
		}
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, fmt.Errorf("run %d event %d: %w", run, ev.Seq, err)
		}
		if _, err := stmt.ExecContext(ctx, run, ev.Seq, ev.Type, ev.Time.UnixNano(), string(body)); err != nil {
			return nil, err
		}
		out[i] = ev
	}
	_, err = tx.ExecContext(ctx, "UPDATE runs SET last_seq = ? WHERE id = ?", last, run)
	return out, err
}

// Events returns up to limit events of a run with seq > after, in order.
// Types, when given, restricts them to those types.
func (s *Store) Events(ctx context.Context, run, after int64, limit int, types ...shared.EventType) ([]shared.Event, error) {
	q := "SELECT body FROM events WHERE run_id = ? AND seq > ?"
	args := []any{run, after}
	if len(types) > 0 {
		q += " AND type IN (?" + strings.Repeat(", ?", len(types)-1) + ")"
		for _, t := range types {
			args = append(args, t)
		}
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err)
	}
	return scanEvents(rows, run)
}

// LastEvents returns the newest n events of the given type of a run,
// oldest first.
func (s *Store) LastEvents(ctx context.Context, run int64, typ shared.EventType, n int) ([]shared.Event, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT body FROM events WHERE run_id = ? AND type = ? ORDER BY seq DESC LIMIT ?", run, typ, n)
	if err != nil {
		return nil, wrap(err)
	}
	out, err := scanEvents(rows, run)
	slices.Reverse(out)
	return out, err
}

// scanEvents decodes the stored bodies of run's events that rows selects
// (one column, body) and closes rows. It returns an empty slice, not nil,
// when there are none, so that the portal receives [].
func scanEvents(rows *sql.Rows, run int64) ([]shared.Event, error) {
	defer rows.Close()
	out := []shared.Event{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, wrap(err)
		}
		var ev shared.Event
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			return nil, fmt.Errorf("store: run %d: stored event: %w", run, err)
		}
		out = append(out, ev)
	}
	return out, wrap(rows.Err())
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
