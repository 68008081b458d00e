package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// L2Normalize divides each row of x[R, D] by its Euclidean length, as
// F.normalize(x, dim=-1) (rows shorter than 1e-12 are divided by 1e-12).
func L2Normalize(x *gorgonia.Node) (*gorgonia.Node, error) {
	if x.Shape().Dims() != 2 {
		return nil, fmt.Errorf("ops: l2 normalize: x %v must be a matrix", x.Shape())
	}
	return gorgonia.ApplyOp(&l2NormOp{}, x)
}

type l2NormOp struct {
	opBase
	y, norm buffer
}

func (op *l2NormOp) Arity() int    { return 1 }
func (op *l2NormOp) Type() hm.Type { return fnType(tensorType(2), tensorType(2)) }
func (op *l2NormOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *l2NormOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *l2NormOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("l2 normalize", vals, []string{"x"}, []int{2})
	if err != nil {
		return nil, err
	}
	x := ds[0]
	rows, cols := x.Shape()[0], x.Shape()[1]
	y, norm := op.y.out(prealloc, dt, rows, cols), op.norm.get(dt, rows)
	if dt == tensor.Float32 {
		l2NormalizeForward(floats[float32](y), floats[float32](norm), floats[float32](x), rows, cols)
	} else {
		l2NormalizeForward(floats[float64](y), floats[float64](norm), floats[float64](x), rows, cols)
	}
	return y, nil
}
func (op *l2NormOp) DiffWRT(int) []bool { return []bool{true} }
func (op *l2NormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&l2NormDiffOp{fwd: op}, output, grad)
	return gorgonia.Nodes{dx}, err
}
func (op *l2NormOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *l2NormOp) Hashcode() uint32      { return hashOf(op) }
func (op *l2NormOp) String() string        { return "L2Normalize" }

// l2NormDiffOp computes dx from inputs (y, dy) and the forward's row norms.
type l2NormDiffOp struct {
	opBase
	fwd *l2NormOp
	dx  buffer
}

func (op *l2NormDiffOp) Arity() int { return 2 }
func (op *l2NormDiffOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *l2NormDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *l2NormDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *l2NormDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("l2 normalize dx", vals, []string{"y", "dy"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	y, dy := ds[0], ds[1]
	if !dy.Shape().Eq(y.Shape()) {
		return nil, errShapes("l2 normalize dx", "dy", dy.Shape(), "y", y.Shape())
	}
	rows, cols := y.Shape()[0], y.Shape()[1]
	norm := op.fwd.norm.d
	if norm == nil || norm.Dtype() != dt || norm.Shape()[0] != rows {
		return nil, fmt.Errorf("ops: l2 normalize dx: no forward norms for %d %v rows", rows, dt)
	}
	dx := op.dx.out(prealloc, dt, rows, cols)
	if dt == tensor.Float32 {
		l2NormalizeBackward(floats[float32](dx), floats[float32](dy), floats[float32](y), floats[float32](norm), rows, cols)
	} else {
		l2NormalizeBackward(floats[float64](dx), floats[float64](dy), floats[float64](y), floats[float64](norm), rows, cols)
	}
	return dx, nil
}
func (op *l2NormDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *l2NormDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *l2NormDiffOp) String() string        { return "L2NormalizeDx(y, dy)" }

// WeightNorm returns the weight w[O, I] = g·v/‖v‖ row by row from
// direction v[O, I] and magnitude g[O, 1]: PyTorch's
// nn.utils.weight_norm(nn.Linear(I, O)) (dim 0), whose weight_g and
// weight_v have exactly these shapes. Feed w to Linear. g may be left out
// of the gradients (DINO fixes it at 1 with norm_last_layer).
func WeightNorm(v, g *gorgonia.Node) (*gorgonia.Node, error) {
	vs, gs := v.Shape(), g.Shape()
	if vs.Dims() != 2 || gs.Dims() != 2 || gs[0] != vs[0] || gs[1] != 1 {
		return nil, fmt.Errorf("ops: weight norm: v %v must be a matrix [O, I] and g %v a column [O, 1]", vs, gs)
	}
	return gorgonia.ApplyOp(&weightNormOp{}, v, g)
}

type weightNormOp struct {
	opBase
	w, norm buffer
}

func (op *weightNormOp) Arity() int { return 2 }
func (op *weightNormOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *weightNormOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *weightNormOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

// weightNormInputs checks the inputs (v, g, ...) of a weight-norm op and
// returns them with v's shape [out, in].
func weightNormInputs(name string, vals []gorgonia.Value, names []string) ([]*tensor.Dense, tensor.Dtype, int, int, error) {
	dims := make([]int, len(names))
	for i := range dims {
		dims[i] = 2
	}
	ds, dt, err := inputs(name, vals, names, dims)
	if err != nil {
		return nil, dt, 0, 0, err
	}
	v, g := ds[0], ds[1]
	out, in := v.Shape()[0], v.Shape()[1]
	if g.Shape()[0] != out || g.Shape()[1] != 1 {
		return nil, dt, 0, 0, fmt.Errorf("ops: %s: g %v must be a column of %d", name, g.Shape(), out)
	}
	return ds, dt, out, in, nil
}

func (op *weightNormOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, out, in, err := weightNormInputs("weight norm", vals, []string{"v", "g"})
	if err != nil {
		return nil, err
	}
	w, norm := op.w.out(prealloc, dt, out, in), op.norm.get(dt, out)
	if dt == tensor.Float32 {
		weightNormForward(floats[float32](w), floats[float32](norm), floats[float32](ds[0]), floats[float32](ds[1]), out, in)
	} else {
		weightNormForward(floats[float64](w), floats[float64](norm), floats[float64](ds[0]), floats[float64](ds[1]), out, in)
	}
	return w, nil
}
func (op *weightNormOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *weightNormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dv, err := gorgonia.ApplyOp(&weightNormDiffOp{fwd: op}, in[0], in[1], output, grad)
	if err != nil {
		return nil, err
	}
	dg, err := gorgonia.ApplyOp(&weightNormDiffOp{fwd: op, g: true}, in[0], in[1], output, grad)
	if err != nil {
		return nil, err
	}
	return gorgonia.Nodes{dv, dg}, nil
}
func (op *weightNormOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *weightNormOp) Hashcode() uint32      { return hashOf(op) }
func (op *weightNormOp) String() string        { return "WeightNorm(v, g)" }

// weightNormDiffOp computes dv (or dg, when g is set) from inputs
// (v, g, w, dw) and the forward's row norms.
type weightNormDiffOp struct {
	opBase
	fwd *weightNormOp
	g   bool
	d   buffer
}

func (op *weightNormDiffOp) Arity() int { return 4 }
func (op *weightNormDiffOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2), tensorType(2), tensorType(2))
}
func (op *weightNormDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	if op.g {
		return in[1].(tensor.Shape).Clone(), nil
	}
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *weightNormDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *weightNormDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, out, in, err := weightNormInputs(op.String(), vals, []string{"v", "g", "w", "dw"})
	if err != nil {
		return nil, err
	}
	v, g, dw := ds[0], ds[1], ds[3]
	if !dw.Shape().Eq(v.Shape()) {
		return nil, errShapes(op.String(), "dw", dw.Shape(), "v", v.Shape())
	}
	norm := op.fwd.norm.d
	if norm == nil || norm.Dtype() != dt || norm.Shape()[0] != out {
		return nil, fmt.Errorf("ops: %s: no forward norms for %d %v rows", op, out, dt)
	}
	if op.g {
		d := op.d.out(prealloc, dt, out, 1)
		if dt == tensor.Float32 {
			weightNormBackwardG(floats[float32](d), floats[float32](dw), floats[float32](v), floats[float32](norm), out, in)
		} else {
			weightNormBackwardG(floats[float64](d), floats[float64](dw), floats[float64](v), floats[float64](norm), out, in)
		}
		return d, nil
	}
	d := op.d.out(prealloc, dt, out, in)
	if dt == tensor.Float32 {
		weightNormBackwardV(floats[float32](d), floats[float32](dw), floats[float32](v), floats[float32](g), floats[float32](norm), out, in)
	} else {
		weightNormBackwardV(floats[float64](d), floats[float64](dw), floats[float64](v), floats[float64](g), floats[float64](norm), out, in)
	}
	return d, nil
}
func (op *weightNormDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *weightNormDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *weightNormDiffOp) String() string {
	if op.g {
		return "WeightNormDg(v, g, w, dw)"
	}
	return "WeightNormDv(v, g, w, dw)"
}

// ReLU returns max(x, 0) elementwise for a tensor of any shape.
func ReLU(x *gorgonia.Node) (*gorgonia.Node, error) {
	return gorgonia.ApplyOp(&reluOp{}, x)
}

type reluOp struct {
	opBase
	y buffer
}

func (op *reluOp) Arity() int { return 1 }
func (op *reluOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, a)
}
func (op *reluOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *reluOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("relu", vals, []string{"x"}, []int{0})
	if err != nil {
		return nil, err
	}
	x := ds[0]
	y := op.y.out(prealloc, dt, x.Shape()...)
	if dt == tensor.Float32 {
		reluForward(floats[float32](y), floats[float32](x))
	} else {
		reluForward(floats[float64](y), floats[float64](x))
	}
	return y, nil
}
func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }
func (op *reluOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := gorgonia.ApplyOp(&reluDiffOp{}, output, grad)
	return gorgonia.Nodes{dx}, err
}
func (op *reluOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *reluOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluOp) String() string        { return "ReLU" }

// reluDiffOp computes dx from inputs (y, dy).
type reluDiffOp struct {
	opBase
	dx buffer
}

func (op *reluDiffOp) Arity() int { return 2 }
func (op *reluDiffOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return fnType(a, a, a)
}
func (op *reluDiffOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *reluDiffOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *reluDiffOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("relu dx", vals, []string{"y", "dy"}, []int{0, 0})
	if err != nil {
		return nil, err
	}
	y, dy := ds[0], ds[1]
	if !dy.Shape().Eq(y.Shape()) {
		return nil, errShapes("relu dx", "dy", dy.Shape(), "y", y.Shape())
	}
	dx := op.dx.out(prealloc, dt, y.Shape()...)
	if dt == tensor.Float32 {
		reluBackward(floats[float32](dx), floats[float32](dy), floats[float32](y))
	} else {
		reluBackward(floats[float64](dx), floats[float64](dy), floats[float64](y))
	}
	return dx, nil
}
func (op *reluDiffOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *reluDiffOp) Hashcode() uint32      { return hashOf(op) }
func (op *reluDiffOp) String() string        { return "ReLUDx(y, dy)" }
