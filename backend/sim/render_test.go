package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

func TestBleed(t *testing.T) {
	const S = 8
	tests := []struct {
		name   string
		col    []float64 // column 2, top to bottom
		level  float64
		want   []float64
		masked []int // rows marked
	}{
		{"below level", []float64{1, 2, 3, 4, 5, 4, 3, 2}, 10, []float64{1, 2, 3, 4, 5, 4, 3, 2}, nil},
		// Excess 30 - 10 = 20 spills 10 up and 10 down, filling to the level.
		{"one pixel", []float64{0, 0, 0, 0, 30, 0, 0, 0}, 10, []float64{0, 0, 0, 10, 10, 10, 0, 0}, []int{3, 4, 5}},
		// Excess 42: 21 up (8 + 10 + 3), 21 down (10 + 10 + 1).
		{"long trail", []float64{0, 0, 0, 2, 52, 0, 0, 0}, 10, []float64{0, 3, 10, 10, 10, 10, 10, 1}, []int{1, 2, 3, 4, 5, 6, 7}},
		// At the edge the spill leaves the stamp.
		{"edge", []float64{25, 0, 0, 0, 0, 0, 0, 0}, 10, []float64{10, 7.5, 0, 0, 0, 0, 0, 0}, []int{0, 1}},
	}
	for _, tc := range tests {
		img := make([]float64, S*S)
		for y, v := range tc.col {
			img[y*S+2] = v
		}
		mask := make([]bool, S*S)
		bleed(img, S, tc.level, mask)
		for y, w := range tc.want {
			if img[y*S+2] != w {
				t.Errorf("%s: column = %v, want %v", tc.name, column(img, S, 2), tc.want)
				break
			}
		}
		for k, m := range mask {
			if want := k%S == 2 && slices.Contains(tc.masked, k/S); m != want {
				t.Errorf("%s: pixel (%d, %d) masked %v, want %v", tc.name, k/S, k%S, m, want)
			}
		}
		for y := 0; y < S; y++ {
			if img[y*S+1] != 0 || img[y*S+3] != 0 {
				t.Fatalf("%s: bleed left its column", tc.name)
			}
		}
	}
}

func TestInterpolateRows(t *testing.T) {
	const S = 5
	img := []float64{
		1, 9, 9, 9, 5, // a run inside the row: a line from 1 to 5
		9, 9, 2, 0, 0, // a run at the left edge takes its right neighbour
		0, 0, 0, 3, 9, // at the right edge, its left one
		9, 9, 9, 9, 9, // a row masked across is left alone
		4, 4, 4, 4, 4, // nothing masked
	}
	mask := make([]bool, S*S)
	for k, v := range img {
		mask[k] = v == 9
	}
	interpolateRows(img, S, mask)
	want := []float64{
		1, 2, 3, 4, 5,
		2, 2, 2, 0, 0,
		0, 0, 0, 3, 3,
		9, 9, 9, 9, 9,
		4, 4, 4, 4, 4,
	}
	if !slices.Equal(img, want) {
		t.Errorf("interpolated\n%v, want\n%v", img, want)
	}
}

// Saturation masks the same pixels in every band, whichever band
// saturates, and every band interpolates over them.
func TestSaturate(t *testing.T) {
	const S = 6
	var out [3][]float64
	for c := range out {
		out[c] = make([]float64, S*S)
		for k := range out[c] {
			out[c][k] = float64(c + 1)
		}
	}
	out[2][2*S+3] = 100 // saturates in i alone: level 20, excess 80
	out[0][4*S+1] = 50  // and in g: level 10, excess 40 (plus the pixel's own 1)
	mask := make([]bool, S*S)
	n := saturate(out, S, [3]float64{10, 20, 20}, mask)
	want := 0
	for k, m := range mask {
		if m {
			want++
		}
		for c := range out {
			if out[c][k] != float64(c+1) {
				t.Errorf("band %d pixel (%d, %d) = %g after interpolation, want the flat %d", c, k/S, k%S, out[c][k], c+1)
			}
		}
	}
	if n != want || !mask[2*S+3] || !mask[4*S+1] || !mask[1*S+3] || !mask[3*S+1] {
		t.Errorf("%d pixels masked (%d reported), mask %v", want, n, mask)
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

// smallRenderer returns the small preset's configuration and a renderer of it.
func smallRenderer(t *testing.T) (Config, *renderer) {
	t.Helper()
	cfg := testConfig(t, "small")
	rd, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, rd
}

// A star keeps its flux, less the wings dropped below wingTol, and lands
// where it was put.
func TestAddStar(t *testing.T) {
	cfg, rd := smallRenderer(t)
	S, pix := cfg.Size, cfg.Survey.PixelScale
	sky := cfg.Survey.SkySigma()
	var psfs [3]psf
	for c, fwhm := range []float64{0.8, 0.7, 0.6} {
		psfs[c], _ = newPSF(cfg.Survey.PSF, fwhm)
	}
	out := [3][]float64{make([]float64, S*S), make([]float64, S*S), make([]float64, S*S)}
	st := star{x: 0.5, y: -0.8, flux: [3]float64{100, 200, 300}}
	rd.addStar(out, st, psfs)
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
		// The wings are drawn on the pixels centred inside the wing radius,
		// which cover the disc a pixel narrower.
		lost := tail(psfs[c], psfs[c].wingRadius(st.flux[c], pix, wingTol*sky[c])-pix)
		if !(sum/st.flux[c] < 1 && sum/st.flux[c] > 1-lost-1e-7) {
			t.Errorf("band %d: star flux %g, want %g less at most %.2g of it", c, sum, st.flux[c], lost)
		}
		if !(math.Abs(mx/sum-st.x) < 0.01 && math.Abs(my/sum-st.y) < 0.01) {
			t.Errorf("band %d: star centroid (%.3f, %.3f), want (%.3f, %.3f)", c, mx/sum, my/sum, st.x, st.y)
		}
	}
}

// starConfig is the small dataset with nothing in it but one bright star
// of i = 13.5 (colours g-r = 0.8, r-i = 0.4) per image.
func starConfig(t *testing.T) Config {
	cfg := testConfig(t, "small")
	pop := &cfg.Population
	pop.LensGalaxy.MagIPivot, pop.Source.Galaxy.MagI, pop.NonLens.Ring.MagI = 40, Const(40), Const(40)
	pop.Field.Neighbours, pop.Field.Star, pop.Field.BrightStar, pop.Field.BadColumn = 0, 0, 1, 0
	pop.Field.BrightStarMagI, pop.Field.StarGR, pop.Field.StarRI = Const(13.5), Const(0.8), Const(0.4)
	return cfg
}

// brightStar returns the position of the bright star of p.
func brightStar(t *testing.T, p Params) (x, y float64) {
	for _, c := range p.Contaminants {
		if strings.HasPrefix(c, "bright_star(") {
			if _, err := fmt.Sscanf(c, "bright_star(x=%g,y=%g,", &x, &y); err != nil {
				t.Fatal(err)
			}
			return x, y
		}
	}
	t.Fatalf("no bright star in %v", p.Contaminants)
	return 0, 0
}

// A bright star's wings follow the analytic PSF across the stamp, with no
// edge: a star of i = 13.5 added to an empty stamp and saturated as render
// does, at hsc's seeing in each band, is its pixel-integrated Moffat to within
// wingTol of the sky sigma outside the saturation mask.
func TestBrightStarWings(t *testing.T) {
	cfg, rd := smallRenderer(t)
	S, pix := cfg.Size, cfg.Survey.PixelScale
	sky := cfg.Survey.SkySigma()
	bands := cfg.Survey.Bands.Array()
	var psfs [3]psf
	var levels, zp [3]float64
	for c, b := range bands {
		psfs[c], _ = newPSF(cfg.Survey.PSF, b.Seeing)
		levels[c] = Flux(b.Saturation, b.ZeroPoint) * psfs[c].pixel(0, 0, pix)
		zp[c] = b.ZeroPoint
	}
	// Inside the stamp, near its edge, and beyond it.
	for _, at := range [][2]float64{{3.013, -2.271}, {-4.9, 4.4}, {6.1, 0.37}} {
		st := star{x: at[0], y: at[1], flux: fluxes(colourMags(13.5, 0.8, 0.4), zp)}
		out := [3][]float64{make([]float64, S*S), make([]float64, S*S), make([]float64, S*S)}
		rd.addStar(out, st, psfs)
		mask := make([]bool, S*S)
		if saturate(out, S, levels, mask) == 0 {
			t.Fatalf("star at %v: nothing saturated", at)
		}
		for c := range out {
			worst := 0.0
			for i := 0; i < S; i++ {
				for j := 0; j < S; j++ {
					if mask[i*S+j] {
						continue
					}
					dx, dy := (float64(j)+0.5-float64(S)/2)*pix-st.x, (float64(i)+0.5-float64(S)/2)*pix-st.y
					want := st.flux[c] * pixelFine(psfs[c], dx, dy, pix, 4)
					worst = max(worst, math.Abs(out[c][i*S+j]-want)/sky[c])
				}
			}
			if !(worst < wingTol) {
				t.Errorf("star at %v band %s: departs from its PSF by %.3g sky sigma", at, data.Bands[c], worst)
			}
			t.Logf("star at %v band %s: largest departure from its PSF %.3g sky sigma", at, data.Bands[c], worst)
		}
	}
}

// Saturation masks the same pixels in g, r and i, and the interpolation
// gives them the colour of the star's wings around them: with the same PSF
// in every band, the star's colour.
func TestBrightStarColour(t *testing.T) {
	for _, samePSF := range []bool{false, true} {
		cfg := starConfig(t)
		if samePSF {
			b := &cfg.Survey.Bands
			b.G.Seeing, b.R.Seeing = b.I.Seeing, b.I.Seeing
			cfg.Survey.SeeingScatter = 0
		}
		S, sky := cfg.Size, cfg.Survey.SkySigma()
		flux := fluxes(colourMags(13.5, 0.8, 0.4), [3]float64{cfg.Survey.Bands.G.ZeroPoint, cfg.Survey.Bands.R.ZeroPoint, cfg.Survey.Bands.I.ZeroPoint})
		checked := 0
		for _, index := range []int{0, 1, 2, 3} {
			_, _, parts, err := RenderParts(cfg, index)
			if err != nil {
				t.Fatal(err)
			}
			for k, m := range parts.Saturated {
				if !m {
					continue
				}
				// The unmasked pixels either side in the row.
				y, l, r := k/S, k%S, k%S
				for l >= 0 && parts.Saturated[y*S+l] {
					l--
				}
				for r < S && parts.Saturated[y*S+r] {
					r++
				}
				for _, c := range []int{0, 1} {
					ratio := parts.Scene[c][k] / parts.Scene[2][k]
					lo, hi := math.Inf(1), math.Inf(-1)
					faint := false // a colour is only defined where there is light
					for _, e := range []int{l, r} {
						if e >= 0 && e < S {
							q := parts.Scene[c][y*S+e] / parts.Scene[2][y*S+e]
							lo, hi = min(lo, q), max(hi, q)
							faint = faint || parts.Scene[c][y*S+e] < sky[c] || parts.Scene[2][y*S+e] < sky[2]
						}
					}
					if faint {
						continue
					}
					if samePSF && parts.Scene[c][k] > 10*sky[c] && parts.Scene[2][k] > 10*sky[2] {
						// Wings dropped below wingTol of the sky sigma
						// change the colour of pixels this bright by < 1%.
						lo, hi = flux[c]/flux[2]*0.98, flux[c]/flux[2]*1.02
						checked++
					}
					if !(ratio >= lo*(1-1e-9) && ratio <= hi*(1+1e-9)) {
						t.Fatalf("same PSF %v, image %d, pixel (%d, %d): %s/i = %.4f, want %.4f .. %.4f",
							samePSF, index, y, k%S, data.Bands[c], ratio, lo, hi)
					}
				}
			}
		}
		if samePSF && checked < 100 {
			t.Errorf("only %d masked pixels bright enough to check the star's colour", checked)
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
