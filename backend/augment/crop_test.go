package augment

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sslens/sslens/backend/data"
	"github.com/sslens/sslens/backend/eval"
)

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func constImage(c, h, w int, v float32) data.Image {
	im := data.NewImage(c, h, w)
	for i := range im.Pix {
		im.Pix[i] = v
	}
	return im
}

func randomImage(c, h, w int, rng *rand.Rand) data.Image {
	im := data.NewImage(c, h, w)
	for i := range im.Pix {
		im.Pix[i] = float32(rng.NormFloat64())
	}
	return im
}

// TestCropBoxAreaDistribution checks that the realised crop area is uniform
// over the scale range and the aspect log-uniform over (3/4, 4/3), on an
// image large enough for rounding to matter little and a range no draw
// exceeds (so no attempt is rejected).
func TestCropBoxAreaDistribution(t *testing.T) {
	const n, side = 20000, 256
	scale := [2]float64{0.1, 0.6}
	rng := newRNG(1)
	areas := make([]float64, n)
	var logAspect float64
	for i := range areas {
		b := CropBox(side, side, scale, rng)
		if b.Top < 0 || b.Left < 0 || b.Top+b.H > side || b.Left+b.W > side {
			t.Fatalf("box %+v outside the %d px image", b, side)
		}
		areas[i] = float64(b.H*b.W) / (side * side)
		la := math.Log(float64(b.W) / float64(b.H))
		if la < math.Log(3.0/4)-0.02 || la > math.Log(4.0/3)+0.02 {
			t.Fatalf("aspect %v outside (3/4, 4/3)", float64(b.W)/float64(b.H))
		}
		logAspect += la
	}
	slices.Sort(areas)
	mean := 0.0
	for _, a := range areas {
		mean += a / n
	}
	if math.Abs(mean-0.35) > 0.005 {
		t.Errorf("mean area scale %.4f, want 0.35", mean)
	}
	for _, q := range []float64{0.05, 0.25, 0.5, 0.75, 0.95} {
		want := scale[0] + q*(scale[1]-scale[0])
		if got := eval.Quantile(areas, q); math.Abs(got-want) > 0.01 {
			t.Errorf("area scale %.2f-quantile %.4f, want %.4f", q, got, want)
		}
	}
	if logAspect/n > 0.005 || logAspect/n < -0.005 {
		t.Errorf("mean log aspect %.4f, want 0", logAspect/n)
	}
}

// TestCropBoxSeedRanges draws the seed's global and local crops of a 32 px
// centre crop: every box fits and the realised areas stay near the range.
// Large areas at a skewed aspect do not fit and are redrawn, so the global
// range's mean falls below its midpoint (0.57), as in torchvision.
func TestCropBoxSeedRanges(t *testing.T) {
	tests := []struct {
		name   string
		scale  [2]float64
		meanLo float64
		meanHi float64
	}{
		{"global", [2]float64{0.14, 1}, 0.49, 0.54},
		{"local", [2]float64{0.01, 0.14}, 0.071, 0.079},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := newRNG(2)
			var mean float64
			for range 5000 {
				b := CropBox(32, 32, tt.scale, rng)
				if b.H <= 0 || b.W <= 0 || b.Top+b.H > 32 || b.Left+b.W > 32 || b.Top < 0 || b.Left < 0 {
					t.Fatalf("box %+v does not fit 32x32", b)
				}
				a := float64(b.H*b.W) / 1024
				// Rounding each side to whole pixels moves the area by at
				// most about a side's length.
				if a < tt.scale[0]*0.5 || a > tt.scale[1]+0.07 {
					t.Fatalf("area scale %v far outside %v (box %+v)", a, tt.scale, b)
				}
				mean += a / 5000
			}
			if mean < tt.meanLo || mean > tt.meanHi {
				t.Errorf("mean area scale %.3f, want within [%v, %v]", mean, tt.meanLo, tt.meanHi)
			}
		})
	}
}

func TestCropBoxFallback(t *testing.T) {
	tests := []struct {
		h, w int
		want Box
	}{
		{32, 32, Box{0, 0, 32, 32}},
		{10, 40, Box{0, 13, 10, 13}}, // wider than 4/3: keep the height
		{40, 10, Box{13, 0, 13, 10}}, // narrower than 3/4: keep the width
	}
	for _, tt := range tests {
		// An area scale above 1 never fits, so all 10 attempts miss.
		if got := CropBox(tt.h, tt.w, [2]float64{2, 3}, newRNG(3)); got != tt.want {
			t.Errorf("fallback of %dx%d = %+v, want %+v", tt.h, tt.w, got, tt.want)
		}
	}
}

// TestResizedCropRamp upsamples a linear ramp: away from the borders, where
// no tap is clipped, bicubic interpolation reproduces it exactly.
func TestResizedCropRamp(t *testing.T) {
	tests := []struct {
		name string
		box  Box
		out  int
	}{
		{"x2.5", Box{2, 3, 8, 8}, 20},
		{"x1.14", Box{0, 0, 28, 28}, 32},
		{"x3 non-square box", Box{1, 2, 6, 10}, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := data.NewImage(2, 32, 32)
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					src.Set(0, y, x, float32(3*x+7))
					src.Set(1, y, x, float32(-2*y+1))
				}
			}
			dst := data.NewImage(2, tt.out, tt.out)
			if err := ResizedCrop(dst, src, tt.box); err != nil {
				t.Fatal(err)
			}
			sx, sy := float64(tt.box.W)/float64(tt.out), float64(tt.box.H)/float64(tt.out)
			checked := 0
			for y := 0; y < tt.out; y++ {
				cy := sy*(float64(y)+0.5) - 0.5 // source row coordinate
				for x := 0; x < tt.out; x++ {
					cx := sx*(float64(x)+0.5) - 0.5
					if cx < 2 || cx > float64(tt.box.W)-3 || cy < 2 || cy > float64(tt.box.H)-3 {
						continue
					}
					wantG := 3*(cx+float64(tt.box.Left)) + 7
					wantR := -2*(cy+float64(tt.box.Top)) + 1
					if g := dst.At(0, y, x); math.Abs(float64(g)-wantG) > 1e-3 {
						t.Fatalf("band 0 at (%d, %d) = %v, want %v", y, x, g, wantG)
					}
					if r := dst.At(1, y, x); math.Abs(float64(r)-wantR) > 1e-3 {
						t.Fatalf("band 1 at (%d, %d) = %v, want %v", y, x, r, wantR)
					}
					checked++
				}
			}
			if checked < 4 {
				t.Fatalf("only %d interior pixels checked", checked)
			}
		})
	}
}

// TestResizedCropValues pins border handling and the kernel against values
// worked out by hand from PyTorch's antialiased bicubic: [0, 1] upsampled
// to 4 gives -0.0703125/0.796875, 0.2265625/1.09375 and their mirrors.
func TestResizedCropValues(t *testing.T) {
	src := data.Image{C: 1, H: 1, W: 2, Pix: []float32{0, 1}}
	dst := data.NewImage(1, 1, 4)
	if err := ResizedCrop(dst, src, Box{0, 0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	want := []float64{-0.0703125 / 0.796875, 0.2265625 / 1.09375, 1 - 0.2265625/1.09375, 1 + 0.0703125/0.796875}
	for i, w := range want {
		if math.Abs(float64(dst.Pix[i])-w) > 1e-6 {
			t.Errorf("out[%d] = %v, want %v", i, dst.Pix[i], w)
		}
	}
}

func TestResizedCropConstantAndIdentity(t *testing.T) {
	rng := newRNG(4)
	src := randomImage(3, 32, 32, rng)
	same := data.NewImage(3, 32, 32)
	if err := ResizedCrop(same, src, Box{0, 0, 32, 32}); err != nil {
		t.Fatal(err)
	}
	for i, v := range same.Pix {
		if math.Abs(float64(v-src.Pix[i])) > 1e-6 {
			t.Fatalf("same-size resample changed pixel %d: %v -> %v", i, src.Pix[i], v)
		}
	}
	c := constImage(3, 32, 32, 2.5)
	for _, tt := range []struct {
		box Box
		out int
	}{{Box{3, 4, 5, 7}, 20}, {Box{0, 0, 32, 32}, 7}, {Box{10, 1, 21, 30}, 32}} {
		dst, rnd := data.NewImage(3, tt.out, tt.out), data.NewImage(3, tt.out, tt.out)
		if err := ResizedCrop(dst, c, tt.box); err != nil {
			t.Fatal(err)
		}
		box, err := RandomResizedCrop(rnd, c, [2]float64{0.01, 1}, rng)
		if err != nil {
			t.Fatal(err)
		}
		for i := range dst.Pix {
			if math.Abs(float64(dst.Pix[i])-2.5) > 1e-5 || math.Abs(float64(rnd.Pix[i])-2.5) > 1e-5 {
				t.Fatalf("boxes %+v, %+v to %d: constant 2.5 gave %v, %v at %d", tt.box, box, tt.out, dst.Pix[i], rnd.Pix[i], i)
			}
		}
	}
}

func TestResizedCropErrors(t *testing.T) {
	src := data.NewImage(3, 8, 8)
	tests := []struct {
		name string
		dst  data.Image
		box  Box
	}{
		{"box outside", data.NewImage(3, 4, 4), Box{4, 4, 5, 4}},
		{"empty box", data.NewImage(3, 4, 4), Box{0, 0, 0, 4}},
		{"channel mismatch", data.NewImage(1, 4, 4), Box{0, 0, 4, 4}},
		{"short pixel slice", data.Image{C: 3, H: 4, W: 4, Pix: make([]float32, 5)}, Box{0, 0, 4, 4}},
	}
	for _, tt := range tests {
		if err := ResizedCrop(tt.dst, src, tt.box); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
