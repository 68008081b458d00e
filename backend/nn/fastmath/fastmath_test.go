package fastmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// eachKernel runs f with the vector kernels on, where this CPU has them,
// and off.
func eachKernel(t *testing.T, f func(t *testing.T)) {
	has := vector8
	defer func() { vector8 = has }()
	for _, on := range []bool{false, true} {
		if on && !has {
			continue
		}
		vector8 = on
		t.Run(map[bool]string{false: "scalar", true: "vector"}[on], f)
	}
}

// TestFastMath compares Erf and Exp with the math package on dense
// grids, in absolute (erf) and relative (exp) error, and at the range ends,
// with and without the vector kernels.
func TestFastMath(t *testing.T) { eachKernel(t, testFastMath) }

// TestVectorErf: the vector kernel gives the scalar loop's values (up to
// FMA's rounding) at every length, so the tail the loop finishes joins up,
// and keeps NaN, ±Inf and the clamps as the loop does.
func TestVectorErf(t *testing.T) {
	if !vector8 {
		t.Skip("no AVX2 and FMA here")
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 4, -4, 4.0001, -4.0001, 0, -0, 1e-30, -1e-30, 3.99, 1e30}
	for n := 0; n <= 40; n++ {
		xs := make([]float32, n)
		for i := range xs {
			xs[i] = special[i%len(special)] * float32(1+i/len(special))
		}
		vec, sc := make([]float32, n), make([]float32, n)
		Erf(vec, xs)
		vector8 = false
		Erf(sc, xs)
		vector8 = true
		for i := range xs {
			if math.IsNaN(float64(sc[i])) != math.IsNaN(float64(vec[i])) || math.Abs(float64(vec[i]-sc[i])) > 2e-7 {
				t.Errorf("n=%d erf(%g): vector %g, scalar %g", n, xs[i], vec[i], sc[i])
			}
		}
	}
}

// TestVectorExp: likewise for exp, within 2 ulp of the scalar loop, with
// the range ends' 0 and +Inf.
func TestVectorExp(t *testing.T) {
	if !vector8 {
		t.Skip("no AVX2 and FMA here")
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -87.33, -87.34, -87.32, 88.72, 88.73, 88.71, 0, -0, 1e-30, 0.34657, -0.34658, -100, 100}
	var xs []float32
	for x := -90.0; x <= 90; x += 0.01 {
		xs = append(xs, float32(x))
	}
	for n := 0; n <= 40; n++ {
		in := append(append([]float32(nil), special[:min(n, len(special))]...), xs[:n]...)
		vec, sc := make([]float32, len(in)), make([]float32, len(in))
		Exp(vec, in)
		vector8 = false
		Exp(sc, in)
		vector8 = true
		for i := range in {
			v, s := float64(vec[i]), float64(sc[i])
			if math.IsNaN(v) != math.IsNaN(s) || (!math.IsNaN(s) && v != s && math.Abs(v-s) > 2.5e-7*s) {
				t.Errorf("exp(%g): vector %g, scalar %g", in[i], v, s)
			}
		}
	}
	long := make([]float32, len(xs))
	Exp(long, xs)
	vector8 = false
	want := make([]float32, len(xs))
	Exp(want, xs)
	vector8 = true
	for i := range xs {
		if v, s := float64(long[i]), float64(want[i]); v != s && math.Abs(v-s) > 2.5e-7*s {
			t.Errorf("exp(%g): vector %g, scalar %g", xs[i], v, s)
		}
	}
}

// TestGELU: the vector kernel and the scalar loop agree at every length
// and match x·Φ(x) from math.Erf.
func TestGELU(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		for n := 0; n <= 40; n++ {
			x := randoms(n + 1000)[:n]
			if n > 3 {
				x[1], x[2], x[3] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
			}
			y, cdf := make([]float32, n), make([]float32, n)
			GELU(y, cdf, x)
			for i, v := range x {
				c := 0.5 + 0.5*math.Erf(float64(v)/math.Sqrt2)
				if math.IsNaN(c) != math.IsNaN(float64(cdf[i])) || math.Abs(float64(cdf[i])-c) > 4e-7 || (!math.IsInf(float64(v), 0) && math.Abs(float64(y[i])-float64(v)*c) > 4e-7*max(1, math.Abs(float64(v)))) {
					t.Errorf("n=%d gelu(%g): y %g, Φ %g; want %g, %g", n, v, y[i], cdf[i], float64(v)*c, c)
				}
			}
		}
	})
}

// TestGELUGrad: likewise for the gradient, against Φ(x) + x·φ(x) from
// the math package.
func TestGELUGrad(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		for n := 0; n <= 40; n++ {
			x, dy := randoms(n + 2000)[:n], randoms(n + 3000)[:n]
			y, cdf, dx := make([]float32, n), make([]float32, n), make([]float32, n)
			GELU(y, cdf, x)
			GELUGrad(dx, dy, x, cdf)
			for i, v := range x {
				u := float64(v)
				want := float64(dy[i]) * (0.5 + 0.5*math.Erf(u/math.Sqrt2) + u*math.Exp(-u*u/2)/math.Sqrt(2*math.Pi))
				if math.Abs(float64(dx[i])-want) > 1e-6 {
					t.Errorf("n=%d gelu'(%g)·%g: %g, want %g", n, v, dy[i], dx[i], want)
				}
			}
		}
	})
}

// TestPositionFree: each value's result does not depend on where it sits
// in the slice (on which values the vector kernel or the tail takes), bit
// for bit: what micro-batching relies on.
func TestPositionFree(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		x, dy := randoms(61), randoms(62)[:61]
		whole := func(f func(out, x, dy []float32)) []float32 {
			out := make([]float32, len(x))
			f(out, x, dy)
			return out
		}
		for name, f := range map[string]func(out, x, dy []float32){
			"erf": func(out, x, _ []float32) { Erf(out, x) },
			"exp": func(out, x, _ []float32) { Exp(out, x) },
			"gelu": func(out, x, _ []float32) {
				GELU(out, make([]float32, len(x)), x)
			},
			"gelu grad": func(out, x, dy []float32) {
				y, cdf := make([]float32, len(x)), make([]float32, len(x))
				GELU(y, cdf, x)
				GELUGrad(out, dy, x, cdf)
			},
		} {
			want := whole(f)
			for _, cut := range []int{1, 3, 7, 8, 13} {
				got := make([]float32, len(x))
				for lo := 0; lo < len(x); lo += cut {
					hi := min(lo+cut, len(x))
					f(got[lo:hi], x[lo:hi], dy[lo:hi])
				}
				for i := range x {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Errorf("%s in pieces of %d: value %d is %g, whole %g", name, cut, i, got[i], want[i])
						break
					}
				}
			}
		}
	})
}

func testFastMath(t *testing.T) {
	var xs []float32
	for x := -6.0; x <= 6; x += 1e-4 {
		xs = append(xs, float32(x))
	}
	got := make([]float32, len(xs))
	Erf(got, xs)
	var worst float64
	for i, x := range xs {
		worst = max(worst, math.Abs(float64(got[i])-math.Erf(float64(x))))
	}
	if worst > 5e-7 {
		t.Errorf("Erf: max abs error %.3g > 5e-7", worst)
	}

	xs = xs[:0]
	for x := -87.0; x <= 88.5; x += 1e-3 {
		xs = append(xs, float32(x))
	}
	got = make([]float32, len(xs))
	Exp(got, xs)
	worst = 0
	for i, x := range xs {
		want := math.Exp(float64(x))
		worst = max(worst, math.Abs(float64(got[i])-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("Exp: max relative error %.3g > 3e-7", worst)
	}

	ends := []float32{-100, float32(math.Inf(-1)), 0, 88.7, 100}
	got = make([]float32, len(ends))
	Exp(got, ends)
	if got[0] != 0 || got[1] != 0 || got[2] != 1 || math.Abs(float64(got[3])/math.Exp(float64(ends[3]))-1) > 3e-7 || !math.IsInf(float64(got[4]), 1) {
		t.Errorf("Exp(%v) = %v", ends, got)
	}
}

// BenchmarkErf times Erf over a ViT-S/8 block's MLP activations (64 x 17 x 1536), with
// the scalar loop and the vector kernel, for their ratio in one run.
func BenchmarkErf(b *testing.B) {
	x := randoms(64 * 17 * 1536)
	y := make([]float32, len(x))
	has := vector8
	defer func() { vector8 = has }()
	for _, on := range []bool{false, true} {
		if on && !has {
			continue
		}
		b.Run(map[bool]string{false: "scalar", true: "vector"}[on], func(b *testing.B) {
			vector8 = on
			for b.Loop() {
				Erf(y, x)
			}
			b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}

func randoms(n int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(4*rng.Float64() - 2)
	}
	return s
}
