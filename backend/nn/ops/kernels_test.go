package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// gradTol is the largest relative error accepted between an analytic
// gradient and central finite differences, both in float64.
const gradTol = 1e-4

// fdFloor is the gradient size below which errors count as absolute:
// central differences with step 1e-6 carry rounding noise near 1e-10 (the
// float64 epsilon times the loss over the step), so an exactly zero gradient,
// as attention's key bias has, would otherwise fail on noise alone.
const fdFloor = 1e-5

// randSlice returns n values uniform in [-1, 1).
func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = 2*rng.Float64() - 1
	}
	return s
}

// dot is Σ a·b, the scalar loss L = Σ out ⊙ w whose gradient w.r.t. out is w.
func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// relErr is the largest elementwise |a-b| / max(|a|, |b|, floor): relative
// where the values are large, absolute below floor.
func relErr(a, b []float64, floor float64) float64 {
	var worst float64
	for i := range a {
		worst = max(worst, math.Abs(a[i]-b[i])/max(math.Abs(a[i]), math.Abs(b[i]), floor))
	}
	return worst
}

// numGrad returns the central-difference gradient of loss w.r.t. x.
func numGrad(x []float64, loss func() float64) []float64 {
	const h = 1e-6
	g := make([]float64, len(x))
	for i, v := range x {
		x[i] = v + h
		up := loss()
		x[i] = v - h
		down := loss()
		x[i] = v
		g[i] = (up - down) / (2 * h)
	}
	return g
}

// kernelCase sets up one kernel: the inputs to differentiate, the scalar
// loss over them, and a function returning the analytic gradients (in the
// order of inputs) at the current values.
type kernelCase struct {
	name string
	// setup returns inputs, loss and grads.
	setup func(rng *rand.Rand) (inputs [][]float64, loss func() float64, grads func() [][]float64)
}

func kernelCases() []kernelCase {
	return []kernelCase{
		{"linear", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, in, out = 5, 4, 3
			x, w, b := randSlice(rng, rows*in), randSlice(rng, out*in), randSlice(rng, out)
			y, dy := make([]float64, rows*out), randSlice(rng, rows*out)
			loss := func() float64 { linearForward(y, x, w, b, rows, in, out); return dot(y, dy) }
			grads := func() [][]float64 {
				dx, dw, db := make([]float64, len(x)), make([]float64, len(w)), make([]float64, len(b))
				linearBackwardX(dx, dy, w, rows, in, out)
				linearBackwardW(dw, dy, x, rows, in, out)
				linearBackwardB(db, dy, rows, out)
				return [][]float64{dx, dw, db}
			}
			return [][]float64{x, w, b}, loss, grads
		}},
		{"linear without bias", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, in, out = 3, 5, 2
			x, w := randSlice(rng, rows*in), randSlice(rng, out*in)
			y, dy := make([]float64, rows*out), randSlice(rng, rows*out)
			loss := func() float64 { linearForward(y, x, w, nil, rows, in, out); return dot(y, dy) }
			grads := func() [][]float64 {
				dx, dw := make([]float64, len(x)), make([]float64, len(w))
				linearBackwardX(dx, dy, w, rows, in, out)
				linearBackwardW(dw, dy, x, rows, in, out)
				return [][]float64{dx, dw}
			}
			return [][]float64{x, w}, loss, grads
		}},
		{"layernorm", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, d = 4, 6
			x, g, b := randSlice(rng, rows*d), randSlice(rng, d), randSlice(rng, d)
			y, dy := make([]float64, rows*d), randSlice(rng, rows*d)
			mean, rstd := make([]float64, rows), make([]float64, rows)
			loss := func() float64 { layerNormForward(y, mean, rstd, x, g, b, rows, d, LayerNormEps); return dot(y, dy) }
			grads := func() [][]float64 {
				loss()
				dx, dg, db := make([]float64, len(x)), make([]float64, d), make([]float64, d)
				layerNormBackwardX(dx, dy, x, mean, rstd, g, rows, d)
				layerNormBackwardGamma(dg, dy, x, mean, rstd, rows, d)
				colSum(db, dy, rows, d)
				return [][]float64{dx, dg, db}
			}
			return [][]float64{x, g, b}, loss, grads
		}},
		{"gelu", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			x := randSlice(rng, 24)
			for i := range x {
				x[i] *= 4 // cover the tails as well as the bend
			}
			y, cdf, dy := make([]float64, len(x)), make([]float64, len(x)), randSlice(rng, len(x))
			loss := func() float64 { geluForward(y, cdf, x); return dot(y, dy) }
			grads := func() [][]float64 {
				loss()
				dx := make([]float64, len(x))
				geluBackward(dx, dy, x, cdf)
				return [][]float64{dx}
			}
			return [][]float64{x}, loss, grads
		}},
		attentionCase("attention", attnDrop{}),
		attentionCase("attention with dropout", attnDrop{p: 0.3, seed: 7}),
		{"cross-entropy", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const n, c = 4, 3
			logits, labels := randSlice(rng, n*c), []int{0, 2, 1, 2}
			probs := make([]float64, n*c)
			const g = 1.7 // the gradient arriving at the loss
			loss := func() float64 { return g * crossEntropyForward(probs, logits, labels, n, c) }
			grads := func() [][]float64 {
				loss()
				d := make([]float64, len(logits))
				crossEntropyBackward(d, probs, labels, n, c, g)
				return [][]float64{d}
			}
			return [][]float64{logits}, loss, grads
		}},
		{"tokens", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const n, p, d = 3, 4, 2
			patches, cls, pos := randSlice(rng, n*p*d), randSlice(rng, d), randSlice(rng, (p+1)*d)
			x, dx := make([]float64, n*(p+1)*d), randSlice(rng, n*(p+1)*d)
			loss := func() float64 { tokensForward(x, patches, cls, pos, n, p, d); return dot(x, dx) }
			grads := func() [][]float64 {
				dp, dc, dpos := make([]float64, len(patches)), make([]float64, d), make([]float64, len(pos))
				tokensBackwardPatches(dp, dx, n, p, d)
				tokensBackwardCLS(dc, dx, n, p, d)
				tokensBackwardPos(dpos, dx, n, p, d)
				return [][]float64{dp, dc, dpos}
			}
			return [][]float64{patches, cls, pos}, loss, grads
		}},
		{"residual with drop path", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const n, t, d = 3, 2, 4
			x, f := randSlice(rng, n*t*d), randSlice(rng, n*t*d)
			keep := []float64{1.25, 0, 1.25}
			y, dy := make([]float64, len(x)), randSlice(rng, len(x))
			loss := func() float64 { residualForward(y, x, f, keep, t*d); return dot(y, dy) }
			grads := func() [][]float64 {
				df := make([]float64, len(f))
				dropPathBackward(df, dy, keep, t*d)
				return [][]float64{dy, df} // the skip path passes dy through
			}
			return [][]float64{x, f}, loss, grads
		}},
		{"select cls", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const n, t, d = 3, 4, 2
			x, y, dy := randSlice(rng, n*t*d), make([]float64, n*d), randSlice(rng, n*d)
			loss := func() float64 { selectCLSForward(y, x, n, t, d); return dot(y, dy) }
			grads := func() [][]float64 {
				dx := randSlice(rng, len(x)) // garbage the backward must overwrite
				selectCLSBackward(dx, dy, n, t, d)
				return [][]float64{dx}
			}
			return [][]float64{x}, loss, grads
		}},
	}
}

func attentionCase(name string, drop attnDrop) kernelCase {
	return kernelCase{name, func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
		s := attnShape{n: 2, t: 3, h: 2, dh: 2}
		qkv := randSlice(rng, s.n*s.t*3*s.d())
		for i := range qkv {
			qkv[i] *= 2 // peaked enough that the softmax is not near uniform
		}
		size := s.tasks() * s.t * s.t
		probs, mask, dropped := make([]float64, size), make([]float64, size), make([]float64, size)
		out, dout := make([]float64, s.n*s.t*s.d()), randSlice(rng, s.n*s.t*s.d())
		loss := func() float64 { attentionForward(out, probs, mask, dropped, qkv, s, drop); return dot(out, dout) }
		grads := func() [][]float64 {
			loss()
			dqkv := make([]float64, len(qkv))
			attentionBackward(dqkv, dout, qkv, probs, mask, dropped, make([]float64, size), s, drop)
			return [][]float64{dqkv}
		}
		return [][]float64{qkv}, loss, grads
	}}
}

func TestKernelGradients(t *testing.T) { checkKernelGradients(t, kernelCases(), 2) }

// checkKernelGradients compares each case's analytic gradients with
// central differences, its inputs drawn from PCG stream (1, stream).
func checkKernelGradients(t *testing.T, cases []kernelCase, stream uint64) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, stream))
			inputs, loss, grads := c.setup(rng)
			analytic := grads()
			if len(analytic) != len(inputs) {
				t.Fatalf("%d gradients for %d inputs", len(analytic), len(inputs))
			}
			for i, x := range inputs {
				numeric := numGrad(x, loss)
				if e := relErr(analytic[i], numeric, fdFloor); e > gradTol || math.IsNaN(e) {
					t.Errorf("input %d: relative error %.3g > %g\nanalytic %.6g\nnumeric  %.6g", i, e, gradTol, analytic[i], numeric)
				}
			}
		})
	}
}

// TestResidualForward checks the drop-path forward against its definition,
// y = x + f·keep[sample], at a size that splits samples across cores and
// with a mask that varies from sample to sample.
func TestResidualForward(t *testing.T) {
	for _, c := range []struct{ n, per int }{{3, 8}, {64, 1280}, {5, 70000}} {
		rng := rand.New(rand.NewPCG(4, uint64(c.n)))
		x, f := randSlice(rng, c.n*c.per), randSlice(rng, c.n*c.per)
		keep := make([]float64, c.n)
		for i := range keep {
			keep[i] = float64(i % 3) // 0, 1, 2: dropped, kept, scaled
		}
		y := make([]float64, len(x))
		residualForward(y, x, f, keep, c.per)
		df := make([]float64, len(x))
		dropPathBackward(df, f, keep, c.per)
		for i := range y {
			k := keep[i/c.per]
			if y[i] != x[i]+f[i]*k || df[i] != f[i]*k {
				t.Fatalf("n=%d per=%d: element %d (sample %d): y %g, df %g; want %g, %g", c.n, c.per, i, i/c.per, y[i], df[i], x[i]+f[i]*k, f[i]*k)
			}
		}
	}
}

// TestAttentionDropoutForward checks the dropout forward against its
// definition: out = (P ⊙ mask)·v per (sequence, head), P the softmax rows
// (each summing to 1), mask the drawn factors, at a size split across cores.
func TestAttentionDropoutForward(t *testing.T) {
	s := attnShape{n: 16, t: 5, h: 4, dh: 16}
	rng := rand.New(rand.NewPCG(6, 6))
	qkv := randSlice(rng, s.n*s.t*3*s.d())
	size := s.tasks() * s.t * s.t
	probs, mask, dropped := make([]float64, size), make([]float64, size), make([]float64, size)
	out := make([]float64, s.n*s.t*s.d())
	attentionForward(out, probs, mask, dropped, qkv, s, attnDrop{p: 0.25, seed: 9})
	zeros := 0
	for task := 0; task < s.tasks(); task++ {
		n, h := task/s.h, task%s.h
		for i := 0; i < s.t; i++ {
			var sum float64
			for j := 0; j < s.t; j++ {
				sum += probs[task*s.t*s.t+i*s.t+j]
			}
			if math.Abs(sum-1) > 1e-12 {
				t.Fatalf("task %d row %d: probabilities sum to %g", task, i, sum)
			}
			for d := 0; d < s.dh; d++ {
				var want float64
				for j := 0; j < s.t; j++ {
					k := task*s.t*s.t + i*s.t + j
					if mask[k] == 0 {
						zeros++
					}
					want += probs[k] * mask[k] * qkv[(n*s.t+j)*3*s.d()+2*s.d()+h*s.dh+d]
				}
				if got := out[(n*s.t+i)*s.d()+h*s.dh+d]; math.Abs(got-want) > 1e-12 {
					t.Fatalf("task %d row %d col %d: out %g, want %g", task, i, d, got, want)
				}
			}
		}
	}
	if zeros == 0 {
		t.Error("dropout 0.25 dropped nothing")
	}
}
