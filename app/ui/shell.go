package ui

import (
	"net/url"
	"strconv"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// Page states, shown as the main element's data-state.
const (
	stateLoading   = "loading"
	stateReady     = "ready"
	stateError     = "error"
	stateForbidden = "forbidden"
	stateSignedOut = "signed-out"
)

// page is embedded by every page component: the Env, the session once
// known, and the page-level status every page shows the same way.
type page struct {
	env *Env
	// ctx is the component's own context, from OnMount or OnNav; see on.
	ctx     app.Context
	sess    *shared.Session
	state   string
	err     string
	notice  string // the outcome of the last action, e.g. "run 12 cancelled"
	mounted bool
	updated bool // a new build of the app is installed and waits for a reload
	menu    bool // the navigation menu is open (narrow windows, where it folds away)
}

// OnAppUpdate offers a reload when the service worker has installed a
// new build (the server's app.wasm changed). Every page embeds it.
func (p *page) OnAppUpdate(ctx app.Context) { p.updated = true }

// start marks the page mounted, checks the session (sending a signed-out
// visitor to the sign-in page and back here afterwards) and, when the
// user's role allows need, calls load on the UI goroutine.
func (p *page) start(ctx app.Context, need shared.Role, load func(app.Context)) {
	p.ctx = ctx
	p.mounted = true
	p.state = stateLoading
	ctx.Async(func() {
		s, err := p.env.Session(ctx)
		ctx.Dispatch(func(ctx app.Context) {
			switch {
			case err != nil:
				p.fail(ctx, err)
			case !s.User.Role.Allows(need):
				p.sess = &s
				p.state = stateForbidden
			default:
				p.sess = &s
				load(ctx)
			}
		})
	})
}

// on adapts an event handler that starts asynchronous work to run with
// the page's context. go-app hands a handler the context of the element it
// is set on; a re-render may replace that element, which cancels the
// context and drops what it dispatches, so requests would hang unanswered.
// Handlers read their element through the event (e.Get("target")).
func (p *page) on(h app.EventHandler) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if p.ctx != nil {
			ctx = p.ctx
		}
		h(ctx, e)
	}
}

// value is the value of the element an event happened on.
func value(e app.Event) string { return e.Get("target").Get("value").String() }

// fail shows err; an expired session sends the user to sign in again.
func (p *page) fail(ctx app.Context, err error) {
	if api.IsUnauthorized(err) {
		p.env.SetSession(ctx, nil)
		p.sess = nil
		p.state = stateSignedOut
		ctx.Navigate("/login?next=" + url.QueryEscape(ctx.Page().URL().RequestURI()))
		return
	}
	p.state = stateError
	p.err = err.Error()
}

// ready clears the loading and error state.
func (p *page) ready() {
	p.state = stateReady
	p.err = ""
}

func (p *page) isAdmin() bool { return p.sess != nil && p.sess.User.Role == shared.RoleAdmin }

// navLink is one entry of the main navigation.
type navLink struct {
	href, label string
	admin       bool // shown to admins only
}

var navLinks = []navLink{
	{"/", "Dashboard", false},
	{"/datasets", "Datasets", false},
	{"/preview", "Augmentations", false},
	{"/runs", "Runs", false},
	{"/launch", "Launch", true},
	{"/results", "Results", false},
	{"/score", "Score", false},
}

// frame renders the layout around a page's content: the top bar with the
// navigation the user's role allows, the signed-in user and sign-out, the
// page status, and content unless the page is forbidden or signed out.
func (p *page) frame(name, active string, content ...app.UI) app.UI {
	main := app.Main().ID("main").Class("content").DataSet("page", name)
	if p.mounted {
		main = main.DataSet("mounted", "true").DataSet("state", p.state)
	}
	var body []app.UI
	switch p.state {
	case stateForbidden:
		body = append(body, app.Div().Class("panel empty").Body(
			app.H1().Text("Admins only"),
			app.P().Textf("You are signed in as %s (%s). This page launches and manages runs; ask an admin if you need one.",
				p.sess.User.Name, p.sess.User.Role),
			app.A().Href("/runs").Text("See the runs instead"),
		))
	case stateSignedOut:
		body = append(body, app.Div().Class("panel empty").Body(
			app.P().Text("Your session has ended."),
			app.A().Href("/login").Text("Sign in"),
		))
	default:
		if p.state == stateError {
			body = append(body, app.Div().Class("alert error").Role("alert").Text(p.err))
		}
		if p.notice != "" {
			body = append(body, app.Div().Class("alert notice").Role("status").Text(p.notice))
		}
		if p.updated {
			body = append(body, app.Div().Class("alert notice").ID("app-update").Role("status").Body(
				app.Text("A new version of sslens is ready. "),
				app.Button().Class("button small").Text("Reload").OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
			))
		}
		body = append(body, content...)
	}
	return app.Div().Class("shell").Body(
		app.A().Class("skip").Href("#main").Text("Skip to content"),
		p.topBar(active),
		main.Body(body...),
	)
}

func (p *page) topBar(active string) app.UI {
	links := make([]app.UI, 0, len(navLinks))
	here := "Menu"
	for _, l := range navLinks {
		if l.admin && !p.isAdmin() {
			continue
		}
		a := app.A().Href(l.href).Text(l.label)
		if l.href == active {
			a = a.Class("active").Aria("current", "page")
			here = l.label
		}
		links = append(links, a)
	}
	nav := "nav"
	if p.menu {
		nav += " open"
	}
	var user app.UI = app.A().Class("button small").Href("/login").Text("Sign in")
	if p.sess != nil {
		user = app.Div().Class("user").Body(
			app.Span().Class("user-name").Text(p.sess.User.Name),
			app.Span().Class("badge role").Text(string(p.sess.User.Role)),
			app.Button().Class("button small ghost").ID("sign-out").Text("Sign out").OnClick(p.on(p.signOut)),
		)
	}
	return app.Header().Class("topbar").Body(
		app.A().Class("brand").Href("/").Body(
			app.Img().Src("/web/icon.svg").Alt(""),
			app.Span().Text("sslens"),
		),
		// On a narrow window the links fold into a menu under this button,
		// which names the page shown.
		app.Button().Type("button").Class("button small ghost nav-toggle").ID("nav-toggle").
			Aria("controls", "main-nav").Aria("expanded", strconv.FormatBool(p.menu)).Aria("label", "Menu: "+here).
			Text("☰ "+here).OnClick(p.on(func(ctx app.Context, e app.Event) { p.menu = !p.menu })),
		app.Nav().Class(nav).ID("main-nav").Aria("label", "Main").Body(links...),
		user,
	)
}

func (p *page) signOut(ctx app.Context, e app.Event) {
	p.notice = "Signing out…"
	ctx.Async(func() {
		err := p.env.API.Logout(ctx)
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil && !api.IsUnauthorized(err) {
				p.notice = ""
				p.state = stateError
				p.err = "Signing out failed: " + err.Error()
				return
			}
			p.env.SetSession(ctx, nil)
			p.sess = nil
			ctx.Navigate("/login")
		})
	})
}

// spinner is the busy indicator with its text for screen readers.
func spinner(label string) app.UI {
	return app.Div().Class("spinner-row").Role("status").Body(
		app.Span().Class("spinner").Aria("hidden", "true"),
		app.Span().Text(label),
	)
}

// emptyState is what a list shows when there is nothing in it.
func emptyState(text string, action ...app.UI) app.UI {
	return app.Div().Class("panel empty").Body(append([]app.UI{app.P().Text(text)}, action...)...)
}
