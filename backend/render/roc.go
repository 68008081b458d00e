package render

import (
	"image"
	"image/color"
	"image/draw"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"

	"github.com/sslens/sslens/backend/eval"
)

// ROCCurve is one curve of a ROC plot. Legend is empty for a curve that
// shares an earlier curve's colour and legend entry (a method's further
// seeds, say).
type ROCCurve struct {
	Colour color.RGBA
	Legend string
	Points []eval.ROCPoint
}

// Plot geometry in pixels: a square plotting area with room for the
// title, tick labels and axis titles around it.
const (
	plotSide   = 480
	plotLeft   = 72
	plotTop    = 44
	plotRight  = 24
	plotBottom = 64
	ROCWidth   = plotLeft + plotSide + plotRight
	ROCHeight  = plotTop + plotSide + plotBottom
)

// rocFloor is where the false-positive axis starts: it is logarithmic,
// 1e-3 to 1, since lens searches work at false-positive rates of 1e-3 to
// 1e-2; rates below it are drawn at it.
const rocFloor = 1e-3

// ROC draws ROC curves (false positive rate across on a log axis from
// rocFloor to 1, true positive rate up from 0 to 1) with a grid, the
// chance line (a curve on this axis) and a legend, on a white ROCWidth x
// ROCHeight picture.
func ROC(title string, curves []ROCCurve) (*image.RGBA, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 13, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	defer face.Close()
	img := image.NewRGBA(image.Rect(0, 0, ROCWidth, ROCHeight))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	// px maps a rate pair to pixel coordinates.
	decades := -math.Log10(rocFloor)
	px := func(fpr, tpr float64) (float32, float32) {
		x := (math.Log10(math.Max(fpr, rocFloor)) + decades) / decades
		return float32(plotLeft + x*plotSide), float32(plotTop + (1-tpr)*plotSide)
	}
	grey, light, black := color.RGBA{140, 140, 140, 255}, color.RGBA{225, 225, 225, 255}, color.RGBA{0, 0, 0, 255}
	// line is the segment between two rate pairs.
	line := func(f0, t0, f1, t1 float64) [][2]float32 {
		x0, y0 := px(f0, t0)
		x1, y1 := px(f1, t1)
		return [][2]float32{{x0, y0}, {x1, y1}}
	}
	var grid, diagonal [][][2]float32
	for i := 0; i <= 5; i++ { // true-positive rate: every 0.2
		v := float64(i) / 5
		grid = append(grid, line(rocFloor, v, 1, v))
		tx, ty := px(rocFloor, v)
		drawText(img, face, strconv.FormatFloat(v, 'f', 1, 64), int(tx)-8, int(ty)+5, 1, black)
	}
	for d := rocFloor; d <= 1; d *= 10 { // false-positive rate: every decade
		grid = append(grid, line(d, 0, d, 1))
		tx, ty := px(d, 0)
		drawText(img, face, strconv.FormatFloat(d, 'g', -1, 64), int(tx), int(ty)+18, 0.5, black)
	}
	for i := 0; i < 60; i += 2 { // the chance line y = x, dashed
		a, b := rocFloor*math.Pow(10, decades*float64(i)/60), rocFloor*math.Pow(10, decades*float64(i+1)/60)
		diagonal = append(diagonal, line(a, a, b, b))
	}
	stroke(img, grid, 1, light)
	stroke(img, diagonal, 1, grey)
	for _, c := range curves {
		pts := make([][2]float32, len(c.Points))
		for i, p := range c.Points {
			x, y := px(p.FPR, p.TPR)
			pts[i] = [2]float32{x, y}
		}
		stroke(img, [][][2]float32{pts}, 2, c.Colour)
	}
	x0, y0 := px(rocFloor, 1)
	x1, y1 := px(1, 0)
	stroke(img, [][][2]float32{{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}}, 1, black)

	drawText(img, face, title, ROCWidth/2, 26, 0.5, black)
	drawText(img, face, "false positive rate (non-lenses called lenses), log scale", plotLeft+plotSide/2, plotTop+plotSide+44, 0.5, black)
	drawVerticalText(img, face, "true positive rate (lenses found)", 22, plotTop+plotSide/2, black)

	// The legend, in the lower right corner of the plotting area.
	var entries []ROCCurve
	for _, c := range curves {
		if c.Legend != "" {
			entries = append(entries, c)
		}
	}
	if len(entries) > 0 {
		w := 0
		for _, e := range entries {
			w = max(w, font.MeasureString(face, e.Legend).Ceil())
		}
		w += 44
		h := 20*len(entries) + 8
		r := image.Rect(plotLeft+plotSide-w-10, plotTop+plotSide-h-10, plotLeft+plotSide-10, plotTop+plotSide-10)
		draw.Draw(img, r, image.White, image.Point{}, draw.Src)
		fr := [][2]float32{{float32(r.Min.X), float32(r.Min.Y)}, {float32(r.Max.X), float32(r.Min.Y)},
			{float32(r.Max.X), float32(r.Max.Y)}, {float32(r.Min.X), float32(r.Max.Y)}, {float32(r.Min.X), float32(r.Min.Y)}}
		stroke(img, [][][2]float32{fr}, 1, grey)
		for i, e := range entries {
			y := float32(r.Min.Y + 14 + 20*i)
			stroke(img, [][][2]float32{{{float32(r.Min.X + 8), y}, {float32(r.Min.X + 32), y}}}, 2, e.Colour)
			drawText(img, face, e.Legend, r.Min.X+38, int(y)+5, 0, black)
		}
	}
	return img, nil
}

// stroke draws polylines, width px wide, antialiased, in one pass. Each
// segment is a rectangle extended by half the width at both ends, so
// corners are filled; all rectangles wind the same way, so overlaps do not
// cancel.
func stroke(dst *image.RGBA, lines [][][2]float32, width float32, c color.Color) {
	b := dst.Bounds()
	r := vector.NewRasterizer(b.Dx(), b.Dy())
	hw := width / 2
	for _, pts := range lines {
		for i := 1; i < len(pts); i++ {
			ax, ay, bx, by := pts[i-1][0], pts[i-1][1], pts[i][0], pts[i][1]
			dx, dy := bx-ax, by-ay
			l := float32(math.Hypot(float64(dx), float64(dy)))
			if l == 0 {
				continue
			}
			ux, uy := dx/l*hw, dy/l*hw // along the segment
			nx, ny := -uy, ux          // across it
			r.MoveTo(ax-ux+nx, ay-uy+ny)
			r.LineTo(bx+ux+nx, by+uy+ny)
			r.LineTo(bx+ux-nx, by+uy-ny)
			r.LineTo(ax-ux-nx, ay-uy-ny)
			r.ClosePath()
		}
	}
	r.Draw(dst, b, image.NewUniform(c), image.Point{})
}

// drawText draws s with its baseline at y; align 0 puts x at its left
// end, 0.5 at its middle, 1 at its right end.
func drawText(dst draw.Image, face font.Face, s string, x, y int, align float64, c color.Color) {
	w := font.MeasureString(face, s)
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Face: face,
		Dot: fixed.Point26_6{X: fixed.I(x) - fixed.Int26_6(align*float64(w)), Y: fixed.I(y)}}
	d.DrawString(s)
}

// drawVerticalText draws s turned a quarter left (reading upwards),
// centred on (cx, cy).
func drawVerticalText(dst *image.RGBA, face font.Face, s string, cx, cy int, c color.Color) {
	w := font.MeasureString(face, s).Ceil()
	h := face.Metrics().Height.Ceil()
	tmp := image.NewRGBA(image.Rect(0, 0, w, h))
	drawText(tmp, face, s, 0, face.Metrics().Ascent.Ceil(), 0, c)
	// Pixel (x, y) of the horizontal text goes to (y, w-1-x) of the
	// turned block, placed with its centre at (cx, cy).
	ox, oy := cx-h/2, cy-w/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := tmp.RGBAAt(x, y)
			if p.A == 0 {
				continue
			}
			q := image.Point{ox + y, oy + w - 1 - x}
			draw.Draw(dst, image.Rectangle{Min: q, Max: q.Add(image.Point{1, 1})}, image.NewUniform(p), image.Point{}, draw.Over)
		}
	}
}
