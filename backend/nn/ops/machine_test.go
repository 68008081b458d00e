package ops

import (
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestTapeMachineReuse runs one compiled block for several steps, binding
// new values between them with Let: each step must match a freshly built
// graph on the same values (no stale caches), and every op must write into
// the same buffers step after step.
func TestTapeMachineReuse(t *testing.T) {
	c := blockCase("block", testBlock, false)
	first, second := caseValues(c, 1), caseValues(c, 2)
	gr, err := newGraphRun(tensor.Float64, c.inputs, first, c.fused)
	if err != nil {
		t.Fatal(err)
	}
	wantFirst := freshRun(t, c, first)
	wantSecond := freshRun(t, c, second)
	buffers := opValues(gr.g)
	if len(buffers) < 10+4*3+2*3+2 {
		t.Fatalf("found %d op values, want every forward and backward node", len(buffers))
	}
	for step, vals := range [][]*tensor.Dense{second, first, second} {
		for i, n := range gr.in {
			if err := gorgonia.Let(n, convert(vals[i], tensor.Float64)); err != nil {
				t.Fatal(err)
			}
		}
		if err := gr.run(); err != nil {
			t.Fatal(err)
		}
		want := wantSecond
		if step == 1 {
			want = wantFirst
		}
		got := snapshotRun(gr)
		for i := range got {
			if e := relErr(got[i], want[i], 1e-6); e > 1e-12 {
				t.Errorf("step %d: value %d differs from a fresh graph by %.3g", step+2, i, e)
			}
		}
		for n, v := range opValues(gr.g) {
			if buffers[n] != v {
				t.Errorf("step %d: %v wrote a new buffer", step+2, n.Op())
			}
		}
	}
}

// freshRun builds and runs the case on vals in a new graph.
func freshRun(t *testing.T, c graphCase, vals []*tensor.Dense) [][]float64 {
	t.Helper()
	gr, err := newGraphRun(tensor.Float64, c.inputs, vals, c.fused)
	if err != nil {
		t.Fatal(err)
	}
	return snapshotRun(gr)
}

// snapshotRun returns the output followed by the gradients.
func snapshotRun(gr *graphRun) [][]float64 {
	out, grads := gr.snapshot()
	return append([][]float64{out}, grads...)
}

// opValues maps the nodes of this package's ops to their current values.
func opValues(g *gorgonia.ExprGraph) map[*gorgonia.Node]gorgonia.Value {
	m := make(map[*gorgonia.Node]gorgonia.Value)
	for _, n := range g.AllNodes() {
		if t := reflect.TypeOf(n.Op()); t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == reflect.TypeOf(fused{}).PkgPath() {
			m[n] = n.Value()
		}
	}
	return m
}

// TestTrainEvalMode switches dropout and drop path: in training the output
// differs from the same block without them; in evaluation (SetTraining or
// gorgonia.EvalMode) it is identical.
func TestTrainEvalMode(t *testing.T) {
	plainCfg := testBlock
	dropCfg := testBlock
	dropCfg.attnDrop, dropCfg.dropPath = 0.5, 0.5
	vals := caseValues(blockCase("", testBlock, false), 4)
	want := freshRun(t, blockCase("", plainCfg, false), vals)[0]

	gr, err := newGraphRun(tensor.Float64, blockInputs(dropCfg), vals, fusedBlock(dropCfg))
	if err != nil {
		t.Fatal(err)
	}
	out := func() []float64 {
		t.Helper()
		if err := gr.run(); err != nil {
			t.Fatal(err)
		}
		o, _ := gr.snapshot()
		return o
	}
	if relErr(out(), want, 1e-6) < 1e-3 {
		t.Error("training: dropout left the output unchanged")
	}
	SetTraining(gr.g, false)
	if e := relErr(out(), want, 1e-6); e > 1e-12 {
		t.Errorf("SetTraining(false): output differs from the block without dropout by %.3g", e)
	}
	SetTraining(gr.g, true)
	if relErr(out(), want, 1e-6) < 1e-3 {
		t.Error("SetTraining(true): dropout left the output unchanged")
	}
	gr.machine = gorgonia.NewTapeMachine(gr.g, gorgonia.EvalMode())
	if e := relErr(out(), want, 1e-6); e > 1e-12 {
		t.Errorf("EvalMode: output differs from the block without dropout by %.3g", e)
	}
}

// TestDropoutDeterminism builds the same block with dropout twice: the same
// seeds draw the same masks step by step, successive steps (Reseed) draw new
// ones, and a forward whose first sample is another draws other masks.
func TestDropoutDeterminism(t *testing.T) {
	cfg := testBlock
	cfg.attnDrop, cfg.dropPath = 0.3, 0.3
	vals := caseValues(blockCase("", cfg, false), 6)
	var runs [2][][]float64
	for i := range runs {
		g := gorgonia.NewGraph()
		var in gorgonia.Nodes
		for j, s := range blockInputs(cfg) {
			in = append(in, gorgonia.NewTensor(g, tensor.Float64, len(s.shape), gorgonia.WithShape(s.shape...), gorgonia.WithValue(convert(vals[j], tensor.Float64))))
		}
		out := gorgonia.Must(fusedBlock(cfg)(in))
		m := gorgonia.NewTapeMachine(g)
		for step := 0; step < 3; step++ {
			Reseed(g, uint64(step))
			m.Reset()
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			runs[i] = append(runs[i], toFloat64s(out.Value()))
		}
		FirstSample(g, 1)
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		if relErr(toFloat64s(out.Value()), runs[i][2], 1e-6) < 1e-3 {
			t.Error("a forward starting at sample 1 drew the masks of one starting at 0")
		}
	}
	for step := range runs[0] {
		if e := relErr(runs[0][step], runs[1][step], 1e-6); e != 0 {
			t.Errorf("step %d: same seeds, outputs differ by %.3g", step, e)
		}
	}
	if relErr(runs[0][0], runs[0][1], 1e-6) < 1e-3 && relErr(runs[0][1], runs[0][2], 1e-6) < 1e-3 {
		t.Error("successive steps drew the same masks")
	}
}

// TestKeepMask checks the dropout draws: only 0 or 1/(1-p), kept with
// chance 1-p (within 4 standard deviations over 10⁵ draws).
func TestKeepMask(t *testing.T) {
	for _, p := range []float64{0, 0.1, 0.5} {
		m := make([]float32, 100000)
		keepMask(m, p, rand.NewPCG(1, 2))
		kept := 0
		for _, v := range m {
			switch v {
			case float32(1 / (1 - p)):
				kept++
			case 0:
			default:
				t.Fatalf("p=%g: mask value %g", p, v)
			}
		}
		frac, sd := float64(kept)/float64(len(m)), math.Sqrt(p*(1-p)/float64(len(m)))
		if math.Abs(frac-(1-p)) > 4*sd+1e-12 {
			t.Errorf("p=%g: kept %.4f, want %.4f", p, frac, 1-p)
		}
	}
}

// TestParallelFor checks that the chunks cover [0, n) exactly once.
func TestParallelFor(t *testing.T) {
	for _, tc := range []struct{ n, grain int }{{0, 1}, {1, 1}, {5, 1}, {7, 2}, {100, 3}, {1000, 1000}, {4097, 64}} {
		hits := make([]atomic.Int32, tc.n)
		parallelFor(tc.n, tc.grain, func(lo, hi int) {
			if lo >= hi {
				t.Errorf("n=%d grain=%d: empty chunk [%d, %d)", tc.n, tc.grain, lo, hi)
			}
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
		})
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Fatalf("n=%d grain=%d: index %d visited %d times", tc.n, tc.grain, i, h)
			}
		}
	}
}

// TestParallelMatchesSerial runs a block large enough for every kernel to
// split its work across cores, and again on one core, where every kernel
// runs serially (and was checked against finite differences): outputs and
// gradients must agree to float32 rounding, relative to each tensor's
// largest value (OpenBLAS rounds a product split by rows slightly
// differently from the whole).
func TestParallelMatchesSerial(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	cfg := blockConfig{n: 64, t: 5, d: 256, heads: 4, hidden: 512, attnDrop: 0.2, dropPath: 0.2}
	c := blockCase("", cfg, false)
	vals := caseValues(c, 8)
	parallel := freshRun32(t, c, vals)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	serial := freshRun32(t, c, vals)
	for i := range parallel {
		var scale, worst float64
		for j, v := range serial[i] {
			scale = max(scale, math.Abs(v))
			worst = max(worst, math.Abs(v-parallel[i][j]))
		}
		if worst > 1e-5*scale {
			t.Errorf("value %d: parallel and serial differ by %.3g, %.3g of the largest value", i, worst, worst/scale)
		}
	}
}

func freshRun32(t *testing.T, c graphCase, vals []*tensor.Dense) [][]float64 {
	t.Helper()
	gr, err := newGraphRun(tensor.Float32, c.inputs, vals, c.fused)
	if err != nil {
		t.Fatal(err)
	}
	return snapshotRun(gr)
}
