package ui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// launchField is a form field that edits one config key.
type launchField struct {
	id, label    string
	section, key string
	options      []string // a select's choices; none: a number input
	quote        bool     // write the value quoted ("300")
	unset        string   // what the select shows when the YAML lacks the key
}

var launchFields = []launchField{
	{"l-method", "Method", "experiment", "ssl_training", []string{"supervised", "finetune", "dino", "ibot", "simsiam"}, false, ""},
	{"l-backbone", "Backbone", "network", "backbone", []string{"vit_nano", "vit_tiny", "vit_small", "vit_base"}, false, ""},
	{"l-labels", "Labelled images", "finetune", "labels", []string{"300", "600", "1200", "all"}, true, ""},
	{"l-epochs", "Epochs", "train args", "num_epochs", nil, false, ""},
	{"l-device", "Device", "experiment", "device", []string{"cpu", "cuda"}, false, "cpu"},
}

// shownFields are the fields the form shows for method: the fine-tuning
// ones for classifiers only, the device where the server has GPUs and the
// method trains a classifier (pretraining runs on the CPU).
func (l *Launch) shownFields(method string) []launchField {
	var out []launchField
	for _, f := range launchFields {
		classifierOnly := f.section == "finetune" || f.key == "device"
		switch {
		case classifierOnly && kindOf(method) == shared.KindPretrain:
		case f.key == "device" && (l.sess == nil || l.sess.GPUs == 0):
		default:
			out = append(out, f)
		}
	}
	return out
}

// pretrainMethods train a backbone without labels (run kind pretrain);
// the others train a classifier (kind finetune).
var pretrainMethods = []string{"dino", "ibot", "simsiam"}

// kindOf returns the run kind that trains method.
func kindOf(method string) shared.RunKind {
	if oneOf(method, pretrainMethods...) != "" {
		return shared.KindPretrain
	}
	return shared.KindFinetune
}

// Launch is the admins' form to start a pretraining or classifier run:
// a shipped config as the start, the common choices as fields, and the
// YAML itself. The server validates the config as it is edited, so errors
// show beside the field they concern before submitting. A second form
// imports public pretrained weights as a backbone to fine-tune from; a
// third scores a survey's cutouts on the server into a ranked catalogue.
type Launch struct {
	app.Compo
	page

	templates   []shared.ConfigTemplate
	datasets    []shared.Dataset
	checkpoints []shared.Checkpoint // backbones to fine-tune from
	template    string
	name        string
	dataset     int64
	checkpoint  int64
	yaml        string
	errs        []shared.FieldError
	warnings    []string
	memory      *shared.MemoryEstimate
	validated   bool // errs, warnings and memory answer the current YAML
	gen         int
	busy        bool
	imp         importForm
	survey      surveyForm
	data        dataForm
	graded      gradedForm
}

// OnMount loads the templates, datasets and pretrained checkpoints.
func (l *Launch) OnMount(ctx app.Context) {
	l.start(ctx, shared.RoleAdmin, func(ctx app.Context) {
		c := l.env.API
		ctx.Async(func() {
			ts, err := c.Configs(ctx)
			var ds []shared.Dataset
			if err == nil {
				ds, err = c.Datasets(ctx)
			}
			var cps []shared.Checkpoint
			if err == nil {
				cps, err = pretrainedCheckpoints(ctx, c)
			}
			var models shared.ModelStatus
			if err == nil {
				models, err = c.Models(ctx)
			}
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					l.fail(ctx, err)
					return
				}
				l.templates, l.datasets, l.checkpoints = ts, ds, cps
				l.survey.classifiers, l.survey.checkpoint = models.Checkpoints, models.Default
				for _, d := range ds {
					if d.State == shared.DatasetReady {
						l.dataset = d.ID
						break
					}
				}
				l.pick(ctx, launchDefault(ts))
				l.ready()
			})
		})
	})
}

// backboneKinds are the run kinds whose checkpoints are backbones to
// fine-tune from: pretraining runs' and imports of public weights.
var backboneKinds = []shared.RunKind{shared.KindPretrain, shared.KindImport}

// pretrainedCheckpoints lists the checkpoints of the newest ten succeeded
// runs of each backbone kind.
func pretrainedCheckpoints(ctx app.Context, c *api.Client) ([]shared.Checkpoint, error) {
	var out []shared.Checkpoint
	for _, k := range backboneKinds {
		runs, err := c.Runs(ctx, k, shared.StateSucceeded)
		if err != nil {
			return nil, err
		}
		for _, r := range runs[:min(len(runs), 10)] {
			cs, err := c.Checkpoints(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, cs...)
		}
	}
	return out, nil
}

// launchDefault is the template the form starts from: the small
// supervised baseline, which trains in minutes.
func launchDefault(ts []shared.ConfigTemplate) string {
	for _, t := range ts {
		if t.Name == "supervised-vit-nano" {
			return t.Name
		}
	}
	if len(ts) > 0 {
		return ts[0].Name
	}
	return ""
}

func (l *Launch) pick(ctx app.Context, name string) {
	for _, t := range l.templates {
		if t.Name == name {
			l.template, l.yaml = name, t.YAML
			setEditor(ctx, "l-yaml", l.yaml)
			l.validate(ctx)
		}
	}
}

// validate asks the server to check the YAML; only the newest answer
// counts.
func (l *Launch) validate(ctx app.Context) {
	l.gen++
	gen, yaml := l.gen, l.yaml
	l.validated = false
	ctx.Async(func() {
		r, err := l.env.API.ValidateConfig(ctx, yaml)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != l.gen {
				return
			}
			if err != nil {
				l.fail(ctx, err)
				return
			}
			l.errs, l.warnings, l.memory, l.validated = r.Errors, r.Warnings, r.Memory, true
		})
	})
}

func (l *Launch) onTemplate(ctx app.Context, e app.Event) {
	l.pick(ctx, value(e))
}

func (l *Launch) onField(f launchField) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		v := strings.TrimSpace(value(e))
		if f.quote {
			v = strconv.Quote(v)
		}
		l.yaml = yamlSet(l.yaml, f.section, f.key, v)
		l.template = ""
		setEditor(ctx, "l-yaml", l.yaml)
		l.validate(ctx)
	}
}

func (l *Launch) onYAML(ctx app.Context, e app.Event) {
	l.yaml = value(e)
	l.template = ""
	afterEdit(ctx, &l.gen, l.validate)
}

// method is the config's experiment.ssl_training.
func (l *Launch) method() string {
	v, _ := yamlGet(l.yaml, "experiment", "ssl_training")
	return v
}

// request is the run the form describes.
func (l *Launch) request() shared.CreateRunRequest {
	r := shared.CreateRunRequest{Kind: kindOf(l.method()), Name: strings.TrimSpace(l.name), Config: l.yaml, Dataset: l.dataset}
	if l.method() == "finetune" {
		r.Checkpoint = l.checkpoint
	}
	return r
}

func (l *Launch) submit(ctx app.Context, e app.Event) {
	e.PreventDefault()
	if l.busy {
		return
	}
	if l.method() == "finetune" && l.checkpoint == 0 {
		if v, _ := yamlGet(l.yaml, "finetune", "checkpoint"); v == "" {
			l.errs = []shared.FieldError{{Key: "checkpoint", Message: "choose the pretrained backbone to fine-tune"}}
			return
		}
	}
	l.busy = true
	l.notice = "Launching…"
	req := l.request()
	l.createRun(ctx, req, func() { l.busy, l.notice = false, "" }, func(fe []shared.FieldError) {
		l.errs = fe
		l.state, l.err = stateError, "The run was not launched: fix the fields marked below."
	})
}

// createRun submits req and opens the new run's page. done runs when the
// answer is in; fields gets the errors the server marks by field.
func (l *Launch) createRun(ctx app.Context, req shared.CreateRunRequest, done func(), fields func([]shared.FieldError)) {
	l.queue(ctx, func() (shared.Run, error) { return l.env.API.CreateRun(ctx, req) }, done, fields)
}

// queue asks for a run with call (a run, or a dataset's building run) and
// opens its page; done and fields are as for createRun.
func (l *Launch) queue(ctx app.Context, call func() (shared.Run, error), done func(), fields func([]shared.FieldError)) {
	ctx.Async(func() {
		r, err := call()
		ctx.Dispatch(func(ctx app.Context) {
			done()
			if fe := api.FieldErrors(err); len(fe) > 0 {
				fields(fe)
				return
			}
			if err != nil {
				l.fail(ctx, err)
				return
			}
			ctx.Navigate(fmt.Sprintf("/runs/%d", r.ID))
		})
	})
}

// Render draws the form.
func (l *Launch) Render() app.UI {
	tOpts := make([]option, 0, len(l.templates)+1)
	if l.template == "" {
		tOpts = append(tOpts, option{"", "edited config"})
	}
	for _, t := range l.templates {
		tOpts = append(tOpts, option{t.Name, fmt.Sprintf("%s (%s, %s)", t.Name, t.Method, t.Backbone)})
	}
	dOpts := []option{}
	for _, d := range l.datasets {
		if d.State == shared.DatasetReady {
			dOpts = append(dOpts, option{strconv.FormatInt(d.ID, 10), fmt.Sprintf("%s (%d images)", d.Name, d.Images)})
		}
	}
	cOpts := []option{{"0", "none chosen"}}
	for _, c := range l.checkpoints {
		cOpts = append(cOpts, option{strconv.FormatInt(c.ID, 10), backboneLabel(c)})
	}
	method := l.method()
	fields := l.shownFields(method)
	submit := "Launch " + string(kindOf(method)) + " run"
	if l.busy {
		submit = "Launching…"
	}
	valid := "checking…"
	switch {
	case l.validated && len(l.errs) == 0:
		valid = "config valid"
	case l.validated || len(l.errs) > 0:
		valid = plural(len(l.errs), "problem")
	}
	validClass := "badge muted"
	switch {
	case l.validated && len(l.errs) == 0:
		validClass = "badge ok"
	case len(l.errs) > 0:
		validClass = "badge bad"
	}
	return l.frame("launch", "/launch",
		app.Div().Class("page-head").Body(
			app.H1().Text("Launch a run"),
			app.Span().ID("validity").Class(validClass).Text(valid),
		),
		app.If(l.templates == nil && l.state == stateLoading, spinner("Loading configs…")),
		app.Form().Class("card launch-form").ID("launch-form").OnSubmit(l.on(l.submit)).Body(
			app.Div().Class("form-grid").Body(
				selectField("l-template", "Start from", l.template, tOpts, l.on(l.onTemplate)),
				app.Div().Class("field").Body(
					app.Label().For("l-name").Text("Run name (optional)"),
					app.Input().ID("l-name").Placeholder("e.g. dino-small-300").OnInput(l.ValueTo(&l.name)),
					fieldError(l.errs, "name"),
				),
				app.Div().Class("field").Body(
					selectField("l-dataset", "Dataset", strconv.FormatInt(l.dataset, 10), dOpts, func(ctx app.Context, e app.Event) {
						l.dataset, _ = strconv.ParseInt(value(e), 10, 64)
					}),
					fieldError(l.errs, "dataset"),
				),
				app.Range(fields).Slice(func(i int) app.UI { return l.configField(fields[i]) }),
				app.If(method == "finetune", app.Div().Class("field").Body(
					selectField("l-checkpoint", "Pretrained backbone", strconv.FormatInt(l.checkpoint, 10), cOpts, func(ctx app.Context, e app.Event) {
						l.checkpoint, _ = strconv.ParseInt(value(e), 10, 64)
						l.errs = removeKey(l.errs, "checkpoint")
					}),
					fieldError(l.errs, "checkpoint"),
				)),
			),
			app.Div().Class("field").Body(
				app.Label().For("l-yaml").Text("Config (YAML)"),
				yamlEditor("l-yaml", l.yaml, l.on(l.onYAML)),
				configErrors(l.errs, l.fieldKeys()...),
				app.Range(l.warnings).Slice(func(i int) app.UI {
					return app.P().Class("field-warning").Text(l.warnings[i])
				}),
				l.memoryLine(),
			),
			app.Div().Class("actions").Body(
				app.Button().Type("submit").ID("launch").Class("button primary").Disabled(l.busy).Text(submit),
			),
		),
		app.If(l.templates != nil, l.importCard()),
		app.If(l.templates != nil, l.surveyCard()),
		app.If(l.templates != nil, l.dataCard()),
		app.If(l.templates != nil, l.gradedCard()),
	)
}

// fieldKeys are the error keys shown beside a form field rather than
// under the YAML.
func (l *Launch) fieldKeys() []string {
	keys := []string{"name", "dataset", "checkpoint"}
	for _, f := range l.shownFields(l.method()) {
		keys = append(keys, f.section+"."+f.key)
	}
	return keys
}

func (l *Launch) configField(f launchField) app.UI {
	v, _ := yamlGet(l.yaml, f.section, f.key)
	if v == "" {
		v = f.unset
	}
	var input app.UI
	if f.options != nil {
		opts := plainOptions(f.options)
		if oneOf(v, f.options...) == "" {
			opts = append([]option{{v, v + " (as in the YAML)"}}, opts...)
		}
		input = app.Select().ID(f.id).OnChange(l.on(l.onField(f))).Body(app.Range(opts).Slice(func(i int) app.UI {
			return optionUI(opts[i], opts[i].value == v)
		}))
	} else {
		input = app.Input().ID(f.id).Type("number").Min(1).Value(v).OnChange(l.on(l.onField(f)))
	}
	key := f.section + "." + f.key
	return app.Div().Class("field").DataSet("key", key).Body(
		app.Label().For(f.id).Text(f.label),
		input,
		app.Span().Class("field-key").Text(key),
		fieldError(l.errs, key),
	)
}

// removeKey drops the errors about key.
func removeKey(errs []shared.FieldError, key string) []shared.FieldError {
	out := errs[:0:0]
	for _, e := range errs {
		if e.Key != key {
			out = append(out, e)
		}
	}
	return out
}

// memoryLine shows the validated config's planned memory.
func (l *Launch) memoryLine() app.UI {
	if !l.validated || l.memory == nil {
		return app.If(false)
	}
	return app.P().ID("l-memory").Class("muted small").Text(memoryNote(*l.memory))
}

// memoryNote says a config's planned step memory.
func memoryNote(m shared.MemoryEstimate) string {
	s := "Estimated peak memory " + binarySize(m.Bytes)
	if m.Chunk < m.Batch {
		s += fmt.Sprintf(", the backbone running over %d of the batch's %d images at a time", m.Chunk, m.Batch)
	}
	if m.Budget > 0 {
		s += "; a job may take " + binarySize(m.Budget) + " on this server"
	}
	return s + "."
}

// binarySize writes bytes in GiB, or MiB below one GiB.
func binarySize(b int64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}
