package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPSFKernel(t *testing.T) {
	const pix = 0.168
	tests := []struct {
		name string
		spec PSFSpec
		fwhm float64
	}{
		{"gaussian", PSFSpec{Profile: "gaussian"}, 0.7},
		{"moffat 3.5", PSFSpec{Profile: "moffat", Beta: 3.5}, 0.6},
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
		R := int(math.Ceil(p.radius() / pix))
		w := 2*R + 1
		k := make([]float64, w*w)
		for _, shift := range [][2]float64{{0, 0}, {0.3, -0.45}} {
			p.kernel(k, R, pix, shift[0], shift[1])
			var sum, mx, my float64
			for i := 0; i < w; i++ {
				for j := 0; j < w; j++ {
					sum += k[i*w+j]
					mx += k[i*w+j] * float64(j-R)
					my += k[i*w+j] * float64(i-R)
				}
			}
			if !(math.Abs(sum-1) < 1e-12) {
				t.Errorf("%s shift %v: kernel sums to %g", tc.name, shift, sum)
			}
			if !(math.Abs(mx-shift[0]) < 0.02 && math.Abs(my-shift[1]) < 0.02) {
				t.Errorf("%s shift %v: centroid (%.3f, %.3f)", tc.name, shift, mx, my)
			}
		}
	}
	if _, err := newPSF(PSFSpec{Profile: "airy"}, 1); err == nil {
		t.Error("unknown PSF profile accepted")
	}
}

// Convolution conserves flux and moves a point to the kernel's shape.
func TestConvolveConservesFlux(t *testing.T) {
	const n, R, pix = 48, 9, 0.168
	p, _ := newPSF(PSFSpec{Profile: "moffat", Beta: 3}, 0.8)
	k := make([]float64, (2*R+1)*(2*R+1))
	p.kernel(k, R, pix, 0, 0)
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
	if after := total(img); !(math.Abs(after-before) < 1e-9*before) {
		t.Errorf("flux %g before, %g after convolution", before, after)
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
