package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sslens/sslens/backend/data"
)

func TestDefaultPresets(t *testing.T) {
	p, err := DefaultPresets()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hsc", "des", "lsst"} {
		if _, err := p.Config(s, "seed"); err != nil {
			t.Errorf("survey %s: %v", s, err)
		}
	}
	hsc := p.Surveys["hsc"]
	if hsc.PixelScale != 0.168 || hsc.Bands.I.ZeroPoint != 27 || hsc.Bands.G.Seeing != 0.77 || hsc.Bands.I.Seeing != 0.58 {
		t.Errorf("hsc preset %+v does not hold the HSC figures", hsc)
	}
	seed := p.Counts["seed"]
	want := Counts{Train: SplitCounts{2333, 1530}, Val: SplitCounts{259, 170}, Test: SplitCounts{458, 300}}
	if seed != want || seed.Total() != 5050 {
		t.Errorf("seed counts %+v (total %d), want %+v (5050)", seed, seed.Total(), want)
	}
	// small keeps the seed's proportions to within a couple of images.
	small := p.Counts["small"]
	f := float64(small.Total()) / float64(seed.Total())
	for i, s := range small.splits() {
		ref := seed.splits()[i]
		if math.Abs(float64(s.Lenses)-f*float64(ref.Lenses)) > 2 || math.Abs(float64(s.NonLenses)-f*float64(ref.NonLenses)) > 2 {
			t.Errorf("small split %d = %+v, not %.3f of %+v", i, s, f, ref)
		}
	}
	if _, err := p.Config("euclid", "seed"); err == nil || !strings.Contains(err.Error(), "hsc") {
		t.Errorf("unknown survey: err %v, want one listing the presets", err)
	}
	if _, err := p.Config("hsc", "huge"); err == nil {
		t.Error("unknown counts preset accepted")
	}
}

// The noise model with the HSC preset reproduces the published 5 sigma
// point-source depths in 2" apertures of the Wide layer (Aihara et al. 2018).
func TestSurveyDepths(t *testing.T) {
	p, _ := DefaultPresets()
	s := p.Surveys["hsc"]
	published := [3]float64{26.5, 26.1, 25.9}
	sky := s.SkySigma()
	const radius = 1.0 // arcsec
	for c, b := range s.Bands.Array() {
		ps, _ := newPSF(s.PSF, b.Seeing)
		// Moffat flux inside the aperture: 1 - (1 + r^2/alpha^2)^(1-beta).
		frac := 1 - math.Pow(1+radius*radius/(ps.scale*ps.scale), 1-ps.beta)
		pixels := math.Pi * radius * radius / (s.PixelScale * s.PixelScale)
		depth := Mag(5*sky[c]*math.Sqrt(pixels)/frac, b.ZeroPoint)
		if !(math.Abs(depth-published[c]) <= 0.1) {
			t.Errorf("band %d: 5 sigma depth %.2f, published %.2f", c, depth, published[c])
		}
	}
}

func TestDistYAML(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi float64
		err    string
	}{
		{in: "1.5", lo: 1.5, hi: 1.5},
		{in: "[1, 2]", lo: 1, hi: 2},
		{in: "{uniform: [-1, 1]}", lo: -1, hi: 1},
		{in: "{loguniform: [0.1, 10]}", lo: 0.1, hi: 10},
		{in: "{normal: [0, 1], clip: [-2, 3]}", lo: -2, hi: 3},
		{in: "[2, 1]", err: "lo > hi"},
		{in: "[1, 2, 3]", err: "two numbers"},
		{in: "{loguniform: [0, 1]}", err: "loguniform needs"},
		{in: "{normal: [0, 1], clip: [1, 2]}", err: "excludes the mean"},
		{in: "{uniform: [0, 1], clip: [0, 1]}", err: "clip only goes with normal"},
		{in: "{gamma: [1, 2]}", err: "bad distribution gamma"},
		{in: "{uniform: [0, 1], normal: [0, 1]}", err: "exactly one"},
		{in: "abc", err: "want a number"},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range tests {
		var d Dist
		err := yaml.Unmarshal([]byte(tc.in), &d)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if lo, hi := d.Range(); lo != tc.lo || hi != tc.hi {
			t.Errorf("%s: range [%g, %g], want [%g, %g]", tc.in, lo, hi, tc.lo, tc.hi)
		}
		seen := map[bool]bool{}
		for range 2000 {
			x := d.Sample(r)
			if !(x >= tc.lo && x <= tc.hi) {
				t.Fatalf("%s: drew %g outside [%g, %g]", tc.in, x, tc.lo, tc.hi)
			}
			seen[x < (tc.lo+tc.hi)/2] = true
		}
		if tc.lo < tc.hi && len(seen) != 2 {
			t.Errorf("%s: all draws on one side of the middle", tc.in)
		}
	}
}

func TestParsePresetsRejects(t *testing.T) {
	base := string(presetsYAML)
	tests := []struct {
		name, old, new, err string
	}{
		{"unknown key", "    seeing_scatter: 0.1\n    bands:\n      g: {zero_point: 27.0", "    seeing_scatter: 0.1\n    sky_flat: 1\n    bands:\n      g: {zero_point: 27.0", "sky_flat"},
		{"zero seeing", "seeing: 0.77, gain: 6.5", "seeing: 0, gain: 6.5", "surveys.hsc.bands.g.seeing"},
		{"bad psf", "psf: {profile: moffat, beta: 3.5}", "psf: {profile: airy}", "surveys.hsc.psf.profile"},
		{"unknown kind", "ring: 0.14, spiral", "donut: 0.14, spiral", `unknown kind "donut"`},
		{"negative radius", "r_eff_kpc: {loguniform: [3, 10]}", "r_eff_kpc: [-1, 10]", "population.lens_galaxy.r_eff_kpc"},
		{"colour track too short", "      - [0.90, 2.02, 1.40]\n", "", "population.lens_galaxy.colour_track: covers z 0.3-0.8"},
		{"counts without slope", "{counts: [22.5, 27.0], slope: 0.33}", "{counts: [22.5, 27.0]}", "slope goes with counts"},
		{"theta_e range reversed", "theta_e_range: [0.5, 3.0]", "theta_e_range: [3.0, 0.5]", "population.mass.theta_e_range[1]"},
		{"missing", "    clump_sigma: [0.03, 0.08]    # Gaussian sigma, arcsec\n", "", "population.source.clump_sigma: missing"},
	}
	for _, tc := range tests {
		if !strings.Contains(base, tc.old) {
			t.Fatalf("%s: presets.yaml no longer holds %q", tc.name, tc.old)
		}
		_, err := ParsePresets([]byte(strings.Replace(base, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want one naming %q", tc.name, err, tc.err)
		}
	}
}

// A new survey is a YAML entry, no code.
func TestPresetNeedsNoCode(t *testing.T) {
	extra := strings.Replace(string(presetsYAML), "surveys:\n", `surveys:
  toy:
    pixel_scale: 0.25
    read_noise: 5
    psf: {profile: gaussian}
    seeing_scatter: 0
    bands:
      g: {zero_point: 30, exposure: 100, exposures: 2, sky: 22, seeing: 1.0, gain: 1, saturation: 15}
      r: {zero_point: 30, exposure: 100, exposures: 2, sky: 21, seeing: 0.9, gain: 1, saturation: 15}
      i: {zero_point: 30, exposure: 100, exposures: 2, sky: 20, seeing: 0.8, gain: 1, saturation: 15}
`, 1)
	p, err := ParsePresets([]byte(extra))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := p.Config("toy", "small")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Size = 40
	im, params, err := Render(cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if im.C != 3 || im.H != 40 || im.W != 40 {
		t.Errorf("image %dx%dx%d, want 3x40x40", im.C, im.H, im.W)
	}
	if params.Seeing != [3]float64{1.0, 0.9, 0.8} {
		t.Errorf("seeing %v, want the toy survey's (no scatter)", params.Seeing)
	}
}

func TestCountsLocate(t *testing.T) {
	c := Counts{Train: SplitCounts{2, 1}, Val: SplitCounts{1, 1}, Test: SplitCounts{0, 2}}
	want := []struct {
		split data.SplitName
		lens  bool
	}{{"train", true}, {"train", true}, {"train", false}, {"val", true}, {"val", false}, {"test", false}, {"test", false}}
	for i, w := range want {
		split, label, err := c.Locate(i)
		if err != nil || split != w.split || (label == data.Lens) != w.lens {
			t.Errorf("Locate(%d) = %s, %v, %v; want %s, lens=%v", i, split, label, err, w.split, w.lens)
		}
	}
	for _, i := range []int{-1, 7} {
		if _, _, err := c.Locate(i); err == nil {
			t.Errorf("Locate(%d) succeeded", i)
		}
	}
}
