package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/sslens/sslens/shared"
)

// Upload is a stored upload: a valid cutout kept at Path, or the record of
// a file that failed validation (Valid false, Error saying why, no file).
type Upload struct {
	shared.Upload
	Path  string // relative to the data folder
	Valid bool
	Error string
}

// AddUpload records u unless an upload with the same SHA-256 exists, in
// which case it returns that one and dup true.
func (s *Store) AddUpload(ctx context.Context, u Upload) (out Upload, dup bool, err error) {
	u.Created = fromNanos(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		old, err := scanUpload(tx.QueryRowContext(ctx, "SELECT "+uploadColumns+" FROM uploads WHERE sha256 = ?", u.SHA256))
		if err == nil {
			out, dup = old, true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO uploads (sha256, name, format, size, path, user, created, width, height, valid, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.SHA256, u.Name, u.Format, u.Size, u.Path, u.User, u.Created.UnixNano(), u.Width, u.Height, u.Valid, u.Error)
		if err != nil {
			return err
		}
		u.ID, err = res.LastInsertId()
		out = u
		return err
	})
	return out, dup, wrap(err)
}

const uploadColumns = "id, sha256, name, format, size, path, user, created, width, height, valid, error"

func scanUpload(sc interface{ Scan(...any) error }) (Upload, error) {
	var u Upload
	var created int64
	err := sc.Scan(&u.ID, &u.SHA256, &u.Name, &u.Format, &u.Size, &u.Path, &u.User, &created, &u.Width, &u.Height, &u.Valid, &u.Error)
	u.Created = fromNanos(created)
	return u, err
}

// Upload returns one upload.
func (s *Store) Upload(ctx context.Context, id int64) (Upload, error) {
	u, err := scanUpload(s.r.QueryRowContext(ctx, "SELECT "+uploadColumns+" FROM uploads WHERE id = ?", id))
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
	q := "SELECT " + uploadColumns + " FROM uploads WHERE valid = 1"
	var args []any
	if f.User != "" {
		q, args = q+" AND user = ?", append(args, f.User)
	}
	if len(f.IDs) > 0 {
		q += " AND id IN (?" + strings.Repeat(", ?", len(f.IDs)-1) + ")"
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY id DESC", args...)
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

// ScoreRow is one upload's score to store.
type ScoreRow struct {
	Upload    int64
	LensProb  float64
	Embedding []float32 // CLS embedding; nil when not computed
}

// PutScores stores the scores a checkpoint gave, replacing earlier ones.
func (s *Store) PutScores(ctx context.Context, checkpoint int64, rows []ScoreRow) error {
	now := s.now()
	return wrap(s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO scores (upload_id, checkpoint_id, prob, embedding, created) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (upload_id, checkpoint_id) DO UPDATE SET prob = excluded.prob,
				embedding = coalesce(excluded.embedding, embedding), created = excluded.created`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range rows {
			if math.IsNaN(r.LensProb) || r.LensProb < 0 || r.LensProb > 1 {
				return fmt.Errorf("store: upload %d: probability %v not in [0, 1]", r.Upload, r.LensProb)
			}
			if _, err := stmt.ExecContext(ctx, r.Upload, checkpoint, r.LensProb, encodeFloats(r.Embedding), now); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Scores returns the scores a checkpoint gave the listed uploads (all
// when none are listed), by upload ID.
func (s *Store) Scores(ctx context.Context, checkpoint int64, uploads ...int64) (map[int64]shared.Score, error) {
	q := "SELECT upload_id, prob, created FROM scores WHERE checkpoint_id = ?"
	args := []any{checkpoint}
	if len(uploads) > 0 {
		q += " AND upload_id IN (?" + strings.Repeat(", ?", len(uploads)-1) + ")"
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

// Embedding returns the embedding stored with an upload's score by a
// checkpoint, or nil when there is none.
func (s *Store) Embedding(ctx context.Context, upload, checkpoint int64) ([]float32, error) {
	var b []byte
	err := s.r.QueryRowContext(ctx, "SELECT embedding FROM scores WHERE upload_id = ? AND checkpoint_id = ?", upload, checkpoint).Scan(&b)
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
