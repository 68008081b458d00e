package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
)

// Login is the sign-in page. After signing in it goes to the page named
// by ?next= (a local path), or the dashboard.
type Login struct {
	app.Compo
	page

	username, password string
	busy               bool
}

// OnMount marks the page ready.
func (l *Login) OnMount(ctx app.Context) {
	l.ctx = ctx
	l.mounted = true
	l.state = stateReady
}

// next returns where to go after signing in: a local path only, so the
// page cannot be used to send users elsewhere.
func next(raw string) string {
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/login") || strings.Contains(raw, `\`) {
		return "/"
	}
	return raw
}

func (l *Login) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if l.busy {
		return
	}
	if l.username == "" || l.password == "" {
		l.state = stateError
		l.err = "Enter your user name and password."
		return
	}
	l.busy = true
	l.err = ""
	user, pass := l.username, l.password
	ctx.Async(func() {
		s, err := l.env.API.Login(ctx, user, pass)
		ctx.Dispatch(func(ctx app.Context) {
			l.busy = false
			if err != nil {
				l.state = stateError
				l.err = loginError(err)
				return
			}
			l.env.SetSession(ctx, &s)
			l.sess = &s
			ctx.Navigate(next(ctx.Page().URL().Query().Get("next")))
		})
	})
}

// loginError words a failed sign-in for the user.
func loginError(err error) string {
	var e *api.Error
	if !errors.As(err, &e) {
		return "Cannot reach the server: " + err.Error()
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "Wrong user name or password."
	case http.StatusTooManyRequests:
		return "Too many failed attempts; wait a few minutes and try again."
	}
	return e.Error()
}

// Render draws the sign-in form.
func (l *Login) Render() app.UI {
	main := app.Main().ID("main").Class("login").DataSet("page", "login")
	if l.mounted {
		main = main.DataSet("mounted", "true").DataSet("state", l.state)
	}
	label := "Sign in"
	if l.busy {
		label = "Signing in…"
	}
	return main.Body(
		app.Form().Class("panel login-form").OnSubmit(l.on(l.submit)).Body(
			app.Div().Class("brand big").Body(
				app.Img().Src("/web/icon.svg").Alt(""),
				app.H1().Text("sslens"),
			),
			app.P().Class("muted").Text("Self-supervised lens finding: browse, train, compare and score."),
			app.If(l.err != "", app.Div().Class("alert error").Role("alert").ID("login-error").Text(l.err)),
			app.Label().For("username").Text("User name"),
			// Value keeps the typed name when a failed sign-in re-renders the form.
			app.Input().ID("username").Name("username").Attr("autocomplete", "username").Required(true).AutoFocus(true).
				Value(l.username).OnInput(l.ValueTo(&l.username)),
			app.Label().For("password").Text("Password"),
			app.Input().ID("password").Name("password").Type("password").Attr("autocomplete", "current-password").Required(true).
				OnInput(l.ValueTo(&l.password)),
			app.Button().Type("submit").ID("sign-in").Class("button primary").Disabled(l.busy).Text(label),
		),
	)
}
