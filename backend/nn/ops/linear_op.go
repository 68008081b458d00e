package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Linear returns y[R,O] = x[R,I]·Wᵀ + b for W[O,I] (PyTorch's nn.Linear
// weight layout) and b a vector [O], or no bias when b is nil.
//
// Its gradients are three nodes, dx = dy·W, dW = dyᵀ·x and db = Σ_rows dy,
// each one BLAS call (or one column sum) into its own reused buffer. Separate
// single-output nodes fit Gorgonia's one-value-per-node model without side
// outputs, and let dx be left out where x carries no gradient (x made by an
// op not differentiable w.r.t. its inputs, such as Patchify); one fused node
// would save no arithmetic.
func Linear(x, w, b *gorgonia.Node) (*gorgonia.Node, error) {
	xs, ws := x.Shape(), w.Shape()
	if xs.Dims() != 2 || ws.Dims() != 2 {
		return nil, fmt.Errorf("ops: linear: x %v and W %v must be matrices", xs, ws)
	}
	if xs[1] != ws[1] {
		return nil, fmt.Errorf("ops: linear: x %v has %d features but W %v takes %d", xs, xs[1], ws, ws[1])
	}
	op := &linearOp{gradX: carriesGradient(x)}
	if b == nil {
		return gorgonia.ApplyOp(op, x, w)
	}
	if bs := b.Shape(); bs.Dims() != 1 || bs[0] != ws[0] {
		return nil, fmt.Errorf("ops: linear: bias %v must be a vector of %d", bs, ws[0])
	}
	op.bias = true
	return gorgonia.ApplyOp(op, x, w, b)
}

// carriesGradient reports whether a gradient can flow into n: an input
// (a parameter, or data the caller may differentiate) or the output of an op
// differentiable w.r.t. at least one input.
func carriesGradient(n *gorgonia.Node) bool {
	if n.Op() == nil {
		return true
	}
	sd, ok := n.Op().(gorgonia.SDOp)
	if !ok {
		return false
	}
	if sd.Arity() < 0 {
		return true // n-ary: assume some input is differentiable
	}
	for _, d := range sd.DiffWRT(sd.Arity()) {
		if d {
			return true
		}
	}
	return false
}

type linearOp struct {
	opBase
	bias  bool // a third input b[O]
	gradX bool // build dx in SymDiff
	y     buffer
}

func (op *linearOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *linearOp) Type() hm.Type {
	if op.bias {
		return fnType(tensorType(2), tensorType(2), tensorType(1), tensorType(2))
	}
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}

func (op *linearOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, w := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{x[0], w[0]}, nil
}

func (op *linearOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}

func (op *linearOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	names, dims := []string{"x", "W"}, []int{2, 2}
	if op.bias {
		names, dims = append(names, "b"), append(dims, 1)
	}
	ds, dt, err := inputs("linear", vals, names, dims)
	if err != nil {
		return nil, err
	}
	x, w := ds[0], ds[1]
	rows, in, out := x.Shape()[0], x.Shape()[1], w.Shape()[0]
	if w.Shape()[1] != in {
		return nil, fmt.Errorf("ops: linear: x %v has %d features but W %v takes %d", x.Shape(), in, w.Shape(), w.Shape()[1])
	}
	var b *tensor.Dense
	if op.bias {
		if b = ds[2]; b.Shape()[0] != out {
			return nil, fmt.Errorf("ops: linear: bias %v must be a vector of %d", b.Shape(), out)
		}
	}
	y := op.y.out(prealloc, dt, rows, out)
	if dt == tensor.Float32 {
		linearForward(floats[float32](y), floats[float32](x), floats[float32](w), floats[float32](b), rows, in, out)
	} else {
		linearForward(floats[float64](y), floats[float64](x), floats[float64](w), floats[float64](b), rows, in, out)
	}
	return y, nil
}

func (op *linearOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = i > 0 || op.gradX
	}
	return d
}

func (op *linearOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	grads := make(gorgonia.Nodes, len(in))
	var err error
	if op.gradX {
		if grads[0], err = gorgonia.ApplyOp(&linearDXOp{}, in[1], grad); err != nil {
			return nil, err
		}
	}
	if grads[1], err = gorgonia.ApplyOp(&linearDWOp{}, in[0], grad); err != nil {
		return nil, err
	}
	if op.bias {
		if grads[2], err = gorgonia.ApplyOp(&colSumOp{}, grad); err != nil {
			return nil, err
		}
	}
	return grads, nil
}

func (op *linearOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *linearOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearOp) String() string {
	if op.bias {
		return "Linear(x, W, b)"
	}
	return "Linear(x, W)"
}

// linearDXOp computes dx[R,I] = dy[R,O]·W[O,I] from inputs (W, dy).
type linearDXOp struct {
	opBase
	dx buffer
}

func (op *linearDXOp) Arity() int { return 2 }
func (op *linearDXOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *linearDXOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	w, dy := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{dy[0], w[1]}, nil
}
func (op *linearDXOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *linearDXOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("linear dx", vals, []string{"W", "dy"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	w, dy := ds[0], ds[1]
	rows, out, in := dy.Shape()[0], w.Shape()[0], w.Shape()[1]
	if dy.Shape()[1] != out {
		return nil, fmt.Errorf("ops: linear dx: dy %v does not match W %v", dy.Shape(), w.Shape())
	}
	dx := op.dx.out(prealloc, dt, rows, in)
	if dt == tensor.Float32 {
		linearBackwardX(floats[float32](dx), floats[float32](dy), floats[float32](w), rows, in, out)
	} else {
		linearBackwardX(floats[float64](dx), floats[float64](dy), floats[float64](w), rows, in, out)
	}
	return dx, nil
}
func (op *linearDXOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *linearDXOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearDXOp) String() string        { return "LinearDx(W, dy)" }

// linearDWOp computes dW[O,I] = dy[R,O]ᵀ·x[R,I] from inputs (x, dy).
type linearDWOp struct {
	opBase
	dw buffer
}

func (op *linearDWOp) Arity() int { return 2 }
func (op *linearDWOp) Type() hm.Type {
	return fnType(tensorType(2), tensorType(2), tensorType(2))
}
func (op *linearDWOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	x, dy := in[0].(tensor.Shape), in[1].(tensor.Shape)
	return tensor.Shape{dy[1], x[1]}, nil
}
func (op *linearDWOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *linearDWOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("linear dW", vals, []string{"x", "dy"}, []int{2, 2})
	if err != nil {
		return nil, err
	}
	x, dy := ds[0], ds[1]
	rows, in, out := x.Shape()[0], x.Shape()[1], dy.Shape()[1]
	if dy.Shape()[0] != rows {
		return nil, fmt.Errorf("ops: linear dW: dy %v and x %v differ in rows", dy.Shape(), x.Shape())
	}
	dw := op.dw.out(prealloc, dt, out, in)
	if dt == tensor.Float32 {
		linearBackwardW(floats[float32](dw), floats[float32](dy), floats[float32](x), rows, in, out)
	} else {
		linearBackwardW(floats[float64](dw), floats[float64](dy), floats[float64](x), rows, in, out)
	}
	return dw, nil
}
func (op *linearDWOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *linearDWOp) Hashcode() uint32      { return hashOf(op) }
func (op *linearDWOp) String() string        { return "LinearDW(x, dy)" }

// colSumOp computes the column sums s[C] = Σ_r dy[r,:] of dy[R,C]: the
// gradient of a bias (Linear's b, LayerNorm's beta).
type colSumOp struct {
	opBase
	s buffer
}

func (op *colSumOp) Arity() int    { return 1 }
func (op *colSumOp) Type() hm.Type { return fnType(tensorType(2), tensorType(1)) }
func (op *colSumOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{in[0].(tensor.Shape)[1]}, nil
}
func (op *colSumOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *colSumOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("column sum", vals, []string{"dy"}, []int{2})
	if err != nil {
		return nil, err
	}
	dy := ds[0]
	rows, cols := dy.Shape()[0], dy.Shape()[1]
	s := op.s.out(prealloc, dt, cols)
	if dt == tensor.Float32 {
		colSum(floats[float32](s), floats[float32](dy), rows, cols)
	} else {
		colSum(floats[float64](s), floats[float64](dy), rows, cols)
	}
	return s, nil
}
func (op *colSumOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *colSumOp) Hashcode() uint32      { return hashOf(op) }
func (op *colSumOp) String() string        { return "ColSum(dy)" }
