package optim

import (
	"math"
	"testing"
)

// TestCosine compares with DINO's utils.cosine_scheduler run under numpy
// 1.24 (values printed with repr).
func TestCosine(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		base, final           float64
		epochs, iters, warmup int
		start                 float64
		want                  []float64
	}{
		{"lr with warm-up", 0.0005 * 128 / 256, 1e-6, 4, 3, 1, 0, []float64{0.0, 0.000125, 0.00025, 0.00025,
			0.00024249173128784558, 0.00022087253316831277, 0.00018774999999999998, 0.00014711919811953285,
			0.00010388080188046717, 6.325000000000002e-05, 3.0127466831687237e-05, 8.508268712154414e-06}},
		{"rising wd", 0.04, 0.4, 3, 2, 0, 0, []float64{0.03999999999999998, 0.06411542731880104, 0.13, 0.22,
			0.30999999999999994, 0.37588457268119896}},
		{"teacher momentum", 0.996, 1, 2, 3, 0, 0, []float64{0.996, 0.9962679491924311, 0.997, 0.998, 0.999,
			0.9997320508075689}},
		{"warm-up from a start value", 1e-4, 1e-8, 2, 2, 1, 1e-6, []float64{1e-06, 0.0001, 0.0001, 5.0005000000000007e-05}},
		{"one-iteration warm-up is the start value", 0.5, 0.1, 3, 1, 1, 0.2, []float64{0.2, 0.5, 0.30000000000000004}},
		{"warm-up cut to the schedule", 1, 0, 1, 2, 2, 0, []float64{0, 1.0 / 3}},
		{"empty", 1, 0, 0, 5, 0, 0, []float64{}},
	} {
		got := Cosine(tc.base, tc.final, tc.epochs, tc.iters, tc.warmup, tc.start)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d values, want %d", tc.name, len(got), len(tc.want))
			continue
		}
		// Go's math.Cos and the C library's differ in the last bits.
		tol := 1e-15 * max(math.Abs(tc.base), math.Abs(tc.final))
		for i, w := range tc.want {
			if math.Abs(got[i]-w) > tol {
				t.Errorf("%s: [%d] = %.17g, want %.17g", tc.name, i, got[i], w)
			}
		}
	}
}
