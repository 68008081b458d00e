package sim

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mathext"
)

// b_n makes r_eff the half-light radius: the regularised lower incomplete
// gamma function P(2n, b_n) is 1/2.
func TestSersicBHalfLight(t *testing.T) {
	for _, n := range []float64{0.5, 0.8, 1, 2, 4, 6} {
		if p := mathext.GammaIncReg(2*n, sersicB(n)); !(math.Abs(p-0.5) <= 3e-4) {
			t.Errorf("n=%g: P(2n, b_n) = %.6f, want 0.5", n, p)
		}
	}
}

// integrateLights renders lights noise-free on an n x n grid of pixel pix.
func integrateLights(ls []light, n int, pix float64) [3][]float64 {
	ras := newRaster(n, pix, [3]bandNoise{}, 0)
	out := [3][]float64{make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)}
	ras.integrate(ls, false, &out)
	return out
}

func total(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func TestRenderedFluxMatchesAnalytic(t *testing.T) {
	// 256 px of 0.05": +-6.4", over 20 r_eff: the flux outside is < 1e-3.
	const n, pix = 256, 0.05
	flux := [3]float64{10, 20, 40}
	tests := []struct {
		name  string
		light light
	}{
		{"sersic n=0.5", newSersic(0.01, -0.02, 0.3, 1, 0.3, 0.5, flux)},
		{"sersic n=1 q=0.4", newSersic(0, 0, 1.1, 0.4, 0.3, 1, flux)},
		{"sersic n=2.5 q=0.7", newSersic(0.3, 0.2, 2, 0.7, 0.25, 2.5, flux)},
		{"sersic n=4", newSersic(0.02, 0.01, 0, 1, 0.2, 4, flux)},
		{"sersic n=4 q=0.5 off-centre core", newSersic(0.013, 0.031, 0.5, 0.5, 0.15, 4, flux)},
		{"gaussian clump", newGaussian(0.1, 0.1, 0.04, flux)},
		{"ring", newRing(0, 0, 0.4, 0.8, 1.5, 0.1, flux)},
		{"spiral", &spiral{sersic: newSersic(0, 0, 0.3, 0.8, 1, 1, flux), arms: 2, cotPitch: 3, contrast: 0.8}},
	}
	for _, tc := range tests {
		out := integrateLights([]light{tc.light}, n, pix)
		for c := range out {
			if got := total(out[c]); !(math.Abs(got/flux[c]-1) <= 0.02) {
				t.Errorf("%s band %d: rendered flux %.4f, analytic %.4f (%.2f%% off)", tc.name, c, got, flux[c], 100*(got/flux[c]-1))
			}
		}
	}
}

// The elliptical radius keeps the major axis along the angle.
func TestSersicOrientation(t *testing.T) {
	s := newSersic(0, 0, math.Pi/2, 0.5, 0.5, 1, [3]float64{1, 1, 1}) // major axis along y
	var alongX, alongY [3]float64
	s.add(0.5, 0, &alongX)
	s.add(0, 0.5, &alongY)
	if !(alongY[0] > alongX[0]) {
		t.Errorf("brightness along the major axis %g, minor %g: want major brighter", alongY[0], alongX[0])
	}
}

// The tabulated Sersic profile stays within 1e-3 of the exact one: of the
// profile itself inside r_eff, of its value at r_eff beyond.
func TestSersicTable(t *testing.T) {
	for _, n := range []float64{0.5, 1, 2.5, 4, 6} {
		s := newSersic(0, 0, 0, 1, 1, n, [3]float64{1, 1, 1})
		worst := 0.0
		for k := range 20000 {
			r2 := math.Exp(-16 + float64(k)*(math.Log(s.r2max)+16)/20000)
			got, want := s.profile(r2), s.exact(r2)
			worst = max(worst, math.Abs(got-want)/max(want, s.exact(1)))
		}
		if !(worst < 1e-3) {
			t.Errorf("n %g: table departs from the profile by %.2g", n, worst)
		}
	}
}
