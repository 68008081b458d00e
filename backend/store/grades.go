package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sslens/sslens/shared"
)

// Bounds of a grade's free text.
const (
	maxGradeNote = 2000 // bytes
	maxFlags     = 8
	maxFlag      = 40 // bytes each
)

// SetGrade records g.User's grade of upload g.Upload (its content),
// replacing their earlier one, and writes the change to the audit log.
// Grade must be A, B, C or 0; note and flags are bounded, flags hold no
// commas.
func (s *Store) SetGrade(ctx context.Context, g shared.Grade) (shared.Grade, error) {
	if !slices.Contains(shared.Grades, g.Grade) {
		return shared.Grade{}, Invalid("bad grade", "grade", "%q: want A, B, C or 0", g.Grade)
	}
	if len(g.Note) > maxGradeNote || !utf8.ValidString(g.Note) {
		return shared.Grade{}, Invalid("bad note", "note", "at most %d bytes of UTF-8 text", maxGradeNote)
	}
	if len(g.Flags) > maxFlags {
		return shared.Grade{}, Invalid("too many flags", "flags", "%d flags, at most %d", len(g.Flags), maxFlags)
	}
	for _, f := range g.Flags {
		if f == "" || len(f) > maxFlag || strings.ContainsAny(f, ",\n\r") || !utf8.ValidString(f) {
			return shared.Grade{}, Invalid("bad flag", "flags", "%q: want 1 to %d bytes of text without commas", f, maxFlag)
		}
	}
	g.Time = fromNanos(s.now())
	var prob any
	if g.LensProb != nil {
		prob = *g.LensProb
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var content int64
		err := tx.QueryRowContext(ctx, "SELECT content_id FROM uploads WHERE id = ? AND valid = 1", g.Upload).Scan(&content)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("upload", g.Upload)
		}
		if err != nil {
			return err
		}
		var before string
		err = tx.QueryRowContext(ctx, "SELECT grade FROM grades WHERE content_id = ? AND user = ?", content, g.User).Scan(&before)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO grades (content_id, user, grade, note, flags, prob, checkpoint_id, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (content_id, user) DO UPDATE SET grade = excluded.grade, note = excluded.note, flags = excluded.flags,
			prob = excluded.prob, checkpoint_id = excluded.checkpoint_id, time = excluded.time`,
			content, g.User, g.Grade, g.Note, strings.Join(g.Flags, ","), prob, g.Checkpoint, g.Time.UnixNano())
		if err != nil {
			return err
		}
		detail := g.Grade
		if before != "" {
			detail += " (was " + before + ")"
		}
		return audit(ctx, tx, g.Time.UnixNano(), g.User, "grade", fmt.Sprintf("upload %d", g.Upload), detail)
	})
	return g, wrap(err)
}

// Grades returns the grades of each of the uploads (of their contents),
// oldest first, keyed by upload id; an upload without grades is absent.
func (s *Store) Grades(ctx context.Context, uploads []int64) (map[int64][]shared.Grade, error) {
	out := map[int64][]shared.Grade{}
	if len(uploads) == 0 {
		return out, nil
	}
	args := make([]any, len(uploads))
	for i, id := range uploads {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT u.id, g.user, g.grade, g.note, g.flags, g.prob, COALESCE(g.checkpoint_id, 0), g.time
		FROM uploads u JOIN grades g ON g.content_id = u.content_id
		WHERE u.id IN (?`+strings.Repeat(", ?", len(uploads)-1)+`) ORDER BY g.time`, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var g shared.Grade
		var flags string
		var prob sql.NullFloat64
		var ns int64
		if err := rows.Scan(&g.Upload, &g.User, &g.Grade, &g.Note, &flags, &prob, &g.Checkpoint, &ns); err != nil {
			return nil, wrap(err)
		}
		if flags != "" {
			g.Flags = strings.Split(flags, ",")
		}
		if prob.Valid {
			g.LensProb = &prob.Float64
		}
		g.Time = fromNanos(ns)
		out[g.Upload] = append(out[g.Upload], g)
	}
	return out, wrap(rows.Err())
}
