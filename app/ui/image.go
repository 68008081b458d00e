package ui

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"

	"github.com/sslens/sslens/app/api"
	"github.com/sslens/sslens/shared"
)

// imagePattern matches the detail pages of dataset images,
// /datasets/{dataset}/images/{class}/{file}.
const imagePattern = `^/datasets/[0-9]+/images/[^/]+/[^/]+$`

// parseImagePath splits a detail page's path into the dataset and the
// image ID ("lenses/12.npy").
func parseImagePath(path string) (int64, string, bool) {
	rest, ok := strings.CutPrefix(path, "/datasets/")
	if !ok {
		return 0, "", false
	}
	idText, id, ok := strings.Cut(rest, "/images/")
	if !ok || strings.Count(id, "/") != 1 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
		return 0, "", false
	}
	ds, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || ds <= 0 {
		return 0, "", false
	}
	return ds, id, true
}

// ImageView is a dataset image's detail page: the RGB composite, the three
// bands side by side with a stretch selector, and the metadata (the
// simulator's true parameters for simulated data).
type ImageView struct {
	app.Compo
	page

	dataset int64
	id      string
	stretch string
	detail  *shared.ImageDetail
}

// OnNav loads the image the path names; the stretch lives in ?stretch=.
func (v *ImageView) OnNav(ctx app.Context) {
	u := ctx.Page().URL()
	v.stretch = oneOf(u.Query().Get("stretch"), shared.Stretches...)
	if v.stretch == "" {
		v.stretch = "asinh"
	}
	ds, id, ok := parseImagePath(u.Path)
	if !ok {
		v.mounted = true
		v.state = stateError
		v.err = "This address names no dataset image."
		return
	}
	if ds == v.dataset && id == v.id && v.detail != nil {
		return // only the stretch changed
	}
	v.dataset, v.id, v.detail = ds, id, nil
	v.start(ctx, shared.RoleAstronomer, func(ctx app.Context) {
		ctx.Async(func() {
			d, err := v.env.API.Image(ctx, ds, id)
			ctx.Dispatch(func(ctx app.Context) {
				if err != nil {
					v.fail(ctx, err)
					return
				}
				v.detail = &d
				v.ready()
			})
		})
	})
}

func (v *ImageView) setStretch(ctx app.Context, e app.Event) {
	s := value(e)
	ctx.Navigate(imageHref(v.dataset, v.id) + "?" + url.Values{"stretch": {s}}.Encode())
}

// Render draws the image and its metadata.
func (v *ImageView) Render() app.UI {
	back := fmt.Sprintf("/datasets?dataset=%d", v.dataset)
	head := app.Div().Class("page-head").Body(
		app.Nav().Class("crumbs").Aria("label", "Breadcrumb").Body(
			app.A().Href(back).Text("Datasets"), app.Text(" › "), app.Span().Text(v.id),
		),
		app.H1().Text(v.id),
	)
	if v.detail == nil {
		return v.frame("image", "/datasets", head, app.If(v.state == stateLoading, spinner("Loading the image…")))
	}
	d := v.detail
	bands := []string{"g", "r", "i"}
	return v.frame("image", "/datasets", head,
		app.Div().Class("image-layout").Body(
			app.Section().Class("card").Aria("label", "Images").Body(
				app.Div().Class("field inline").Body(
					app.Label().For("stretch").Text("Stretch"),
					app.Select().ID("stretch").OnChange(v.setStretch).Body(app.Range(shared.Stretches).Slice(func(i int) app.UI {
						s := shared.Stretches[i]
						return optionUI(option{s, s}, s == v.stretch)
					})),
				),
				app.Div().Class("bands").Body(
					figure("RGB composite (asinh)", api.ImagePNG(v.dataset, v.id, api.PNG{Band: "rgb", Stretch: "asinh", Scale: 5}), "band-rgb"),
					app.Range(bands).Slice(func(i int) app.UI {
						b := bands[i]
						return figure(b+" band, "+v.stretch, api.ImagePNG(v.dataset, v.id, api.PNG{Band: b, Stretch: v.stretch, Scale: 5}), "band-"+b)
					}),
				),
				app.A().Class("button").Href(fmt.Sprintf("/preview?dataset=%d&image=%s", v.dataset, url.QueryEscape(v.id))).
					Text("Preview augmentations of this image"),
			),
			app.Section().Class("card").Aria("label", "Metadata").Body(
				app.H2().Text("Metadata"),
				metaTable(d),
				app.H3().Text("Bands"),
				bandTable(d.Bands),
			),
		),
	)
}

// figure is an image with its caption.
func figure(caption, src, id string) app.UI {
	return app.Figure().Class("band").ID(id).Body(
		app.Img().Src(src).Alt(caption).Width(160).Height(160),
		app.FigCaption().Text(caption),
	)
}

// metaTable lists an image's class, split, size and parameters.
func metaTable(d *shared.ImageDetail) app.UI {
	rows := [][2]string{}
	if d.Class != "" {
		rows = append(rows, [2]string{"class", classLabel(d.Class)})
	}
	if d.Split != "" {
		rows = append(rows, [2]string{"split", d.Split})
	}
	if d.Kind != "" {
		rows = append(rows, [2]string{"kind", d.Kind})
	}
	rows = append(rows, [2]string{"size (C×H×W)", fmt.Sprintf("%d × %d × %d", d.Size[0], d.Size[1], d.Size[2])})
	keys := make([]string, 0, len(d.Params))
	for k := range d.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rows = append(rows, [2]string{k, strconv.FormatFloat(d.Params[k], 'g', 5, 64)})
	}
	if len(d.Contaminants) > 0 {
		rows = append(rows, [2]string{"contaminants", strings.Join(d.Contaminants, ", ")})
	}
	return app.Table().Class("kv").Body(app.TBody().Body(app.Range(rows).Slice(func(i int) app.UI {
		return app.Tr().Body(app.Th().Scope("row").Text(rows[i][0]), app.Td().Text(rows[i][1]))
	})))
}

// bandTable lists per-band statistics in the file's flux units.
func bandTable(bs []shared.BandStats) app.UI {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	return app.Div().Class("table-wrap").Body(app.Table().Class("data").Body(
		app.THead().Body(app.Tr().Body(
			app.Th().Text("band"), app.Th().Text("min"), app.Th().Text("p01"), app.Th().Text("median"),
			app.Th().Text("mean"), app.Th().Text("std"), app.Th().Text("p99"), app.Th().Text("max"),
		)),
		app.TBody().Body(app.Range(bs).Slice(func(i int) app.UI {
			b := bs[i]
			return app.Tr().Body(
				app.Th().Scope("row").Text(b.Band), app.Td().Text(f(b.Min)), app.Td().Text(f(b.P01)), app.Td().Text(f(b.Median)),
				app.Td().Text(f(b.Mean)), app.Td().Text(f(b.Std)), app.Td().Text(f(b.P99)), app.Td().Text(f(b.Max)),
			)
		})),
	))
}
