package ops

import (
	"fmt"
	"slices"

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
	op := &negCosineOp{}
	op.spec = spec{
		name: "negative cosine", in: []arg{{"p", 2}, {"z", 2}}, out: scalarArg, same: []int{1},
		shape: func(s []tensor.Shape) (tensor.Shape, error) {
			if err := twoViews(s[0]); err != nil {
				return nil, err
			}
			return tensor.ScalarShape(), nil
		},
		kernel: bind(op, negCosineDo[float32], negCosineDo[float64]),
	}
	return apply(op, p, z)
}

// twoViews checks that p holds two views: an even number of rows.
func twoViews(p tensor.Shape) error {
	if p[0] < 2 || p[0]%2 != 0 {
		return fmt.Errorf("p %v: want an even number of rows (two views)", p)
	}
	return nil
}

type negCosineOp struct {
	fused
	cos, pn, zn []float64 // per row, latest forward
}

func negCosineDo[T Float](op *negCosineOp, c *call[T]) error {
	rows, cols := c.dims2(0)
	for _, s := range []*[]float64{&op.cos, &op.pn, &op.zn} {
		*s = slices.Grow((*s)[:0], rows)[:rows]
	}
	c.loss = negCosineForward(op.cos, op.pn, op.zn, c.in[0], c.in[1], rows, cols)
	return nil
}

// DiffWRT marks z as the stop-gradient side.
func (op *negCosineOp) DiffWRT(int) []bool { return []bool{true, false} }

// SymDiff builds dp from (p, z, loss, dloss).
func (op *negCosineOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dp, err := apply(newOp(spec{
		name: "negative cosine dp", in: []arg{{"p", 2}, {"z", 2}, {"loss", scalarArg}, {"dloss", scalarArg}}, out: 2, same: []int{1},
		shape:  func(s []tensor.Shape) (tensor.Shape, error) { return s[0].Clone(), twoViews(s[0]) },
		kernel: bind(op, negCosineDPDo[float32], negCosineDPDo[float64]),
	}), in[0], in[1], output, grad)
	return gorgonia.Nodes{dp, nil}, err
}

func negCosineDPDo[T Float](op *negCosineOp, c *call[T]) error {
	rows, cols := c.dims2(0)
	if len(op.cos) != rows {
		return fmt.Errorf("no forward values for %d rows", rows)
	}
	negCosineBackward(c.out, c.in[0], c.in[1], op.cos, op.pn, op.zn, rows, cols, c.grad)
	return nil
}
