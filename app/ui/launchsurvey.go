package ui

import (
	"cmp"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// surveyForm is the launch page's form to score cutouts already on the
// server (run kind score-survey): folders, globs and list files under
// the data folder, ranked by a classifier into a catalogue, on a cluster
// optionally as shards.
type surveyForm struct {
	classifiers []shared.Checkpoint // checkpoints that can score
	checkpoint  int64
	paths       string // one per line
	lists       string // one per line
	shards      string // as typed; empty: one job
	device      string // cpu or cuda; offered where the server has GPUs
	name        string
	formState
}

// lines splits a text area into its non-blank lines, trimmed.
func lines(s string) []string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		if ln = strings.TrimSpace(ln); ln != "" {
			out = append(out, ln)
		}
	}
	return out
}

// request is the run the form describes, or the field errors found
// before asking the server (which checks that the paths exist).
func (f *surveyForm) request() (shared.CreateRunRequest, []shared.FieldError) {
	sr := shared.SurveyRequest{Paths: lines(f.paths), Lists: lines(f.lists), Device: f.device}
	var errs []shared.FieldError
	if f.checkpoint == 0 {
		errs = append(errs, shared.FieldError{Key: "checkpoint", Message: "choose a classifier to score with"})
	}
	if len(sr.Paths)+len(sr.Lists) == 0 {
		errs = append(errs, shared.FieldError{Key: "survey.paths", Message: "give a folder, file or glob of cutouts in the data folder, or a list file"})
	}
	for _, group := range []struct {
		key   string
		paths []string
	}{{"survey.paths", sr.Paths}, {"survey.lists", sr.Lists}} {
		for _, p := range group.paths {
			if err := shared.CheckPath(p); err != nil {
				errs = append(errs, shared.FieldError{Key: group.key, Message: err.Error()})
			}
		}
	}
	if s := strings.TrimSpace(f.shards); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, shared.FieldError{Key: "survey.shards", Message: strconv.Quote(s) + ": want a whole number of Slurm jobs, 1 or more"})
		}
		sr.Shards = n
	}
	return shared.CreateRunRequest{Kind: shared.KindSurvey, Name: strings.TrimSpace(f.name), Checkpoint: f.checkpoint, Survey: &sr}, errs
}

func (l *Launch) onSurvey(ctx app.Context, e app.Event) {
	e.PreventDefault()
	l.submitSurvey(ctx)
}

// submitSurvey queues the survey form's run.
func (l *Launch) submitSurvey(ctx app.Context) {
	l.submitForm(ctx, &l.survey.formState, l.survey.request)
}

// surveyCard draws the survey form.
func (l *Launch) surveyCard() app.UI {
	f := &l.survey
	label := "Score the survey"
	if f.busy {
		label = "Queuing…"
	}
	opts := []option{{"0", "none chosen"}}
	for _, c := range f.classifiers {
		opts = append(opts, option{strconv.FormatInt(c.ID, 10), checkpointLabel(c)})
	}
	return app.Form().Class("card launch-form").ID("survey-form").OnSubmit(l.on(l.onSurvey)).Body(
		app.H2().ID("h-survey").Text("Score a survey"),
		app.P().Class("muted").Text("Rank cutouts already on the server (.npy, FITS, PNG) by P(lens) with a classifier, in bounded memory however many there are. "+
			"The run page follows its files/s and time left, and offers the ranking as CSV and as a FITS table with RA/Dec."),
		app.Div().Class("form-grid").Body(
			app.Div().Class("field").Body(
				selectField("s-checkpoint", "Classifier", strconv.FormatInt(f.checkpoint, 10), opts, func(ctx app.Context, e app.Event) {
					f.checkpoint, _ = strconv.ParseInt(value(e), 10, 64)
					f.errs = removeKey(f.errs, "checkpoint")
				}),
				fieldError(f.errs, "checkpoint"),
			),
			app.Div().Class("field").Body(
				app.Label().For("s-name").Text("Run name (optional)"),
				app.Input().ID("s-name").Placeholder("e.g. pdr3-wide").Value(f.name).OnInput(l.ValueTo(&f.name)),
				fieldError(f.errs, "name"),
			),
			app.Div().Class("field").Body(
				app.Label().For("s-paths").Text("Folders, files or globs, relative to the data folder (one per line)"),
				app.Textarea().ID("s-paths").Rows(3).Placeholder("hsc/pdr3\nhsc/extra/*/*.fits").Text(f.paths).OnInput(l.ValueTo(&f.paths)),
				fieldError(f.errs, "survey.paths"),
				fieldError(f.errs, "kind"),
			),
			app.Div().Class("field").Body(
				app.Label().For("s-lists").Text("List files of cutout paths (optional, one per line)"),
				app.Textarea().ID("s-lists").Rows(3).Placeholder("hsc/candidates.txt").Text(f.lists).OnInput(l.ValueTo(&f.lists)),
				fieldError(f.errs, "survey.lists"),
			),
			app.Div().Class("field").Body(
				app.Label().For("s-shards").Text("Slurm jobs (shards; a server running jobs on Slurm only)"),
				app.Input().ID("s-shards").Type("number").Min(1).Placeholder("1").Value(f.shards).OnInput(l.ValueTo(&f.shards)),
				fieldError(f.errs, "survey.shards"),
			),
			app.If(l.sess != nil && l.sess.GPUs > 0, app.Div().Class("field").Body(
				selectField("s-device", "Device", cmp.Or(f.device, "cpu"), plainOptions([]string{"cpu", "cuda"}), func(ctx app.Context, e app.Event) {
					f.device = value(e)
					f.errs = removeKey(f.errs, "survey.device")
				}),
				fieldError(f.errs, "survey.device"),
			)),
		),
		app.Div().Class("actions").Body(
			app.Button().Type("submit").ID("score-survey").Class("button").Disabled(f.busy).Text(label),
		),
	)
}
