package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/sslens/sslens/backend/data"
)

// Tuning of the renderer.
const (
	// rasterTol: the adaptive integration refines a pixel until its sampling
	// error is below this fraction of the pixel's noise (sky and shot noise).
	rasterTol = 0.1
	// sourceTries bounds the draws of a source position behind a lens; every
	// shrinkEvery failed draws the source shrinks by shrinkFactor, which
	// raises the magnification it can reach.
	sourceTries  = 60
	shrinkEvery  = 10
	shrinkFactor = 0.7
	// coarseMargin: a source whose unrefined magnification is below this
	// fraction of the minimum is rejected without a refined render.
	coarseMargin = 0.9
	// seeingClip bounds each image's FWHM to this factor of the median.
	seeingClip = 1.6
	// The flux factors snrScale searches between, relative to the source
	// drawn at its brightest magnitude.
	minSNRScale, maxSNRScale = 1e-4, 1.0
)

// renderer renders the images of one Config. It holds one worker's buffers
// and is not safe for concurrent use.
type renderer struct {
	cfg     *Config
	drawer  *drawer
	noise   [3]bandNoise
	depth   [3]float64 // this image's noise scale per band (depth_scatter)
	coadd   [3]*coaddNoise
	z       []float64 // a coadd noise field, Size x Size
	names   []string
	rasters map[int]*raster // by grid side
	convs   map[int]*convolver
	model   [3][]float64 // noise-free scene, n x n
	src     [3][]float64 // lensed source alone, n x n
	kernels [3][]float64
	kspecs  [3][]complex128 // the PSF cores' spectra, for the arc S/N
	padded  []float64       // one band zero-padded for the convolution, N x N
	// The lensed source and the unlensed scene after the PSF's core, n x n:
	// what the arc S/N of a source position is measured on.
	srcPSF, scenePSF [3][]float64
}

func newRenderer(cfg *Config, names []string) (*renderer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := newPSF(cfg.Survey.PSF, 1); err != nil {
		return nil, err
	}
	rd := &renderer{
		cfg: cfg, drawer: newDrawer(cfg), names: names,
		rasters: map[int]*raster{}, convs: map[int]*convolver{},
	}
	for c, b := range cfg.Survey.Bands.Array() {
		rd.noise[c] = newBandNoise(cfg.Survey, b)
		rd.coadd[c] = newCoaddNoise(cfg.Size, b.Exposures)
	}
	rd.z = make([]float64, cfg.Size*cfg.Size)
	return rd, nil
}

// Render renders image index of the dataset cfg describes, exactly as
// WriteDataset writes it.
func Render(cfg Config, index int) (data.Image, Params, error) {
	rd, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		return data.Image{}, Params{}, err
	}
	return rd.render(index)
}

// Parts are the components of one rendered image, each per band (g, r, i)
// and Size x Size row-major, in counts per second.
type Parts struct {
	// Scene is the noise-free image: scene after the PSF, with stars, and
	// saturated pixels and bleed trails interpolated over, before noise and
	// bad columns.
	Scene [3][]float64
	// Source is the lensed source alone after the PSF (zero for non-lenses).
	// Saturation is not applied to it.
	Source [3][]float64
	// Sigma is the noise sigma each pixel was drawn with: sky, read and the
	// shot noise of Scene.
	Sigma [3][]float64
	// Saturated marks (Size x Size) the saturated pixels and bleed trails of
	// any band, which every band interpolates over (saturate).
	Saturated []bool
}

// RenderParts renders image index as Render does (the same image, bit for
// bit, and the same Params) and returns its components as well. It draws
// no extra random numbers; the source's convolution is the only extra work.
func RenderParts(cfg Config, index int) (data.Image, Params, Parts, error) {
	rd, err := newRenderer(&cfg, fileNames(cfg))
	if err != nil {
		return data.Image{}, Params{}, Parts{}, err
	}
	var parts Parts
	im, p, err := rd.renderParts(index, &parts)
	return im, p, parts, err
}

// grow returns buf resized to n, zeroed.
func grow(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// render draws and renders image index: scene, lensing, PSF, stars,
// saturation, noise, artefacts, in that order. The image's random numbers
// come from a generator seeded with (seed, index) alone.
func (rd *renderer) render(index int) (data.Image, Params, error) {
	return rd.renderParts(index, nil)
}

// renderParts is render that also fills parts, if not nil.
func (rd *renderer) renderParts(index int, parts *Parts) (data.Image, Params, error) {
	split, label, err := rd.cfg.Counts.Locate(index)
	if err != nil {
		return data.Image{}, Params{}, err
	}
	r := rand.New(rand.NewPCG(rd.cfg.Seed, uint64(index)))
	s, S := &rd.cfg.Survey, rd.cfg.Size
	pix := s.PixelScale

	var psfs [3]psf
	var seeing [3]float64
	M := 0          // margin rasterised around the stamp, pixels
	var core [3]int // radius of each band's PSF core (psf.radius), pixels
	for c, b := range s.Bands.Array() {
		fwhm := b.Seeing * math.Exp(s.SeeingScatter*r.NormFloat64())
		seeing[c] = min(max(fwhm, b.Seeing/seeingClip), b.Seeing*seeingClip)
		psfs[c], err = newPSF(s.PSF, seeing[c])
		if err != nil {
			return data.Image{}, Params{}, err
		}
		core[c] = int(math.Ceil(psfs[c].radius() / pix))
		M = max(M, core[c])
		// This stamp's depth is dm ~ N(0, depth_scatter) mag off the band's
		// median, which scales all its noise by 10^(0.4 dm).
		rd.depth[c] = math.Pow(10, 0.4*s.DepthScatter*r.NormFloat64())
	}
	sc, err := rd.drawer.draw(r, label)
	if err != nil {
		return data.Image{}, Params{}, err
	}
	sc.p.File, sc.p.Label, sc.p.Split, sc.p.Seeing = rd.names[index], label, split, seeing

	// The scene is rendered on an n x n grid: the stamp and the light around
	// it that reaches the stamp through the PSF's core.
	n := fftSize(S+2*M, S)
	ras, ok := rd.rasters[n]
	if !ok {
		ras = newRaster(n, pix, rd.noise, rasterTol)
		rd.rasters[n] = ras
	}
	for c := range rd.model {
		rd.model[c] = grow(rd.model[c], n*n)
	}
	ras.integrate(sc.unlensed, false, &rd.model)
	if sc.lens != nil {
		rd.lensSource(r, sc, ras, psfs, core)
		for c := range rd.model {
			for k, v := range rd.src[c] {
				rd.model[c][k] += v
			}
		}
	}

	// Each band's kernel reaches until the wings of the scene's whole flux
	// fall below wingTol of the sky sigma in a pixel, at most S/2 pixels so
	// that the FFT grid stays within 2S (for hsc a scene needs more only if
	// its g flux is brighter than 16 mag, 18 at the worst seeing; the seed
	// dataset's need 13-24 pixels). The grid is zero-padded to N so that
	// the circular FFT convolution leaves the central S x S stamp exact.
	var radii [3]int
	K := 0
	for c := range radii {
		flux := 0.0
		for _, v := range rd.model[c] {
			flux += v
		}
		R := psfs[c].wingRadius(flux, pix, wingTol*math.Sqrt(rd.noise[c].bkgVar)) / pix
		radii[c] = min(int(math.Ceil(R)), S/2)
		K = max(K, radii[c])
	}
	N := max(n, fftSize(S+2*K, S))
	conv := rd.convolver(N)
	var out [3][]float64
	off := (N - S) / 2
	for c := range out {
		w := 2*radii[c] + 1
		rd.kernels[c] = grow(rd.kernels[c], w*w)
		psfs[c].kernel(rd.kernels[c], radii[c], pix)
		rd.kspecs[c] = conv.spectrum(rd.kspecs[c], rd.kernels[c], radii[c])
		grid := rd.pad(rd.model[c], n, N)
		conv.apply(grid, rd.kspecs[c], S)
		out[c] = make([]float64, S*S)
		for i := 0; i < S; i++ {
			copy(out[c][i*S:(i+1)*S], grid[(i+off)*N+off:])
		}
		if parts != nil {
			parts.Source[c] = make([]float64, S*S)
			if sc.lens != nil {
				// rd.src still holds the lensed source lensSource added.
				grid := rd.pad(rd.src[c], n, N)
				conv.apply(grid, rd.kspecs[c], S)
				for i := 0; i < S; i++ {
					copy(parts.Source[c][i*S:(i+1)*S], grid[(i+off)*N+off:])
				}
			}
		}
	}
	for _, st := range sc.stars {
		rd.addStar(out, st, psfs)
	}
	var levels [3]float64
	for c, b := range s.Bands.Array() {
		// A point source of the saturation magnitude fills its peak pixel.
		levels[c] = Flux(b.Saturation, b.ZeroPoint) * psfs[c].pixel(0, 0, pix)
	}
	mask := make([]bool, S*S)
	if masked := saturate(out, S, levels, mask); masked > 0 {
		sc.p.Contaminants = append(sc.p.Contaminants, "bleed_trail", fmt.Sprintf("saturated(pixels=%d)", masked))
	}
	if parts != nil {
		parts.Saturated = mask
	}
	for c := range out {
		// The noise is correlated as a coadd's (coadd.go).
		scale := rd.depth[c]
		sc.p.SkySigma[c] = scale * math.Sqrt(rd.noise[c].bkgVar)
		rd.coadd[c].draw(r, rd.z)
		if parts != nil {
			parts.Scene[c] = slices.Clone(out[c])
			parts.Sigma[c] = make([]float64, S*S)
		}
		for k, f := range out[c] {
			sigma := scale * rd.noise[c].sigma(f)
			if parts != nil {
				parts.Sigma[c][k] = sigma
			}
			out[c][k] = f + sigma*rd.z[k]
		}
	}
	if b := sc.bad; b != nil {
		for y := b.y0; y < b.y1; y++ {
			if b.hot > 0 {
				out[b.band][y*S+b.col] += b.hot * sc.p.SkySigma[b.band]
			} else {
				out[b.band][y*S+b.col] = 0
			}
		}
	}
	im := data.NewImage(3, S, S)
	for c := range out {
		for k, v := range out[c] {
			im.Pix[c*S*S+k] = float32(v)
		}
	}
	return im, sc.p, nil
}

// lensSource places the source behind the lens and picks its magnitude, as
// LensPop selects detectable lenses: a position is kept when the
// magnification reaches the population's minimum, with the probability that
// a magnitude drawn from the source counts gives an arc S/N of at least
// min_snr; the magnitude is then drawn from the counts below that limit.
// The S/N is measured with the PSFs' cores (their wings add less than the
// noise), on top of the unlensed scene in rd.model. The lensed source,
// before the PSF, is left in rd.src.
func (rd *renderer) lensSource(r *rand.Rand, sc *scene, ras *raster, psfs [3]psf, core [3]int) {
	pop := &rd.cfg.Population.Source
	mags := pop.Galaxy.MagI
	brightest, _ := mags.Range() // the magnitude the source was drawn at
	src, m := &sc.source, sc.lens
	n, pix := ras.n, rd.cfg.Survey.PixelScale
	conv := rd.convolver(n)
	for c := range rd.src {
		rd.src[c] = grow(rd.src[c], n*n)
		rd.srcPSF[c] = grow(rd.srcPSF[c], n*n)
		w := 2*core[c] + 1
		rd.kernels[c] = grow(rd.kernels[c], w*w)
		psfs[c].kernel(rd.kernels[c], core[c], pix)
		rd.kspecs[c] = conv.spectrum(rd.kspecs[c], rd.kernels[c], core[c])
		rd.scenePSF[c] = append(rd.scenePSF[c][:0], rd.model[c]...)
		conv.apply(rd.scenePSF[c], rd.kspecs[c], rd.cfg.Size)
	}
	ras.setLens(m)
	// faintest returns the faintest magnitude at which the source, as
	// rendered into rd.src at its brightest, still reaches min_snr.
	faintest := func() float64 {
		rd.convolveSource(conv)
		return brightest - 2.5*math.Log10(rd.snrScale(n, pop.MinSNR))
	}
	var x, y, mu float64
	for try := range sourceTries {
		if try > 0 && try%shrinkEvery == 0 {
			src.shrink *= shrinkFactor
		}
		last := try == sourceTries-1
		// Uniform in a disc of radius position * theta_E around the lens.
		rad, phi := pop.Position*m.ThetaE*math.Sqrt(r.Float64()), 2*math.Pi*r.Float64()
		x, y = m.X+rad*math.Cos(phi), m.Y+rad*math.Sin(phi)
		// A first look on the base samples alone, at the brightest
		// magnitude, decides the position and the magnitude cheaply.
		if rd.magnification(ras, src.lights(x, y), 0, src.totalFlux[2]) < pop.MinMagnification*coarseMargin && !last {
			continue
		}
		limit := faintest()
		p := mags.CDF(limit)
		if r.Float64() >= p && !last {
			continue
		}
		mag := brightest
		if p > 0 {
			mag = mags.SampleBelow(r, limit)
		}
		// The refined render, at the chosen flux (its refinement is set by
		// the noise, so a faint source costs fewer samples), confirms.
		k := Flux(mag, 0) / Flux(brightest, 0)
		src.scale(k)
		mu = rd.magnification(ras, src.lights(x, y), defaultMaxDepth, src.totalFlux[2])
		rd.convolveSource(conv)
		snr := rd.bestArcSNR(n, 1)
		if !last && (mu < pop.MinMagnification || snr < pop.MinSNR) {
			src.scale(1 / k)
			continue
		}
		sc.p.ArcSNR = snr
		break
	}
	sc.p.Source.Mag = rd.drawer.totalMags(src.totalFlux)
	sc.p.Source.X, sc.p.Source.Y = x, y
	sc.p.Source.Reff *= src.shrink
	sc.p.Magnification = mu
}

// convolveSource puts rd.src after the PSF cores into rd.srcPSF.
func (rd *renderer) convolveSource(conv *convolver) {
	for c := range rd.src {
		copy(rd.srcPSF[c], rd.src[c])
		conv.apply(rd.srcPSF[c], rd.kspecs[c], rd.cfg.Size)
	}
}

// stampPixels calls f with the index into the n x n grid of every pixel of
// the central S x S stamp.
func (rd *renderer) stampPixels(n int, f func(k int)) {
	S := rd.cfg.Size
	off := (n - S) / 2
	for i := off; i < off+S; i++ {
		for j := off; j < off+S; j++ {
			f(i*n + j)
		}
	}
}

// bestArcSNR is the best band's LensPop arc S/N (see arcSNR) over the
// stamp of the lensed source in rd.srcPSF scaled by k, on top of the scene
// in rd.scenePSF, with the noise the stamp is drawn with.
func (rd *renderer) bestArcSNR(n int, k float64) float64 {
	best := 0.0
	for c := range rd.src {
		var s, v float64
		rd.stampPixels(n, func(i int) {
			f := k * rd.srcPSF[c][i]
			if sigma := rd.depth[c] * rd.noise[c].sigma(rd.scenePSF[c][i]+f); f > sigma {
				s += f
				v += sigma * sigma
			}
		})
		if v > 0 {
			best = max(best, s/math.Sqrt(v))
		}
	}
	return best
}

// snrScale returns the smallest factor k (to 1%) by which the source in
// rd.src must be scaled for the best-band arc S/N to reach snr, or
// maxSNRScale when even that is not enough.
func (rd *renderer) snrScale(n int, snr float64) float64 {
	lo, hi := minSNRScale, maxSNRScale
	if rd.bestArcSNR(n, hi) < snr {
		return hi
	}
	for hi/lo > 1.01 {
		mid := math.Sqrt(lo * hi)
		if rd.bestArcSNR(n, mid) >= snr {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// magnification renders lights through the lens into rd.src, refining
// pixels at most depth times, and returns the lensed i flux over fluxI.
func (rd *renderer) magnification(ras *raster, lights []light, depth int, fluxI float64) float64 {
	for c := range rd.src {
		clear(rd.src[c])
	}
	ras.maxDepth = depth
	ras.integrate(lights, true, &rd.src)
	ras.maxDepth = defaultMaxDepth
	lensed := 0.0
	for _, v := range rd.src[2] {
		lensed += v
	}
	return lensed / fluxI
}

// addStar adds a point source: the PSF of each band integrated over the
// stamp's pixels around the star's position, times its flux, out to where
// its wings add less than wingTol of the sky sigma to a pixel.
func (rd *renderer) addStar(out [3][]float64, st star, psfs [3]psf) {
	S, pix := rd.cfg.Size, rd.cfg.Survey.PixelScale
	// Pixel j's centre is at x = (j + 0.5 - S/2) pix.
	col, row := st.x/pix+float64(S)/2-0.5, st.y/pix+float64(S)/2-0.5
	for c := range out {
		R := psfs[c].wingRadius(st.flux[c], pix, wingTol*math.Sqrt(rd.noise[c].bkgVar)) / pix
		i0, i1 := max(int(math.Ceil(row-R)), 0), min(int(math.Floor(row+R)), S-1)
		j0, j1 := max(int(math.Ceil(col-R)), 0), min(int(math.Floor(col+R)), S-1)
		for i := i0; i <= i1; i++ {
			dy := float64(i) - row
			for j := j0; j <= j1; j++ {
				if dx := float64(j) - col; dx*dx+dy*dy <= R*R {
					out[c][i*S+j] += st.flux[c] * psfs[c].pixel(dx*pix, dy*pix, pix)
				}
			}
		}
	}
}

// convolver returns the worker's convolver of n x n grids.
func (rd *renderer) convolver(n int) *convolver {
	conv, ok := rd.convs[n]
	if !ok {
		conv = newConvolver(n)
		rd.convs[n] = conv
	}
	return conv
}

// pad returns img (n x n) centred in an N x N grid of zeros (rd.padded),
// or img itself where N = n.
func (rd *renderer) pad(img []float64, n, N int) []float64 {
	if N == n {
		return img
	}
	rd.padded = grow(rd.padded, N*N)
	d := (N - n) / 2
	for i := 0; i < n; i++ {
		copy(rd.padded[(i+d)*N+d:], img[i*n:(i+1)*n])
	}
	return rd.padded
}

// fileNames returns the file name of every image: a permutation of
// 0 .. total-1 drawn from the seed, so names are distinct across classes and
// say nothing about the class or split.
func fileNames(cfg Config) []string {
	total := cfg.Counts.Total()
	perm := rand.New(rand.NewPCG(cfg.Seed, math.MaxUint64)).Perm(total)
	names := make([]string, total)
	for i, p := range perm {
		names[i] = fmt.Sprintf("%d.npy", p)
	}
	return names
}
