package sim

import (
	"math"
	"math/rand/v2"
	"slices"
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

// meanCoaddCov is the covariance of coadd noise of the given exposures at
// lags -lanczosA < lx, ly < lanczosA (row-major, side 2*lanczosA-1), averaged
// over a seeded sample of dithers: the expected covariance of a stamp.
func meanCoaddCov(exposures int) []float64 {
	const dithers = 4000
	w := 2*lanczosA - 1
	cov := make([]float64, w*w)
	r := rand.New(rand.NewPCG(11, uint64(exposures)))
	c := newCoaddNoise(1, exposures)
	for range dithers {
		c.dither(r)
		for i := range w {
			for j := range w {
				cov[i*w+j] += c.cov(j-lanczosA+1, i-lanczosA+1) / dithers
			}
		}
	}
	return cov
}

// noiseVar is the variance of sum_k a[k] z[k] for weights a on an n x n grid
// and unit-variance noise z of covariance cov (from meanCoaddCov).
func noiseVar(a []float64, n int, cov []float64) float64 {
	w, h := 2*lanczosA-1, lanczosA-1
	v := 0.0
	for i := range n {
		for j := range n {
			if a[i*n+j] == 0 {
				continue
			}
			for di := -h; di <= h; di++ {
				for dj := -h; dj <= h; dj++ {
					if y, x := i+di, j+dj; y >= 0 && y < n && x >= 0 && x < n {
						v += a[i*n+j] * a[y*n+x] * cov[(di+h)*w+dj+h]
					}
				}
			}
		}
	}
	return v
}

// The HSC preset's noise, correlated as the renderer draws it, gives
// point-source depths near the published ones and per-pixel sky sigmas near
// those of the real cutouts, within the compromise presets.yaml states.
func TestSurveyDepths(t *testing.T) {
	p, _ := DefaultPresets()
	s := p.Surveys["hsc"]
	// 5 sigma in 2" apertures: Aihara et al. 2018 (design and PDR1 Wide).
	aperture := [3]float64{26.5, 26.1, 25.9}
	const psfDepthI = 26.4 // i, PSF-weighted: Aihara et al. 2018 (PDR1 Wide)
	// The compromise: depths up to 0.35 mag shallower than published (none
	// more than 0.1 deeper), per-pixel sigma within 15% of the real robust
	// sigma (the model sits at its inverse-variance level, 1/1.12 of it).
	const shallower, deeper = 0.35, 0.1      // mag
	pixel := [3]float64{0.037, 0.054, 0.069} // robust sigma of the real cutouts, counts/s
	const tolPixel = 0.15                    // fraction
	sky := s.SkySigma()
	const radius = 1.0 // arcsec
	for c, b := range s.Bands.Array() {
		ps, _ := newPSF(s.PSF, b.Seeing)
		R := int(math.Ceil(ps.radius() / s.PixelScale))
		n := 2*R + 1
		k := make([]float64, n*n)
		ps.kernel(k, R, s.PixelScale)
		cov := meanCoaddCov(b.Exposures)
		// Optimal photometry: flux = sum(P d) / sum(P^2).
		p2 := 0.0
		for _, v := range k {
			p2 += v * v
		}
		psfDepth := Mag(5*sky[c]*math.Sqrt(noiseVar(k, n, cov))/p2, b.ZeroPoint)
		ap, frac := make([]float64, n*n), 0.0
		for i := range n {
			for j := range n {
				if math.Hypot(float64(i-R), float64(j-R))*s.PixelScale <= radius {
					ap[i*n+j] = 1
					frac += k[i*n+j]
				}
			}
		}
		apDepth := Mag(5*sky[c]*math.Sqrt(noiseVar(ap, n, cov))/frac, b.ZeroPoint)
		t.Logf("band %d: sky sigma %.4f, PSF depth %.2f, 2\" aperture depth %.2f (kernel radius %d px, flux %.3f)", c, sky[c], psfDepth, apDepth, R, frac)
		if !(apDepth >= aperture[c]-shallower && apDepth <= aperture[c]+deeper) {
			t.Errorf("band %d: 2\" aperture depth %.2f, published %.2f", c, apDepth, aperture[c])
		}
		if c == 2 && !(psfDepth >= psfDepthI-shallower && psfDepth <= psfDepthI+deeper) {
			t.Errorf("i: PSF depth %.2f, published %.2f", psfDepth, psfDepthI)
		}
		if !(math.Abs(sky[c]/pixel[c]-1) <= tolPixel) {
			t.Errorf("band %d: per-pixel sky sigma %.4f, real cutouts %.4f", c, sky[c], pixel[c])
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
		{"unknown key", "    depth_scatter: 0.15\n    bands:\n      g: {zero_point: 27.0", "    depth_scatter: 0.15\n    sky_flat: 1\n    bands:\n      g: {zero_point: 27.0", "sky_flat"},
		{"negative depth scatter", "depth_scatter: 0.15", "depth_scatter: -0.1", "surveys.hsc.depth_scatter"},
		{"zero seeing", "seeing: 0.77, gain: 4.36", "seeing: 0, gain: 4.36", "surveys.hsc.bands.g.seeing"},
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

// Sample and SampleBelow follow CDF: the empirical CDF of 20000 draws is
// within 0.015 of it (Kolmogorov-Smirnov at 1%: 0.0115), and SampleBelow(x)
// never exceeds x.
func TestDistCDF(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	counts := Dist{kind: distCounts, a: 22.5, b: 27, slope: 0.33}
	normal := Dist{kind: distNormal, a: 0.55, b: 0.15, lo: 0.3, hi: 0.9}
	for _, d := range []Dist{Uniform(1, 3), {kind: distLogUniform, a: 0.1, b: 0.45}, counts, normal} {
		lo, hi := d.Range()
		if d.CDF(lo-1e-9) != 0 || d.CDF(hi) != 1 {
			t.Errorf("%v: CDF %g below its range, %g at its top", d, d.CDF(lo-1e-9), d.CDF(hi))
		}
		const n = 20000
		v := make([]float64, n)
		for i := range v {
			v[i] = d.Sample(r)
		}
		slices.Sort(v)
		worst := 0.0
		for i, x := range v {
			worst = max(worst, math.Abs(d.CDF(x)-float64(i+1)/n))
		}
		if worst > 0.015 {
			t.Errorf("%v: draws depart from the CDF by %.4f", d, worst)
		}
		below := lo + 0.3*(hi-lo)
		for range 1000 {
			if x := d.SampleBelow(r, below); !(x >= lo && x <= below) {
				t.Fatalf("%v: SampleBelow(%g) drew %g", d, below, x)
			}
		}
	}
	// Number counts: 10^0.33 ~ 2.14 times as many sources per magnitude
	// one magnitude fainter.
	if got := (counts.CDF(26) - counts.CDF(25)) / (counts.CDF(25) - counts.CDF(24)); math.Abs(got-math.Pow(10, 0.33)) > 1e-9 {
		t.Errorf("counts per magnitude grow by %.4f, want 10^0.33", got)
	}
}
