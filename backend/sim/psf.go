package sim

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// psf is a circular point-spread function of a given FWHM (arcsec).
type psf struct {
	moffat bool
	beta   float64 // Moffat index
	scale  float64 // Gaussian sigma, or Moffat alpha, arcsec
}

func newPSF(spec PSFSpec, fwhm float64) (psf, error) {
	switch spec.Profile {
	case "gaussian":
		return psf{scale: fwhm / (2 * math.Sqrt(2*math.Ln2))}, nil
	case "moffat":
		return psf{moffat: true, beta: spec.Beta, scale: fwhm / (2 * math.Sqrt(math.Pow(2, 1/spec.Beta)-1))}, nil
	}
	return psf{}, fmt.Errorf("sim: unknown PSF profile %q", spec.Profile)
}

// at returns the unnormalised profile at squared radius r2 (arcsec^2).
func (p psf) at(r2 float64) float64 {
	if p.moffat {
		return math.Exp(-p.beta * math.Log1p(r2/(p.scale*p.scale)))
	}
	return math.Exp(-r2 / (2 * p.scale * p.scale))
}

// psfEnclosed is the flux fraction a kernel keeps; its truncated wings are
// given back by normalising the kernel to 1.
const psfEnclosed = 0.995

// radius returns the radius (arcsec) enclosing psfEnclosed of the flux.
func (p psf) radius() float64 {
	if p.moffat {
		// Enclosed fraction 1 - (1 + r^2/alpha^2)^(1-beta).
		return p.scale * math.Sqrt(math.Pow(1-psfEnclosed, 1/(1-p.beta))-1)
	}
	return p.scale * math.Sqrt(-2*math.Log(1-psfEnclosed))
}

// kernelSub is the sub-sampling per pixel axis of a PSF kernel: an odd number,
// so that an unshifted kernel samples the profile's peak.
const kernelSub = 3

// kernel writes into k ((2R+1)^2, row-major) the PSF integrated over pixels of
// side pix, centred at (dx, dy) pixels from the centre of pixel (R, R), and
// normalised to sum 1.
func (p psf) kernel(k []float64, R int, pix, dx, dy float64) {
	w := 2*R + 1
	sum := 0.0
	for i := 0; i < w; i++ {
		for j := 0; j < w; j++ {
			v := 0.0
			for si := 0; si < kernelSub; si++ {
				y := (float64(i-R) - dy + (float64(si)+0.5)/kernelSub - 0.5) * pix
				for sj := 0; sj < kernelSub; sj++ {
					x := (float64(j-R) - dx + (float64(sj)+0.5)/kernelSub - 0.5) * pix
					v += p.at(x*x + y*y)
				}
			}
			k[i*w+j] = v
			sum += v
		}
	}
	for i := range k[:w*w] {
		k[i] /= sum
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
		c.rows.Coefficients(c.rowC, img[r*n:(r+1)*n])
		for k, v := range c.rowC {
			dst[k*n+r] = v
		}
	}
	for k := 0; k < h; k++ {
		col := dst[k*n : (k+1)*n]
		c.cols.Coefficients(col, col)
	}
}

// inverse writes the image of spectrum spec (which it overwrites) into img,
// undoing forward's scaling by n^2.
func (c *convolver) inverse(img []float64, spec []complex128) {
	n, h := c.n, c.n/2+1
	for k := 0; k < h; k++ {
		col := spec[k*n : (k+1)*n]
		c.cols.Sequence(col, col)
	}
	scale := 1 / float64(n*n)
	for r := 0; r < n; r++ {
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
	c.apply(img, c.kspec)
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

// apply replaces img (n x n) by its convolution with the kernel whose
// spectrum is kspec.
func (c *convolver) apply(img []float64, kspec []complex128) {
	c.forward(c.spec, img)
	for k := range c.spec {
		c.spec[k] *= kspec[k]
	}
	c.inverse(img, c.spec)
}
