package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// ConcatRows stacks matrices of one width, [R_i, D] each, into
// [ΣR_i, D] in argument order: the class tokens of several crop sizes
// brought together for one head, as DINO's MultiCropWrapper concatenates
// the backbone outputs. The gradient of each part is its block of rows.
func ConcatRows(xs ...*gorgonia.Node) (*gorgonia.Node, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("ops: concat rows: no inputs")
	}
	d := xs[0].Shape()
	for i, x := range xs {
		if s := x.Shape(); s.Dims() != 2 || s[1] != d[1] {
			return nil, fmt.Errorf("ops: concat rows: input %d is %v, want a matrix of width %d", i, s, d[1])
		}
	}
	return gorgonia.ApplyOp(&concatRowsOp{n: len(xs)}, xs...)
}

type concatRowsOp struct {
	opBase
	n int
	y buffer
}

func (op *concatRowsOp) Arity() int { return op.n }
func (op *concatRowsOp) Type() hm.Type {
	args := make([]hm.Type, op.n+1)
	for i := range args {
		args[i] = tensorType(2)
	}
	return fnType(args...)
}
func (op *concatRowsOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	rows := 0
	for _, s := range in {
		rows += s.(tensor.Shape)[0]
	}
	return tensor.Shape{rows, in[0].(tensor.Shape)[1]}, nil
}
func (op *concatRowsOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *concatRowsOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	names, dims := make([]string, op.n), make([]int, op.n)
	for i := range names {
		names[i], dims[i] = fmt.Sprintf("x%d", i), 2
	}
	ds, dt, err := inputs("concat rows", vals, names, dims)
	if err != nil {
		return nil, err
	}
	rows, cols := 0, ds[0].Shape()[1]
	for i, d := range ds {
		if d.Shape()[1] != cols {
			return nil, errShapes("concat rows", names[i], d.Shape(), "x0", ds[0].Shape())
		}
		rows += d.Shape()[0]
	}
	y := op.y.out(prealloc, dt, rows, cols)
	off := 0
	for _, d := range ds {
		n := d.Shape().TotalSize()
		if dt == tensor.Float32 {
			copy(floats[float32](y)[off:off+n], floats[float32](d))
		} else {
			copy(floats[float64](y)[off:off+n], floats[float64](d))
		}
		off += n
	}
	return y, nil
}
func (op *concatRowsOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}
func (op *concatRowsOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	grads := make(gorgonia.Nodes, len(in))
	lo := 0
	for i, x := range in {
		hi := lo + x.Shape()[0]
		var err error
		if grads[i], err = gorgonia.ApplyOp(&rowsOp{lo: lo, hi: hi}, grad); err != nil {
			return nil, err
		}
		lo = hi
	}
	return grads, nil
}
func (op *concatRowsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *concatRowsOp) Hashcode() uint32      { return hashOf(op) }
func (op *concatRowsOp) String() string        { return fmt.Sprintf("ConcatRows{%d}", op.n) }

// rowsOp copies rows [lo, hi) of a matrix: one part's gradient of a
// ConcatRows.
type rowsOp struct {
	opBase
	lo, hi int
	y      buffer
}

func (op *rowsOp) Arity() int    { return 1 }
func (op *rowsOp) Type() hm.Type { return fnType(tensorType(2), tensorType(2)) }
func (op *rowsOp) InferShape(in ...gorgonia.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.hi - op.lo, in[0].(tensor.Shape)[1]}, nil
}
func (op *rowsOp) Do(vals ...gorgonia.Value) (gorgonia.Value, error) {
	return op.UsePreallocDo(nil, vals...)
}
func (op *rowsOp) UsePreallocDo(prealloc gorgonia.Value, vals ...gorgonia.Value) (gorgonia.Value, error) {
	ds, dt, err := inputs("rows", vals, []string{"dy"}, []int{2})
	if err != nil {
		return nil, err
	}
	dy := ds[0]
	cols := dy.Shape()[1]
	if dy.Shape()[0] < op.hi {
		return nil, fmt.Errorf("ops: rows: dy %v has no rows [%d, %d)", dy.Shape(), op.lo, op.hi)
	}
	y := op.y.out(prealloc, dt, op.hi-op.lo, cols)
	if dt == tensor.Float32 {
		copy(floats[float32](y), floats[float32](dy)[op.lo*cols:op.hi*cols])
	} else {
		copy(floats[float64](y), floats[float64](dy)[op.lo*cols:op.hi*cols])
	}
	return y, nil
}
func (op *rowsOp) WriteHash(h hash.Hash) { writeHash(h, op) }
func (op *rowsOp) Hashcode() uint32      { return hashOf(op) }
func (op *rowsOp) String() string        { return fmt.Sprintf("Rows{%d:%d}", op.lo, op.hi) }
