package ops

import (
	"math"
	"testing"
)

// TestFastMath compares erf32s and exp32s with the math package on dense
// grids, in absolute (erf) and relative (exp) error, and at the range ends.
func TestFastMath(t *testing.T) {
	var xs []float32
	for x := -6.0; x <= 6; x += 1e-4 {
		xs = append(xs, float32(x))
	}
	got := make([]float32, len(xs))
	erf32s(got, xs)
	var worst float64
	for i, x := range xs {
		worst = max(worst, math.Abs(float64(got[i])-math.Erf(float64(x))))
	}
	if worst > 5e-7 {
		t.Errorf("erf32s: max abs error %.3g > 5e-7", worst)
	}

	xs = xs[:0]
	for x := -87.0; x <= 88.5; x += 1e-3 {
		xs = append(xs, float32(x))
	}
	got = make([]float32, len(xs))
	exp32s(got, xs)
	worst = 0
	for i, x := range xs {
		want := math.Exp(float64(x))
		worst = max(worst, math.Abs(float64(got[i])-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("exp32s: max relative error %.3g > 3e-7", worst)
	}

	ends := []float32{-100, float32(math.Inf(-1)), 0, 88.7, 100}
	got = make([]float32, len(ends))
	exp32s(got, ends)
	if got[0] != 0 || got[1] != 0 || got[2] != 1 || math.Abs(float64(got[3])/math.Exp(float64(ends[3]))-1) > 3e-7 || !math.IsInf(float64(got[4]), 1) {
		t.Errorf("exp32s(%v) = %v", ends, got)
	}
}
