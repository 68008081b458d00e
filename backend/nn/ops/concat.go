package ops

import (
	"fmt"

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
	in := make([]arg, len(xs))
	for i := range in {
		in[i] = arg{fmt.Sprintf("x%d", i), 2}
	}
	return apply(&concatRowsOp{fused{spec: spec{
		name: "concat rows", params: fmt.Sprint(len(xs)), in: in, out: 2,
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			rows := 0
			for i, x := range s {
				if x[1] != s[0][1] {
					return nil, fmt.Errorf("input %d is %v, want a matrix of width %d", i, x, s[0][1])
				}
				rows += x[0]
			}
			return tensor.Shape{rows, s[0][1]}, nil
		},
		kernel: kernel{concatRowsDo[float32], concatRowsDo[float64]},
	}}}, xs...)
}

type concatRowsOp struct{ fused }

func concatRowsDo[T Float](c *call[T]) error {
	off := 0
	for _, x := range c.in {
		off += copy(c.out[off:], x)
	}
	return nil
}

func (op *concatRowsOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	for i := range d {
		d[i] = true
	}
	return d
}

// SymDiff builds each part's gradient: its rows [lo, hi) of dy.
func (op *concatRowsOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	grads := make(gorgonia.Nodes, len(in))
	lo := 0
	for i, x := range in {
		r := rowRange{lo, lo + x.Shape()[0]}
		var err error
		if grads[i], err = apply(newOp(spec{
			name: "rows", params: fmt.Sprintf("%d:%d", r.lo, r.hi), in: []arg{{"dy", 2}}, out: 2,
			shape: func(s []tensor.Shape) (tensor.Shape, error) {
				if s[0][0] < r.hi {
					return nil, fmt.Errorf("dy %v has no rows [%d, %d)", s[0], r.lo, r.hi)
				}
				return tensor.Shape{r.hi - r.lo, s[0][1]}, nil
			},
			kernel: bind(r, rowsDo[float32], rowsDo[float64]),
		}), grad); err != nil {
			return nil, err
		}
		lo = r.hi
	}
	return grads, nil
}

// rowRange is rows [lo, hi) of a matrix.
type rowRange struct{ lo, hi int }

func rowsDo[T Float](r rowRange, c *call[T]) error {
	cols := c.shape[0][1]
	copy(c.out, c.in[0][r.lo*cols:r.hi*cols])
	return nil
}
