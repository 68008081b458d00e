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
	kspecs  [3][]complex128 // this image's kernel spectra
	shifted []float64 // a star's kernel
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
	// Scene is the noise-free image: scene after the PSF, with stars and
	// saturation bleed, before noise and bad columns.
	Scene [3][]float64
	// Source is the lensed source alone after the PSF (zero for non-lenses).
	// Saturation is not applied to it.
	Source [3][]float64
	// Sigma is the noise sigma each pixel was drawn with: sky, read and the
	// shot noise of Scene.
	Sigma [3][]float64
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
	var radii [3]int
	var seeing [3]float64
	R := 0
	for c, b := range s.Bands.Array() {
		fwhm := b.Seeing * math.Exp(s.SeeingScatter*r.NormFloat64())
		seeing[c] = min(max(fwhm, b.Seeing/seeingClip), b.Seeing*seeingClip)
		psfs[c], err = newPSF(s.PSF, seeing[c])
		if err != nil {
			return data.Image{}, Params{}, err
		}
		radii[c] = int(math.Ceil(psfs[c].radius() / pix))
		R = max(R, radii[c])
		// This stamp's depth is dm ~ N(0, depth_scatter) mag off the band's
		// median, which scales all its noise by 10^(0.4 dm).
		rd.depth[c] = math.Pow(10, 0.4*s.DepthScatter*r.NormFloat64())
	}
	sc, err := rd.drawer.draw(r, label)
	if err != nil {
		return data.Image{}, Params{}, err
	}
	sc.p.File, sc.p.Label, sc.p.Split, sc.p.Seeing = rd.names[index], label, split, seeing

	// The scene is rendered on an n x n grid wide enough that the circular
	// FFT convolution leaves the central S x S stamp exact.
	n := fftSize(S+2*R, S)
	ras, ok := rd.rasters[n]
	if !ok {
		ras = newRaster(n, pix, rd.noise, rasterTol)
		rd.rasters[n] = ras
	}
	for c := range rd.model {
		rd.model[c] = grow(rd.model[c], n*n)
	}
	ras.integrate(sc.unlensed, false, &rd.model)

	conv, ok := rd.convs[n]
	if !ok {
		conv = newConvolver(n)
		rd.convs[n] = conv
	}
	for c := range rd.model {
		w := 2*radii[c] + 1
		rd.kernels[c] = grow(rd.kernels[c], w*w)
		psfs[c].kernel(rd.kernels[c], radii[c], pix, 0, 0)
		rd.kspecs[c] = conv.spectrum(rd.kspecs[c], rd.kernels[c], radii[c])
		conv.apply(rd.model[c], rd.kspecs[c])
	}
	if sc.lens != nil {
		rd.lensSource(r, sc, ras, conv)
	}
	var out [3][]float64
	off := (n - S) / 2
	for c := range out {
		out[c] = make([]float64, S*S)
		for i := 0; i < S; i++ {
			copy(out[c][i*S:(i+1)*S], rd.model[c][(i+off)*n+off:])
		}
		if parts != nil {
			parts.Source[c] = make([]float64, S*S)
			if sc.lens != nil {
				// rd.src holds the lensed source after the PSF.
				for i := 0; i < S; i++ {
					copy(parts.Source[c][i*S:(i+1)*S], rd.src[c][(i+off)*n+off:])
				}
			}
		}
	}
	for _, st := range sc.stars {
		rd.addStar(out, st, psfs, radii)
	}
	bled := false
	for c, b := range s.Bands.Array() {
		// A point source of the saturation magnitude fills its peak pixel.
		peak := rd.kernels[c][radii[c]*(2*radii[c]+1)+radii[c]]
		if bleed(out[c], S, Flux(b.Saturation, b.ZeroPoint)*peak) {
			bled = true
		}
	}
	if bled {
		sc.p.Contaminants = append(sc.p.Contaminants, "bleed_trail")
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
// The lensed source after the PSF is left in rd.src and added to rd.model,
// which holds the unlensed scene after the PSF.
func (rd *renderer) lensSource(r *rand.Rand, sc *scene, ras *raster, conv *convolver) {
	pop := &rd.cfg.Population.Source
	mags := pop.Galaxy.MagI
	brightest, _ := mags.Range() // the magnitude the source was drawn at
	src, m := &sc.source, sc.lens
	n := ras.n
	for c := range rd.src {
		rd.src[c] = grow(rd.src[c], n*n)
	}
	ras.setLens(m)
	// faintest returns the faintest magnitude at which the source, as
	// rendered into rd.src, still reaches min_snr.
	faintest := func() float64 {
		for c := range rd.src {
			conv.apply(rd.src[c], rd.kspecs[c])
		}
		return brightest - 2.5*math.Log10(rd.snrScale(n, pop.MinSNR))
	}
	var x, y, mu float64
	mag := brightest
	for try := range sourceTries {
		if try > 0 && try%shrinkEvery == 0 {
			src.shrink *= shrinkFactor
		}
		last := try == sourceTries-1
		// Uniform in a disc of radius position * theta_E around the lens.
		rad, phi := pop.Position*m.ThetaE*math.Sqrt(r.Float64()), 2*math.Pi*r.Float64()
		x, y = m.X+rad*math.Cos(phi), m.Y+rad*math.Sin(phi)
		lights := src.lights(x, y)
		// A first look on the base samples alone decides most draws
		// cheaply; the refined render then confirms.
		if !last {
			if rd.magnification(ras, lights, 0, src.totalFlux[2]) < pop.MinMagnification*coarseMargin {
				continue
			}
			if r.Float64() >= mags.CDF(faintest()) {
				continue
			}
		}
		mu = rd.magnification(ras, lights, defaultMaxDepth, src.totalFlux[2])
		limit := faintest()
		if !last && (mu < pop.MinMagnification || mags.CDF(limit) == 0) {
			continue
		}
		if mags.CDF(limit) > 0 {
			mag = mags.SampleBelow(r, limit)
		}
		break
	}
	k := Flux(mag, 0) / Flux(brightest, 0)
	sc.p.ArcSNR = rd.bestArcSNR(n, k)
	src.scale(k)
	for c := range rd.model {
		for i, v := range rd.src[c] {
			rd.src[c][i] = k * v
			rd.model[c][i] += k * v
		}
	}
	sc.p.Source.Mag = rd.drawer.totalMags(src.totalFlux)
	sc.p.Source.X, sc.p.Source.Y = x, y
	sc.p.Source.Reff *= src.shrink
	sc.p.Magnification = mu
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
// stamp of the lensed source in rd.src scaled by k, on top of the scene in
// rd.model (both n x n, after the PSF), with the noise the stamp is drawn with.
func (rd *renderer) bestArcSNR(n int, k float64) float64 {
	best := 0.0
	for c := range rd.src {
		var s, v float64
		rd.stampPixels(n, func(i int) {
			f := k * rd.src[c][i]
			if sigma := rd.depth[c] * rd.noise[c].sigma(rd.model[c][i]+f); f > sigma {
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

// addStar adds a point source: the PSF of each band, shifted to the star's
// sub-pixel position, times its flux.
func (rd *renderer) addStar(out [3][]float64, st star, psfs [3]psf, radii [3]int) {
	S, pix := rd.cfg.Size, rd.cfg.Survey.PixelScale
	// Pixel j's centre is at x = (j + 0.5 - S/2) pix.
	col, row := st.x/pix+float64(S)/2-0.5, st.y/pix+float64(S)/2-0.5
	jc, ic := math.Round(col), math.Round(row)
	for c := range out {
		R, w := radii[c], 2*radii[c]+1
		rd.shifted = grow(rd.shifted, w*w)
		psfs[c].kernel(rd.shifted, R, pix, col-jc, row-ic)
		for i := 0; i < w; i++ {
			y := int(ic) + i - R
			if y < 0 || y >= S {
				continue
			}
			for j := 0; j < w; j++ {
				if x := int(jc) + j - R; x >= 0 && x < S {
					out[c][y*S+x] += st.flux[c] * rd.shifted[i*w+j]
				}
			}
		}
	}
}

// bleed clips img (S x S) at level and spills the excess charge of each
// saturated run half up and half down its column, filling pixels to the
// level, as a CCD's full wells overflow along the readout direction. It
// reports whether anything saturated.
func bleed(img []float64, S int, level float64) bool {
	saturated := false
	for x := 0; x < S; x++ {
		for y := 0; y < S; {
			if img[y*S+x] <= level {
				y++
				continue
			}
			saturated = true
			start, excess := y, 0.0
			for ; y < S && img[y*S+x] > level; y++ {
				excess += img[y*S+x] - level
				img[y*S+x] = level
			}
			up, down := excess/2, excess/2
			for k := start - 1; k >= 0 && up > 0; k-- {
				add := max(min(level-img[k*S+x], up), 0)
				img[k*S+x] += add
				up -= add
			}
			for k := y; k < S && down > 0; k++ {
				add := max(min(level-img[k*S+x], down), 0)
				img[k*S+x] += add
				down -= add
			}
		}
	}
	return saturated
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
