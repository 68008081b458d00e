// Package chart draws line charts as SVG from Go: the live training curves
// of the run page and the ROC curves of the results page. There is no
// JavaScript chart library; the chart is a go-app component whose render
// is plain SVG elements, so it prerenders on the server and is tested
// without a browser.
//
// Coordinates: data values are in the caller's units (steps, fractions,
// images per second); the SVG is drawn in a viewBox of Width x Height user
// units (default 480 x 240) that CSS scales to the container's width.
package chart

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/maxence-charriere/go-app/v9/pkg/app"
)

// Point is one sample.
type Point struct{ X, Y float64 }

// Series is one curve.
type Series struct {
	Name   string
	Points []Point
}

// Range fixes an axis to [Min, Max]; the zero Range means "fit the data".
type Range struct{ Min, Max float64 }

func (r Range) set() bool { return r.Max > r.Min }

// MaxPoints is the most points drawn per series; longer series are
// thinned (every k-th point, always keeping the last) so that redrawing a
// live chart stays cheap.
const MaxPoints = 600

// Frame maps data coordinates to the viewBox. Its fields are what Layout
// computed; tests inspect them.
type Frame struct {
	W, H                     float64 // viewBox size
	Left, Right, Top, Bottom float64 // plot area edges in viewBox units
	X, Y                     Axis
	// LogX: X holds log10 of the data's x (see LogXFrom), clamped below to
	// 10^X.Min.
	LogX bool
}

// Axis is one axis's domain and the values its ticks sit at.
type Axis struct {
	Min, Max float64
	Ticks    []float64
}

// Layout fits a frame of w x h viewBox units around the finite points of
// series; fixed ranges override the fit. An axis without data spans [0, 1].
func Layout(series []Series, w, h float64, xr, yr Range) Frame {
	f := Frame{W: w, H: h, Left: 52, Right: w - 12, Top: 12, Bottom: h - 30}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			if !finite(p) {
				continue
			}
			xlo, xhi = math.Min(xlo, p.X), math.Max(xhi, p.X)
			ylo, yhi = math.Min(ylo, p.Y), math.Max(yhi, p.Y)
		}
	}
	if xr.set() {
		xlo, xhi = xr.Min, xr.Max
	}
	if yr.set() {
		ylo, yhi = yr.Min, yr.Max
	}
	f.X = niceAxis(xlo, xhi, 6, xr.set())
	f.Y = niceAxis(ylo, yhi, 5, yr.set())
	return f
}

func finite(p Point) bool {
	return !math.IsNaN(p.X) && !math.IsNaN(p.Y) && !math.IsInf(p.X, 0) && !math.IsInf(p.Y, 0)
}

// niceAxis widens [lo, hi] to round tick values (1, 2 or 5 times a power
// of ten) with about n ticks; a fixed axis keeps its bounds.
func niceAxis(lo, hi float64, n int, fixed bool) Axis {
	switch {
	case math.IsInf(lo, 1): // no data
		lo, hi = 0, 1
	case lo == hi: // a single value: centre it
		d := math.Max(math.Abs(lo)*0.1, 1e-9)
		if lo == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	step := niceStep((hi - lo) / float64(n))
	if !fixed {
		lo = math.Floor(lo/step) * step
		hi = math.Ceil(hi/step) * step
	}
	a := Axis{Min: lo, Max: hi}
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		a.Ticks = append(a.Ticks, clean(v, step))
	}
	return a
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch m := raw / p; {
	case m <= 1:
		return p
	case m <= 2:
		return 2 * p
	case m <= 5:
		return 5 * p
	}
	return 10 * p
}

// clean removes the float noise of accumulated steps (0.30000000000000004).
func clean(v, step float64) float64 {
	q := math.Pow(10, math.Max(0, -math.Floor(math.Log10(step))+1))
	return math.Round(v*q) / q
}

// LogXFrom makes f's x axis logarithmic from floor to its maximum (a
// decade tick each): a ROC's false-positive rate, where lens searches work
// at 1e-3 to 1e-2. Values below floor are drawn at floor.
func (f Frame) LogXFrom(floor float64) Frame {
	lo, hi := math.Floor(math.Log10(floor)), math.Ceil(math.Log10(math.Max(f.X.Max, floor*10)))
	f.LogX, f.X = true, Axis{Min: lo, Max: hi}
	for v := lo; v <= hi; v++ {
		f.X.Ticks = append(f.X.Ticks, v)
	}
	return f
}

// PX maps a data x to viewBox units.
func (f Frame) PX(x float64) float64 {
	if f.LogX {
		x = math.Log10(math.Max(x, math.Pow(10, f.X.Min)))
	}
	return f.Left + (x-f.X.Min)/(f.X.Max-f.X.Min)*(f.Right-f.Left)
}

// tickX labels an x tick: a decade of a log axis as its value (0.001).
func (f Frame) tickX(v float64) string {
	if f.LogX {
		return strconv.FormatFloat(math.Pow(10, v), 'g', -1, 64)
	}
	return Tick(v, f.X)
}

// PY maps a data y to viewBox units (up is smaller).
func (f Frame) PY(y float64) float64 {
	return f.Bottom - (y-f.Y.Min)/(f.Y.Max-f.Y.Min)*(f.Bottom-f.Top)
}

// Path returns the SVG path data of points in frame f, thinned to
// MaxPoints and skipping non-finite points (a gap starts a new segment).
func (f Frame) Path(points []Point) string {
	var b strings.Builder
	move := true
	for _, p := range Thin(points, MaxPoints) {
		if !finite(p) {
			move = true
			continue
		}
		if move {
			b.WriteString("M")
			move = false
		} else {
			b.WriteString("L")
		}
		b.WriteString(num(f.PX(p.X)))
		b.WriteByte(' ')
		b.WriteString(num(f.PY(p.Y)))
	}
	return b.String()
}

// Thin returns at most max points of ps: every k-th point and the last.
func Thin(ps []Point, max int) []Point {
	if len(ps) <= max || max < 2 {
		return ps
	}
	k := (len(ps) + max - 2) / (max - 1)
	out := make([]Point, 0, max)
	for i := 0; i < len(ps)-1; i += k {
		out = append(out, ps[i])
	}
	return append(out, ps[len(ps)-1])
}

// num formats a viewBox coordinate with one decimal.
func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// Tick formats a tick value with as many decimals as the axis's step
// needs, or in e-notation for very small or large magnitudes.
func Tick(v float64, a Axis) string {
	step := 1.0
	if len(a.Ticks) > 1 {
		step = a.Ticks[1] - a.Ticks[0]
	}
	m := math.Max(math.Abs(a.Min), math.Abs(a.Max))
	if v == 0 {
		return "0"
	}
	if m >= 1e6 || m < 1e-3 {
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	dec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// Value formats a data value for a legend: four significant digits.
func Value(v float64) string {
	if math.Abs(v) >= 1e-3 && math.Abs(v) < 1e6 || v == 0 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'e', 2, 64)
}

const svgNS = "http://www.w3.org/2000/svg"

func el(tag string) app.HTMLElem { return app.Elem(tag).XMLNS(svgNS) }

// role tags an SVG element for the style sheet. go-app sets the class
// attribute through the className property, which SVG elements do not
// let scripts assign, so the CSS selects on data-role instead.
func role(tag, r string) app.HTMLElem { return el(tag).Attr("data-role", r) }

// palette holds the series colours, in order (colour-blind safe, after
// Okabe and Ito).
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#7f7f7f", "#000000"}

func colour(i int) string { return palette[i%len(palette)] }

// Line is a line chart component. Series are drawn in order in the
// palette's colours; the legend shows each series' last value.
type Line struct {
	app.Compo

	Title          string
	XLabel, YLabel string
	Series         []Series
	X, Y           Range   // fixed axes; zero: fit the data
	Diagonal       bool    // draw y = x (a ROC's chance line)
	LogX           float64 // > 0: a log x axis from this floor (see Frame.LogXFrom)
	Empty          string  // shown when no series has a point
	Width, Height  int     // viewBox; zero: 480 x 240
	// PlainLegend shows series names only, for curves whose last value
	// means nothing (a ROC ends at 1).
	PlainLegend bool
}

// Render draws the chart.
func (c *Line) Render() app.UI {
	w, h := float64(c.Width), float64(c.Height)
	if w <= 0 || h <= 0 {
		w, h = 480, 240
	}
	f := Layout(c.Series, w, h, c.X, c.Y)
	if c.LogX > 0 {
		f = f.LogXFrom(c.LogX)
	}
	n := 0
	for _, s := range c.Series {
		n += len(s.Points)
	}

	var body []app.UI
	body = append(body, el("title").Text(c.Title))
	for _, v := range f.Y.Ticks {
		y := num(f.PY(v))
		body = append(body,
			role("line", "grid").Attr("x1", num(f.Left)).Attr("x2", num(f.Right)).Attr("y1", y).Attr("y2", y),
			role("text", "tick-y").Attr("x", num(f.Left-6)).Attr("y", y).Text(Tick(v, f.Y)))
	}
	for _, v := range f.X.Ticks {
		x := num(f.PX(v))
		body = append(body,
			role("line", "grid").Attr("x1", x).Attr("x2", x).Attr("y1", num(f.Top)).Attr("y2", num(f.Bottom)),
			role("text", "tick-x").Attr("x", x).Attr("y", num(f.Bottom+14)).Text(f.tickX(v)))
	}
	body = append(body,
		role("rect", "frame").Attr("x", num(f.Left)).Attr("y", num(f.Top)).
			Attr("width", num(f.Right-f.Left)).Attr("height", num(f.Bottom-f.Top)),
		role("text", "label-x").Attr("x", num((f.Left+f.Right)/2)).Attr("y", num(h-2)).Text(c.XLabel),
		role("text", "label-y").Attr("transform", fmt.Sprintf("translate(12 %s) rotate(-90)", num((f.Top+f.Bottom)/2))).Text(c.YLabel),
	)
	if c.Diagonal {
		// y = x: a straight line, or a curve on a log x axis.
		var chance []Point
		for k := 0; k <= 64; k++ {
			x := f.X.Min + (f.X.Max-f.X.Min)*float64(k)/64
			if f.LogX {
				x = math.Pow(10, x)
			}
			chance = append(chance, Point{x, x})
		}
		body = append(body, role("path", "chance").Attr("d", f.Path(chance)))
	}
	for i, s := range c.Series {
		body = append(body, role("path", "series").Attr("stroke", colour(i)).Attr("d", f.Path(s.Points)).
			Attr("data-points", len(s.Points)))
		if len(s.Points) > 0 {
			p := s.Points[len(s.Points)-1]
			if finite(p) {
				body = append(body, role("circle", "last").Attr("fill", colour(i)).
					Attr("cx", num(f.PX(p.X))).Attr("cy", num(f.PY(p.Y))).Attr("r", "2.5").
					Body(el("title").Text(fmt.Sprintf("%s: %s at %s", s.Name, Value(p.Y), Value(p.X)))))
			}
		}
	}
	if n == 0 && c.Empty != "" {
		body = append(body, role("text", "empty").
			Attr("x", num((f.Left+f.Right)/2)).Attr("y", num((f.Top+f.Bottom)/2)).Text(c.Empty))
	}

	return app.Figure().Class("chart").Body(
		app.FigCaption().Body(
			app.Span().Class("chart-title").Text(c.Title),
			app.Range(c.Series).Slice(func(i int) app.UI {
				s := c.Series[i]
				text := s.Name
				switch {
				case c.PlainLegend:
				case len(s.Points) > 0:
					text += " " + Value(s.Points[len(s.Points)-1].Y)
				default:
					text += " –"
				}
				return app.Span().Class("legend").Style("--series", colour(i)).Text(text)
			}),
		),
		el("svg").Attr("viewBox", fmt.Sprintf("0 0 %g %g", w, h)).
			Attr("role", "img").Attr("aria-label", c.Title).
			Attr("data-points", n).
			Body(body...),
	)
}
