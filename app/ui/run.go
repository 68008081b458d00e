package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/chart"
	"github.com/sslens/sslens/shared"
)

// runPattern matches run pages, /runs/{id}.
const runPattern = `^/runs/[0-9]+$`

// RunView is a run's page: state and progress, live charts (loss,
// learning rate, validation or kNN accuracy, images/s) fed by the
// websocket, the log tail, the final evaluation, checkpoints, cancel for
// its owner and admins, and resume for admins. It survives a server restart: the websocket
// reconnects and replays what it missed.
type RunView struct {
	app.Compo
	page

	id          int64
	m           *runModel
	checkpoints []shared.Checkpoint
	catalogue   *shared.Catalogue // a score-survey run's output
	live        live
	acting      bool
}

// OnNav loads the run the path names and follows its events.
func (v *RunView) OnNav(ctx app.Context) {
	id, err := strconv.ParseInt(strings.TrimPrefix(ctx.Page().URL().Path, "/runs/"), 10, 64)
	if err != nil || id <= 0 {
		v.mounted, v.state, v.err = true, stateError, "This address names no run."
		return
	}
	if id == v.id && v.m != nil {
		return
	}
	v.id, v.m = id, nil
	v.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		v.fetchRun(ctx, id, func(ctx app.Context, r shared.Run) {
			// The events rebuild state, progress and metrics from the
			// start, so the model begins from the run's static fields.
			v.m = &runModel{run: r}
			v.ready()
			v.loadCheckpoints(ctx)
			v.loadCatalogue(ctx)
			v.follow(ctx, &v.live, id, 0, v.onEvents, nil)
		})
	})
}

func (v *RunView) onEvents(ctx app.Context, evs []shared.Event) {
	before := v.m.run.State
	// The log follows its newest line unless the reader has scrolled up.
	if log := app.Window().GetElementByID("log"); log.Truthy() &&
		log.Get("scrollHeight").Float()-log.Get("scrollTop").Float()-log.Get("clientHeight").Float() < 40 {
		ctx.Defer(func(app.Context) {
			if log := app.Window().GetElementByID("log"); log.Truthy() {
				log.Set("scrollTop", log.Get("scrollHeight"))
			}
		})
	}
	v.m.apply(evs)
	if after := v.m.run.State; after != before && after.Final() {
		v.refreshRun(ctx)
		v.loadCheckpoints(ctx)
		v.loadCatalogue(ctx)
	}
}

// refreshRun re-reads the run for what events do not carry (finish time,
// resumability).
func (v *RunView) refreshRun(ctx app.Context) {
	v.fetchRun(ctx, v.id, func(ctx app.Context, r shared.Run) {
		if v.m != nil && v.m.run.ID == r.ID {
			v.m.merge(r)
		}
	})
}

// fetchRun reads run id in the background and hands it to then on the UI
// goroutine; an error fails the page instead.
func (v *RunView) fetchRun(ctx app.Context, id int64, then func(app.Context, shared.Run)) {
	ctx.Async(func() {
		r, err := v.env.API.Run(ctx, id)
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				v.fail(ctx, err)
				return
			}
			then(ctx, r)
		})
	})
}

func (v *RunView) loadCheckpoints(ctx app.Context) {
	id := v.id
	ctx.Async(func() {
		cs, err := v.env.API.Checkpoints(ctx, id)
		ctx.Dispatch(func(ctx app.Context) {
			if err == nil {
				v.checkpoints = cs
			}
		})
	})
}

// loadCatalogue reads a score-survey run's catalogue; other kinds have none.
func (v *RunView) loadCatalogue(ctx app.Context) {
	if v.m == nil || v.m.run.Kind != shared.KindSurvey {
		return
	}
	id := v.id
	ctx.Async(func() {
		c, err := v.env.API.Catalogue(ctx, id)
		ctx.Dispatch(func(ctx app.Context) {
			if err == nil && id == v.id {
				v.catalogue = &c
			}
		})
	})
}

// act runs cancel or resume and shows the outcome.
func (v *RunView) act(verb string, call func(app.Context, int64) (shared.Run, error)) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		if v.acting {
			return
		}
		v.acting = true
		v.notice = strings.ToUpper(verb[:1]) + verb[1:] + "…"
		id := v.id
		ctx.Async(func() {
			r, err := call(ctx, id)
			ctx.Dispatch(func(ctx app.Context) {
				v.acting = false
				v.notice = ""
				if err != nil {
					v.state, v.err = stateError, fmt.Sprintf("Could not %s run %d: %v", verb, id, err)
					return
				}
				v.ready()
				v.notice = fmt.Sprintf("Run %d: %s.", id, r.State)
				v.m.merge(r)
			})
		})
	}
}

// mayCancel reports whether the signed-in user may cancel r: admins any
// run, others their own (the server checks the same).
func (v *RunView) mayCancel(r shared.Run) bool {
	return v.isAdmin() || (v.sess != nil && v.sess.User.Name == r.CreatedBy)
}

func (v *RunView) cancel(ctx app.Context, id int64) (shared.Run, error) {
	return v.env.API.CancelRun(ctx, id)
}

func (v *RunView) resume(ctx app.Context, id int64) (shared.Run, error) {
	return v.env.API.ResumeRun(ctx, id)
}

// Render draws the run.
func (v *RunView) Render() app.UI {
	if v.m == nil {
		return v.frame("run", "/runs",
			app.Div().Class("page-head").Body(app.H1().Textf("Run %d", v.id)),
			app.If(v.state == stateLoading, spinner("Loading the run…")))
	}
	r := v.m.run
	c := v.m.charts()
	now := time.Now()
	return v.frame("run", "/runs",
		app.Div().Class("page-head").Body(
			app.Nav().Class("crumbs").Aria("label", "Breadcrumb").Body(app.A().Href("/runs").Text("Runs"), app.Text(" › "), app.Span().Textf("#%d", r.ID)),
			app.H1().Body(app.Textf("#%d %s ", r.ID, runName(r)), app.Span().ID("run-state").DataSet("state", r.State).Body(stateBadge(r.State))),
			v.live.badge(),
			app.If(v.mayCancel(r) && !r.State.Final(),
				app.Button().ID("cancel-run").Class("button danger").Disabled(v.acting).Text("Cancel run").OnClick(v.on(v.act("cancel", v.cancel)))),
			app.If(v.isAdmin() && r.Resumable && r.State.Final(),
				app.Button().ID("resume-run").Class("button primary").Disabled(v.acting).Text("Resume").OnClick(v.on(v.act("resume", v.resume)))),
		),
		app.P().Class("muted").Text(runFacts(r, now)),
		app.If(r.Error != "", app.Div().Class("alert error").Role("alert").Text(r.Error)),
		progressBar(v.m.progress()),
		app.If(trains(r.Kind), app.Div().Class("charts").ID("charts").Body(
			&chart.Line{Title: "Loss", XLabel: "step", Series: c.Loss, X: c.X, Empty: "no loss yet"},
			&chart.Line{Title: "Learning rate", XLabel: "step", Series: c.LR, X: c.X, Empty: "no steps yet"},
			&chart.Line{Title: accuracyTitle(r), XLabel: "step", Series: c.Accuracy, X: c.X, Y: chart.Range{Min: 0, Max: 1}, Empty: "no evaluation yet"},
			&chart.Line{Title: "Throughput", XLabel: "step", YLabel: "images/s", Series: c.Speed, X: c.X, Empty: "no steps yet"},
		)),
		v.finalTable(),
		v.catalogueCard(),
		app.Div().Class("grid-2").Body(
			app.Section().Class("card").Aria("labelledby", "h-log").Body(
				app.H2().ID("h-log").Text("Log"),
				v.logTail(),
			),
			app.Section().Class("card").Aria("labelledby", "h-ckpt").Body(
				app.H2().ID("h-ckpt").Text("Checkpoints"),
				v.checkpointList(),
				app.If(r.Config != "", app.Details().Body(app.Summary().Text("Config"), app.Pre().Class("code").Text(r.Config))),
			),
		),
	)
}

// catalogueCard draws a score-survey run's files to download and the top
// of its ranking; nothing for other runs.
func (v *RunView) catalogueCard() app.UI {
	c := v.catalogue
	if c == nil {
		return app.If(false)
	}
	return app.Section().Class("card").ID("catalogue").Aria("labelledby", "h-catalogue").Body(
		app.H2().ID("h-catalogue").Text("Catalogue"),
		app.If(len(c.Files) == 0, app.P().Class("muted").Text("Nothing written yet.")),
		app.Ul().Class("downloads").Body(app.Range(c.Files).Slice(func(i int) app.UI {
			f := c.Files[i]
			return app.Li().Body(
				app.A().Href(fmt.Sprintf("/api/runs/%d/catalogue/%s", v.id, f.Name)).Attr("download", f.Name).Text(f.Name),
				app.Span().Class("muted small").Text(" "+byteSize(f.Bytes)),
			)
		})),
		app.If(len(c.Top) > 0, app.P().Class("muted small").Textf("The %d highest P(lens):", len(c.Top))),
		app.If(len(c.Top) > 0, app.Div().Class("table-wrap").Body(app.Table().Class("data").ID("catalogue-top").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("Rank"), app.Th().Text("File"), app.Th().Text("P(lens)"), app.Th().Text("RA"), app.Th().Text("Dec"))),
			app.TBody().Body(app.Range(c.Top).Slice(func(i int) app.UI {
				r := c.Top[i]
				return app.Tr().Body(app.Td().Text(r.Rank), app.Td().Class("mono").Text(r.File), app.Td().Text(strconv.FormatFloat(r.LensProb, 'f', 4, 64)),
					app.Td().Text(degrees(r.RA)), app.Td().Text(degrees(r.Dec)))
			})),
		))),
	)
}

// degrees formats a coordinate in degrees, or a dash for none.
func degrees(v *float64) string {
	if v == nil {
		return "–"
	}
	return strconv.FormatFloat(*v, 'f', 5, 64)
}

// trains reports whether runs of kind k train a model (and so have
// curves to draw); simulate and score-batch runs only report progress.
func trains(k shared.RunKind) bool {
	return k == shared.KindPretrain || k == shared.KindFinetune || k == shared.KindReproduce
}

func accuracyTitle(r shared.Run) string {
	if r.Kind == shared.KindPretrain {
		return "kNN accuracy (val)"
	}
	return "Validation accuracy and AUC"
}

// runFacts is the line of facts under a run's title.
func runFacts(r shared.Run, now time.Time) string {
	parts := []string{string(r.Kind)}
	if r.CreatedBy != "" {
		parts = append(parts, "by "+r.CreatedBy)
	}
	parts = append(parts, "created "+ago(r.Created, now))
	if e := elapsed(r, now); e != "" {
		parts = append(parts, "ran "+e)
	}
	if r.Host != "" {
		parts = append(parts, "on "+r.Host)
	}
	if r.Device != "" {
		parts = append(parts, "GPU "+r.Device)
	}
	if c := r.Cluster; c != nil {
		parts = append(parts, clusterFacts(*c))
	}
	if r.Dir != "" {
		parts = append(parts, "folder "+r.Dir)
	}
	return strings.Join(parts, " · ")
}

// clusterFacts words a cluster job's state: "Slurm job 12 pending
// (Priority) in partition gpu", "... running on node n07 in partition gpu".
func clusterFacts(c shared.ClusterJob) string {
	s := "Slurm job " + c.Job + " " + c.State
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	if c.Node != "" {
		s += " on node " + c.Node
	}
	if c.Partition != "" {
		s += " in partition " + c.Partition
	}
	return s
}

func (v *RunView) finalTable() app.UI {
	evs := v.m.finalEvals()
	if len(evs) == 0 {
		return app.If(false)
	}
	opt := func(p *float64, f func(float64) string) string {
		if p == nil {
			return "–"
		}
		return f(*p)
	}
	// The loss column only when an evaluation recorded one.
	hasLoss := slices.ContainsFunc(evs, func(e shared.Metric) bool { return e.Loss != nil })
	return app.Section().Class("card").Aria("labelledby", "h-final").Body(
		app.H2().ID("h-final").Text("Final evaluation"),
		app.Div().Class("table-wrap").Body(app.Table().Class("data").ID("final-eval").Body(
			app.THead().Body(app.Tr().Body(app.Th().Text("model"), app.Th().Text("split"), app.Th().Text("accuracy"), app.Th().Text("AUC"),
				app.If(hasLoss, app.Th().Text("loss")))),
			app.TBody().Body(app.Range(evs).Slice(func(i int) app.UI {
				e := evs[i]
				return app.Tr().Body(
					app.Td().Text(e.Model), app.Td().Text(e.Split),
					app.Td().Text(opt(e.Accuracy, percent)),
					app.Td().Text(opt(e.AUC, func(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) })),
					app.If(hasLoss, app.Td().Text(opt(e.Loss, chart.Value))),
				)
			})),
		)),
	)
}

func (v *RunView) logTail() app.UI {
	if len(v.m.logs) == 0 {
		return app.P().Class("muted").Text("No output yet.")
	}
	return app.Pre().Class("log").ID("log").TabIndex(0).Aria("label", "Run output").Body(app.Range(v.m.logs).Slice(func(i int) app.UI {
		l := v.m.logs[i]
		return app.Span().Class("log-" + l.Stream).Text(l.Text + "\n")
	}))
}

func (v *RunView) checkpointList() app.UI {
	if len(v.checkpoints) == 0 {
		saved := v.m.savedCheckpoints()
		if len(saved) == 0 {
			return app.P().Class("muted").Text("No checkpoint yet.")
		}
		names := make([]string, len(saved))
		for i, c := range saved {
			names[i] = fmt.Sprintf("%s (epoch %d)", c.Checkpoint, c.Epoch)
		}
		return app.P().ID("saved-checkpoints").Text("Saved so far: " + strings.Join(names, ", ") +
			". They can be used to score and fine-tune once the run has finished.")
	}
	return app.Ul().Class("plain").Body(app.Range(v.checkpoints).Slice(func(i int) app.UI {
		c := v.checkpoints[i]
		kind := "backbone"
		if c.Classifier {
			kind = "classifier"
		}
		return app.Li().Textf("%s · %s %s · epoch %d, step %d", c.Name, c.Preset, kind, c.Epoch, c.Step)
	}))
}
