package sim

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

// RenderParts returns Render's image bit for bit, a source only for lenses,
// and the sigma the noise model gives the scene.
func TestRenderParts(t *testing.T) {
	cfg := testConfig(t, "small")
	rd, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		t.Fatal(err)
	}
	S := cfg.Size
	for _, i := range []int{0, 1, 200, 302} {
		want, wp, err := Render(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		// A used renderer (stale source buffers) gives the same parts.
		im, p, parts, err := RenderParts(cfg, i)
		if err != nil {
			t.Fatal(err)
		}
		var again Parts
		if _, _, err := rd.renderParts(i, &again); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(im.Pix, want.Pix) || p.File != wp.File {
			t.Fatalf("image %d: RenderParts differs from Render", i)
		}
		srcFlux := 0.0
		for c := range 3 {
			if len(parts.Scene[c]) != S*S || len(parts.Source[c]) != S*S || len(parts.Sigma[c]) != S*S {
				t.Fatalf("image %d band %d: parts of the wrong size", i, c)
			}
			if !slices.Equal(parts.Source[c], again.Source[c]) || !slices.Equal(parts.Scene[c], again.Scene[c]) {
				t.Errorf("image %d band %d: parts depend on the renderer's history", i, c)
			}
			// The noise model's sigma, scaled by the image's depth draw.
			nb := rd.noise[c]
			scale := p.SkySigma[c] / math.Sqrt(nb.bkgVar)
			if !(scale > 0.3 && scale < 3) {
				t.Errorf("image %d band %d: depth scale %v", i, c, scale)
			}
			for k, f := range parts.Scene[c] {
				if want := scale * math.Sqrt(nb.bkgVar+nb.perFlux*max(f, 0)); math.Abs(parts.Sigma[c][k]/want-1) > 1e-12 {
					t.Fatalf("image %d band %d: sigma %v, want %v", i, c, parts.Sigma[c][k], want)
				}
			}
			for _, v := range parts.Source[c] {
				srcFlux += v
			}
		}
		switch {
		case p.Label == data.Lens && srcFlux <= 0:
			t.Errorf("lens %d: no lensed source flux", i)
		case p.Label == data.NonLens && srcFlux != 0:
			t.Errorf("non-lens %d: source flux %v", i, srcFlux)
		}
	}
}

// The report on the small preset has every figure present and finite.
func TestMeasureSmall(t *testing.T) {
	cfg := testConfig(t, "small")
	cfg.Workers = 2
	calls := 0
	rep, err := Measure(cfg, 2, func(done, total int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Images != 152 || calls != 152 || rep.Lenses+rep.NonLenses != 152 || rep.Lenses == 0 || rep.NonLenses == 0 || rep.Every != 2 {
		t.Errorf("measured %d images (%d lenses, %d non-lenses, every %d), %d progress calls", rep.Images, rep.Lenses, rep.NonLenses, rep.Every, calls)
	}
	for _, s := range []Spread{rep.ArcSNR.Bands[0], rep.ArcSNR.Bands[1], rep.ArcSNR.Bands[2], rep.ArcSNR.Best,
		rep.Colours.GR, rep.Colours.RI, rep.ThetaE, rep.Shear} {
		if s.N != rep.Lenses || !(s.Min <= s.Median && s.Median <= s.Max) {
			t.Errorf("spread %+v over %d lenses", s, rep.Lenses)
		}
	}
	// Coadd noise: neighbours correlate, and the measured sigma is the
	// model's median (the depth scatter is symmetric in magnitudes), within
	// 15% of the real cutouts' robust sigma.
	realSigma := [3]float64{0.037, 0.054, 0.069}
	for c, n := range rep.Noise {
		if n.Sigma <= 0 || n.ModelSigma <= 0 || !(n.CorrX > 0.05 && n.CorrX < 0.5) || !(n.CorrY > 0.05 && n.CorrY < 0.5) {
			t.Errorf("band %d noise %+v", c, n)
		}
		if !(math.Abs(n.Sigma/n.ModelSigma-1) < 0.05) || !(math.Abs(n.Sigma/realSigma[c]-1) < 0.15) {
			t.Errorf("band %d: measured sigma %.4f, model %.4f, real %.4f", c, n.Sigma, n.ModelSigma, realSigma[c])
		}
	}
	if rep.Neighbours.InsideStamps == 0 || rep.Crop.Std[2] <= 0 || rep.Crop.RefMean != RealCropMean || rep.Leakage.Best < 0.5 {
		t.Errorf("neighbours %+v, crop %+v, leakage %+v", rep.Neighbours, rep.Crop, rep.Leakage)
	}
	if rep.Survey != "hsc" || rep.Seed != 1 || rep.Size != 64 {
		t.Errorf("report of survey %q, seed %d, size %d", rep.Survey, rep.Seed, rep.Size)
	}
	binned := 0
	for _, zb := range rep.Colours.ByRedshift {
		binned += zb.N
	}
	if rep.Colours.Redshift.N != rep.Lenses || binned != rep.Lenses {
		t.Errorf("%d lens redshifts, %d in colour bins, of %d lenses", rep.Colours.Redshift.N, binned, rep.Lenses)
	}
	// JSON refuses NaN and infinities, so this checks every number is finite.
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"arc_snr", "noise", "lens_colours", "theta_e", "theta_e_frac_above_2", "shear", "neighbours", "leakage", "crop"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("JSON lacks %q", key)
		}
	}
	md := rep.Markdown()
	for _, want := range []string{"## Arc S/N", "## Noise", "## Lens colours", "## Lens mass", "## Field galaxies", "## Leakage", "## 32x32 centre crops", "0.1995 / 0.6668 / 1.2940"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	// Every table row has its three cells (no stray pipe in a cell).
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "|") && strings.Count(line, "|") != 4 {
			t.Errorf("table row with %d pipes: %s", strings.Count(line, "|"), line)
		}
	}
	if strings.Contains(md, "NaN") || strings.Contains(md, "Inf") {
		t.Errorf("Markdown has a non-finite figure:\n%s", md)
	}
	// The sample and the worker count do not change the figures.
	cfg.Workers = 1
	if again, _ := Measure(cfg, 2, nil); again != rep {
		t.Error("Measure depends on the worker count")
	}
}
