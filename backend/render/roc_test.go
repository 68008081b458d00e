package render

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/sslens/sslens/backend/eval"
)

// Each curve is drawn in its colour along its path, and a curve without a
// legend adds no entry.
func TestROC(t *testing.T) {
	black := color.RGBA{0, 0, 0, 255}
	blue := color.RGBA{0, 114, 178, 255}
	green := color.RGBA{0, 158, 115, 255}
	unused := color.RGBA{213, 94, 0, 255}
	curve := func(c color.RGBA, legend string, bend float64) ROCCurve {
		rc := ROCCurve{Colour: c, Legend: legend}
		for i := 0; i <= 50; i++ {
			x := float64(i) / 50
			rc.Points = append(rc.Points, eval.ROCPoint{FPR: x, TPR: math.Pow(x, bend)})
		}
		return rc
	}
	img, err := ROC("a title", []ROCCurve{
		curve(black, "supervised", 1), curve(blue, "dino", 0.2),
		curve(blue, "", 0.25), curve(green, "simsiam", 0.5),
	})
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, ROCWidth, ROCHeight) {
		t.Errorf("bounds %v", img.Bounds())
	}
	for _, tc := range []struct {
		name string
		c    color.RGBA
		want int
	}{{"supervised", black, 300}, {"dino", blue, 1200}, {"simsiam", green, 600}, {"unused", unused, 0}} {
		n := countColour(img, tc.c)
		if (tc.want == 0) != (n == 0) || n < tc.want {
			t.Errorf("%s: %d pixels of its colour, want at least %d", tc.name, n, tc.want)
		}
	}
	// The first dino curve passes through (0.04, 0.04^0.2), on the log
	// false-positive axis from 1e-3 to 1.
	x := plotLeft + int((math.Log10(0.04)+3)/3*plotSide)
	y := plotTop + int((1-math.Pow(0.04, 0.2))*plotSide)
	found := false
	for dy := -2; dy <= 2; dy++ {
		found = found || sameRGB(img.At(x, y+dy), blue)
	}
	if !found {
		t.Errorf("no dino pixel near (%d, %d)", x, y)
	}
}

// countColour counts the pixels of img with c's red, green and blue.
func countColour(img image.Image, c color.Color) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if sameRGB(img.At(x, y), c) {
				n++
			}
		}
	}
	return n
}

func sameRGB(a, b color.Color) bool {
	r, g, bb, _ := a.RGBA()
	r0, g0, b0, _ := b.RGBA()
	return r == r0 && g == g0 && bb == b0
}
