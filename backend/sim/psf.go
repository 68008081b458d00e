package sim

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"
)

// psf is a circular point-spread function of a given FWHM (arcsec),
// normalised to unit flux over the whole plane.
type psf struct {
	moffat bool
	beta   float64 // Moffat index
	scale  float64 // Gaussian sigma, or Moffat alpha, arcsec
	norm   float64 // profile at r = 0, arcsec^-2
}

func newPSF(spec PSFSpec, fwhm float64) (psf, error) {
	switch spec.Profile {
	case "gaussian":
		s := fwhm / (2 * math.Sqrt(2*math.Ln2))
		return psf{scale: s, norm: 1 / (2 * math.Pi * s * s)}, nil
	case "moffat":
		a := fwhm / (2 * math.Sqrt(math.Pow(2, 1/spec.Beta)-1))
		return psf{moffat: true, beta: spec.Beta, scale: a, norm: (spec.Beta - 1) / (math.Pi * a * a)}, nil
	}
	return psf{}, fmt.Errorf("sim: unknown PSF profile %q", spec.Profile)
}

// at returns the profile at squared radius r2 (arcsec^2), in arcsec^-2:
// norm (1 + r2/alpha^2)^-beta, or norm exp(-r2 / 2 sigma^2).
func (p psf) at(r2 float64) float64 {
	if p.moffat {
		return p.norm * math.Exp(-p.beta*math.Log1p(r2/(p.scale*p.scale)))
	}
	return p.norm * math.Exp(-r2/(2*p.scale*p.scale))
}

// psfEnclosed is the flux fraction inside radius(): the light that reaches
// the stamp through the PSF's core. The scene is rasterised that far around
// the stamp; the wings reach further (wingRadius).
const psfEnclosed = 0.995

// radius returns the radius (arcsec) enclosing psfEnclosed of the flux.
func (p psf) radius() float64 {
	if p.moffat {
		// Enclosed fraction 1 - (1 + r^2/alpha^2)^(1-beta).
		return p.scale * math.Sqrt(math.Pow(1-psfEnclosed, 1/(1-p.beta))-1)
	}
	return p.scale * math.Sqrt(-2*math.Log(1-psfEnclosed))
}

// wingTol: a PSF's wings are drawn out to where they add less than this
// fraction of the band's sky sigma to a pixel; the step left where they end
// is below that.
const wingTol = 0.1

// wingRadius returns a radius (arcsec) beyond which flux (counts/s) spread
// by the PSF gives a pixel of side pix less than tol (counts/s): one pixel
// beyond r where flux pix^2 at(r^2) = tol. Far from the core a pixel's
// integral is about its area times the profile at its centre; the extra
// pixel covers the difference.
func (p psf) wingRadius(flux, pix, tol float64) float64 {
	k := flux * pix * pix * p.norm / tol // at(0) / at(r^2) at r
	if k <= 1 {
		return 0
	}
	if p.moffat {
		return p.scale*math.Sqrt(math.Pow(k, 1/p.beta)-1) + pix
	}
	return p.scale*math.Sqrt(2*math.Log(k)) + pix
}

// Gauss-Legendre nodes and weights on [-1, 1]: 4 points integrate a pixel
// near the core to ~1e-6 of its value (the profile is smooth on the scale of
// alpha or sigma, a few pixels at least); 2 points suffice in the wings.
var (
	gl4x = [4]float64{-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526}
	gl4w = [4]float64{0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538}
	gl2x = [2]float64{-0.5773502691896258, 0.5773502691896258}
	gl2w = [2]float64{1, 1}
)

// wingScale: pixels whose centre is beyond this many scales (sigma or
// alpha) from the PSF's centre are integrated with 2 x 2 points.
const wingScale = 4

// pixel returns the PSF integrated over a pixel of side pix (arcsec) whose
// centre is at (x, y) arcsec from the PSF's centre: the fraction of a point
// source's flux the pixel receives.
func (p psf) pixel(x, y, pix float64) float64 {
	xs, ws := gl4x[:], gl4w[:]
	if x*x+y*y > wingScale*wingScale*p.scale*p.scale {
		xs, ws = gl2x[:], gl2w[:]
	}
	h := pix / 2
	v := 0.0
	for a, u := range xs {
		yy := y + h*u
		row := 0.0
		for b, w := range xs {
			xx := x + h*w
			row += ws[b] * p.at(xx*xx+yy*yy)
		}
		v += ws[a] * row
	}
	return v * h * h
}

// kernel writes into k ((2R+1)^2, row-major) the PSF integrated over pixels
// of side pix (arcsec), centred on pixel (R, R). It is not renormalised: it
// holds the profile's flux inside the (2R+1) pixel square, and the wings
// beyond, fainter than the caller's threshold per pixel, are dropped; the
// flux lost is (1 + r^2/alpha^2)^(1-beta) (Moffat) or exp(-r^2/2 sigma^2)
// (Gaussian) at some r between (R + 1/2) pix and sqrt(2) (R + 1/2) pix.
func (p psf) kernel(k []float64, R int, pix float64) {
	w := 2*R + 1
	// The kernel is symmetric under reflections in both axes and the
	// diagonal: one octant is integrated.
	for i := 0; i <= R; i++ {
		for j := 0; j <= i; j++ {
			v := p.pixel(float64(j)*pix, float64(i)*pix, pix)
			for _, o := range [][2]int{{i, j}, {j, i}} {
				for _, s := range [][2]int{{1, 1}, {1, -1}, {-1, 1}, {-1, -1}} {
					k[(R+s[0]*o[0])*w+R+s[1]*o[1]] = v
				}
			}
		}
	}
}

// fftSize returns the smallest n >= least with no prime factor above 5 and the
// parity of parity, so that an n x n grid centres a stamp of that parity.
func fftSize(least, parity int) int {
	for n := max(least, 2); ; n++ {
		if n%2 != parity%2 {
			continue
		}
		m := n
		for _, f := range []int{2, 3, 5} {
			for m%f == 0 {
				m /= f
			}
		}
		if m == 1 {
			return n
		}
	}
}

// convolver convolves n x n images with PSF kernels by FFT (circularly: the
// caller renders a margin at least as wide as the kernel radius around the
// part it keeps).
type convolver struct {
	n     int
	rows  *fourier.FFT
	cols  *fourier.CmplxFFT
	spec  []complex128 // image spectrum, column-major: spec[k*n + row]
	kspec []complex128 // kernel spectrum, same layout
	kgrid []float64    // kernel wrapped onto the n x n grid
	rowC  []complex128 // one row's n/2+1 coefficients
}

func newConvolver(n int) *convolver {
	h := n/2 + 1
	return &convolver{
		n: n, rows: fourier.NewFFT(n), cols: fourier.NewCmplxFFT(n),
		spec: make([]complex128, h*n), kspec: make([]complex128, h*n),
		kgrid: make([]float64, n*n), rowC: make([]complex128, h),
	}
}

// forward writes the 2-D spectrum of img (n x n row-major) into dst.
func (c *convolver) forward(dst []complex128, img []float64) {
	n, h := c.n, c.n/2+1
	for r := 0; r < n; r++ {
		row := img[r*n : (r+1)*n]
		if !slices.ContainsFunc(row, func(v float64) bool { return v != 0 }) {
			// A blank row (a compact source, zero padding) has a blank spectrum.
			for k := 0; k < h; k++ {
				dst[k*n+r] = 0
			}
			continue
		}
		c.rows.Coefficients(c.rowC, row)
		for k, v := range c.rowC {
			dst[k*n+r] = v
		}
	}
	for k := 0; k < h; k++ {
		col := dst[k*n : (k+1)*n]
		c.cols.Coefficients(col, col)
	}
}

// inverse writes the central keep rows of the image of spectrum spec
// (which it overwrites) into img, undoing forward's scaling by n^2.
func (c *convolver) inverse(img []float64, spec []complex128, keep int) {
	n, h := c.n, c.n/2+1
	for k := 0; k < h; k++ {
		col := spec[k*n : (k+1)*n]
		c.cols.Sequence(col, col)
	}
	scale := 1 / float64(n*n)
	for r := (n - keep) / 2; r < (n-keep)/2+keep; r++ {
		for k := range c.rowC {
			c.rowC[k] = spec[k*n+r]
		}
		row := img[r*n : (r+1)*n]
		c.rows.Sequence(row, c.rowC)
		for j := range row {
			row[j] *= scale
		}
	}
}

// convolve replaces img (n x n) by its convolution with kernel
// ((2R+1)^2, centred on pixel (R, R), 2R < n).
func (c *convolver) convolve(img, kernel []float64, R int) {
	c.kspec = c.spectrum(c.kspec, kernel, R)
	c.apply(img, c.kspec, c.n)
}

// spectrum writes into dst (resized to the grid's n/2+1 x n spectrum) the
// spectrum of kernel ((2R+1)^2, centred on pixel (R, R), 2R < n), for
// apply: a kernel used on several images is transformed once.
func (c *convolver) spectrum(dst []complex128, kernel []float64, R int) []complex128 {
	n, w := c.n, 2*R+1
	if len(dst) != len(c.spec) {
		dst = make([]complex128, len(c.spec))
	}
	clear(c.kgrid)
	for i := 0; i < w; i++ {
		for j := 0; j < w; j++ {
			// Centre (R, R) goes to (0, 0), negative offsets wrap around.
			c.kgrid[((i-R+n)%n)*n+(j-R+n)%n] = kernel[i*w+j]
		}
	}
	c.forward(dst, c.kgrid)
	return dst
}

// apply replaces the central keep rows of img (n x n) by those of its
// convolution with the kernel whose spectrum is kspec; the other rows are
// left as they were (a stamp needs only its own rows).
func (c *convolver) apply(img []float64, kspec []complex128, keep int) {
	c.forward(c.spec, img)
	for k := range c.spec {
		c.spec[k] *= kspec[k]
	}
	c.inverse(img, c.spec, keep)
}
