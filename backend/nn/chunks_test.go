package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sslens/sslens/backend/nn/optim"
	"github.com/sslens/sslens/backend/nn/vit"
)

// chunkTolerance bounds the relative difference between a micro-batched
// and a one-pass step: the same sums in another order, in float32.
const chunkTolerance = 2e-5

// compareVars checks two networks' losses and every gradient.
func compareVars(t *testing.T, what string, loss, wantLoss float64, got, want []optim.Var) {
	t.Helper()
	if d := relDiff([]float64{loss}, []float64{wantLoss}, 1e-6); d > chunkTolerance {
		t.Errorf("%s: loss %.9g, one pass %.9g", what, loss, wantLoss)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d vars, one pass %d", what, len(got), len(want))
	}
	// A gradient that is 0 but for rounding (norm.bias before a
	// BatchNorm) is compared on the scale of the largest.
	var scale float64
	for _, v := range want {
		for _, g := range v.Grad {
			scale = max(scale, math.Abs(float64(g)))
		}
	}
	for i, v := range got {
		if v.Name != want[i].Name {
			t.Fatalf("%s: var %d is %s, one pass %s", what, i, v.Name, want[i].Name)
		}
		if d := relDiff(f64s(v.Grad), f64s(want[i].Grad), 1e-3*scale); d > chunkTolerance {
			t.Errorf("%s: gradient of %s differs from one pass by %.3g", what, v.Name, d)
		}
	}
}

func f64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// droppingPreset is pretrainPreset with attention dropout and drop path.
func droppingPreset() vit.Preset {
	p := pretrainPreset()
	p.AttnDrop, p.DropPath = 0.2, 0.3
	return p
}

// TestChunkedDINOMatchesOnePass runs DINO's and iBOT's student and teacher
// on 5 images in one pass and micro-batched by 1, 2 (a remainder chunk) and
// 3 images, with dropout and drop path on and BatchNorm in the head: same
// teacher outputs, loss and gradients, over two steps with different masks.
func TestChunkedDINOMatchesOnePass(t *testing.T) {
	p := droppingPreset()
	const batch, locals = 5, 2
	h := testDINOHead(p.Dim)
	for _, ibot := range []bool{false, true} {
		bb := backboneParams(t, p, 5)
		head := studentHead(t, h, ibot)
		batchOf := DINOBatch{Globals: randomImages(8, Globals*batch, 32), Locals: randomImages(9, locals*batch, 16)}
		if ibot {
			batchOf.Masks = make([]bool, Globals*batch*16)
			for i := range batchOf.Masks {
				batchOf.Masks[i] = i%3 == 0
			}
		}
		type result struct {
			cls, patch []float32
			loss       []float64
			vars       [][]optim.Var
		}
		run := func(chunk int) result {
			opt := DINOOptions{Head: h, Batch: batch, GlobalSize: 32, LocalCrops: locals, LocalSize: 16, IBOT: ibot,
				StudentTemp: 0.1, Seed: 3, Chunk: chunk}
			teacher, err := NewDINOTeacher(bb.Clone(), teacherHead(head), h.Buffers(), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer teacher.Close()
			cls, patch, err := teacher.Forward(batchOf.Globals)
			if err != nil {
				t.Fatal(err)
			}
			r := result{cls: append([]float32(nil), cls...), patch: append([]float32(nil), patch...)}
			targets := DINOTargets{CLS: softmaxRows(cls, h.Out, 0.04), Lambda1: 1, Lambda2: 1}
			if ibot {
				targets.Patch = softmaxRows(patch, h.Out, 0.07)
			}
			student, err := NewDINOStudent(bb.Clone(), head.Clone(), h.Buffers(), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer student.Close()
			for step := range 2 {
				student.Reseed(uint64(step))
				l, err := student.TrainStep(batchOf, targets)
				if err != nil {
					t.Fatal(err)
				}
				r.loss = append(r.loss, l.CLS+l.Patch)
				vars := student.Vars()
				for i, v := range vars {
					vars[i].Grad = append([]float32(nil), v.Grad...)
				}
				r.vars = append(r.vars, vars)
			}
			return r
		}
		want := run(0)
		if want.loss[0] == want.loss[1] {
			t.Fatalf("ibot %t: steps 0 and 1 drew the same masks (loss %v)", ibot, want.loss[0])
		}
		for _, chunk := range []int{1, 2, 3} {
			got := run(chunk)
			what := fmt.Sprintf("ibot %t, chunks of %d", ibot, chunk)
			if d := relDiff(f64s(got.cls), f64s(want.cls), 1e-4); d > chunkTolerance {
				t.Errorf("%s: teacher outputs differ by %.3g", what, d)
			}
			if d := relDiff(f64s(got.patch), f64s(want.patch), 1e-4); d > chunkTolerance {
				t.Errorf("%s: teacher patch outputs differ by %.3g", what, d)
			}
			for step := range 2 {
				compareVars(t, fmt.Sprintf("%s, step %d", what, step), got.loss[step], want.loss[step], got.vars[step], want.vars[step])
			}
		}
	}
}

// TestChunkedSimSiamMatchesOnePass: SimSiam's step on 4 images, one pass
// against chunks of 1 and 3 images, with dropout and BatchNorm heads.
func TestChunkedSimSiamMatchesOnePass(t *testing.T) {
	p := droppingPreset()
	const batch = 4
	h := SimSiamHead{In: p.Dim, Hidden: 12, Out: 10, Layers: 3, BN: true, PredHidden: 4}
	bb := backboneParams(t, p, 11)
	var head vit.Params
	if err := h.AddParams(&head, rand.New(rand.NewPCG(12, 12))); err != nil {
		t.Fatal(err)
	}
	views := randomImages(13, 2*batch, 32)
	run := func(chunk int) (float64, []optim.Var, []float32) {
		net, err := NewSimSiam(bb.Clone(), head.Clone(), h.Buffers(), SimSiamOptions{Head: h, Batch: batch, Size: 32, Seed: 1, Chunk: chunk})
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		net.Reseed(4)
		l, err := net.TrainStep(views)
		if err != nil {
			t.Fatal(err)
		}
		return l, net.Vars(), append([]float32(nil), net.Projections()...)
	}
	wantLoss, wantVars, wantZ := run(0)
	for _, chunk := range []int{1, 3} {
		loss, vars, z := run(chunk)
		what := fmt.Sprintf("chunks of %d", chunk)
		compareVars(t, what, loss, wantLoss, vars, wantVars)
		if d := relDiff(f64s(z), f64s(wantZ), 1e-4); d > chunkTolerance {
			t.Errorf("%s: projections differ by %.3g", what, d)
		}
	}
}

// TestChunkedClassifierMatchesOnePass: a fine-tuning step over 6 images
// with dropout and drop path, in one machine and in chunks of 1 and 4.
func TestChunkedClassifierMatchesOnePass(t *testing.T) {
	images, labels := randomImages(21, 6, 32), []int{1, 0, 0, 1, 1, 0}
	run := func(chunk int) (float64, []float64, []optim.Var) {
		ps := tinyParams(t, tinyPreset(0.3, 0.2), 5)
		c := newClassifier(t, ps, Options{Batch: chunk, Seed: 2})
		c.Reseed(3)
		loss, probs, err := c.TrainStep(images, labels)
		if err != nil {
			t.Fatal(err)
		}
		return loss, probs, c.Vars()
	}
	wantLoss, wantProbs, wantVars := run(6)
	for _, chunk := range []int{1, 4} {
		loss, probs, vars := run(chunk)
		what := fmt.Sprintf("chunks of %d", chunk)
		compareVars(t, what, loss, wantLoss, vars, wantVars)
		if d := relDiff(probs, wantProbs, 1e-6); d > chunkTolerance {
			t.Errorf("%s: P(lens) differs by %.3g", what, d)
		}
	}
}
