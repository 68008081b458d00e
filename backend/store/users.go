package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/sslens/sslens/shared"
)

// ErrBadPassword is returned by Authenticate for an unknown user or a wrong
// password; the two are not told apart.
var ErrBadPassword = errors.New("wrong user name or password")

// Password length bounds. bcrypt reads at most 72 bytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72
)

// ValidUserName checks a user name: 1 to 64 letters, digits, '.', '-', '_'.
func ValidUserName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("user name %q: want 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_", r)) {
			return fmt.Errorf("user name %q: only letters, digits, '.', '-' and '_' are allowed", name)
		}
	}
	return nil
}

// checkPassword checks a password's length.
func checkPassword(pw string) error {
	if n := len(pw); n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("%d bytes, want %d to %d", n, MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// GeneratePassword returns a random password of 20 URL-safe characters
// (120 bits).
func GeneratePassword() string {
	b := make([]byte, 15)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateUser adds a user with a bcrypt hash of password.
func (s *Store) CreateUser(ctx context.Context, name string, role shared.Role, password string) (shared.User, error) {
	var fields []shared.FieldError
	if err := ValidUserName(name); err != nil {
		fields = append(fields, shared.FieldError{Key: "name", Message: err.Error()})
	}
	if !role.Valid() {
		fields = append(fields, shared.FieldError{Key: "role", Message: fmt.Sprintf("%q: want admin or astronomer", role)})
	}
	if err := checkPassword(password); err != nil {
		fields = append(fields, shared.FieldError{Key: "password", Message: err.Error()})
	}
	if len(fields) > 0 {
		return shared.User{}, &InvalidError{Msg: "the user cannot be created", Fields: fields}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return shared.User{}, fmt.Errorf("store: %w", err)
	}
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE name = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return Conflict("user %q exists", name)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO users (name, role, hash, created) VALUES (?, ?, ?, ?)", name, role, hash, now)
		return err
	})
	if err != nil {
		return shared.User{}, wrap(err)
	}
	return shared.User{Name: name, Role: role, Created: fromNanos(now)}, nil
}

// SetPassword replaces a user's password and signs them out everywhere.
func (s *Store) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return &InvalidError{Msg: "the password cannot be set", Fields: []shared.FieldError{{Key: "password", Message: err.Error()}}}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return wrap(s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE users SET hash = ? WHERE name = ?", hash, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("user", name)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)", name)
		return err
	}))
}

// DeleteUser removes a user and their sessions.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM users WHERE name = ?", name)
	if err != nil {
		return wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("user", name)
	}
	return nil
}

// Users lists the users by name.
func (s *Store) Users(ctx context.Context) ([]shared.User, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, role, created, last_login FROM users ORDER BY name")
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []shared.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap(err)
		}
		out = append(out, u)
	}
	return out, wrap(rows.Err())
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, wrap(err)
}

// Authenticate checks a password. It spends a bcrypt comparison even for
// unknown users, so timing does not reveal which names exist.
func (s *Store) Authenticate(ctx context.Context, name, password string) (shared.User, error) {
	var hash []byte
	row := s.r.QueryRowContext(ctx, "SELECT name, role, created, last_login, hash FROM users WHERE name = ?", name)
	var u shared.User
	var created int64
	var last sql.NullInt64
	err := row.Scan(&u.Name, &u.Role, &created, &last, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return shared.User{}, ErrBadPassword
	}
	if err != nil {
		return shared.User{}, wrap(err)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return shared.User{}, ErrBadPassword
	}
	u.Created, u.LastLogin = fromNanos(created), optTime(last)
	return u, nil
}

// dummyHash is a hash of a random password at the store's cost, made on
// first use so that commands which never authenticate do not pay for it.
func (s *Store) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte(GeneratePassword()), s.cost)
	})
	return s.dummy
}

// Session is a signed-in user's session as the server sees it.
type Session struct {
	User    shared.User
	CSRF    string
	Expires time.Time
}

// CreateSession starts a session for user name lasting ttl and returns
// its secret token (for the cookie). Only a hash of the token is stored.
func (s *Store) CreateSession(ctx context.Context, name string, ttl time.Duration) (token string, sess Session, err error) {
	tok, csrf := make([]byte, 32), make([]byte, 32)
	rand.Read(tok)
	rand.Read(csrf)
	token = base64.RawURLEncoding.EncodeToString(tok)
	sess.CSRF = base64.RawURLEncoding.EncodeToString(csrf)
	now := s.now()
	exp := now + ttl.Nanoseconds()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		var created int64
		err := tx.QueryRowContext(ctx, "SELECT id, name, role, created FROM users WHERE name = ?", name).
			Scan(&id, &sess.User.Name, &sess.User.Role, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", name)
		}
		if err != nil {
			return err
		}
		sess.User.Created = fromNanos(created)
		t := fromNanos(now)
		sess.User.LastLogin = &t
		if _, err := tx.ExecContext(ctx, "UPDATE users SET last_login = ? WHERE id = ?", now, id); err != nil {
			return err
		}
		// Expired sessions are swept here, the one place sessions grow.
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires < ?", now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO sessions (token_hash, user_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
			hashToken(token), id, sess.CSRF, now, exp)
		return err
	})
	if err != nil {
		return "", Session{}, wrap(err)
	}
	sess.Expires = fromNanos(exp)
	return token, sess, nil
}

// SessionByToken returns the live session of a cookie token.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, error) {
	var sess Session
	var created, exp int64
	var last sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT u.name, u.role, u.created, u.last_login, s.csrf, s.expires
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, hashToken(token)).
		Scan(&sess.User.Name, &sess.User.Role, &created, &last, &sess.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && exp < s.now()) {
		return Session{}, notFound("session", "(token)")
	}
	if err != nil {
		return Session{}, wrap(err)
	}
	sess.User.Created, sess.User.LastLogin, sess.Expires = fromNanos(created), optTime(last), fromNanos(exp)
	return sess, nil
}

// DeleteSession ends the session of a token; an unknown token is no error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.w.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", hashToken(token))
	return wrap(err)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func scanUser(sc interface{ Scan(...any) error }) (shared.User, error) {
	var u shared.User
	var created int64
	var last sql.NullInt64
	if err := sc.Scan(&u.Name, &u.Role, &created, &last); err != nil {
		return u, err
	}
	u.Created, u.LastLogin = fromNanos(created), optTime(last)
	return u, nil
}

// Audit records an admin action.
func (s *Store) Audit(ctx context.Context, user, action, target, detail string) error {
	return wrap(audit(ctx, s.w, s.now(), user, action, target, detail))
}

// audit writes one audit entry at time (Unix nanoseconds) through db, the
// store or a transaction whose change it records.
func audit(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, time int64, user, action, target, detail string) error {
	_, err := db.ExecContext(ctx, "INSERT INTO audit (time, user, action, target, detail) VALUES (?, ?, ?, ?, ?)",
		time, user, action, target, detail)
	return err
}

// AuditLog returns the newest limit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]shared.AuditEntry, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, time, user, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", limit)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	out := []shared.AuditEntry{}
	for rows.Next() {
		var e shared.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.User, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, wrap(err)
		}
		e.Time = fromNanos(t)
		out = append(out, e)
	}
	return out, wrap(rows.Err())
}

// wrap prefixes database errors with the package name, leaving the typed
// errors (whose text is for users) and those already prefixed alone.
func wrap(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) ||
		strings.HasPrefix(err.Error(), "store: ") {
		return err
	}
	return fmt.Errorf("store: %w", err)
}
