package sim

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/sslens/sslens/backend/data"
	// Named metrics: this package has its own eval (light.go).
	metrics "github.com/sslens/sslens/backend/eval"
)

// Reference statistics of the real data's 32 x 32 train centre crops (the
// seed's normalisation): per-band mean and mean of per-image stds, g, r, i.
var (
	RealCropMean = [3]float64{0.1995, 0.6668, 1.2940}
	RealCropStd  = [3]float64{0.2700, 0.9861, 2.1648}
)

// Spread summarises a distribution: its size, extremes and the 5, 16, 50,
// 84 and 95% quantiles. All zero when N is 0.
type Spread struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	P5     float64 `json:"p5"`
	P16    float64 `json:"p16"`
	Median float64 `json:"median"`
	P84    float64 `json:"p84"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
}

// spread summarises v, sorting it in place.
func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	q := func(p float64) float64 { return metrics.Quantile(v, p) }
	return Spread{N: len(v), Min: v[0], P5: q(0.05), P16: q(0.16), Median: q(0.5), P84: q(0.84), P95: q(0.95), Max: v[len(v)-1]}
}

// ArcSNR is the LensPop arc S/N of the lenses measured.
type ArcSNR struct {
	Bands [3]Spread `json:"bands"` // g, r, i
	Best  Spread    `json:"best"`  // the best band of each lens
	// Above20 and Above40 count lenses whose best-band S/N exceeds 20 and
	// 40; Ratio40To20 is Above40 / Above20 (0 when Above20 is 0).
	Above20     int     `json:"above_20"`
	Above40     int     `json:"above_40"`
	Ratio40To20 float64 `json:"ratio_40_to_20"`
}

// BandNoise is one band's measured noise: the robust sigma of noisy minus
// noise-free pixels (1.4826 MAD, the median over images), the model's sky
// sigma, and the correlation of the normalised noise with the neighbouring
// pixel along x and along y.
type BandNoise struct {
	Sigma      float64 `json:"sigma"`
	ModelSigma float64 `json:"model_sigma"`
	CorrX      float64 `json:"corr_x"`
	CorrY      float64 `json:"corr_y"`
}

// Colours are the lens galaxies' colours (the central galaxy of each lens).
type Colours struct {
	GR Spread `json:"g_r"`
	RI Spread `json:"r_i"`
	// Corr is the correlation of g-r with r-i across lenses.
	Corr float64 `json:"corr"`
	// Redshift is the lens redshifts' spread, ByRedshift the median colours
	// in redshift bins 0.3-0.4, ..., 0.8-0.9.
	Redshift   Spread              `json:"redshift"`
	ByRedshift [colourBins]ZColour `json:"by_redshift"`
	// GRScatter is the standard deviation of g-r about its mean in
	// redshift bins of 0.05, pooled: the red sequence's width at fixed z.
	GRScatter float64 `json:"g_r_scatter_fixed_z"`
	// CMASSPass is the fraction of lenses at z > 0.4 that pass the BOSS
	// CMASS cut d_perp = (r-i) - (g-r)/8 > 0.55.
	CMASSPass float64 `json:"cmass_pass_z_above_0_4"`
}

// ZColour is the median colour of the lenses in one redshift bin.
type ZColour struct {
	ZLo float64 `json:"z_lo"`
	ZHi float64 `json:"z_hi"`
	N   int     `json:"n"`
	GR  float64 `json:"g_r"` // 0 when N is 0
	RI  float64 `json:"r_i"`
}

// Redshift bins of the colour table, from colourZ0 in steps of colourDZ.
const (
	colourBins = 6
	colourZ0   = 0.3
	colourDZ   = 0.1
)

// Neighbours are the field galaxies inside the stamps measured.
type Neighbours struct {
	PerArcmin2       float64 `json:"per_arcmin2"`
	PerArcmin2I245   float64 `json:"per_arcmin2_i_below_24_5"`
	FracBrighterI22  float64 `json:"frac_brighter_i_22"` // of those brighter than i = 24.5
	InsideStamps     int     `json:"inside_stamps"`
	StampAreaArcmin2 float64 `json:"stamp_area_arcmin2"`
}

// Leakage is how well one simple feature of the noisy centre crop alone
// separates lenses (positive) from non-lenses: the AUC of the g-i colour of
// the 0.6"-2.0" annulus and of the i-band asymmetry, and the best
// separation max(AUC, 1 - AUC) of the two.
type Leakage struct {
	AnnulusColourAUC float64 `json:"annulus_colour_auc"`
	AsymmetryAUC     float64 `json:"asymmetry_auc"`
	Best             float64 `json:"best"`
}

// CropStats are the per-band mean of the centre crops and the mean of
// their per-image stds, beside the real data's.
type CropStats struct {
	Mean    [3]float64 `json:"mean"`
	Std     [3]float64 `json:"std"`
	RefMean [3]float64 `json:"ref_mean"`
	RefStd  [3]float64 `json:"ref_std"`
}

// Report is the realism measurement of a simulated dataset.
type Report struct {
	Survey string `json:"survey"`
	Seed   uint64 `json:"seed"`
	Size   int    `json:"size"`
	// Every: image indices 0, Every, 2 Every, ... were measured.
	Every     int `json:"every"`
	Images    int `json:"images"`
	Lenses    int `json:"lenses"`
	NonLenses int `json:"non_lenses"`

	ArcSNR      ArcSNR       `json:"arc_snr"`
	Noise       [3]BandNoise `json:"noise"` // g, r, i
	Colours     Colours      `json:"lens_colours"`
	ThetaE      Spread       `json:"theta_e"` // arcsec
	ThetaEOver2 float64      `json:"theta_e_frac_above_2"`
	Shear       Spread       `json:"shear"` // |gamma|
	Neighbours  Neighbours   `json:"neighbours"`
	Leakage     Leakage      `json:"leakage"`
	Crop        CropStats    `json:"crop"`
}

// measured is what Measure keeps of one image.
type measured struct {
	p   Params
	snr [3]float64 // lenses only
	// Noise measures per band, left out (noisy false) of a band with a
	// bad column: robust sigma of noisy minus scene, and neighbour pairs of
	// that difference over the pixel's sigma.
	noisy     [3]bool
	sigma     [3]float64
	x, y      [3]pairSums
	mean, std [3]float64
	colour    float64
	asymmetry float64
	err       error
}

// Measure renders every every-th image of the dataset cfg describes (indices
// 0, every, 2 every, ...; every < 1 means 1) with RenderParts and measures
// them (see Report). progress, if not nil, is called from the calling
// goroutine after each image. The result depends on cfg and every alone.
func Measure(cfg Config, every int, progress func(done, total int)) (Report, error) {
	every = max(every, 1)
	names := fileNames(cfg)
	var indices []int
	for i := 0; i < cfg.Counts.Total(); i += every {
		indices = append(indices, i)
	}
	workers := cfg.Workers
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	workers = min(workers, len(indices))
	all := make([]measured, len(indices))
	jobs := make(chan int)
	done := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		rd, err := newRenderer(&cfg, names)
		if err != nil {
			return Report{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				all[k] = rd.measure(indices[k])
				done <- k
			}
		}()
	}
	go func() {
		for k := range indices {
			jobs <- k
		}
		close(jobs)
		wg.Wait()
		close(done)
	}()
	n := 0
	for range done {
		n++
		if progress != nil {
			progress(n, len(indices))
		}
	}
	for _, m := range all {
		if m.err != nil {
			return Report{}, m.err
		}
	}
	rep, err := aggregate(&cfg, all)
	rep.Every = every
	return rep, err
}

// measure renders image index and takes its per-image measures.
func (rd *renderer) measure(index int) measured {
	var parts Parts
	im, p, err := rd.renderParts(index, &parts)
	if err != nil {
		return measured{err: err}
	}
	S := rd.cfg.Size
	m := measured{p: p}
	bad := badColumnBand(p.Contaminants)
	for c := range 3 {
		if p.Label == data.Lens {
			m.snr[c] = arcSNR(parts.Source[c], parts.Sigma[c])
		}
		if c == bad {
			continue // a dead or hot column is no noise
		}
		res, z := make([]float64, S*S), make([]float64, S*S)
		for k, v := range im.Plane(c) {
			res[k] = float64(v) - parts.Scene[c][k]
			z[k] = res[k] / parts.Sigma[c][k]
		}
		m.noisy[c], m.sigma[c] = true, robustSigma(res)
		m.x[c], m.y[c] = neighbourPairs(z, S)
	}
	m.mean, m.std = cropStats(im)
	g, side := cropPlane(im.Plane(0), im.H, im.W)
	i, _ := cropPlane(im.Plane(2), im.H, im.W)
	b := rd.cfg.Survey.Bands
	m.colour = annulusColour(g, i, side, rd.cfg.Survey.PixelScale, b.G.ZeroPoint, b.I.ZeroPoint)
	m.asymmetry = asymmetry(i, side)
	return m
}

// redshiftColours measures how the lens colours gr and ri follow the lens
// redshifts z (see Colours); it leaves the plain spreads to the caller.
func redshiftColours(z, gr, ri []float64) Colours {
	var out Colours
	var bins [colourBins][2][]float64
	var fine [2 * colourBins]pairSums // g-r in bins of colourDZ/2, pairs (g-r, g-r)
	var pass, high int
	for k := range z {
		if b := int(math.Floor((z[k] - colourZ0) / colourDZ)); b >= 0 && b < colourBins {
			bins[b][0], bins[b][1] = append(bins[b][0], gr[k]), append(bins[b][1], ri[k])
		}
		if b := int(math.Floor((z[k] - colourZ0) / (colourDZ / 2))); b >= 0 && b < len(fine) {
			fine[b].add(gr[k], gr[k])
		}
		if z[k] > 0.4 {
			high++
			if ri[k]-gr[k]/8 > 0.55 {
				pass++
			}
		}
	}
	for b := range bins {
		zb := ZColour{ZLo: colourZ0 + float64(b)*colourDZ, ZHi: colourZ0 + float64(b+1)*colourDZ, N: len(bins[b][0])}
		if zb.N > 0 {
			zb.GR, zb.RI = spread(bins[b][0]).Median, spread(bins[b][1]).Median
		}
		out.ByRedshift[b] = zb
	}
	// Pooled within-bin variance: sum of squared deviations over N - bins.
	var ss, dof float64
	for _, f := range fine {
		if f.n > 1 {
			ss += f.aa - f.a*f.a/f.n
			dof += f.n - 1
		}
	}
	if dof > 0 {
		out.GRScatter = math.Sqrt(ss / dof)
	}
	if high > 0 {
		out.CMASSPass = float64(pass) / float64(high)
	}
	out.Redshift = spread(z)
	return out
}

// aggregate turns the per-image measures into the report.
func aggregate(cfg *Config, all []measured) (Report, error) {
	rep := Report{Survey: cfg.Survey.Name, Seed: cfg.Seed, Size: cfg.Size, Images: len(all)}
	var snr [3][]float64
	var best, gr, ri, zl, thetaE, shear, colour, asym []float64
	var sigmas [3][]float64
	var x, y [3]pairSums
	var colours pairSums
	var labels []int
	var inside, bright245, bright22 int // bright22 counts those of bright245 brighter than i = 22
	half := float64(cfg.Size) / 2 * cfg.Survey.PixelScale
	for _, m := range all {
		p := m.p
		if p.Label == data.Lens {
			rep.Lenses++
			for c := range snr {
				snr[c] = append(snr[c], m.snr[c])
			}
			b := max(m.snr[0], m.snr[1], m.snr[2])
			best = append(best, b)
			if b > 20 {
				rep.ArcSNR.Above20++
			}
			if b > 40 {
				rep.ArcSNR.Above40++
			}
			mg := p.Central.Mag
			gr, ri, zl = append(gr, mg[0]-mg[1]), append(ri, mg[1]-mg[2]), append(zl, p.Redshift)
			colours.add(mg[0]-mg[1], mg[1]-mg[2])
			thetaE = append(thetaE, p.ThetaE)
			if p.ThetaE > 2 {
				rep.ThetaEOver2++
			}
			shear = append(shear, math.Hypot(p.Shear[0], p.Shear[1]))
			labels = append(labels, 1)
		} else {
			rep.NonLenses++
			labels = append(labels, 0)
		}
		for c := range 3 {
			if m.noisy[c] {
				sigmas[c] = append(sigmas[c], m.sigma[c])
				x[c].merge(m.x[c])
				y[c].merge(m.y[c])
			}
			rep.Crop.Mean[c] += m.mean[c] / float64(len(all))
			rep.Crop.Std[c] += m.std[c] / float64(len(all))
		}
		colour, asym = append(colour, m.colour), append(asym, m.asymmetry)
		ns, err := neighbours(p.Contaminants)
		if err != nil {
			return rep, err
		}
		for _, n := range ns {
			if math.Abs(n.x) > half || math.Abs(n.y) > half {
				continue
			}
			inside++
			if n.magI < 24.5 {
				bright245++
			}
			if n.magI < 22 {
				bright22++
			}
		}
	}
	for c := range snr {
		rep.ArcSNR.Bands[c] = spread(snr[c])
	}
	rep.ArcSNR.Best = spread(best)
	if rep.ArcSNR.Above20 > 0 {
		rep.ArcSNR.Ratio40To20 = float64(rep.ArcSNR.Above40) / float64(rep.ArcSNR.Above20)
	}
	model := cfg.Survey.SkySigma()
	for c := range rep.Noise {
		rep.Noise[c] = BandNoise{ModelSigma: model[c], CorrX: x[c].corr(), CorrY: y[c].corr()}
		if len(sigmas[c]) > 0 {
			rep.Noise[c].Sigma = spread(sigmas[c]).Median
		}
	}
	rep.Colours = redshiftColours(zl, gr, ri)
	rep.Colours.GR, rep.Colours.RI, rep.Colours.Corr = spread(gr), spread(ri), colours.corr()
	if rep.Lenses > 0 {
		rep.ThetaEOver2 /= float64(rep.Lenses)
	}
	rep.ThetaE, rep.Shear = spread(thetaE), spread(shear)

	area := (2 * half / 60) * (2 * half / 60) * float64(len(all))
	rep.Neighbours = Neighbours{InsideStamps: inside, StampAreaArcmin2: area,
		PerArcmin2: float64(inside) / area, PerArcmin2I245: float64(bright245) / area}
	if bright245 > 0 {
		rep.Neighbours.FracBrighterI22 = float64(bright22) / float64(bright245)
	}

	var err error
	if rep.Leakage.AnnulusColourAUC, err = metrics.AUC(colour, labels); err != nil {
		return rep, fmt.Errorf("sim: leakage of the annulus colour: %w", err)
	}
	if rep.Leakage.AsymmetryAUC, err = metrics.AUC(asym, labels); err != nil {
		return rep, fmt.Errorf("sim: leakage of the asymmetry: %w", err)
	}
	sep := func(a float64) float64 { return max(a, 1-a) }
	rep.Leakage.Best = max(sep(rep.Leakage.AnnulusColourAUC), sep(rep.Leakage.AsymmetryAUC))
	rep.Crop.RefMean, rep.Crop.RefStd = RealCropMean, RealCropStd
	return rep, nil
}
