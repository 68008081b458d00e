package sim

import "math"

// light is a surface-brightness profile. add adds its brightness at (x, y)
// (arcsec) to v, per band g, r, i, in counts per second per arcsec^2.
type light interface {
	add(x, y float64, v *[3]float64)
}

// eval sums the lights at (x, y).
func eval(ls []light, x, y float64) [3]float64 {
	var v [3]float64
	for _, l := range ls {
		l.add(x, y, &v)
	}
	return v
}

// ellipse places a profile: centre, major-axis angle and axis ratio q. Its
// radius is circularised, r^2 = q u^2 + v^2/q in the major-axis frame (u, v),
// so the area inside r is pi r^2 whatever q is.
type ellipse struct {
	x0, y0, cos, sin, q float64
}

func newEllipse(x0, y0, angle, q float64) ellipse {
	return ellipse{x0: x0, y0: y0, cos: math.Cos(angle), sin: math.Sin(angle), q: q}
}

// frame returns (x, y) in the major-axis frame.
func (e *ellipse) frame(x, y float64) (u, v float64) {
	dx, dy := x-e.x0, y-e.y0
	return dx*e.cos + dy*e.sin, -dx*e.sin + dy*e.cos
}

func (e *ellipse) r2(x, y float64) float64 {
	u, v := e.frame(x, y)
	return e.q*u*u + v*v/e.q
}

// sersicB returns b_n, which makes r_eff the half-light radius, from the
// asymptotic series of Ciotti & Bertin (1999): the light inside r_eff is
// within 0.03% of half for n >= 0.5, where the linear fit 1.9992 n - 0.3271
// puts b 3% low.
func sersicB(n float64) float64 {
	return 2*n - 1.0/3 + 4/(405*n) + 46/(25515*n*n) + 131/(1148175*n*n*n) - 2194697/(30690717750*n*n*n*n)
}

// sersicUnitFlux is the total flux of exp(-b (r/re)^(1/n)) over the plane:
// 2 pi n re^2 Gamma(2n) / b^(2n).
func sersicUnitFlux(n, re float64) float64 {
	b := sersicB(n)
	return 2 * math.Pi * n * re * re * math.Gamma(2*n) / math.Pow(b, 2*n)
}

// sersicCut is where a Sersic profile is dropped: below 1e-5 of its
// brightness at r_eff. The flux beyond is under 1e-4 of the total for n <= 8.
const sersicCut = 11.5 // ln(1e5)

// sersic is an elliptical Sersic profile I(r) = amp exp(-b (r/re)^(1/n)).
type sersic struct {
	ellipse
	invRe2, inv2n, b float64
	r2max            float64 // in units of re^2
	amp              [3]float64
	// The profile tabulated at (r/re)^2 = 2^e (1 + j/lutSteps) for the
	// octaves e from lutOctave0, so that a sample costs a table lookup
	// instead of two exponentials and a logarithm.
	lut []float64
}

// The table starts at (r/re)^2 = 2^lutOctave0 (closer in the profile is
// computed exactly) and runs to the cut, lutSteps entries per octave of
// (r/re)^2: linear interpolation then errs by under 1e-3 of the profile
// inside r_eff and of its value at r_eff beyond (TestSersicTable), far below
// the tolerance the raster integrates to.
const (
	lutOctave0 = -14
	lutBits    = 5 // lutSteps = 2^lutBits
	lutSteps   = 1 << lutBits
)

// newSersic returns a Sersic profile with the given total flux per band
// (counts per second).
func newSersic(x0, y0, angle, q, re, n float64, flux [3]float64) *sersic {
	s := &sersic{ellipse: newEllipse(x0, y0, angle, q), invRe2: 1 / (re * re), inv2n: 1 / (2 * n), b: sersicB(n)}
	s.r2max = math.Pow(1+sersicCut/s.b, 2*n)
	unit := sersicUnitFlux(n, re)
	for c := range flux {
		s.amp[c] = flux[c] / unit
	}
	octaves := int(math.Ceil(math.Log2(s.r2max))) - lutOctave0
	s.lut = make([]float64, octaves*lutSteps+1)
	for k := range s.lut {
		s.lut[k] = s.exact(math.Ldexp(1+float64(k%lutSteps)/lutSteps, lutOctave0+k/lutSteps))
	}
	return s
}

// exact returns exp(-b (r/re)^(1/n)) for r2 = (r/re)^2.
func (s *sersic) exact(r2 float64) float64 {
	return math.Exp(-s.b * math.Exp(s.inv2n*math.Log(r2)))
}

// profile returns exp(-b (r/re)^(1/n)) for r2 = (r/re)^2, 0 beyond the cut.
func (s *sersic) profile(r2 float64) float64 {
	switch {
	case r2 >= s.r2max:
		return 0
	case r2 <= 0:
		return 1
	}
	// r2 = 2^e (1 + m / 2^52): the octave e and the top lutBits bits of the
	// mantissa m index the table; the rest of m interpolates.
	bits := math.Float64bits(r2)
	e := int(bits>>52&0x7ff) - 1023
	if e < lutOctave0 {
		return s.exact(r2)
	}
	const low = 52 - lutBits
	mant := bits & (1<<52 - 1)
	k := (e-lutOctave0)*lutSteps + int(mant>>low)
	f := float64(mant&(1<<low-1)) / (1 << low)
	return s.lut[k] + f*(s.lut[k+1]-s.lut[k])
}

func (s *sersic) add(x, y float64, v *[3]float64) {
	p := s.profile(s.r2(x, y) * s.invRe2)
	if p == 0 {
		return
	}
	v[0] += s.amp[0] * p
	v[1] += s.amp[1] * p
	v[2] += s.amp[2] * p
}

// trim lowers the cut to where the profile's brightest band falls below
// its floor: amp exp(-b (r/re)^(1/n)) < floor, that is
// (r/re)^2 > (ln(amp/floor) / b)^(2n).
func (s *sersic) trim(floor [3]float64) {
	ratio := 0.0
	for c := range s.amp {
		ratio = max(ratio, s.amp[c]/floor[c])
	}
	if ratio <= 1 {
		s.r2max = 0
		return
	}
	s.r2max = min(s.r2max, math.Pow(math.Log(ratio)/s.b, 2/s.inv2n))
}

// gaussian is a circular Gaussian blob (a star-forming clump or knot).
type gaussian struct {
	x0, y0, inv2s2, r2max float64
	amp                   [3]float64
}

func newGaussian(x0, y0, sigma float64, flux [3]float64) *gaussian {
	g := &gaussian{x0: x0, y0: y0, inv2s2: 1 / (2 * sigma * sigma), r2max: 36 * sigma * sigma}
	for c := range flux {
		g.amp[c] = flux[c] / (2 * math.Pi * sigma * sigma)
	}
	return g
}

func (g *gaussian) add(x, y float64, v *[3]float64) {
	dx, dy := x-g.x0, y-g.y0
	r2 := dx*dx + dy*dy
	if r2 >= g.r2max {
		return
	}
	p := math.Exp(-r2 * g.inv2s2)
	v[0] += g.amp[0] * p
	v[1] += g.amp[1] * p
	v[2] += g.amp[2] * p
}

// ring is an elliptical ring with a Gaussian radial profile of the given
// radius and width: a collisional or resonance ring, a hard negative that
// mimics an Einstein ring. Its brightness varies around it as
// ((1 + cos(t - t0)) / 2)^power (1 + lopsided cos(t - t0)), t the angle in
// the circularised frame: power 0 and lopsided 0 make a uniform ring, a
// large power an arc centred on t0 (a tidal tail, a partial ring).
type ring struct {
	ellipse
	radius, inv2w2, rmax float64
	power, lopsided, t0  float64
	amp                  [3]float64 // divided by the mean modulation, so flux is kept
}

// ringSteps samples the azimuthal modulation to normalise it.
const ringSteps = 256

func newRing(x0, y0, angle, q, radius, width float64, flux [3]float64) *ring {
	return newArc(x0, y0, angle, q, radius, width, 0, 0, 0, flux)
}

// newArc returns a ring whose brightness is modulated around it (see ring).
func newArc(x0, y0, angle, q, radius, width, power, lopsided, t0 float64, flux [3]float64) *ring {
	rg := &ring{ellipse: newEllipse(x0, y0, angle, q), radius: radius, inv2w2: 1 / (2 * width * width), rmax: radius + 6*width,
		power: power, lopsided: lopsided, t0: t0}
	// Integral of 2 pi r exp(-(r-R)^2 / 2w^2) over r > 0.
	unit := 2 * math.Pi * width * (width*math.Exp(-radius*radius*rg.inv2w2) +
		radius*math.Sqrt(math.Pi/2)*(1+math.Erf(radius/(width*math.Sqrt2))))
	mean := 0.0
	for k := range ringSteps {
		mean += rg.modulation(2*math.Pi*(float64(k)+0.5)/ringSteps+t0) / ringSteps
	}
	for c := range flux {
		rg.amp[c] = flux[c] / (unit * mean)
	}
	return rg
}

// modulation is the azimuthal brightness factor at angle t.
func (rg *ring) modulation(t float64) float64 {
	c := math.Cos(t - rg.t0)
	m := 1 + rg.lopsided*c
	if rg.power > 0 {
		m *= math.Pow(0.5*(1+c), rg.power)
	}
	return m
}

func (rg *ring) add(x, y float64, v *[3]float64) {
	u, w := rg.frame(x, y)
	r := math.Sqrt(rg.q*u*u + w*w/rg.q)
	if r >= rg.rmax {
		return
	}
	d := r - rg.radius
	p := math.Exp(-d * d * rg.inv2w2)
	if rg.power > 0 || rg.lopsided != 0 {
		p *= rg.modulation(math.Atan2(w/math.Sqrt(rg.q), u*math.Sqrt(rg.q)))
	}
	v[0] += rg.amp[0] * p
	v[1] += rg.amp[1] * p
	v[2] += rg.amp[2] * p
}

// armSharpness is the exponent that narrows the spiral arms, and armMean the
// mean of ((1 + cos x) / 2)^armSharpness over x: Gamma(4.5) / (sqrt(pi) Gamma(5)).
const (
	armSharpness = 4
	armMean      = 0.2734375
)

// spiral is a Sersic disk whose light is partly gathered into logarithmic
// spiral arms. The modulation averages to 1 around every circle, so the total
// flux is the disk's.
type spiral struct {
	*sersic
	arms, cotPitch, phase, contrast float64
	// lopsided is an m = 1 modulation 1 + lopsided cos(theta - lopAngle):
	// real spirals are rarely symmetric. It averages to 1 on every circle.
	lopsided, lopAngle float64
}

func (sp *spiral) add(x, y float64, v *[3]float64) {
	u, w := sp.frame(x, y)
	r2 := (sp.q*u*u + w*w/sp.q) * sp.invRe2
	p := sp.profile(r2)
	if p == 0 {
		return
	}
	if r2 > 0 {
		// Angle in the deprojected disk; the arm is where theta = cot(pitch) ln r.
		theta := math.Atan2(w, u*sp.q)
		phase := sp.arms*(theta-sp.cotPitch*0.5*math.Log(r2)) + sp.phase
		c := 0.5 * (1 + math.Cos(phase))
		c *= c
		p *= (1 - sp.contrast + sp.contrast*c*c/armMean) * (1 + sp.lopsided*math.Cos(theta-sp.lopAngle))
	}
	v[0] += sp.amp[0] * p
	v[1] += sp.amp[1] * p
	v[2] += sp.amp[2] * p
}
