package ui

import (
	"fmt"
	"net/url"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// Runs lists the runs with their state and progress, live, filtered by
// kind and state (?kind=, ?state=).
type Runs struct {
	app.Compo
	page

	kind shared.RunKind
	st   shared.RunState
	runs []shared.Run
	live live
}

// OnNav reads the filters and loads the list; the first visit also
// starts following every run.
func (r *Runs) OnNav(ctx app.Context) {
	q := ctx.Page().URL().Query()
	r.kind = shared.RunKind(oneOf(q.Get("kind"), kindNames()...))
	r.st = shared.RunState(oneOf(q.Get("state"), stateNames()...))
	if r.sess != nil {
		r.load(ctx)
		return
	}
	r.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		// The websocket's OnConnect loads the list, now and after every
		// reconnection.
		r.follow(ctx, &r.live, 0, 0, r.onEvents, r.load)
	})
}

func kindNames() []string {
	out := make([]string, len(shared.RunKinds))
	for i, k := range shared.RunKinds {
		out[i] = string(k)
	}
	return out
}

func stateNames() []string {
	out := make([]string, len(shared.RunStates))
	for i, s := range shared.RunStates {
		out[i] = string(s)
	}
	return out
}

func (r *Runs) load(ctx app.Context) {
	kind, st := r.kind, r.st
	ctx.Async(func() {
		rs, err := r.env.API.Runs(ctx, kind, st)
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				r.fail(ctx, err)
				return
			}
			if rs == nil {
				rs = []shared.Run{}
			}
			r.runs = rs
			r.ready()
		})
	})
}

func (r *Runs) onEvents(ctx app.Context, evs []shared.Event) {
	if applyToRuns(r.runs, evs) {
		r.load(ctx)
	}
}

func (r *Runs) filter(key string) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		v := url.Values{}
		if r.kind != "" {
			v.Set("kind", string(r.kind))
		}
		if r.st != "" {
			v.Set("state", string(r.st))
		}
		if s := value(e); s != "" {
			v.Set(key, s)
		} else {
			v.Del(key)
		}
		u := "/runs"
		if len(v) > 0 {
			u += "?" + v.Encode()
		}
		ctx.Navigate(u)
	}
}

// Render draws the filters and the table.
func (r *Runs) Render() app.UI {
	kinds := append([]option{{"", "all kinds"}}, plainOptions(kindNames())...)
	states := append([]option{{"", "all states"}}, plainOptions(stateNames())...)
	return r.frame("runs", "/runs",
		app.Div().Class("page-head").Body(
			app.H1().Text("Runs"),
			r.live.badge(),
			app.If(r.isAdmin(), app.A().Class("button primary").ID("new-run").Href("/launch").Text("Launch a run")),
		),
		app.Form().Class("filters").Aria("label", "Filters").OnSubmit(func(ctx app.Context, e app.Event) { e.PreventDefault() }).Body(
			selectField("f-kind", "Kind", string(r.kind), kinds, r.filter("kind")),
			selectField("f-state", "State", string(r.st), states, r.filter("state")),
		),
		r.table(),
	)
}

func (r *Runs) table() app.UI {
	switch {
	case r.runs == nil:
		return spinner("Loading runs…")
	case len(r.runs) == 0:
		return emptyState("No run matches.")
	}
	now := time.Now()
	return app.Div().Class("table-wrap").Body(app.Table().Class("data runs").ID("runs-table").Body(
		app.THead().Body(app.Tr().Body(
			app.Th().Class("wide-only").Text("#"), app.Th().Text("name"), app.Th().Class("wide-only").Text("kind"), app.Th().Text("state"),
			app.Th().Class("wide").Text("progress"), app.Th().Class("wide-only").Text("by"), app.Th().Class("wide-only").Text("created"), app.Th().Class("wide-only").Text("took"),
		)),
		app.TBody().Body(app.Range(r.runs).Slice(func(i int) app.UI {
			run := r.runs[i]
			return app.Tr().DataSet("run", run.ID).DataSet("state", run.State).Body(
				app.Td().Class("wide-only").Text(run.ID),
				app.Td().Body(app.A().Href(fmt.Sprintf("/runs/%d", run.ID)).Text(runName(run))),
				app.Td().Class("wide-only").Text(string(run.Kind)),
				app.Td().Body(stateBadge(run.State)),
				app.Td().Body(progressBar(run.Progress)),
				app.Td().Class("wide-only").Text(run.CreatedBy),
				app.Td().Class("wide-only").Text(ago(run.Created, now)),
				app.Td().Class("wide-only").Text(elapsed(run, now)),
			)
		})),
	))
}

// runName is a run's name, or its kind when it has none.
func runName(r shared.Run) string {
	if r.Name != "" {
		return r.Name
	}
	return string(r.Kind)
}

// elapsed is how long a run ran (so far, when it still runs).
func elapsed(r shared.Run, now time.Time) string {
	if r.Started == nil {
		return ""
	}
	end := now
	if r.Finished != nil {
		end = *r.Finished
	}
	return duration(end.Sub(*r.Started))
}
