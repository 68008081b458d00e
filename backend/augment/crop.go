package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sslens/sslens/backend/data"
)

// Box is a window of an image in pixels: rows [Top, Top+H), columns [Left, Left+W).
type Box struct{ Top, Left, H, W int }

// The aspect (width / height) range of torchvision's RandomResizedCrop.
const (
	minAspect = 3.0 / 4
	maxAspect = 4.0 / 3
)

// CropBox draws a RandomResizedCrop window of an h x w image as torchvision
// does: up to 10 attempts at an area uniform in scale (fractions of h*w) and
// an aspect log-uniform in (3/4, 4/3), sides rounded half to even; the first
// that fits is placed uniformly. After 10 misses it falls back to the
// largest centred window with an aspect in that range.
func CropBox(h, w int, scale [2]float64, rng *rand.Rand) Box {
	area := float64(h * w)
	logLo, logHi := math.Log(minAspect), math.Log(maxAspect)
	for range 10 {
		target := area * (scale[0] + (scale[1]-scale[0])*rng.Float64())
		aspect := math.Exp(logLo + (logHi-logLo)*rng.Float64())
		bw := int(math.RoundToEven(math.Sqrt(target * aspect)))
		bh := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if 0 < bw && bw <= w && 0 < bh && bh <= h {
			top := rng.IntN(h - bh + 1)
			left := rng.IntN(w - bw + 1)
			return Box{Top: top, Left: left, H: bh, W: bw}
		}
	}
	bh, bw := h, w
	switch in := float64(w) / float64(h); {
	case in < minAspect:
		bh = int(math.RoundToEven(float64(w) / minAspect))
	case in > maxAspect:
		bw = int(math.RoundToEven(float64(h) * maxAspect))
	}
	return Box{Top: (h - bh) / 2, Left: (w - bw) / 2, H: bh, W: bw}
}

// RandomResizedCrop draws a CropBox of src and resamples it into dst (see
// ResizedCrop). It returns the box.
func RandomResizedCrop(dst, src data.Image, scale [2]float64, rng *rand.Rand) (Box, error) {
	box := CropBox(src.H, src.W, scale, rng)
	var r resampler
	return box, r.resizedCrop(dst, src, box)
}

// ResizedCrop resamples the box of src into dst, whose size sets the output
// size, with the bicubic filter torchvision applies to tensors with
// antialias=True (a = -0.5, support widened by the shrink factor when
// shrinking, taps clipped to the box and renormalised). Values are not
// clamped. dst and src need the same number of channels.
func ResizedCrop(dst, src data.Image, box Box) error {
	var r resampler
	return r.resizedCrop(dst, src, box)
}

// resampler holds ResizedCrop's filter tables and intermediate plane so
// repeated calls allocate nothing once the buffers have grown.
type resampler struct {
	x, y filterTable
	tmp  []float32 // box rows x dst columns, one channel
}

// filterTable holds, per output index i, the first input index start[i]
// and n[i] tap weights at w[i*stride:].
type filterTable struct {
	start, n []int
	w        []float32
	stride   int
}

// taps returns the weights of output i.
func (f *filterTable) taps(i int) []float32 { return f.w[i*f.stride : i*f.stride+f.n[i]] }

func (r *resampler) resizedCrop(dst, src data.Image, box Box) error {
	if err := checkImage(src); err != nil {
		return err
	}
	if err := checkImage(dst); err != nil {
		return err
	}
	if dst.C != src.C {
		return fmt.Errorf("augment: resized crop of a %d-channel image into a %d-channel one", src.C, dst.C)
	}
	if box.H <= 0 || box.W <= 0 || box.Top < 0 || box.Left < 0 || box.Top+box.H > src.H || box.Left+box.W > src.W {
		return fmt.Errorf("augment: crop box %+v is outside the %dx%d image", box, src.H, src.W)
	}
	r.x.build(box.W, dst.W)
	r.y.build(box.H, dst.H)
	r.tmp = grow(r.tmp, box.H*dst.W)
	for c := 0; c < src.C; c++ {
		// Horizontal pass: every box row to dst.W columns.
		for y := 0; y < box.H; y++ {
			row := src.Pix[(c*src.H+box.Top+y)*src.W+box.Left:]
			t := r.tmp[y*dst.W : (y+1)*dst.W]
			for x := range t {
				in := row[r.x.start[x]:]
				var s float32
				for j, w := range r.x.taps(x) {
					s += w * in[j]
				}
				t[x] = s
			}
		}
		// Vertical pass: weighted sums of whole intermediate rows.
		for y := 0; y < dst.H; y++ {
			out := dst.Pix[(c*dst.H+y)*dst.W : (c*dst.H+y+1)*dst.W]
			clear(out)
			for j, w := range r.y.taps(y) {
				t := r.tmp[(r.y.start[y]+j)*dst.W:]
				for x := range out {
					out[x] += w * t[x]
				}
			}
		}
	}
	return nil
}

// build fills the table for resampling in samples to out, following
// PyTorch's antialiased interpolation (_compute_indices_min_size_weights_aa):
// output i is centred at scale*(i+0.5) in input coordinates, its taps are
// the inputs within the kernel's support, clipped to [0, in) and
// renormalised to sum to 1.
func (f *filterTable) build(in, out int) {
	scale := float64(in) / float64(out)
	support, inv := 2.0, 1.0
	if scale >= 1 {
		support, inv = 2*scale, 1/scale
	}
	f.stride = int(math.Ceil(support))*2 + 1
	f.start = growInts(f.start, out)
	f.n = growInts(f.n, out)
	f.w = grow(f.w, out*f.stride)
	for i := 0; i < out; i++ {
		center := scale * (float64(i) + 0.5)
		lo := max(int(center-support+0.5), 0)
		n := min(int(center+support+0.5), in) - lo
		f.start[i], f.n[i] = lo, n
		row := f.w[i*f.stride : i*f.stride+n]
		var total float64
		for j := range row {
			w := bicubic((float64(j+lo) - center + 0.5) * inv)
			row[j] = float32(w)
			total += w
		}
		if total != 0 {
			for j := range row {
				row[j] = float32(float64(row[j]) / total)
			}
		}
	}
}

// bicubic is the cubic convolution kernel with a = -0.5 (PIL's and
// PyTorch's antialiased bicubic), which reproduces quadratics exactly.
func bicubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// checkImage rejects images whose pixel slice does not match their shape.
func checkImage(im data.Image) error {
	if im.C <= 0 || im.H <= 0 || im.W <= 0 || len(im.Pix) != im.C*im.H*im.W {
		return fmt.Errorf("augment: image of shape (%d, %d, %d) holds %d values", im.C, im.H, im.W, len(im.Pix))
	}
	return nil
}

// grow returns b resliced to n, reallocating only when its capacity is short.
func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func growInts(b []int, n int) []int {
	if cap(b) < n {
		return make([]int, n)
	}
	return b[:n]
}
