package ops

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ViT-S/8 on 32x32 cutouts at batch 64: 16 patches + CLS = 17 tokens.
const (
	benchN      = 64
	benchT      = 17
	benchD      = 384
	benchH      = 8
	benchHidden = 4 * benchD
	benchR      = benchN * benchT
)

var vitS = blockConfig{n: benchN, t: benchT, d: benchD, heads: benchH, hidden: benchHidden, attnDrop: 0.2, dropPath: 0.1}

func randF32(n int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(2*rng.Float64() - 1)
	}
	return s
}

// reportGFLOPS reports flops per iteration as GFLOP/s.
func reportGFLOPS(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkLinear times forward and backward (dx, dW, db) of the four
// Linears of a ViT-S/8 block: 6·R·I·O flops.
func BenchmarkLinear(b *testing.B) {
	for _, c := range []struct {
		name    string
		in, out int
	}{{"qkv", benchD, 3 * benchD}, {"proj", benchD, benchD}, {"fc1", benchD, benchHidden}, {"fc2", benchHidden, benchD}} {
		b.Run(c.name, func(b *testing.B) {
			x, w, bias := randF32(benchR*c.in), randF32(c.out*c.in), randF32(c.out)
			y, dy := make([]float32, benchR*c.out), randF32(benchR*c.out)
			dx, dw, db := make([]float32, len(x)), make([]float32, len(w)), make([]float32, c.out)
			b.ReportAllocs()
			for b.Loop() {
				linearForward(y, x, w, bias, benchR, c.in, c.out)
				linearBackwardX(dx, dy, w, benchR, c.in, c.out)
				linearBackwardW(dw, dy, x, benchR, c.in, c.out)
				linearBackwardB(db, dy, benchR, c.out)
			}
			reportGFLOPS(b, 6*float64(benchR*c.in*c.out))
		})
	}
}

// BenchmarkLayerNorm times forward and backward (dx, dgamma, dbeta) on
// [R, D]; nominal 24 flops per element (8 forward, 16 backward).
func BenchmarkLayerNorm(b *testing.B) {
	x, g, beta := randF32(benchR*benchD), randF32(benchD), randF32(benchD)
	y, dy, dx := make([]float32, len(x)), randF32(len(x)), make([]float32, len(x))
	mean, rstd, dg, db := make([]float32, benchR), make([]float32, benchR), make([]float32, benchD), make([]float32, benchD)
	b.ReportAllocs()
	for b.Loop() {
		layerNormForward(y, mean, rstd, x, g, beta, benchR, benchD, LayerNormEps)
		layerNormBackwardX(dx, dy, x, mean, rstd, g, benchR, benchD)
		layerNormBackwardGamma(dg, dy, x, mean, rstd, benchR, benchD)
		colSum(db, dy, benchR, benchD)
	}
	reportGFLOPS(b, 24*float64(benchR*benchD))
}

// BenchmarkGELU times forward and backward on the MLP hidden layer
// [R, 4D]; nominal 30 flops per element (an erf counted as 10).
func BenchmarkGELU(b *testing.B) {
	x, dy := randF32(benchR*benchHidden), randF32(benchR*benchHidden)
	y, cdf, dx := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	b.ReportAllocs()
	for b.Loop() {
		geluForward(y, cdf, x)
		geluBackward(dx, dy, x, cdf)
	}
	reportGFLOPS(b, 30*float64(len(x)))
}

// BenchmarkAttention times forward and backward with 0.2 attention
// dropout: 12·T²·Dh flops per (sequence, head) in six products.
func BenchmarkAttention(b *testing.B) {
	s := attnShape{n: benchN, t: benchT, h: benchH, dh: benchD / benchH}
	size := s.tasks() * s.t * s.t
	qkv, dout := randF32(benchR*3*benchD), randF32(benchR*benchD)
	out, dqkv := make([]float32, benchR*benchD), make([]float32, len(qkv))
	probs, mask, dropped, scratch := make([]float32, size), make([]float32, size), make([]float32, size), make([]float32, size)
	drop := attnDrop{p: 0.2, seed: 1}
	b.ReportAllocs()
	for b.Loop() {
		attentionForward(out, probs, mask, dropped, qkv, s, drop)
		attentionBackward(dqkv, dout, qkv, probs, mask, dropped, scratch, s, drop)
	}
	reportGFLOPS(b, 12*float64(s.tasks()*s.t*s.t*s.dh))
}

// BenchmarkResidual times the drop-path residual forward and backward on
// [R, D]; 3 flops per element.
func BenchmarkResidual(b *testing.B) {
	x, f, dy := randF32(benchR*benchD), randF32(benchR*benchD), randF32(benchR*benchD)
	y, df := make([]float32, len(x)), make([]float32, len(x))
	keep := make([]float32, benchN)
	b.ReportAllocs()
	for b.Loop() {
		samplesKeepMask(keep, 0.1, 1, 0)
		residualForward(y, x, f, keep, benchT*benchD)
		dropPathBackward(df, dy, keep, benchT*benchD)
	}
	reportGFLOPS(b, 3*float64(len(x)))
}

// BenchmarkTokens times the token assembly and its three gradients.
func BenchmarkTokens(b *testing.B) {
	p := benchT - 1
	patches, cls, pos := randF32(benchN*p*benchD), randF32(benchD), randF32(benchT*benchD)
	x, dx := make([]float32, benchR*benchD), randF32(benchR*benchD)
	dp, dc, dpos := make([]float32, len(patches)), make([]float32, benchD), make([]float32, len(pos))
	b.ReportAllocs()
	for b.Loop() {
		tokensForward(x, patches, cls, pos, benchN, p, benchD)
		tokensBackwardPatches(dp, dx, benchN, p, benchD)
		tokensBackwardCLS(dc, dx, benchN, p, benchD)
		tokensBackwardPos(dpos, dx, benchN, p, benchD)
	}
	reportGFLOPS(b, 2*float64(len(x)))
}

// BenchmarkPatchify times cutting 64 3x32x32 images into 8-pixel patches
// (a copy; no flops, so GB/s of patches written).
func BenchmarkPatchify(b *testing.B) {
	const c, hw, ps = 3, 32, 8
	images, patches := randF32(benchN*c*hw*hw), make([]float32, benchN*c*hw*hw)
	b.ReportAllocs()
	for b.Loop() {
		patchify(patches, images, benchN, c, hw, hw, ps)
	}
	b.ReportMetric(4*float64(len(patches))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkSelectCLS times gathering the CLS rows and scattering their
// gradient back (a copy; GB/s of the gradient written).
func BenchmarkSelectCLS(b *testing.B) {
	x, y := randF32(benchR*benchD), make([]float32, benchN*benchD)
	dy, dx := randF32(benchN*benchD), make([]float32, benchR*benchD)
	b.ReportAllocs()
	for b.Loop() {
		selectCLSForward(y, x, benchN, benchT, benchD)
		selectCLSBackward(dx, dy, benchN, benchT, benchD)
	}
	b.ReportMetric(4*float64(len(dx))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

// BenchmarkCrossEntropy times the fine-tuning loss, [64, 2] logits.
func BenchmarkCrossEntropy(b *testing.B) {
	const n, c = benchN, 2
	logits, probs, d := randF32(n*c), make([]float32, n*c), make([]float32, n*c)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % c
	}
	b.ReportAllocs()
	for b.Loop() {
		crossEntropyForward(probs, logits, labels, n, c)
		crossEntropyBackward(d, probs, labels, n, c, 1)
	}
	reportGFLOPS(b, 10*float64(n*c))
}

// BenchmarkBlock times one ViT-S/8 block, forward and backward, as a
// compiled TapeMachine step (Reset, RunAll), built from the fused ops and
// from Gorgonia primitives. The gradient of the block output comes in as an
// input, so the step holds the block alone. Under OpenBLAS the naive graph
// gets OpenBLAS's own threading, its best setting (gorgonia.Mul does not
// split products itself).
func BenchmarkBlock(b *testing.B) {
	flops := 6*float64(benchR)*12*benchD*benchD + 12*float64(benchN*benchH*benchT*benchT*(benchD/benchH))
	for _, c := range []struct {
		name        string
		build       builder
		blasThreads int
	}{{"fused", fusedBlock(vitS), 1}, {"naive", naiveBlock(vitS), runtime.GOMAXPROCS(0)}} {
		b.Run(c.name, func(b *testing.B) {
			setBLASThreads(c.blasThreads)
			defer setBLASThreads(1)
			m, err := blockMachine(vitS, c.build)
			if err != nil {
				b.Fatal(err)
			}
			step := func() {
				m.Reset()
				if err := m.RunAll(); err != nil {
					b.Fatal(err)
				}
			}
			step() // the first step allocates the buffers
			b.ReportAllocs()
			for b.Loop() {
				step()
			}
			reportGFLOPS(b, flops)
			b.ReportMetric(float64(benchN)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// blockMachine compiles a float32 block with its backward from an incoming
// output gradient.
func blockMachine(c blockConfig, build builder) (gorgonia.VM, error) {
	g := gorgonia.NewGraph()
	rng := rand.New(rand.NewPCG(1, 1))
	var in gorgonia.Nodes
	for _, s := range blockInputs(c) {
		v := convert(randDense(rng, 0.05, s.shape...), tensor.Float32)
		in = append(in, gorgonia.NewTensor(g, tensor.Float32, len(s.shape), gorgonia.WithShape(s.shape...), gorgonia.WithName(s.name), gorgonia.WithValue(v)))
	}
	out, err := build(in)
	if err != nil {
		return nil, err
	}
	dy := gorgonia.NewTensor(g, tensor.Float32, 2, gorgonia.WithShape(out.Shape()...), gorgonia.WithName("dy"),
		gorgonia.WithValue(convert(randDense(rng, 1, out.Shape()...), tensor.Float32)))
	if _, err := gorgonia.Backpropagate(gorgonia.Nodes{out}, gorgonia.Nodes{dy}, in); err != nil {
		return nil, err
	}
	return gorgonia.NewTapeMachine(g), nil
}
