package uploads

import "fmt"

// Kind says how a refused request is answered.
type Kind int

const (
	BadRequest  Kind = iota + 1 // malformed: an unexpected field, no files, an unknown format
	Unsupported                 // the body is not multipart/form-data
	TooLarge                    // over a limit of the request
	NoModel                     // no classifier can score yet; Msg says what is under way
	Rejected                    // the upload was rejected when it was uploaded
)

// Error is a request the service refuses, with a message for the user.
// Values that name nothing usable (an unknown checkpoint) are
// *store.InvalidError, and what this server or checkpoint cannot do is a
// *store.ConflictError, as elsewhere in the portal.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
