package ops

import (
	"fmt"
	"hash"
	"slices"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// NegCosine returns SimSiam's symmetric loss for predictions p[R, D] and
// projections z[R, D] of two views, R = 2N with view 0 in rows [0, N) and
// view 1 in [N, 2N): -1/R·Σ_i cos(p[i], z[i ± N]), that is
// -(mean cos(p1, z2) + mean cos(p2, z1))/2. z is the stop-gradient target:
// the gradient flows to p alone (and through p to z's own producers, as in
// the paper), never into the loss's z input.
func NegCosine(p, z *gorgonia.Node) (*gorgonia.Node, error) {
	ps, zs := p.Shape(), z.Shape()
	if ps.Dims() != 2 || !ps.Eq(zs) {
		return nil, fmt.Errorf("ops: negative cosine: p %v and z %v must be matrices of one shape", ps, zs)
	}
	if ps[0] < 2 || ps[0]%2 != 0 {
		return nil, fmt.Errorf("ops: negative cosine: p %v: want an even number of rows (two views)", ps)
	}
	return gorgonia.ApplyOp(&negCosineOp{}, p, z)
}

type negCosineOp struct {
	opBase
	cos, pn, zn []float64 // per row, latest forward
	loss32      gorgonia.F32
	loss64      gorgonia.F64
}

func (op *negCosineOp) Arity() int { return 2 }
func (op *negCosineOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), hm.TypeVariable('a'))
}
func (op *negCosineOp) InferShape(...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *negCosineOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

// checkPZ checks p and z and returns their rows and columns.
func checkPZ(name string, p, z *tensor.Dense) (int, int, error) {
	if !p.Shape().Eq(z.Shape()) {
		return 0, 0, errShapes(name, "p", p.Shape(), "z", z.Shape())
	}
	rows, cols := p.Shape()[0], p.Shape()[1]
	if rows < 2 || rows%2 != 0 {
		return 0, 0, fmt.Errorf("ops: %s: p %v: want an even number of rows", name, p.Shape())
	}
	return rows, cols, nil
}

func (op *negCosineOp) UsePreallocDo(_ gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("negative cosine", vals, []string{"p", "z"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	rows, cols, err := checkPZ("negative cosine", ds[0], ds[1])
	if err != nil {
		return nil, err
	}
	for _, s := range []*[]float64{&op.cos, &op.pn, &op.zn} {
		*s = slices.Grow((*s)[:0], rows)[:rows]
	}
	if dt == tensor.Float32 {
		op.loss32 = gorgonia.F32(negCosineForward(op.cos, op.pn, op.zn, floats[float32](ds[0]), floats[float32](ds[1]), rows, cols))
		return &op.loss32, nil
	}
	op.loss64 = gorgonia.F64(negCosineForward(op.cos, op.pn, op.zn, floats[float64](ds[0]), floats[float64](ds[1]), rows, cols))
	return &op.loss64, nil
}

// DiffWRT marks z as the stop-gradient side.
func (op *negCosineOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *negCosineOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dp, err := gorgonia.ApplyOp(&negCosineDiffOp{fwd: op}, in[0], in[1], output, grad)
	return gorgonia.Nodes{dp, nil}, err
}
func (op *negCosineOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *negCosineOp) Hashcode() uint32      { return hashOf(op) }
func (op *negCosineOp) String() string        { return "NegCosine(p, stopgrad z)" }

// negCosineDiffOp computes dp from inputs (p, z, loss, dloss).
type negCosineDiffOp struct {
	opBase
	fwd *negCosineOp
	dp  buffer
}

func (op *negCosineDiffOp) Arity() int { return 4 }
func (op *negCosineDiffOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(tensorType(2), tensorType(2), a, a, tensorType(2))
}
func (op *negCosineDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *negCosineDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *negCosineDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	if len(vals) != 4 {
		return nil, fmt.Errorf("ops: negative cosine dp: got %d inputs, want 4", len(vals))
	}
	ds, dt, err := inputs("negative cosine dp", vals[:2], []string{"p", "z"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	rows, cols, err := checkPZ("negative cosine dp", ds[0], ds[1])
	if err != nil {
		return nil, err
	}
	g, err := scalar(vals[3])
	if err != nil {
		return nil, fmt.Errorf("ops: negative cosine dp: dloss: %w", err)
	}
	f := op.fwd
	if len(f.cos) != rows {
		return nil, fmt.Errorf("ops: negative cosine dp: no forward values for %d rows", rows)
	}
	dp := op.dp.out(prealloc, dt, rows, cols)
	if dt == tensor.Float32 {
		negCosineBackward(floats[float32](dp), floats[float32](ds[0]), floats[float32](ds[1]), f.cos, f.pn, f.zn, rows, cols, g)
	} else {
		negCosineBackward(floats[float64](dp), floats[float64](ds[0]), floats[float64](ds[1]), f.cos, f.pn, f.zn, rows, cols, g)
	}
	return dp, nil
}
func (op *negCosineDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *negCosineDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *negCosineDiffOp) String() string        { return "NegCosineDp(p, z, loss, dloss)" }
