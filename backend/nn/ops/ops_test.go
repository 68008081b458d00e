package ops

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// TestGraphGradients checks every op inside a float64 Gorgonia graph:
// the gradients gorgonia.Grad builds from the ops' SymDiff against central
// finite differences of the loss, re-running the same machine.
func TestGraphGradients(t *testing.T) {
	for _, c := range graphCases() {
		t.Run(c.name, func(t *testing.T) { checkGraphGradients(t, c) })
	}
}

// TestFusedMatchesNaive compares each op with its composition of Gorgonia
// primitives on the same random inputs: outputs and gradients, in float32
// and float64.
func TestFusedMatchesNaive(t *testing.T) {
	for _, c := range graphCases() {
		if c.naive == nil {
			continue // the op draws random masks
		}
		for _, tc := range naiveTolerances {
			t.Run(c.name+"/"+tc.dt.String(), func(t *testing.T) { checkMatchesNaive(t, c, tc.dt, tc.tol) })
		}
	}
}

// naiveTolerances are the relative errors accepted between fused and naive
// graphs per dtype.
var naiveTolerances = []struct {
	dt  tensor.Dtype
	tol float64
}{{tensor.Float32, 1e-4}, {tensor.Float64, 1e-10}}

func checkGraphGradients(t *testing.T, c graphCase) {
	t.Helper()
	gr, err := newGraphRun(tensor.Float64, c.inputs, caseValues(c, 3), c.fused)
	if err != nil {
		t.Fatal(err)
	}
	_, analytic := gr.snapshot()
	for i, n := range gr.wrt {
		x := n.Value().(*tensor.Dense).Float64s()
		numeric := numGrad(x, func() float64 {
			if err := gr.run(); err != nil {
				t.Fatal(err)
			}
			return gr.lossValue()
		})
		if e := relErr(analytic[i], numeric, fdFloor); e > gradTol || math.IsNaN(e) {
			t.Errorf("%s: relative error %.3g > %g\nanalytic %.6g\nnumeric  %.6g", n.Name(), e, gradTol, analytic[i], numeric)
		}
	}
}

func checkMatchesNaive(t *testing.T, c graphCase, dt tensor.Dtype, tol float64) {
	t.Helper()
	vals := caseValues(c, 5)
	fused, err := newGraphRun(dt, c.inputs, vals, c.fused)
	if err != nil {
		t.Fatalf("fused: %v", err)
	}
	naive, err := newGraphRun(dt, c.inputs, vals, c.naive)
	if err != nil {
		t.Fatalf("naive: %v", err)
	}
	fo, fg := fused.snapshot()
	no, ng := naive.snapshot()
	if e := relErr(fo, no, 1e-3); e > tol || math.IsNaN(e) {
		t.Errorf("output: relative error %.3g > %g\nfused %.6g\nnaive %.6g", e, tol, fo, no)
	}
	for i := range fg {
		if e := relErr(fg[i], ng[i], 1e-3); e > tol || math.IsNaN(e) {
			t.Errorf("gradient %s: relative error %.3g > %g\nfused %.6g\nnaive %.6g", fused.wrt[i].Name(), e, tol, fg[i], ng[i])
		}
	}
}
