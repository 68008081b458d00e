package augment

import (
	"math"
	"slices"
	"testing"

	"github.com/sslens/sslens/backend/data"
)

// TestGaussianBlurDelta blurs a unit delta in the middle of a 41x41 image:
// the total flux stays 1 and the blurred spot's rms width per axis is sigma.
func TestGaussianBlurDelta(t *testing.T) {
	for _, sigma := range []float64{0.8, 1, 1.5, 2, 3} {
		const n, mid = 41, 20
		im := data.NewImage(1, n, n)
		im.Set(0, mid, mid, 1)
		GaussianBlur(im, sigma)
		var flux, vx, vy float64
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				v := float64(im.At(0, y, x))
				flux += v
				vx += v * float64((x-mid)*(x-mid))
				vy += v * float64((y-mid)*(y-mid))
			}
		}
		if math.Abs(flux-1) > 1e-5 {
			t.Errorf("sigma %v: total flux %v, want 1", sigma, flux)
		}
		for axis, v := range []float64{vx, vy} {
			if w := math.Sqrt(v / flux); math.Abs(w-sigma) > 0.01*sigma {
				t.Errorf("sigma %v: rms width along axis %d is %v", sigma, axis, w)
			}
		}
		if im.At(0, mid, mid+2) != im.At(0, mid+2, mid) || im.At(0, mid-1, mid) != im.At(0, mid+1, mid) {
			t.Errorf("sigma %v: blurred delta is not symmetric", sigma)
		}
	}
}

func TestGaussianBlurConstant(t *testing.T) {
	// Kernels wider than the image mirror more than once at the borders.
	for _, tt := range []struct {
		h, w  int
		sigma float64
	}{{32, 32, 2}, {20, 20, 0.1}, {3, 5, 2}, {1, 4, 1.5}, {2, 2, 4}} {
		im := constImage(3, tt.h, tt.w, -1.75)
		GaussianBlur(im, tt.sigma)
		for i, v := range im.Pix {
			if math.Abs(float64(v)+1.75) > 1e-5 {
				t.Fatalf("%dx%d sigma %v: constant -1.75 became %v at %d", tt.h, tt.w, tt.sigma, v, i)
			}
		}
	}
}

func TestGaussianBlurZeroSigma(t *testing.T) {
	im := randomImage(3, 6, 6, newRNG(7))
	orig := slices.Clone(im.Pix)
	GaussianBlur(im, 0)
	if !slices.Equal(im.Pix, orig) {
		t.Error("sigma 0 changed the image")
	}
}

func TestMirror(t *testing.T) {
	// n = 4: ... 2 1 | 0 1 2 3 | 2 1 0 1 ...
	for i, want := range map[int]int{-3: 3, -2: 2, -1: 1, 0: 0, 3: 3, 4: 2, 5: 1, 6: 0, 7: 1, 10: 2} {
		if got := mirror(i, 4); got != want {
			t.Errorf("mirror(%d, 4) = %d, want %d", i, got, want)
		}
	}
	if mirror(-5, 1) != 0 || mirror(3, 1) != 0 {
		t.Error("mirror on a 1-pixel axis is not 0")
	}
}
