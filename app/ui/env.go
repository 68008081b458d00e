package ui

import (
	"sync"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// Env is what every page shares: the API client and the signed-in
// session. One Env serves the whole app; the server's prerendering passes
// one without a client, since only the browser runs OnMount and OnNav.
type Env struct {
	API *api.Client

	mu   sync.Mutex
	sess *shared.Session
}

// NewEnv returns an Env using c.
func NewEnv(c *api.Client) *Env { return &Env{API: c} }

// signedInKey marks in local storage that this browser holds a session
// cookie (which scripts cannot read), so a signed-out visitor goes to the
// sign-in page without a failing /api/me request in the console.
const signedInKey = "sslens.signed-in"

// Session returns the signed-in session: the cached one, else the
// server's answer to GET /api/me. Without a sign-in recorded in this
// browser it answers unauthorized without asking.
func (e *Env) Session(ctx app.Context) (shared.Session, error) {
	e.mu.Lock()
	s := e.sess
	e.mu.Unlock()
	if s != nil {
		return *s, nil
	}
	var signedIn bool
	if ctx.LocalStorage().Get(signedInKey, &signedIn); !signedIn {
		return shared.Session{}, &api.Error{Status: 401, ErrorBody: shared.ErrorBody{Code: shared.CodeUnauthorized, Message: "please sign in"}}
	}
	me, err := e.API.Me(ctx)
	if err != nil {
		if api.IsUnauthorized(err) {
			ctx.LocalStorage().Del(signedInKey)
		}
		return me, err
	}
	e.SetSession(ctx, &me)
	return me, nil
}

// SetSession records a sign-in (s) or a sign-out (nil).
func (e *Env) SetSession(ctx app.Context, s *shared.Session) {
	e.mu.Lock()
	e.sess = s
	e.mu.Unlock()
	if s != nil {
		ctx.LocalStorage().Set(signedInKey, true)
		e.API.SetCSRF(s.CSRFToken)
		return
	}
	ctx.LocalStorage().Del(signedInKey)
	e.API.SetCSRF("")
}
