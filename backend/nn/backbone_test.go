package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sslens/sslens/backend/nn/ops"
	"github.com/sslens/sslens/backend/nn/vit"
)

// lossGraph is a backbone with the classifier head and a cross-entropy
// loss summed over one or more inputs (crops) sharing the parameters.
type lossGraph struct {
	bb    *Backbone
	fwds  []*Forward
	cls   []*gorgonia.Node // head logits per input
	loss  *gorgonia.Node
	grads gorgonia.Nodes // w.r.t. bb.Nodes()
	vm    gorgonia.VM
}

// crop is one input of a lossGraph.
type crop struct{ n, size int }

// newLossGraph builds the graph on images (one slice per crop) and labels
// (shared by the crops), in dtype dt, with training-mode dropout seeded 1.
func newLossGraph(t *testing.T, ps *vit.Params, dt tensor.Dtype, crops []crop, images [][]float32, labels []int) *lossGraph {
	t.Helper()
	g := gorgonia.NewGraph()
	bb, err := NewBackbone(g, ps, dt)
	if err != nil {
		t.Fatal(err)
	}
	lg := &lossGraph{bb: bb}
	for i, c := range crops {
		f, err := bb.Forward(c.n, c.size, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetImages(images[i]); err != nil {
			t.Fatal(err)
		}
		logits := gorgonia.Must(ops.Linear(f.CLS, bb.Node("head.weight"), bb.Node("head.bias")))
		loss, ce, err := ops.SoftmaxCrossEntropy(logits)
		if err != nil {
			t.Fatal(err)
		}
		if err := ce.SetLabels(labels[:c.n]); err != nil {
			t.Fatal(err)
		}
		lg.fwds, lg.cls = append(lg.fwds, f), append(lg.cls, logits)
		if lg.loss == nil {
			lg.loss = loss
		} else {
			lg.loss = gorgonia.Must(gorgonia.Add(lg.loss, loss))
		}
	}
	if lg.grads, err = gorgonia.Grad(lg.loss, bb.Nodes()...); err != nil {
		t.Fatal(err)
	}
	lg.vm = gorgonia.NewTapeMachine(g)
	t.Cleanup(func() { lg.vm.Close() })
	return lg
}

// run runs the graph and returns the loss.
func (lg *lossGraph) run(t *testing.T) float64 {
	t.Helper()
	lg.vm.Reset()
	if err := lg.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return valueFloats(lg.loss.Value())[0]
}

// valueFloats copies a float32 or float64 value (scalar or tensor).
func valueFloats(v gorgonia.Value) []float64 {
	switch s := v.(type) {
	case *gorgonia.F64:
		return []float64{float64(*s)}
	case *gorgonia.F32:
		return []float64{float64(*s)}
	case *tensor.Dense:
		switch d := s.Data().(type) {
		case []float64:
			return append([]float64(nil), d...)
		case []float32:
			out := make([]float64, len(d))
			for i, x := range d {
				out[i] = float64(x)
			}
			return out
		}
	}
	panic(fmt.Sprintf("unexpected value %T", v))
}

// relDiff is max|a-b| / max(max|b|, floor).
func relDiff(a, b []float64, floor float64) float64 {
	worst, scale := 0.0, floor
	for i := range b {
		worst = max(worst, math.Abs(a[i]-b[i]))
		scale = max(scale, math.Abs(b[i]))
	}
	if len(a) != len(b) {
		return math.Inf(1)
	}
	return worst / scale
}

func flatten(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// TestForwardMatchesReference runs the graph in evaluation mode and
// compares the class features and logits with the plain-loop reference,
// at the native input size and at sizes that resample the position
// embedding (16 and 20 px give a 2x2 grid, 20 px losing 4 px; 24 px 3x3).
func TestForwardMatchesReference(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0.1, 0.2), 1) // dropout must be off in evaluation
	for _, tc := range []struct {
		size int
		dt   tensor.Dtype
		tol  float64
	}{
		{32, tensor.Float64, 1e-12},
		{16, tensor.Float64, 1e-6}, // the reference resamples pos in float32
		{20, tensor.Float64, 1e-6},
		{24, tensor.Float64, 1e-6},
		{32, tensor.Float32, 1e-5},
		{20, tensor.Float32, 1e-5},
	} {
		t.Run(fmt.Sprintf("%dpx_%v", tc.size, tc.dt), func(t *testing.T) {
			const n = 3
			images := randomImages(uint64(tc.size), n, tc.size)
			g := gorgonia.NewGraph()
			bb, err := NewBackbone(g, ps, tc.dt)
			if err != nil {
				t.Fatal(err)
			}
			f, err := bb.Forward(n, tc.size, 7)
			if err != nil {
				t.Fatal(err)
			}
			if wantGrid := tc.size / 8; f.Grid != wantGrid || f.T != wantGrid*wantGrid+1 {
				t.Fatalf("grid %d, %d tokens; want %d, %d", f.Grid, f.T, wantGrid, wantGrid*wantGrid+1)
			}
			if got := f.Tokens.Shape(); !got.Eq(tensor.Shape{n * f.T, 16}) {
				t.Fatalf("tokens shape %v", got)
			}
			logits := gorgonia.Must(ops.Linear(f.CLS, bb.Node("head.weight"), bb.Node("head.bias")))
			if err := f.SetImages(images); err != nil {
				t.Fatal(err)
			}
			vm := gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			wantCLS, wantLogits := refForward(t, ps, images, n, tc.size)
			if e := relDiff(valueFloats(f.CLS.Value()), flatten(wantCLS), 1); e > tc.tol {
				t.Errorf("class features differ from the reference by %.3g", e)
			}
			if e := relDiff(valueFloats(logits.Value()), flatten(wantLogits), 1); e > tc.tol {
				t.Errorf("logits differ from the reference by %.3g", e)
			}
		})
	}
}

// TestGradientCheck compares the float64 graph's gradient of the
// cross-entropy with central finite differences for a sample of entries of
// every parameter tensor, class token and position embedding included: at
// the native size, at 20 px (cropped input, resampled position embedding)
// and with two inputs' losses summed in one graph, as multi-crop training
// does.
func TestGradientCheck(t *testing.T) {
	labels := []int{1, 0, 1}
	for _, tc := range []struct {
		name  string
		crops []crop
	}{
		{"32px", []crop{{3, 32}}},
		{"20px", []crop{{3, 20}}},
		{"32px+20px", []crop{{2, 32}, {3, 20}}},
		{"16px+20px", []crop{{2, 16}, {3, 20}}}, // one resampled embedding for both
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := tinyParams(t, tinyPreset(0, 0), 2)
			var images [][]float32
			for i, c := range tc.crops {
				images = append(images, randomImages(uint64(10+i), c.n, c.size))
			}
			lg := newLossGraph(t, ps, tensor.Float64, tc.crops, images, labels)
			lg.run(t)
			analytic := make([][]float64, len(lg.grads))
			for i, g := range lg.grads {
				analytic[i] = valueFloats(g.Value())
			}
			rng := rand.New(rand.NewPCG(3, 3))
			const h, samples = 1e-5, 4
			for i, node := range lg.bb.Nodes() {
				data := node.Value().(*tensor.Dense).Float64s()
				var num, ana []float64
				for range samples {
					j := rng.IntN(len(data))
					orig := data[j]
					data[j] = orig + h
					plus := lg.run(t)
					data[j] = orig - h
					minus := lg.run(t)
					data[j] = orig
					num = append(num, (plus-minus)/(2*h))
					ana = append(ana, analytic[i][j])
				}
				if e := relDiff(ana, num, 1e-6); e > 1e-4 {
					t.Errorf("%s: relative error %.3g (analytic %.6g, numeric %.6g)", node.Name(), e, ana, num)
				}
			}
		})
	}
}

// TestBackboneSharesStorage: float32 nodes are backed by the parameters'
// own slices, so changing a parameter in place changes the next run.
func TestBackboneSharesStorage(t *testing.T) {
	ps := tinyParams(t, tinyPreset(0, 0), 3)
	g := gorgonia.NewGraph()
	bb, err := NewBackbone(g, ps, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.List() {
		got := bb.Node(p.Name).Value().(*tensor.Dense).Float32s()
		if &got[0] != &p.Data[0] {
			t.Errorf("%s: node holds a copy", p.Name)
		}
	}
	f, err := bb.Forward(2, 32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetImages(randomImages(1, 2, 32)); err != nil {
		t.Fatal(err)
	}
	vm := gorgonia.NewTapeMachine(g, gorgonia.EvalMode())
	defer vm.Close()
	run := func() []float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return valueFloats(f.CLS.Value())
	}
	before := run()
	ps.Get("norm.bias").Data[0] += 1
	after := run()
	if d := after[0] - before[0]; math.Abs(d-1) > 1e-5 {
		t.Errorf("raising norm.bias[0] by 1 moved feature 0 by %g", d)
	}
}

// TestBackboneErrors checks that bad parameter sets and inputs are refused
// with errors that say what is wrong.
func TestBackboneErrors(t *testing.T) {
	good := func() *vit.Params { return tinyParams(t, tinyPreset(0, 0), 4) }
	missing := good()
	var pruned vit.Params
	for _, p := range missing.List() {
		if p.Name != "blocks.1.mlp.fc2.bias" {
			q, _ := pruned.Add(p.Name, p.Shape)
			copy(q.Data, p.Data)
		}
	}
	pruned.Preset = missing.Preset
	wrongPos := good()
	wrongPos.Preset.ImageSize = 16 // the embedding was made for a 4x4 grid
	for _, tc := range []struct {
		name  string
		build func() error
		want  string
	}{
		{"dtype", func() error { _, err := NewBackbone(gorgonia.NewGraph(), good(), tensor.Int); return err }, "dtype int"},
		{"missing", func() error { _, err := NewBackbone(gorgonia.NewGraph(), &pruned, tensor.Float32); return err }, `no "blocks.1.mlp.fc2.bias"`},
		{"pos shape", func() error { _, err := NewBackbone(gorgonia.NewGraph(), wrongPos, tensor.Float32); return err }, "pos_embed has shape (1, 17, 16), preset \"vit_test\" needs (1, 5, 16)"},
		{"tiny input", func() error {
			bb, err := NewBackbone(gorgonia.NewGraph(), good(), tensor.Float32)
			if err != nil {
				return err
			}
			_, err = bb.Forward(2, 7, 1)
			return err
		}, "2 images of 7 px"},
		{"image length", func() error {
			bb, err := NewBackbone(gorgonia.NewGraph(), good(), tensor.Float32)
			if err != nil {
				return err
			}
			f, err := bb.Forward(2, 20, 1)
			if err != nil {
				return err
			}
			return f.SetImages(make([]float32, 2*3*16*16))
		}, "1536 image values, want 2 images x 3 bands x 20 x 20 = 2400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.build()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
