package sim

import (
	"math"
	"testing"
)

// lensedImage renders a small circular Gaussian source of total i flux 1 at
// (bx, by) behind l, noise-free, on an n x n grid of pixel pix (arcsec).
func lensedImage(l Lens, bx, by, sigma float64, n int, pix float64) []float64 {
	ras := newRaster(n, pix, [3]bandNoise{}, 0)
	m := l.prepare()
	ras.setLens(&m)
	out := [3][]float64{make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)}
	ras.integrate([]light{newGaussian(bx, by, sigma, [3]float64{0, 0, 1})}, true, &out)
	return out[2]
}

func TestSISEinsteinRing(t *testing.T) {
	const n, pix = 100, 0.03 // 3" across
	for _, thetaE := range []float64{1, 1.25} {
		img := lensedImage(Lens{ThetaE: thetaE, Q: 1}, 0, 0, 0.02, n, pix)
		var sum, sumR, sumR2 float64
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				r := math.Hypot((float64(j)+0.5-n/2)*pix, (float64(i)+0.5-n/2)*pix)
				v := img[i*n+j]
				sum += v
				sumR += v * r
				sumR2 += v * r * r
			}
		}
		radius := sumR / sum
		width := math.Sqrt(sumR2/sum - radius*radius)
		if !(math.Abs(radius-thetaE) <= 0.01) {
			t.Errorf("theta_E %g: ring radius %.4f\"", thetaE, radius)
		}
		if !(width <= 0.05) {
			t.Errorf("theta_E %g: ring rms width %.4f\", want a thin ring", thetaE, width)
		}
	}
}

// A point source at beta < theta_E behind an SIS has two images of
// magnification theta_E/beta + 1 and theta_E/beta - 1 (total 2 theta_E/beta);
// beyond theta_E one image of 1 + theta_E/beta.
func TestSISMagnification(t *testing.T) {
	const n, pix, thetaE = 200, 0.03, 1.0 // 6" across
	for _, beta := range []float64{0.2, 0.35, 0.6, 1.5} {
		want := 2 * thetaE / beta
		if beta > thetaE {
			want = 1 + thetaE/beta
		}
		img := lensedImage(Lens{ThetaE: thetaE, Q: 1}, beta*0.6, beta*0.8, 0.015, n, pix)
		mu := 0.0
		for _, v := range img {
			mu += v
		}
		if !(math.Abs(mu/want-1) <= 0.05) {
			t.Errorf("beta %g: magnification %.3f, analytic %.3f", beta, mu, want)
		}
	}
}
