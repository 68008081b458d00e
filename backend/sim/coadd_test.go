package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Lanczos taps keep flux, and an undithered exposure is copied as is.
func TestLanczosTaps(t *testing.T) {
	for _, d := range []float64{0, 0.25, 0.5, 0.9} {
		w, sum := lanczosTaps(d), 0.0
		for _, v := range w {
			sum += v
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("d=%g: taps sum to %v", d, sum)
		}
	}
	w := lanczosTaps(0)
	for k, v := range w {
		want := 0.0
		if k == lanczosA-1 {
			want = 1
		}
		if math.Abs(v-want) > 1e-12 {
			t.Errorf("d=0: tap %d = %v, want %v", k, v, want)
		}
	}
}

// A seeded Monte Carlo of the field, for fixed dithers, has unit variance
// per pixel and the covariance the kernels imply at lags (1, 0), (0, 1),
// (1, 1) and (2, 0).
func TestCoaddNoiseCovariance(t *testing.T) {
	const size, draws = 16, 3000
	r := rand.New(rand.NewPCG(7, 8))
	for _, exposures := range []int{1, 4, 6} {
		c := newCoaddNoise(size, exposures)
		c.dither(r)
		lags := [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0}}
		sums := make([]float64, len(lags))
		counts := make([]float64, len(lags))
		z := make([]float64, size*size)
		for range draws {
			c.field(r, z)
			for n, l := range lags {
				for i := 0; i+l[1] < size; i++ {
					for j := 0; j+l[0] < size; j++ {
						sums[n] += z[i*size+j] * z[(i+l[1])*size+j+l[0]]
						counts[n]++
					}
				}
			}
		}
		for n, l := range lags {
			got, want := sums[n]/counts[n], c.cov(l[0], l[1])
			if !(math.Abs(got-want) < 0.01) {
				t.Errorf("%d exposures, lag %v: covariance %.4f, kernels give %.4f", exposures, l, got, want)
			}
		}
		if v := c.cov(0, 0); math.Abs(v-1) > 1e-12 {
			t.Errorf("%d exposures: analytic variance %v, want 1", exposures, v)
		}
		if rho := c.cov(1, 0); !(rho > 0.05 && rho < 0.5) {
			t.Errorf("%d exposures: neighbour correlation %.3f, not a coadd's", exposures, rho)
		}
	}
}
