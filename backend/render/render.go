// Package render turns cutouts into 8-bit pictures: Lupton et al. (2004)
// asinh colour composites of the g, r, i bands, single-band stretches,
// nearest-neighbour upscaling, labelled grids and PNG files; and ROC
// plots (roc.go), which a reproduction draws per backbone and label count.
//
// Inputs are data.Image cubes (3, H, W) in g, r, i order, or single H*W
// row-major planes, in the flux units of the data (for simulated HSC data,
// counts at zero point 27). Outputs are standard library images whose pixel
// (x, y) is the input's column x, row y.
package render

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/sslens/sslens/backend/atomicfile"
	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// LuptonParams sets the asinh composite of Lupton et al. (2004), as astropy's
// make_lupton_rgb computes it. Each band is first mapped to
// Scale[c] * (value - Minimum[c]); the mean I of the three mapped bands is
// stretched to asinh(Q I / Stretch) / Q, and every band is multiplied by the
// same factor, so colours are kept where the intensity saturates.
type LuptonParams struct {
	Stretch, Q float64
	Minimum    [3]float64 // per band offset in data units, g, r, i
	Scale      [3]float64 // per band multiplier, g, r, i
}

// DefaultLupton suits HSC-like fluxes at zero point 27 (sky noise 0.03-0.05
// per pixel, lens galaxies peaking at tens of counts per pixel): the sky
// noise shows, a faint arc stays visible above it and a bright galaxy core
// is not burnt out. The scales dim i and brighten g so that early-type
// galaxies look orange and star-forming arcs blue, as in HSC colour images.
func DefaultLupton() LuptonParams {
	return LuptonParams{Stretch: 0.6, Q: 10, Scale: [3]float64{1.6, 1.0, 0.7}}
}

// Lupton maps a (3, H, W) g, r, i image to RGB with i as red, r as green and
// g as blue. Images with other than 3 channels give a black picture of the
// same size, since the mapping is undefined for them.
func Lupton(im data.Image, p LuptonParams) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
	if im.C != 3 {
		return out
	}
	q := p.Q
	if math.Abs(q) < 1e-7 {
		q = 0.1 // astropy's guard: Q = 0 would divide by zero
	}
	stretch := p.Stretch
	if stretch <= 0 {
		stretch = 1
	}
	const frac = 0.1 // astropy: the slope is taken at frac * stretch
	slope := frac * 255 / math.Asinh(frac*q)
	soften := q / stretch
	g, r, i := im.Plane(0), im.Plane(1), im.Plane(2)
	for k := range g {
		// rgb holds the red (i), green (r) and blue (g) bands.
		rgb := [3]float64{
			p.Scale[2] * (float64(i[k]) - p.Minimum[2]),
			p.Scale[1] * (float64(r[k]) - p.Minimum[1]),
			p.Scale[0] * (float64(g[k]) - p.Minimum[0]),
		}
		in := (rgb[0] + rgb[1] + rgb[2]) / 3
		fac := 0.0
		if in > 0 {
			fac = math.Asinh(in*soften) * slope / in
		}
		peak := 0.0
		for c := range rgb {
			rgb[c] = max(rgb[c]*fac, 0)
			peak = max(peak, rgb[c])
		}
		if peak >= 255 {
			// Scale all three down together so the colour survives saturation.
			for c := range rgb {
				rgb[c] *= 255 / peak
			}
		}
		o := out.PixOffset(k%im.W, k/im.W)
		for c := range rgb {
			out.Pix[o+c] = uint8(min(rgb[c], 255)) // truncation, as astropy's astype(uint8)
		}
		out.Pix[o+3] = 255
	}
	return out
}

// Stretch is a monotonic map from [0, 1] onto [0, 1] used by Band.
type Stretch int

const (
	Linear Stretch = iota
	Sqrt
	Log   // log10(1 + 1000 t) / log10(1001), as SAOImage ds9's log scale
	Asinh // asinh(10 t) / asinh(10), as ds9's asinh scale
)

var stretchNames = [...]string{Linear: "linear", Sqrt: "sqrt", Log: "log", Asinh: "asinh"}

func (s Stretch) String() string {
	if s < 0 || int(s) >= len(stretchNames) {
		return fmt.Sprintf("Stretch(%d)", int(s))
	}
	return stretchNames[s]
}

// ParseStretch returns the stretch called name (linear, sqrt, log, asinh).
func ParseStretch(name string) (Stretch, error) {
	for s, n := range stretchNames {
		if strings.EqualFold(name, n) {
			return Stretch(s), nil
		}
	}
	return 0, fmt.Errorf("render: unknown stretch %q (want %s)", name, strings.Join(stretchNames[:], ", "))
}

// apply maps t in [0, 1] to [0, 1].
func (s Stretch) apply(t float64) float64 {
	switch s {
	case Sqrt:
		return math.Sqrt(t)
	case Log:
		return math.Log10(1+1000*t) / math.Log10(1001)
	case Asinh:
		return math.Asinh(10*t) / math.Asinh(10)
	}
	return t
}

// Band renders one h x w plane as grey levels: values at or below lo are
// black, at or above hi white, and the stretch s shapes what lies between.
// lo and hi are in data units (from Percentiles, or explicit). A plane
// shorter than h*w, hi <= lo, or NaN pixels give black where undefined.
func Band(plane []float32, h, w int, s Stretch, lo, hi float64) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, w, h))
	if hi <= lo || len(plane) < h*w {
		return out
	}
	for k, v := range plane[:h*w] {
		t := (float64(v) - lo) / (hi - lo)
		if !(t > 0) { // also NaN
			continue
		}
		out.Pix[out.PixOffset(k%w, k/w)] = uint8(math.Round(255 * s.apply(min(t, 1))))
	}
	return out
}

// Percentiles returns the plo-th and phi-th percentiles (0-100) of plane,
// interpolating linearly between order statistics as numpy.percentile does.
// NaNs are ignored; an empty (or all-NaN) plane gives 0, 0.
func Percentiles(plane []float32, plo, phi float64) (lo, hi float64) {
	v := make([]float64, 0, len(plane))
	for _, x := range plane {
		if !math.IsNaN(float64(x)) {
			v = append(v, float64(x))
		}
	}
	if len(v) == 0 {
		return 0, 0
	}
	slices.Sort(v)
	return percentile(v, plo), percentile(v, phi)
}

// percentile of sorted v, p in [0, 100] (clamped).
func percentile(v []float64, p float64) float64 {
	return eval.Quantile(v, min(max(p, 0), 100)/100)
}

// MaxSide is the largest side, in pixels, of a picture served to the portal:
// 2048 x 2048 RGBA is 16 MB. Upscaling a cutout beyond it shows nothing more.
const MaxSide = 2048

// FitScale returns the upscale factor closest to scale (at least 1) that
// keeps an h x w picture within MaxSide a side, or 1 when even that does
// not fit.
func FitScale(h, w, scale int) int {
	return max(1, min(scale, MaxSide/max(h, w, 1)))
}

// Upscale enlarges img by an integer factor with nearest-neighbour sampling,
// so each input pixel stays a sharp square (32 px cutouts are too small to
// look at otherwise). A factor below 1 is taken as 1.
func Upscale(img image.Image, factor int) *image.RGBA {
	factor = max(factor, 1)
	b := img.Bounds()
	src, ok := img.(*image.RGBA)
	if !ok || src.Rect.Min != (image.Point{}) {
		src = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	}
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*factor, b.Dy()*factor))
	for y := 0; y < b.Dy(); y++ {
		row := out.Pix[out.PixOffset(0, y*factor):out.PixOffset(0, y*factor+1)]
		for x := 0; x < b.Dx(); x++ {
			px := src.Pix[src.PixOffset(x, y) : src.PixOffset(x, y)+4]
			for dx := 0; dx < factor; dx++ {
				copy(row[4*(x*factor+dx):], px)
			}
		}
		// The other factor-1 rows of this input row repeat the first.
		for dy := 1; dy < factor; dy++ {
			copy(out.Pix[out.PixOffset(0, y*factor+dy):], row)
		}
	}
	return out
}

// Tile is one picture of a Grid with a short caption under it.
type Tile struct {
	Img   image.Image
	Label string
}

// labelFace draws the captions; LabelHeight is the strip it needs.
var labelFace = basicfont.Face7x13

// LabelHeight is the height in pixels of the caption strip under each tile
// of a Grid in which at least one tile has a label.
const LabelHeight = 15

// Grid lays tiles out row by row, cols to a row (all in one row if cols < 1),
// on a black background. Every cell is as large as the largest tile, plus a
// LabelHeight caption strip when any tile has a label. Tile k's top-left
// corner is at (pad + (k%cols)*(cellW+pad), pad + (k/cols)*(cellH+pad)),
// where cellH includes the strip; its caption is drawn in white under it and
// cut to the cell width. A negative pad is taken as 0.
func Grid(tiles []Tile, cols, pad int) *image.RGBA {
	if cols < 1 || cols > len(tiles) {
		cols = max(len(tiles), 1)
	}
	pad = max(pad, 0)
	cellW, cellH, labelled := 0, 0, false
	for _, t := range tiles {
		if t.Img != nil {
			cellW = max(cellW, t.Img.Bounds().Dx())
			cellH = max(cellH, t.Img.Bounds().Dy())
		}
		labelled = labelled || t.Label != ""
	}
	imgH := cellH
	if labelled {
		cellH += LabelHeight
	}
	rows := (len(tiles) + cols - 1) / cols
	out := image.NewRGBA(image.Rect(0, 0, pad+cols*(cellW+pad), pad+rows*(cellH+pad)))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	for k, t := range tiles {
		x0, y0 := pad+(k%cols)*(cellW+pad), pad+(k/cols)*(cellH+pad)
		if t.Img != nil {
			b := t.Img.Bounds()
			draw.Draw(out, image.Rect(x0, y0, x0+b.Dx(), y0+b.Dy()), t.Img, b.Min, draw.Src)
		}
		if t.Label == "" {
			continue
		}
		label := t.Label
		if n := cellW / labelFace.Advance; len(label) > n {
			label = label[:max(n, 0)]
		}
		d := font.Drawer{
			Dst:  out,
			Src:  image.NewUniform(color.White),
			Face: labelFace,
			Dot:  fixed.P(x0, y0+imgH+labelFace.Ascent+1),
		}
		d.DrawString(label)
	}
	return out
}

// WritePNG encodes img as PNG to a temporary file beside path and renames it
// into place, so readers never see a half-written picture.
func WritePNG(path string, img image.Image) error {
	err := atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}
