package sim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

// A top-hat arc of 10 pixels of flux 5 on unit noise, with wings below the
// noise: S/N = 50 / sqrt(10); nothing above the noise gives 0.
func TestArcSNR(t *testing.T) {
	src, sigma := make([]float64, 100), make([]float64, 100)
	for k := range src {
		sigma[k] = 1
		src[k] = 0.9 // below the noise: left out
		if k%10 == 3 {
			src[k] = 5
		}
	}
	if got, want := arcSNR(src, sigma), 50/math.Sqrt(10); math.Abs(got-want) > 1e-12 {
		t.Errorf("S/N = %v, want %v", got, want)
	}
	if got := arcSNR(make([]float64, 100), sigma); got != 0 {
		t.Errorf("S/N of no arc = %v, want 0", got)
	}
	// A Gaussian arc of flux F much wider than a pixel on sigma s: the
	// pixels above s carry nearly all of F.
	const S, F, s, w = 64, 2000.0, 0.5, 4.0
	g, sg := make([]float64, S*S), make([]float64, S*S)
	n := 0.0
	for y := range S {
		for x := range S {
			r2 := float64((x-32)*(x-32) + (y-32)*(y-32))
			g[y*S+x] = F / (2 * math.Pi * w * w) * math.Exp(-r2/(2*w*w))
			sg[y*S+x] = s
			if g[y*S+x] > s {
				n++
			}
		}
	}
	// Above s down to r^2 = 2 w^2 ln(F / (2 pi w^2 s)): 1 - (2 pi w^2 s / F) of F.
	want := F * (1 - 2*math.Pi*w*w*s/F) / (s * math.Sqrt(n))
	if got := arcSNR(g, sg); math.Abs(got-want) > 0.03*want {
		t.Errorf("Gaussian arc S/N = %v, want %v", got, want)
	}
}

func TestNoiseMeasures(t *testing.T) {
	const S = 256
	r := rand.New(rand.NewPCG(1, 2))
	white := make([]float64, S*S)
	for k := range white {
		white[k] = 2 * r.NormFloat64()
	}
	x, y := neighbourPairs(white, S)
	if math.Abs(x.corr()) > 0.02 || math.Abs(y.corr()) > 0.02 {
		t.Errorf("white noise: correlation x %v, y %v, want ~0", x.corr(), y.corr())
	}
	// A 2-tap filter along x, z[j] = w[j] + a w[j+1]: correlation a / (1 + a^2)
	// along x, none along y.
	const a = 0.6
	filtered := make([]float64, S*S)
	for i := range S {
		for j := range S {
			filtered[i*S+j] = white[i*S+j] + a*white[i*S+(j+1)%S]
		}
	}
	x, y = neighbourPairs(filtered, S)
	if want := a / (1 + a*a); math.Abs(x.corr()-want) > 0.02 || math.Abs(y.corr()) > 0.02 {
		t.Errorf("2-tap filter: correlation x %v, y %v, want %v and ~0", x.corr(), y.corr(), want)
	}
	if got := robustSigma(white); math.Abs(got-2) > 0.04 {
		t.Errorf("robust sigma of N(0, 2^2) = %v", got)
	}
	if got := (pairSums{}).corr(); got != 0 {
		t.Errorf("correlation of nothing = %v", got)
	}
}

func TestCropFeatures(t *testing.T) {
	const S, pix = 32, 0.168
	// Flat g = 10^0.4 i: g - i = -1 at equal zero points, +1 more at zp_g 1 higher.
	g, i := make([]float64, S*S), make([]float64, S*S)
	for k := range g {
		g[k], i[k] = math.Pow(10, 0.4), 1
	}
	if got := annulusColour(g, i, S, pix, 27, 27); math.Abs(got+1) > 1e-12 {
		t.Errorf("annulus g - i = %v, want -1", got)
	}
	if got := annulusColour(g, i, S, pix, 28, 27); math.Abs(got) > 1e-12 {
		t.Errorf("annulus g - i at zp 28 / 27 = %v, want 0", got)
	}
	// Light only outside the annulus does not count.
	clear(g)
	g[0] = 100
	if got := annulusColour(g, i, S, pix, 27, 27); got < 10 {
		t.Errorf("annulus g - i with no g in the annulus = %v, want very red", got)
	}
	// A centred Gaussian is point-symmetric; one off-centre blob is not.
	sym, blob := make([]float64, S*S), make([]float64, S*S)
	for y := range S {
		for x := range S {
			dx, dy := float64(x)+0.5-S/2, float64(y)+0.5-S/2
			sym[y*S+x] = math.Exp(-(dx*dx + dy*dy) / 8)
			dx -= 6
			blob[y*S+x] = math.Exp(-(dx*dx + dy*dy) / 8)
		}
	}
	if got := asymmetry(sym, S); math.Abs(got) > 1e-12 {
		t.Errorf("asymmetry of a centred Gaussian = %v, want 0", got)
	}
	if got := asymmetry(blob, S); got < 0.9 {
		t.Errorf("asymmetry of an off-centre blob = %v, want ~1", got)
	}
	// The centre crop of a constant image: the constant, no scatter.
	im := data.NewImage(3, 64, 64)
	for k := range im.Pix {
		im.Pix[k] = 0.25
	}
	mean, std := cropStats(im)
	crop, side := cropPlane(im.Plane(1), 64, 64)
	for c := range 3 {
		if mean[c] != 0.25 || std[c] != 0 {
			t.Errorf("band %d: crop mean %v std %v, want 0.25 and 0", c, mean[c], std[c])
		}
	}
	if side != CropSize || len(crop) != CropSize*CropSize || crop[0] != 0.25 {
		t.Errorf("crop side %d, %d pixels", side, len(crop))
	}
}

func TestContaminantParsing(t *testing.T) {
	cs := []string{"galaxy(x=1.25,y=-3.00,i=21.50,red)", "star(x=0.10,y=0.20,i=18.00)",
		"bad_column(band=r,col=3,rows=0-63,dead)", "galaxy(x=-0.50,y=2.00,i=24.10,blue)"}
	ns, err := neighbours(cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0] != (neighbour{1.25, -3, 21.5}) || ns[1] != (neighbour{-0.5, 2, 24.1}) {
		t.Errorf("neighbours = %+v", ns)
	}
	if b := badColumnBand(cs); b != 1 {
		t.Errorf("bad column band = %d, want 1 (r)", b)
	}
	if b := badColumnBand(cs[:2]); b != -1 {
		t.Errorf("bad column band without one = %d", b)
	}
	if _, err := neighbours([]string{"galaxy(x=oops)"}); err == nil {
		t.Error("a malformed neighbour parsed")
	}
}

// A feature that separates the classes perfectly has AUC 1 (or 0 reversed),
// and the leakage check reports separation 1 either way.
func TestAggregateLeakage(t *testing.T) {
	cfg := testConfig(t, "small")
	var all []measured
	for k := range 10 {
		m := measured{colour: float64(k), asymmetry: float64(k % 2)}
		m.p.Label = data.NonLens
		if k >= 5 {
			m.p.Label, m.p.Kind, m.p.ThetaE = data.Lens, KindLens, 1
		}
		all = append(all, m)
	}
	rep, err := aggregate(&cfg, all)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Leakage.AnnulusColourAUC != 1 || rep.Leakage.Best != 1 {
		t.Errorf("perfect feature: AUC %v, best %v, want 1", rep.Leakage.AnnulusColourAUC, rep.Leakage.Best)
	}
	for k := range all {
		all[k].colour = -all[k].colour
	}
	if rep, _ = aggregate(&cfg, all); rep.Leakage.AnnulusColourAUC != 0 || rep.Leakage.Best != 1 {
		t.Errorf("reversed perfect feature: AUC %v, best %v, want 0 and 1", rep.Leakage.AnnulusColourAUC, rep.Leakage.Best)
	}
	if rep.Lenses != 5 || rep.NonLenses != 5 || rep.ThetaE.Median != 1 {
		t.Errorf("counts %d / %d, theta_E median %v", rep.Lenses, rep.NonLenses, rep.ThetaE.Median)
	}
}
