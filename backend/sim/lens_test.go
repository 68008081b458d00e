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
