package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// tail is the flux fraction of p beyond radius r (arcsec).
func tail(p psf, r float64) float64 {
	if p.moffat {
		return math.Pow(1+r*r/(p.scale*p.scale), 1-p.beta)
	}
	return math.Exp(-r * r / (2 * p.scale * p.scale))
}

// pixelFine integrates p over the pixel of side pix centred at (x, y) as
// pixel does, on m x m sub-pixels.
func pixelFine(p psf, x, y, pix float64, m int) float64 {
	v, h := 0.0, pix/float64(m)
	for a := 0; a < m; a++ {
		for b := 0; b < m; b++ {
			v += p.pixel(x+(float64(b)+0.5-float64(m)/2)*h, y+(float64(a)+0.5-float64(m)/2)*h, h)
		}
	}
	return v
}

func TestPSFKernel(t *testing.T) {
	const pix = 0.168
	tests := []struct {
		name string
		spec PSFSpec
		fwhm float64
	}{
		{"gaussian", PSFSpec{Profile: "gaussian"}, 0.7},
		{"moffat 3.5", PSFSpec{Profile: "moffat", Beta: 3.5}, 0.6},
		{"moffat 3.5 sharp", PSFSpec{Profile: "moffat", Beta: 3.5}, 0.36},
		{"moffat 2.5", PSFSpec{Profile: "moffat", Beta: 2.5}, 1.1},
	}
	for _, tc := range tests {
		p, err := newPSF(tc.spec, tc.fwhm)
		if err != nil {
			t.Fatal(err)
		}
		// The profile is at half its peak at FWHM/2.
		if h := p.at(tc.fwhm*tc.fwhm/4) / p.at(0); !(math.Abs(h-0.5) < 1e-12) {
			t.Errorf("%s: profile at FWHM/2 is %g of the peak, want 0.5", tc.name, h)
		}
		// Pixel integrals agree with a 10 x 10 finer integration, in the
		// core and in the wings.
		for _, at := range [][2]float64{{0, 0}, {0.1, -0.05}, {0.3, 0.2}, {0.7, 0.4}, {2.5, -1.1}} {
			got, want := p.pixel(at[0], at[1], pix), pixelFine(p, at[0], at[1], pix, 10)
			if !(math.Abs(got-want) < 1e-5*want+1e-12*p.pixel(0, 0, pix)) {
				t.Errorf("%s: pixel at %v = %.9g, want %.9g", tc.name, at, got, want)
			}
		}
		// The wing radius is a pixel beyond where the flux's pixels reach
		// the threshold.
		const flux, tol = 1e5, 0.006
		rw := p.wingRadius(flux, pix, tol)
		if got := flux * pix * pix * p.at((rw-pix)*(rw-pix)); !(math.Abs(got/tol-1) < 1e-9) {
			t.Errorf("%s: wings at the wing radius %.3f give %g per pixel, want %g", tc.name, rw, got, tol)
		}
		if r := p.wingRadius(tol/(2*pix*pix*p.norm), pix, tol); r != 0 {
			t.Errorf("%s: a source below the threshold has wing radius %g", tc.name, r)
		}
		// The kernel holds the flux inside its square: its sum plus the
		// analytic tail is 1 (to the pixel integrals' accuracy), the tail
		// lying between those beyond the square's inscribed and
		// circumscribed circles.
		for _, R := range []int{int(math.Ceil(p.radius() / pix)), int(math.Ceil(rw / pix)), 150} {
			w := 2*R + 1
			k := make([]float64, w*w)
			p.kernel(k, R, pix)
			var sum, mx, my float64
			for i := 0; i < w; i++ {
				for j := 0; j < w; j++ {
					sum += k[i*w+j]
					mx += k[i*w+j] * float64(j-R)
					my += k[i*w+j] * float64(i-R)
				}
			}
			in := (float64(R) + 0.5) * pix
			if lo, hi := 1-tail(p, in), 1-tail(p, math.Sqrt2*in); !(sum > lo-2e-6 && sum < hi+2e-6) {
				t.Errorf("%s R %d: kernel sums to %.9f, want %.9f .. %.9f", tc.name, R, sum, lo, hi)
			}
			if !(math.Abs(mx) < 1e-12 && math.Abs(my) < 1e-12) {
				t.Errorf("%s R %d: centroid (%g, %g)", tc.name, R, mx, my)
			}
			if c := k[R*w+R]; c != p.pixel(0, 0, pix) || k[0] != k[w*w-1] || k[1] != k[w] {
				t.Errorf("%s R %d: kernel not centred or not symmetric", tc.name, R)
			}
		}
	}
	if _, err := newPSF(PSFSpec{Profile: "airy"}, 1); err == nil {
		t.Error("unknown PSF profile accepted")
	}
}

// Convolution moves a point to the kernel's shape and keeps the flux the
// kernel holds: the image's times the kernel's sum (1 less the PSF's tail).
func TestConvolveConservesFlux(t *testing.T) {
	const n, R, pix = 48, 9, 0.168
	p, _ := newPSF(PSFSpec{Profile: "moffat", Beta: 3}, 0.8)
	k := make([]float64, (2*R+1)*(2*R+1))
	p.kernel(k, R, pix)
	c := newConvolver(n)

	img := make([]float64, n*n)
	img[20*n+25] = 7 // a point
	c.convolve(img, k, R)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			want := 0.0
			if di, dj := i-20, j-25; di >= -R && di <= R && dj >= -R && dj <= R {
				want = 7 * k[(di+R)*(2*R+1)+dj+R]
			}
			if !(math.Abs(img[i*n+j]-want) < 1e-12) {
				t.Fatalf("pixel (%d,%d) = %g, want %g", i, j, img[i*n+j], want)
			}
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	before := 0.0
	for i := range img {
		img[i] = r.Float64()
		before += img[i]
	}
	c.convolve(img, k, R)
	if after := total(img); !(math.Abs(after-before*total(k)) < 1e-9*before) {
		t.Errorf("flux %g before, %g after convolution with a kernel of sum %g", before, after, total(k))
	}
}

func TestFFTSize(t *testing.T) {
	tests := []struct{ min, parity, want int }{
		{64, 64, 64}, {65, 64, 72}, {91, 64, 96}, {91, 31, 125}, {7, 1, 9}, {97, 0, 100},
	}
	for _, tc := range tests {
		if got := fftSize(tc.min, tc.parity); got != tc.want {
			t.Errorf("fftSize(%d, parity %d) = %d, want %d", tc.min, tc.parity, got, tc.want)
		}
	}
}
