package ui

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// perPage is the dataset grid's page size: 6 rows of 8 at 1280 px.
const perPage = 48

// browseQuery is the dataset browser's state, kept in the URL query
// (/datasets?dataset=1&split=test&class=lenses&sort=theta_e&order=desc&page=2).
type browseQuery struct {
	Dataset int64
	api.ImageQuery
}

func parseBrowse(v url.Values) browseQuery {
	q := browseQuery{}
	q.Dataset, _ = strconv.ParseInt(v.Get("dataset"), 10, 64)
	q.Split = oneOf(v.Get("split"), "train", "val", "test")
	q.Class = oneOf(v.Get("class"), shared.ClassLens, shared.ClassNonLens, shared.ClassUnlabelled)
	q.Sort = v.Get("sort")
	q.Desc = v.Get("order") == "desc"
	q.Page, _ = strconv.Atoi(v.Get("page"))
	q.Page = max(q.Page, 1)
	q.PerPage = perPage
	return q
}

// oneOf returns s when it is one of allowed, else "".
func oneOf(s string, allowed ...string) string {
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	return ""
}

// URL returns the browser's address for q.
func (q browseQuery) URL() string {
	v := q.Values()
	v.Del("per_page")
	if q.Page <= 1 {
		v.Del("page")
	}
	if q.Dataset > 0 {
		v.Set("dataset", strconv.FormatInt(q.Dataset, 10))
	}
	if len(v) == 0 {
		return "/datasets"
	}
	return "/datasets?" + v.Encode()
}

// pages returns the number of pages total images fill.
func pages(total, per int) int {
	if total <= 0 || per <= 0 {
		return 1
	}
	return (total + per - 1) / per
}

// Datasets is the dataset browser: a grid of RGB thumbnails with filters,
// sorting by simulator parameters and paging.
type Datasets struct {
	app.Compo
	page

	q        browseQuery
	datasets []shared.Dataset
	result   *shared.ImagePage
	shown    string // the address of the query result answers
	fetching bool
}

// OnNav reads the query and loads the page of images it names.
func (d *Datasets) OnNav(ctx app.Context) {
	d.q = parseBrowse(ctx.Page().URL().Query())
	if d.datasets != nil {
		d.loadImages(ctx)
		return
	}
	d.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		ctx.Async(func() {
			ds, err := d.env.API.Datasets(ctx)
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					d.fail(ctx, err)
					return
				}
				d.datasets = ds
				d.loadImages(ctx)
			})
		})
	})
}

// current returns the dataset the query names, else the first ready one.
func (d *Datasets) current() *shared.Dataset {
	for i := range d.datasets {
		if d.datasets[i].ID == d.q.Dataset {
			return &d.datasets[i]
		}
	}
	for i := range d.datasets {
		if d.datasets[i].State == shared.DatasetReady {
			return &d.datasets[i]
		}
	}
	return nil
}

func (d *Datasets) loadImages(ctx app.Context) {
	ds := d.current()
	if ds == nil || ds.State != shared.DatasetReady {
		d.result = nil
		d.ready()
		return
	}
	q := d.q
	q.Dataset = ds.ID
	d.fetching = true
	ctx.Async(func() {
		p, err := d.env.API.Images(ctx, q.Dataset, q.ImageQuery)
		ctx.Dispatch(func(ctx app.Context) {
			d.fetching = false
			if err != nil {
				d.fail(ctx, err)
				return
			}
			d.result = &p
			d.shown = q.URL()
			d.ready()
		})
	})
}

// set navigates to the query changed by f, back on page 1 unless f sets
// the page.
func (d *Datasets) set(ctx app.Context, f func(q *browseQuery)) {
	q := d.q
	if ds := d.current(); ds != nil {
		q.Dataset = ds.ID
	}
	q.Page = 1
	f(&q)
	ctx.Navigate(q.URL())
}

func (d *Datasets) onSelect(f func(q *browseQuery, v string)) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		v := value(e)
		d.set(ctx, func(q *browseQuery) { f(q, v) })
	}
}

// Render draws the filters, the grid and the pager.
func (d *Datasets) Render() app.UI {
	ds := d.current()
	return d.frame("datasets", "/datasets",
		app.Div().Class("page-head").Body(
			app.H1().Text("Datasets"),
			app.If(ds != nil, app.P().Class("muted").Text(datasetLine(ds))),
		),
		d.filters(ds),
		d.grid(ds),
	)
}

func datasetLine(ds *shared.Dataset) string {
	if ds == nil {
		return ""
	}
	s := classCounts(*ds) + originNote(*ds)
	for _, split := range []string{"train", "val", "test"} {
		c, ok := ds.Splits[split]
		switch {
		case !ok:
		case ds.Unlabelled > 0 && ds.Lenses+ds.NonLenses == 0:
			s += fmt.Sprintf(" · %s %d", split, c.Unlabelled)
		default:
			s += fmt.Sprintf(" · %s %d/%d", split, c.Lenses, c.NonLenses)
		}
	}
	return s
}

// classCounts says how many images of each class a dataset holds.
func classCounts(ds shared.Dataset) string {
	if ds.Unlabelled > 0 && ds.Lenses+ds.NonLenses == 0 {
		return fmt.Sprintf("%d images, unlabelled", ds.Images)
	}
	s := fmt.Sprintf("%d images: %d lenses, %d non-lenses", ds.Images, ds.Lenses, ds.NonLenses)
	if ds.Unlabelled > 0 {
		s += fmt.Sprintf(", %d unlabelled", ds.Unlabelled)
	}
	return s
}

// originNote says where a dataset came from: the simulator's preset or
// the imported folder or archive.
func originNote(ds shared.Dataset) string {
	switch {
	case ds.Source != "":
		return " · imported from " + ds.Source
	case ds.Survey != "":
		return " · simulated, " + ds.Survey + " preset"
	}
	return ""
}

func (d *Datasets) filters(ds *shared.Dataset) app.UI {
	if ds == nil {
		return app.Div()
	}
	sortKeys := append([]string{"name"}, ds.SortKeys...)
	sortBy := d.q.Sort
	if sortBy == "" {
		sortBy = "name"
	}
	return app.Form().Class("filters").Aria("label", "Filters").OnSubmit(func(ctx app.Context, e app.Event) { e.PreventDefault() }).Body(
		selectField("f-dataset", "Dataset", strconv.FormatInt(ds.ID, 10), datasetOptions(d.datasets),
			d.onSelect(func(q *browseQuery, v string) { q.Dataset, _ = strconv.ParseInt(v, 10, 64); q.Sort = "" })),
		selectField("f-split", "Split", d.q.Split, []option{{"", "all splits"}, {"train", "train"}, {"val", "val"}, {"test", "test"}},
			d.onSelect(func(q *browseQuery, v string) { q.Split = v })),
		selectField("f-class", "Class", d.q.Class, classOptions(*ds),
			d.onSelect(func(q *browseQuery, v string) { q.Class = v })),
		selectField("f-sort", "Sort by", sortBy, plainOptions(sortKeys),
			d.onSelect(func(q *browseQuery, v string) { q.Sort = v })),
		selectField("f-order", "Order", map[bool]string{false: "asc", true: "desc"}[d.q.Desc],
			[]option{{"asc", "ascending"}, {"desc", "descending"}},
			d.onSelect(func(q *browseQuery, v string) {
				q.Desc = v == "desc"
				if q.Sort == "" {
					q.Sort = "name"
				}
			})),
		app.If(d.fetching, spinner("Loading images…")),
	)
}

// classOptions are the class filter's choices for a dataset: unlabelled
// only where it has unlabelled images.
func classOptions(ds shared.Dataset) []option {
	opts := []option{{"", "all classes"}, {shared.ClassLens, "lenses"}, {shared.ClassNonLens, "non-lenses"}}
	if ds.Unlabelled > 0 {
		opts = append(opts, option{shared.ClassUnlabelled, "unlabelled"})
	}
	return opts
}

func datasetOptions(ds []shared.Dataset) []option {
	out := make([]option, len(ds))
	for i, d := range ds {
		label := d.Name
		if d.State != shared.DatasetReady {
			label += " (" + string(d.State) + ")"
		}
		out[i] = option{strconv.FormatInt(d.ID, 10), label}
	}
	return out
}

func (d *Datasets) grid(ds *shared.Dataset) app.UI {
	switch {
	case d.datasets == nil:
		return spinner("Loading datasets…")
	case ds == nil && len(d.datasets) == 0:
		return emptyState("There is no dataset yet. The first start simulates the default one; it appears here when it is ready.")
	case ds == nil:
		return emptyState("No dataset is ready yet; one is being built.", app.A().Href("/runs").Text("See its progress"))
	case ds.State != shared.DatasetReady:
		return emptyState(fmt.Sprintf("Dataset %s is %s.", ds.Name, ds.State), app.A().Href(fmt.Sprintf("/runs/%d", ds.Job)).Text("See its job"))
	case d.result == nil:
		return spinner("Loading images…")
	case len(d.result.Images) == 0:
		return emptyState("No image matches these filters.", app.A().Href(fmt.Sprintf("/datasets?dataset=%d", ds.ID)).Text("Clear the filters"))
	}
	r := d.result
	sortKey := d.q.Sort
	return app.Div().Body(
		app.Ul().Class("thumbs").ID("thumbs").DataSet("query", d.shown).Body(app.Range(r.Images).Slice(func(i int) app.UI {
			im := r.Images[i]
			caption := im.ID
			if v, ok := im.Params[sortKey]; ok {
				caption = fmt.Sprintf("%s = %.3g", sortKey, v)
			}
			return app.Li().Body(app.A().Class("thumb").Href(imageHref(ds.ID, im.ID)).Title(im.ID).Body(
				app.Img().Src(api.ImagePNG(ds.ID, im.ID, api.PNG{Scale: 3})).Alt(im.ID).Width(96).Height(96).Attr("loading", "lazy"),
				app.Span().Class("thumb-caption").Body(
					app.Span().Class("badge "+im.Class).Text(classLabel(im.Class)),
					app.If(im.Split != "", app.Span().Class("badge").Text(im.Split)),
					app.Span().Class("small").Text(caption),
				),
			))
		})),
		d.pager(r),
	)
}

func (d *Datasets) pager(r *shared.ImagePage) app.UI {
	n := pages(r.Total, r.PerPage)
	prev, nextQ := d.q, d.q
	prev.Page, nextQ.Page = r.Page-1, r.Page+1
	if ds := d.current(); ds != nil {
		prev.Dataset, nextQ.Dataset = ds.ID, ds.ID
	}
	return app.Nav().Class("pager").Aria("label", "Pages").Body(
		app.If(r.Page > 1, app.A().Class("button").ID("prev-page").Href(prev.URL()).Text("← Previous")),
		app.Span().Class("muted").Textf("Page %d of %d · %d images", r.Page, n, r.Total),
		app.If(r.Page < n, app.A().Class("button").ID("next-page").Href(nextQ.URL()).Text("Next →")),
	)
}

// imageHref is the detail page of a dataset image.
func imageHref(dataset int64, id string) string {
	return fmt.Sprintf("/datasets/%d/images/%s", dataset, api.EscapeID(id))
}

func classLabel(c string) string {
	switch c {
	case shared.ClassLens:
		return "lens"
	case shared.ClassUnlabelled:
		return "unlabelled"
	}
	return "non-lens"
}

// option is one choice of a select element.
type option struct{ value, label string }

func plainOptions(vs []string) []option {
	out := make([]option, len(vs))
	for i, v := range vs {
		out[i] = option{v, v}
	}
	return out
}

// selectField is a labelled select whose change calls onChange.
func selectField(id, label, value string, opts []option, onChange app.EventHandler) app.UI {
	return app.Div().Class("field").Body(
		app.Label().For(id).Text(label),
		app.Select().ID(id).OnChange(onChange).Body(app.Range(opts).Slice(func(i int) app.UI {
			return optionUI(opts[i], opts[i].value == value)
		})),
	)
}

// optionUI is one option of a select. Only the chosen option carries the
// selected attribute: in prerendered HTML, selected="false" still selects.
func optionUI(o option, selected bool) app.UI {
	opt := app.Option().Value(o.value).Text(o.label)
	if selected {
		opt = opt.Selected(true)
	}
	return opt
}
