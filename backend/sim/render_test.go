package sim

import (
	"math"
	"slices"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

func TestBleed(t *testing.T) {
	const S = 8
	tests := []struct {
		name      string
		col       []float64 // column 2, top to bottom
		level     float64
		want      []float64
		saturated bool
	}{
		{"below level", []float64{1, 2, 3, 4, 5, 4, 3, 2}, 10, []float64{1, 2, 3, 4, 5, 4, 3, 2}, false},
		// Excess 30 - 10 = 20 spills 10 up and 10 down, filling to the level.
		{"one pixel", []float64{0, 0, 0, 0, 30, 0, 0, 0}, 10, []float64{0, 0, 0, 10, 10, 10, 0, 0}, true},
		// Excess 42: 21 up (8 + 10 + 3), 21 down (10 + 10 + 1).
		{"long trail", []float64{0, 0, 0, 2, 52, 0, 0, 0}, 10, []float64{0, 3, 10, 10, 10, 10, 10, 1}, true},
		// At the edge the spill leaves the stamp.
		{"edge", []float64{25, 0, 0, 0, 0, 0, 0, 0}, 10, []float64{10, 7.5, 0, 0, 0, 0, 0, 0}, true},
	}
	for _, tc := range tests {
		img := make([]float64, S*S)
		for y, v := range tc.col {
			img[y*S+2] = v
		}
		if got := bleed(img, S, tc.level); got != tc.saturated {
			t.Errorf("%s: saturated = %v, want %v", tc.name, got, tc.saturated)
		}
		for y, w := range tc.want {
			if img[y*S+2] != w {
				t.Errorf("%s: column = %v, want %v", tc.name, column(img, S, 2), tc.want)
				break
			}
		}
		for y := 0; y < S; y++ {
			if img[y*S+1] != 0 || img[y*S+3] != 0 {
				t.Fatalf("%s: bleed left its column", tc.name)
			}
		}
	}
}

func column(img []float64, S, x int) []float64 {
	var c []float64
	for y := 0; y < S; y++ {
		c = append(c, img[y*S+x])
	}
	return c
}

func testConfig(t *testing.T, counts string) Config {
	t.Helper()
	p, err := DefaultPresets()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.Config("hsc", counts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A star keeps its flux and lands where it was put.
func TestAddStar(t *testing.T) {
	cfg := testConfig(t, "small")
	rd, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		t.Fatal(err)
	}
	S, pix := cfg.Size, cfg.Survey.PixelScale
	var psfs [3]psf
	var radii [3]int
	for c, fwhm := range []float64{0.8, 0.7, 0.6} {
		psfs[c], _ = newPSF(cfg.Survey.PSF, fwhm)
		radii[c] = int(math.Ceil(psfs[c].radius() / pix))
	}
	out := [3][]float64{make([]float64, S*S), make([]float64, S*S), make([]float64, S*S)}
	st := star{x: 0.5, y: -0.8, flux: [3]float64{100, 200, 300}}
	rd.addStar(out, st, psfs, radii)
	for c := range out {
		var sum, mx, my float64
		for i := 0; i < S; i++ {
			for j := 0; j < S; j++ {
				v := out[c][i*S+j]
				sum += v
				mx += v * (float64(j) + 0.5 - float64(S)/2) * pix
				my += v * (float64(i) + 0.5 - float64(S)/2) * pix
			}
		}
		if !(math.Abs(sum/st.flux[c]-1) < 1e-9) {
			t.Errorf("band %d: star flux %g, want %g", c, sum, st.flux[c])
		}
		if !(math.Abs(mx/sum-st.x) < 0.01 && math.Abs(my/sum-st.y) < 0.01) {
			t.Errorf("band %d: star centroid (%.3f, %.3f), want (%.3f, %.3f)", c, mx/sum, my/sum, st.x, st.y)
		}
	}
}

// An image depends on (seed, index) alone: not on what the renderer drew
// before, and a different index or seed gives a different image.
func TestRenderDeterministic(t *testing.T) {
	cfg := testConfig(t, "small")
	used, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for i := 180; i < 186; i++ { // lenses and non-lenses
		if _, _, err := used.render(i); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{3, 184} {
		a, pa, err := used.render(i)
		if err != nil {
			t.Fatal(err)
		}
		b, pb, err := Render(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Pix, b.Pix) || pa.File != pb.File || pa.Magnification != pb.Magnification {
			t.Errorf("image %d differs between a used and a fresh renderer", i)
		}
		other, _, _ := Render(cfg, i+1)
		if slices.Equal(a.Pix, other.Pix) {
			t.Errorf("images %d and %d are identical", i, i+1)
		}
		reseeded := cfg
		reseeded.Seed = 2
		if c, _, _ := Render(reseeded, i); slices.Equal(a.Pix, c.Pix) {
			t.Errorf("image %d is the same under seeds 1 and 2", i)
		}
	}
}

// Cutouts are sky-subtracted: empty sky scatters about 0 with each image's
// sky noise (the survey's, scaled by the image's depth draw). The population
// is dimmed to nothing so only noise remains.
func TestBackgroundIsSkySubtracted(t *testing.T) {
	cfg := testConfig(t, "small")
	pop := &cfg.Population
	pop.LensGalaxy.MagIPivot, pop.Source.Galaxy.MagI, pop.NonLens.Ring.MagI = 40, Const(40), Const(40)
	pop.Field.Neighbours, pop.Field.Star, pop.Field.BrightStar, pop.Field.BadColumn = 0, 0, 0, 0
	median := cfg.Survey.SkySigma()
	var pix [3][]float64 // in units of the image's sky sigma
	var scales [3][]float64
	for i := 0; i < 12; i++ {
		im, p, err := Render(cfg, i*25)
		if err != nil {
			t.Fatal(err)
		}
		for c := range pix {
			scales[c] = append(scales[c], p.SkySigma[c]/median[c])
			for _, v := range im.Plane(c) {
				pix[c] = append(pix[c], float64(v)/p.SkySigma[c])
			}
		}
	}
	for c := range pix {
		var sum, sum2 float64
		for _, v := range pix[c] {
			sum += v
			sum2 += v * v
		}
		n := float64(len(pix[c]))
		mean := sum / n
		sigma := math.Sqrt(sum2/n - mean*mean)
		// Correlated noise averages down more slowly than white noise.
		if tol := 10 / math.Sqrt(n); !(math.Abs(mean) < tol) {
			t.Errorf("band %s: sky mean %.5f sigma, want 0 within %.5f", data.Bands[c], mean, tol)
		}
		if !(math.Abs(sigma-1) < 0.02) {
			t.Errorf("band %s: sky scatter %.4f of the image's sky sigma, want 1", data.Bands[c], sigma)
		}
		if slices.Min(scales[c]) == slices.Max(scales[c]) || slices.Min(scales[c]) < 0.5 || slices.Max(scales[c]) > 2 {
			t.Errorf("band %s: depth scales %v, want a scatter about 1", data.Bands[c], scales[c])
		}
	}
}
