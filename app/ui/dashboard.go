package ui

import (
	"fmt"
	"sort"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// Dashboard is the home page: datasets, runs in progress (live), the
// models that can score and the user's recent uploads.
type Dashboard struct {
	app.Compo
	page

	datasets []shared.Dataset
	runs     []shared.Run // queued and running, newest first
	models   shared.ModelStatus
	uploads  []shared.Upload
	live     live
}

// OnMount loads everything and follows every run's progress.
func (d *Dashboard) OnMount(ctx app.Context) {
	d.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		d.load(ctx)
		d.follow(ctx, &d.live, 0, 0, d.onEvents, d.loadRuns)
	})
}

func (d *Dashboard) load(ctx app.Context) {
	c := d.env.API
	ctx.Async(func() {
		ds, err1 := c.Datasets(ctx)
		ms, err2 := c.Models(ctx)
		us, err3 := c.Uploads(ctx, 0, true)
		ctx.Dispatch(func(ctx app.Context) {
			for _, err := range []error{err1, err2, err3} {
				if err != nil {
					d.fail(ctx, err)
					return
				}
			}
			d.datasets, d.models, d.uploads = ds, ms, us
			if d.runs != nil {
				d.ready()
			}
		})
	})
}

// loadRuns fetches the active runs; it runs at every (re)connection of the
// websocket, which replays nothing for all-runs subscriptions.
func (d *Dashboard) loadRuns(ctx app.Context) {
	c := d.env.API
	ctx.Async(func() {
		running, err := c.Runs(ctx, "", shared.StateRunning)
		var queued []shared.Run
		if err == nil {
			queued, err = c.Runs(ctx, "", shared.StateQueued)
		}
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				d.fail(ctx, err)
				return
			}
			d.runs = append(running, queued...)
			if d.runs == nil {
				d.runs = []shared.Run{}
			}
			if d.datasets != nil {
				d.ready()
			}
		})
	})
}

func (d *Dashboard) onEvents(ctx app.Context, evs []shared.Event) {
	if applyToRuns(d.runs, evs) {
		d.loadRuns(ctx)
		return
	}
	// Finished runs leave the list; the models may have changed.
	active := d.runs[:0]
	finished := false
	for _, r := range d.runs {
		if r.State.Final() {
			finished = true
			continue
		}
		active = append(active, r)
	}
	d.runs = active
	if finished {
		d.load(ctx)
	}
}

// Render draws the dashboard.
func (d *Dashboard) Render() app.UI {
	return d.frame("dashboard", "/",
		app.Div().Class("page-head").Body(
			app.H1().Text("Dashboard"),
			app.If(d.sess != nil, app.P().Class("muted").Textf("Signed in as %s.", d.userName())),
		),
		app.If(d.state == stateLoading, spinner("Loading the portal…")),
		app.Div().Class("grid-2").Body(
			d.datasetsCard(),
			d.runsCard(),
			d.modelsCard(),
			d.uploadsCard(),
		),
	)
}

func (d *Dashboard) userName() string {
	if d.sess == nil {
		return ""
	}
	return d.sess.User.Name
}

func (d *Dashboard) datasetsCard() app.UI {
	var body app.UI
	switch {
	case d.datasets == nil:
		body = app.P().Class("muted").Text("…")
	case len(d.datasets) == 0:
		body = app.P().Class("muted").Text("No dataset yet. The first start simulates the default one; it appears here when it is ready.")
	default:
		body = app.Ul().Class("plain").Body(app.Range(d.datasets).Slice(func(i int) app.UI {
			ds := d.datasets[i]
			return app.Li().Body(
				app.A().Href(fmt.Sprintf("/datasets?dataset=%d", ds.ID)).Text(ds.Name),
				app.Text(" "),
				app.Span().Class("badge state-"+string(ds.State)).Text(string(ds.State)),
				app.Div().Class("muted small").Text(classCounts(ds)+originNote(ds)),
			)
		}))
	}
	return app.Section().Class("card").Aria("labelledby", "h-datasets").Body(
		app.H2().ID("h-datasets").Text("Datasets"), body)
}

func (d *Dashboard) runsCard() app.UI {
	var body app.UI
	switch {
	case d.runs == nil:
		body = app.P().Class("muted").Text("…")
	case len(d.runs) == 0:
		body = app.P().Class("muted").Text("Nothing is running.")
	default:
		body = app.Ul().Class("plain").Body(app.Range(d.runs).Slice(func(i int) app.UI {
			r := d.runs[i]
			return app.Li().Body(
				app.A().Href(fmt.Sprintf("/runs/%d", r.ID)).Textf("#%d %s", r.ID, r.Name),
				app.Text(" "), stateBadge(r.State),
				progressBar(r.Progress),
			)
		}))
	}
	return app.Section().Class("card").Aria("labelledby", "h-running").Body(
		app.Div().Class("card-head").Body(app.H2().ID("h-running").Text("Running"), d.live.badge()),
		body,
		app.A().Class("more").Href("/runs").Text("All runs"),
	)
}

func (d *Dashboard) modelsCard() app.UI {
	m := d.models
	var body app.UI
	switch {
	case d.datasets == nil:
		body = app.P().Class("muted").Text("…")
	case !m.Ready:
		msg := m.Message
		if msg == "" {
			msg = "No classifier has finished training yet."
		}
		body = app.P().Class("muted").Text(msg)
	default:
		cps := bestCheckpoints(m.Checkpoints, 3)
		body = app.Ul().Class("plain").Body(app.Range(cps).Slice(func(i int) app.UI {
			cp := cps[i]
			return app.Li().Body(
				app.A().Href(fmt.Sprintf("/runs/%d", cp.Run)).Text(cp.RunName),
				app.Textf(" · %s · %s epoch %d", cp.Preset, cp.Name, cp.Epoch),
				app.If(cp.ID == m.Default, app.Span().Class("badge ok").Text("default")),
				app.If(cp.Metrics["val_auc"] > 0, app.Div().Class("muted small").Textf("val AUC %.3f", cp.Metrics["val_auc"])),
			)
		}))
	}
	return app.Section().Class("card").Aria("labelledby", "h-models").Body(
		app.H2().ID("h-models").Text("Best models"), body,
		app.A().Class("more").Href("/results").Text("Results"),
	)
}

// bestCheckpoints returns up to n checkpoints by validation AUC, best first.
func bestCheckpoints(cps []shared.Checkpoint, n int) []shared.Checkpoint {
	out := append([]shared.Checkpoint(nil), cps...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Metrics["val_auc"] > out[j].Metrics["val_auc"] })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (d *Dashboard) uploadsCard() app.UI {
	var body app.UI
	now := time.Now()
	switch {
	case d.uploads == nil:
		body = app.P().Class("muted").Text("…")
	case len(d.uploads) == 0:
		body = app.P().Class("muted").Text("You have not uploaded any cutouts yet.")
	default:
		us := d.uploads
		if len(us) > 5 {
			us = us[:5]
		}
		body = app.Ul().Class("plain").Body(app.Range(us).Slice(func(i int) app.UI {
			u := us[i]
			score := "not scored"
			if u.Score != nil {
				score = "P(lens) " + fmt.Sprintf("%.3f", u.Score.LensProb)
			}
			return app.Li().Body(
				app.A().Href(fmt.Sprintf("/score?upload=%d", u.ID)).Text(u.Name),
				app.Div().Class("muted small").Textf("%s · %s", score, ago(u.Created, now)),
			)
		}))
	}
	return app.Section().Class("card").Aria("labelledby", "h-uploads").Body(
		app.H2().ID("h-uploads").Text("Recent uploads"), body,
		app.A().Class("more").Href("/score").Text("Score cutouts"),
	)
}
