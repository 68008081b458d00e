package ops

import (
	"errors"
	"fmt"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// L2Normalize divides each row of x[R, D] by its Euclidean length, as
// F.normalize(x, dim=-1) (rows shorter than 1e-12 are divided by 1e-12).
func L2Normalize(x *gorgonia.Node) (*gorgonia.Node, error) {
	op := &l2NormOp{}
	op.spec = spec{name: "l2 normalize", in: []arg{{"x", 2}}, out: 2, kernel: bind(op, l2NormDo[float32], l2NormDo[float64])}
	return apply(op, x)
}

type l2NormOp struct {
	fused
	norm buffer // per row, latest forward
}

func l2NormDo[T Float](op *l2NormOp, c *call[T]) error {
	rows, cols := c.dims2(0)
	l2NormalizeForward(c.out, scratch[T](&op.norm, rows), c.in[0], rows, cols)
	return nil
}

func (op *l2NormOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff builds dx from (y, dy) and the forward's row norms.
func (op *l2NormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := apply(newOp(spec{
		name: "l2 normalize dx", in: []arg{{"y", 2}, {"dy", 2}}, out: 2, same: []int{1},
		kernel: bind(op, l2NormDXDo[float32], l2NormDXDo[float64]),
	}), output, grad)
	return gorgonia.Nodes{dx}, err
}

func l2NormDXDo[T Float](op *l2NormOp, c *call[T]) error {
	rows, cols := c.dims2(0)
	norm, err := held[T](&op.norm, rows, "norms")
	if err != nil {
		return err
	}
	l2NormalizeBackward(c.out, c.in[1], c.in[0], norm, rows, cols)
	return nil
}

// WeightNorm returns the weight w[O, I] = g·v/‖v‖ row by row from
// direction v[O, I] and magnitude g[O, 1]: PyTorch's
// nn.utils.weight_norm(nn.Linear(I, O)) (dim 0), whose weight_g and
// weight_v have exactly these shapes. Feed w to Linear. g may be left out
// of the gradients (DINO fixes it at 1 with norm_last_layer).
func WeightNorm(v, g *gorgonia.Node) (*gorgonia.Node, error) {
	op := &weightNormOp{}
	op.spec = spec{
		name: "weight norm", in: []arg{{"v", 2}, {"g", 2}}, out: 2, shape: weightNormShape,
		kernel: bind(op, weightNormDo[float32], weightNormDo[float64]),
	}
	return apply(op, v, g)
}

// weightNormShape checks inputs (v[O, I], g[O, 1], ...): the output has v's shape.
func weightNormShape(s []tensor.Shape) (tensor.Shape, error) {
	if v, g := s[0], s[1]; g[0] != v[0] || g[1] != 1 {
		return nil, fmt.Errorf("v %v must be a matrix [O, I] and g %v a column [O, 1]", v, g)
	}
	return s[0].Clone(), nil
}

type weightNormOp struct {
	fused
	norm buffer // per row of v, latest forward
}

func weightNormDo[T Float](op *weightNormOp, c *call[T]) error {
	out, in := c.dims2(0)
	weightNormForward(c.out, scratch[T](&op.norm, out), c.in[0], c.in[1], out, in)
	return nil
}

func (op *weightNormOp) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff builds dv and dg, each from (v, g, w, dw) and the forward's row
// norms.
func (op *weightNormOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	diff := func(name string, shape func([]tensor.Shape) (tensor.Shape, error), k kernel) (*gorgonia.Node, error) {
		return apply(newOp(spec{
			name: name, in: []arg{{"v", 2}, {"g", 2}, {"w", 2}, {"dw", 2}}, out: 2, same: []int{3},
			shape: shape, kernel: k,
		}), in[0], in[1], output, grad)
	}
	dv, errV := diff("weight norm dv", weightNormShape, bind(op, weightNormDVDo[float32], weightNormDVDo[float64]))
	dg, errG := diff("weight norm dg", func(s []tensor.Shape) (tensor.Shape, error) {
		_, err := weightNormShape(s)
		return s[1].Clone(), err
	}, bind(op, weightNormDGDo[float32], weightNormDGDo[float64]))
	return gorgonia.Nodes{dv, dg}, errors.Join(errV, errG)
}

func weightNormDVDo[T Float](op *weightNormOp, c *call[T]) error {
	out, in := c.dims2(0)
	norm, err := held[T](&op.norm, out, "norms")
	if err != nil {
		return err
	}
	weightNormBackwardV(c.out, c.in[3], c.in[0], c.in[1], norm, out, in)
	return nil
}

func weightNormDGDo[T Float](op *weightNormOp, c *call[T]) error {
	out, in := c.dims2(0)
	norm, err := held[T](&op.norm, out, "norms")
	if err != nil {
		return err
	}
	weightNormBackwardG(c.out, c.in[3], c.in[0], norm, out, in)
	return nil
}

// ReLU returns max(x, 0) elementwise for a tensor of any shape.
func ReLU(x *gorgonia.Node) (*gorgonia.Node, error) {
	return apply(&reluOp{fused{spec: spec{
		name: "relu", in: []arg{{"x", anyDims}}, out: anyDims, kernel: kernel{reluDo[float32], reluDo[float64]},
	}}}, x)
}

type reluOp struct{ fused }

func reluDo[T Float](c *call[T]) error {
	reluForward(c.out, c.in[0])
	return nil
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }

// SymDiff builds dx from (y, dy).
func (op *reluOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := apply(newOp(spec{
		name: "relu dx", in: []arg{{"y", anyDims}, {"dy", anyDims}}, out: anyDims, same: []int{1},
		kernel: kernel{reluDXDo[float32], reluDXDo[float64]},
	}), output, grad)
	return gorgonia.Nodes{dx}, err
}

func reluDXDo[T Float](c *call[T]) error {
	reluBackward(c.out, c.in[1], c.in[0])
	return nil
}
