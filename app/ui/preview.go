package ui

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// editDelay is how long the preview and launch pages wait after the last
// keystroke in the YAML before asking the server again.
const editDelay = 600 * time.Millisecond

// afterEdit runs f once typing pauses for editDelay. gen is the page's
// request number: afterEdit bumps it, and any later bump (a newer keystroke
// or request) drops this f.
func afterEdit(ctx app.Context, gen *int, f func(app.Context)) {
	*gen++
	want := *gen
	ctx.After(editDelay, func(ctx app.Context) {
		if want == *gen {
			f(ctx)
		}
	})
}

// Preview shows the augmented views (global and local crops, iBOT masks) a
// method config would train on for one image; every change of the image,
// config or seed draws them again.
type Preview struct {
	app.Compo
	page

	datasets  []shared.Dataset
	templates []shared.ConfigTemplate
	dataset   int64
	image     string
	template  string // a template name, or "" when the YAML was edited
	yaml      string
	seed      uint64
	result    *shared.PreviewResponse
	fieldErrs []shared.FieldError
	busy      bool
	gen       int // numbers requests so only the newest answer is shown
}

// OnNav reads ?dataset= and ?image= and loads the templates.
func (p *Preview) OnNav(ctx app.Context) {
	q := ctx.Page().URL().Query()
	p.dataset, _ = strconv.ParseInt(q.Get("dataset"), 10, 64)
	p.image = q.Get("image")
	if p.templates != nil {
		p.ensureImage(ctx)
		return
	}
	if p.seed == 0 {
		p.seed = 1
	}
	p.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		ctx.Async(func() {
			ts, err := p.env.API.Configs(ctx)
			var ds []shared.Dataset
			if err == nil {
				ds, err = p.env.API.Datasets(ctx)
			}
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					p.fail(ctx, err)
					return
				}
				p.templates, p.datasets = ts, ds
				if p.template == "" && p.yaml == "" {
					p.pickTemplate(ctx, defaultTemplate(ts))
				}
				p.ensureImage(ctx)
			})
		})
	})
}

// defaultTemplate prefers the reference iBOT config, whose views show
// both crops and masks.
func defaultTemplate(ts []shared.ConfigTemplate) string {
	for _, want := range []string{"reference/ibot-vit-small", "reference/dino-vit-small"} {
		for _, t := range ts {
			if t.Name == want {
				return t.Name
			}
		}
	}
	for _, t := range ts {
		if t.Kind == shared.KindPretrain {
			return t.Name
		}
	}
	if len(ts) > 0 {
		return ts[0].Name
	}
	return ""
}

func (p *Preview) pickTemplate(ctx app.Context, name string) {
	p.template = name
	for _, t := range p.templates {
		if t.Name == name {
			p.yaml = t.YAML
			setEditor(ctx, "p-yaml", p.yaml)
		}
	}
}

// ensureImage picks the first image of the first ready dataset when the
// address names none, then draws the preview.
func (p *Preview) ensureImage(ctx app.Context) {
	if p.dataset > 0 && p.image != "" {
		p.refresh(ctx)
		return
	}
	ds := int64(0)
	for _, d := range p.datasets {
		if d.State == shared.DatasetReady {
			ds = d.ID
			break
		}
	}
	if ds == 0 {
		p.ready()
		return
	}
	ctx.Async(func() {
		pg, err := p.env.API.Images(ctx, ds, api.ImageQuery{Class: shared.ClassLens, PerPage: 1})
		ctx.Dispatch(func(ctx app.Context) {
			if err != nil {
				p.fail(ctx, err)
				return
			}
			if len(pg.Images) == 0 {
				p.ready()
				return
			}
			p.dataset, p.image = ds, pg.Images[0].ID
			p.refresh(ctx)
		})
	})
}

// request is the preview the current settings ask for.
func (p *Preview) request() shared.PreviewRequest {
	r := shared.PreviewRequest{Dataset: p.dataset, Image: p.image, Seed: p.seed, Scale: 4}
	if p.template != "" {
		r.Template = p.template
	} else {
		r.Config = p.yaml
	}
	return r
}

// refresh asks for the preview of the current settings; answers to older
// requests are dropped.
func (p *Preview) refresh(ctx app.Context) {
	if p.dataset == 0 || p.image == "" || (p.template == "" && strings.TrimSpace(p.yaml) == "") {
		return
	}
	p.gen++
	gen, req := p.gen, p.request()
	p.busy = true
	ctx.Async(func() {
		r, err := p.env.API.Preview(ctx, req)
		ctx.Dispatch(func(ctx app.Context) {
			if gen != p.gen {
				return
			}
			p.busy = false
			p.fieldErrs = api.FieldErrors(err)
			if err != nil {
				if len(p.fieldErrs) > 0 {
					p.state = stateReady // shown beside the config
					return
				}
				p.fail(ctx, err)
				return
			}
			p.result = &r
			p.ready()
		})
	})
}

func (p *Preview) onTemplate(ctx app.Context, e app.Event) {
	p.pickTemplate(ctx, value(e))
	p.refresh(ctx)
}

func (p *Preview) onYAML(ctx app.Context, e app.Event) {
	p.yaml = value(e)
	p.template = ""
	afterEdit(ctx, &p.gen, p.refresh)
}

func (p *Preview) onSeed(ctx app.Context, e app.Event) {
	s, err := strconv.ParseUint(value(e), 10, 64)
	if err != nil {
		p.fieldErrs = []shared.FieldError{{Key: "seed", Message: "the seed is a whole number ≥ 0"}}
		return
	}
	p.seed = s
	p.refresh(ctx)
}

func (p *Preview) reroll(ctx app.Context, e app.Event) {
	p.seed = rand.Uint64N(1 << 31)
	p.refresh(ctx)
}

func (p *Preview) onImage(ctx app.Context, e app.Event) {
	id := strings.TrimSpace(value(e))
	if id == "" || id == p.image {
		return
	}
	ctx.Navigate(fmt.Sprintf("/preview?dataset=%d&image=%s", p.dataset, url.QueryEscape(id)))
}

// Render draws the settings and the views.
func (p *Preview) Render() app.UI {
	opts := make([]option, 0, len(p.templates)+1)
	if p.template == "" {
		opts = append(opts, option{"", "edited config"})
	}
	for _, t := range p.templates {
		opts = append(opts, option{t.Name, t.Name + " (" + t.Method + ")"})
	}
	return p.frame("preview", "/preview",
		app.Div().Class("page-head").Body(
			app.H1().Text("Augmentation preview"),
			app.P().Class("muted").Text("The crops and masks a method trains on, drawn by the same code as training."),
		),
		app.Div().Class("preview-layout").Body(
			app.Form().Class("card settings").Aria("label", "Preview settings").OnSubmit(func(ctx app.Context, e app.Event) { e.PreventDefault() }).Body(
				app.Div().Class("field").Body(
					app.Label().For("p-image").Text("Image"),
					app.Input().ID("p-image").Value(p.image).Placeholder("lenses/12.npy").OnChange(p.onImage),
					app.If(p.image != "" && p.dataset > 0, app.A().Class("small").Href(imageHref(p.dataset, p.image)).Text("image details")),
				),
				selectField("p-template", "Method config", p.template, opts, p.on(p.onTemplate)),
				app.Div().Class("field").Body(
					app.Label().For("p-seed").Text("Seed"),
					app.Div().Class("row").Body(
						app.Input().ID("p-seed").Type("number").Min(0).Value(p.seed).OnChange(p.on(p.onSeed)),
						app.Button().Type("button").ID("reroll").Class("button").Text("Re-roll").OnClick(p.on(p.reroll)),
					),
					fieldError(p.fieldErrs, "seed"),
				),
				app.Div().Class("field").Body(
					app.Label().For("p-yaml").Text("Config (YAML); edits redraw the preview"),
					yamlEditor("p-yaml", p.yaml, p.on(p.onYAML)),
					configErrors(p.fieldErrs, "seed"),
				),
			),
			p.views(),
		),
	)
}

func (p *Preview) views() app.UI {
	r := p.result
	status := app.If(p.busy, spinner("Drawing views…"))
	switch {
	case r == nil && p.state == stateReady && p.image == "":
		return app.Section().Class("card").Body(emptyState("No dataset image to preview yet."))
	case r == nil:
		return app.Section().Class("card").Body(status, app.If(!p.busy, spinner("Waiting for the first preview…")))
	}
	var globals, locals []shared.PreviewView
	for _, v := range r.Views {
		if v.Kind == "global" {
			globals = append(globals, v)
		} else {
			locals = append(locals, v)
		}
	}
	return app.Section().Class("card views").ID("views").Aria("label", "Views").DataSet("seed", r.Seed).Body(
		app.Div().Class("card-head").Body(
			app.H2().Textf("%s, seed %d", r.Method, r.Seed), status,
		),
		app.Range(r.Warnings).Slice(func(i int) app.UI {
			return app.Div().Class("alert notice").Text(r.Warnings[i])
		}),
		app.Div().Class("view-row").Body(
			pngFigure("original", r.Original, "view original"),
		),
		app.H3().Textf("Global crops (%d)", len(globals)),
		app.Div().Class("view-row").Body(app.Range(globals).Slice(func(i int) app.UI {
			v := globals[i]
			return app.Div().Class("view-pair").Body(
				pngFigure(fmt.Sprintf("global %d · %d px", v.Index+1, v.Size), v.PNG, "view global"),
				app.If(len(v.MaskPNG) > 0, pngFigure(fmt.Sprintf("mask %d · %d of %d patches", v.Index+1, count(v.Mask), len(v.Mask)), v.MaskPNG, "view mask")),
			)
		})),
		app.If(len(locals) > 0,
			app.H3().Textf("Local crops (%d)", len(locals)),
			app.Div().Class("view-row").Body(app.Range(locals).Slice(func(i int) app.UI {
				v := locals[i]
				return pngFigure(fmt.Sprintf("local %d · %d px", v.Index+1, v.Size), v.PNG, "view local")
			})),
		),
	)
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// pngFigure shows PNG bytes from a JSON answer as a data URL.
func pngFigure(caption string, png []byte, class string) app.UI {
	return app.Figure().Class(class).Body(
		app.Img().Src("data:image/png;base64,"+base64.StdEncoding.EncodeToString(png)).Alt(caption),
		app.FigCaption().Text(caption),
	)
}

// fieldError shows the error about key, if any, beside its field.
func fieldError(errs []shared.FieldError, key string) app.UI {
	for _, e := range errs {
		if e.Key == key {
			return app.P().Class("field-error").Role("alert").DataSet("key", key).Text(e.Message)
		}
	}
	return app.If(false)
}

// configErrors lists the errors of errs whose key is none of except: the
// config keys, each named.
func configErrors(errs []shared.FieldError, except ...string) app.UI {
	var shown []shared.FieldError
	for _, e := range errs {
		if oneOf(e.Key, except...) == "" {
			shown = append(shown, e)
		}
	}
	return app.Range(shown).Slice(func(i int) app.UI {
		e := shown[i]
		text := e.Message
		if e.Key != "" {
			text = e.Key + ": " + e.Message
		}
		return app.P().Class("field-error").Role("alert").DataSet("key", e.Key).Text(text)
	})
}

// yamlEditor is a config text area the user types in. Its text child is
// the initial content; it is not bound to yaml on every render (go-app
// would rewrite the value as the user types and move the caret), so code
// that replaces the text calls setEditor.
func yamlEditor(id, yaml string, onInput app.EventHandler) app.UI {
	return app.Textarea().ID(id).Rows(16).Spellcheck(false).Attr("autocapitalize", "off").
		Text(yaml).OnInput(onInput)
}

// setEditor replaces a text area's content after the next render (a
// textarea the user has typed in no longer follows its text child).
func setEditor(ctx app.Context, id, text string) {
	ctx.Defer(func(app.Context) {
		if el := app.Window().GetElementByID(id); el.Truthy() {
			el.Set("value", text)
		}
	})
}
