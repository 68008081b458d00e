package augment

import (
	"math"

	"github.com/sslens/sslens/backend/data"
)

// GaussianBlur convolves every band of im with an isotropic Gaussian of
// standard deviation sigma pixels, in place. The kernel is separable, of odd
// size 2*ceil(4*sigma)+1 (SciPy's truncation), normalised to sum 1, and
// pads by reflection (d c b | a b c d | c b a), so a constant image stays
// constant and a source away from the edges keeps its total flux. A
// non-positive sigma leaves im unchanged.
func GaussianBlur(im data.Image, sigma float64) {
	var b blurrer
	b.blur(im, sigma)
}

// blurrer holds GaussianBlur's buffers so repeated calls allocate nothing
// once they have grown.
type blurrer struct {
	kernel []float32
	pad    []float32 // one row with its reflected margins
	tmp    []float32 // one band after the horizontal pass
	rows   []int     // source row of each padded row index
}

func (b *blurrer) blur(im data.Image, sigma float64) {
	if !(sigma > 0) || math.IsInf(sigma, 0) {
		return
	}
	r := int(math.Ceil(4 * sigma))
	b.kernel = grow(b.kernel, 2*r+1)
	var total float64
	for j := range b.kernel {
		d := float64(j - r)
		w := math.Exp(-d * d / (2 * sigma * sigma))
		b.kernel[j] = float32(w)
		total += w
	}
	for j := range b.kernel {
		b.kernel[j] = float32(float64(b.kernel[j]) / total)
	}
	h, w := im.H, im.W
	b.pad = grow(b.pad, w+2*r)
	b.tmp = grow(b.tmp, h*w)
	b.rows = growInts(b.rows, h+2*r)
	for i := range b.rows {
		b.rows[i] = mirror(i-r, h)
	}
	for c := 0; c < im.C; c++ {
		p := im.Plane(c)
		// Horizontal pass into tmp.
		for y := 0; y < h; y++ {
			row := p[y*w : (y+1)*w]
			for i := 0; i < r; i++ {
				b.pad[i] = row[mirror(i-r, w)]
				b.pad[r+w+i] = row[mirror(w+i, w)]
			}
			copy(b.pad[r:], row)
			t := b.tmp[y*w : (y+1)*w]
			k := b.kernel
			for x := range t {
				win := b.pad[x : x+len(k)]
				win = win[:len(k)] // lets the compiler drop bounds checks
				var s float32
				for j := range k {
					s += k[j] * win[j]
				}
				t[x] = s
			}
		}
		// Vertical pass back into the band, one weighted row at a time.
		for y := 0; y < h; y++ {
			out := p[y*w : (y+1)*w]
			clear(out)
			for j, k := range b.kernel {
				src := b.tmp[b.rows[y+j]*w:]
				src = src[:len(out)]
				for x := range out {
					out[x] += k * src[x]
				}
			}
		}
	}
}

// mirror maps index i onto [0, n) by mirroring about the end pixels
// without repeating them, however far outside i lies.
func mirror(i, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * (n - 1)
	i %= period
	if i < 0 {
		i += period
	}
	if i >= n {
		i = period - i
	}
	return i
}
