package ui

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/chart"
	"github.com/sslens/sslens/shared"
)

// maxROC is the most ROC curves drawn at once.
const maxROC = 8

// rocFloor is where the ROC charts' logarithmic false-positive axis starts:
// lens searches work at false-positive rates of 1e-3 to 1e-2.
const rocFloor = 1e-3

// resultFilter is the results page's state (?backbone=vit_small&labels=300).
type resultFilter struct {
	Backbone string
	Labels   string // 300, 600, 1200 or all
}

func (f resultFilter) keep(r shared.ResultRow) bool {
	return (f.Backbone == "" || r.Backbone == f.Backbone) && (f.Labels == "" || r.Labels == f.Labels)
}

// keepRef applies the filter to a published row: "all" is the full train
// split.
func (f resultFilter) keepRef(r shared.ReferenceRow) bool {
	if f.Backbone != "" && r.Backbone != f.Backbone {
		return false
	}
	switch f.Labels {
	case "":
		return true
	case "all":
		return r.Labels > 1200
	}
	return strconv.Itoa(r.Labels) == f.Labels
}

func (f resultFilter) url() string {
	v := url.Values{}
	if f.Backbone != "" {
		v.Set("backbone", f.Backbone)
	}
	if f.Labels != "" {
		v.Set("labels", f.Labels)
	}
	if len(v) == 0 {
		return "/results"
	}
	return "/results?" + v.Encode()
}

// keepCell applies the filter to a reproduction's backbone and label count.
func (f resultFilter) keepCell(backbone, labels string) bool {
	return (f.Backbone == "" || backbone == f.Backbone) && (f.Labels == "" || labels == f.Labels)
}

// Results compares the classifiers sslens trained (test accuracy and AUC
// with 95% bootstrap intervals, TPR at low false-positive rates, ROC
// curves) and its reproductions of the reference protocol with the
// reference project's published numbers.
type Results struct {
	app.Compo
	page

	f    resultFilter
	rows []shared.ResultRow
	reps []shared.Reproduction
	ref  *shared.Reference
}

// OnNav reads the filters; the first visit loads the table.
func (r *Results) OnNav(ctx app.Context) {
	q := ctx.Page().URL().Query()
	r.f = resultFilter{Backbone: q.Get("backbone"), Labels: q.Get("labels")}
	if r.rows != nil {
		return
	}
	r.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		ctx.Async(func() {
			res, err := r.env.API.Results(ctx, true)
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					r.fail(ctx, err)
					return
				}
				r.rows, r.reps, r.ref = res.Rows, res.Reproductions, res.Reference
				if r.rows == nil {
					r.rows = []shared.ResultRow{}
				}
				r.ready()
			})
		})
	})
}

func (r *Results) setFilter(set func(f *resultFilter, v string)) app.EventHandler {
	return func(ctx app.Context, e app.Event) {
		f := r.f
		set(&f, value(e))
		ctx.Navigate(f.url())
	}
}

// distinct returns the sorted distinct values of key over rows.
func distinct(rows []shared.ResultRow, key func(shared.ResultRow) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, row := range rows {
		if k := key(row); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Render draws the filters, both tables and the ROC curves.
func (r *Results) Render() app.UI {
	backbones := distinct(r.rows, func(x shared.ResultRow) string { return x.Backbone })
	var more []string
	for _, rp := range r.reps {
		more = append(more, rp.Backbones...)
	}
	if r.ref != nil {
		for _, x := range r.ref.Rows {
			more = append(more, x.Backbone)
		}
	}
	for _, b := range more {
		if oneOf(b, backbones...) == "" {
			backbones = append(backbones, b)
		}
	}
	sort.Strings(backbones)
	var ours []shared.ResultRow
	for _, row := range r.rows {
		if r.f.keep(row) {
			ours = append(ours, row)
		}
	}
	var refs []shared.ReferenceRow
	if r.ref != nil {
		for _, row := range r.ref.Rows {
			if r.f.keepRef(row) {
				refs = append(refs, row)
			}
		}
	}
	return r.frame("results", "/results",
		app.Div().Class("page-head").Body(app.H1().Text("Results")),
		app.Form().Class("filters").Aria("label", "Filters").OnSubmit(func(ctx app.Context, e app.Event) { e.PreventDefault() }).Body(
			selectField("f-backbone", "Backbone", r.f.Backbone, append([]option{{"", "all backbones"}}, plainOptions(backbones)...),
				r.setFilter(func(f *resultFilter, v string) { f.Backbone = v })),
			selectField("f-labels", "Labels", r.f.Labels, []option{{"", "any number"}, {"300", "300"}, {"600", "600"}, {"1200", "1200"}, {"all", "all (full train split)"}},
				r.setFilter(func(f *resultFilter, v string) { f.Labels = v })),
		),
		app.Section().Class("card").Aria("labelledby", "h-ours").Body(
			app.H2().ID("h-ours").Text("sslens (simulated data, test split)"),
			r.oursTable(ours),
		),
		app.Div().Class("grid-2").Body(
			app.Section().Class("card").Aria("labelledby", "h-roc").Body(
				app.H2().ID("h-roc").Text("ROC curves"),
				rocChart(ours),
			),
			r.referenceCard(refs),
		),
		app.Range(r.reps).Slice(func(i int) app.UI { return r.reproductionCard(i) }),
	)
}

// referenceCard shows the published rows with their source and caveat.
func (r *Results) referenceCard(rows []shared.ReferenceRow) app.UI {
	body := []app.UI{app.H2().ID("h-ref").Text("Reference project (published)")}
	if r.ref == nil {
		body = append(body, spinner("Loading the published numbers…"))
	} else {
		body = append(body,
			app.Div().Class("alert notice").ID("ref-caveat").Body(app.Strong().Text("Caveat: "), app.Text(r.ref.Caveat)),
			app.P().Class("muted small").Text(r.ref.Source+". Real HSC images, not sslens's simulated data: compare trends, not digits. Rows marked * are the optimistic ones."),
			refTable(rows),
		)
	}
	return app.Section().Class("card").Aria("labelledby", "h-ref").Body(body...)
}

// reproductionCard draws reproduction i: rows method x backbone, columns
// the label counts (test accuracy and AUC over seeds with 95% intervals,
// and for SSL methods the verdict against supervised training), and its
// ROC curves, all under the page's filters.
func (r *Results) reproductionCard(i int) app.UI {
	rp := r.reps[i]
	id := fmt.Sprintf("reproduction-%d", rp.Run)
	var labels []string
	for _, l := range rp.Labels {
		if r.f.Labels == "" || l == r.f.Labels {
			labels = append(labels, l)
		}
	}
	cells := map[[3]string]shared.ReproduceRow{}
	var curves []shared.ReproduceRow
	for _, row := range rp.Rows {
		cells[[3]string{row.Method, row.Backbone, row.Labels}] = row
		if r.f.keepCell(row.Backbone, row.Labels) {
			curves = append(curves, row)
		}
	}
	verdicts := map[[3]string]shared.Comparison{}
	for _, c := range rp.Comparisons {
		verdicts[[3]string{c.Method, c.Backbone, c.Labels}] = c
	}
	type line struct{ method, backbone string }
	var lines []line
	for _, b := range rp.Backbones {
		if r.f.Backbone != "" && b != r.f.Backbone {
			continue
		}
		for _, m := range rp.Methods {
			lines = append(lines, line{m, b})
		}
	}
	head := []app.UI{app.Th().Text("method"), app.Th().Text("backbone")}
	for _, l := range labels {
		head = append(head, app.Th().Textf("%s labels: accuracy, AUC (95%% CI)", l))
	}
	var table app.UI
	if len(lines) == 0 || len(labels) == 0 {
		table = emptyState("No row of this reproduction matches these filters.", app.A().Href("/results").Text("Clear the filters"))
	} else {
		table = app.Div().Class("table-wrap").Body(app.Table().Class("data reproduce").ID(id+"-table").Body(
			app.THead().Body(app.Tr().Body(head...)),
			app.TBody().Body(app.Range(lines).Slice(func(k int) app.UI {
				ln := lines[k]
				tds := []app.UI{app.Td().Text(ln.method), app.Td().Text(ln.backbone)}
				for _, l := range labels {
					row, ok := cells[[3]string{ln.method, ln.backbone, l}]
					if !ok {
						tds = append(tds, app.Td().Text("–"))
						continue
					}
					td := []app.UI{
						app.Div().Body(app.Text(percent(row.Accuracy.Mean)), app.Span().Class("ci").Text(" "+interval(&row.Accuracy.CI, true))),
						app.Div().Body(app.Textf("%.4f", row.AUC.Mean), app.Span().Class("ci").Text(" "+interval(&row.AUC.CI, false))),
					}
					if c, ok := verdicts[[3]string{ln.method, ln.backbone, l}]; ok {
						td = append(td, app.Div().Class("verdict").DataSet("verdict", string(c.Verdict)).Textf("vs supervised: %s (ΔAUC %+.3f, %s%s)",
							c.Verdict, c.AUCDiff.Diff, interval(&c.AUCDiff.CI, false), levelText(c.AUCDiff.Level)))
					}
					tds = append(tds, app.Td().Body(td...))
				}
				return app.Tr().Body(tds...)
			})),
		))
	}
	return app.Section().Class("card").ID(id).Aria("labelledby", id+"-h").Body(
		app.H2().ID(id+"-h").Textf("Reproduction %s", rp.Name),
		app.P().Class("muted small").Body(
			app.A().Href(fmt.Sprintf("/runs/%d", rp.Run)).Text(rp.RunName),
			app.Textf(" · test split %d images (%d lenses, %d non-lenses) · %s · %d bootstrap resamples; mean over seeds, interval of the mean",
				rp.Test.Images, rp.Test.Lenses, rp.Test.NonLenses, plural(len(rp.Seeds), "seed"), rp.Bootstrap),
		),
		table,
		reproduceROC(curves),
	)
}

// reproduceROC draws the first seed's ROC curve of up to maxROC rows.
func reproduceROC(rows []shared.ReproduceRow) app.UI {
	var series []chart.Series
	for _, x := range rows {
		if len(x.ROC) == 0 || len(series) == maxROC {
			continue
		}
		series = append(series, chart.Series{Name: fmt.Sprintf("%s, %s, %s labels (AUC %.3f)", x.Method, x.Backbone, x.Labels, x.AUC.Mean), Points: rocPoints(x.ROC)})
	}
	return &chart.Line{
		Title: "ROC, lens positive (first seed)", XLabel: "false-positive rate (log)", YLabel: "true-positive rate",
		Series: series, X: chart.Range{Min: 0, Max: 1}, Y: chart.Range{Min: 0, Max: 1}, Diagonal: true, LogX: rocFloor,
		Empty: "no ROC points", Width: 360, Height: 320, PlainLegend: true,
	}
}

// rocPoints are a curve's points in increasing false-positive rate.
func rocPoints(roc []shared.ROCPoint) []chart.Point {
	ps := make([]chart.Point, len(roc))
	for i, p := range roc {
		ps[i] = chart.Point{X: p.FPR, Y: p.TPR}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].X < ps[j].X })
	return ps
}

func (r *Results) oursTable(rows []shared.ResultRow) app.UI {
	switch {
	case r.rows == nil:
		return spinner("Loading results…")
	case len(r.rows) == 0:
		return emptyState("No classifier run has finished yet.", app.A().Href("/runs").Text("See the runs"))
	case len(rows) == 0:
		return emptyState("No result matches these filters.", app.A().Href("/results").Text("Clear the filters"))
	}
	return app.Div().Class("table-wrap").Body(app.Table().Class("data").ID("results-table").Body(
		app.THead().Body(app.Tr().Body(
			app.Th().Text("run"), app.Th().Text("method"), app.Th().Text("backbone"), app.Th().Text("labels"),
			app.Th().Text("model"), app.Th().Text("n"),
			app.Th().Text("accuracy (95% CI)"), app.Th().Text("AUC (95% CI)"),
			app.Th().Abbr("TPR at 1% FPR").Text("TPR@1%"), app.Th().Abbr("TPR at 0.1% FPR").Text("TPR@0.1%"),
		)),
		app.TBody().Body(app.Range(rows).Slice(func(i int) app.UI {
			x := rows[i]
			method := x.Method
			if x.Pretrain != "" {
				method = x.Pretrain + " → " + x.Method
			}
			if x.LinearProbe {
				method += " (linear probe)"
			}
			return app.Tr().Body(
				app.Td().Body(app.A().Href(fmt.Sprintf("/runs/%d", x.Run)).Text(x.RunName)),
				app.Td().Text(method), app.Td().Text(x.Backbone), app.Td().Text(x.Labels),
				app.Td().Textf("%s, epoch %d", x.Model, x.Epoch), app.Td().Text(x.N),
				app.Td().Body(app.Text(percent(x.Accuracy)), app.Span().Class("ci").Text(" "+interval(x.AccuracyCI, true))),
				app.Td().Body(app.Textf("%.4f", x.AUC), app.Span().Class("ci").Text(" "+interval(x.AUCCI, false))),
				app.Td().Text(percent(x.TPRAt1)), app.Td().Text(percent(x.TPRAt01)),
			)
		})),
	))
}

// rocChart draws the ROC curves of up to maxROC rows.
func rocChart(rows []shared.ResultRow) app.UI {
	var series []chart.Series
	for _, x := range rows {
		if len(x.ROC) == 0 || len(series) == maxROC {
			continue
		}
		series = append(series, chart.Series{Name: fmt.Sprintf("%s, %s (AUC %.3f)", x.RunName, x.Model, x.AUC), Points: rocPoints(x.ROC)})
	}
	return &chart.Line{
		Title: "ROC, lens positive", XLabel: "false-positive rate (log)", YLabel: "true-positive rate",
		Series: series, X: chart.Range{Min: 0, Max: 1}, Y: chart.Range{Min: 0, Max: 1}, Diagonal: true, LogX: rocFloor,
		Empty: "no ROC points", Width: 360, Height: 320, PlainLegend: true,
	}
}

func refTable(rows []shared.ReferenceRow) app.UI {
	if len(rows) == 0 {
		return app.P().Class("muted").Text("The reference project published no row for these filters.")
	}
	return app.Div().Class("table-wrap").Body(app.Table().Class("data").ID("reference-table").Body(
		app.THead().Body(app.Tr().Body(
			app.Th().Text("method"), app.Th().Text("backbone"), app.Th().Text("labels"), app.Th().Text("accuracy"), app.Th().Text("AUC"),
		)),
		app.TBody().Body(app.Range(rows).Slice(func(i int) app.UI {
			x := rows[i]
			labels := strconv.Itoa(x.Labels)
			if x.Labels > 1200 {
				labels += " (all)"
			} else {
				labels += " *"
			}
			return app.Tr().Body(
				app.Td().Text(x.Method), app.Td().Text(x.Backbone), app.Td().Text(labels),
				app.Td().Text(percent(x.Accuracy)), app.Td().Textf("%.4f", x.AUC),
			)
		})),
	))
}
