package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sslens/sslens/backend/nn/vit"
)

// Micro-batching changes nothing but memory. The tests below run each
// network in float64 in one pass and micro-batched, for exactSteps steps
// with a float64 SGD update of the parameters (and for DINO and iBOT the
// teacher's EMA) between them, dropout and drop path on and BatchNorm in
// the heads, and compare the losses, every gradient, the parameters, the
// momentum and the teacher after the last step to exactTolerance: what
// float64 rounding leaves of the same sums taken in another order.
const (
	exactTolerance = 1e-10
	exactSteps     = 3
	// exactLR, exactMomentum and exactEMA drive the updates between steps:
	// large enough that every step computes with other parameters.
	exactLR, exactMomentum, exactEMA = 0.05, 0.9, 0.9
)

// exactRun is what one run of a network leaves.
type exactRun struct {
	loss     []float64
	grads    [][][]float64 // by step, then Var
	names    []string      // the Vars'
	params   [][]float64   // the Vars' after the last update
	momentum [][]float64
	teacher  map[string][]float64 // DINO and iBOT: after the last EMA
	outputs  [][]float64          // DINO and iBOT: the teacher's head outputs by step
	targets  []DINOTargets        // DINO and iBOT: the targets computed from them
	bufs     Buffers              // the heads' running statistics
}

// float64Params returns, for each Var, the float64 values a network's
// storage st computes with, finding the parameters by name in sets.
func float64Params(t *testing.T, st *storage, names []string, sets ...*vit.Params) [][]float64 {
	t.Helper()
	out := make([][]float64, len(names))
	for i, name := range names {
		for _, ps := range sets {
			if q := ps.Get(name); q != nil {
				out[i] = st.float64s(q)
			}
		}
		if out[i] == nil {
			t.Fatalf("no float64 values of %s", name)
		}
	}
	return out
}

// sgdStep is optim.SGD's update without weight decay in float64:
// b = μ·b + g, p -= lr·b.
func sgdStep(params, grads, momentum [][]float64) {
	for i, p := range params {
		for j := range p {
			momentum[i][j] = exactMomentum*momentum[i][j] + grads[i][j]
			p[j] -= exactLR * momentum[i][j]
		}
	}
}

// record runs step exactSteps times, keeping its loss and float64
// gradients and applying sgdStep to the parameters after each, and
// between steps calls after (when not nil) with the step just taken.
func (r *exactRun) record(t *testing.T, bufs gradBuffers, params [][]float64, step func(int) float64, after func(int)) {
	t.Helper()
	r.names, r.params = bufs.names, params
	r.momentum = make([][]float64, len(params))
	for i, p := range params {
		r.momentum[i] = make([]float64, len(p))
	}
	for s := range exactSteps {
		r.loss = append(r.loss, step(s))
		grads := make([][]float64, len(bufs.f64))
		for i, g := range bufs.f64 {
			grads[i] = append([]float64(nil), g...)
		}
		r.grads = append(r.grads, grads)
		sgdStep(params, bufs.f64, r.momentum)
		if after != nil {
			after(s)
		}
	}
}

// compareExact checks every tensor of got against want, relative to its own
// scale or 1e-3 of the set's largest value, whichever is larger: a
// gradient that is 0 but for rounding (a bias before a BatchNorm) holds
// only rounding.
func compareExact(t *testing.T, what string, names []string, got, want [][]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, one pass %d", what, len(got), len(want))
	}
	var largest float64
	for _, w := range want {
		for _, v := range w {
			largest = max(largest, math.Abs(v))
		}
	}
	for i := range want {
		if d := relDiff(got[i], want[i], 1e-3*largest); d > exactTolerance {
			t.Errorf("%s: %s differs from one pass by %.3g relative", what, names[i], d)
		}
	}
}

// compareRuns checks a micro-batched run against the one-pass run.
func compareRuns(t *testing.T, what string, got, want *exactRun) {
	t.Helper()
	for s := range exactSteps {
		if d := relDiff(got.loss[s:s+1], want.loss[s:s+1], 0); d > exactTolerance {
			t.Errorf("%s, step %d: loss %.17g, one pass %.17g", what, s, got.loss[s], want.loss[s])
		}
		compareExact(t, fmt.Sprintf("%s, step %d gradient", what, s), want.names, got.grads[s], want.grads[s])
	}
	compareExact(t, what+", parameters", want.names, got.params, want.params)
	compareExact(t, what+", momentum", want.names, got.momentum, want.momentum)
	for s := range want.outputs {
		if d := relDiff(got.outputs[s], want.outputs[s], 0); d > exactTolerance {
			t.Errorf("%s, step %d: teacher outputs differ by %.3g relative", what, s, d)
		}
	}
	for name, w := range want.teacher {
		if d := relDiff(got.teacher[name], w, 1e-3); d > exactTolerance {
			t.Errorf("%s: teacher %s differs from one pass by %.3g", what, name, d)
		}
	}
	// The running statistics are float32 buffers the float64 BatchNorm
	// updates: equal to float32 rounding.
	for name, w := range want.bufs {
		if d := relDiff(f64s(got.bufs[name]), f64s(w), 1e-3); d > 1e-6 {
			t.Errorf("%s: running statistic %s differs from one pass by %.3g", what, name, d)
		}
	}
	if want.loss[0] == want.loss[1] {
		t.Errorf("%s: steps 0 and 1 have the same loss %v: the update changed nothing", what, want.loss[0])
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
// 3 images, each step with other iBOT masks: same teacher outputs, losses,
// gradients, parameters, momentum and EMA teacher.
func TestChunkedDINOMatchesOnePass(t *testing.T) {
	p := droppingPreset()
	const batch, locals = 5, 2
	h := testDINOHead(p.Dim)
	for _, ibot := range []bool{false, true} {
		bb := backboneParams(t, p, 5)
		head := studentHead(t, h, ibot)
		batchOf := DINOBatch{Globals: randomImages(8, Globals*batch, 32), Locals: randomImages(9, locals*batch, 16)}
		// run uses the teacher's targets of want when given, so that
		// rounding the teacher's outputs to float32 targets cannot differ.
		run := func(chunk int, want *exactRun) *exactRun {
			opt := DINOOptions{Head: h, Batch: batch, GlobalSize: 32, LocalCrops: locals, LocalSize: 16, IBOT: ibot,
				StudentTemp: 0.1, Seed: 3, Chunk: chunk, double: true}
			sb, sh, tb, th := bb.Clone(), head.Clone(), bb.Clone(), teacherHead(head)
			r := &exactRun{bufs: h.Buffers(), teacher: map[string][]float64{}}
			teacher, err := NewDINOTeacher(tb, th, h.Buffers(), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer teacher.Close()
			student, err := NewDINOStudent(sb, sh, r.bufs, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer student.Close()
			step := func(s int) float64 {
				if ibot {
					batchOf.Masks = make([]bool, Globals*batch*16)
					for i := range batchOf.Masks {
						batchOf.Masks[i] = i%3 == s
					}
				}
				cls, patch, err := teacher.Forward(batchOf.Globals)
				if err != nil {
					t.Fatal(err)
				}
				out := append([]float64(nil), teacher.cls.Value().Data().([]float64)...)
				if ibot {
					out = append(out, teacher.patch.Value().Data().([]float64)...)
				}
				r.outputs = append(r.outputs, out)
				targets := DINOTargets{CLS: softmaxRows(cls, h.Out, 0.04), Lambda1: 1, Lambda2: 0.5}
				if ibot {
					targets.Patch = softmaxRows(patch, h.Out, 0.07)
				}
				if want != nil {
					targets = want.targets[s]
				}
				r.targets = append(r.targets, targets)
				student.Reseed(uint64(s))
				l, err := student.TrainStep(batchOf, targets)
				if err != nil {
					t.Fatal(err)
				}
				return l.CLS + l.Patch
			}
			names := student.tg.bufs.names
			studentParams := float64Params(t, student.tg.st, names, sb, sh)
			// The EMA reaches every teacher parameter, the student's frozen
			// weight_g included.
			var teacherNames []string
			for _, ps := range []*vit.Params{tb, th} {
				for _, q := range ps.List() {
					teacherNames = append(teacherNames, q.Name)
				}
			}
			teacherParams := float64Params(t, teacher.st, teacherNames, tb, th)
			studentAll := float64Params(t, student.tg.st, teacherNames, sb, sh)
			ema := func(int) {
				for i, tp := range teacherParams {
					for j := range tp {
						tp[j] = exactEMA*tp[j] + (1-exactEMA)*studentAll[i][j]
					}
				}
			}
			r.record(t, student.tg.bufs, studentParams, step, ema)
			for i, name := range teacherNames {
				r.teacher[name] = teacherParams[i]
			}
			return r
		}
		want := run(0, nil)
		for _, chunk := range []int{1, 2, 3} {
			compareRuns(t, fmt.Sprintf("ibot %t, chunks of %d", ibot, chunk), run(chunk, want), want)
		}
	}
}

// TestChunkedSimSiamMatchesOnePass: SimSiam's steps on 4 images, one pass
// against chunks of 1 and 3 images, with dropout and BatchNorm heads (which
// see the whole batch either way).
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
	run := func(chunk int) *exactRun {
		sb, sh := bb.Clone(), head.Clone()
		r := &exactRun{bufs: h.Buffers()}
		net, err := NewSimSiam(sb, sh, r.bufs, SimSiamOptions{Head: h, Batch: batch, Size: 32, Seed: 1, Chunk: chunk, double: true})
		if err != nil {
			t.Fatal(err)
		}
		defer net.Close()
		step := func(s int) float64 {
			net.Reseed(uint64(4 + s))
			l, err := net.TrainStep(views)
			if err != nil {
				t.Fatal(err)
			}
			r.outputs = append(r.outputs, append([]float64(nil), net.z.Value().Data().([]float64)...))
			return l
		}
		r.record(t, net.tg.bufs, float64Params(t, net.tg.st, net.tg.bufs.names, sb, sh), step, nil)
		return r
	}
	want := run(0)
	for _, chunk := range []int{1, 3} {
		compareRuns(t, fmt.Sprintf("chunks of %d", chunk), run(chunk), want)
	}
}

// TestChunkedClassifierMatchesOnePass: fine-tuning steps over 6 images with
// dropout and drop path, in one machine and in chunks of 1 and 4.
func TestChunkedClassifierMatchesOnePass(t *testing.T) {
	images, labels := randomImages(21, 6, 32), []int{1, 0, 0, 1, 1, 0}
	run := func(chunk int) *exactRun {
		ps := tinyParams(t, tinyPreset(0.3, 0.2), 5)
		c := newClassifier(t, ps, Options{Batch: chunk, Seed: 2, double: true})
		r := &exactRun{}
		step := func(s int) float64 {
			c.Reseed(uint64(3 + s))
			loss, probs, err := c.TrainStep(images, labels)
			if err != nil {
				t.Fatal(err)
			}
			r.outputs = append(r.outputs, probs)
			return loss
		}
		r.record(t, c.grads, float64Params(t, c.st, c.grads.names, ps), step, nil)
		return r
	}
	want := run(6)
	for _, chunk := range []int{1, 4} {
		compareRuns(t, fmt.Sprintf("chunks of %d", chunk), run(chunk), want)
	}
}
