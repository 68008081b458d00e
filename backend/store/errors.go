package store

import (
	"errors"
	"fmt"

	"github.com/sslens/sslens/shared"
)

// The kinds of failure a caller may answer differently: the server maps
// them to HTTP statuses (404, 409, 422). Each typed error below matches one
// of them with errors.Is; its text is fit for users (it names the row or
// the input, and no package), and the job queue returns them too.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInvalid  = errors.New("invalid")
)

// NotFoundError is a row asked for that does not exist.
type NotFoundError struct {
	What string // "run", "dataset", "user", ...
	Key  any    // its ID or name
}

// Error says what is missing: "run 7 not found".
func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %v not found", e.What, e.Key) }

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// ConflictError is a write that would break a uniqueness or state rule,
// such as a second user of the same name or cancelling a finished run.
type ConflictError struct {
	Msg string // for users: "run 7 is succeeded and cannot be resumed"
}

func (e *ConflictError) Error() string { return e.Msg }

func (e *ConflictError) Unwrap() error { return ErrConflict }

// InvalidError is a request that cannot be carried out as given: Msg says
// so in a sentence and Fields name each bad input (as the API's field
// errors do).
type InvalidError struct {
	Msg    string
	Fields []shared.FieldError
}

// Error is Msg followed by the field errors.
func (e *InvalidError) Error() string {
	s := e.Msg
	for _, f := range e.Fields {
		s += "; " + f.Key + ": " + f.Message
	}
	return s
}

func (e *InvalidError) Unwrap() error { return ErrInvalid }

// notFound returns a NotFoundError naming the row.
func notFound(what string, key any) error { return &NotFoundError{What: what, Key: key} }

// Conflict returns a ConflictError with a formatted message.
func Conflict(format string, args ...any) error {
	return &ConflictError{Msg: fmt.Sprintf(format, args...)}
}

// Invalid returns an InvalidError of one field.
func Invalid(msg, key, format string, args ...any) error {
	return &InvalidError{Msg: msg, Fields: []shared.FieldError{{Key: key, Message: fmt.Sprintf(format, args...)}}}
}
