package shared

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Role is what a user may do. Admins may do everything astronomers may.
type Role string

const (
	// RoleAstronomer browses datasets and results, previews augmentations,
	// uploads cutouts, scores and exports them, and cancels their own runs.
	RoleAstronomer Role = "astronomer"
	// RoleAdmin also launches and resumes runs, cancels anyone's, and
	// manages datasets and users.
	RoleAdmin Role = "admin"
)

// Roles lists the roles from least to most privileged.
var Roles = []Role{RoleAstronomer, RoleAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return r == RoleAstronomer || r == RoleAdmin }

// Allows reports whether a user with role r may do what needs role need.
func (r Role) Allows(need Role) bool {
	return r == RoleAdmin || (r == RoleAstronomer && need == RoleAstronomer)
}

// User is an account, without its password.
type User struct {
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Created   time.Time  `json:"created"`
	LastLogin *time.Time `json:"last_login,omitempty"`
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Session is the signed-in user and the token every state-changing request
// must carry in the X-CSRF-Token header (see CSRFHeader). POST /api/login
// and GET /api/me return it.
type Session struct {
	User      User      `json:"user"`
	CSRFToken string    `json:"csrf_token"`
	Expires   time.Time `json:"expires"`
	// GPUs is how many GPUs the server's jobs may use (serve --gpus): the
	// launch form offers experiment.device cuda when there are any.
	GPUs int `json:"gpus,omitempty"`
}

// CSRFHeader is the request header that carries Session.CSRFToken.
const CSRFHeader = "X-CSRF-Token"

// CreateUserRequest is the body of POST /api/users. An empty Password asks
// the server to generate one, returned once in CreateUserResponse.
type CreateUserRequest struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Password string `json:"password,omitempty"`
}

// CreateUserResponse answers POST /api/users. Password is set only when
// the server generated it; it is not stored and cannot be shown again.
type CreateUserResponse struct {
	User     User   `json:"user"`
	Password string `json:"password,omitempty"`
}

// AuditEntry is one admin action (GET /api/audit).
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Action string    `json:"action"` // e.g. run.create, run.cancel, user.create
	Target string    `json:"target"` // e.g. "run 12", "user alice"
	Detail string    `json:"detail,omitempty"`
}

// ErrorCode classifies an API error; the HTTP status says the same coarser.
type ErrorCode string

const (
	CodeBadRequest   ErrorCode = "bad_request"  // 400: malformed JSON, wrong types, bad parameters
	CodeUnauthorized ErrorCode = "unauthorized" // 401: no or expired session, wrong password
	CodeForbidden    ErrorCode = "forbidden"    // 403: role too low
	CodeCSRF         ErrorCode = "csrf"         // 403: missing or wrong X-CSRF-Token, or a foreign Origin
	CodeNotFound     ErrorCode = "not_found"    // 404
	CodeConflict     ErrorCode = "conflict"     // 409: e.g. cancelling a finished run
	CodeTooLarge     ErrorCode = "too_large"    // 413: request over the size limits
	CodeInvalid      ErrorCode = "invalid"      // 422: well-formed but invalid, see Fields
	CodeRateLimited  ErrorCode = "rate_limited" // 429: too many failed logins; see Retry-After
	CodeNoModel      ErrorCode = "no_model"     // 409: no classifier checkpoint exists yet
	CodeInternal     ErrorCode = "internal"     // 500
	CodeUnavailable  ErrorCode = "unavailable"  // 503: e.g. shutting down
)

// FieldError is one problem with one field of a request, such as a config
// key: Key is its path ("optimizer.init_lr", "train args.batch_size"), or
// empty when the problem concerns no single key.
type FieldError struct {
	Key     string `json:"key"`
	Message string `json:"message"`
}

// Error reads "key: message", as the command line shows it. A FieldError
// is also what config checks return, so the server passes their key paths
// on to the form unchanged.
func (e FieldError) Error() string {
	if e.Key == "" {
		return e.Message
	}
	return e.Key + ": " + e.Message
}

// MaxMessageBytes bounds an error message the portal sends or stores: a
// file with thousands of parts must not list them all.
const MaxMessageBytes = 1000

// CapMessage cuts msg to MaxMessageBytes, at a rune boundary, ending in
// "…".
func CapMessage(msg string) string {
	if len(msg) <= MaxMessageBytes {
		return msg
	}
	return CutUTF8(msg, MaxMessageBytes-len("…")) + "…"
}

// CutUTF8 returns the longest prefix of s of at most n bytes that ends
// between characters.
func CutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// FieldErrorf returns a FieldError for key with a formatted message.
func FieldErrorf(key, format string, args ...any) error {
	return FieldError{Key: key, Message: fmt.Sprintf(format, args...)}
}

// Error is the body of every response with status >= 400:
// {"error": {"code": ..., "message": ..., "fields": [...]}}.
type Error struct {
	Err ErrorBody `json:"error"`
}

// ErrorBody describes what went wrong in words a user can act on.
type ErrorBody struct {
	Code    ErrorCode    `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// Health answers GET /api/health (no session needed).
type Health struct {
	OK      bool   `json:"ok"`
	Version string `json:"version"`
}
