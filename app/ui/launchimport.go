package ui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/shared"
)

// importForm is the launch page's form to import public pretrained
// weights (run kind import): a file an operator placed under the data
// folder becomes a backbone checkpoint, listed then under "Pretrained
// backbone" like a pretraining run's.
type importForm struct {
	source, name string
	heads        string // as typed; empty: the importer's rule (width / 64)
	from         string // teacher (default) or student
	keep         bool   // keep the stored channel order
	formState
}

// formState is what the Launch page's run forms share: the field errors
// shown and whether a request is out.
type formState struct {
	errs []shared.FieldError
	busy bool
}

// submitForm checks a form's request and queues the run, then opens its
// run page; field errors, the form's own or the server's, show beside
// their fields.
func (l *Launch) submitForm(ctx app.Context, f *formState, request func() (shared.CreateRunRequest, []shared.FieldError)) {
	if f.busy {
		return
	}
	req, errs := request()
	if f.errs = errs; len(errs) > 0 {
		return
	}
	f.busy = true
	l.createRun(ctx, req, func() { f.busy = false }, func(fe []shared.FieldError) { f.errs = fe })
}

// request is the run the form describes, or the field errors found
// before asking the server (which checks the file itself).
func (f *importForm) request() (shared.CreateRunRequest, []shared.FieldError) {
	imp := shared.ImportRequest{Source: strings.TrimSpace(f.source), From: f.from, KeepChannels: f.keep}
	var errs []shared.FieldError
	if err := imp.CheckSource(); err != nil {
		errs = append(errs, shared.FieldError{Key: "import.source", Message: err.Error()})
	}
	if h := strings.TrimSpace(f.heads); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 {
			errs = append(errs, shared.FieldError{Key: "import.heads", Message: fmt.Sprintf("%q: want a whole number of heads, or nothing for width / 64", h)})
		}
		imp.Heads = n
	}
	return shared.CreateRunRequest{Kind: shared.KindImport, Name: strings.TrimSpace(f.name), Import: &imp}, errs
}

func (l *Launch) onImport(ctx app.Context, e app.Event) {
	e.PreventDefault()
	l.submitImport(ctx)
}

// submitImport queues the import form's run.
func (l *Launch) submitImport(ctx app.Context) { l.submitForm(ctx, &l.imp.formState, l.imp.request) }

// importCard draws the import form.
func (l *Launch) importCard() app.UI {
	f := &l.imp
	label := "Import weights"
	if f.busy {
		label = "Importing…"
	}
	from := []option{{"", "teacher (DINO, iBOT default)"}, {"student", "student"}}
	return app.Form().Class("card launch-form").ID("import-form").OnSubmit(l.on(l.onImport)).Body(
		app.H2().ID("h-import").Text("Import pretrained weights"),
		app.P().Class("muted").Text("A ViT/8 backbone from a safetensors file or a PyTorch checkpoint (timm, DINO, iBOT) that was placed in the data folder, e.g. weights/dino_deitsmall8_pretrain.pth. "+
			"It becomes a checkpoint that the form above fine-tunes from, normalised with the dataset's statistics."),
		app.Div().Class("form-grid").Body(
			app.Div().Class("field").Body(
				app.Label().For("i-source").Text("File, relative to the data folder"),
				app.Input().ID("i-source").Placeholder("weights/dino_deitsmall8_pretrain.pth").Value(f.source).OnInput(l.ValueTo(&f.source)),
				fieldError(f.errs, "import.source"),
				fieldError(f.errs, "kind"),
			),
			app.Div().Class("field").Body(
				app.Label().For("i-name").Text("Run name (optional)"),
				app.Input().ID("i-name").Placeholder("e.g. dino-vits8").Value(f.name).OnInput(l.ValueTo(&f.name)),
				fieldError(f.errs, "name"),
			),
			app.Div().Class("field").Body(
				app.Label().For("i-heads").Text("Attention heads (optional; default width / 64)"),
				app.Input().ID("i-heads").Type("number").Min(1).Value(f.heads).OnInput(l.ValueTo(&f.heads)),
				fieldError(f.errs, "import.heads"),
			),
			app.Div().Class("field").Body(
				selectField("i-from", "State dict", f.from, from, func(ctx app.Context, e app.Event) { f.from = value(e) }),
				fieldError(f.errs, "import.from"),
			),
			app.Div().Class("field").Body(
				app.Label().For("i-keep").Body(
					app.Input().ID("i-keep").Type("checkbox").Checked(f.keep).OnChange(func(ctx app.Context, e app.Event) {
						f.keep = e.Get("target").Get("checked").Bool()
					}),
					app.Text(" Keep the stored channel order (default: bands i, r, g onto R, G, B)"),
				),
			),
		),
		app.Div().Class("actions").Body(
			app.Button().Type("submit").ID("import").Class("button").Disabled(f.busy).Text(label),
		),
	)
}

// backboneLabel names a checkpoint in the "Pretrained backbone" list; an
// import has no epochs.
func backboneLabel(c shared.Checkpoint) string {
	if c.Epoch == 0 {
		return fmt.Sprintf("%s · %s · %s", c.RunName, c.Preset, c.Name)
	}
	return fmt.Sprintf("%s · %s · %s epoch %d", c.RunName, c.Preset, c.Name, c.Epoch)
}
