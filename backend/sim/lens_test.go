package sim

import (
	"math"
	"testing"
)

func TestSIEApproachesSIS(t *testing.T) {
	points := [][2]float64{{1, 0}, {0, 1}, {0.3, -0.4}, {-2, 1.5}, {0.05, 0.02}}
	for _, q := range []float64{1, 1 - 1e-5, 0.99999999} {
		l := Lens{ThetaE: 1.3, Q: q, Angle: 0.7, Core: 1e-9}
		for _, p := range points {
			ax, ay := l.Deflect(p[0], p[1])
			r := math.Hypot(p[0], p[1])
			wx, wy := 1.3*p[0]/r, 1.3*p[1]/r // SIS: theta_E along the radius
			if !(math.Abs(ax-wx) <= 1e-4 && math.Abs(ay-wy) <= 1e-4) {
				t.Errorf("q=%v at %v: deflection (%.6f, %.6f), SIS (%.6f, %.6f)", q, p, ax, ay, wx, wy)
			}
		}
	}
}

// The convergence is half the divergence of the deflection; for the SIE it
// is b / (2 sqrt(q^2 (s^2 + u^2) + v^2)) in the major-axis frame (u, v).
func TestSIEConvergence(t *testing.T) {
	tests := []struct{ thetaE, q, angle float64 }{
		{1, 0.7, 0}, {1.5, 0.5, 0.9}, {0.8, 0.9, -2.0},
	}
	const h = 1e-5
	for _, tc := range tests {
		l := Lens{ThetaE: tc.thetaE, Q: tc.q, Angle: tc.angle, Core: 1e-4, X: 0.1, Y: -0.2}
		m := l.prepare()
		for _, p := range [][2]float64{{1, 0.3}, {-0.4, 0.9}, {0.7, -1.2}} {
			axp, _ := m.deflect(p[0]+h, p[1])
			axm, _ := m.deflect(p[0]-h, p[1])
			_, ayp := m.deflect(p[0], p[1]+h)
			_, aym := m.deflect(p[0], p[1]-h)
			kappa := ((axp-axm)/(2*h) + (ayp-aym)/(2*h)) / 2
			dx, dy := p[0]-l.X, p[1]-l.Y
			u := dx*math.Cos(tc.angle) + dy*math.Sin(tc.angle)
			v := -dx*math.Sin(tc.angle) + dy*math.Cos(tc.angle)
			want := m.b / (2 * math.Sqrt(tc.q*tc.q*(m.s*m.s+u*u)+v*v))
			if !(math.Abs(kappa-want) <= 1e-5*want+1e-7) {
				t.Errorf("%+v at %v: convergence %.7f, want %.7f", tc, p, kappa, want)
			}
		}
	}
}

// An SIE's deflection is longest along its minor axis: along the major axis
// the mass is spread further out.
func TestSIEOrientation(t *testing.T) {
	l := Lens{ThetaE: 1, Q: 0.6, Angle: math.Pi / 2} // major axis along y
	axMinor, _ := l.Deflect(1, 0)
	_, ayMajor := l.Deflect(0, 1)
	if !(axMinor > ayMajor && ayMajor > 0) {
		t.Errorf("deflection along the minor axis %.4f, major %.4f: want minor > major > 0", axMinor, ayMajor)
	}
}

func TestShearDeflection(t *testing.T) {
	tests := []struct{ g1, g2, x, y float64 }{
		{0.05, 0, 1, 0}, {0, 0.05, 1, 0}, {0.03, -0.04, -0.5, 2}, {-0.1, 0.02, 0.3, 0.3},
	}
	for _, tc := range tests {
		// Shear alone.
		ax, ay := Lens{G1: tc.g1, G2: tc.g2}.Deflect(tc.x, tc.y)
		wx, wy := tc.g1*tc.x+tc.g2*tc.y, tc.g2*tc.x-tc.g1*tc.y
		if !(math.Abs(ax-wx) <= 1e-15 && math.Abs(ay-wy) <= 1e-15) {
			t.Errorf("%+v: shear deflection (%g, %g), want (%g, %g)", tc, ax, ay, wx, wy)
		}
		// Shear adds to an SIE's deflection, about the lens centre.
		sie := Lens{ThetaE: 1.2, Q: 0.7, Angle: 0.4, Core: 0.005, X: 0.2, Y: 0.1}
		both := sie
		both.G1, both.G2 = tc.g1, tc.g2
		sx, sy := sie.Deflect(tc.x, tc.y)
		bx, by := both.Deflect(tc.x, tc.y)
		dx, dy := tc.x-sie.X, tc.y-sie.Y
		if !(math.Abs(bx-sx-(tc.g1*dx+tc.g2*dy)) <= 1e-12 && math.Abs(by-sy-(tc.g2*dx-tc.g1*dy)) <= 1e-12) {
			t.Errorf("%+v: SIE+shear minus SIE = (%g, %g), want the shear term", tc, bx-sx, by-sy)
		}
		// The lens equation.
		if x, y := both.Source(tc.x, tc.y); !(math.Abs(x-(tc.x-bx)) <= 1e-15 && math.Abs(y-(tc.y-by)) <= 1e-15) {
			t.Errorf("Source(%g, %g) = (%g, %g), want position minus deflection", tc.x, tc.y, x, y)
		}
	}
}

// theta_E follows lenstronomy's NIE convention for q < 1: the product
// average of the semi-axes of the kappa = 1/2 contour, so that the major-axis
// normalisation is b = theta_E sqrt(q) (lenstronomy's param_conv:
// theta_E / sqrt((1 + q^2) / (2q)) * sqrt((1 + q^2) / 2)); the deflection is
// lenstronomy's closed form, written here from theta_E alone.
func TestSIEThetaEConvention(t *testing.T) {
	const h = 1e-6
	for _, tc := range []struct{ thetaE, q float64 }{{1.2, 0.5}, {0.8, 0.75}, {2.5, 0.9}} {
		l := Lens{ThetaE: tc.thetaE, Q: tc.q, Core: 1e-6}
		kappa := func(x, y float64) float64 {
			axp, _ := l.Deflect(x+h, y)
			axm, _ := l.Deflect(x-h, y)
			_, ayp := l.Deflect(x, y+h)
			_, aym := l.Deflect(x, y-h)
			return ((axp-axm)/(2*h) + (ayp-aym)/(2*h)) / 2
		}
		// kappa falls outwards: bisect for kappa = 1/2 along each axis.
		halfKappa := func(dx, dy float64) float64 {
			lo, hi := 0.01, 10.0
			for hi-lo > 1e-7 {
				if mid := (lo + hi) / 2; kappa(mid*dx, mid*dy) > 0.5 {
					lo = mid
				} else {
					hi = mid
				}
			}
			return (lo + hi) / 2
		}
		major, minor := halfKappa(1, 0), halfKappa(0, 1) // Angle 0: the major axis is x
		if got := math.Sqrt(major * minor); !(math.Abs(got-tc.thetaE) < 1e-4*tc.thetaE) {
			t.Errorf("%+v: kappa = 1/2 contour has semi-axes %.5f, %.5f, product average %.5f", tc, major, minor, got)
		}
		e := math.Sqrt(1 - tc.q*tc.q)
		s := l.Core / math.Sqrt(tc.q)
		b := tc.thetaE / math.Sqrt((1+tc.q*tc.q)/(2*tc.q)) * math.Sqrt((1+tc.q*tc.q)/2)
		for _, p := range [][2]float64{{0.7, 0.2}, {-1.5, 0.8}, {0.1, -2.2}} {
			psi := math.Sqrt(tc.q*tc.q*(s*s+p[0]*p[0]) + p[1]*p[1])
			wx := b / e * math.Atan(e*p[0]/(psi+s))
			wy := b / e * math.Atanh(e*p[1]/(psi+tc.q*tc.q*s))
			if ax, ay := l.Deflect(p[0], p[1]); !(math.Abs(ax-wx) < 1e-12 && math.Abs(ay-wy) < 1e-12) {
				t.Errorf("%+v at %v: deflection (%.9f, %.9f), lenstronomy's NIE (%.9f, %.9f)", tc, p, ax, ay, wx, wy)
			}
		}
	}
}
