package ops

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The ops of the self-supervised heads and losses: kernel gradients against
// finite differences, the same inside float64 graphs, and each op against a
// naive composition of Gorgonia primitives.

func pretrainKernelCases() []kernelCase {
	return []kernelCase{
		bnKernelCase("batchnorm, 2 groups", 2, true),
		bnKernelCase("batchnorm without affine", 1, false),
		{"batchnorm, evaluation", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, cols = 4, 3
			x, gamma, beta := randSlice(rng, rows*cols), randSlice(rng, cols), randSlice(rng, cols)
			mean, rstd := randSlice(rng, cols), []float64{0.5, 2, 1.5} // running statistics: constants
			y, dy := make([]float64, rows*cols), randSlice(rng, rows*cols)
			s := bnShape{rows: rows, cols: cols, groups: 1}
			loss := func() float64 { batchNormApply(y, x, mean, rstd, gamma, beta, s); return dot(y, dy) }
			grads := func() [][]float64 {
				dx, dg, db := make([]float64, len(x)), make([]float64, cols), make([]float64, cols)
				batchNormBackwardXFixed(dx, dy, rstd, gamma, rows, cols)
				batchNormBackwardGamma(dg, dy, x, mean, rstd, s)
				colSum(db, dy, rows, cols)
				return [][]float64{dx, dg, db}
			}
			return [][]float64{x, gamma, beta}, loss, grads
		}},
		{"l2 normalize", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, cols = 4, 5
			x := randSlice(rng, rows*cols)
			y, norm, dy := make([]float64, len(x)), make([]float64, rows), randSlice(rng, len(x))
			loss := func() float64 { l2NormalizeForward(y, norm, x, rows, cols); return dot(y, dy) }
			grads := func() [][]float64 {
				loss()
				dx := make([]float64, len(x))
				l2NormalizeBackward(dx, dy, y, norm, rows, cols)
				return [][]float64{dx}
			}
			return [][]float64{x}, loss, grads
		}},
		{"weight norm", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const out, in = 3, 4
			v, g := randSlice(rng, out*in), randSlice(rng, out)
			w, norm, dw := make([]float64, len(v)), make([]float64, out), randSlice(rng, len(v))
			loss := func() float64 { weightNormForward(w, norm, v, g, out, in); return dot(w, dw) }
			grads := func() [][]float64 {
				loss()
				dv, dg := make([]float64, len(v)), make([]float64, out)
				weightNormBackwardV(dv, dw, v, g, norm, out, in)
				weightNormBackwardG(dg, dw, v, norm, out, in)
				return [][]float64{dv, dg}
			}
			return [][]float64{v, g}, loss, grads
		}},
		{"relu", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			x := randSlice(rng, 20)
			y, dy := make([]float64, len(x)), randSlice(rng, len(x))
			loss := func() float64 { reluForward(y, x); return dot(y, dy) }
			grads := func() [][]float64 {
				loss()
				dx := randSlice(rng, len(x)) // garbage the backward must overwrite
				reluBackward(dx, dy, y)
				return [][]float64{dx}
			}
			return [][]float64{x}, loss, grads
		}},
		{"soft cross-entropy", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, k, temp = 5, 4, 0.3
			logits := randSlice(rng, rows*k)
			targets, terms := testSoftTargets(k)
			var st softTerms
			if err := st.fold(targets, k, rows, terms); err != nil {
				panic(err)
			}
			probs, part := make([]float64, len(st.rows)*k), make([]float64, len(st.rows))
			const g = 1.3
			loss := func() float64 { return g * softCEForward(probs, part, logits, &st, k, 1/temp) }
			grads := func() [][]float64 {
				loss()
				d := randSlice(rng, len(logits)) // rows without terms must come back zero
				softCEBackward(d, probs, &st, k, 1/temp, g)
				return [][]float64{d}
			}
			return [][]float64{logits}, loss, grads
		}},
		{"negative cosine", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const rows, cols = 6, 3
			p, z := randSlice(rng, rows*cols), randSlice(rng, rows*cols)
			cos, pn, zn := make([]float64, rows), make([]float64, rows), make([]float64, rows)
			const g = 0.7
			loss := func() float64 { return g * negCosineForward(cos, pn, zn, p, z, rows, cols) }
			grads := func() [][]float64 {
				loss()
				dp := make([]float64, len(p))
				negCosineBackward(dp, p, z, cos, pn, zn, rows, cols, g)
				return [][]float64{dp}
			}
			return [][]float64{p}, loss, grads // z is the stop-gradient side
		}},
		{"mask tokens", func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
			const cols = 3
			mask := []bool{true, false, false, true, true, false}
			x, token := randSlice(rng, len(mask)*cols), randSlice(rng, cols)
			y, dy := make([]float64, len(x)), randSlice(rng, len(x))
			loss := func() float64 { maskTokensForward(y, x, token, mask, cols); return dot(y, dy) }
			grads := func() [][]float64 {
				dx, dt := randSlice(rng, len(x)), randSlice(rng, cols) // garbage to overwrite
				maskTokensBackwardX(dx, dy, mask, cols)
				maskTokensBackwardToken(dt, dy, mask, cols)
				return [][]float64{dx, dt}
			}
			return [][]float64{x, token}, loss, grads
		}},
	}
}

func bnKernelCase(name string, groups int, affine bool) kernelCase {
	return kernelCase{name, func(rng *rand.Rand) ([][]float64, func() float64, func() [][]float64) {
		const rows, cols = 6, 4
		s := bnShape{rows: rows, cols: cols, groups: groups}
		x := randSlice(rng, rows*cols)
		var gamma, beta []float64
		if affine {
			gamma, beta = randSlice(rng, cols), randSlice(rng, cols)
		}
		mean, rstd, vari := make([]float64, groups*cols), make([]float64, groups*cols), make([]float64, groups*cols)
		y, dy := make([]float64, len(x)), randSlice(rng, len(x))
		loss := func() float64 {
			batchNormStats(mean, rstd, vari, x, s, 1e-5)
			batchNormApply(y, x, mean, rstd, gamma, beta, s)
			return dot(y, dy)
		}
		grads := func() [][]float64 {
			loss()
			dx := make([]float64, len(x))
			batchNormBackwardX(dx, dy, x, mean, rstd, gamma, s)
			if !affine {
				return [][]float64{dx}
			}
			dg, db := make([]float64, cols), make([]float64, cols)
			batchNormBackwardGamma(dg, dy, x, mean, rstd, s)
			colSum(db, dy, rows, cols)
			return [][]float64{dx, dg, db}
		}
		if !affine {
			return [][]float64{x}, loss, grads
		}
		return [][]float64{x, gamma, beta}, loss, grads
	}}
}

// testSoftTargets returns two target distributions over k classes and
// terms that weight them unevenly, leave row 2 out and hit row 0 twice.
func testSoftTargets(k int) ([]float32, []SoftTerm) {
	targets := make([]float32, 2*k)
	for j := range k {
		targets[j] = float32(j+1) / float32(k*(k+1)/2)
		targets[k+j] = float32(k-j) / float32(k*(k+1)/2)
	}
	return targets, []SoftTerm{{Row: 0, Target: 0, Weight: 0.5}, {Row: 0, Target: 1, Weight: 0.25}, {Row: 1, Target: 1, Weight: 1}, {Row: 3, Target: 0, Weight: 0.125}, {Row: 4, Target: 1, Weight: 0.75}}
}

func TestPretrainKernelGradients(t *testing.T) { checkKernelGradients(t, pretrainKernelCases(), 3) }

var testMask = []bool{true, false, false, true, false}

func pretrainGraphCases() []graphCase {
	mat := func(name string, r, c int) input { return input{name: name, shape: []int{r, c}, grad: true} }
	vec := func(name string, n int) input { return input{name: name, shape: []int{n}, grad: true} }
	bn := func(groups int) BatchNormConfig {
		return BatchNormConfig{Eps: 1e-5, Momentum: 0.1, Groups: groups, Mean: make([]float32, 3), Var: []float32{1, 1, 1}}
	}
	return []graphCase{
		{
			name:   "batchnorm",
			inputs: []input{mat("x", 6, 3), vec("gamma", 3), vec("beta", 3)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return BatchNorm(n[0], n[1], n[2], bn(1)) },
			naive:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return naiveBatchNorm(n[0], n[1], n[2], 1) },
		},
		{
			name:   "batchnorm, 2 groups, no affine",
			inputs: []input{mat("x", 6, 3)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return BatchNorm(n[0], nil, nil, bn(2)) },
			naive:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return naiveBatchNorm(n[0], nil, nil, 2) },
		},
		{
			name:   "l2 normalize",
			inputs: []input{mat("x", 4, 5)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return L2Normalize(n[0]) },
			naive:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return naiveL2Normalize(n[0]) },
		},
		{
			name:   "weight-normed linear",
			inputs: []input{mat("x", 4, 5), mat("v", 3, 5), mat("g", 3, 1)},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				w, err := WeightNorm(n[1], n[2])
				if err != nil {
					return nil, err
				}
				return Linear(n[0], w, nil)
			},
			naive: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				v, g := n[1], n[2]
				norm := gorgonia.Must(gorgonia.Sqrt(gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.Square(v)), 1))))
				scale := gorgonia.Must(gorgonia.HadamardDiv(gorgonia.Must(gorgonia.Reshape(g, tensor.Shape{3})), norm))
				w := gorgonia.Must(gorgonia.BroadcastHadamardProd(v, scale, nil, []byte{1}))
				return gorgonia.Mul(n[0], gorgonia.Must(gorgonia.Transpose(w)))
			},
		},
		{
			name:   "relu",
			inputs: []input{mat("x", 4, 5)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return ReLU(n[0]) },
			naive:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return gorgonia.Rectify(n[0]) },
		},
		{
			name:   "soft cross-entropy",
			inputs: []input{{name: "logits", shape: []int{5, 4}, grad: true, scale: 2}},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				loss, op, err := SoftCrossEntropy(n[0], 0.3)
				if err != nil {
					return nil, err
				}
				targets, terms := testSoftTargets(4)
				return loss, op.SetTargets(targets, terms)
			},
			naive: naiveSoftCE,
		},
		{
			name:   "negative cosine",
			inputs: []input{mat("p", 6, 3), {name: "z", shape: []int{6, 3}}},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return NegCosine(n[0], n[1]) },
			naive:  naiveNegCosine,
		},
		{
			name:   "mask tokens",
			inputs: []input{mat("x", len(testMask), 3), mat("token", 1, 3)},
			fused: func(n gorgonia.Nodes) (*gorgonia.Node, error) {
				y, op, err := MaskTokens(n[0], n[1])
				if err != nil {
					return nil, err
				}
				return y, op.SetMask(testMask)
			},
			naive: naiveMaskTokens,
		},
		{
			name:   "concat rows",
			inputs: []input{mat("a", 2, 3), mat("b", 3, 3), mat("c", 1, 3)},
			fused:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return ConcatRows(n...) },
			naive:  func(n gorgonia.Nodes) (*gorgonia.Node, error) { return gorgonia.Concat(0, n...) },
		},
	}
}

// naiveBatchNorm normalises each group of rows from Mean, Square and
// broadcasting, then concatenates the groups.
func naiveBatchNorm(x, gamma, beta *gorgonia.Node, groups int) (*gorgonia.Node, error) {
	rows := x.Shape()[0]
	per := rows / groups
	var parts gorgonia.Nodes
	for g := range groups {
		xg := x
		if groups > 1 {
			xg = gorgonia.Must(gorgonia.Slice(x, gorgonia.S(g*per, (g+1)*per)))
		}
		mean := gorgonia.Must(gorgonia.Mean(xg, 0))
		xc := gorgonia.Must(gorgonia.BroadcastSub(xg, mean, nil, []byte{0}))
		v := gorgonia.Must(gorgonia.Mean(gorgonia.Must(gorgonia.Square(xc)), 0))
		eps := gorgonia.NewConstant(castLike(x, 1e-5))
		rstd := gorgonia.Must(gorgonia.Inverse(gorgonia.Must(gorgonia.Sqrt(gorgonia.Must(gorgonia.Add(v, eps))))))
		y := gorgonia.Must(gorgonia.BroadcastHadamardProd(xc, rstd, nil, []byte{0}))
		if gamma != nil {
			y = gorgonia.Must(gorgonia.BroadcastHadamardProd(y, gamma, nil, []byte{0}))
			y = gorgonia.Must(gorgonia.BroadcastAdd(y, beta, nil, []byte{0}))
		}
		parts = append(parts, y)
	}
	if groups == 1 {
		return parts[0], nil
	}
	return gorgonia.Concat(0, parts...)
}

func naiveL2Normalize(x *gorgonia.Node) (*gorgonia.Node, error) {
	norm := gorgonia.Must(gorgonia.Sqrt(gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.Square(x)), 1))))
	// Not BroadcastHadamardDiv: with it the output read after the run
	// differed from the forward's (Gorgonia v0.9.18 reuses the buffer).
	return gorgonia.BroadcastHadamardProd(x, gorgonia.Must(gorgonia.Inverse(norm)), nil, []byte{1})
}

// naiveSoftCE is -Σ C ⊙ log softmax(x/τ), C holding each row's weighted
// targets (the terms are linear in the targets).
func naiveSoftCE(n gorgonia.Nodes) (*gorgonia.Node, error) {
	logits := n[0]
	s := logits.Shape()
	targets, terms := testSoftTargets(s[1])
	c := tensor.New(tensor.Of(logits.Dtype()), tensor.WithShape(s...))
	for _, t := range terms {
		for j := range s[1] {
			v := t.Weight * float64(targets[t.Target*s[1]+j])
			if logits.Dtype() == tensor.Float32 {
				c.Float32s()[t.Row*s[1]+j] += float32(v)
			} else {
				c.Float64s()[t.Row*s[1]+j] += v
			}
		}
	}
	cn := gorgonia.NewTensor(logits.Graph(), logits.Dtype(), 2, gorgonia.WithShape(s...), gorgonia.WithValue(c), gorgonia.WithName("weighted targets"))
	scaled := gorgonia.Must(gorgonia.Mul(logits, gorgonia.NewConstant(castLike(logits, 1/0.3))))
	logp := gorgonia.Must(gorgonia.LogSoftMax(scaled))
	return gorgonia.Neg(gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(cn, logp)))))
}

// naiveNegCosine pairs row i of p with row i ± N of z by slicing z's halves.
func naiveNegCosine(n gorgonia.Nodes) (*gorgonia.Node, error) {
	p, z := n[0], n[1]
	half := p.Shape()[0] / 2
	pn := gorgonia.Must(naiveL2Normalize(p))
	zn := gorgonia.Must(naiveL2Normalize(z))
	swapped := gorgonia.Must(gorgonia.Concat(0, gorgonia.Must(gorgonia.Slice(zn, gorgonia.S(half, 2*half))), gorgonia.Must(gorgonia.Slice(zn, gorgonia.S(0, half)))))
	cos := gorgonia.Must(gorgonia.Sum(gorgonia.Must(gorgonia.HadamardProd(pn, swapped)), 1))
	return gorgonia.Neg(gorgonia.Must(gorgonia.Mean(cos)))
}

// naiveMaskTokens is x ⊙ (1-M) + M ⊙ token with M the mask as 0/1 rows.
func naiveMaskTokens(n gorgonia.Nodes) (*gorgonia.Node, error) {
	x, token := n[0], n[1]
	s := x.Shape()
	m, keep := tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(s...)), tensor.New(tensor.Of(x.Dtype()), tensor.WithShape(s...))
	for r, masked := range testMask {
		for j := range s[1] {
			a, b := 0.0, 1.0
			if masked {
				a, b = 1, 0
			}
			if x.Dtype() == tensor.Float32 {
				m.Float32s()[r*s[1]+j], keep.Float32s()[r*s[1]+j] = float32(a), float32(b)
			} else {
				m.Float64s()[r*s[1]+j], keep.Float64s()[r*s[1]+j] = a, b
			}
		}
	}
	mn := gorgonia.NewTensor(x.Graph(), x.Dtype(), 2, gorgonia.WithShape(s...), gorgonia.WithValue(m), gorgonia.WithName("mask"))
	kn := gorgonia.NewTensor(x.Graph(), x.Dtype(), 2, gorgonia.WithShape(s...), gorgonia.WithValue(keep), gorgonia.WithName("keep"))
	tok := gorgonia.Must(gorgonia.Reshape(token, tensor.Shape{s[1]}))
	return gorgonia.Add(gorgonia.Must(gorgonia.HadamardProd(x, kn)), gorgonia.Must(gorgonia.BroadcastHadamardProd(mn, tok, nil, []byte{0})))
}

func TestPretrainGraphGradients(t *testing.T) {
	for _, c := range pretrainGraphCases() {
		t.Run(c.name, func(t *testing.T) { checkGraphGradients(t, c) })
	}
}

func TestPretrainFusedMatchesNaive(t *testing.T) {
	for _, c := range pretrainGraphCases() {
		for _, tc := range naiveTolerances {
			t.Run(c.name+"/"+tc.dt.String(), func(t *testing.T) { checkMatchesNaive(t, c, tc.dt, tc.tol) })
		}
	}
}

// TestBatchNormRunningStatistics checks PyTorch's running-statistics rule
// (momentum 0.1, unbiased variance, one update per group in order) and that
// a machine in evaluation mode normalises with them.
func TestBatchNormRunningStatistics(t *testing.T) {
	x := []float32{1, 10, 2, 20, 3, 30, 5, 0, 7, 0, 9, 0} // [6, 2]; groups of 3 rows
	mean, vari := []float32{0, 0}, []float32{1, 1}
	g := gorgonia.NewGraph()
	xn := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(6, 2), gorgonia.WithName("x"),
		gorgonia.WithValue(tensor.New(tensor.WithShape(6, 2), tensor.WithBacking(x))))
	y, err := BatchNorm(xn, nil, nil, BatchNormConfig{Eps: 1e-5, Momentum: 0.1, Groups: 2, Mean: mean, Var: vari})
	if err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err != nil {
		t.Fatal(err)
	}
	// Group means (2, 20) then (7, 0); unbiased variances (1, 100) then (4, 0).
	wantMean := []float64{0.9*(0.9*0+0.1*2) + 0.1*7, 0.9*(0.9*0+0.1*20) + 0.1*0}
	wantVar := []float64{0.9*(0.9*1+0.1*1) + 0.1*4, 0.9*(0.9*1+0.1*100) + 0.1*0}
	for j := range 2 {
		if math.Abs(float64(mean[j])-wantMean[j]) > 1e-5 || math.Abs(float64(vari[j])-wantVar[j]) > 1e-4 {
			t.Errorf("column %d: running mean %g, var %g; want %g, %g", j, mean[j], vari[j], wantMean[j], wantVar[j])
		}
	}
	// Batch statistics in training: each group's column is standardised.
	out := y.Value().(*tensor.Dense).Float32s()
	if got := out[0]; math.Abs(float64(got)+math.Sqrt(1.5)) > 1e-3 { // (1-2)/sqrt(2/3)
		t.Errorf("training output[0] = %g, want %g", got, -math.Sqrt(1.5))
	}
	eval := gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
	defer eval.Close()
	before := append([]float32(nil), mean...)
	if err := eval.RunAll(); err != nil {
		t.Fatal(err)
	}
	if mean[0] != before[0] {
		t.Errorf("evaluation moved the running mean from %g to %g", before[0], mean[0])
	}
	want := (1 - float64(mean[0])) / math.Sqrt(float64(vari[0])+1e-5)
	if got := y.Value().(*tensor.Dense).Float32s()[0]; math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("evaluation output[0] = %g, want %g from the running statistics", got, want)
	}
}

// TestSoftCEFold checks the folding of terms into per-row sums.
func TestSoftCEFold(t *testing.T) {
	targets, terms := testSoftTargets(4)
	var st softTerms
	if err := st.fold(targets, 4, 5, terms); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 3, 4}; !equalInts(st.rows, want) {
		t.Fatalf("rows %v, want %v", st.rows, want)
	}
	// Row 0: 0.5·T0 + 0.25·T1, each target summing to 1.
	if math.Abs(st.w[0]-0.75) > 1e-7 {
		t.Errorf("W of row 0 = %g, want 0.75", st.w[0])
	}
	if got, want := st.coef[0], 0.5*0.1+0.25*0.4; math.Abs(got-want) > 1e-7 {
		t.Errorf("C[0][0] = %g, want %g", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPretrainBuildErrors(t *testing.T) {
	g := gorgonia.NewGraph()
	m := func(r, c int) *gorgonia.Node { return gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(r, c)) }
	v := func(n int) *gorgonia.Node { return gorgonia.NewVector(g, tensor.Float32, gorgonia.WithShape(n)) }
	bn := BatchNormConfig{Eps: 1e-5, Momentum: 0.1}
	cases := []struct {
		name  string
		build func() error
		want  string
	}{
		{"batchnorm gamma", func() error { _, err := BatchNorm(m(4, 3), v(2), v(3), bn); return err }, "batchnorm: gamma (2) and beta (3) must be vectors of 3"},
		{"batchnorm half affine", func() error { _, err := BatchNorm(m(4, 3), v(3), nil, bn); return err }, "give both gamma and beta"},
		{"batchnorm groups", func() error {
			c := bn
			c.Groups = 3
			_, err := BatchNorm(m(4, 3), nil, nil, c)
			return err
		}, "4 rows do not make 3 groups of 2 or more"},
		{"batchnorm one row", func() error { _, err := BatchNorm(m(1, 3), nil, nil, bn); return err }, "1 rows do not make 1 groups"},
		{"batchnorm running", func() error {
			c := bn
			c.Mean, c.Var = make([]float32, 2), make([]float32, 2)
			_, err := BatchNorm(m(4, 3), nil, nil, c)
			return err
		}, "running mean (2) and variance (2) must both be 3 values"},
		{"weight norm g", func() error { _, err := WeightNorm(m(3, 4), m(4, 1)); return err }, "weight norm: v (3, 4) must be a matrix [O, I] and g (4, 1) a column [O, 1]"},
		{"soft ce temperature", func() error { _, _, err := SoftCrossEntropy(m(3, 4), 0); return err }, "temperature 0 must be positive"},
		{"soft ce term row", func() error {
			_, op, err := SoftCrossEntropy(m(3, 4), 0.1)
			if err != nil {
				return err
			}
			return op.SetTargets(make([]float32, 8), []SoftTerm{{Row: 3, Target: 0, Weight: 1}})
		}, "term 0: logits row 3 outside [0, 3)"},
		{"soft ce target row", func() error {
			_, op, err := SoftCrossEntropy(m(3, 4), 0.1)
			if err != nil {
				return err
			}
			return op.SetTargets(make([]float32, 8), []SoftTerm{{Row: 0, Target: 2, Weight: 1}})
		}, "term 0: target row 2 outside [0, 2)"},
		{"soft ce target width", func() error {
			_, op, err := SoftCrossEntropy(m(3, 4), 0.1)
			if err != nil {
				return err
			}
			return op.SetTargets(make([]float32, 6), nil)
		}, "6 target values are not rows of 4"},
		{"negative cosine odd", func() error { _, err := NegCosine(m(3, 2), m(3, 2)); return err }, "want an even number of rows"},
		{"mask tokens", func() error { _, _, err := MaskTokens(m(4, 3), m(1, 2)); return err }, "token (1, 2) [1, D]"},
		{"mask count", func() error {
			_, op, err := MaskTokens(m(4, 3), m(1, 3))
			if err != nil {
				return err
			}
			return op.SetMask(make([]bool, 3))
		}, "3 mask flags for 4 rows"},
		{"concat widths", func() error { _, err := ConcatRows(m(2, 3), m(2, 4)); return err }, "input 1 is (2, 4), want a matrix of width 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.build()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestSoftCETargetsNotSet runs a soft cross-entropy without targets.
func TestSoftCETargetsNotSet(t *testing.T) {
	g := gorgonia.NewGraph()
	logits := gorgonia.NewMatrix(g, tensor.Float32, gorgonia.WithShape(2, 3), gorgonia.WithInit(gorgonia.Zeroes()))
	if _, _, err := SoftCrossEntropy(logits, 0.1); err != nil {
		t.Fatal(err)
	}
	m := gorgonia.NewTapeMachine(g)
	defer m.Close()
	if err := m.RunAll(); err == nil || !strings.Contains(err.Error(), "targets not set") {
		t.Errorf("running without targets: got %v", err)
	}
}
