package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sslens/sslens/shared"
)

// Upload is one user's upload of some bytes: its own name, format and
// verdict (Valid, or Error saying why not), over content shared by every
// upload of the same bytes (by SHA-256). A valid upload's bytes are kept
// at Path; a rejected one has no file.
type Upload struct {
	shared.Upload
	Path  string // the content's file, relative to the data folder; "" unless Valid
	Valid bool
	Error string
}

// AddUpload records u (its Created is set here). Its content is the one
// of its SHA-256, recorded on first sight and given u.Path when u is the
// first valid upload of those bytes, and u's object and position when it
// has none yet (a catalogue may give bytes uploaded before a position). An upload of the same bytes under the
// same name by the same user is the same upload: it is returned, with the
// verdict of u, and dup true.
func (s *Store) AddUpload(ctx context.Context, u Upload) (out Upload, dup bool, err error) {
	u.Created = fromNanos(s.now())
	path := ""
	if u.Valid {
		path = u.Path
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var content int64
		var ra, dec, from, orient any // NULL and '' without a position
		from, orient = "", ""
		if p := u.Position; p != nil {
			ra, dec, from = p.RA, p.Dec, p.From
			if o := p.Orientation; o != nil {
				b, err := json.Marshal(o)
				if err != nil {
					return err
				}
				orient = string(b)
			}
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO contents (sha256, size, path, created, object, ra, dec, position_from, orientation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (sha256) DO UPDATE SET path = CASE WHEN contents.path = '' THEN excluded.path ELSE contents.path END,
				object = CASE WHEN contents.object = '' THEN excluded.object ELSE contents.object END,
				ra = COALESCE(contents.ra, excluded.ra), dec = COALESCE(contents.dec, excluded.dec),
				position_from = CASE WHEN contents.ra IS NULL THEN excluded.position_from ELSE contents.position_from END,
				orientation = CASE WHEN contents.ra IS NULL THEN excluded.orientation ELSE contents.orientation END
			RETURNING id`, u.SHA256, u.Size, path, u.Created.UnixNano(), u.Object, ra, dec, from, orient).Scan(&content)
		if err != nil {
			return err
		}
		var id int64
		err = tx.QueryRowContext(ctx, "SELECT id FROM uploads WHERE user = ? AND content_id = ? AND name = ?", u.User, content, u.Name).Scan(&id)
		switch {
		case err == nil:
			dup = true
			_, err = tx.ExecContext(ctx, "UPDATE uploads SET format = ?, width = ?, height = ?, valid = ?, error = ?, band_warning = ? WHERE id = ?",
				u.Format, u.Width, u.Height, u.Valid, u.Error, u.BandWarning, id)
		case errors.Is(err, sql.ErrNoRows):
			err = tx.QueryRowContext(ctx, `INSERT INTO uploads (content_id, user, name, format, created, width, height, valid, error, band_warning)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				content, u.User, u.Name, u.Format, u.Created.UnixNano(), u.Width, u.Height, u.Valid, u.Error, u.BandWarning).Scan(&id)
		}
		if err != nil {
			return err
		}
		out, err = scanUpload(tx.QueryRowContext(ctx, "SELECT "+uploadColumns+" WHERE u.id = ?", id))
		return err
	})
	return out, dup, wrap(err)
}

// uploadColumns selects an upload with its content; a rejected upload
// shows no path even when another upload stored the same bytes.
const uploadColumns = `u.id, c.sha256, u.name, u.format, c.size, CASE WHEN u.valid THEN c.path ELSE '' END,
	u.user, u.created, u.width, u.height, u.valid, u.error, c.object, c.ra, c.dec, c.position_from, c.orientation, u.band_warning
	FROM uploads u JOIN contents c ON c.id = u.content_id`

func scanUpload(sc interface{ Scan(...any) error }) (Upload, error) {
	var u Upload
	var created int64
	var ra, dec sql.NullFloat64
	var from, orient string
	err := sc.Scan(&u.ID, &u.SHA256, &u.Name, &u.Format, &u.Size, &u.Path, &u.User, &created, &u.Width, &u.Height, &u.Valid, &u.Error,
		&u.Object, &ra, &dec, &from, &orient, &u.BandWarning)
	u.Created = fromNanos(created)
	if err == nil && ra.Valid && dec.Valid {
		u.Position = &shared.Position{RA: ra.Float64, Dec: dec.Float64, From: from}
		if orient != "" {
			u.Position.Orientation = new(shared.Orientation)
			if err = json.Unmarshal([]byte(orient), u.Position.Orientation); err != nil {
				err = fmt.Errorf("upload %d: orientation %q: %w", u.ID, orient, err)
			}
		}
	}
	return u, err
}

// Upload returns one upload.
func (s *Store) Upload(ctx context.Context, id int64) (Upload, error) {
	u, err := scanUpload(s.r.QueryRowContext(ctx, "SELECT "+uploadColumns+" WHERE u.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Upload{}, notFound("upload", id)
	}
	return u, wrap(err)
}

// UploadFilter selects valid uploads; zero fields match all.
type UploadFilter struct {
	User string
	IDs  []int64
}

// Uploads lists the valid uploads matching f, newest first.
func (s *Store) Uploads(ctx context.Context, f UploadFilter) ([]Upload, error) {
	q := "SELECT " + uploadColumns + " WHERE u.valid = 1"
	var args []any
	if f.User != "" {
		q, args = q+" AND u.user = ?", append(args, f.User)
	}
	if len(f.IDs) > 0 {
		q += " AND u.id IN (?" + strings.Repeat(", ?", len(f.IDs)-1) + ")"
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY u.id DESC", args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []Upload{}
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, u)
	}
	return out, wrap(rows.Err())
}

// Scores belong to an upload's content: every upload of the same bytes
// shares the score a checkpoint gave them. The functions below take and
// return upload IDs.

// ScoreRow is one upload's score to store.
type ScoreRow struct {
	Upload    int64
	LensProb  float64
	Embedding []float32 // CLS embedding; nil when not computed
}

// PutScores stores the scores a checkpoint gave, replacing earlier ones
// of the same content.
func (s *Store) PutScores(ctx context.Context, checkpoint int64, rows []ScoreRow) error {
	now := s.now()
	return wrap(s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO scores (content_id, checkpoint_id, prob, embedding, created)
			SELECT content_id, ?, ?, ?, ? FROM uploads WHERE id = ?
			ON CONFLICT (content_id, checkpoint_id) DO UPDATE SET prob = excluded.prob,
				embedding = coalesce(excluded.embedding, embedding), created = excluded.created`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if math.IsNaN(r.LensProb) || r.LensProb < 0 || r.LensProb > 1 {
				return fmt.Errorf("store: upload %d: probability %v not in [0, 1]", r.Upload, r.LensProb)
			}
			res, err := stmt.ExecContext(ctx, checkpoint, r.LensProb, encodeFloats(r.Embedding), now, r.Upload)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return cmp.Or(err, fmt.Errorf("store: scoring upload %d: no such upload", r.Upload))
			}
		}
		return nil
	}))
}

// Scores returns the scores a checkpoint gave the listed uploads (all
// when none are listed), by upload ID.
func (s *Store) Scores(ctx context.Context, checkpoint int64, uploads ...int64) (map[int64]shared.Score, error) {
	q := "SELECT u.id, s.prob, s.created FROM scores s JOIN uploads u ON u.content_id = s.content_id WHERE s.checkpoint_id = ?"
	args := []any{checkpoint}
	if len(uploads) > 0 {
		q += " AND u.id IN (?" + strings.Repeat(", ?", len(uploads)-1) + ")"
		for _, id := range uploads {
			args = append(args, id)
		}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := map[int64]shared.Score{}
	for rows.Next() {
		sc := shared.Score{Checkpoint: checkpoint}
		var created int64
		if err := rows.Scan(&sc.Upload, &sc.LensProb, &created); err != nil {
			return nil, wrap(err)
		}
		sc.Created = fromNanos(created)
		out[sc.Upload] = sc
	}
	return out, wrap(rows.Err())
}

// ScoringRound is a checkpoint that scored candidates: how many contents
// and when it first did.
type ScoringRound struct {
	Checkpoint int64
	Scored     int
	First      time.Time
}

// ScoringRounds lists the checkpoints that have scored candidates, in the
// order they first did.
func (s *Store) ScoringRounds(ctx context.Context) ([]ScoringRound, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT checkpoint_id, count(*), min(created) FROM scores
		GROUP BY checkpoint_id ORDER BY min(created), checkpoint_id`)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	var out []ScoringRound
	for rows.Next() {
		var r ScoringRound
		var first int64
		if err := rows.Scan(&r.Checkpoint, &r.Scored, &first); err != nil {
			return nil, wrap(err)
		}
		r.First = fromNanos(first)
		out = append(out, r)
	}
	return out, wrap(rows.Err())
}

// Embedding returns the embedding stored with an upload's score by a
// checkpoint, or nil when there is none.
func (s *Store) Embedding(ctx context.Context, upload, checkpoint int64) ([]float32, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT s.embedding FROM scores s JOIN uploads u ON u.content_id = s.content_id
		WHERE u.id = ? AND s.checkpoint_id = ?`, upload, checkpoint).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err)
	}
	return decodeFloats(b)
}

// encodeFloats stores a vector as little-endian float32s.
func encodeFloats(v []float32) []byte {
	if v == nil {
		return nil
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeFloats(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("store: embedding of %d bytes is not float32s", len(b))
	}
	if len(b) == 0 {
		return nil, nil
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
