package sim

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sslens/sslens/backend/data"
)

// Params are the true parameters of one image, one row of metadata.csv.
// Positions are arcsec from the stamp centre (x along columns, y along rows),
// angles degrees from +x towards +y.
type Params struct {
	File  string // file name in the class folder, "<int>.npy"
	Label data.Label
	Split data.SplitName
	Kind  string // KindLens, or the non-lens kind

	// Lenses only (zero otherwise).
	ThetaE, MassQ, MassAngle float64 // SIE
	Shear                    [2]float64
	Source                   GalaxyParams // the unlensed source; Mag includes its clumps
	Clumps                   int
	Magnification            float64 // lensed over intrinsic i flux of the source
	SourceRedshift           float64
	ArcSNR                   float64 // LensPop S/N of the lensed source, best band

	// Redshift and velocity dispersion (km/s) of the central early-type
	// galaxy (of the bulge's population for disks and spirals).
	Redshift, VelocityDispersion float64

	Central      GalaxyParams // lens light, or the non-lens's main galaxy; Mag is the whole central object's
	Seeing       [3]float64   // PSF FWHM per band, arcsec
	SkySigma     [3]float64   // per-pixel sky noise per band, counts/s: the band's median times the image's depth scatter
	Contaminants []string     // neighbours, stars and artefacts, one short description each
}

// GalaxyParams describes one Sersic component and the magnitudes of the
// object it belongs to.
type GalaxyParams struct {
	Mag        [3]float64 // g, r, i
	X, Y       float64
	Reff, N, Q float64
	Angle      float64 // degrees
}

// scene is one image's content before rendering.
type scene struct {
	unlensed []light
	lens     *lensModel
	source   sourceDraw
	stars    []star
	bad      *badColumn
	p        Params
}

// star is a point source, drawn with the PSF after convolution.
type star struct {
	x, y float64 // arcsec
	flux [3]float64
}

// badColumn is a dead (zero) or hot (raised) column segment in one band.
type badColumn struct {
	band, col, y0, y1 int
	hot               float64 // added, in units of the sky noise; 0 means dead
}

// sourceDraw is a lensed source in its own frame: placed at a position, it
// becomes lights in the source plane.
type sourceDraw struct {
	mags       [3]float64 // of the Sersic part
	re, n, q   float64
	angle      float64
	clumps     []clump
	totalFlux  [3]float64
	shrink     float64 // size factor after failed magnification draws
	zeroPoints [3]float64
}

type clump struct {
	dx, dy, sigma float64 // offset from the source centre and size, before shrinking
	flux          [3]float64
}

// lights places the source at (x, y) in the source plane.
func (s *sourceDraw) lights(x, y float64) []light {
	ls := []light{newSersic(x, y, s.angle, s.q, s.re*s.shrink, s.n, fluxes(s.mags, s.zeroPoints))}
	for _, c := range s.clumps {
		ls = append(ls, newGaussian(x+c.dx*s.shrink, y+c.dy*s.shrink, c.sigma*s.shrink, c.flux))
	}
	return ls
}

// fluxes converts g, r, i magnitudes to counts per second.
func fluxes(mags, zp [3]float64) [3]float64 {
	var f [3]float64
	for c := range f {
		f[c] = Flux(mags[c], zp[c])
	}
	return f
}

// colourMags returns g, r, i magnitudes from i and the colours.
func colourMags(magI, gr, ri float64) [3]float64 {
	return [3]float64{magI + ri + gr, magI + ri, magI}
}

// drawer draws scenes for one survey and population.
type drawer struct {
	pop        *Population
	zp         [3]float64
	pix        float64
	size       int
	kinds      []string
	cumWeights []float64
}

func newDrawer(cfg *Config) *drawer {
	d := &drawer{pop: &cfg.Population, pix: cfg.Survey.PixelScale, size: cfg.Size}
	for c, b := range cfg.Survey.Bands.Array() {
		d.zp[c] = b.ZeroPoint
	}
	total := 0.0
	for _, k := range Names(cfg.Population.NonLens.Kinds) {
		total += cfg.Population.NonLens.Kinds[k]
		d.kinds = append(d.kinds, k)
		d.cumWeights = append(d.cumWeights, total)
	}
	return d
}

// redDraw is one early-type galaxy of the lens_galaxy population.
type redDraw struct {
	z, sigma     float64 // redshift, velocity dispersion (km/s)
	magI, gr, ri float64
	reff, n, q   float64 // reff in arcsec
}

// Pivot of the lens galaxies' magnitude relation (presets.yaml mag_i_pivot).
const (
	pivotRedshift = 0.5
	pivotSigma    = 250.0 // km/s
)

// redGalaxy draws an early-type galaxy: redshift and velocity dispersion,
// then its i magnitude (Faber-Jackson, distance modulus, K+e correction),
// red-sequence colours at its redshift, and its size in kpc seen at that
// redshift.
func (d *drawer) redGalaxy(r *rand.Rand) redDraw {
	g := &d.pop.LensGalaxy
	z, sigma := g.Redshift.Sample(r), g.VelocityDispersion.Sample(r)
	gr, ri := colourTrack(g.ColourTrack, z)
	kpc := angularDistance(0, z) * 1000 // kpc per radian
	return redDraw{
		z: z, sigma: sigma,
		magI: g.MagIPivot + 5*math.Log10(luminosityDistance(z)/luminosityDistance(pivotRedshift)) +
			g.KESlope*(z-pivotRedshift) - 2.5*g.FaberJackson*math.Log10(sigma/pivotSigma) + g.MagScatter*r.NormFloat64(),
		gr:   gr + g.GRScatter*r.NormFloat64(),
		ri:   ri + g.RIScatter*r.NormFloat64(),
		reff: g.ReffKpc.Sample(r) / kpc * arcsecPerRadian,
		n:    g.N.Sample(r), q: g.Q.Sample(r),
	}
}

// galaxy returns the draw as a Galaxy population of one member.
func (rd redDraw) galaxy() Galaxy {
	return Galaxy{MagI: Const(rd.magI), GR: Const(rd.gr), RI: Const(rd.ri), Reff: Const(rd.reff), N: Const(rd.n), Q: Const(rd.q)}
}

// colourTrack interpolates the [z, g-r, r-i] track linearly at z, holding
// the end values beyond it.
func colourTrack(track [][3]float64, z float64) (gr, ri float64) {
	k := 1
	for k < len(track)-1 && track[k][0] < z {
		k++
	}
	if len(track) == 1 {
		return track[0][1], track[0][2]
	}
	a, b := track[k-1], track[k]
	t := min(max((z-a[0])/(b[0]-a[0]), 0), 1)
	return a[1] + t*(b[1]-a[1]), a[2] + t*(b[2]-a[2])
}

// galaxy draws a Sersic galaxy of total i magnitude magI at (x, y).
func (d *drawer) galaxy(r *rand.Rand, g Galaxy, magI, x, y float64) (*sersic, GalaxyParams) {
	mags := colourMags(magI, g.GR.Sample(r), g.RI.Sample(r))
	re, n, q, angle := g.Reff.Sample(r), g.N.Sample(r), g.Q.Sample(r), math.Pi*r.Float64()
	return newSersic(x, y, angle, q, re, n, fluxes(mags, d.zp)),
		GalaxyParams{Mag: mags, X: x, Y: y, Reff: re, N: n, Q: q, Angle: angle * 180 / math.Pi}
}

// totalMags returns the magnitudes of the summed fluxes.
func (d *drawer) totalMags(fs ...[3]float64) [3]float64 {
	var sum, m [3]float64
	for _, f := range fs {
		for c := range f {
			sum[c] += f[c]
		}
	}
	for c := range m {
		m[c] = Mag(sum[c], d.zp[c])
	}
	return m
}

// draw draws the whole scene of an image of the given class.
func (d *drawer) draw(r *rand.Rand, label data.Label) (*scene, error) {
	sc := &scene{}
	x0, y0 := d.pop.CentreOffset.Sample(r), d.pop.CentreOffset.Sample(r)
	if label == data.Lens {
		d.drawLens(r, sc, x0, y0)
	} else {
		if err := d.drawNonLens(r, sc, x0, y0); err != nil {
			return nil, err
		}
	}
	d.drawField(r, sc)
	return sc, nil
}

// lensTries bounds the redraws of a lens galaxy whose Einstein radius falls
// outside mass.theta_e_range; the last draw is clamped into it.
const lensTries = 1000

// lensGalaxy draws a lens galaxy, a source redshift and their Einstein
// radius together, redrawing all three until theta_E falls in
// mass.theta_e_range. Non-lens centrals are drawn the same way, so that both
// classes hold the same galaxies.
func (d *drawer) lensGalaxy(r *rand.Rand) (red redDraw, zs, thetaE float64) {
	pop := d.pop
	lo, hi := pop.Mass.ThetaERange[0], pop.Mass.ThetaERange[1]
	for try := 0; try < lensTries; try++ {
		red, zs = d.redGalaxy(r), pop.Source.Redshift.Sample(r)
		if zs <= red.z {
			continue
		}
		if thetaE = EinsteinRadius(red.sigma, red.z, zs); thetaE >= lo && thetaE <= hi {
			break
		}
	}
	return red, zs, min(max(thetaE, lo), hi)
}

func (d *drawer) drawLens(r *rand.Rand, sc *scene, x0, y0 float64) {
	pop := d.pop
	sc.p.Kind = KindLens
	red, zs, thetaE := d.lensGalaxy(r)
	gal, gp := d.galaxy(r, red.galaxy(), red.magI, x0, y0)
	sc.unlensed = append(sc.unlensed, gal)
	sc.p.Central, sc.p.Redshift, sc.p.VelocityDispersion, sc.p.SourceRedshift = gp, red.z, red.sigma, zs
	m := Lens{
		ThetaE: thetaE,
		Q:      pop.Mass.Q.Sample(r),
		Angle:  (gp.Angle + pop.Mass.AngleScatter.Sample(r)) * math.Pi / 180,
		Core:   pop.Mass.Core,
		X:      x0, Y: y0,
	}
	m.G1, m.G2 = pop.Mass.Shear.Sample(r), pop.Mass.Shear.Sample(r)
	lm := m.prepare()
	sc.lens = &lm
	sc.p.ThetaE, sc.p.MassQ, sc.p.MassAngle, sc.p.Shear = m.ThetaE, m.Q, m.Angle*180/math.Pi, [2]float64{m.G1, m.G2}

	src, g := &sc.source, pop.Source.Galaxy
	src.zeroPoints, src.shrink = d.zp, 1
	// Drawn at the bright end of the magnitude distribution; the renderer
	// scales the source to its magnitude once its arc S/N is known.
	brightest, _ := g.MagI.Range()
	fluxI := Flux(brightest, d.zp[2])
	gr, ri := g.GR.Sample(r), g.RI.Sample(r)
	src.re, src.n, src.q, src.angle = g.Reff.Sample(r), g.N.Sample(r), g.Q.Sample(r), math.Pi*r.Float64()
	nClumps := int(pop.Source.Clumps.Sample(r))
	rest := 1.0 // share of the i flux left to the Sersic body
	var clumpFluxes [][3]float64
	for range nClumps {
		f := pop.Source.ClumpFlux.Sample(r)
		if f > rest-0.3 {
			break // keep at least 30% in the smooth body
		}
		rest -= f
		cm := colourMags(Mag(f*fluxI, d.zp[2]), gr+pop.Source.ClumpGR.Sample(r), ri+pop.Source.ClumpRI.Sample(r))
		spread := pop.Source.ClumpSpread * src.re
		c := clump{dx: spread * r.NormFloat64(), dy: spread * r.NormFloat64(), sigma: pop.Source.ClumpSigma.Sample(r)}
		c.flux = fluxes(cm, d.zp)
		src.clumps = append(src.clumps, c)
		clumpFluxes = append(clumpFluxes, c.flux)
	}
	src.mags = colourMags(Mag(rest*fluxI, d.zp[2]), gr, ri)
	src.totalFlux = fluxes(src.mags, d.zp)
	for _, f := range clumpFluxes {
		for c := range f {
			src.totalFlux[c] += f[c]
		}
	}
	sc.p.Clumps = len(src.clumps)
	sc.p.Source = GalaxyParams{Mag: d.totalMags(src.totalFlux), Reff: src.re, N: src.n, Q: src.q, Angle: src.angle * 180 / math.Pi}
}

// scale multiplies every flux of the source by k.
func (s *sourceDraw) scale(k float64) {
	dm := -2.5 * math.Log10(k)
	for c := range s.mags {
		s.mags[c] += dm
		s.totalFlux[c] *= k
	}
	for i := range s.clumps {
		for c := range s.clumps[i].flux {
			s.clumps[i].flux[c] *= k
		}
	}
}

func (d *drawer) drawNonLens(r *rand.Rand, sc *scene, x0, y0 float64) error {
	nl := &d.pop.NonLens
	u := r.Float64() * d.cumWeights[len(d.cumWeights)-1]
	kind := d.kinds[len(d.kinds)-1]
	for k, w := range d.cumWeights {
		if u < w {
			kind = d.kinds[k]
			break
		}
	}
	sc.p.Kind = kind
	red, _, _ := d.lensGalaxy(r)
	sc.p.Redshift, sc.p.VelocityDispersion = red.z, red.sigma
	magI, redSpec := red.magI, red.galaxy()
	switch kind {
	case KindElliptical:
		gal, gp := d.galaxy(r, redSpec, magI, x0, y0)
		sc.unlensed = append(sc.unlensed, gal)
		sc.p.Central = gp
	case KindDisk, KindEdgeOn:
		spec, fb := nl.Disk, nl.BulgeFraction.Sample(r)
		if kind == KindEdgeOn {
			spec.Q, fb = nl.EdgeOnQ, fb/2
		}
		disk, gp := d.galaxy(r, spec, magI-2.5*math.Log10(1-fb), x0, y0)
		bulgeSpec := redSpec
		bulgeSpec.Reff, bulgeSpec.N = Const(0.3*gp.Reff), Const(4)
		bulge, bp := d.galaxy(r, bulgeSpec, magI-2.5*math.Log10(fb), x0, y0)
		sc.unlensed = append(sc.unlensed, disk, bulge)
		gp.Mag = d.totalMags(fluxes(gp.Mag, d.zp), fluxes(bp.Mag, d.zp))
		sc.p.Central = gp
	case KindPair:
		ratio := nl.PairFluxRatio.Sample(r)
		primaryI := magI + 2.5*math.Log10(1+ratio)
		gal, gp := d.galaxy(r, redSpec, primaryI, x0, y0)
		sep, phi := nl.PairSeparation.Sample(r), 2*math.Pi*r.Float64()
		spec := d.redGalaxy(r).galaxy() // a second galaxy, not a copy of the first
		if r.Float64() < nl.PairBlue {
			spec = nl.Disk
		}
		x1, y1 := x0+sep*math.Cos(phi), y0+sep*math.Sin(phi)
		second, sp := d.galaxy(r, spec, primaryI-2.5*math.Log10(ratio), x1, y1)
		sc.unlensed = append(sc.unlensed, gal, second)
		parts := [][3]float64{fluxes(gp.Mag, d.zp), fluxes(sp.Mag, d.zp)}
		if r.Float64() < nl.Tidal {
			// A tidal tail: a curved arc through the pair, bending away
			// from one side of it.
			tailMags := colourMags(magI-2.5*math.Log10(nl.TidalFlux.Sample(r)), nl.Disk.GR.Sample(r), nl.Disk.RI.Sample(r))
			radius, side := sep*nl.TidalRadius.Sample(r), phi+math.Pi/2
			if r.Float64() < 0.5 {
				side += math.Pi
			}
			xt, yt := (x0+x1)/2+radius*math.Cos(side), (y0+y1)/2+radius*math.Sin(side)
			tail := newArc(xt, yt, 0, 1, radius, nl.TidalWidth.Sample(r), nl.TidalPower.Sample(r), 0.5*r.Float64(),
				side+math.Pi+(r.Float64()-0.5), fluxes(tailMags, d.zp))
			sc.unlensed = append(sc.unlensed, tail)
			parts = append(parts, fluxes(tailMags, d.zp))
		}
		gp.Mag = d.totalMags(parts...)
		sc.p.Central = gp
	case KindRing:
		gal, gp := d.galaxy(r, redSpec, magI, x0, y0)
		rs := nl.Ring
		ringFlux := fluxes(colourMags(rs.MagI.Sample(r), rs.GR.Sample(r), rs.RI.Sample(r)), d.zp)
		radius, width, q, angle := rs.Radius.Sample(r), rs.Width.Sample(r), rs.Q.Sample(r), math.Pi*r.Float64()
		off, offAngle := rs.Offset.Sample(r), 2*math.Pi*r.Float64()
		xr, yr := x0+off*math.Cos(offAngle), y0+off*math.Sin(offAngle)
		knots := int(rs.Knots.Sample(r))
		e := newEllipse(xr, yr, angle, q)
		smooth := ringFlux
		for range knots {
			f := 0.04 + 0.08*r.Float64()
			t := 2 * math.Pi * r.Float64()
			// A point at circularised radius `radius` on the ring's ellipse.
			u, v := radius*math.Cos(t)/math.Sqrt(q), radius*math.Sin(t)*math.Sqrt(q)
			kx, ky := xr+u*e.cos-v*e.sin, yr+u*e.sin+v*e.cos
			var kf [3]float64
			for c := range kf {
				kf[c] = f * ringFlux[c]
				smooth[c] -= kf[c]
			}
			sc.unlensed = append(sc.unlensed, newGaussian(kx, ky, width*(0.5+0.5*r.Float64()), kf))
		}
		arc := newArc(xr, yr, angle, q, radius, width, rs.Power.Sample(r), rs.Lopsided.Sample(r), 2*math.Pi*r.Float64(), smooth)
		sc.unlensed = append(sc.unlensed, gal, arc)
		gp.Mag = d.totalMags(fluxes(gp.Mag, d.zp), ringFlux)
		sc.p.Central = gp
	case KindSpiral:
		fd := nl.SpiralDiskFraction.Sample(r)
		spec := nl.Disk
		spec.Q = Uniform(0.5, 1) // close enough to face-on to show the arms
		disk, gp := d.galaxy(r, spec, magI-2.5*math.Log10(fd), x0, y0)
		arms := &spiral{
			sersic:   disk,
			arms:     math.Floor(nl.SpiralArms.Sample(r) + 0.5),
			cotPitch: 1 / math.Tan(nl.SpiralPitch.Sample(r)*math.Pi/180),
			phase:    2 * math.Pi * r.Float64(),
			contrast: nl.SpiralContrast.Sample(r),
			lopsided: nl.SpiralLopsided.Sample(r), lopAngle: 2 * math.Pi * r.Float64(),
		}
		sc.unlensed = append(sc.unlensed, arms)
		knotsFlux := d.spiralKnots(r, sc, arms, Flux(gp.Mag[2], d.zp[2]))
		bulgeSpec := redSpec
		bulgeSpec.Reff = Const(0.3 * gp.Reff)
		bulge, bp := d.galaxy(r, bulgeSpec, magI-2.5*math.Log10(1-fd), x0, y0)
		sc.unlensed = append(sc.unlensed, bulge)
		gp.Mag = d.totalMags(fluxes(gp.Mag, d.zp), fluxes(bp.Mag, d.zp), knotsFlux)
		sc.p.Central = gp
	default:
		return fmt.Errorf("sim: unknown non-lens kind %q", kind)
	}
	return nil
}

// spiralKnots adds blue star-forming knots on the arms of sp, each a
// fraction of the disk's i flux diskI, and returns their total flux.
func (d *drawer) spiralKnots(r *rand.Rand, sc *scene, sp *spiral, diskI float64) [3]float64 {
	nl := &d.pop.NonLens
	var total [3]float64
	re := math.Sqrt(1 / sp.invRe2)
	for range int(nl.SpiralKnots.Sample(r)) {
		// On arm j at radius rad the deprojected angle is
		// theta = (2 pi j - phase) / arms + cot(pitch) ln(rad / re).
		rad := re * (0.4 + 1.6*r.Float64())
		j := math.Floor(r.Float64() * sp.arms)
		theta := (2*math.Pi*j-sp.phase)/sp.arms + sp.cotPitch*math.Log(rad/re)
		u, v := rad*math.Cos(theta)/math.Sqrt(sp.q), rad*math.Sin(theta)*math.Sqrt(sp.q)
		x, y := sp.x0+u*sp.cos-v*sp.sin, sp.y0+u*sp.sin+v*sp.cos
		f := fluxes(colourMags(Mag(nl.KnotFlux.Sample(r)*diskI, d.zp[2]), nl.KnotGR.Sample(r), nl.KnotRI.Sample(r)), d.zp)
		sc.unlensed = append(sc.unlensed, newGaussian(x, y, 0.05+0.1*r.Float64(), f))
		for c := range total {
			total[c] += f[c]
		}
	}
	return total
}

// fieldMargin is how far beyond the stamp edge neighbours and bright stars
// may sit and still spill light into it, arcsec.
const fieldMargin = 1.5

// drawField adds neighbours, stars and artefacts.
func (d *drawer) drawField(r *rand.Rand, sc *scene) {
	f := &d.pop.Field
	half := float64(d.size) / 2 * d.pix
	uniform := func(h float64) (float64, float64) { return h * (2*r.Float64() - 1), h * (2*r.Float64() - 1) }
	for range poisson(r, f.Neighbours) {
		x, y := uniform(half + fieldMargin)
		spec, colour := f.Blue, "blue"
		if r.Float64() < f.RedFraction {
			spec, colour = f.Red, "red"
		}
		gp := d.fieldGalaxy(r, sc, spec, f.NeighbourMagI.Sample(r), x, y)
		sc.p.Contaminants = append(sc.p.Contaminants,
			fmt.Sprintf("galaxy(x=%.2f,y=%.2f,i=%.2f,%s)", x, y, gp.Mag[2], colour))
	}
	cen := sc.p.Central
	for range poisson(r, f.Satellites) {
		rad, phi := f.SatelliteRadius.Sample(r), 2*math.Pi*r.Float64()
		x, y := cen.X+rad*math.Cos(phi), cen.Y+rad*math.Sin(phi)
		spec, colour := f.Red, "red"
		if r.Float64() < f.SatelliteBlue {
			spec, colour = f.Blue, "blue"
		} else {
			// At the central's redshift: its colours, a little scatter.
			spec.GR, spec.RI = Const(cen.Mag[0]-cen.Mag[1]+0.05*r.NormFloat64()), Const(cen.Mag[1]-cen.Mag[2]+0.05*r.NormFloat64())
		}
		gp := d.fieldGalaxy(r, sc, spec, cen.Mag[2]+f.SatelliteDMag.Sample(r), x, y)
		sc.p.Contaminants = append(sc.p.Contaminants,
			fmt.Sprintf("satellite(x=%.2f,y=%.2f,i=%.2f,%s)", x, y, gp.Mag[2], colour))
	}
	if r.Float64() < f.Star {
		x, y := uniform(half)
		m := colourMags(f.StarMagI.Sample(r), f.StarGR.Sample(r), f.StarRI.Sample(r))
		sc.stars = append(sc.stars, star{x: x, y: y, flux: fluxes(m, d.zp)})
		sc.p.Contaminants = append(sc.p.Contaminants, fmt.Sprintf("star(x=%.2f,y=%.2f,i=%.2f)", x, y, m[2]))
	}
	if r.Float64() < f.BrightStar {
		// Lens searches skip cutouts centred near bright stars: keep them
		// out of the centre crop (and its PSF wings).
		x, y := uniform(half + fieldMargin)
		for try := 0; try < 100 && max(math.Abs(x), math.Abs(y)) < (CropSize/2+4)*d.pix; try++ {
			x, y = uniform(half + fieldMargin)
		}
		m := colourMags(f.BrightStarMagI.Sample(r), f.StarGR.Sample(r), f.StarRI.Sample(r))
		sc.stars = append(sc.stars, star{x: x, y: y, flux: fluxes(m, d.zp)})
		sc.p.Contaminants = append(sc.p.Contaminants, fmt.Sprintf("bright_star(x=%.2f,y=%.2f,i=%.2f)", x, y, m[2]))
	}
	if r.Float64() < f.BadColumn {
		b := &badColumn{band: r.IntN(3), col: r.IntN(d.size), y0: 0, y1: d.size}
		if r.Float64() < 0.5 { // a partial column, from a defect to the readout edge
			if r.Float64() < 0.5 {
				b.y0 = r.IntN(d.size)
			} else {
				b.y1 = 1 + r.IntN(d.size)
			}
		}
		kind := "dead"
		if r.Float64() < 0.5 {
			b.hot, kind = 3+7*r.Float64(), "hot"
		}
		sc.bad = b
		sc.p.Contaminants = append(sc.p.Contaminants,
			fmt.Sprintf("bad_column(band=%s,col=%d,rows=%d-%d,%s)", data.Bands[b.band], b.col, b.y0, b.y1-1, kind))
	}
}

// fieldGalaxy adds a field galaxy of i magnitude magI at (x, y): spec's
// r_eff is its size at i = 22, scaled as L^size_luminosity.
func (d *drawer) fieldGalaxy(r *rand.Rand, sc *scene, spec Galaxy, magI, x, y float64) GalaxyParams {
	spec.Reff = Const(spec.Reff.Sample(r) * math.Pow(10, -0.4*d.pop.Field.SizeLuminosity*(magI-22)))
	gal, gp := d.galaxy(r, spec, magI, x, y)
	sc.unlensed = append(sc.unlensed, gal)
	return gp
}

// poisson draws a Poisson variate of the given (small) mean (Knuth).
func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}
