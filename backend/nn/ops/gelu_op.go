package ops

import "gorgonia.org/gorgonia"

// GELU applies the exact (erf) GELU, x·Φ(x), elementwise to a tensor of
// any shape: PyTorch's nn.GELU() default, as timm's ViT MLP uses.
func GELU(x *gorgonia.Node) (*gorgonia.Node, error) {
	op := &geluOp{}
	op.spec = spec{name: "gelu", in: []arg{{"x", anyDims}}, out: anyDims, kernel: bind(op, geluDo[float32], geluDo[float64])}
	return apply(op, x)
}

type geluOp struct {
	fused
	cdf buffer // Φ(x) of the latest forward
}

func geluDo[T Float](op *geluOp, c *call[T]) error {
	geluForward(c.out, scratch[T](&op.cdf, c.shape[0]...), c.in[0])
	return nil
}

func (op *geluOp) DiffWRT(n int) []bool { return []bool{true} }

// SymDiff builds dx = dy·gelu'(x) from (x, y, dy), y ordering it after the
// forward whose Φ(x) it reads.
func (op *geluOp) SymDiff(in gorgonia.Nodes, output, grad *gorgonia.Node) (gorgonia.Nodes, error) {
	dx, err := apply(newOp(spec{
		name: "gelu dx", in: []arg{{"x", anyDims}, {"y", anyDims}, {"dy", anyDims}}, out: anyDims, same: []int{2},
		kernel: bind(op, geluDXDo[float32], geluDXDo[float64]),
	}), in[0], output, grad)
	return gorgonia.Nodes{dx}, err
}

func geluDXDo[T Float](op *geluOp, c *call[T]) error {
	cdf, err := held[T](&op.cdf, len(c.in[0]), "values")
	if err != nil {
		return err
	}
	geluBackward(c.out, c.in[2], c.in[0], cdf)
	return nil
}
