package sim

import "math"

// raster integrates surface brightness over the pixels of an n x n grid of
// side pix (arcsec) centred on the origin: pixel (i, j) covers
// x in [(j - n/2) pix, (j + 1 - n/2) pix], y likewise with i.
//
// Each pixel is first sampled at its centre and corners (corners are shared,
// so about two evaluations per pixel) and integrated with the 5-point rule
// 2/3 centre + 1/12 sum(corners), exact for quadratics. Where the centre and
// the corner mean differ by more than tol in any band the surface brightness
// is steep or curved (a galaxy core, an arc, a clump), and the pixel is split
// into four, recursively: at least minRefine levels (4 x 4 sub-pixels), then
// on while the test fails, up to maxDepth levels (16 x 16 sub-pixels at 4).
// The tolerance is a fraction of the pixel's noise, which grows with its
// flux, so bright cores are not resolved far below their own shot noise:
// tol^2 = tolBkg^2 + tolFlux * estimate, per band, in surface brightness.
type raster struct {
	n        int
	pix      float64
	floor    [3]float64 // surface brightness a profile's wings are dropped below (see trimmer)
	tolBkg2  [3]float64 // (counts / s / arcsec^2)^2
	tolFlux  [3]float64 // counts / s / arcsec^2
	maxDepth int

	corner, centre [][3]float64 // samples at the (n+1)^2 corners and n^2 centres
	// Source-plane positions of the corners and centres for lens, so that
	// repeated source draws behind one lens deflect the base grid once.
	lens               *lensModel
	cbx, cby, mbx, mby []float64
	// What square samples while integrate runs.
	lights   []light
	evalLens bool
}

// relTol: a pixel is also left alone where the centre and the corner mean
// agree to this fraction of the estimate. That difference measures the
// curvature, which the 5-point rule integrates exactly to second order, so
// smooth wide profiles need no refinement even when bright.
const relTol = 0.02

// minRefine is the least number of levels a steep pixel is split into.
const minRefine = 2

// defaultMaxDepth keeps the rendered flux of a compact n = 4 Sersic profile
// within 0.3% of its total (TestRenderedFluxMatchesAnalytic).
const defaultMaxDepth = 4

// trimFrac: a profile's wings are dropped where its surface brightness is
// below this fraction of the sky noise of a pixel in every band; the flux
// dropped is far below the noise of the pixels it is spread over.
const trimFrac = 0.01

// trimmer is a light whose wings can be cut where its surface brightness
// falls below floor (counts / s / arcsec^2, per band), so that pixels far
// from a compact profile cost one distance test.
type trimmer interface {
	trim(floor [3]float64)
}

// newRaster returns a raster whose sampling error stays below frac times the
// pixel noise of noise. With zero noise only the relative test (relTol)
// stops the refinement.
func newRaster(n int, pix float64, noise [3]bandNoise, frac float64) *raster {
	area := pix * pix
	var bkg2, flux, floor [3]float64
	for c, nb := range noise {
		bkg2[c] = frac * frac * nb.bkgVar / (area * area)
		flux[c] = frac * frac * nb.perFlux / area
		floor[c] = trimFrac * math.Sqrt(nb.bkgVar) / area
	}
	return &raster{
		n: n, pix: pix, floor: floor, tolBkg2: bkg2, tolFlux: flux, maxDepth: defaultMaxDepth,
		corner: make([][3]float64, (n+1)*(n+1)),
		centre: make([][3]float64, n*n),
	}
}

// coord returns the position of grid line k (0..n) along one axis.
func (r *raster) coord(k float64) float64 { return (k - float64(r.n)/2) * r.pix }

// setLens deflects the base sample positions through m once; integrate with
// lensed = true then reuses them.
func (r *raster) setLens(m *lensModel) {
	n := r.n
	r.lens = m
	if len(r.cbx) != (n+1)*(n+1) {
		r.cbx, r.cby = make([]float64, (n+1)*(n+1)), make([]float64, (n+1)*(n+1))
		r.mbx, r.mby = make([]float64, n*n), make([]float64, n*n)
	}
	for i := 0; i <= n; i++ {
		for j := 0; j <= n; j++ {
			r.cbx[i*(n+1)+j], r.cby[i*(n+1)+j] = m.source(r.coord(float64(j)), r.coord(float64(i)))
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			r.mbx[i*n+j], r.mby[i*n+j] = m.source(r.coord(float64(j)+0.5), r.coord(float64(i)+0.5))
		}
	}
}

// at evaluates the lights at image position (x, y), through the lens when
// integrating a lensed source.
func (r *raster) at(x, y float64) [3]float64 {
	if r.evalLens {
		x, y = r.lens.source(x, y)
	}
	return eval(r.lights, x, y)
}

// integrate writes the flux of each pixel (counts per second) of lights into
// out[c] (n*n, row-major), adding to what is there. With lensed, lights are in
// the source plane of the lens given to setLens.
func (r *raster) integrate(lights []light, lensed bool, out *[3][]float64) {
	n := r.n
	r.lights, r.evalLens = lights, lensed
	for _, l := range lights {
		if t, ok := l.(trimmer); ok {
			t.trim(r.floor)
		}
	}
	for i := 0; i <= n; i++ {
		for j := 0; j <= n; j++ {
			k := i*(n+1) + j
			if lensed {
				r.corner[k] = eval(lights, r.cbx[k], r.cby[k])
			} else {
				r.corner[k] = eval(lights, r.coord(float64(j)), r.coord(float64(i)))
			}
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			k := i*n + j
			if lensed {
				r.centre[k] = eval(lights, r.mbx[k], r.mby[k])
			} else {
				r.centre[k] = eval(lights, r.coord(float64(j)+0.5), r.coord(float64(i)+0.5))
			}
		}
	}
	area := r.pix * r.pix
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			c := i*(n+1) + j
			mean := r.square(r.coord(float64(j)), r.coord(float64(i)), r.pix,
				&r.corner[c], &r.corner[c+1], &r.corner[c+n+1], &r.corner[c+n+2], &r.centre[i*n+j], 0)
			for b := range out {
				out[b][i*n+j] += mean[b] * area
			}
		}
	}
}

// square returns the mean surface brightness over the square with lower
// corner (x0, y0) and side size, given its corner samples (c00 at (x0, y0),
// c01 at (x0+size, y0), c10 at (x0, y0+size), c11 opposite) and centre cc.
func (r *raster) square(x0, y0, size float64, c00, c01, c10, c11, cc *[3]float64, depth int) [3]float64 {
	var est [3]float64
	// A square cut from a steep pixel is cut again down to minRefine levels,
	// so steep pixels get at least 4 x 4 sub-pixels.
	split := depth > 0 && depth < minRefine
	for b := range est {
		mc := 0.25 * (c00[b] + c01[b] + c10[b] + c11[b])
		est[b] = (2*cc[b] + mc) / 3
		if d := cc[b] - mc; d*d > r.tolBkg2[b]+r.tolFlux[b]*max(est[b], 0) && d*d > relTol*relTol*est[b]*est[b] {
			split = true
		}
	}
	if !split || depth >= r.maxDepth {
		return est
	}
	h, q := size/2, size/4
	// Edge midpoints: bottom, left, right, top.
	mb, ml, mr, mt := r.at(x0+h, y0), r.at(x0, y0+h), r.at(x0+size, y0+h), r.at(x0+h, y0+size)
	// Quadrant centres.
	q00, q01, q10, q11 := r.at(x0+q, y0+q), r.at(x0+h+q, y0+q), r.at(x0+q, y0+h+q), r.at(x0+h+q, y0+h+q)
	a := r.square(x0, y0, h, c00, &mb, &ml, cc, &q00, depth+1)
	b := r.square(x0+h, y0, h, &mb, c01, cc, &mr, &q01, depth+1)
	c := r.square(x0, y0+h, h, &ml, cc, c10, &mt, &q10, depth+1)
	d := r.square(x0+h, y0+h, h, cc, &mr, &mt, c11, &q11, depth+1)
	for k := range est {
		est[k] = 0.25 * (a[k] + b[k] + c[k] + d[k])
	}
	return est
}
