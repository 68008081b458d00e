package sim

import (
	"math"
	"math/rand/v2"
)

// Coadd noise. A survey coadd such as HSC's is the mean of several dithered
// exposures, each warped onto the coadd's pixel grid with a Lanczos-3 kernel
// (Bosch et al. 2018, PASJ 70, S5). Resampling white noise at a sub-pixel
// offset mixes each output pixel from 6 x 6 input pixels, so the coadd's
// noise is correlated between neighbouring pixels and its per-pixel variance
// is below that of the input; an aperture sum then scatters by more than
// sqrt(pixels) times the per-pixel sigma. coaddNoise draws such a field,
// scaled to unit variance per pixel, so that sigma * z keeps each pixel's
// sigma and adds the correlation.

// lanczosA is the order of the resampling kernel: 2*lanczosA taps per axis.
const lanczosA = 3

// taps are the resampling weights of one axis of one exposure: output pixel
// j is the sum over k of w[k] times input pixel j + k (the input grid has
// 2*lanczosA - 1 more pixels per axis than the output).
type taps [2 * lanczosA]float64

// lanczosTaps returns the weights that resample a grid at sub-pixel offset
// d in [0, 1), normalised to sum 1 so that flux (and the field's mean) is
// kept, as warping kernels are.
func lanczosTaps(d float64) taps {
	var w taps
	sum := 0.0
	for k := range w {
		x := float64(k-(lanczosA-1)) - d
		w[k] = 1
		if x != 0 {
			px := math.Pi * x
			w[k] = lanczosA * math.Sin(px) * math.Sin(px/lanczosA) / (px * px)
		}
		sum += w[k]
	}
	for k := range w {
		w[k] /= sum
	}
	return w
}

// lag returns the sum over k of w[k] w[k+l]: the covariance at lag l pixels
// of unit white noise resampled with w.
func (w taps) lag(l int) float64 {
	l = max(l, -l)
	s := 0.0
	for k := 0; k+l < len(w); k++ {
		s += w[k] * w[k+l]
	}
	return s
}

// coaddNoise draws unit-variance coadd noise on a size x size stamp, from
// exposures dithered exposures. It holds buffers and is not safe for
// concurrent use.
type coaddNoise struct {
	size   int
	wx, wy []taps    // per exposure, set by dither
	white  []float64 // one exposure's input field, (size+2a-1)^2
	rows   []float64 // it resampled along x: (size+2a-1) rows of size
	norm   float64   // 1 / the per-pixel sigma of the unscaled mean
}

func newCoaddNoise(size, exposures int) *coaddNoise {
	m := size + 2*lanczosA - 1
	return &coaddNoise{size: size, wx: make([]taps, exposures), wy: make([]taps, exposures),
		white: make([]float64, m*m), rows: make([]float64, m*size)}
}

// dither draws each exposure's sub-pixel offset (dx, dy), uniform in
// [0, 1)^2, and sets the normalisation from the resulting kernels.
func (c *coaddNoise) dither(r *rand.Rand) {
	for e := range c.wx {
		c.wx[e], c.wy[e] = lanczosTaps(r.Float64()), lanczosTaps(r.Float64())
	}
	c.norm = 1 / math.Sqrt(c.rawCov(0, 0))
}

// rawCov is the covariance at lag (lx, ly) pixels of the mean of the
// resampled exposures before scaling: exposures are independent, each has
// the separable covariance lag_x * lag_y, and the mean divides by E^2.
func (c *coaddNoise) rawCov(lx, ly int) float64 {
	s := 0.0
	for e := range c.wx {
		s += c.wx[e].lag(lx) * c.wy[e].lag(ly)
	}
	E := float64(len(c.wx))
	return s / (E * E)
}

// cov returns the covariance (equal to the correlation) of the field at lag
// (lx, ly) pixels along x (columns) and y (rows), for the current dither.
func (c *coaddNoise) cov(lx, ly int) float64 { return c.rawCov(lx, ly) * c.norm * c.norm }

// field fills z (size x size, row-major) with one draw of the noise for the
// current dither: per exposure a white Gaussian field on the stamp plus the
// kernel's margin, resampled along x then y, averaged and scaled to unit
// variance per pixel.
func (c *coaddNoise) field(r *rand.Rand, z []float64) {
	S, m := c.size, c.size+2*lanczosA-1
	clear(z)
	scale := c.norm / float64(len(c.wx))
	for e := range c.wx {
		for k := range c.white {
			c.white[k] = r.NormFloat64()
		}
		wx, wy := &c.wx[e], &c.wy[e]
		for i := 0; i < m; i++ {
			in, out := c.white[i*m:(i+1)*m], c.rows[i*S:(i+1)*S]
			for j := range out {
				s := 0.0
				for k, w := range wx {
					s += w * in[j+k]
				}
				out[j] = s
			}
		}
		for i := 0; i < S; i++ {
			out := z[i*S : (i+1)*S]
			for k, w := range wy {
				w *= scale
				in := c.rows[(i+k)*S : (i+k+1)*S]
				for j, v := range in {
					out[j] += w * v
				}
			}
		}
	}
}

// draw dithers and draws one field into z.
func (c *coaddNoise) draw(r *rand.Rand, z []float64) {
	c.dither(r)
	c.field(r, z)
}
