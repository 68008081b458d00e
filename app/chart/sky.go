package chart

import (
	"fmt"
	"math"
	"strconv"

	"github.com/maxence-charriere/go-app/v9/pkg/app"
)

// scaleBars are the lengths a scale bar may have, arcseconds.
var scaleBars = []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

// ScaleBar returns the longest bar of scaleBars (arcseconds) no longer
// than a third of width pixels at scale arcseconds per pixel, and its
// length in pixels; 0, 0 when even the shortest is longer.
func ScaleBar(width int, scale float64) (arcsec, pixels float64) {
	limit := float64(width) * scale / 3
	for _, b := range scaleBars {
		if b <= limit {
			arcsec = b
		}
	}
	return arcsec, arcsec / scale
}

// SkyOverlay draws a scale bar (bottom left) and a compass (top right,
// north and east) over an image of width x height pixels, at scale
// arcseconds per pixel, north and east unit vectors in the image's
// pixel axes (x right, y down). Its viewBox is the image's pixels and it
// keeps their aspect ratio as object-fit: contain does, so placed over the
// image at the same size it lies on it however the image is scaled.
func SkyOverlay(width, height int, scale float64, north, east [2]float64) app.UI {
	w, h := float64(width), float64(height)
	side := min(w, h)
	font := num(side * 0.09)
	var body []app.UI
	if arcsec, px := ScaleBar(width, scale); px > 0 {
		x0, y := side*0.06, h-side*0.07
		body = append(body,
			role("line", "scale-bar").Attr("x1", num(x0)).Attr("x2", num(x0+px)).Attr("y1", num(y)).Attr("y2", num(y)).
				Attr("vector-effect", "non-scaling-stroke").DataSet("arcsec", strconv.FormatFloat(arcsec, 'g', -1, 64)),
			role("text", "scale-label").Attr("x", num(x0)).Attr("y", num(y-side*0.04)).Attr("font-size", font).Text(arcsecText(arcsec)))
	}
	ox, oy, l := w-side*0.2, side*0.2, side*0.11 // the compass's centre and arrow length
	for _, a := range []struct {
		label string
		dir   [2]float64
	}{{"N", north}, {"E", east}} {
		if math.IsNaN(a.dir[0]) || math.IsNaN(a.dir[1]) {
			continue
		}
		x, y := ox+l*a.dir[0], oy+l*a.dir[1]
		body = append(body,
			role("line", "compass").Attr("x1", num(ox)).Attr("y1", num(oy)).Attr("x2", num(x)).Attr("y2", num(y)).
				Attr("vector-effect", "non-scaling-stroke").DataSet("dir", a.label),
			role("text", "compass-label").Attr("x", num(ox+1.6*l*a.dir[0])).Attr("y", num(oy+1.6*l*a.dir[1])).
				Attr("font-size", font).Attr("text-anchor", "middle").Attr("dominant-baseline", "central").Text(a.label))
	}
	return role("svg", "sky-overlay").Attr("viewBox", fmt.Sprintf("0 0 %d %d", width, height)).
		Attr("preserveAspectRatio", "xMidYMid meet").Aria("hidden", "true").Body(body...)
}

// arcsecText writes a length in arcseconds as astronomers do: 2″, 0.5″,
// or 2′ from a minute up.
func arcsecText(v float64) string {
	if v >= 60 {
		return strconv.FormatFloat(v/60, 'g', -1, 64) + "′"
	}
	return strconv.FormatFloat(v, 'g', -1, 64) + "″"
}
