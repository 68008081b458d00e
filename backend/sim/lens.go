package sim

import "math"

// Lens is a singular isothermal ellipsoid (strictly a non-singular one with
// a tiny core, Keeton & Kochanek 1998) plus external shear. Lengths are in
// arcsec in the image frame (x along columns, y along rows); Angle is the
// mass major axis in radians from +x towards +y.
type Lens struct {
	ThetaE float64 // Einstein radius (lenstronomy's product-average convention)
	Q      float64 // axis ratio, minor over major, (0, 1]
	Angle  float64
	Core   float64 // core radius
	X, Y   float64 // centre
	G1, G2 float64 // external shear components
}

// Deflect returns the deflection angle (arcsec) at image position (x, y).
// Loops over many positions should use the prepared form inside the
// package; this one recomputes the constants on every call.
func (l Lens) Deflect(x, y float64) (ax, ay float64) {
	m := l.prepare()
	return m.deflect(x, y)
}

// Source maps an image-plane position to the source plane: beta = theta - alpha.
func (l Lens) Source(x, y float64) (bx, by float64) {
	m := l.prepare()
	return m.source(x, y)
}

// lensModel is a Lens with its major-axis-frame constants precomputed.
type lensModel struct {
	Lens
	cos, sin float64
	b, s, q  float64 // normalisation, core and axis ratio in the major-axis frame
	e        float64 // sqrt(1 - q^2)
}

// qSpherical is where the SIE formulas switch to their spherical limit: their
// 1/sqrt(1-q^2) factor loses precision as q -> 1.
const qSpherical = 1 - 1e-7

// prepare derives the constants as lenstronomy's NIE does: b = theta_E
// sqrt(q), so that theta_E is the Einstein radius averaged over the axes,
// and s = core / sqrt(q).
func (l Lens) prepare() lensModel {
	q := min(l.Q, 1)
	return lensModel{
		Lens: l,
		cos:  math.Cos(l.Angle), sin: math.Sin(l.Angle),
		b: l.ThetaE * math.Sqrt(q), s: l.Core / math.Sqrt(q), q: q,
		e: math.Sqrt(max(1-q*q, 0)),
	}
}

func (m *lensModel) deflect(x, y float64) (ax, ay float64) {
	dx, dy := x-m.X, y-m.Y
	var au, av float64
	// At the very centre of a coreless lens the deflection is undefined; by
	// symmetry take it to be zero.
	if m.b > 0 && (dx != 0 || dy != 0 || m.s > 0) {
		// Into the major-axis frame.
		u := dx*m.cos + dy*m.sin
		v := -dx*m.sin + dy*m.cos
		psi := math.Sqrt(m.q*m.q*(m.s*m.s+u*u) + v*v)
		if m.q >= qSpherical {
			// Cored isothermal sphere: the q -> 1 limit of the formulas below.
			au, av = m.b*u/(psi+m.s), m.b*v/(psi+m.s)
		} else {
			au = m.b / m.e * math.Atan(m.e*u/(psi+m.s))
			av = m.b / m.e * math.Atanh(m.e*v/(psi+m.q*m.q*m.s))
		}
		// Back to the image frame.
		au, av = au*m.cos-av*m.sin, au*m.sin+av*m.cos
	}
	// External shear deflects by (g1 x + g2 y, g2 x - g1 y).
	return au + m.G1*dx + m.G2*dy, av + m.G2*dx - m.G1*dy
}

func (m *lensModel) source(x, y float64) (bx, by float64) {
	ax, ay := m.deflect(x, y)
	return x - ax, y - ay
}
