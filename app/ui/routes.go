package ui

import (
	"github.com/maxence-charriere/go-app/v9/pkg/app"
)

// Route is one page of the portal: a fixed path or a pattern.
type Route struct {
	Path    string // a fixed path, or a regular expression when Pattern
	Pattern bool
	New     func(*Env) app.Composer
	Example string // a concrete path that reaches the page (for tests)
}

// Routes lists every page.
var Routes = []Route{
	{"/", false, func(e *Env) app.Composer { return &Dashboard{page: page{env: e}} }, "/"},
	{"/login", false, func(e *Env) app.Composer { return &Login{page: page{env: e}} }, "/login"},
	{"/datasets", false, func(e *Env) app.Composer { return &Datasets{page: page{env: e}} }, "/datasets"},
	{imagePattern, true, func(e *Env) app.Composer { return &ImageView{page: page{env: e}} }, "/datasets/1/images/lenses/12.npy"},
	{"/preview", false, func(e *Env) app.Composer { return &Preview{page: page{env: e}} }, "/preview"},
	{"/runs", false, func(e *Env) app.Composer { return &Runs{page: page{env: e}} }, "/runs"},
	{runPattern, true, func(e *Env) app.Composer { return &RunView{page: page{env: e}} }, "/runs/3"},
	{"/launch", false, func(e *Env) app.Composer { return &Launch{page: page{env: e}} }, "/launch"},
	{"/results", false, func(e *Env) app.Composer { return &Results{page: page{env: e}} }, "/results"},
	{"/score", false, func(e *Env) app.Composer { return &Score{page: page{env: e}} }, "/score"},
}

// RegisterRoutes registers every page with go-app's router. The
// WebAssembly build and the server's handler both call it, so every path
// the browser can show also prerenders (go-app answers 404 for paths the
// server does not know). go-app's router is process-wide: call it once
// per process.
func RegisterRoutes(env *Env) {
	for _, r := range Routes {
		newPage := r.New
		f := func() app.Composer { return newPage(env) }
		if r.Pattern {
			app.RouteWithRegexpFunc(r.Path, f)
		} else {
			app.RouteFunc(r.Path, f)
		}
	}
}
